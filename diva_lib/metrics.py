"""Metrics of the paper: accuracy, instability, and success rates with confidence intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest


@dataclass(frozen=True)
class Rate:
    """A proportion k/n with its 95 % Wilson confidence interval."""

    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        """The point estimate k/n (NaN when n = 0)."""
        return self.k / self.n if self.n else float("nan")

    def __str__(self) -> str:
        return f"{100 * self.value:.1f} % [{100 * self.low:.1f}, {100 * self.high:.1f}] (n={self.n})"


def rate(mask: np.ndarray) -> Rate:
    """Share of True entries in a boolean mask, with a 95 % Wilson interval."""
    mask = np.asarray(mask, dtype=bool)
    k, n = int(mask.sum()), int(mask.size)
    if n == 0:
        return Rate(0, 0, float("nan"), float("nan"))
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return Rate(k, n, float(ci.low), float(ci.high))


def _check(probs: np.ndarray, labels: np.ndarray | None = None) -> None:
    if probs.ndim != 2:
        raise ValueError(f"probabilities must have shape (N, classes), got {probs.shape}")
    if labels is not None and labels.shape != (len(probs),):
        raise ValueError(f"labels shape {labels.shape} does not match {len(probs)} predictions")


def accuracy(probs: np.ndarray, labels: np.ndarray) -> Rate:
    """Top-1 accuracy."""
    _check(probs, labels)
    return rate(probs.argmax(1) == labels)


def instability(probs_a: np.ndarray, probs_b: np.ndarray) -> Rate:
    """Share of inputs on which two models' top-1 predictions differ (Cidon et al., 2021)."""
    _check(probs_a)
    _check(probs_b)
    if probs_a.shape != probs_b.shape:
        raise ValueError(f"prediction shapes differ: {probs_a.shape} vs {probs_b.shape}")
    return rate(probs_a.argmax(1) != probs_b.argmax(1))


def deviations(probs_orig: np.ndarray, probs_adapted: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """Counts of Table 1: original correct & adapted wrong, and the reverse."""
    _check(probs_orig, labels)
    _check(probs_adapted, labels)
    co, ca = probs_orig.argmax(1) == labels, probs_adapted.argmax(1) == labels
    return {"orig_correct_adapted_wrong": int((co & ~ca).sum()), "orig_wrong_adapted_correct": int((~co & ca).sum())}


def both_correct(probs_orig: np.ndarray, probs_adapted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mask of inputs both models classify correctly: the only inputs an attack is evaluated on."""
    _check(probs_orig, labels)
    _check(probs_adapted, labels)
    return (probs_orig.argmax(1) == labels) & (probs_adapted.argmax(1) == labels)


def top1_success(probs_orig: np.ndarray, probs_adapted: np.ndarray, labels: np.ndarray) -> Rate:
    """DIVA's goal: the original still predicts the true label and the adapted model does not."""
    _check(probs_orig, labels)
    _check(probs_adapted, labels)
    return rate((probs_orig.argmax(1) == labels) & (probs_adapted.argmax(1) != labels))


def top5_success(probs_orig: np.ndarray, probs_adapted: np.ndarray, labels: np.ndarray, k: int = 5) -> Rate:
    """The adapted model's top-1 is outside the original's top-k (stricter than top-1 success)."""
    _check(probs_orig, labels)
    topk = np.argsort(-probs_orig, axis=1)[:, :k]
    return rate(~(topk == probs_adapted.argmax(1)[:, None]).any(1))


def confidence_delta(probs_orig: np.ndarray, probs_adapted: np.ndarray, labels: np.ndarray) -> float:
    """Mean over inputs of p_orig[y] − p_adapted[y]."""
    _check(probs_orig, labels)
    idx = np.arange(len(labels))
    return float(np.mean(probs_orig[idx, labels] - probs_adapted[idx, labels])) if len(labels) else float("nan")


def evasion(probs_adapted: np.ndarray, labels: np.ndarray) -> Rate:
    """Share of inputs the adapted model gets wrong, whatever the original does (Table 2's evasion)."""
    _check(probs_adapted, labels)
    return rate(probs_adapted.argmax(1) != labels)


def dssim(x: np.ndarray, x_adv: np.ndarray) -> np.ndarray:
    """Per-image structural dissimilarity (1 − SSIM) / 2 with scikit-image, images in [0, 1]."""
    from skimage.metrics import structural_similarity

    if x.shape != x_adv.shape:
        raise ValueError(f"image shapes differ: {x.shape} vs {x_adv.shape}")
    win = min(7, *(s if s % 2 else s - 1 for s in x.shape[1:3]))
    return np.array([(1 - structural_similarity(a, b, data_range=1.0, channel_axis=-1, win_size=win)) / 2
                     for a, b in zip(x, x_adv, strict=True)])


def success_by_step(orig_pred: np.ndarray, adapted_pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Top-1 success after each step 0..T, from predictions recorded during one attack run."""
    if orig_pred.shape != adapted_pred.shape or orig_pred.shape[1:] != labels.shape:
        raise ValueError(f"recorded predictions {orig_pred.shape} do not match labels {labels.shape}")
    return ((orig_pred == labels) & (adapted_pred != labels)).mean(axis=1)


def to_pixel_grid(x: np.ndarray) -> np.ndarray:
    """Round [0, 1] images to the 8-bit grid of a stored or deployed image."""
    return np.round(np.clip(x, 0.0, 1.0) * 255.0) / 255.0
