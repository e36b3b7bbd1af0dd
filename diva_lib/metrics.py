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
