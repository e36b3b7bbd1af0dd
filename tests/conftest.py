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


@pytest.fixture(scope="session")
def smoke_zoo(smoke_profile, smoke_data):
    """Build each architecture once per session (QAT + int8 conversion), shared with the notebook tests."""
    from diva_lib import zoo

    built = {}

    def get(arch: str):
        if arch not in built:
            built[arch] = zoo.get(arch, smoke_profile, seed=0, stand_in=smoke_data)
        return built[arch]

    return get
