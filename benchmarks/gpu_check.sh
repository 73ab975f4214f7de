#!/usr/bin/env bash
# One command for a GPU machine that has a CUDA build of torch (2.11+) but not this
# project's install: brings the pure-Python dependencies (from benchmarks/wheels/ when
# present, else PyPI) into a private folder, runs benchmarks/gpu_check.py from the
# source tree with the project on PYTHONPATH, and leaves gpu_check.json.
# Usage: benchmarks/gpu_check.sh [--tiny] [--images 16] [--batch 8] [--scaling]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-python3}"
deps="$here/gpu_check_deps"
wheels="$here/wheels"
# What igmu_audit imports on the generation path, besides torch (never reinstalled).
# open_clip_torch only for its CLIP BPE vocabulary file: installed without its deps.
packages=(diffusers transformers safetensors huggingface_hub tokenizers tqdm pyyaml
  numpy pillow regex filelock fsspec packaging requests typing_extensions)

"$python" - <<'PY'
import sys
import torch
major, minor = (int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
if (major, minor) < (2, 11):
    sys.exit(f"gpu_check: torch {torch.__version__} found; 2.11 or newer is needed")
print(f"gpu_check: torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
PY

if [ ! -d "$deps" ]; then
  if [ -d "$wheels" ]; then
    echo "gpu_check: installing from $wheels (no index)"
    "$python" -m pip install --quiet --no-index --find-links "$wheels" \
      --target "$deps" "${packages[@]}"
    "$python" -m pip install --quiet --no-index --no-deps --find-links "$wheels" \
      --target "$deps" open_clip_torch
  else
    echo "gpu_check: installing from PyPI into $deps"
    "$python" -m pip install --quiet --target "$deps" "${packages[@]}"
    "$python" -m pip install --quiet --no-deps --target "$deps" open_clip_torch
  fi
fi
cd "$root"
export PYTHONPATH="$root:$deps${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1
exec timeout 290 "$python" "$here/gpu_check.py" --out "$root/gpu_check.json" "$@"
