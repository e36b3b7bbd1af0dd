"""The audit's self-contained HTML report: its tables, and seaborn figures inlined as PNG."""

from __future__ import annotations

import base64
import html as _html
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from diva_lib import audit as _audit  # noqa: E402


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def success_figure(report: dict) -> str:
    """DIVA and PGD top-1 success on the deployed model against ε, with 95 % intervals."""
    names = list(report["by_eps"])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for attack, color in zip(("diva", "pgd"), sns.color_palette(), strict=False):
        value = [100 * report["by_eps"][e][f"{attack}_top1"] for e in names]
        low, high = ([100 * report["by_eps"][e][f"{attack}_top1_ci"][i] for e in names] for i in (0, 1))
        ax.errorbar(names, value, yerr=[[v - lo for v, lo in zip(value, low, strict=True)],
                                        [hi - v for v, hi in zip(value, high, strict=True)]],
                    marker="o", capsize=3, color=color, label=attack.upper())
    ax.set(xlabel="ε", ylabel="top-1 success (%)", title="on the deployed model")
    ax.legend()
    return _png(fig)


def layer_figure(layers: pd.DataFrame) -> str:
    """The ten layers whose float-vs-twin gap grows most under DIVA."""
    if layers.empty:
        return "<p>No layers of the original could be matched by name in the gradient model.</p>"
    top = layers.sort_values("increase", ascending=False).head(10)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    sns.barplot(data=top, y="layer", x="increase", ax=ax, color=sns.color_palette()[0])
    ax.set_xlabel("relative activation gap: DIVA − clean")
    return _png(fig)


def example_grid(examples: tuple) -> str:
    """Clean images, their DIVA versions and the amplified difference, for up to 8 successful attacks."""
    clean, adv, labels = examples
    if len(clean) == 0:
        return "<p>DIVA succeeded on no image at the largest ε.</p>"
    fig, axes = plt.subplots(3, len(clean), figsize=(1.4 * len(clean), 4.4), squeeze=False)
    for i in range(len(clean)):
        diff = abs(adv[i] - clean[i])
        for row, (img, title) in enumerate(((clean[i], f"label {labels[i]}"), (adv[i], "DIVA"),
                                            (diff / max(diff.max(), 1e-12), "|difference|"))):
            axes[row, i].imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None)
            axes[row, i].set_title(title, fontsize=7)
            axes[row, i].axis("off")
    return _png(fig)


def html(audit: _audit.Audit) -> str:
    """The whole report as one HTML page."""
    r = audit.report
    parts = [
        "<h1>DIVA audit of an edge model</h1>",
        f"<p>Gradient source: <b>{_html.escape(r['gradient_source'])}</b>. Success means the original is still "
        "right and the deployed model (LiteRT, inputs on the 8-bit grid) is wrong; intervals are 95 % Wilson.</p>",
        "<h2>Clean inputs</h2>", _audit.clean_table(r).to_html(),
        f"<p>Top-1/top-2 margin of the original as a risk score for a float/int8 disagreement: ROC AUC "
        f"{r['margin_risk_auc']:.3f} over {r['n_clean']} inputs.</p>",
        "<h2>Attacks</h2>", _audit.summary(r).to_html(index=False), success_figure(r),
        "<h2>Where the gap grows</h2>", layer_figure(audit.layers),
        "<h2>Examples at the largest ε</h2>", example_grid(audit.examples),
        f"<h2>What this audit cannot see</h2><p>{_html.escape(r['limits'])}</p>",
    ]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>DIVA audit</title><style>body{font-family:"
            "sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}td,th{padding:2px 8px;"
            "border-bottom:1px solid #ddd}</style></head><body>" + "\n".join(parts) + "</body></html>\n")
