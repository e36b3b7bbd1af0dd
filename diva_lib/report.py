"""Tables as the reader sees them, atomic JSON results, and the README's generated results block."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from diva_lib.files import atomic_write

RESULTS_DIR = Path(os.environ.get("DIVA_RESULTS", Path(__file__).resolve().parent.parent / "results"))


def show(df: pd.DataFrame, widths: dict[str, str] | None = None) -> None:
    """Display a table in a notebook in full (no truncated cells, no 0..n index column), columns `widths` wide."""
    from IPython.display import display

    style = df.style.hide(axis="index").set_properties(**{"text-align": "left", "white-space": "pre-wrap",
                                                          "overflow-wrap": "anywhere", "vertical-align": "top"})
    if widths:
        style = style.set_table_styles([{"selector": "", "props": "table-layout: fixed; width: 100%;"}] + [
            {"selector": f"th.col_heading.col{list(df.columns).index(c)}", "props": f"width: {w};"}
            for c, w in widths.items()])
    display(style)


def settings_table(rows: dict[str, tuple[Any, Any]]) -> pd.DataFrame:
    """'Paper setting vs this run' from {setting: (paper, this run)}."""
    return pd.DataFrame([{"setting": k, "paper": p, "this run": r} for k, (p, r) in rows.items()])


def pct(x: float) -> str:
    """A fraction as a percentage string."""
    return f"{100 * x:.1f} %"


def _plain(o: Any) -> Any:
    """NumPy scalars and arrays as plain Python values for JSON."""
    if isinstance(o, np.generic | np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def save_json(obj: Any, path: str | Path) -> Path:
    """Write JSON via a temporary file and rename, so readers never see a partial file."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=_plain)
        f.write("\n")
    return Path(path)


def results_path(profile: str, name: str) -> Path:
    """`results/<profile>/<name>.json`."""
    return RESULTS_DIR / profile / f"{name}.json"


def load_json(path: str | Path) -> Any:
    """Read a JSON result."""
    return json.loads(Path(path).read_text())


README_START, README_END = "<!-- results:start (written by `make readme`) -->", "<!-- results:end -->"


def results_summary(folder: str | Path) -> str:
    """Markdown of a run's verdicts per chapter, Table 1 and the whitebox Fig 6 row, from its JSON."""
    from diva_lib.verdicts import VERDICTS

    folder = Path(folder)
    claims = [c for p in sorted(folder.glob("*.json")) for c in load_json(p).get("claims", [])]
    total = ", ".join(f"{sum(c['verdict'] == v for c in claims)} {v}" for v in VERDICTS)
    lines = [f"**{len(claims)} claims** in `{folder.name}`: {total}.", "",
             "| chapter | " + " | ".join(VERDICTS) + " |", "| --- |" + " --- |" * len(VERDICTS)]
    for chapter in dict.fromkeys(c["chapter"] for c in claims):
        n = [sum(c["chapter"] == chapter and c["verdict"] == v for c in claims) for v in VERDICTS]
        lines.append(f"| {chapter} | " + " | ".join(map(str, n)) + " |")
    table1, quant = load_json(folder / "table1.json"), load_json(folder / "quantization.json")
    lines += ["", f"Table 1 (n = {table1['n_test']}; instability: exactly one of the two models right) and "
              "whitebox Fig 6 (top-1 success at the first successful step on the deployed int8 model, 95 % "
              "interval):", "",
              "| architecture | fp32 acc | int8 acc | instability | DIVA top-1 | PGD top-1 |",
              "| --- | --- | --- | --- | --- | --- |"]
    for arch, m in table1["models"].items():
        wb = quant[arch]["whitebox"]["tflite"]
        ci = {a: "–".join(pct(v) for v in wb[a]["top1_ci"]) for a in ("DIVA", "PGD")}
        lines.append(f"| {arch} | {pct(m['fp32_acc'])} | {pct(m['tflite_int8_acc'])} | {pct(m['instability'])} | "
                     f"{pct(wb['DIVA']['top1'])} ({ci['DIVA']}) | {pct(wb['PGD']['top1'])} ({ci['PGD']}) |")
    return "\n".join(lines)


def write_readme_summary(readme: str | Path, folder: str | Path) -> None:
    """Replace the README's results block with the summary of `folder`."""
    text = Path(readme).read_text()
    head, rest = text.split(README_START)
    tail = rest.split(README_END)[1]
    with atomic_write(readme, "w") as f:
        f.write(f"{head}{README_START}\n{results_summary(folder)}\n{README_END}{tail}")


def time_breakdown(timings: dict) -> pd.DataFrame:
    """Where each chapter's time went: minutes in all, building models, and its longest model build.

    Chapters recorded without `builds` (older runs) show blanks in the build columns.

    Example:
        >>> t = {"a": {"seconds": 600, "builds": [{"model": "qat mobilenet", "seconds": 120}]}}
        >>> time_breakdown(t).loc["a"].tolist()
        [10.0, 2.0, 'qat mobilenet (2.0 min)']
    """
    rows = {}
    for name, t in timings.items():
        if not isinstance(t, dict) or "seconds" not in t:
            continue
        builds = [b for b in t.get("builds") or [] if b.get("seconds") is not None]
        longest = max(builds, key=lambda b: b["seconds"], default=None)
        rows[name] = {"minutes": round(t["seconds"] / 60, 1),
                      "building models (min)": round(sum(b["seconds"] for b in builds) / 60, 1) if builds else None,
                      "longest build": f"{longest['model']} ({longest['seconds'] / 60:.1f} min)" if longest else ""}
    return pd.DataFrame.from_dict(rows, orient="index")


def machine_note(machine: dict | None, normalised_seconds: float | None) -> str:
    """', on AMD EPYC (2 cores, AVX-512, MobileNet 640 img/s): 31.0 min on the fast kind' (empty without a record)."""
    if not machine:
        return ""
    vector = "AVX-512" if machine.get("avx512") else "no AVX-512"
    note = (f", on {machine.get('cpu')} ({machine.get('cores')} cores, {vector}, MobileNet "
            f"{machine.get('mobilenet_train_ips', float('nan')):.0f} img/s)")
    return note + (f": {normalised_seconds / 60:.1f} min on the fast kind" if normalised_seconds is not None else "")
