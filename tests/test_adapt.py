"""QAT and int8 TFLite conversion of all three architectures (smoke size), shared with the notebook test."""

import numpy as np
import pytest

from diva_lib import adapt, metrics
from diva_lib.config import ARCHS

pytestmark = pytest.mark.needs_data("fashion_mnist")


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
    agreement = 1 - metrics.disagreement(p_qat, p_int8).value
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


def _tiny_conv(seed: int = 0):
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    inp = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = tf_keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    return tf_keras.Model(inp, tf_keras.layers.Dense(4, activation="softmax")(x))


def test_pruning_reaches_target_and_int8_keeps_the_zeros(tmp_path):
    from diva_lib import train

    rng = np.random.default_rng(0)
    x, y = rng.random((256, 8, 8, 3), dtype=np.float32), rng.integers(0, 4, 256)
    wrapped = adapt.prune(_tiny_conv(), 0.8, end_step=12)
    train.fit(wrapped, x, y, epochs=4, learning_rate=1e-3, batch_size=32, seed=0, callbacks=adapt.pruning_callbacks())
    pruned = adapt.strip_pruning(wrapped)
    sp = adapt.sparsity(pruned)
    assert set(sp) == {"Conv2D", "DepthwiseConv2D", "Dense", "all"}
    assert abs(sp["Conv2D"] - 0.8) < 0.02 and abs(sp["Dense"] - 0.8) < 0.02, sp
    assert sp["DepthwiseConv2D"] < 0.05, sp  # tfmot's registry leaves depthwise kernels dense
    adapt.to_tflite_float(pruned, tmp_path / "pruned.tflite")
    assert adapt.tflite_weight_sparsity(tmp_path / "pruned.tflite") > 0.55
    qat = adapt.quantize(pruned, preserve_sparsity=True)
    train.fit(qat, x, y, epochs=1, learning_rate=1e-3, batch_size=32, seed=0)
    adapt.to_tflite_int8(qat, tmp_path / "pq.tflite", x[:16])
    assert adapt.tflite_weight_sparsity(tmp_path / "pq.tflite") > 0.55
    dense = _tiny_conv()
    adapt.to_tflite_float(dense, tmp_path / "dense.tflite")
    assert adapt.gzipped_size(tmp_path / "pruned.tflite") < adapt.gzipped_size(tmp_path / "dense.tflite")


@pytest.mark.parametrize("kwargs, needle", [({"target_sparsity": 1.0, "end_step": 5}, "target_sparsity=1.0"),
                                            ({"target_sparsity": 0.5, "end_step": 0}, "end_step=0")])
