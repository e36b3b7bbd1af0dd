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


def show(df: pd.DataFrame) -> None:
    """Display a table in a notebook in full (no truncated cells) and without a 0..n index column."""
    from IPython.display import display

    display(df.style.hide(axis="index").set_properties(**{"text-align": "left", "white-space": "pre-wrap"}))


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
    """Markdown of a run's claims per verdict and chapter, Table 1 and the whitebox Fig 6 row, from its JSON."""
    folder = Path(folder)
    claims = [c for p in sorted(folder.glob("*.json")) for c in load_json(p).get("claims", [])]
    held = sum(c["holds"] for c in claims)
    lines = [f"**{held} of {len(claims)} claims hold, {len(claims) - held} do not** in `{folder.name}`:", "",
             "| chapter | hold | do not hold |", "| --- | --- | --- |"]
    for chapter in dict.fromkeys(c["chapter"] for c in claims):
        verdicts = [c["holds"] for c in claims if c["chapter"] == chapter]
        lines.append(f"| {chapter} | {sum(verdicts)} | {len(verdicts) - sum(verdicts)} |")
    table1, quant = load_json(folder / "table1.json"), load_json(folder / "quantization.json")
    lines += ["", f"Table 1 (n = {table1['n_test']}) and whitebox Fig 6 (top-1 success on the deployed int8 "
              "model, 95 % interval):", "",
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
