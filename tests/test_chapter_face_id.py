"""The face chapter's rules on synthetic numbers: each claim holds, fails, or is not testable for a named floor."""

import numpy as np
import pytest

from diva_lib import config, floors, metrics
from diva_lib.chapters import face_id
from diva_lib.verdicts import Estimate


def models(fp32_acc: float = 0.99, n: int = 150) -> floors.ModelsTable:
    table = floors.ModelsTable()
    table.check("face fp32", "face_acc", fp32_acc)
    table.check("face int8", "face_acc", 0.98)
    table.check("face int8", "qat_int8_disagreement", 0.01)
    table.check("face attack set", "n_face", n)
    return table


def rate(k: int, n: int) -> metrics.Rate:
    return metrics.rate(np.arange(n) < k)


def verdicts(diva_top1, pgd_top1, gap, table=None) -> dict[str, dict]:
    rows = face_id.judge_claims(diva_top1, pgd_top1, gap, (9.0, 3.0), 39, table or models(), stand_in=True)
    return {r["id"]: r for r in rows}


def test_beats_pgd_holds_only_when_the_difference_interval_is_above_zero():
    assert verdicts(rate(140, 150), rate(40, 150), Estimate(6, 4, 8))["face.beats_pgd"]["verdict"] == "holds"
    close = verdicts(rate(80, 150), rate(70, 150), Estimate(6, 4, 8))["face.beats_pgd"]
    assert close["verdict"] == "does not hold"  # 6.7 points, but the interval reaches below 0


def test_targeted_set_holds_only_when_the_gap_interval_is_above_zero():
    assert verdicts(rate(140, 150), rate(40, 150), Estimate(6, 4, 8))["face.targeted_set"]["verdict"] == "holds"
    row = verdicts(rate(140, 150), rate(40, 150), Estimate(1, -0.5, 2.5))["face.targeted_set"]
    assert row["verdict"] == "does not hold"


@pytest.mark.parametrize("table, floor, model", [(models(fp32_acc=0.75), "face_acc", "face fp32"),
                                                 (models(n=35), "n_face", "face attack set")])
def test_a_model_below_its_floor_makes_both_claims_not_testable(table, floor, model):
    for row in verdicts(rate(140, 150), rate(40, 150), Estimate(6, 4, 8), table).values():
        assert row["verdict"] == "not testable here"
        assert model in row["reason"] and str(floors.FLOORS[floor]) in row["reason"]


def test_reached_counts_distinct_identities_per_target_and_draw():
    labels = np.array([[0, 0, 2, -1], [1, -1, 1, 1]])
    assert face_id.reached(labels, np.ones((1, 4))).tolist() == [[2, 1]]
    assert face_id.reached(labels, np.array([[2, 2, 0, 0], [0, 0, 1, 3]])).tolist() == [[1, 1], [1, 1]]


def test_set_size_gap_separates_a_narrowed_set_from_an_unchanged_one():
    rng = np.random.default_rng(0)
    untargeted = rng.integers(0, 30, size=(5, 200))
    narrowed = face_id.set_size_gap(untargeted, rng.integers(0, 3, size=(5, 200)), seed=1)
    assert 0 < narrowed.low <= narrowed.value <= narrowed.high and narrowed.value == pytest.approx(27, abs=3)
    same = face_id.set_size_gap(untargeted, untargeted, seed=1)
    assert same.value == 0 and not same.low > 0
    assert face_id.set_size_gap(untargeted, untargeted, seed=1) == same  # seeded


def test_set_size_gap_counts_no_identity_where_nothing_succeeded():
    gap = face_id.set_size_gap(np.array([[0, 1, -1, -1]]), np.full((1, 4), -1), seed=0)
    assert gap.value == 2


def test_attack_set_takes_at_most_per_person_images_every_model_gets_right():
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    right = np.eye(3)[y]
    wrong = right.copy()
    wrong[1] = np.eye(3)[2]  # the second image of person 0 is missed by one model
    assert face_id.attack_set(y, [right, wrong], 3, per_person=2).tolist() == [0, 2, 4, 5, 6]


@pytest.mark.parametrize("params, message", [
    ({"n_targets": 7}, "'n_targets'=7 exceeds the 5 people"),
    ({"people": ["s1"]}, "'people'=['s1'] must name at least two"),
    ({"people": "s1"}, "'people'='s1' must be a non-empty list"),
    ({"c": -1.0}, "'c'=-1.0 must be a number >= 0"),
    ({"n_people": 0}, "'n_people'=0 must be an integer >= 1"),
    ({"people": ["s1", "s2"], "n_targets": 3}, "'n_targets'=3 exceeds the 2 people"),
])
def test_settings_name_the_bad_value(params, message):
    with pytest.raises(config.ParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        face_id.Settings.resolve("smoke", 0, **params)


def test_settings_take_the_profile_defaults():
    s = face_id.Settings.resolve("smoke", 0, n_people=None, people=None, n_targets=None, c=None)
    assert (s.n_targets, s.c, s.face.n_people) == (2, 1.0, 5)
    assert face_id.Settings.resolve("default", 0).n_targets == 5
