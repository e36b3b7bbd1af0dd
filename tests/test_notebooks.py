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
sys.path.insert(0, str(ROOT / "tests" / "scripts"))

from smoke_reference import PRIMARY_KIND, SMOKE_REFERENCE, cpu, exact_reference  # noqa: E402


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


def test_a_run_is_held_exactly_only_to_a_reference_of_its_kind_and_code(tmp_path):
    from diva_lib import reference

    project, refs = tmp_path / "project", tmp_path / "refs"
    (project / "diva_lib").mkdir(parents=True)
    (project / "diva_lib" / "a.py").write_text("x = 1\n")
    avx2 = {"kind": "avx2", "vector_extensions": ["avx", "avx2", "fma"]}
    for kind in ("avx512", "avx2"):
        (refs / kind).mkdir(parents=True)
        (refs / kind / "machine.json").write_text(json.dumps({"vector_extensions": ["avx", "avx2", "fma"]}))
    assert exact_reference(avx2, refs, project) is None  # no stamp: made from unknown code
    (refs / "avx2" / "stamp.json").write_text(json.dumps(reference.stamp(project)))
    assert exact_reference(avx2, refs, project) == refs / "avx2"
    assert exact_reference({**avx2, "vector_extensions": ["avx", "avx2", "avx_vnni", "fma"]}, refs, project) is None
    (project / "diva_lib" / "a.py").write_text("x = 2\n")
    assert exact_reference(avx2, refs, project) is None
    assert exact_reference({**avx2, "kind": "avx512"}, refs, project) == refs / "avx512"  # kept current by hand
    assert exact_reference({**avx2, "kind": "avx512"}, tmp_path / "none", project) is None


def same_kind_of_value(ref, new) -> bool:
    """Whether `new` is a value of the kind `ref` is: a verdict, a boolean or a number."""
    from diva_lib.verdicts import VERDICTS

    if isinstance(ref, str):
        return new in VERDICTS
    if isinstance(ref, bool):
        return isinstance(new, bool)
    return isinstance(new, int | float) and not isinstance(new, bool)


def test_shape_check_refuses_a_missing_or_retyped_value():
    from diva_lib.verdicts import HOLDS

    assert same_kind_of_value(0.25, 0.9) and same_kind_of_value(3, 2.5) and same_kind_of_value(True, False)
    assert same_kind_of_value("does not hold", HOLDS)
    assert not any(same_kind_of_value(ref, new) for ref, new in
                   [(0.25, None), (0.25, True), (True, 1), ("holds", "maybe"), ("holds", None)])


@pytest.mark.slow
def test_smoke_run_matches_the_committed_smoke_reference(executed):
    """`make verify`'s tolerances and exact verdicts against the reference of this CPU kind and code; else its shape.

    The smoke models are barely trained on a few images, so on another kind of CPU (other float
    kernels) a rate over ten images moves by tens of points and a boolean floor may flip: without a
    reference of this kind and code, every number, boolean and verdict of the primary kind's
    reference must still be written, as a value of its kind.
    """
    sys.path.insert(0, str(ROOT / "book"))
    import verify

    exact = exact_reference(cpu())
    rows = verify.compare(exact or SMOKE_REFERENCE / PRIMARY_KIND, Path(os.environ["DIVA_RESULTS"]) / "smoke")
    if exact is None:
        rows = [{**r, "ok": same_kind_of_value(r["reference"], r["new"])} for r in rows]
    bad = [r for r in rows if not r["ok"]]
    assert len(rows) > 300 and not bad, "\n".join(f"{r['file']}:{r['key']} {r['reference']!r} -> {r['new']!r}"
                                                 for r in bad[:40])


def test_every_committed_claim_has_an_id_a_verdict_and_a_reason():
    from diva_lib import floors
    from diva_lib.claims import REGISTRY, STAND_IN
    from diva_lib.verdicts import UNTESTABLE, VERDICTS

    for folder in (ROOT / "results" / "default", *sorted(p for p in SMOKE_REFERENCE.iterdir() if p.is_dir())):
        ids = []
        for path in sorted(folder.glob("*.json")):
            result = json.loads(path.read_text())
            named = [str(floors.FLOORS[c["floor"]]) for c in result.get("models_table", [])]
            for c in result.get("claims", []):
                ids.append(c["id"])
                assert c["id"] in REGISTRY and c["verdict"] in VERDICTS, (path.name, c)
                if c["verdict"] == UNTESTABLE:
                    assert any(n in c["reason"] for n in named) or any(v in c["reason"] for v in STAND_IN.values())
        assert ids and len(ids) == len(set(ids)), f"{folder.name}: claim ids repeat or are missing"


@pytest.mark.slow
def test_audit_chapter_writes_both_reports(executed):
    result = json.loads((Path(os.environ["DIVA_RESULTS"]) / "smoke" / "audit.json").read_text())
    assert result["gradient_source"] == "qat"
    assert result["post_training_quantized"]["gradient_source"] == "surrogate distilled from the deployed model"
    for report in (result, result["post_training_quantized"]):
        assert {"original_acc", "adapted_acc", "instability", "disagreement"} <= set(report)
        assert set(report["by_eps"]) == {"2/255", "4/255", "8/255"}
        assert all({"diva_top1", "pgd_top1", "n"} <= set(r) for r in report["by_eps"].values())


