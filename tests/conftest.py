"""Shared fixtures: one model cache and results dir per test run, and the smoke-profile model zoo."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before any test module imports TensorFlow
# Point the library at throw-away cache and results folders before it is imported anywhere. The
# pytest-xdist workers of one run share them (the cache locks each build), so a model is built once.
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_SESSION_DIR = Path(tempfile.gettempdir()) / f"diva-tests-{_RUN_ID}" if _RUN_ID else Path(
    tempfile.mkdtemp(prefix="diva-tests-"))
os.environ.setdefault("DIVA_CACHE", str(_SESSION_DIR / "cache"))
os.environ.setdefault("DIVA_RESULTS", str(_SESSION_DIR / "results"))
os.environ.setdefault("DIVA_ATTACK_CACHE_MODE", "off")  # tests measure fresh attacks; the cache has its own tests

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_data(*names): skip unless these datasets are prepared")


@functools.cache
def _prepared(name: str) -> bool:
    from diva_lib import data

    try:
        data.verify(name)
        return True
    except data.DataError:
        return False


def pytest_collection_modifyitems(config, items):
    """Skip a test whose datasets are not prepared, naming them and the command that fetches them."""
    for item in items:
        missing = sorted({n for mark in item.iter_markers("needs_data") for n in mark.args if not _prepared(n)})
        if missing:
            names = " ".join(missing)
            item.add_marker(pytest.mark.skip(reason=f"dataset(s) {names} not prepared: run `diva fetch {names}`"))


@pytest.fixture(scope="session")
def smoke_profile():
    from diva_lib import config

    return config.get_profile("smoke")


@pytest.fixture(scope="session")
def smoke_data(smoke_profile):
    from diva_lib import zoo

    return zoo.load_data(smoke_profile, seed=0)


SLOWEST_FIRST = ["densenet121", "resnet50", "mobilenet"]
_PREBUILD = "import sys; from diva_lib import config, zoo; zoo.get(sys.argv[1], config.get_profile('smoke'), 0)"


def _prebuild_in_parallel(archs: tuple[str, ...]) -> None:
    """Train and convert the smoke models two at a time in subprocesses, into this run's cache.

    TFLite conversion is single-threaded, so two builds share two cores well; the fixture then
    loads the cached models (a failed build is simply redone, with its error, in-process). A
    second worker asking for the zoo waits on the cache's build locks instead of building again.
    """
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    def build(arch: str) -> None:
        subprocess.run([sys.executable, "-c", _PREBUILD, arch], cwd=ROOT, capture_output=True)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(build, archs))


@pytest.fixture(scope="session")
def smoke_zoo(smoke_profile, smoke_data):
    """Build each architecture once per test run (QAT + int8 conversion), shared with the notebook tests."""
    from diva_lib import zoo
    from diva_lib.config import ARCHS

    _prebuild_in_parallel(tuple(sorted(ARCHS, key=SLOWEST_FIRST.index)))
    built = {}

    def get(arch: str):
        if arch not in built:
            built[arch] = zoo.get(arch, smoke_profile, seed=0, stand_in=smoke_data)
        return built[arch]

    return get
