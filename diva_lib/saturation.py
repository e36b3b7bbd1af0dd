"""Saturation: the crafting model gives the true class a probability of exactly 1, and PGD's gradient vanishes."""

import numpy as np
import pandas as pd

from diva_lib import metrics


def row(model: str, y: np.ndarray, p_final: np.ndarray, p_clean: np.ndarray) -> dict:
    """Images PGD leaves unfooled (`p_final`: the deployed model on its final iterates) and how many are saturated.

    An image is saturated when the crafting model gives its true class a probability of exactly 1
    in float32 (`p_clean`): the cross-entropy, PGD's loss, then has a zero or vanishing gradient
    and PGD cannot move the image at any radius.

    Example:
        >>> y = np.array([0, 0]); p = np.array([[1.0, 0.0], [0.4, 0.6]], np.float32)
        >>> row("mobilenet", y, p, p)["unfooled saturated"]
        1
    """
    unfooled = p_final.argmax(1) == y
    saturated = p_clean[np.arange(len(y)), y] == 1.0
    return {"model": model, "unfooled": int(unfooled.sum()), "unfooled saturated": int((unfooled & saturated).sum()),
            "saturated": metrics.rate(saturated)}


def table(rows: list[dict]) -> pd.DataFrame:
    """Per model: images PGD leaves unfooled, how many of them are saturated, saturation among all attacked."""
    return pd.DataFrame([{"model": r["model"], "unfooled by PGD-20 (final iterate)": r["unfooled"],
                          "of them saturated": r["unfooled saturated"],
                          "saturated among all attacked images": str(r["saturated"])} for r in rows])


def to_json(rows: list[dict]) -> dict:
    """The rows as JSON, by model."""
    return {r["model"]: {"unfooled": r["unfooled"], "unfooled_saturated": r["unfooled saturated"],
                         "saturated": r["saturated"].as_dict()} for r in rows}
