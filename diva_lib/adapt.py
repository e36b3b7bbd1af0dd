"""Model adaptation: quantization-aware training with tfmot, int8 TFLite conversion, LiteRT inference."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras

from diva_lib.cache import ArrayCache, file_digest
from diva_lib.files import atomic_write
from diva_lib.models import Preprocess
from diva_lib.stream import ImageSet

tf.get_logger().setLevel("ERROR")  # the converter's "Assets written to ..." lines are noise in a notebook
_q = tfmot.quantization.keras
_CONV_TYPES = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D, tf_keras.layers.Dense)


class OutputQuantizeConfig(_q.QuantizeConfig):
    """No weight quantizers; a moving-average quantizer (8 bits unless told) on the layer output."""

    def __init__(self, num_bits: int = 8):
        self.num_bits = int(num_bits)

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [_q.quantizers.MovingAverageQuantizer(num_bits=self.num_bits, per_axis=False, symmetric=False,
                                                     narrow_range=False)]

    def get_config(self):
        return {"num_bits": self.num_bits}


class KeepFloatQuantizeConfig(OutputQuantizeConfig):
    """Leave the layer float in the QAT graph; the int8 converter gives it its input's scale."""

    def get_output_quantizers(self, layer):
        return []


class InputRangeQuantizeConfig(OutputQuantizeConfig):
    """A quantizer (8 bits unless told) over the Preprocess layer's exact output range for [0, 1] pixels.

    tfmot's moving-average quantizer starts at [-6, 6] and moves 0.1 % per training batch, so a
    mean-subtracted 0-255 input (caffe, VGGFace2: about [-124, 151]) stays clipped for thousands
    of batches; the exact range needs no training. The range gets one quantization step of margin
    at each end: TensorFlow nudges a range so that 0 falls on the grid, by up to half a step, and a
    nudged [-1, 1] (MobileNet) becomes [-0.996, 1.004]; pixels at 0 then lie below it and their
    gradient through the fake quantizer is zero, which hides them from every gradient attack.
    """

    def __init__(self, low: float, high: float, num_bits: int = 8):
        super().__init__(num_bits)
        self.low, self.high = float(low), float(high)

    def get_output_quantizers(self, layer):
        step = (self.high - self.low) / (2**self.num_bits - 1)
        return [_q.quantizers.FixedQuantizer(num_bits=self.num_bits, init_min=self.low - step,
                                             init_max=self.high + step, narrow_range=False)]

    def get_config(self):
        return {"low": self.low, "high": self.high, "num_bits": self.num_bits}


_SCOPE = {
    "OutputQuantizeConfig": OutputQuantizeConfig,
    "KeepFloatQuantizeConfig": KeepFloatQuantizeConfig,
    "InputRangeQuantizeConfig": InputRangeQuantizeConfig,
    "Preprocess": Preprocess,
}


def preprocess_range(layer: Preprocess) -> tuple[float, float]:
    """(min, max) of the Preprocess layer's output over [0, 1] inputs."""
    scale, offset = np.broadcast_arrays(np.asarray(layer.scale, np.float64), np.asarray(layer.offset, np.float64))
    ends = np.stack([offset, scale + offset])
    return float(ends.min()), float(ends.max())


def _follows_conv(layer: tf_keras.layers.Layer) -> bool:
    inbound = layer._inbound_nodes[0].inbound_layers
    inbound = inbound if isinstance(inbound, list) else [inbound]
    return len(inbound) == 1 and isinstance(inbound[0], _CONV_TYPES)


def _annotate(layer: tf_keras.layers.Layer, bits: int = 8) -> tf_keras.layers.Layer:
    if isinstance(layer, Preprocess):
        return _q.quantize_annotate_layer(layer, InputRangeQuantizeConfig(*preprocess_range(layer), bits))
    if isinstance(layer, tf_keras.layers.BatchNormalization) and not _follows_conv(layer):
        return _q.quantize_annotate_layer(layer, OutputQuantizeConfig(bits))
    if isinstance(layer, (tf_keras.layers.Concatenate, tf_keras.layers.AveragePooling2D)):
        return _q.quantize_annotate_layer(layer, KeepFloatQuantizeConfig())
    return layer


