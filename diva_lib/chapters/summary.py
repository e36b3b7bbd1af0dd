"""The claims page: every chapter's verdicts gathered, counted and drawn against the paper's numbers."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from diva_lib import report
from diva_lib.verdicts import VERDICTS

COLOURS = {"holds": "tab:green", "does not hold": "tab:red", "not testable here": "tab:gray"}


def gather(folder: str | Path) -> pd.DataFrame:
    """One row per claim of every `<chapter>.json` in a results folder."""
    rows = [c for p in sorted(Path(folder).glob("*.json")) for c in report.load_json(p).get("claims", [])]
    cols = ["id", "section", "chapter", "claim", "paper", "measured", "scope", "verdict", "reason", "rule",
            "estimate", "band"]
    return pd.DataFrame(rows, columns=cols)


RELATED = "beyond"
"""The chapter whose claims come from the related papers, shown in their own section."""


def split_related(claims: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's claims and the related papers' (chapter "beyond"), each with a fresh index."""
    related = claims["chapter"] == RELATED
    return claims[~related].reset_index(drop=True), claims[related].reset_index(drop=True)


def counts(claims: pd.DataFrame) -> pd.DataFrame:
    """Claims per chapter and verdict, with a total row."""
    table = pd.crosstab(claims["chapter"], claims["verdict"]).reindex(columns=list(VERDICTS), fill_value=0)
    table.loc["all chapters"] = table.sum()
    return table.reset_index()


def forest(claims: pd.DataFrame) -> plt.Figure:
    """Each claim's measured value with its 95 % interval (colour: verdict) against the paper's number or range
    (shaded), or against 0 for a difference the paper only orders."""
    drawn = claims[claims["estimate"].notna()].reset_index(drop=True)
    if drawn.empty:
        fig, ax = plt.subplots(figsize=(8, 0.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "no measured claim in this run", ha="center", va="center")
        return fig
    fig, axes = plt.subplots(len(drawn), 1, figsize=(8, 0.62 * len(drawn) + 0.6), squeeze=False)
    for ax, (_, c) in zip(axes[:, 0], drawn.iterrows(), strict=True):
        value, low, high = (np.inf if v is None else v for v in c["estimate"])
        finite = [v for v in (value, low, high, *(c["band"] or [0.0])) if math.isfinite(v)]
        span = (max(finite) - min(finite)) or 1.0
        cap = max(finite) + 0.3 * span
        if c["band"]:
            ax.axvspan(*c["band"], color="tab:blue", alpha=0.2, lw=0)
        else:
            ax.axvline(0, color="tab:blue", lw=1)
        ax.errorbar(min(value, cap), 0, xerr=[[min(value, cap) - low], [min(high, cap) - min(value, cap)]],
                    fmt="o", color=COLOURS[c["verdict"]], capsize=3)
        ax.set(yticks=[], xlim=(min(finite) - 0.15 * span, cap + 0.05 * span))
        ax.set_ylabel(c["id"], rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle("measured value and 95 % interval (green holds, red does not, grey not testable) against the "
                 "paper (blue)", fontsize=9)
    fig.tight_layout()
    return fig


def margins(claims: pd.DataFrame, shift: float = 0.02) -> pd.DataFrame:
    """How far each judged claim's deciding interval lies from the other verdict, and whether `shift` could flip it.

    A difference judged against 0 flips when its interval's lower end crosses 0; a claim judged
    against the paper's range flips when its interval stops (or starts) meeting the range. Only
    claims on the scale of rates are listed (a ratio's scale is not points).
    """
    rows = []
    for _, c in claims[claims["estimate"].notna() & (claims["verdict"] != VERDICTS[2])].iterrows():
        _, low, high = (math.inf if v is None else v for v in c["estimate"])
        band = c["band"]
        if band and not (0 <= band[0] and band[1] <= 1):
            continue
        margin = abs(low) if not band else abs(min(high, band[1]) - max(low, band[0]))
        rows.append({"id": c["id"], "verdict": c["verdict"], "margin (points)": round(100 * margin, 1),
                     f"a {100 * shift:g}-point shift could flip it": "yes" if margin < shift else "no"})
    return pd.DataFrame(rows, columns=["id", "verdict", "margin (points)", f"a {100 * shift:g}-point shift could "
                                       "flip it"])
