"""The pruning chapter's claims on synthetic numbers: each rule holds, fails, or is not testable below a floor."""

import math

import numpy as np
import pytest

from diva_lib import config, floors, metrics
from diva_lib.chapters import pruning
from diva_lib.verdicts import FAILS, HOLDS, UNTESTABLE, Estimate, paired_difference


def rate(k: int, n: int) -> metrics.Rate:
    return metrics.rate(np.arange(n) < k)


def models_table(fp32_acc: float = 0.92, sparsity: float = 0.8, n: int = 1000) -> floors.ModelsTable:
    m = floors.ModelsTable()
    m.check("test set", "n_rate", 2000)
    m.check("mobilenet fp32", "fp32_acc", fp32_acc)
    m.check("mobilenet int8", "int8_minus_fp32", -0.005)
    m.check("mobilenet eval set", "n_rate", n)
    for kind in pruning.KINDS:
        m.check(f"mobilenet {kind}", "pruned_minus_original", -0.01)
        m.check(f"mobilenet {kind}", "sparsity", sparsity)
        m.check(f"mobilenet {kind}", "pgd_evasion", 0.99)
    return m


GAIN = Estimate(0.12, 0.10, 0.14)  # DIVA − PGD confidence delta, paired per image


def measured(diva: int = 990, pgd: int = 900, gain: Estimate = GAIN, inst: int = 400,
             int8_inst: int = 140, ratio: float = 0.33) -> list[pruning.PrunedModel]:
    return [pruning.PrunedModel("mobilenet", kind, rate(diva, 1000), rate(pgd, 1000), gain, rate(inst, 2000),
                                rate(int8_inst, 2000), ratio if kind == "pruned" else 0.1) for kind in pruning.KINDS]


def verdicts(rows: list[dict]) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in rows}


def test_every_claim_holds_on_numbers_like_the_papers():
    rows = pruning.claims(measured(), models_table(), stand_in=True)
    assert verdicts(rows) == {"pruning.whitebox_level": HOLDS, "pruning.beats_pgd": HOLDS,
                              "pruning.confidence_gain": HOLDS, "pruning.less_stable_than_int8": HOLDS,
                              "pruning.size": HOLDS}
    assert all(r["estimate"] is not None for r in rows)


@pytest.mark.parametrize(("kwargs", "claim"), [
    ({"diva": 950, "pgd": 800}, "pruning.whitebox_level"),
    ({"pgd": 985}, "pruning.beats_pgd"),
    ({"gain": Estimate(0.03, 0.02, 0.04)}, "pruning.confidence_gain"),
    ({"gain": Estimate(0.30, 0.25, 0.35)}, "pruning.confidence_gain"),
    ({"inst": 150}, "pruning.less_stable_than_int8"),
    ({"ratio": 0.6}, "pruning.size"),
])
def test_each_claim_can_fail(kwargs, claim):
    got = verdicts(pruning.claims(measured(**kwargs), models_table(), stand_in=True))
    assert got[claim] == FAILS
    assert [c for c, v in got.items() if v == FAILS] == [claim]


def test_a_model_below_its_floor_makes_the_claims_not_testable_and_names_the_floor():
    rows = {r["id"]: r for r in pruning.claims(measured(), models_table(fp32_acc=0.77), stand_in=True)}
    for claim in ("pruning.whitebox_level", "pruning.beats_pgd", "pruning.confidence_gain",
                  "pruning.less_stable_than_int8"):
        assert rows[claim]["verdict"] == UNTESTABLE
        assert "fp32 accuracy (Fashion-MNIST) ≥ 0.88" in rows[claim]["reason"]
    assert rows["pruning.size"]["verdict"] == HOLDS  # the file size does not rest on the original's accuracy


def test_too_few_images_or_too_little_sparsity_is_not_testable():
    rows = {r["id"]: r for r in pruning.claims(measured(), models_table(n=64), stand_in=True)}
    assert rows["pruning.beats_pgd"]["verdict"] == UNTESTABLE and "images per compared rate" in rows[
        "pruning.beats_pgd"]["reason"]
    rows = {r["id"]: r for r in pruning.claims(measured(), models_table(sparsity=0.5), stand_in=True)}
    assert rows["pruning.size"]["verdict"] == UNTESTABLE and "zero weights" in rows["pruning.size"]["reason"]


def test_paired_difference_is_the_mean_difference_with_a_student_t_interval():
    a, b = np.array([0.9, 0.8, 0.7, 0.6]), np.array([0.5, 0.6, 0.4, 0.6])
    e = paired_difference(a, b)
    d = a - b
    half = 3.182446305284263 * d.std(ddof=1) / 2  # t(0.975, 3) · s / √4
    assert e.value == pytest.approx(d.mean()) and e.low == pytest.approx(d.mean() - half)
    assert e.high == pytest.approx(d.mean() + half)
    one = paired_difference(np.array([0.5]), np.array([0.1]))
    assert one.value == pytest.approx(0.4) and one.low == -math.inf and one.high == math.inf
    with pytest.raises(ValueError, match="paired values"):
        paired_difference(np.array([0.5, 0.2]), np.array([0.1]))


@pytest.mark.parametrize(("params", "needle"), [
    ({"target_sparsity": 1.5}, "'target_sparsity'=1.5"),
    ({"target_sparsity": 0}, "'target_sparsity'=0"),
    ({"n_eval": 0}, "'n_eval'=0"),
    ({"c": -1}, "'c'=-1"),
    ({"archs": ["vgg16"]}, "vgg16"),
    ({"n_test": 5}, "n_test"),
])
def test_bad_settings_name_the_parameter(params, needle):
    with pytest.raises(config.ParameterError, match=needle):
        pruning.Settings.resolve("smoke", 0, **params)


def test_settings_take_the_profiles_defaults():
    s = pruning.Settings.resolve("smoke", 0, archs=None, n_eval=None)
    assert (s.archs, s.n_eval, s.target_sparsity, s.c) == (("mobilenet",), 32, 0.8, 1.0)
    assert pruning.Settings.resolve("paper").archs == config.ARCHS
