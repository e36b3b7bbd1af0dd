import numpy as np
import pytest

from diva_lib import metrics


def onehot(idx, n=3):
    return np.eye(n)[idx]


def test_accuracy_instability_deviations_by_hand():
    y = np.array([0, 1, 2, 0])
    orig = onehot([0, 1, 1, 0])  # 3/4 correct
    adapted = onehot([0, 2, 2, 1])  # 2/4 correct
    assert metrics.accuracy(orig, y).value == 0.75
    assert metrics.accuracy(adapted, y).k == 2
    assert metrics.instability(orig, adapted).value == 0.75
    assert metrics.deviations(orig, adapted, y) == {"orig_correct_adapted_wrong": 2, "orig_wrong_adapted_correct": 1}


def test_wilson_interval():
    r = metrics.rate(np.array([True] * 8 + [False] * 2))
    assert r.value == 0.8 and r.low == pytest.approx(0.4902, abs=1e-3) and r.high == pytest.approx(0.9433, abs=1e-3)
    assert "80.0 %" in str(r)
    assert np.isnan(metrics.rate(np.array([], bool)).value)


def test_shape_errors():
    with pytest.raises(ValueError, match="labels shape"):
        metrics.accuracy(onehot([0, 1]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.instability(onehot([0, 1]), onehot([0, 1, 2]))


def test_failed_json_write_leaves_nothing(tmp_path):
    from diva_lib import report

    with pytest.raises(TypeError):
        report.save_json({"bad": object()}, tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []
    assert report.load_json(report.save_json({"x": np.float32(0.5)}, tmp_path / "r.json")) == {"x": 0.5}
