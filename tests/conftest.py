"""Shared fixtures: a per-session model cache and results dir, and the smoke-profile model zoo."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before any test module imports TensorFlow
# Point the library at throw-away cache and results folders before it is imported anywhere.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="diva-tests-"))
os.environ.setdefault("DIVA_CACHE", str(_SESSION_DIR / "cache"))
os.environ.setdefault("DIVA_RESULTS", str(_SESSION_DIR / "results"))

ROOT = Path(__file__).resolve().parent.parent


_ZOO_FIXTURES = {"smoke_zoo", "smoke_data", "smoke_profile"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    """Under pytest-xdist, keep every test that shares the session's smoke zoo on one worker."""
    for item in items:
        if _ZOO_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("zoo"))


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
    """Train and convert the smoke models two at a time in subprocesses, into this session's cache.

    TFLite conversion is single-threaded, so two builds share two cores well; the fixture then
    loads the cached models (a failed build is simply redone, with its error, in-process).
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
    """Build each architecture once per session (QAT + int8 conversion), shared with the notebook tests."""
    from diva_lib import zoo
    from diva_lib.config import ARCHS

    _prebuild_in_parallel(tuple(sorted(ARCHS, key=SLOWEST_FIRST.index)))
    built = {}

    def get(arch: str):
        if arch not in built:
            built[arch] = zoo.get(arch, smoke_profile, seed=0, stand_in=smoke_data)
        return built[arch]

    return get
