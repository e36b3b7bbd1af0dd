"""`diva audit` end to end on the smoke MobileNet pair: report, gradient routes, exit codes, and bad input."""

import json
import re

import numpy as np
import pytest
import tf_keras

from diva_lib import adapt, cli
from diva_lib.models import eager

pytestmark = pytest.mark.needs_data("fashion_mnist")


@pytest.fixture(scope="module")
def pair_files(smoke_zoo, smoke_data, tmp_path_factory):
    """The smoke MobileNet pair saved as a user would hand it over, and 128 test images as uint8."""
    entry = smoke_zoo("mobilenet")
    root = tmp_path_factory.mktemp("pair")
    eager(entry.fp32).save(root / "fp32.keras")
    eager(entry.qat).save(root / "qat.h5")
    x = np.round(smoke_data.x_test * 255).astype(np.uint8)
    np.savez(root / "test.npz", x=x, y=smoke_data.y_test)
    return {"original": root / "fp32.keras", "qat": root / "qat.h5", "adapted": entry.tflite.path,
            "data": root / "test.npz", "root": root}


def _audit(files, out, *extra, qat=True):
    args = ["audit", "--original", str(files["original"]), "--adapted", str(files["adapted"]), "--data",
            str(files["data"]), "--eps", "4/255,8/255", "--n", "24", "--out", str(out), *extra]
    return cli.main(args + (["--qat", str(files["qat"])] if qat else []))


def test_audit_with_qat_writes_its_report_and_gates_a_release(pair_files, tmp_path, capsys):
    assert _audit(pair_files, tmp_path / "a", "--fail-above", "1") == 0
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["gradient_source"] == "qat"
    for key in ("original_acc", "adapted_acc", "instability", "disagreement", "margin_risk_auc"):
        assert key in report
    row = report["by_eps"]["8/255"]
    assert row["n"] == 24 and 0 <= row["diva_top1_ci"][0] <= row["diva_top1"] <= row["diva_top1_ci"][1] <= 1
    assert report["by_eps"]["4/255"]["eps"] == pytest.approx(4 / 255)
    html = (tmp_path / "a" / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 2 and "cannot see" in html
    assert "DIVA top-1" in capsys.readouterr().out
    # a rerun resumes from the cache and gates on the largest radius
    assert report["by_eps"]["8/255"]["diva_top1"] > 0
    assert _audit(pair_files, tmp_path / "a", "--fail-above", "0") == 1
    assert "FAIL: DIVA top-1 success" in capsys.readouterr().out


def test_audit_without_qat_distils_a_surrogate(pair_files, tmp_path):
    assert _audit(pair_files, tmp_path / "b", qat=False) == 0
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["gradient_source"] == "surrogate distilled from the deployed model"
    assert report["surrogate"]["distil_images"] > 0 and 0 <= report["surrogate"]["agreement_with_deployed"] <= 1
    assert set(report["by_eps"]) == {"4/255", "8/255"}


def _tiny_tflite(path, size=32, classes=10):
    inp = tf_keras.Input((size, size, 3))
    model = tf_keras.Model(inp, tf_keras.layers.Dense(classes, activation="softmax")(tf_keras.layers.Flatten()(inp)))
    return adapt.to_tflite_float(model, path)


@pytest.mark.parametrize("change, message", [
    ({"original": "missing.keras"}, "--original .*missing.keras: no such file"),
    ({"original": "garbage.keras"}, "--original .*garbage.keras: could not be read as a Keras model"),
    ({"adapted": "garbage.tflite"}, "--adapted .*garbage.tflite: could not be read as a TFLite flatbuffer"),
    ({"adapted": "three.tflite"}, "has 3 classes but the original has 10"),
    ({"adapted": "small.tflite"}, r"takes inputs \(16, 16, 3\) but the original takes \(32, 32, 3\)"),
    ({"data": "float255.npz"}, r"pixels span \[0, 255\] after --scale auto, outside \[0, 1\]; use --scale 255"),
    ({"data": "labels.npz"}, r"labels span \[0, 12\] but the models have 10 classes"),
    ({"eps": "8/0"}, "--eps '8/0' is not a number"),
    ({"n": "0"}, "--n 0 must be at least 1"),
])
def test_bad_input_stops_before_any_attack(pair_files, tmp_path, capsys, change, message):
    root = pair_files["root"]
    (root / "garbage.keras").write_bytes(b"not a model")
    (root / "garbage.tflite").write_bytes(b"not a flatbuffer")
    _tiny_tflite(root / "three.tflite", classes=3)
    _tiny_tflite(root / "small.tflite", size=16)
    with np.load(pair_files["data"]) as z:
        np.savez(root / "float255.npz", x=z["x"].astype(np.float32), y=z["y"])
        np.savez(root / "labels.npz", x=z["x"], y=np.where(np.arange(len(z["y"])) == 3, 12, z["y"]))
    files = {**pair_files, **{k: root / v for k, v in change.items() if k in ("original", "adapted", "data")}}
    args = ["audit", "--original", str(files["original"]), "--adapted", str(files["adapted"]), "--data",
            str(files["data"]), "--eps", change.get("eps", "8/255"), "--n", change.get("n", "8"), "--out",
            str(tmp_path / "out")]
    assert cli.main(args) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # nothing was attacked, nothing written
