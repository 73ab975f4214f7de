"""Benchmark (run on demand, not a test): audit wall time with ``pytest -n 1`` vs ``-n 2``.

Runs the ready-made audits (``audits/``) on one toy-world spec, cold (an empty generation
cache per run) and then warm (the same cache again), once per worker count, and checks
that every run wrote the same verdicts. On the CPU each worker gets ``cpu``; on a GPU
machine pass ``--devices auto`` so each worker is pinned to its own device.

    .venv/bin/python benchmarks/bench_xdist.py --workers 1,2 \\
        --spec audits/specs/toyworld-esd-x-striped.yaml [--json .igmu/bench-xdist.json]

Torch threads per worker are set with ``--threads`` (default: cores / workers), so ``-n 2``
does not oversubscribe the machine; the figure is the whole pytest process's wall time,
model loading and interpreter start included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(
    spec: Path, workers: int, cache: Path, record: Path, threads: int, devices: str
) -> tuple[float, int]:
    """One pytest run; return (wall seconds, exit code)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "audits"), f"--igmu-spec={spec}", f"--igmu-cache-dir={cache}",
           f"--igmu-record={record}", f"--igmu-device={devices}", "-n", str(workers), "-p", "no:cacheprovider", "-q"]  # fmt: skip
    start = time.perf_counter()
    code = subprocess.call(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start, code


def verdicts(record: Path) -> list[tuple[str, str, str, list[float]]]:
    """(test id, assertion, verdict, measured values) per audit: must not depend on the worker count."""
    data = json.loads(record.read_text(encoding="utf-8"))
    return sorted(
        (a["test_id"], a["assertion"], a["verdict"], [c["value"] for c in a["checks"]])
        for a in data["audits"]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spec", type=Path, default=ROOT / "audits/specs/toyworld-esd-x-striped.yaml"
    )
    parser.add_argument(
        "--workers", default="1,2", help="comma-separated xdist worker counts"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads per worker (0: cores / workers)",
    )
    parser.add_argument(
        "--devices", default="cpu", help="--igmu-device value (cpu, auto, 0,1)"
    )
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    rows, seen = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (int(w) for w in args.workers.split(",")):
            threads = args.threads or max(1, (os.cpu_count() or 1) // max(workers, 1))
            cache = Path(tmp) / f"cache-n{workers}"
            row = {"workers": workers, "threads_per_worker": threads}
            for phase in ("cold", "warm"):
                record = Path(tmp) / f"record-n{workers}-{phase}.json"
                seconds, code = run(
                    args.spec.resolve(), workers, cache, record, threads, args.devices
                )
                row[phase] = round(seconds, 1)
                row[f"{phase}_exit"] = code
                seen[(workers, phase)] = verdicts(record)
            rows.append(row)
            print(f"-n {workers} ({threads} thread(s)/worker): cold {row['cold']:7.1f} s  warm {row['warm']:6.1f} s  "
                  f"exit {row['cold_exit']}/{row['warm_exit']}", flush=True)  # fmt: skip
    same = len({json.dumps(v) for v in seen.values()}) == 1
    base = rows[0]["cold"]
    for row in rows[1:]:
        print(
            f"speed-up -n {row['workers']} vs -n {rows[0]['workers']} (cold): {base / row['cold']:.2f}x"
        )
    print(f"verdicts identical across runs: {same}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {"spec": str(args.spec), "rows": rows, "identical": same}, indent=1
            )
            + "\n"
        )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
