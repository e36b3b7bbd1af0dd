"""Statistical verdict rules: a claim holds, does not hold, or is not testable here.

Every rule decides on a 95 % interval, never on a point estimate alone. Comparing two measured
rates uses Newcombe's hybrid-score interval of their difference (from the two Wilson intervals);
comparing a measurement with a number or range of the paper asks whether its 95 % interval
reaches that number or range. Ratios of counts carry a seeded bootstrap interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from diva_lib.metrics import Rate

HOLDS, FAILS, UNTESTABLE = "holds", "does not hold", "not testable here"
VERDICTS = (HOLDS, FAILS, UNTESTABLE)


@dataclass(frozen=True)
class Estimate:
    """A measured value with its 95 % interval."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, r: Rate | Estimate) -> Estimate:
        """The estimate of a rate (or an estimate itself)."""
        return cls(r.value, r.low, r.high)

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def difference(a: Rate, b: Rate) -> Estimate:
    """a − b with Newcombe's hybrid-score 95 % interval (method 10), from the two Wilson intervals."""
    if not (a.n and b.n):
        raise ValueError(f"a difference of rates needs images on both sides, got n = {a.n} and n = {b.n}")
    d = a.value - b.value
    low = d - math.sqrt((a.value - a.low) ** 2 + (b.high - b.value) ** 2)
    high = d + math.sqrt((a.high - a.value) ** 2 + (b.value - b.low) ** 2)
    return Estimate(d, low, high)


def exceeds(a: Rate, b: Rate, margin: float = 0.0) -> bool:
    """a is above b + margin: the 95 % interval of a − b lies above `margin`."""
    return difference(a, b).low > margin


def not_above(a: Rate, b: Rate) -> bool:
    """a is not shown to exceed b: the 95 % interval of a − b reaches 0 or below."""
    return difference(a, b).low <= 0


def reaches(e: Rate | Estimate, low: float, high: float = math.inf) -> bool:
    """The 95 % interval of `e` meets the paper's range [low, high] (one-sided when `high` is infinite)."""
    return e.high >= low and e.low <= high


def below(e: Rate | Estimate, limit: float) -> bool:
    """The whole 95 % interval of `e` lies below `limit`."""
    return e.high < limit


def flip_ratio(flips_one: int, flips_other: int, n: int, seed: int = 0, reps: int = 4000) -> Estimate:
    """(a + b) / |a − b|, flips over net accuracy change, with a seeded multinomial-bootstrap 95 % interval.

    `flips_one` and `flips_other` count the images only the original and only the adapted model
    gets right (Table 1's two deviation columns) out of n. The ratio is infinite when the two
    counts are equal; its interval then reaches infinity.
    """
    if n <= 0 or flips_one < 0 or flips_other < 0 or flips_one + flips_other > n:
        raise ValueError(f"flip counts {flips_one}, {flips_other} of n = {n} are impossible")

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a == b, np.inf, (a + b) / np.abs(a - b))

    shares = [flips_one / n, flips_other / n, 1 - (flips_one + flips_other) / n]
    draws = np.random.default_rng(seed).multinomial(n, shares, size=reps)
    boot = ratio(draws[:, 0], draws[:, 1])
    low, high = np.quantile(boot, [0.025, 0.975], method="inverted_cdf")  # order statistics: ∞ stays ∞
    return Estimate(float(ratio(np.array(flips_one), np.array(flips_other))), float(low), float(high))


def mean_interval(values: np.ndarray) -> Estimate:
    """Mean of per-image values with its 95 % Student-t interval (unbounded with fewer than two values)."""
    v = np.asarray(values, float)
    if v.size < 2:
        return Estimate(float(v.mean()) if v.size else float("nan"), -math.inf, math.inf)
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return Estimate(float(v.mean()), float(v.mean() - half), float(v.mean() + half))


def paired_difference(a: np.ndarray, b: np.ndarray) -> Estimate:
    """Mean of a − b over the same images (e.g. two attacks' confidence deltas), with a 95 % paired-t interval.

    Example:
        >>> paired_difference(np.array([0.5, 0.6, 0.7]), np.array([0.1, 0.1, 0.2])).value  # doctest: +ELLIPSIS
        0.46...
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two vectors of one length, got {a.shape} and {b.shape}")
    return mean_interval(a - b)
