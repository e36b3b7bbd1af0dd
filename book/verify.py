"""Compare a fresh run's results with the committed reference results, metric by metric.

    python book/verify.py --reference results/default --fresh .verify/default

Every numeric leaf of every `<chapter>.json` in the reference is compared with the same leaf of
the fresh run. Tolerance: fractions (values in [0, 1]) may differ by at most `--abs-tol`
(default 0.02, i.e. 2 percentage points: the spread expected between machines whose float
kernels differ; on the same machine and seed the numbers are identical); other numbers by at
most `--rel-tol` (default 5 %). Claim verdicts and booleans must match exactly. Timings are
not compared. Exits 1 on any mismatch or missing value.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SKIP_FILES = {"timings.json", "timings_warm.json", "machine.json"}  # and every benchmark, bench_*.json
SKIP_KEYS = {"seconds", "peak_rss_mb", "total_seconds", "build_seconds"}  # timings, not results


def leaves(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every number, boolean and claim verdict in a JSON value."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "verdict" and isinstance(v, str):
                yield f"{path}.{k}" if path else k, v
            elif k not in SKIP_KEYS:
                yield from leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, f"{path}[{i}]")
    elif isinstance(obj, bool | int | float):
        yield path, obj


def within(ref: Any, new: Any, abs_tol: float, rel_tol: float) -> bool:
    """Whether `new` matches `ref` under the tolerance rule of this module."""
    if isinstance(ref, bool | str) or isinstance(new, bool | str):
        return ref == new and type(ref) is type(new)
    if not isinstance(new, int | float):
        return False
    if math.isnan(ref) or math.isnan(new):
        return math.isnan(ref) and math.isnan(new)
    if 0.0 <= ref <= 1.0 and 0.0 <= new <= 1.0:
        return abs(ref - new) <= abs_tol
    return math.isclose(ref, new, rel_tol=rel_tol, abs_tol=1e-9)


def compare(reference: Path, fresh: Path, abs_tol: float = 0.02, rel_tol: float = 0.05) -> list[dict[str, Any]]:
    """One row per reference metric: file, key, reference value, new value, and whether it matches."""
    files = sorted(p for p in reference.glob("*.json") if p.name not in SKIP_FILES and not p.name.startswith("bench_"))
    if not files:
        raise SystemExit(f"no reference results in {reference}: pass --reference results/<profile>")
    rows = []
    for ref_file in files:
        new_file = fresh / ref_file.name
        new = dict(leaves(json.loads(new_file.read_text()))) if new_file.is_file() else {}
        for key, ref in leaves(json.loads(ref_file.read_text())):
            got = new.get(key)
            rows.append({"file": ref_file.name, "key": key, "reference": ref, "new": got,
                         "ok": got is not None and within(ref, got, abs_tol, rel_tol)})
    return rows


def chapter_table(rows: list[dict[str, Any]]) -> str:
    """Per chapter: numbers compared, numbers matched, verdicts compared and verdicts changed (Markdown)."""
    lines = ["| chapter | numbers | matched | verdicts | verdicts changed |", "| --- | --- | --- | --- | --- |"]
    for name in sorted({r["file"] for r in rows}):
        mine = [r for r in rows if r["file"] == name]
        verdicts = [r for r in mine if r["key"].endswith("verdict")]
        numbers = [r for r in mine if not r["key"].endswith("verdict")]
        lines.append(f"| {name.removesuffix('.json')} | {len(numbers)} | {sum(r['ok'] for r in numbers)} | "
                     f"{len(verdicts)} | {sum(not r['ok'] for r in verdicts)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, required=True, help="folder of committed results, e.g. results/default")
    ap.add_argument("--fresh", type=Path, required=True, help="folder of the new run's results")
    ap.add_argument("--abs-tol", type=float, default=0.02)
    ap.add_argument("--rel-tol", type=float, default=0.05)
    ap.add_argument("--all", action="store_true", help="print matching rows too")
    args = ap.parse_args(argv)
    if not args.fresh.is_dir():
        raise SystemExit(f"--fresh {args.fresh} is not a folder; run `make verify` to produce a fresh run")
    rows = compare(args.reference, args.fresh, args.abs_tol, args.rel_tol)
    bad = [r for r in rows if not r["ok"]]
    for r in rows if args.all else bad:
        mark = "ok  " if r["ok"] else "FAIL"
        print(f"{mark} {r['file']}:{r['key']}  reference={r['reference']!r}  new={r['new']!r}")
    print(chapter_table(rows))
    print(f"{len(rows) - len(bad)} of {len(rows)} metrics match (fractions ±{args.abs_tol}, "
          f"other numbers ±{args.rel_tol:.0%}, verdicts exactly); {len(bad)} do not")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
