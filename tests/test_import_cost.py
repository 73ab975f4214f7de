"""Every pytest run loads the plugin: it must not import torch or diffusers (STYLE habit 1)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "open_clip", "nudenet", "onnxruntime")


def test_plugin_import_leaves_heavy_libraries_out() -> None:
    code = (
        "import sys, igmu_audit.plugin, igmu_audit.fixtures, igmu_audit;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
