"""Each chapter runs under papermill in the smoke profile, bad parameters fail fast, and the book builds."""

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jupytext
import papermill
import pytest

pytestmark = pytest.mark.needs_data("fashion_mnist", "mnist", "att_faces", "lfw_faces")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
BIN = Path(sys.executable).parent


def execute(src: Path, out: Path, **params) -> None:
    nb = jupytext.read(src)
    tmp = out.with_suffix(".src.ipynb")
    jupytext.write(nb, tmp)
    papermill.execute_notebook(str(tmp), str(out), parameters=params, cwd=str(ROOT / "notebooks"),
                               kernel_name="python3", progress_bar=False)


SUMMARIES = ("98_reproduce_it", "99_claims_vs_paper")  # they read what the other chapters wrote


def _papermill(src: Path, out: Path) -> subprocess.CompletedProcess:
    """Execute one notebook in the smoke profile in its own process."""
    tmp = out.with_suffix(".src.ipynb")
    jupytext.write(jupytext.read(src), tmp)
    return subprocess.run([sys.executable, "-m", "papermill", str(tmp), str(out), "-p", "profile", "smoke",
                           "-p", "seed", "0", "--cwd", str(ROOT / "notebooks"), "--no-progress-bar"],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def executed(tmp_path_factory, smoke_zoo):
    """Run every notebook in the smoke profile once, two at a time (models come from the session's cache).

    TFLite conversion and graph tracing run on one core, so two notebooks share the two cores well.
    """
    from diva_lib.config import ARCHS

    for arch in ARCHS:
        smoke_zoo(arch)
    out = tmp_path_factory.mktemp("executed")
    chapters = [s for s in NOTEBOOKS if s.stem not in SUMMARIES]
    slow_first = sorted(chapters, key=lambda s: s.stem, reverse=True)  # later chapters train more of their own
    with ThreadPoolExecutor(2) as pool:
        runs = dict(zip(slow_first, pool.map(lambda s: _papermill(s, out / f"{s.stem}.ipynb"), slow_first),
                        strict=True))
    runs.update({s: _papermill(s, out / f"{s.stem}.ipynb") for s in NOTEBOOKS if s.stem in SUMMARIES})
    failed = {s.stem: r.stderr[-3000:] for s, r in runs.items() if r.returncode}
    assert not failed, failed
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


@pytest.mark.slow
def test_audit_chapter_writes_both_reports(executed):
    result = json.loads((Path(os.environ["DIVA_RESULTS"]) / "smoke" / "audit.json").read_text())
    assert result["gradient_source"] == "qat"
    assert result["post_training_quantized"]["gradient_source"] == "surrogate distilled from the deployed model"
    for report in (result, result["post_training_quantized"]):
        assert {"original_acc", "adapted_acc", "instability", "disagreement"} <= set(report)
        assert set(report["by_eps"]) == {"2/255", "4/255", "8/255"}
        assert all({"diva_top1", "pgd_top1", "n"} <= set(r) for r in report["by_eps"].values())


@pytest.mark.parametrize("src", NOTEBOOKS, ids=lambda p: p.stem)
def test_bad_profile_stops_in_the_first_cell(tmp_path, src):
    with pytest.raises(papermill.PapermillExecutionError) as err:
        execute(src, tmp_path / "bad.ipynb", profile="fast")
    assert "'profile'='fast'" in str(err.value)
    assert err.value.exec_count == 3  # parameters, injected parameters, then the validating cell


def test_sweep_archs_outside_archs_stops_in_the_first_cell(tmp_path):
    src = ROOT / "notebooks" / "04_quantization.py"
    with pytest.raises(papermill.PapermillExecutionError) as err:
        execute(src, tmp_path / "bad.ipynb", profile="smoke", archs=["mobilenet"], sweep_archs=["resnet50"])
    assert "'sweep_archs'" in str(err.value) and err.value.exec_count == 3


def test_bad_seed_names_the_parameter(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as err:
        execute(NOTEBOOKS[0], tmp_path / "bad.ipynb", profile="smoke", seed=-3)
    assert "'seed'=-3" in str(err.value)


@pytest.fixture(scope="module")
def built_book(executed, tmp_path_factory):
    """The Jupyter Book of the smoke notebooks, built the way `make book` builds it; its HTML folder."""
    book = tmp_path_factory.mktemp("book")
    (book / "book" / "notebooks").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, book / name)
    for extra in [*(ROOT / "book").glob("*.md"), *(ROOT / "book").glob("*.bib")]:
        shutil.copy(extra, book / "book" / extra.name)
    shutil.copytree(ROOT / "book" / "figures", book / "book" / "figures")
    for nb in executed.glob("*.ipynb"):
        if not nb.name.endswith(".src.ipynb"):
            shutil.copy(nb, book / "book" / "notebooks" / nb.name)
    subprocess.run([str(BIN / "jupyter-book"), "build", "--quiet", str(book)], check=True)
    return book / "_build" / "html"


@pytest.mark.slow
def test_book_builds(built_book):
    html = (built_book / "book" / "notebooks" / "01_table1_instability.html").read_text()
    assert "Paper claim vs this run" in html and "densenet121" in html
    for src in NOTEBOOKS:
        assert (built_book / "book" / "notebooks" / f"{src.stem}.html").is_file(), src.stem
    api = (built_book / "book" / "api.html").read_text()
    assert "diva_lib.attacks.DIVA" in api and "diva_lib.sources.fetch" in api  # autodoc imported the library


CHROMIUM = shutil.which("chromium")
ARTIFACTS = ROOT / "_build" / "test-artifacts"


@contextlib.contextmanager
def serve(folder: Path):
    """Serve a folder over HTTP on 127.0.0.1 (a free port) for the duration of the block."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian package 'chromium' is not installed (.ci/run installs it)")
def test_book_in_a_real_browser(built_book):
    """Every page loads in headless Chromium with all images decoded, all internal links alive, no error output."""
    from playwright.sync_api import sync_playwright

    pages = sorted(p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")  # the book's pages,
                   if not p.name.startswith(("genindex", "search"))        # not theme templates in _static
                   and not p.relative_to(built_book).parts[0].startswith("_"))
    problems, checked_links = [], set()
    with serve(built_book) as root, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        failed = []
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        for rel in pages:
            page.goto(f"{root}/{rel}", wait_until="networkidle")
            if page.url.split("#")[0] != f"{root}/{rel}":  # a redirect page (index.html): its target is checked
                continue
            broken = page.eval_on_selector_all(
                "img", "els => els.filter(e => !e.complete || e.naturalWidth === 0).map(e => e.src)")
            problems += [f"{rel}: broken image {src}" for src in broken]
            errors = page.locator(".output.traceback, .output.error, .output.stderr:has-text('Traceback')").count()
            if errors or "Traceback (most recent call last)" in page.inner_text("body"):
                problems.append(f"{rel}: error output in a cell")
            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            for link in {u.split("#")[0] for u in links if u.startswith(root)} - checked_links:
                checked_links.add(link)
                try:
                    urllib.request.urlopen(link, timeout=10).close()
                except urllib.error.URLError as err:
                    problems.append(f"{rel}: broken link {link} ({err})")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.goto(f"{root}/book/notebooks/04_quantization.html", wait_until="load")
        page.screenshot(path=str(ARTIFACTS / "04_quantization.png"), full_page=False)
        browser.close()
    problems += [f"HTTP error {f}" for f in failed]
    assert len(pages) >= len(NOTEBOOKS) + 1 and checked_links
    assert not problems, "\n".join(problems)