def quantize(model: tf_keras.Model, preserve_sparsity: bool = False,
             calibration: np.ndarray | ImageSet | None = None, bits: int = 8) -> tf_keras.Model:
    """Wrap a float model for quantization-aware training (weights copied, not trained), 8 bits unless told.

    With `preserve_sparsity`, tfmot's pruning-preserving scheme keeps pruned weights at zero.
    The preprocessed input is quantized over its exact range (`InputRangeQuantizeConfig`), not
    over tfmot's moving-average range, which clips wide inputs such as caffe's 0-255 means.
    With `calibration` images, every activation range starts where its activations are
    (`calibrate` on the first `CALIBRATION_IMAGES`), not at tfmot's ±6. With `bits` other than 8,
    weights and every activation, the input included, use tfmot's experimental n-bit scheme (a
    QAT graph only: TFLite deploys 8 bits).

    Example:
        >>> qat = quantize(model, calibration=x_train)  # doctest: +SKIP
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ValueError(f"bits={bits!r} must be an integer in [2, 8]")
    if preserve_sparsity and bits != 8:
        raise ValueError(f"bits={bits} with preserve_sparsity: tfmot preserves sparsity in its 8-bit scheme only")
    annotated = tf_keras.models.clone_model(model, clone_function=lambda layer: _annotate(layer, bits))
    annotated.set_weights(model.get_weights())
    annotated = _q.quantize_annotate_model(annotated)
    scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme() if preserve_sparsity else None
    if bits != 8:
        scheme = _q.experimental.default_n_bit.DefaultNBitQuantizeScheme(num_bits_weight=bits,
                                                                          num_bits_activation=bits)
    with _q.quantize_scope(_SCOPE):
        qat = _q.quantize_apply(annotated, scheme) if scheme else _q.quantize_apply(annotated)
    if calibration is not None:
        calibrate(qat, np.asarray(calibration[:CALIBRATION_IMAGES], np.float32))
    return qat


def copy_float_weights(qat: tf_keras.Model, model: tf_keras.Model) -> None:
    """Give a float model the float parameters inside a QAT model of the same architecture (by variable name)."""
    inside = {v.name: v for v in qat.weights}
    missing = [v.name for v in model.weights if v.name not in inside]
    if missing:
        raise ValueError(f"the QAT model has no variable {missing[0]!r}; is it a QAT model of {model.name}?")
    for v in model.weights:
        v.assign(inside[v.name])


def prune(model: tf_keras.Model, target_sparsity: float, end_step: int) -> tf_keras.Model:
    """Wrap every Conv2D, DepthwiseConv2D and Dense layer for magnitude pruning (tfmot prune_low_magnitude).

    Sparsity rises from 0 to `target_sparsity` along tfmot's polynomial decay schedule over
    `end_step` training steps, as in the authors' artifact. Train with `pruning_callbacks()`.
    tfmot's registry prunes Conv2D and Dense kernels; it leaves DepthwiseConv2D kernels dense.
    """
    if not 0 < target_sparsity < 1:
        raise ValueError(f"target_sparsity={target_sparsity} must be in (0, 1); the paper's artifact uses 0.8")
    if end_step < 1:
        raise ValueError(f"end_step={end_step} must be >= 1 training step")
    schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=target_sparsity,
                                                    begin_step=0, end_step=end_step, frequency=max(1, end_step // 20))

    def wrap(layer: tf_keras.layers.Layer) -> tf_keras.layers.Layer:
        if isinstance(layer, _CONV_TYPES):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    return tf_keras.models.clone_model(model, clone_function=wrap)


def pruning_callbacks() -> list[tf_keras.callbacks.Callback]:
    """The callback that advances the pruning schedule during `fit`."""
    return [tfmot.sparsity.keras.UpdatePruningStep()]


def strip_pruning(model: tf_keras.Model) -> tf_keras.Model:
    """The plain Keras model with the pruned (zeroed) weights and no pruning wrappers."""
    return tfmot.sparsity.keras.strip_pruning(model)


_KERNELS = {tf_keras.layers.DepthwiseConv2D: "depthwise_kernel", tf_keras.layers.Conv2D: "kernel",
            tf_keras.layers.Dense: "kernel"}


def sparsity(model: tf_keras.Model) -> dict[str, float]:
    """Share of exactly-zero kernel weights per layer kind (Conv2D, DepthwiseConv2D, Dense) and overall."""
    zeros: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for layer in model.submodules:
        for kind, attr in _KERNELS.items():
            if type(layer) is kind:
                w = getattr(layer, attr).numpy()
                zeros[kind.__name__] = zeros.get(kind.__name__, 0) + int((w == 0).sum())
                sizes[kind.__name__] = sizes.get(kind.__name__, 0) + w.size
    out = {k: zeros[k] / sizes[k] for k in sizes}
    out["all"] = sum(zeros.values()) / max(1, sum(sizes.values()))
    return out


def tflite_weight_sparsity(path: str | Path) -> float:
    """Share of exactly-zero values in the constant weight tensors (2-D and up) of a TFLite flatbuffer."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    dtypes = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.INT8: np.int8}
    graph = model.Subgraphs(0)
    zeros = total = 0
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        buffer = model.Buffers(t.Buffer())
        if buffer.DataLength() == 0 or t.ShapeLength() < 2 or t.Type() not in dtypes:
            continue
        values = buffer.DataAsNumpy().view(dtypes[t.Type()])
        zeros, total = zeros + int((values == 0).sum()), total + values.size
    return zeros / total if total else float("nan")


