"""book/execute.py: a notebook's record says how much it added to the model and attack caches, and what it built."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile = "smoke"

# %%
import os
from pathlib import Path

from diva_lib.cache import ModelCache

config = {"role": "qat", "parent": {"role": "original", "arch": "mobilenet", "seed": 1}}
ModelCache(os.environ["DIVA_CACHE"]).get_or_build("qat", config, lambda tmp: None)
Path(os.environ["DIVA_CACHE"], ".tmp-original-4567").mkdir()
'''


def load_execute():
    spec = importlib.util.spec_from_file_location("book_execute", ROOT / "book" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_record_counts_new_models_not_partial_builds_or_old_entries(tmp_path, monkeypatch):
    execute = load_execute()
    cache = tmp_path / "cache" / "models"  # its own, so other tests' builds cannot be counted
    (cache / "qat-already-there").mkdir(parents=True)
    monkeypatch.setenv("DIVA_CACHE", str(cache))
    monkeypatch.setattr(execute, "CACHE_DIR", cache)
    monkeypatch.setattr(execute, "ATTACK_CACHE_DIR", tmp_path / "cache" / "attacks")
    src = tmp_path / "01_tiny.py"
    src.write_text(NOTEBOOK)
    record = execute.run(src, tmp_path / "out", "smoke")
    assert (record["models_built"], record["results_stored"]) == (1, 0)
    [built] = record["builds"]
    assert built["model"] == "qat mobilenet (seed 1)" and 0 <= built["seconds"] < 60
    assert (tmp_path / "out" / "01_tiny.ipynb").is_file() and record["seconds"] > 0


def test_total_is_normalised_per_chapter_by_the_calibration_of_its_own_call():
    execute = load_execute()
    timings = {"machine": {"mobilenet_train_ips": 630.0}, "total_seconds": 1.0,
               "01_a": {"seconds": 100.0, "mobilenet_train_ips": 315.0}, "02_b": {"seconds": 50.0}}
    assert execute.totals(timings) == {"total_seconds": 150.0, "normalised_total_seconds": 100.0}


def test_time_breakdown_sums_each_chapters_builds_and_names_its_longest():
    import pandas as pd

    from diva_lib import report

    timings = {"machine": {"mobilenet_train_ips": 630},
               "01": {"seconds": 1200, "builds": [{"model": "original resnet50", "seconds": 540},
                                                 {"model": "qat resnet50", "seconds": 180}]},
               "02": {"seconds": 60, "builds": []}, "03": {"seconds": 120}}
    df = report.time_breakdown(timings)
    assert df.loc["01"].tolist() == [20.0, 12.0, "original resnet50 (9.0 min)"]
    assert df.loc["02", "longest build"] == "" and pd.isna(df.loc["03", "building models (min)"])
    assert list(df.index) == ["01", "02", "03"]


def test_the_machine_record_names_the_vector_extensions_that_pick_float_kernels():
    from diva_lib import calibration

    here = calibration.machine()
    ext = here["vector_extensions"]
    assert ext == sorted(ext) and all(f.startswith(("avx", "amx")) or f == "fma" for f in ext)
    assert here["avx512"] == ("avx512f" in ext)
