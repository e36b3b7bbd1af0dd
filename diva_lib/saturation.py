"""Why PGD leaves an image unfooled: a saturated softmax, or a gradient that is exactly zero (masked)."""

import numpy as np
import pandas as pd

from diva_lib import attacks, evaluate, metrics
from diva_lib.adapt import TFLiteModel


def second_attack(original, adapted, deployed: TFLiteModel, x: np.ndarray, y: np.ndarray, attack: dict,
                  batch_size: int) -> np.ndarray:
    """The deployed model's outputs on CW-L∞'s final iterates: the margin of the adapted model's logits,

    crafted through the QAT graph with PGD's radius, step and steps (`attack`), which no saturated
    softmax can stop.
    """
    r = evaluate.evaluate_attack(attacks.CWLinf(original, adapted, **attack), original, adapted, deployed, x, y,
                                 batch_size=batch_size, progress=False, final=True)
    return r.outputs["int8_final"]


def row(model: str, y: np.ndarray, p_final: np.ndarray, p_clean: np.ndarray, gradient: np.ndarray,
        p_second: np.ndarray) -> dict:
    """Images PGD leaves unfooled (`p_final`: the deployed model on its final iterates), and what holds them.

    An image is saturated when the crafting model gives its true class a probability of exactly 1
    in float32 (`p_clean`). That alone does not stop PGD, which follows only the sign of the
    gradient: the softmax still passes a gradient through the other classes' probabilities until
    they underflow to 0. `gradient` (PGD's loss at the clean images, `Attack.gradient`) says what
    does: an image whose gradient is exactly zero at every pixel gives PGD nothing to follow, and a
    pixel whose gradient is zero (a quantizer that clips its input, an underflowed softmax) never moves.
    `p_second` (`second_attack`) is the deployed model on a second attack's final iterates.

    Example:
        >>> y = np.array([0, 0]); p = np.array([[1.0, 0.0], [0.4, 0.6]], np.float32)
        >>> g = np.array([[0.0, 0.0], [0.0, 0.5]], np.float32)
        >>> r = row("mobilenet", y, p, p, g, p[::-1]); r["unfooled saturated"], r["unfooled by both"]
        (1, 0)
    """
    unfooled = p_final.argmax(1) == y
    saturated = p_clean[np.arange(len(y)), y] == 1.0
    zero_share = (np.asarray(gradient) == 0).reshape(len(y), -1).mean(1)
    return {"model": model, "unfooled": int(unfooled.sum()), "unfooled saturated": int((unfooled & saturated).sum()),
            "unfooled without gradient": int((unfooled & (zero_share == 1.0)).sum()),
            "zero-gradient pixels": float(np.median(zero_share[unfooled])) if unfooled.any() else None,
            "saturated": metrics.rate(saturated), "second attack": metrics.rate(p_second.argmax(1) != y),
            "unfooled by both": int((unfooled & (p_second.argmax(1) == y)).sum())}


def table(rows: list[dict]) -> pd.DataFrame:
    """Per model: images PGD leaves unfooled, how many are saturated or have no gradient, and a second attack."""
    return pd.DataFrame([{"model": r["model"], "unfooled by PGD-20 (final iterate)": r["unfooled"],
                          "of them saturated": r["unfooled saturated"],
                          "of them without any gradient": r["unfooled without gradient"],
                          "zero-gradient pixels in them (median)": "–" if r["zero-gradient pixels"] is None
                          else f"{100 * r['zero-gradient pixels']:.1f} %",
                          "saturated among all attacked images": str(r["saturated"]),
                          "fooled by CW-L∞ on logits (final iterate)": str(r["second attack"]),
                          "unfooled by both": r["unfooled by both"]} for r in rows])


def to_json(rows: list[dict]) -> dict:
    """The rows as JSON, by model."""
    return {r["model"]: {"unfooled": r["unfooled"], "unfooled_saturated": r["unfooled saturated"],
                         "unfooled_without_gradient": r["unfooled without gradient"],
                         "zero_gradient_pixels_median": r["zero-gradient pixels"],
                         "saturated": r["saturated"].as_dict(), "second_attack_evasion": r["second attack"].as_dict(),
                         "unfooled_by_both": r["unfooled by both"]} for r in rows}