def _converter(model: tf_keras.Model) -> tf.lite.TFLiteConverter:
    """A converter of the model's inference-mode call, traced once and frozen.

    `from_keras_model` first exports a Keras SavedModel, tracing every layer's call; for a QAT
    DenseNet121 that takes ~100 s of a ~110 s conversion. The frozen concrete function yields a
    model with the same outputs (checked in tests) in a tenth of the time.
    """
    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
    fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], model)
    converter.experimental_lower_to_saved_model = False
    return converter


def to_tflite_float(model: tf_keras.Model, path: str | Path) -> Path:
    """Convert a float Keras model to a float32 TFLite flatbuffer, written atomically."""
    return _write_atomic(_converter(model).convert(), path)


def gzipped_size(path: str | Path, cache: ArrayCache | None = None) -> int:
    """Bytes of a file after gzip -9 (how pruning shrinks a download), memoised by the file's content."""
    import gzip

    stored = (cache or ArrayCache()).get_or_compute(
        "gzip9", file_digest(path),
        lambda: {"size": np.array(len(gzip.compress(Path(path).read_bytes(), compresslevel=9)))})
    return int(stored["size"])


def _write_atomic(blob: bytes, path: str | Path) -> Path:
    with atomic_write(path) as f:
        f.write(blob)
    return Path(path)


def quantize_scope():
    """Custom objects needed to rebuild or load a QAT model."""
    return _q.quantize_scope(_SCOPE)


def to_tflite_int8(qat_model: tf_keras.Model, path: str | Path, calibration: np.ndarray) -> Path:
    """Convert a QAT model to an all-int8 TFLite flatbuffer (int8 input and output), written atomically.

    The QAT fake-quant ranges fix the scales; `calibration` images (a few hundred suffice) cover
    any tensor the QAT graph left without a range.
    """
    if len(calibration) == 0:
        raise ValueError("calibration must hold at least one image, e.g. 200 training images")
    converter = _converter(qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None].astype(np.float32)] for x in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return _write_atomic(converter.convert(), path)


