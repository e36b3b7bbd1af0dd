"""Several devices through tf.distribute: the same adversarial images on two logical CPUs as on one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from diva_lib import distribute

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.needs_data("imagenet_sample")
def test_two_logical_devices_give_the_single_device_images():
    """The streamed 224×224 pipeline, a model trained a few steps, DIVA under MirroredStrategy over two CPUs."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "scripts" / "two_devices.py")], capture_output=True,
                         text=True, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["n"] == 100
    assert result["distinct_predictions"] > 1 and result["moved"] > 0  # a real model, a real attack
    assert result["max_abs_diff"] <= 1e-5 and result["same_first_steps"], result


def test_strategy_setting_is_checked_and_defaults_to_one_device_on_a_cpu(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("DIVA_STRATEGY", "auto")
    assert distribute.strategy().num_replicas_in_sync == 1
    assert distribute.global_batch(32) == 32
    with pytest.raises(ValueError, match="DIVA_STRATEGY='tpu' is unknown"):
        distribute.strategy("tpu")


def test_plan_of_the_paper_profile_names_what_is_missing(tmp_path):
    env = {**os.environ, "DIVA_DATA": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("DIVA_IMAGENET_VAL", None)
    run = subprocess.run([str(Path(sys.executable).parent / "diva"), "plan", "--profile", "paper", "--archs",
                          "mobilenet", "--calibration-steps", "1"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    assert f"{tmp_path / 'imagenet_val'}" in out and "≥ 35,811 images" in out
    assert "missing: ImageNet validation images, PubFig (face chapter), VGGFace ResNet50 weights" in out
    assert "Time (estimate" in out and "total" in out
    bad = subprocess.run([str(Path(sys.executable).parent / "diva"), "plan", "--profile", "huge"], capture_output=True,
                         text=True, env=env)
    assert bad.returncode == 2 and "'profile'='huge' is unknown" in bad.stderr
