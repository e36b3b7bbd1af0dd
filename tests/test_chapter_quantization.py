"""The quantization chapter's claim rules on synthetic numbers, its paired intervals, and its settings."""

import dataclasses
import math

import numpy as np
import pytest

from diva_lib import claims, config, floors
from diva_lib.chapters import quantization
from diva_lib.metrics import Rate, rate
from diva_lib.verdicts import FAILS, HOLDS, UNTESTABLE, Estimate, paired_difference

A = "mobilenet"
C_VALUES = (0.0, 0.001, 0.1, 1.0, 5.0, 10.0)


def r(k: int, n: int = 1000) -> Rate:
    return rate(np.arange(n) < k)


def models(fp32: float = 0.92, surrogate: float = 0.95, n_whitebox: int = 1000, n_rate: int = 300
           ) -> floors.ModelsTable:
    """A models table of one architecture; every floor passes with the defaults."""
    m = floors.ModelsTable()
    m.check(f"{A} fp32", "fp32_acc", fp32)
    m.check(f"{A} int8", "int8_minus_fp32", -0.005)
    m.check(f"{A} int8", "qat_int8_disagreement", 0.01)
    m.check(f"{A} int8", "pgd_evasion", 0.99)
    m.check(f"{A} whitebox set", "n_headline", n_whitebox)
    m.check(f"{A} semi-blackbox surrogate", "surrogate_agreement", surrogate)
    for name in ("semi-blackbox set", "blackbox set", "c ablation set", "baselines set"):
        m.check(f"{A} {name}", "n_rate", n_rate)
    return m


def measured(**fields) -> quantization.Measured:
    """Paper-like numbers on which every claim of the chapter holds; keyword arguments replace fields."""
    c_top1 = dict(zip(C_VALUES, (0, 100, 250, 285, 280, 270), strict=True))
    c_evasion = dict(zip(C_VALUES, (0, 100, 255, 270, 292, 297), strict=True))
    base = quantization.Measured(
        archs=(A,), sweep_archs=(A,),
        top1={("whitebox", A, "DIVA"): r(950), ("whitebox", A, "PGD"): r(400),
              ("semiblackbox", A, "DIVA"): r(240, 300), ("semiblackbox", A, "PGD"): r(90, 300),
              ("blackbox", A, "DIVA"): r(165, 300), ("blackbox", A, "PGD"): r(75, 300)},
        top1_final={(A, "DIVA"): r(900), (A, "PGD"): r(100)},
        top5={(A, "DIVA"): r(300), (A, "PGD"): r(100)},
        step1={(A, "DIVA"): r(500), (A, "PGD"): r(150)},
        evasion={(A, "DIVA"): r(960), (A, "PGD"): r(985)},
        conf_gain={A: (Estimate(0.10, 0.08, 0.12), Estimate(0.40, 0.35, 0.45))},
        dssim_max=0.005, dssim_mean={"DIVA": 0.002, "PGD": 0.0018},
        c_top1={(A, c): r(k, 300) for c, k in c_top1.items()},
        c_evasion={(A, c): r(k, 300) for c, k in c_evasion.items()},
        baselines={(A, "PGD"): r(120, 300), (A, "Momentum PGD"): r(118, 300), (A, "CW-L∞"): r(80, 300),
                   (A, "DIVA"): r(285, 300)})
    return dataclasses.replace(base, **fields)


def verdicts(m: quantization.Measured, table: floors.ModelsTable | None = None, stand_in: bool = False
             ) -> dict[str, dict]:
    return {row["id"].removeprefix("quantization."): row for row in quantization.claims(m, table or models(),
                                                                                         stand_in)}


def test_every_claim_of_the_chapter_is_judged_and_holds_on_paper_like_numbers():
    rows = verdicts(measured())
    assert {f"quantization.{k}" for k in rows} == {k for k in claims.REGISTRY if k.startswith("quantization.")}
    assert {k: row["verdict"] for k, row in rows.items() if row["verdict"] != HOLDS} == {}


def _with(field: str, items: dict) -> quantization.Measured:
    """The paper-like numbers with some entries of one field replaced."""
    m = measured()
    return dataclasses.replace(m, **{field: {**getattr(m, field), **items}})


