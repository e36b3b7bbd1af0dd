"""QAT and int8 TFLite conversion of all three architectures (smoke size), shared with the notebook test."""

import numpy as np
import pytest

from diva_lib import adapt, metrics
from diva_lib.config import ARCHS


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_qat_converts_to_all_int8_and_agrees(arch, smoke_zoo, smoke_data):
    entry = smoke_zoo(arch)
    types = entry.tflite.tensor_types()
    assert types.get("int8", 0) > 50 and types.get("float32", 0) <= 1, types  # at most the float input placeholder
    assert entry.tflite._in["dtype"] == np.int8
    scale, zero = entry.tflite.input_scale
    assert scale == pytest.approx(1 / 255, rel=1e-3) and zero == -128  # [0, 1] pixels map onto the 8-bit grid
    x = smoke_data.x_test
    p_qat = entry.qat.predict(x, verbose=0)
    p_int8 = entry.tflite.predict(x, batch_size=50)
    assert p_int8.shape == p_qat.shape
    np.testing.assert_allclose(p_int8.sum(1), 1.0, atol=0.05)
    # Smoke models are barely trained, so small numeric differences flip many top-1 predictions
    # (the default run measures 1-3 %); a broken conversion (wrong input scale, say) breaks
    # the shape of the output distribution, which the per-image correlation catches.
    agreement = 1 - metrics.instability(p_qat, p_int8).value
    assert agreement >= 0.6, f"{arch}: QAT graph and int8 TFLite agree on only {agreement:.1%}"
    a, b = p_qat - p_qat.mean(1, keepdims=True), p_int8 - p_int8.mean(1, keepdims=True)
    corr = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1) + 1e-12)
    assert np.median(corr) >= 0.9, f"{arch}: median correlation of QAT and int8 outputs {np.median(corr):.2f}"
    assert entry.build_seconds["tflite_convert_s"] > 0


@pytest.mark.slow
def test_zoo_reuses_cache(smoke_profile, smoke_data, smoke_zoo):
    from diva_lib import zoo

    smoke_zoo("mobilenet")
    again = zoo.get("mobilenet", smoke_profile, seed=0, stand_in=smoke_data)
    np.testing.assert_array_equal(again.fp32.get_weights()[0], smoke_zoo("mobilenet").fp32.get_weights()[0])


def test_tflite_runner_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        adapt.TFLiteModel(tmp_path / "absent.tflite")


@pytest.mark.slow
def test_tflite_runner_rejects_bad_shape(smoke_zoo):
    with pytest.raises(ValueError, match="does not match"):
        smoke_zoo("mobilenet").tflite.predict(np.zeros((2, 28, 28, 3), np.float32))


def test_calibration_required():
    with pytest.raises(ValueError, match="calibration"):
        adapt.to_tflite_int8(None, "x.tflite", np.zeros((0, 32, 32, 3)))
