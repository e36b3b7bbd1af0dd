"""The claims registry: unique ids, three verdicts, reasons that name a floor or a stand-in property."""

import re
from pathlib import Path

import pytest

from diva_lib import claims, floors
from diva_lib.claims import REGISTRY, STAND_IN, judge
from diva_lib.verdicts import VERDICTS

ROOT = Path(__file__).resolve().parent.parent


def models_with(value: float) -> floors.ModelsTable:
    table = floors.ModelsTable()
    table.check("mobilenet fp32", "fp32_acc", value)
    table.check("mobilenet int8", "int8_minus_fp32", -0.01)
    return table


def test_registry_ids_are_unique_and_complete():
    assert len(REGISTRY) == len({c.id for c in REGISTRY.values()})
    for c in REGISTRY.values():
        assert c.id.startswith(f"{c.chapter.split('_')[0]}.") or c.id.split(".")[0] in c.chapter
        assert c.quote and c.paper and c.rule and c.section.startswith(("§", "related paper "))
        assert c.stand_in is None or c.stand_in in STAND_IN
        assert c.band is None or c.band[0] <= c.band[1]


def test_every_registered_claim_is_judged_by_the_chapter_that_owns_it():
    sources = {p.stem: p.read_text() for p in (ROOT / "diva_lib" / "chapters").glob("*.py")}
    code = "\n".join(sources.values())
    missing = [cid for cid in REGISTRY if f'"{cid}"' not in code and f'"{cid.split(".", 1)[1]}"' not in code]
    assert not missing, f"claims no chapter judges: {missing}"


@pytest.mark.parametrize("holds, verdict", [(True, "holds"), (False, "does not hold")])
def test_rule_result_decides_when_the_models_meet_their_floors(holds, verdict):
    row = judge("pruning.size", holds, "33 %", models=models_with(0.9), rests_on=["mobilenet"], stand_in=True)
    assert row["verdict"] == verdict and row["reason"] == "" and row["verdict"] in VERDICTS


@pytest.mark.parametrize("holds", [True, False])
def test_a_model_below_its_floor_makes_any_result_not_testable(holds):
    row = judge("pruning.size", holds, "33 %", models=models_with(0.77), rests_on=["mobilenet"], stand_in=True)
    assert row["verdict"] == "not testable here"
    assert "mobilenet fp32" in row["reason"] and str(floors.FLOORS["fp32_acc"]) in row["reason"]
    other = judge("pruning.size", holds, "33 %", models=models_with(0.77), rests_on=["resnet50"], stand_in=True)
    assert other["verdict"] != "not testable here"  # a claim rests only on the models it names


def test_a_stand_in_property_applies_only_to_stand_in_data():
    on_stand_in = judge("quantization.dssim", True, "0.01", models=models_with(0.9), rests_on=[], stand_in=True)
    on_paper_data = judge("quantization.dssim", False, "0.01", models=models_with(0.9), rests_on=[], stand_in=False)
    assert on_stand_in["verdict"] == "not testable here" and STAND_IN["resolution"] in on_stand_in["reason"]
    assert on_paper_data["verdict"] == "does not hold"


def test_every_not_testable_reason_names_a_floor_or_a_stand_in_property():
    pattern = "|".join(re.escape(str(f)) for f in floors.FLOORS.values())
    for models, stand_in in ((models_with(0.5), False), (models_with(0.9), True)):
        for cid in REGISTRY:
            row = judge(cid, True, "-", models=models, rests_on=["mobilenet"], stand_in=stand_in)
            if row["verdict"] == "not testable here":
                assert re.search(pattern, row["reason"]) or any(v in row["reason"] for v in STAND_IN.values())


def test_claims_table_has_the_readers_columns():
    row = judge("pruning.size", True, "33 %", models=models_with(0.9), rests_on=[], stand_in=True)
    frame = claims.table([row])
    assert list(frame.columns) == ["id", "the paper says", "this run", "verdict"]
    assert frame["verdict"][0] == "holds" and "≈ 1/3" in frame["the paper says"][0]


def test_margins_flag_only_claims_a_small_shift_could_flip():
    import pandas as pd

    from diva_lib.chapters import summary

    claims = pd.DataFrame([
        {"id": "a", "verdict": "holds", "estimate": [0.10, 0.01, 0.2], "band": None},
        {"id": "b", "verdict": "does not hold", "estimate": [-0.2, -0.3, -0.1], "band": None},
        {"id": "c", "verdict": "holds", "estimate": [0.9, 0.85, 0.93], "band": [0.923, 0.97]},
        {"id": "d", "verdict": "holds", "estimate": [3.5, 3.0, 4.0], "band": [3.2, 4.2]},
        {"id": "e", "verdict": "not testable here", "estimate": [0.0, -0.01, 0.01], "band": None},
    ])
    got = summary.margins(claims).set_index("id")
    assert list(got.index) == ["a", "b", "c"]  # a ratio's scale is not points; not testable is not judged
    assert got["a 2-point shift could flip it"].to_dict() == {"a": "yes", "b": "no", "c": "yes"}
    assert got.loc["b", "margin (points)"] == 30.0
