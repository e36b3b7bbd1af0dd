"""Seed spread: per-seed values summarised as mean and sample standard deviation, shown in percent."""

import pytest

from diva_lib import spread
from diva_lib.chapters import instability, quantization


def test_summary_is_the_mean_and_the_sample_standard_deviation():
    s = spread.summarise({0: 0.90, 1: 0.88, 2: 0.92})
    assert s["mean"] == pytest.approx(0.90) and s["sd"] == pytest.approx(0.02)
    assert s["values"] == {"0": 0.90, "1": 0.88, "2": 0.92}
    assert spread.summarise({0: 0.5})["sd"] == 0.0


def test_frame_shows_each_seed_and_the_mean():
    sp = {"arch": "mobilenet", "seeds": [0, 1], "fp32_acc": spread.summarise({0: 0.9, 1: 0.8})}
    row = spread.frame(sp).iloc[0].to_dict()
    assert row == {"measure": "fp32_acc", "seed 0": "90.0 %", "seed 1": "80.0 %", "mean ± sd": "85.0 ± 7.1 %"}
    assert spread.frame({}).empty


def test_only_the_default_profile_retrains_for_the_spread():
    for chapter in (instability, quantization):
        assert chapter.Settings.resolve("default").spread_seeds == (0, 1, 2)
        assert chapter.Settings.resolve("smoke").spread_seeds == ()
