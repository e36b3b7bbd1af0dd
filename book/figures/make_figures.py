"""Draw the introduction's diagram: one input, two models, and what DIVA changes (writes two_models.png)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402


def box(ax, x, y, text, color):
    ax.add_patch(FancyBboxPatch((x - 0.13, y - 0.07), 0.26, 0.14, boxstyle="round,pad=0.01", fc=color, ec="0.3"))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def arrow(ax, a, b):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, color="0.3"))


def main() -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, title, inp, adapted_ok in ((axes[0], "natural image", "x", True),
                                       (axes[1], "DIVA image", "x + δ,  ‖δ‖∞ ≤ 8/255", False)):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
        ax.set_title(title, fontsize=11)
        box(ax, 0.15, 0.5, inp, "#eef")
        box(ax, 0.55, 0.75, "original model\nfp32, server", "#efe")
        box(ax, 0.55, 0.25, "adapted model\nint8 / pruned, edge", "#fee")
        arrow(ax, (0.28, 0.52), (0.42, 0.72))
        arrow(ax, (0.28, 0.48), (0.42, 0.28))
        ax.text(0.86, 0.75, "“sneaker” ✓", fontsize=10, va="center", color="green")
        ax.text(0.86, 0.25, "“sneaker” ✓" if adapted_ok else "“sandal” ✗", fontsize=10, va="center",
                color="green" if adapted_ok else "crimson")
        arrow(ax, (0.68, 0.75), (0.84, 0.75))
        arrow(ax, (0.68, 0.25), (0.84, 0.25))
    fig.suptitle("DIVA: fool the deployed model, keep the audited original correct", fontsize=11)
    fig.tight_layout()
    out = Path(__file__).with_name("two_models.png")
    fig.savefig(out, dpi=120)
    return out


if __name__ == "__main__":
    print(main())
