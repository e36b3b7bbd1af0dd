"""A SIGKILL mid-training or mid-notebook leaves nothing corrupt, and a rerun gives the same numbers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.needs_data("fashion_mnist")

BUILD = """
import sys
import numpy as np
from diva_lib import config, zoo

cfg = config.get_profile("smoke", n_train=256, n_surrogate=64, n_test=64, archs=["mobilenet"],
                         epochs={"resnet50": 1, "mobilenet": 3, "densenet121": 1})
entry = zoo.get("mobilenet", cfg, seed=0)
np.save(sys.argv[1], entry.tflite.predict(zoo.load_data(cfg, 0).x_test))
"""


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "DIVA_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 180.0) -> None:
    """SIGKILL the process as soon as `ready()` is true (fail if it finishes or times out first)."""
    start = time.monotonic()
    while not ready():
        assert proc.poll() is None, "the process finished before it could be killed"
        assert time.monotonic() - start < timeout, "the process never reached the point to kill it at"
        time.sleep(0.2)
    time.sleep(1.0)  # well inside the work
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_kill_during_training_leaves_no_entry_and_rerun_matches(tmp_path):
    from diva_lib.cache import ModelCache

    killed, clean = tmp_path / "killed", tmp_path / "clean"
    cmd = [sys.executable, "-c", BUILD]
    proc = subprocess.Popen([*cmd, str(tmp_path / "never.npy")], env=_env(killed), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when(proc, lambda: any(killed.glob(".tmp-original-*")))
    entries = [p for p in killed.iterdir() if not p.name.startswith(".")]  # not temporary folders or locks
    assert all((p / "config.json").is_file() for p in entries), "an entry without config.json looks complete"
    assert not any(p.name.startswith("original-") for p in entries), "the killed build left an original entry"
    assert not (tmp_path / "never.npy").exists()

    subprocess.run([*cmd, str(tmp_path / "rerun.npy")], env=_env(killed), cwd=ROOT, check=True,
                   capture_output=True)
    subprocess.run([*cmd, str(tmp_path / "clean.npy")], env=_env(clean), cwd=ROOT, check=True, capture_output=True)
    np.testing.assert_array_equal(np.load(tmp_path / "rerun.npy"), np.load(tmp_path / "clean.npy"))
    assert ModelCache(killed).clean_partial() >= 1 and not list(killed.glob(".tmp-*"))


@pytest.mark.slow
def test_kill_during_a_notebook_leaves_no_page_or_result(tmp_path):
    out, results = tmp_path / "pages", tmp_path / "results"
    cmd = [sys.executable, str(ROOT / "book" / "execute.py"), "--profile", "smoke", "--only", "98_reproduce_it",
           "--out", str(out)]
    env = {**os.environ, "DIVA_RESULTS": str(results)}
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    import psutil

    def kernel_started() -> bool:
        for child in psutil.Process(proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):  # short-lived children (the speed calibration) end
                if "ipykernel" in " ".join(child.cmdline()):
                    return True
        return False

    _kill_when(proc, kernel_started)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the kernel and papermill too, as a crash would
    assert not out.exists() or not list(out.iterdir()), list(out.iterdir())
    assert not results.exists() or not list(results.rglob("*.json"))

    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
    assert (out / "98_reproduce_it.ipynb").is_file()
    assert (results / "smoke" / "timings.json").is_file()
