"""Each chapter runs under papermill in the smoke profile, bad parameters fail fast, and the book builds."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
BIN = Path(sys.executable).parent


def execute(src: Path, out: Path, **params) -> None:
    nb = jupytext.read(src)
    tmp = out.with_suffix(".src.ipynb")
    jupytext.write(nb, tmp)
    papermill.execute_notebook(str(tmp), str(out), parameters=params, cwd=str(ROOT / "notebooks"),
                               kernel_name="python3", progress_bar=False)


@pytest.fixture(scope="module")
def executed(tmp_path_factory, smoke_zoo):
    """Run every notebook in the smoke profile once (models come from the session's warm cache)."""
    from diva_lib.config import ARCHS

    for arch in ARCHS:
        smoke_zoo(arch)
    out = tmp_path_factory.mktemp("executed")
    for src in NOTEBOOKS:
        execute(src, out / f"{src.stem}.ipynb", profile="smoke", seed=0)
    return out


def test_every_notebook_has_a_parameters_cell():
    for src in NOTEBOOKS:
        nb = jupytext.read(src)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, src.name
        assert "profile" in tagged[0].source and "seed" in tagged[0].source


@pytest.mark.slow
def test_table1_smoke_writes_results(executed):
    result = json.loads((Path(os.environ["DIVA_RESULTS"]) / "smoke" / "table1.json").read_text())
    assert set(result["models"]) == {"resnet50", "mobilenet", "densenet121"}
    for m in result["models"].values():
        for key in ("fp32_acc", "qat_acc", "tflite_int8_acc", "instability"):
            assert 0.0 <= m[key] <= 1.0


@pytest.mark.slow
def test_quantization_smoke_writes_results(executed):
    result = json.loads((Path(os.environ["DIVA_RESULTS"]) / "smoke" / "quantization.json").read_text())
    keys = {"diva_top1", "pgd_top1", "diva_top5", "pgd_top5", "diva_conf_delta", "pgd_conf_delta"}
    assert "mobilenet" in result
    for threat in ("whitebox", "semiblackbox", "blackbox"):
        row = result["mobilenet"][threat]
        assert keys <= set(row) and row["n"] > 0
        assert all(0.0 <= row[k] <= 1.0 for k in keys - {"diva_conf_delta", "pgd_conf_delta"})
        assert all(-1.0 <= row[k] <= 1.0 for k in ("diva_conf_delta", "pgd_conf_delta"))
    assert {c["chapter"] for c in result["claims"]} == {"Quantization (§5.1–§5.4)"}


@pytest.mark.parametrize("params, needle", [({"profile": "fast"}, "'profile'='fast'"),
                                            ({"profile": "smoke", "seed": -3}, "'seed'=-3")])
def test_bad_parameter_stops_before_work(tmp_path, params, needle):
    with pytest.raises(papermill.PapermillExecutionError) as err:
        execute(NOTEBOOKS[0], tmp_path / "bad.ipynb", **params)
    assert needle in str(err.value)


@pytest.mark.slow
def test_book_builds(executed, tmp_path):
    book = tmp_path / "book"
    (book / "book" / "notebooks").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, book / name)
    for md in (ROOT / "book").glob("*.md"):
        shutil.copy(md, book / "book" / md.name)
    for nb in executed.glob("*.ipynb"):
        if not nb.name.endswith(".src.ipynb"):
            shutil.copy(nb, book / "book" / "notebooks" / nb.name)
    subprocess.run([str(BIN / "jupyter-book"), "build", "--quiet", str(book)], check=True)
    html = (book / "_build" / "html" / "book" / "notebooks" / "01_table1_instability.html").read_text()
    assert "Paper claim vs this run" in html and "densenet121" in html