def test_bad_pruning_parameters(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        adapt.prune(_tiny_conv(), **kwargs)


def test_qat_keeps_a_wide_preprocessed_input_unclipped(tmp_path):
    import tf_keras

    from diva_lib import train
    from diva_lib.models import Preprocess

    tf_keras.utils.set_random_seed(0)
    inp = tf_keras.Input((8, 8, 3))
    pre = Preprocess("vggface2")
    out = tf_keras.layers.Dense(4, activation="softmax")(tf_keras.layers.Flatten()(
        tf_keras.layers.Conv2D(8, 3, activation="relu")(pre(inp))))
    model = tf_keras.Model(inp, out)
    low, high = adapt.preprocess_range(pre)
    assert low == pytest.approx(-131.0912) and high == pytest.approx(255 - 91.4953, rel=1e-6)
    rng = np.random.default_rng(0)
    x, y = rng.random((128, 8, 8, 3), dtype=np.float32), rng.integers(0, 4, 128)
    with adapt.quantize_scope():
        qat = adapt.quantize(model)
    train.fit(qat, x, y, epochs=1, learning_rate=1e-3, batch_size=32, seed=0)
    wrapped = next(layer for layer in qat.layers if "preprocess" in layer.name)
    quantized_input = tf_keras.Model(qat.input, wrapped.output)(x).numpy()
    assert quantized_input.min() < -100 and quantized_input.max() > 100  # a ±6 starting range would clip here
    adapt.to_tflite_int8(qat, tmp_path / "m.tflite", x[:32])
    agree = (adapt.TFLiteModel(tmp_path / "m.tflite").predict(x).argmax(1) == qat.predict(x, verbose=0).argmax(1))
    assert agree.mean() >= 0.9


@pytest.mark.parametrize("mode", ["tf", "torch", "caffe", "vggface2"])
def test_every_pixel_has_a_gradient_through_the_input_quantizer(mode):
    """Pixels at 0 and at 1 included: a nudged range that cut them off would hide them from gradient attacks."""
    import tensorflow as tf
    import tf_keras

    from diva_lib.models import Preprocess

    inp = tf_keras.Input((4, 4, 3))
    out = tf_keras.layers.Dense(2, activation="softmax")(tf_keras.layers.Flatten()(Preprocess(mode)(inp)))
    with adapt.quantize_scope():
        qat = adapt.quantize(tf_keras.Model(inp, out))
    wrapped = next(layer for layer in qat.layers if "preprocess" in layer.name)
    x = tf.constant(np.random.default_rng(0).integers(0, 2, (8, 4, 4, 3)).astype(np.float32))  # only 0s and 1s
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(tf_keras.Model(qat.input, wrapped.output)(x))
    assert np.all(tape.gradient(total, x).numpy() != 0)


def test_frozen_conversion_matches_the_keras_savedmodel_route(tmp_path):
    import tensorflow as tf
    import tf_keras

    from diva_lib import train

    tf_keras.utils.set_random_seed(0)
    inp = tf_keras.Input((8, 8, 3))
    a = tf_keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    b = tf_keras.layers.BatchNormalization()(tf_keras.layers.Concatenate()([inp, a]))  # a BN after no conv
    x = tf_keras.layers.AveragePooling2D(2)(tf_keras.layers.Conv2D(8, 1, activation="relu")(b))
    model = tf_keras.Model(inp, tf_keras.layers.Dense(4, activation="softmax")(tf_keras.layers.Flatten()(x)))
    rng = np.random.default_rng(0)
    x, y = rng.random((128, 8, 8, 3), dtype=np.float32), rng.integers(0, 4, 128)
    with adapt.quantize_scope():
        qat = adapt.quantize(model)
    train.fit(qat, x, y, epochs=2, learning_rate=1e-3, batch_size=32, seed=0)
    adapt.to_tflite_int8(qat, tmp_path / "frozen.tflite", x[:32])
    keras_route = tf.lite.TFLiteConverter.from_keras_model(qat)
    keras_route.optimizations = [tf.lite.Optimize.DEFAULT]
    keras_route.representative_dataset = lambda: ([v[None]] for v in x[:32])
    keras_route.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    keras_route.inference_input_type = keras_route.inference_output_type = tf.int8
    (tmp_path / "keras.tflite").write_bytes(keras_route.convert())
    np.testing.assert_array_equal(adapt.TFLiteModel(tmp_path / "frozen.tflite").predict(x),
                                  adapt.TFLiteModel(tmp_path / "keras.tflite").predict(x))
    adapt.to_tflite_float(model, tmp_path / "float.tflite")
    np.testing.assert_allclose(adapt.TFLiteModel(tmp_path / "float.tflite").predict(x), model.predict(x, verbose=0),
                               atol=1e-5)


def _tiny_relu_model():
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    inp = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.Conv2D(6, 3, name="conv")(inp)
    x = tf_keras.layers.BatchNormalization(name="bn")(x)
    x = tf_keras.layers.ReLU(name="relu")(x)
    out = tf_keras.layers.Dense(4, activation="softmax", name="head")(tf_keras.layers.Flatten()(x))
    return tf_keras.Model(inp, out)


def test_calibration_sets_each_range_to_what_its_quantizer_sees():
    import tf_keras

    model = _tiny_relu_model()
    x = np.random.default_rng(0).random((256, 8, 8, 3), dtype=np.float32) * 3
    qat = adapt.quantize(model)
    assert {k: (float(lo.numpy()), float(hi.numpy())) for k, (lo, hi) in adapt.activation_ranges(qat).items()}[
        "quant_relu/output"] == (-6.0, 6.0)  # tfmot's start
    seen = adapt.calibrate(qat, x, batch_size=64)
    relu = tf_keras.Model(model.input, model.get_layer("relu").output)
    expect = np.mean([relu(x[i : i + 64]).numpy().max() for i in range(0, 256, 64)])
    assert seen["quant_relu/output"][0] == pytest.approx(0.0, abs=1e-3)  # a ReLU's minimum is 0
    assert seen["quant_relu/output"][1] == pytest.approx(expect, rel=0.05)  # within the 8-bit input noise
    lo, hi = adapt.activation_ranges(qat)["quant_relu/output"]
    assert (float(lo.numpy()), float(hi.numpy())) == pytest.approx((0.0, seen["quant_relu/output"][1]), abs=1e-5)
    again = adapt.observed_ranges(qat, x, batch_size=64)  # measuring leaves the ranges where they were
    assert float(hi.numpy()) == pytest.approx(seen["quant_relu/output"][1], abs=1e-5)
    assert again["quant_relu/output"][1] == pytest.approx(seen["quant_relu/output"][1], rel=0.02)
    logits = again["quant_head/pre_activation"]
    assert logits[0] < 0 < logits[1]


def test_calibration_keeps_the_qat_model_as_accurate_as_the_float_one():
    model = _tiny_relu_model()
    rng = np.random.default_rng(1)
    x = rng.random((256, 8, 8, 3), dtype=np.float32) * 3
    p_float = model.predict(x, verbose=0)
    raw, calibrated = adapt.quantize(model), adapt.quantize(model, calibration=x)
    agree = {name: (m.predict(x, verbose=0).argmax(1) == p_float.argmax(1)).mean()
             for name, m in (("raw", raw), ("calibrated", calibrated))}
    assert agree["calibrated"] >= 0.95 and agree["calibrated"] >= agree["raw"], agree


def test_copy_float_weights_recovers_the_original_from_its_qat_model():
    model = _tiny_relu_model()
    qat = adapt.quantize(model)
    fresh = _tiny_relu_model()
    fresh.get_layer("conv").set_weights([w * 0 for w in fresh.get_layer("conv").get_weights()])
    adapt.copy_float_weights(qat, fresh)
    for a, b in zip(model.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="has no variable"):
        adapt.copy_float_weights(adapt.quantize(_tiny_conv()), fresh)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_after_qat_every_activation_range_is_tight_around_what_it_sees(arch, smoke_zoo, smoke_data):
    qat = smoke_zoo(arch).qat.model
    seen = adapt.observed_ranges(qat, smoke_data.x_train[: adapt.CALIBRATION_IMAGES])  # the images QAT trained on
    stored = {k: (float(lo.numpy()), float(hi.numpy())) for k, (lo, hi) in adapt.activation_ranges(qat).items()}
    assert len(seen) > 10 and seen.keys() == stored.keys()
    for k, (lo, hi) in seen.items():
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        width = hi - lo
        assert abs(stored[k][0] - lo) <= 0.1 * width and abs(stored[k][1] - hi) <= 0.1 * width, (k, stored[k], lo, hi)
        if "relu" in k:
            assert stored[k][0] == pytest.approx(0.0, abs=0.01 * width), (k, stored[k])


def test_fewer_bits_give_fewer_output_levels_and_bad_widths_are_refused():
    model = _tiny_relu_model()
    x = np.random.default_rng(2).random((128, 8, 8, 3), dtype=np.float32)
    levels = {}
    for bits in (8, 2):
        qat = adapt.quantize(model, calibration=x, bits=bits)
        out = qat.predict(x, verbose=0)
        levels[bits] = len(np.unique(np.round(out, 6)))
    assert levels[2] < levels[8], levels
    for bad in (1, 9, 8.0, True):
        with pytest.raises(ValueError, match="bits="):
            adapt.quantize(model, bits=bad)
    with pytest.raises(ValueError, match="preserve_sparsity"):
        adapt.quantize(model, preserve_sparsity=True, bits=4)
