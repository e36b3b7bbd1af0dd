"""'Paper vs this run' tables with verdicts computed from measured numbers, and atomic JSON results."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from diva_lib.files import atomic_write

RESULTS_DIR = Path(os.environ.get("DIVA_RESULTS", Path(__file__).resolve().parent.parent / "results"))


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, what this run measured, and whether the measurement supports it."""

    claim: str
    paper: str
    measured: str
    holds: bool


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """A table with one row per claim and a computed verdict column."""
    df = pd.DataFrame([asdict(c) for c in claims])
    df["holds here"] = df.pop("holds").map({True: "yes", False: "no"})
    return df


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


def claims_record(claims: list[Claim], chapter: str, setting: str = "") -> list[dict[str, Any]]:
    """Claims as JSON rows tagged with their chapter and how this run's setting differs, for the summary page."""
    return [{"chapter": chapter, "setting": setting, **asdict(c), "holds": bool(c.holds)} for c in claims]


def setting_note(dataset: str, image_size: int, weights: str | None, n: int | None = None) -> str:
    """One line on how a run differs from the paper's ImageNet setting, for the claims page."""
    if dataset == "imagenet" and weights:
        base = f"ImageNet {image_size}×{image_size}, {weights} weights (paper setting)"
    else:
        base = f"{dataset} {image_size}×{image_size} stand-in, models trained from scratch"
    return base + (f", n = {n}" if n else "")