@pytest.mark.slow
def test_pruning_chapter_records_each_models_build_time(executed):
    result = json.loads((Path(os.environ["DIVA_RESULTS"]) / "smoke" / "pruning.json").read_text())
    archs = [k for k, v in result.items() if isinstance(v, dict) and "build_seconds" in v]
    assert archs, "pruning.json has no architecture"
    for arch in archs:
        built = result[arch]["build_seconds"]
        assert {"fp32_train_s", "qat_train_s", "pruned_train_s", "pruned_qat_train_s"} <= set(built), arch
        assert all(built[k] > 0 for k in ("pruned_train_s", "pruned_qat_train_s"))


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


def _build_book(folder: Path, notebooks: list[Path], note: str) -> Path:
    """Build a Jupyter Book of these executed notebooks the way `make book` does; its HTML folder."""
    (folder / "book" / "notebooks").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, folder / name)
    for extra in [*(ROOT / "book").glob("*.md"), *(ROOT / "book").glob("*.bib")]:
        shutil.copy(extra, folder / "book" / extra.name)
    shutil.copytree(ROOT / "book" / "figures", folder / "book" / "figures")
    (folder / "book" / "build_note.md").write_text(note)
    for nb in notebooks:
        shutil.copy(nb, folder / "book" / "notebooks" / nb.name)
    subprocess.run([str(BIN / "jupyter-book"), "build", "--quiet", str(folder)], check=True)
    return folder / "_build" / "html"


def _prepare():
    sys.path.insert(0, str(ROOT / "book"))
    import prepare

    return prepare


@pytest.fixture(scope="module")
def built_book(executed, tmp_path_factory):
    """The Jupyter Book of the smoke notebooks executed here; its HTML folder."""
    notebooks = [nb for nb in executed.glob("*.ipynb") if not nb.name.endswith(".src.ipynb")]
    return _build_book(tmp_path_factory.mktemp("book"), notebooks, _prepare().executed_note("smoke"))


@pytest.fixture(scope="module")
def reference_book(tmp_path_factory):
    """The Jupyter Book of the committed reference run (`make book` on a fresh clone); its HTML folder."""
    reference = ROOT / "results" / "default"
    return _build_book(tmp_path_factory.mktemp("reference-book"), sorted((reference / "notebooks").glob("*.ipynb")),
                       _prepare().reference_note(reference))


@pytest.mark.slow
def test_book_builds(built_book):
    html = (built_book / "book" / "notebooks" / "01_table1_instability.html").read_text()
    assert "claims, judged" in html and "densenet121" in html and "tag_hide-input" in html
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


def _figures(notebook: Path) -> int:
    """Image outputs of an executed notebook."""
    cells = json.loads(notebook.read_text())["cells"]
    return sum(any(k.startswith("image/") for k in out.get("data", {})) for c in cells for out in c.get("outputs", []))


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian package 'chromium' is not installed (.ci/run installs it)")
@pytest.mark.parametrize("book", ["built_book", "reference_book"])
def test_book_in_a_real_browser(book, request):
    """Every page loads in headless Chromium with all images decoded, all internal links alive, no error output."""
    from playwright.sync_api import sync_playwright

    built_book = request.getfixturevalue(book)

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
            if rel.startswith("book/notebooks/"):
                figures = _figures(built_book.parent.parent / "book" / "notebooks" / f"{Path(rel).stem}.ipynb")
                if page.locator("img").count() < figures:
                    problems.append(f"{rel}: shows fewer images than the {figures} figures of its notebook")
            errors = page.locator(".output.traceback, .output.error, .output.stderr:has-text('Traceback')").count()
            text = page.inner_text("body")
            if errors or "Traceback (most recent call last)" in text:
                problems.append(f"{rel}: error output in a cell")
            if rel.startswith("book/notebooks/") and any(p in text for p in (str(ROOT), "/tmp/diva")):
                problems.append(f"{rel}: an output shows a path of the machine that ran it")
            if rel.startswith("book/notebooks/0") and not page.locator(".tag_hide-input").count():
                problems.append(f"{rel}: no cell hides its table-building code")
            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            for link in {u.split("#")[0] for u in links if u.startswith(root)} - checked_links:
                checked_links.add(link)
                try:
                    urllib.request.urlopen(link, timeout=10).close()
                except urllib.error.URLError as err:
                    problems.append(f"{rel}: broken link {link} ({err})")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.goto(f"{root}/book/notebooks/04_quantization.html", wait_until="load")
        page.screenshot(path=str(ARTIFACTS / f"04_quantization_{book}.png"), full_page=False)
        browser.close()
    problems += [f"HTTP error {f}" for f in failed]
    assert len(pages) >= len(NOTEBOOKS) + 1 and checked_links
    assert not problems, "\n".join(problems)