class TFLiteModel:
    """Run a TFLite model on batches with the LiteRT interpreter, handling int8 (de)quantization."""

    def __init__(self, model_path: str | Path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(model_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"TFLite model {self.path} does not exist; build it with diva_lib.zoo")
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads or os.cpu_count())
        self._in = self._interpreter.get_input_details()[0]
        self._out = self._interpreter.get_output_details()[0]
        self._batch = None
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """Content hash of the flatbuffer (computed once; the file is written once, atomically)."""
        if self._fingerprint is None:
            self._fingerprint = file_digest(self.path)
        return self._fingerprint

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input image, (H, W, C)."""
        return tuple(int(d) for d in self._in["shape"][1:])

    @property
    def num_classes(self) -> int:
        """Length of the output vector."""
        return int(self._out["shape"][-1])

    @property
    def input_scale(self) -> tuple[float, int]:
        """(scale, zero point) of the int8 input tensor."""
        scale, zero = self._in["quantization"]
        return float(scale), int(zero)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Round float images to the 8-bit input grid the deployed model sees."""
        if self._in["dtype"] == np.float32:
            return x.astype(np.float32)
        scale, zero = self.input_scale
        info = np.iinfo(self._in["dtype"])
        return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(self._in["dtype"])

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            shape = [batch, *self._in["shape"][1:]]
            self._interpreter.resize_tensor_input(self._in["index"], shape)
            self._interpreter.allocate_tensors()
            self._batch = batch

    def predict(self, x: np.ndarray | ImageSet, batch_size: int = 64) -> np.ndarray:
        """Softmax outputs (float32) for images in [0, 1], shape (N, H, W, 3), or an ImageSet read batch by batch."""
        x = x if isinstance(x, ImageSet) else np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"input shape {x.shape} does not match the model's (N, {self.input_shape})")
        outs = []
        for start in range(0, len(x), batch_size):
            chunk = self.quantize_input(np.asarray(x[start : start + batch_size], np.float32))
            self._resize(len(chunk))
            self._interpreter.set_tensor(self._in["index"], chunk)
            self._interpreter.invoke()
            out = self._interpreter.get_tensor(self._out["index"])
            if self._out["dtype"] != np.float32:
                scale, zero = self._out["quantization"]
                out = (out.astype(np.float32) - zero) * scale
            outs.append(out)
        return np.concatenate(outs) if outs else np.zeros((0, self._out["shape"][-1]), np.float32)

    def tensor_types(self) -> dict[str, int]:
        """Count of tensors per dtype name, to check the model is integer-only."""
        counts: dict[str, int] = {}
        for t in self._interpreter.get_tensor_details():
            name = np.dtype(t["dtype"]).name
            counts[name] = counts.get(name, 0) + 1
        return counts


CALIBRATION_IMAGES = 512  # training images that set the activation ranges before QAT
_EMA_DECAY = 0.999  # tfmot MovingAverageQuantizer's fixed decay of its range variables
_RANGE_SUFFIXES = ("output_min", "output_max", "pre_activation_min", "pre_activation_max",
                   "post_activation_min", "post_activation_max")


def _leaf(v: tf.Variable) -> str:
    """A variable's own name: 'quant_conv1_relu/output_min:0' -> 'output_min'."""
    return v.name.split("/")[-1].split(":")[0]


def activation_ranges(qat: tf_keras.Model) -> dict[str, tuple[tf.Variable, tf.Variable]]:
    """The (min, max) variables of every moving-average activation quantizer of a QAT model, by name."""
    found: dict[str, dict[str, tf.Variable]] = {}
    for layer in qat.layers:
        for v in layer.weights:
            leaf = _leaf(v)
            if leaf in _RANGE_SUFFIXES:
                kind, end = leaf.rsplit("_", 1)
                found.setdefault(f"{layer.name}/{kind}", {})[end] = v
    return {k: (d["min"], d["max"]) for k, d in found.items() if set(d) == {"min", "max"}}


