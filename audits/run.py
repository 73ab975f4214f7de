"""Run the ready-made audits over several models and print the verdict matrix (``make audit``).

Each audit spec is one model: this runs ``pytest audits --igmu-spec SPEC --igmu-record ...``
per spec (so each model loads once, and the shared image cache makes re-runs cheap),
then prints model x aspect verdicts from the verdict records. With ``--expected`` it
compares them with the verdicts a model card documents and exits 0 only if every one
matches: the toy-world zoo is *meant* to fail where its models are flawed.

    python audits/run.py audits/specs/toyworld-*.yaml --expected audits/specs/expected.yaml
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from igmu_audit.reporting.outcome import (  # noqa: E402 - after the checkout is on the path
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_PASS,
)

ASPECTS = {
    "assert_forgotten": "forgetting",
    "assert_preserved": "preservation",
    "assert_robust_to": "robustness",
}
#: assert_preserved audits named "<aspect>/..." by the ready-made suites get their own column
NAMED_ASPECTS = ("carrier", "alignment")
COLUMNS = ("forgetting", "preservation", "carrier", "alignment", "robustness")
ORDER = ("fail", "inconclusive", "pass")
#: exit statuses of a run whose gate decided (pass, fail, inconclusive)
VERDICT_EXITS = (EXIT_PASS, EXIT_FAIL, EXIT_INCONCLUSIVE)


def run_spec(spec: Path, extra: list[str]) -> tuple[int, dict, Path]:
    """Run the audits for one spec; return pytest's exit code, the record and the log path."""
    from igmu_audit.reporting.record import read_record

    name = spec.stem
    record = ROOT / ".igmu" / "records" / f"{name}.json"
    log = ROOT / ".igmu" / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    record.unlink(missing_ok=True)
    evidence = (
        ROOT / ".igmu" / "evidence" / name
    )  # one folder per model: no run overwrites another's images
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "audits"), f"--igmu-spec={spec}", f"--igmu-record={record}",
           f"--igmu-evidence-dir={evidence}", "-p", "no:cacheprovider", "-q", "-rfE", *extra]  # fmt: skip
    print(f"\n=== {name}: {' '.join(cmd[2:])}", flush=True)
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.call(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - our own pytest
    lines = log.read_text(encoding="utf-8").splitlines()
    start = next(
        (i for i, line in enumerate(lines) if "igmu-audit verdicts" in line), None
    )
    for line in lines[start:] if start is not None else lines[-15:]:
        print(line)
    return code, (read_record(record) if record.exists() else {}), log


def matrix(record: dict) -> dict[str, str]:
    """aspect -> worst verdict among that aspect's audits."""
    out: dict[str, str] = {}
    for audit in record.get("audits", []):
        prefix = str(audit.get("concept") or "").split("/")[0]
        aspect = prefix if prefix in NAMED_ASPECTS else ASPECTS[audit["assertion"]]
        current = out.get(aspect, "pass")
        out[aspect] = min(current, audit["verdict"], key=ORDER.index)
    return out


def main() -> int:
    """Run every spec, print the matrix, compare with the expectation if given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", type=Path)
    parser.add_argument(
        "--expected", type=Path, help="YAML: {spec stem: {aspect: verdict}}"
    )
    args, extra = parser.parse_known_args()
    expected = (
        yaml.safe_load(args.expected.read_text(encoding="utf-8"))
        if args.expected
        else {}
    )
    rows = []
    for spec in args.specs:
        code, record, log = run_spec(spec.resolve(), extra)
        if code not in VERDICT_EXITS:  # a decided gate; anything else is a broken run
            for problem in record.get("problems", [])[:10]:
                print(
                    f"  {problem['verdict'].upper():<10}  {problem['test_id']}  {problem['reason']}"
                )
            print(
                f"{spec.stem}: pytest exited {code} (12: an audit errored or is incomplete); see {log}"
            )
            return code or EXIT_ERROR
        rows.append((spec.stem, matrix(record)))
    print("\n" + "=" * 30 + " igmu-audit verdict matrix " + "=" * 30)
    columns = [c for c in COLUMNS if any(c in verdicts for _, verdicts in rows)]
    width = max([len("model"), *(len(name) for name, _ in rows)]) + 2
    print(f"{'model':<{width}}" + " ".join(f"{a:<16}" for a in columns))
    mismatches = 0
    for name, verdicts in rows:
        cells = []
        for aspect in columns:
            got = verdicts.get(aspect, "-")
            want = expected.get(name, {}).get(aspect)
            mark = (
                ""
                if want is None
                else (" ok" if want == got else f" (expected {want})")
            )
            mismatches += bool(want is not None and want != got)
            cells.append(f"{got.upper() + mark:<16}")
        print(f"{name:<{width}}" + " ".join(cells))
    if args.expected:
        print(
            f"\n{'every verdict matches' if not mismatches else f'{mismatches} verdict(s) differ from'} {args.expected}"
        )
        return 1 if mismatches else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
