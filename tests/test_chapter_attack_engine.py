"""The attack-engine chapter: settings validation and its per-image protocol checks on hand-made reports."""

import re

import numpy as np
import pytest

from diva_lib import claims
from diva_lib.chapters import attack_engine
from diva_lib.config import ParameterError
from diva_lib.evaluate import AttackReport


def onehot(classes: list[int], n_classes: int = 3) -> np.ndarray:
    return np.eye(n_classes)[classes]


def report(y, first_step, orig_final, qat_final, orig_grid=None, int8=None) -> AttackReport:
    y = np.array(y)
    outputs = {"orig_final": onehot(orig_final), "qat_final": onehot(qat_final),
               "orig_grid_final": onehot(orig_final), "int8_final": onehot(qat_final),
               "orig_grid": onehot(orig_grid if orig_grid is not None else y),
               "int8": onehot(int8 if int8 is not None else y)}
    return AttackReport("test", y, np.array(first_step), 20, np.zeros(len(y)), np.zeros((len(y), 1, 1, 1)), outputs)


def test_defaults_per_profile():
    assert attack_engine.Settings.resolve("smoke").n_eval == 48
    assert attack_engine.Settings.resolve("default").n_eval == 256
    s = attack_engine.Settings.resolve("smoke", n_eval=7, c=2.0, target=0)
    assert (s.n_eval, s.c, s.target, s.arch) == (7, 2.0, 0, "mobilenet")


@pytest.mark.parametrize("params, named", [
    ({"target": 10}, "'target'=10"), ({"target": -1}, "'target'=-1"), ({"arch": "vgg16"}, "'arch'='vgg16'"),
    ({"c": -1.0}, "'c'=-1.0"), ({"n_eval": 0}, "'n_eval'=0"),
])
def test_bad_parameters_name_the_value(params, named):
    with pytest.raises(ParameterError, match=re.escape(named)):
        attack_engine.Settings.resolve("smoke", **params)


def test_a_final_success_without_a_first_success_is_counted():
    # image 0: succeeded first and at the end; 1: first success only; 2: final success, no first (an exception)
    r = report(y=[0, 1, 2], first_step=[3, 5, -1], orig_final=[0, 0, 2], qat_final=[1, 0, 0])
    assert attack_engine.final_success(r).tolist() == [True, False, True]
    assert attack_engine.final_not_first(r) == 1
    assert attack_engine.subset_table({"x": r}).iloc[0].tolist() == ["x", 2, 2, 1]


def test_final_successes_within_first_successes_give_no_exception():
    r = report(y=[0, 1, 2], first_step=[3, 5, -1], orig_final=[0, 1, 2], qat_final=[1, 0, 2])
    assert attack_engine.final_not_first(r) == 0


def test_targeted_hits_need_the_target_class_and_the_original_right():
    # target 2; image 3 is of the target class and does not count
    r = report(y=[0, 1, 0, 2], first_step=[0, 0, 0, 0], orig_final=[0, 1, 0, 2], qat_final=[2, 0, 1, 0],
               orig_grid=[0, 0, 0, 2], int8=[2, 2, 1, 0])
    hits = attack_engine.targeted_hits(r, target=2)
    assert (hits["first success"].k, hits["first success"].n) == (1, 3)  # image 1: original wrong
    assert (hits["final iterate"].k, hits["final iterate"].n) == (1, 3)


def test_the_chapter_owns_no_claim():
    assert not [c for c in claims.REGISTRY.values() if c.chapter == "attack_engine"]