class _RangeProbe:
    """Training-mode passes of a QAT model with BatchNormalization frozen, traced once, that read its activation ranges.

    Each batch's extremes are read out of the quantizers' own moving-average update (inverted
    exactly); the activation ranges are restored after every pass. The weight quantizers keep the
    ranges of the current weights, as any training step sets them.
    """

    def __init__(self, qat: tf_keras.Model):
        self.ranges = activation_ranges(qat)
        self._bns = [m for m in qat.submodules if isinstance(m, tf_keras.layers.BatchNormalization)]
        self._trainable = [bn.trainable for bn in self._bns]
        for bn in self._bns:
            bn.trainable = False  # Keras 2: a frozen BatchNormalization runs in inference mode
        self._forward = tf.function(lambda xb: qat(xb, training=True))

    def close(self) -> None:
        """Give every BatchNormalization layer back its trainable flag."""
        for bn, trainable in zip(self._bns, self._trainable, strict=True):
            bn.trainable = trainable

    def observe(self, x: np.ndarray, batch_size: int) -> dict[str, tuple[float, float]]:
        """The mean over batches of each quantizer's (min, max) on `x`."""
        keys = list(self.ranges)
        flat = [v for k in keys for v in self.ranges[k]]
        saved = np.array([v.numpy() for v in flat], np.float32)
        sums, n = np.zeros(len(flat)), 0
        try:
            for start in range(0, len(x), batch_size):
                before = np.array([v.numpy() for v in flat], np.float32)
                self._forward(tf.constant(x[start : start + batch_size], tf.float32))
                after = np.array([v.numpy() for v in flat], np.float32)
                sums += before + (after - before) / (1 - _EMA_DECAY)  # float32, as the variables are
                n += 1
        finally:
            for v, value in zip(flat, saved, strict=True):
                v.assign(value)
        means = sums / max(n, 1)
        return {k: (float(means[2 * i]), float(means[2 * i + 1])) for i, k in enumerate(keys)}


def observed_ranges(qat: tf_keras.Model, x: np.ndarray, batch_size: int = 64) -> dict[str, tuple[float, float]]:
    """The range each activation quantizer of a QAT model sees on `x`: the mean over batches of (min, max).

    That mean is where tfmot's moving average settles. The quantizers see the activations of the
    model in inference mode; the activation ranges are left as they were.
    """
    probe = _RangeProbe(qat)
    try:
        return probe.observe(x, batch_size)
    finally:
        probe.close()


def calibrate(qat: tf_keras.Model, x: np.ndarray, batch_size: int = 64, max_passes: int = 10,
              tolerance: float = 0.01) -> dict[str, tuple[float, float]]:
    """Set every activation quantizer's range to what it sees on `x`.

    Before QAT this replaces tfmot's ±6 starting ranges; after QAT and BatchNormalization
    recalibration it fits them to the settled weights and statistics. A pass measures each
    quantizer under the ranges of the previous pass, so a range that clipped its layer's output
    stops distorting the layers after it; passes repeat until no end moves by more than
    `tolerance` of its range's width (at most `max_passes`). Returns the ranges.
    """
    if len(x) == 0:
        raise ValueError("calibrate needs at least one image, e.g. 512 training images")
    for v in qat.weights:  # the input's all-values quantizer, which starts at [0, 0]
        if _leaf(v) in ("quantize_layer_min", "quantize_layer_max"):
            v.assign(min(float(x.min()), 0.0) if _leaf(v).endswith("min") else max(float(x.max()), 0.0))
    probe = _RangeProbe(qat)
    ranges = probe.ranges
    seen: dict[str, tuple[float, float]] = {}
    try:
        for _ in range(max_passes):
            before = {k: (float(lo.numpy()), float(hi.numpy())) for k, (lo, hi) in ranges.items()}
            seen = probe.observe(x, batch_size)
            moved = 0.0
            for k, (lo, hi) in seen.items():
                lo, hi = min(lo, 0.0), max(hi, 0.0)  # tfmot keeps 0 inside every range, as TFLite requires
                ranges[k][0].assign(lo)
                ranges[k][1].assign(hi)
                width = max(hi - lo, 1e-6)
                moved = max(moved, abs(lo - before[k][0]) / width, abs(hi - before[k][1]) / width)
            if moved <= tolerance:
                break
    finally:
        probe.close()
    return seen
