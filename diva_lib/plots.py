"""Seaborn figures shared by the chapters."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
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


def success_by_step(df: pd.DataFrame, title: str) -> plt.Figure:
    """Top-1 success after each step; `df` has columns step, success (fraction), attack, arch."""
    sns.set_theme(style="whitegrid", context="notebook")
    g = sns.relplot(data=df.assign(pct=100 * df["success"]), x="step", y="pct", hue="attack", col="arch",
                    kind="line", marker="o", height=3.0, aspect=1.1, facet_kws={"sharey": True})
    g.set_axis_labels("PGD steps", "top-1 success (%)")
    g.figure.suptitle(title, y=1.04)
    return g.figure


def example_grid(images: dict[str, np.ndarray], captions: dict[str, list[str]], title: str) -> plt.Figure:
    """Rows of images (e.g. natural, PGD, DIVA), one column per example, each with a caption."""
    rows, cols = len(images), len(next(iter(images.values())))
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.3 * rows), squeeze=False)
    for r, (name, xs) in enumerate(images.items()):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(np.clip(xs[c], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(captions[name][c], fontsize=7.5)
            if c == 0:
                ax.set_ylabel(name, fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
