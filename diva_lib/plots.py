"""Seaborn figures shared by the chapters."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def rate_bars(df: pd.DataFrame, x: str, hue: str, title: str, ylabel: str = "rate (%)") -> plt.Figure:
    """Grouped bars of rates with 95 % interval whiskers; `df` has columns x, hue, value, low, high (fractions)."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(8, 3.6))
    sns.barplot(data=df.assign(pct=100 * df["value"]), x=x, y="pct", hue=hue, ax=ax, errorbar=None)
    xs = list(dict.fromkeys(df[x]))
    hues = list(dict.fromkeys(df[hue]))
    for container, h in zip(ax.containers, hues, strict=False):
        for bar, xv in zip(container, xs, strict=False):
            row = df[(df[x] == xv) & (df[hue] == h)].iloc[0]
            cx = bar.get_x() + bar.get_width() / 2
            ax.errorbar(cx, 100 * row["value"], yerr=[[100 * (row["value"] - row["low"])],
                        [100 * (row["high"] - row["value"])]], fmt="none", ecolor="black", capsize=3, lw=1)
    ax.set(title=title, xlabel="", ylabel=ylabel)
    ax.legend(title=None, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
