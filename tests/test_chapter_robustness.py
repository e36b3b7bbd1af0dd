"""The robust-training chapter's claims on synthetic numbers: each rule holds, fails, or is not testable."""

import numpy as np
import pytest

from diva_lib import config, floors, metrics
from diva_lib.chapters import robustness
from diva_lib.verdicts import FAILS, HOLDS, UNTESTABLE

C_VALUES = (1.0, 1.5, 5.0)


def rate(k: int, n: int) -> metrics.Rate:
    return metrics.rate(np.arange(n) < k)


def models_table(fp32_pgd: float = 0.45, int8_pgd: float = 0.42, second: float = 0.41,
                 n: int = 400) -> floors.ModelsTable:
    m = floors.ModelsTable()
    m.check("mobilenet robust fp32", "robust_pgd_acc", fp32_pgd)
    m.check("mobilenet robust int8", "int8_robust_gap", int8_pgd - fp32_pgd)
    m.check("mobilenet robust int8", "second_attack_gap", abs(second - int8_pgd))
    m.check("mobilenet fp32", "fp32_acc", 0.92)
    m.check("mobilenet int8", "int8_minus_fp32", -0.004)
    m.check("attacked images", "n_rate", 1000)
    for pair in ("robust", "non-robust"):
        m.check(f"{pair} pair images", "n_rate", n)
    return m


def pair(pgd: int, diva: dict[float, int], acc_pgd: int = 226, acc_diva: int = 218,
         n: int = 400) -> robustness.PairResult:
    top1 = {"PGD": rate(pgd, n), **{f"DIVA c={c:g}": rate(k, n) for c, k in diva.items()}}
    robust = {"PGD": rate(acc_pgd, 1000), **{f"DIVA c={c:g}": rate(acc_diva, 1000) for c in diva}}
    return robustness.PairResult(top1, robust)


ROBUST = {"pgd": 42, "diva": {1.0: 40, 1.5: 44, 5.0: 100}}  # PGD 10.5 %, DIVA c = 5 25 % of 400 images
NON_ROBUST = {"pgd": 160, "diva": {1.0: 380, 1.5: 385, 5.0: 370}}


def judged(robust: dict = ROBUST, non_robust: dict = NON_ROBUST, c_values=C_VALUES, models=None, **acc) -> dict:
    rows = robustness.claims("mobilenet", pair(**robust, **acc), pair(**non_robust), c_values,
                             models or models_table(), stand_in=True)
    return {r["id"]: r for r in rows}


def test_every_claim_holds_on_numbers_like_the_papers():
    rows = judged()
    assert {k: r["verdict"] for k, r in rows.items()} == {"robust.defends": HOLDS, "robust.c5_beats_pgd": HOLDS,
                                                         "robust.same_robust_accuracy": HOLDS}


def test_defends_fails_when_either_attack_does_not_drop():
    assert judged(non_robust={"pgd": 45, "diva": NON_ROBUST["diva"]})["robust.defends"]["verdict"] == FAILS
    assert judged(non_robust={"pgd": 160, "diva": {1.0: 42, 1.5: 40, 5.0: 40}})["robust.defends"]["verdict"] == FAILS


def test_c5_fails_when_diva_is_not_significantly_above_pgd():
    robust = {"pgd": 42, "diva": {1.0: 40, 1.5: 44, 5.0: 51}}  # 12.8 % vs 10.5 % on 400 images: not significant
    assert judged(robust=robust)["robust.c5_beats_pgd"]["verdict"] == FAILS


def test_c5_is_omitted_when_5_is_not_among_the_c_values():
    robust = {"pgd": 42, "diva": {1.0: 40, 1.5: 44}}
    non_robust = {"pgd": 160, "diva": {1.0: 380, 1.5: 385}}
    rows = judged(robust=robust, non_robust=non_robust, c_values=(1.0, 1.5))
    assert set(rows) == {"robust.defends", "robust.same_robust_accuracy"}


def test_same_robust_accuracy_fails_when_the_attacks_differ():
    assert judged(acc_pgd=226, acc_diva=400)["robust.same_robust_accuracy"]["verdict"] == FAILS


@pytest.mark.parametrize(("models", "floor_text"), [
    (models_table(fp32_pgd=0.06, int8_pgd=0.05, second=0.05), "fp32 accuracy under PGD-20 ≥ 0.4"),
    (models_table(int8_pgd=0.30, second=0.30), "int8 − fp32 accuracy under PGD-20 ≥ -0.1"),
    (models_table(second=0.20), "|second attack − PGD| robust accuracy ≤ 0.05"),
])
def test_a_robust_pair_that_is_not_robust_makes_every_claim_not_testable(models, floor_text):
    for row in judged(models=models).values():
        assert row["verdict"] == UNTESTABLE
        assert floor_text in row["reason"]


def test_too_few_attacked_images_is_not_testable():
    rows = judged(models=models_table(n=48))
    assert rows["robust.defends"]["verdict"] == UNTESTABLE
    assert "images per compared rate" in rows["robust.defends"]["reason"]


def test_the_attack_is_section_5_5s():
    assert (robustness.ATTACK.eps, robustness.ATTACK.step, robustness.ATTACK.steps) == (8 / 255, 0.00375, 20)


@pytest.mark.parametrize(("params", "needle"), [
    ({"arch": "vgg16"}, "'arch'='vgg16'"),
    ({"adv_eps": 0.9}, "'adv_eps'=0.9"),
    ({"adv_steps": 0}, "'adv_steps'=0"),
    ({"adv_epochs": 1.5}, "'adv_epochs'=1.5"),
    ({"c_values": []}, "'c_values'=\\[\\]"),
    ({"c_values": [1, -2]}, "'c_values'=-2"),
    ({"n_eval": -1}, "'n_eval'=-1"),
])
def test_bad_settings_name_the_parameter(params, needle):
    with pytest.raises(config.ParameterError, match=needle):
        robustness.Settings.resolve("smoke", 0, **params)


def test_settings_take_the_profiles_defaults():
    s = robustness.Settings.resolve("default", 0, adv_epochs=None, adv_steps=None, n_eval=None, c_values=[1, 1.5, 5])
    assert (s.adv_epochs, s.adv_steps, s.n_eval, s.c_values) == (10, 5, 256, (1.0, 1.5, 5.0))
    assert s.recipe.step == pytest.approx(2.5 * (8 / 255) / 5) and s.recipe.n_train == 10_000
