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

    def as_dict(self) -> dict:
        """JSON form: {"rate": k/n, "n": n, "ci": [low, high]}."""
        return {"rate": self.value, "n": self.n, "ci": [self.low, self.high]}


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


def instability(probs_orig: np.ndarray, probs_adapted: np.ndarray, labels: np.ndarray) -> Rate:
    """Table 1's instability: share of inputs on which exactly one of the two models is correct."""
    _pair(probs_orig, probs_adapted, labels)
    return rate((probs_orig.argmax(1) == labels) != (probs_adapted.argmax(1) == labels))


def disagreement(probs_a: np.ndarray, probs_b: np.ndarray) -> Rate:
    """Share of inputs on which two models' top-1 predictions differ, whatever the label."""
    _pair(probs_a, probs_b)
    return rate(probs_a.argmax(1) != probs_b.argmax(1))


def _pair(probs_a: np.ndarray, probs_b: np.ndarray, labels: np.ndarray | None = None) -> None:
    _check(probs_a, labels)
    _check(probs_b, labels)
    if probs_a.shape != probs_b.shape:
        raise ValueError(f"prediction shapes differ: {probs_a.shape} vs {probs_b.shape}")


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
    """§5.1's top-5 success: the original is correct and the adapted model's top-1 is outside its top-k."""
    _pair(probs_orig, probs_adapted, labels)
    topk = np.argsort(-probs_orig, axis=1)[:, :k]
    outside = ~(topk == probs_adapted.argmax(1)[:, None]).any(1)
    return rate((probs_orig.argmax(1) == labels) & outside)


def confidence_delta(probs_orig: np.ndarray, probs_adapted: np.ndarray, labels: np.ndarray) -> float:
    """Mean over inputs of p_orig[y] − p_adapted[y]."""
    _check(probs_orig, labels)
    idx = np.arange(len(labels))
    return float(np.mean(probs_orig[idx, labels] - probs_adapted[idx, labels])) if len(labels) else float("nan")


def evasion(probs_adapted: np.ndarray, labels: np.ndarray) -> Rate:
    """Share of inputs the adapted model gets wrong, whatever the original does (Table 2's evasion)."""
    _check(probs_adapted, labels)
    return rate(probs_adapted.argmax(1) != labels)


DSSIM_WEIGHTS = (0.028, 0.197, 0.322, 0.298, 0.155)
"""Per-scale weights of kornelski's `dssim` (dssim-core), full resolution first."""


def _lab(x: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] to L*a*b* scaled to about [0, 1] per channel, as `dssim` scales it."""
    from skimage.color import rgb2lab

    lab = rgb2lab(x)
    return np.stack([lab[..., 0] / 100, (lab[..., 1] + 86.2) / 220, (lab[..., 2] + 107.9) / 220], axis=-1)


def ms_ssim(a: np.ndarray, b: np.ndarray, win_size: int = 7) -> float:
    """`dssim`'s multi-scale SSIM of two RGB images in [0, 1], on scikit-image's SSIM.

    As dssim-core: images in L*a*b*, 2×2 box downsampling while both sides stay ≥ 8 pixels (at
    most five scales), a scale's score 1 − mean|m^(0.5^s) − SSIM_i| around its mean SSIM m, and
    the weighted mean of the scale scores. Unlike it: scikit-image's uniform 7×7 window instead
    of dssim's twice-blurred 3×3 kernel, and the three channels' SSIM maps averaged.
    """
    from skimage.metrics import structural_similarity
    from skimage.transform import downscale_local_mean

    a, b = _lab(a), _lab(b)
    scores, weights = [], []
    for s, w in enumerate(DSSIM_WEIGHTS):
        if min(a.shape[:2]) < max(8, win_size):
            break
        _, smap = structural_similarity(a, b, data_range=1.0, channel_axis=-1, win_size=win_size, full=True)
        smap = smap.mean(axis=-1)
        m = max(float(smap.mean()), 0.0) ** (0.5**s)
        scores.append(1.0 - float(np.mean(np.abs(m - smap))))
        weights.append(w)
        a, b = downscale_local_mean(a, (2, 2, 1)), downscale_local_mean(b, (2, 2, 1))
    if not scores:
        raise ValueError(f"images of {a.shape[:2]} pixels are smaller than one SSIM window ({win_size})")
    return float(np.average(scores, weights=weights))


def dssim(x: np.ndarray, x_adv: np.ndarray) -> np.ndarray:
    """Per-image DSSIM as kornelski's `dssim` reports it, 1 / MS-SSIM − 1 (`ms_ssim`), images in [0, 1]."""
    if x.shape != x_adv.shape:
        raise ValueError(f"image shapes differ: {x.shape} vs {x_adv.shape}")
    return np.array([1.0 / max(ms_ssim(a, b), 1e-12) - 1.0 for a, b in zip(x, x_adv, strict=True)])


def first_success_curve(first_step: np.ndarray, steps: int) -> np.ndarray:
    """Cumulative top-1 success after each step 0..steps, from each image's first successful step (−1: none)."""
    first = np.asarray(first_step)
    if first.ndim != 1 or first.size and (first.min() < -1 or first.max() > steps):
        raise ValueError(f"first steps must be a vector of values in [-1, {steps}], got shape {first.shape}")
    hit = first >= 0
    return np.array([np.mean(hit & (first <= k)) if first.size else float("nan") for k in range(steps + 1)])


def to_pixel_grid(x: np.ndarray) -> np.ndarray:
    """Round [0, 1] images to the 8-bit grid of a stored or deployed image."""
    return np.round(np.clip(x, 0.0, 1.0) * 255.0) / 255.0