FAILING = {
    "whitebox_beats_pgd": lambda: _with("top1", {("whitebox", A, "PGD"): r(940)}),
    "whitebox_level": lambda: _with("top1", {("whitebox", A, "DIVA"): r(700)}),
    "from_step_one": lambda: _with("step1", {(A, "DIVA"): r(150)}),
    "whitebox_top5": lambda: _with("top5", {(A, "DIVA"): r(100)}),
    "semiblackbox_beats_pgd": lambda: _with("top1", {("semiblackbox", A, "DIVA"): r(95, 300)}),
    "blackbox_beats_pgd": lambda: _with("top1", {("blackbox", A, "DIVA"): r(80, 300)}),
    "knowledge_order": lambda: _with("top1", {("blackbox", A, "DIVA"): r(282, 300)}),
    "confidence_order": lambda: _with("conf_gain", {A: (Estimate(0.10, 0.08, 0.12), Estimate(0.0, -0.02, 0.02))}),
    "evasion_cost": lambda: _with("evasion", {(A, "DIVA"): r(800), (A, "PGD"): r(990)}),
    "dssim": lambda: dataclasses.replace(measured(), dssim_max=0.02),
    "c_default": lambda: _with("c_top1", {(A, 5.0): r(299, 300), (A, 1.0): r(200, 300)}),
    "c_evasion": lambda: _with("c_evasion", {(A, 10.0): r(270, 300)}),
    "baselines": lambda: _with("baselines", {(A, "Momentum PGD"): r(200, 300)}),
}


@pytest.mark.parametrize("claim", sorted(FAILING))
def test_each_claim_can_fail(claim):
    assert verdicts(FAILING[claim]())[claim]["verdict"] == FAILS


def test_final_iterate_is_shown_but_does_not_decide():
    row = verdicts(_with("top1_final", {(A, "DIVA"): r(10), (A, "PGD"): r(0)}))["whitebox_beats_pgd"]
    assert row["verdict"] == HOLDS and "final iterate: DIVA 1.0 %" in row["measured"]


def test_a_model_below_its_floor_makes_the_claims_resting_on_it_untestable():
    rows = verdicts(FAILING["whitebox_beats_pgd"](), models(fp32=0.70))
    assert {row["verdict"] for row in rows.values()} == {UNTESTABLE}
    assert all("fp32 accuracy" in row["reason"] for row in rows.values())
    weak = verdicts(measured(), models(surrogate=0.5))
    assert weak["semiblackbox_beats_pgd"]["verdict"] == UNTESTABLE
    assert "surrogate agrees with the original" in weak["semiblackbox_beats_pgd"]["reason"]
    assert weak["blackbox_beats_pgd"]["verdict"] == HOLDS  # the blackbox surrogate has no floor


def test_small_sets_make_their_claims_untestable():
    rows = verdicts(measured(), models(n_whitebox=500, n_rate=100))
    assert "images per headline rate" in rows["whitebox_level"]["reason"]
    assert "images per compared rate" in rows["c_default"]["reason"]
    assert "images per compared rate" not in rows["whitebox_level"]["reason"]


def test_stand_in_properties_are_named():
    rows = verdicts(measured(), stand_in=True)
    assert rows["whitebox_top5"]["verdict"] == UNTESTABLE and "10 classes" in rows["whitebox_top5"]["reason"]
    assert rows["dssim"]["verdict"] == UNTESTABLE and "32×32" in rows["dssim"]["reason"]
    assert rows["whitebox_top5"]["rule_result"] and "DIVA 30.0 %" in rows["whitebox_top5"]["measured"]
    assert "DIVA / PGD 1.11" in rows["dssim"]["measured"]
    assert rows["whitebox_beats_pgd"]["verdict"] == HOLDS


def test_c_claims_are_left_out_without_their_c_values():
    no10 = {k: v for k, v in measured().c_top1.items() if k[1] != 10.0}
    rows = verdicts(dataclasses.replace(measured(), c_top1=no10))
    assert "c_default" in rows and "c_evasion" not in rows
    no1 = {k: v for k, v in measured().c_top1.items() if k[1] != 1.0}
    rows = verdicts(dataclasses.replace(measured(), c_top1=no1))
    assert "c_default" not in rows and "c_evasion" not in rows
    table = quantization.not_run((0.0, 5.0), ["mobilenet"])
    assert set(table["claim"]) == {"quantization.c_default", "quantization.c_evasion"}
    assert list(quantization.not_run(C_VALUES, ["mobilenet"])["claim"]) == ["—"]
    assert "quantization.blackbox_beats_pgd" in set(quantization.not_run(C_VALUES, [])["claim"])


