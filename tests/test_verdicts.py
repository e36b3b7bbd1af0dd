"""Verdict rules decide on 95 % intervals; each rule holds on some results and fails on others."""

import math

import numpy as np
import pytest

from diva_lib import verdicts
from diva_lib.metrics import rate


def r(k: int, n: int):
    return rate(np.arange(n) < k)


def test_difference_interval_contains_the_difference_and_narrows_with_n():
    small, big = verdicts.difference(r(6, 10), r(4, 10)), verdicts.difference(r(600, 1000), r(400, 1000))
    assert small.low < 0.2 < small.high and big.low < 0.2 < big.high
    assert big.high - big.low < small.high - small.low
    with pytest.raises(ValueError, match="n = 0"):
        verdicts.difference(r(0, 0), r(1, 2))


def test_exceeds_holds_only_when_the_interval_clears_zero():
    assert verdicts.exceeds(r(950, 1000), r(400, 1000))
    assert not verdicts.exceeds(r(6, 10), r(4, 10))            # a point difference alone does not decide
    assert not verdicts.exceeds(r(400, 1000), r(950, 1000))


def test_not_above_fails_only_when_a_is_significantly_higher():
    assert verdicts.not_above(r(41, 100), r(40, 100))
    assert not verdicts.not_above(r(90, 100), r(40, 100))


def test_reaches_and_below_compare_intervals_with_the_paper():
    assert verdicts.reaches(r(90, 100), 0.923)                  # 90 % [82.6, 94.5] reaches 92.3 %
    assert not verdicts.reaches(r(50, 1000), 0.923)
    assert verdicts.reaches(r(7, 100), 0.063, 0.081)
    assert not verdicts.reaches(r(300, 1000), 0.063, 0.081)
    assert verdicts.below(verdicts.Estimate(0.005, 0.004, 0.006), 0.0092)
    assert not verdicts.below(verdicts.Estimate(0.01, 0.009, 0.011), 0.0092)


def test_flip_ratio_by_hand_and_its_interval():
    e = verdicts.flip_ratio(1510, 925, 30_000)
    assert e.value == pytest.approx(2435 / 585) and e.low < e.value < e.high
    assert verdicts.reaches(e, 3.2)
    low = verdicts.flip_ratio(500, 10, 30_000)                 # flips barely above the net change
    assert low.high < 1.2 and not verdicts.reaches(low, 3.2)
    assert math.isinf(verdicts.flip_ratio(5, 5, 100).value)
    assert verdicts.flip_ratio(30, 20, 1000, seed=1) == verdicts.flip_ratio(30, 20, 1000, seed=1)
    with pytest.raises(ValueError, match="impossible"):
        verdicts.flip_ratio(60, 50, 100)
