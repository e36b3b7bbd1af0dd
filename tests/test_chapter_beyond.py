"""The beyond-the-paper chapter's claims on synthetic numbers: each rule holds, fails, or is not testable."""

import numpy as np
import pytest

from diva_lib import config, floors, metrics
from diva_lib.chapters import beyond
from diva_lib.verdicts import FAILS, HOLDS, UNTESTABLE

BITS, LEVELS = (8, 6, 4, 2), (0.5, 0.8)


def rate(k: int, n: int = 300) -> metrics.Rate:
    return metrics.rate(np.arange(n) < k)


def point(label: str, acc: int = 900, diva: int = 290, pgd: int = 150, evasion: int = 299) -> beyond.Point:
    return beyond.Point("mobilenet", label, rate(acc, 1000), rate(60, 1000), rate(diva), rate(pgd), rate(evasion))


def measure(low_bit_evasion: int = 200, two_bit_acc: int = 900, pgd_to_original: int = 280, diva_to_original: int = 40,
            diva: int = 290, twin: int = 295, surrogate: int = 150) -> beyond.ArchMeasure:
    bits = {b: point(f"{b} bits", acc=two_bit_acc if b == 2 else 900, diva=diva,
                     evasion=299 if b == 8 else low_bit_evasion) for b in BITS}
    sparsity = {v: [point(f"pruned {v:g}", diva=diva), point(f"pruned+int8 {v:g}", diva=diva)] for v in LEVELS}
    pgd = {m: {j: rate(300 if j == m else pgd_to_original if j == "original" else 270) for j in beyond.MODELS}
           for m in beyond.MODELS}
    dv = {m: {j: rate(300 if j == m else diva_to_original if j == "original" else 250) for j in beyond.MODELS}
          for m in ("int8", "pruned")}
    prior = {beyond.TWIN: rate(twin), beyond.SURROGATE: rate(surrogate), "the original itself (whitebox)": rate(300)}
    return beyond.ArchMeasure("mobilenet", bits, sparsity, {"PGD": pgd, "DIVA": dv}, prior)


def models_table(m: beyond.ArchMeasure, fp32_acc: float = 0.9, n: int = 300) -> floors.ModelsTable:
    t = floors.ModelsTable()
    t.check("mobilenet fp32", "fp32_acc", fp32_acc)
    for q in m.points():
        t.check(f"mobilenet {q.label}", "compressed_acc", q.accuracy.value)
        t.check(f"mobilenet {q.label} eval set", "n_rate", n)
    for name, rows in m.transfer.items():
        for on, judged in rows.items():
            t.check(f"mobilenet {name} crafted on {on}", "n_rate", judged[on].n)
    t.check("mobilenet prior eval set", "n_rate", n)
    return t


def verdicts(m: beyond.ArchMeasure, **kw) -> dict[str, dict]:
    return {r["id"]: r for r in beyond.claims([m], models_table(m, **kw), stand_in=True)}


ALL = ("beyond.direct_robustness", "beyond.diva_beats_pgd_bits", "beyond.diva_beats_pgd_sparsity",
       "beyond.transfer_remains", "beyond.diva_transfers_less", "beyond.prior_transfers",
       "beyond.prior_beats_surrogate")


def test_every_claim_holds_on_numbers_like_the_related_papers():
    rows = verdicts(measure())
    assert {k: r["verdict"] for k, r in rows.items()} == dict.fromkeys(ALL, HOLDS)
    assert all(r["estimate"] is not None for r in rows.values())


@pytest.mark.parametrize(("kwargs", "claim"), [
    ({"low_bit_evasion": 297}, "beyond.direct_robustness"),
    ({"pgd_to_original": 120}, "beyond.transfer_remains"),
    ({"diva_to_original": 275}, "beyond.diva_transfers_less"),
    ({"twin": 200}, "beyond.prior_transfers"),
    ({"surrogate": 290}, "beyond.prior_beats_surrogate"),
])
def test_each_claim_can_fail(kwargs, claim):
    got = {k: r["verdict"] for k, r in verdicts(measure(**kwargs)).items()}
    assert got[claim] == FAILS
    assert [c for c, v in got.items() if v == FAILS] == [claim]


def test_diva_below_pgd_fails_at_every_compression():
    got = verdicts(measure(diva=140))
    assert got["beyond.diva_beats_pgd_bits"]["verdict"] == FAILS
    assert got["beyond.diva_beats_pgd_sparsity"]["verdict"] == FAILS


def test_a_width_below_its_floor_is_left_out_and_named():
    rows = verdicts(measure(two_bit_acc=300))
    assert rows["beyond.diva_beats_pgd_bits"]["verdict"] == HOLDS
    assert "not tested: mobilenet 2 bits" in rows["beyond.diva_beats_pgd_bits"]["measured"]
    assert "4 bits" in rows["beyond.direct_robustness"]["measured"]  # the lowest width that meets its floor


def test_an_original_below_its_floor_or_too_few_images_is_not_testable():
    rows = verdicts(measure(), fp32_acc=0.8)
    assert all(r["verdict"] == UNTESTABLE for r in rows.values())
    assert "fp32 accuracy (Fashion-MNIST) ≥ 0.88" in rows["beyond.prior_transfers"]["reason"]
    rows = verdicts(measure(), n=100)
    assert rows["beyond.diva_beats_pgd_bits"]["verdict"] == UNTESTABLE
    assert "images per compared rate" in rows["beyond.prior_beats_surrogate"]["reason"]


@pytest.mark.parametrize(("params", "needle"), [
    ({"bits": [6, 4]}, "'bits'"), ({"bits": [8, 1]}, "'bits'"), ({"sparsities": [0.5, 0.9]}, "'sparsities'"),
    ({"sparsities": [0.8, 1.2]}, "'sparsities'"), ({"n_eval": 0}, "'n_eval'"),
])
def test_bad_settings_name_the_parameter(params, needle):
    with pytest.raises(config.ParameterError, match=needle):
        beyond.Settings.resolve("smoke", **params)


def test_settings_take_the_profiles_defaults():
    s = beyond.Settings.resolve("default")
    assert s.bits == BITS and s.sparsities == (0.5, 0.75, 0.8, 0.9) and s.archs == ("mobilenet",)
    assert s.n_eval >= 200