def test_a_missing_blackbox_set_leaves_its_claims_out():
    top1 = {k: v for k, v in measured().top1.items() if k[0] != "blackbox"}
    rows = verdicts(dataclasses.replace(measured(), top1=top1))
    assert "blackbox_beats_pgd" not in rows and "knowledge_order" not in rows
    assert rows["semiblackbox_beats_pgd"]["verdict"] == HOLDS


def test_paired_difference_matches_a_hand_computed_t_interval():
    e = paired_difference(np.array([1.0, 2.0, 3.0]), np.zeros(3))
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) · sd / √n
    assert e.value == pytest.approx(2.0) and e.low == pytest.approx(2 - half) and e.high == pytest.approx(2 + half)
    one = paired_difference(np.array([0.5]), np.array([0.1]))
    assert one.value == pytest.approx(0.4) and one.low == -math.inf and one.high == math.inf
    with pytest.raises(ValueError, match="one length"):
        paired_difference(np.zeros(3), np.zeros(4))


def test_blackbox_set_follows_the_whitebox_set():
    assert quantization.split_sets(5000, 1000, 200) == (slice(0, 1000), slice(1000, 1200))
    assert quantization.split_sets(1100, 1000, 200) == (slice(0, 1000), slice(1000, 1100))  # what remains
    assert quantization.split_sets(23, 32, 32) == (slice(0, 11), slice(11, 23))  # nothing would remain: shared
    assert quantization.split_sets(23, 32, 0) == (slice(0, 23), slice(23, 23))  # no blackbox attack


def test_radius_table_has_one_column_per_radius_and_json_keeps_each_interval():
    rows = [{"arch": a, "model": m, "ε": e, "evasion": rate(np.arange(10) < k)}
            for a, k in (("resnet50", 7), ("mobilenet", 9)) for m in ("fp32 alone", "int8")
            for e in ("8/255", "16/255")]
    df = quantization.radius_table(rows)
    assert list(df.columns) == ["arch", "model", "16/255", "8/255"] and len(df) == 4
    assert df.set_index(["arch", "model"]).loc[("mobilenet", "int8"), "8/255"].startswith("90.0 %")
    js = quantization._radius_json(rows)
    assert js["resnet50"]["fp32 alone"]["16/255"] == rate(np.arange(10) < 7).as_dict()


def test_per_image_delta():
    p_orig = np.array([[0.9, 0.1], [0.2, 0.8]])
    p_adapted = np.array([[0.3, 0.7], [0.5, 0.5]])
    np.testing.assert_allclose(quantization.per_image_delta(p_orig, p_adapted, np.array([0, 1])), [0.6, 0.3])


def test_settings_defaults_per_profile():
    smoke = quantization.Settings.resolve("smoke")
    assert smoke.archs == ("mobilenet",) and smoke.sweep_archs == ("mobilenet",)
    assert (smoke.n_whitebox, smoke.n_transfer, smoke.n_ablation, smoke.n_baselines) == (32, 32, 16, 16)
    default = quantization.Settings.resolve("default")
    assert default.archs == config.ARCHS and default.sweep_archs == config.ARCHS
    assert (default.n_whitebox, default.n_transfer, default.n_ablation, default.n_baselines) == (1000, 200, 200, 200)
    assert quantization.Settings.resolve("paper").sweep_archs == config.ARCHS
    assert quantization.Settings.resolve("default", archs=["resnet50"]).sweep_archs == ("resnet50",)
    assert quantization.Settings.resolve("smoke", c_values=[0, 1]).c_values == (0.0, 1.0)


@pytest.mark.parametrize(("params", "named"), [
    ({"archs": ["mobilenet"], "sweep_archs": ["resnet50"]}, "'sweep_archs'"),
    ({"c_values": [1, -2]}, "'c_values'"),
    ({"c": -1.0}, "'c'"),
    ({"n_ablation": 64}, "'n_ablation'=64"),
    ({"n_transfer": 100}, "'n_transfer'=100"),
    ({"n_whitebox": 0}, "'n_whitebox'=0"),
    ({"n_radius": 64}, "'n_radius'=64"),
])
def test_bad_settings_name_the_parameter(params, named):
    with pytest.raises(config.ParameterError, match=named):
        quantization.Settings.resolve("smoke", **params)
