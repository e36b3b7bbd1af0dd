"""The MNIST representations chapter: its claim's rule on synthetic shares, settings, the centroid shift."""

import re

import numpy as np
import pytest

from diva_lib import floors
from diva_lib.chapters import representations
from diva_lib.config import ParameterError
from diva_lib.metrics import rate
from diva_lib.verdicts import FAILS, HOLDS, UNTESTABLE

RESTS_ON = ["resnet50 fp32", "resnet50 int8", "attacked digit-0 images"]


def share(k: int, n: int = 1000):
    return rate(np.arange(n) < k)


def passing_models() -> floors.ModelsTable:
    table = floors.ModelsTable()
    table.check("resnet50 fp32", "fp32_acc_mnist", 0.99)
    table.check("resnet50 int8", "int8_minus_fp32", -0.003)
    table.check("resnet50 int8", "qat_int8_disagreement", 0.004)
    table.check("attacked digit-0 images", "n_rate", 1000)
    return table


def verdict(adapted, original, table=None) -> dict:
    return representations.claims(adapted, original, table or passing_models(), rests_on=RESTS_ON,
                                  stand_in=True)[0]


def test_holds_when_the_adapted_share_is_clearly_larger():
    row = verdict(share(510), share(220))
    assert row["id"] == "mnist.representation_shift" and row["verdict"] == HOLDS
    assert row["estimate"][1] > 0


def test_does_not_hold_when_the_interval_reaches_zero():
    assert verdict(share(230), share(220))["verdict"] == FAILS
    assert verdict(share(100), share(300))["verdict"] == FAILS


@pytest.mark.parametrize("model, floor, value, named", [
    ("resnet50 fp32", "fp32_acc_mnist", 0.762, "fp32 accuracy (MNIST) ≥ 0.985"),
    ("attacked digit-0 images", "n_rate", 16, "images per compared rate ≥ 200"),
])
def test_below_a_floor_is_not_testable_and_names_the_floor(model, floor, value, named):
    table = passing_models()
    table.check(model, floor, value)
    row = verdict(share(510), share(220), table)
    assert row["verdict"] == UNTESTABLE and named in row["reason"]


def test_defaults_per_profile():
    smoke, default, paper = (representations.Settings.resolve(p) for p in ("smoke", "default", "paper"))
    assert (smoke.arch, smoke.n_per_digit, smoke.n_attack, smoke.cfg.epochs) == ("mobilenet", 100, 16, {"mobilenet": 6})
    assert (default.arch, default.n_attack, default.cfg.n_train) == ("resnet50", 1000, 45_000)
    assert default.cfg.epochs == {"resnet50": 3}
    assert (paper.arch, paper.n_per_digit, paper.n_attack, paper.cfg.dataset) == ("resnet50", 1000, 1000, "mnist")
    assert smoke.digits == (0, 2) and smoke.tsne_seed == 1 and smoke.tsne_perplexity == 30.0


@pytest.mark.parametrize("params, named", [
    ({"digits": [0, 0]}, "'digits'=[0, 0]"), ({"digits": [0, 10]}, "'digits'=[0, 10]"),
    ({"digits": [1, 2, 3]}, "'digits'=[1, 2, 3]"), ({"digits": "02"}, "'digits'='02'"),
    ({"tsne_perplexity": 0.0}, "'tsne_perplexity'=0.0"), ({"tsne_seed": -1}, "'tsne_seed'=-1"),
    ({"arch": "vgg16"}, "'arch'='vgg16'"), ({"n_attack": 0}, "'n_attack'=0"), ({"epochs": 1.5}, "'epochs'=1.5"),
])
def test_bad_parameters_name_the_value(params, named):
    with pytest.raises(ParameterError, match=re.escape(named)):
        representations.Settings.resolve("smoke", **params)


def test_centroid_shift_counts_attacked_points_nearer_another_centroid():
    centroids = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    f_clean = np.zeros((4, 2))
    f_adv = np.array([[1.0, 0.0], [9.0, 0.0], [0.0, 8.0], [2.0, 2.0]])
    out = representations.centroid_shift(f_clean, f_adv, centroids, digit=0)
    assert (out["changed"].k, out["changed"].n) == (2, 4)
    spacing = np.mean([10.0, 10.0, np.sqrt(200.0)])
    assert out["move"] == pytest.approx(np.mean([1.0, 9.0, 8.0, np.sqrt(8.0)]) / spacing)


def test_class_centroids_are_class_means():
    f = np.array([[0.0], [2.0], [5.0]])
    assert representations.class_centroids(f, np.array([0, 0, 1]), classes=2).tolist() == [[1.0], [5.0]]


@pytest.mark.needs_data("mnist")
def test_attack_set_tops_up_the_test_zeros_with_held_out_training_zeros():
    import tf_keras

    from diva_lib import zoo

    inp = tf_keras.Input((32, 32, 3))
    says_zero = tf_keras.Model(inp, tf_keras.layers.Dense(10, activation="softmax", kernel_initializer="zeros",
                                                          bias_initializer=tf_keras.initializers.Constant(
                                                              [5.0] + [0.0] * 9))(tf_keras.layers.Flatten()(inp)))
    s = representations.Settings.resolve("smoke", 0, n_attack=12)
    entry = zoo.ZooEntry("mobilenet", says_zero, says_zero, says_zero)
    x_test = np.zeros((5, 32, 32, 3), np.float32)
    x, y = representations.attack_set(s, entry, x_test)
    held, labels = zoo.held_out(s.cfg, 0)
    assert len(x) == 12 and (y == 0).all()
    np.testing.assert_array_equal(x[:5], x_test)
    np.testing.assert_array_equal(x[5:], held[labels == 0][:7])  # training images no model was trained on
    assert len(representations.attack_set(s, entry, np.zeros((20, 32, 32, 3), np.float32))[0]) == 12
