import numpy as np
import pytest

from diva_lib import metrics


def onehot(idx, n=3):
    return np.eye(n)[idx]


def test_accuracy_instability_deviations_by_hand():
    y = np.array([0, 1, 2, 0])
    orig = onehot([0, 1, 1, 0])  # right, right, wrong, right
    adapted = onehot([0, 2, 0, 1])  # right, wrong, wrong (another wrong answer), wrong
    assert metrics.accuracy(orig, y).value == 0.75
    assert metrics.accuracy(adapted, y).k == 1
    assert metrics.instability(orig, adapted, y).value == 0.5  # exactly one right: images 1 and 3
    assert metrics.disagreement(orig, adapted).value == 0.75  # different answers: images 1, 2 and 3
    assert metrics.deviations(orig, adapted, y) == {"orig_correct_adapted_wrong": 2, "orig_wrong_adapted_correct": 0}


def test_wilson_interval():
    r = metrics.rate(np.array([True] * 8 + [False] * 2))
    assert r.value == 0.8 and r.low == pytest.approx(0.4902, abs=1e-3) and r.high == pytest.approx(0.9433, abs=1e-3)
    assert "80.0 %" in str(r)
    assert r.as_dict() == {"rate": 0.8, "n": 10, "ci": [r.low, r.high]}
    assert np.isnan(metrics.rate(np.array([], bool)).value)


def test_shape_errors():
    with pytest.raises(ValueError, match="labels shape"):
        metrics.accuracy(onehot([0, 1]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.disagreement(onehot([0, 1]), onehot([0, 1, 2]))


def test_failed_json_write_leaves_nothing(tmp_path):
    from diva_lib import report

    with pytest.raises(TypeError):
        report.save_json({"bad": object()}, tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []
    assert report.load_json(report.save_json({"x": np.float32(0.5)}, tmp_path / "r.json")) == {"x": 0.5}


def test_top1_top5_confidence_evasion_by_hand():
    y = np.array([0, 0, 0, 0])
    orig = np.array([[.5, .2, .1, .05, .05, .04, .03, .03],   # right
                     [.5, .2, .1, .05, .05, .04, .03, .03],   # right
                     [.1, .5, .1, .1, .1, .04, .03, .03],     # wrong
                     [.5, .2, .1, .05, .05, .04, .03, .03]])  # right
    adapted = np.eye(8)[[1, 7, 7, 0]] * 0.9 + 0.1 / 8          # 1: inside orig's top 5; 7: outside; 0: right
    assert metrics.top1_success(orig, adapted, y).k == 2      # images 0 and 1
    assert metrics.top5_success(orig, adapted, y).k == 1      # image 1 only: image 2 has the original wrong
    assert metrics.evasion(adapted, y).k == 3
    delta = np.mean(orig[:, 0] - adapted[:, 0])
    assert metrics.confidence_delta(orig, adapted, y) == pytest.approx(delta)


def test_first_success_curve_by_hand():
    curve = metrics.first_success_curve(np.array([-1, 1, 3, 3, 20]), 20)
    assert curve.shape == (21,) and curve[0] == 0 and curve[1] == 0.2 and curve[3] == 0.6 and curve[20] == 0.8
    with pytest.raises(ValueError, match="first steps"):
        metrics.first_success_curve(np.array([21]), 20)


def test_dssim_is_zero_for_identical_images_and_grows_with_the_perturbation():
    rng = np.random.default_rng(0)
    x = rng.random((3, 32, 32, 3)).astype(np.float32)
    noise = rng.choice([-1.0, 1.0], x.shape).astype(np.float32)
    small, large = (metrics.dssim(x, np.clip(x + e * noise, 0, 1)) for e in (2 / 255, 16 / 255))
    np.testing.assert_allclose(metrics.dssim(x, x), 0.0, atol=1e-9)
    assert np.all(small > 0) and np.all(large > small)
    assert metrics.dssim(x[:1], x[:1] * 0.0)[0] > 0.1  # a black image is far from a random one
    with pytest.raises(ValueError, match="smaller than one SSIM window"):
        metrics.ms_ssim(x[0, :4, :4], x[0, :4, :4])
