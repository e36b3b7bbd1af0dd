"""The three architectures of the paper, taking RGB images in [0, 1] and returning softmax."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import tensorflow as tf
import tf_keras

from diva_lib.cache import file_digest, release_memory
from diva_lib.config import ARCHS

# Keras' `preprocess_input` modes, written as per-channel affine maps on [0, 1] input.
_MEAN_STD = {
    # caffe: RGB->BGR, x*255 - ImageNet mean (BGR)
    "caffe": ((103.939, 116.779, 123.68), (1 / 255, 1 / 255, 1 / 255), True),
    # tf: x*2 - 1
    "tf": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), False),
    # torch: (x - mean) / std
    "torch": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), False),
    # keras-vggface utils.preprocess_input(version=2): RGB->BGR, x*255 - VGGFace2 mean (BGR)
    "vggface2": ((91.4953, 103.8827, 131.0912), (1 / 255, 1 / 255, 1 / 255), True),
}
_PIXEL_MODES = ("caffe", "vggface2")  # modes that subtract a mean from 0-255 pixels
PREPROCESS_MODE = {"resnet50": "caffe", "mobilenet": "tf", "densenet121": "torch"}
_APPS = {
    "resnet50": tf_keras.applications.ResNet50,
    "mobilenet": tf_keras.applications.MobileNet,
    "densenet121": tf_keras.applications.DenseNet121,
}


@tf_keras.utils.register_keras_serializable(package="diva_lib")
class Preprocess(tf_keras.layers.Layer):
    """Map [0, 1] RGB pixels to the input range an architecture was trained on."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in _MEAN_STD:
            raise ValueError(f"Preprocess mode={mode!r} is unknown; use one of {sorted(_MEAN_STD)}")
        self.mode = mode
        mean, std, self.bgr = _MEAN_STD[mode]
        if mode in _PIXEL_MODES:
            self.scale = tf.constant([255.0, 255.0, 255.0])
            self.offset = -tf.constant(mean)
        else:
            self.scale = 1.0 / tf.constant(std)
            self.offset = -tf.constant(mean) / tf.constant(std)

    def call(self, x):
        if self.bgr:
            x = x[..., ::-1]
        return x * self.scale + self.offset

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def build_model(arch: str, num_classes: int, image_size: int, weights: str | None = None) -> tf_keras.Model:
    """Build a flat functional model: Preprocess -> backbone -> softmax classifier."""
    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r} is unknown; use one of {ARCHS}")
    if weights not in (None, "imagenet"):
        raise ValueError(f"weights={weights!r} must be None or 'imagenet'")
    inputs = tf_keras.Input((image_size, image_size, 3), name="image")
    x = Preprocess(PREPROCESS_MODE[arch], name="preprocess")(inputs)
    if weights == "imagenet" and num_classes == 1000:
        base = _APPS[arch](include_top=True, weights="imagenet", input_tensor=x)
        outputs = base.output
    else:
        base = _APPS[arch](include_top=False, weights=weights, input_tensor=x, pooling="avg")
        outputs = tf_keras.layers.Dense(num_classes, activation="softmax", name="predictions")(base.output)
    return tf_keras.Model(inputs, outputs, name=arch)


class LazyModel:
    """A Keras model whose weights are in a file, built on first use; attributes and calls go to the model.

    Its `fingerprint()` (a hash of the weights file) identifies it to the memoised predictions
    and attack runs without building it, so a rerun on full caches builds no model it does not use.
    """

    def __init__(self, weights_file: str | Path, build: Callable[[], tf_keras.Model], input_shape: tuple,
                 output_shape: tuple):
        self.weights_file, self._build, self._model = Path(weights_file), build, None
        self.input_shape, self.output_shape = tuple(input_shape), tuple(output_shape)
        self._fingerprint: str | None = None

    @property
    def model(self) -> tf_keras.Model:
        """The Keras model, built and given the file's weights on first use (outside any tf.function)."""
        if self._model is None:
            if tf.inside_function():
                raise RuntimeError(f"the model of {self.weights_file} is first used inside a tf.function; build it "
                                   "before tracing with models.eager(model)")
            model = self._build()
            model.load_weights(str(self.weights_file))
            self._model = model
        return self._model

    def fingerprint(self) -> str:
        """Content hash of the weights file (computed once; cached files are written once, atomically)."""
        if self._fingerprint is None:
            self._fingerprint = file_digest(self.weights_file)
        return self._fingerprint

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_model", "_build", "_fingerprint"):
            raise AttributeError(name)
        return getattr(self.model, name)


def release(*models: Any) -> None:
    """Drop the built Keras model of each `LazyModel` given (rebuilt on its next use) and free what nothing holds."""
    for m in models:
        if isinstance(m, LazyModel):
            m._model = None
    release_memory()  # collect, then hand the freed heap back to the OS


def eager(model: LazyModel | tf_keras.Model) -> tf_keras.Model:
    """The Keras model behind a `LazyModel` (built now, as tracing a tf.function needs), or the model itself."""
    return model.model if isinstance(model, LazyModel) else model


def penultimate(model: tf_keras.Model) -> tf_keras.Model:
    """A model returning the input of the last (classifier) layer, for representation studies."""
    return tf_keras.Model(model.inputs, model.layers[-1].input)


def _softmax_dense(model: tf_keras.Model) -> tf_keras.layers.Dense:
    """The model's softmax classifier layer (inside tfmot's wrapper on a QAT graph); ValueError otherwise."""
    last = model.layers[-1]
    dense = getattr(last, "layer", last)
    act = getattr(dense, "activation", None)
    act = getattr(act, "activation", act)  # QAT: inside tfmot's QuantizeAwareActivation
    if not isinstance(dense, tf_keras.layers.Dense) or getattr(act, "__name__", None) != "softmax":
        raise ValueError(f"the last layer of {model.name!r} ({last.name!r}) is not a softmax Dense; logits needs one")
    return dense


def logits(model: tf_keras.Model) -> Callable[[tf.Tensor], tf.Tensor]:
    """The pre-softmax outputs of a float or QAT classifier: softmax(logits(model)(x)) is model(x).

    On a QAT graph they are the fake-quantized logits the softmax reads (tfmot quantizes a
    softmax's input), so a loss on them sees what the model sees without the softmax, whose
    float32 output saturates at exactly 1 for a confident image and then passes no gradient.

    Example:
        >>> z = logits(qat)(x)  # doctest: +SKIP
    """
    dense, last = _softmax_dense(model), model.layers[-1]
    features = penultimate(model)
    if dense is last:
        return lambda x: tf.matmul(features(x, training=False), dense.kernel) + dense.bias
    (kernel, quantizer, qvars), = last._weight_vars
    act = dense.activation

    def quantized(x: tf.Tensor) -> tf.Tensor:
        z = tf.matmul(features(x, training=False), quantizer(kernel, False, weights=qvars)) + dense.bias
        return act.quantizer(z, False, weights=act._pre_activation_vars)

    return quantized


def _vggface_block(x, filters: tuple[int, int, int], stage: int, block: int, strides: int = 1,
                   project: bool = False):
    """A bottleneck block of VGGFace ResNet50, with keras-vggface's layer names."""
    name = f"conv{stage}_{block}"
    shortcut = x
    for i, (f, k, suffix) in enumerate(((filters[0], 1, "1x1_reduce"), (filters[1], 3, "3x3"),
                                        (filters[2], 1, "1x1_increase"))):
        x = tf_keras.layers.Conv2D(f, k, strides=strides if i == 0 else 1, padding="same" if k == 3 else "valid",
                                   use_bias=False, name=f"{name}_{suffix}")(x)
        x = tf_keras.layers.BatchNormalization(name=f"{name}_{suffix}/bn")(x)
        if i < 2:
            x = tf_keras.layers.Activation("relu")(x)
    if project:
        shortcut = tf_keras.layers.Conv2D(filters[2], 1, strides=strides, use_bias=False,
                                          name=f"{name}_1x1_proj")(shortcut)
        shortcut = tf_keras.layers.BatchNormalization(name=f"{name}_1x1_proj/bn")(shortcut)
    return tf_keras.layers.Activation("relu")(tf_keras.layers.add([x, shortcut]))


VGGFACE_STAGES = ((2, (64, 64, 256), 3, 1), (3, (128, 128, 512), 4, 2), (4, (256, 256, 1024), 6, 2),
                  (5, (512, 512, 2048), 3, 2))


def build_vggface_resnet50(num_classes: int, image_size: int) -> tf_keras.Model:
    """VGGFace ResNet50 (Cao et al., VGGFace2) with keras-vggface's layer names, for [0, 1] RGB faces.

    Layer names match keras-vggface's RESNET50, so `load_weights(path, by_name=True)` loads its
    `rcmalli_vggface_tf_notop_resnet50.h5`. The final average pooling spans the whole feature
    map (7×7 at 224×224, as in keras-vggface), then a softmax `classifier` for `num_classes` people.
    """
    if image_size < 32:
        raise ValueError(f"image_size={image_size} must be >= 32 for VGGFace ResNet50")
    inputs = tf_keras.Input((image_size, image_size, 3), name="image")
    x = Preprocess("vggface2", name="preprocess")(inputs)
    x = tf_keras.layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False, name="conv1/7x7_s2")(x)
    x = tf_keras.layers.BatchNormalization(name="conv1/7x7_s2/bn")(x)
    x = tf_keras.layers.Activation("relu")(x)
    x = tf_keras.layers.MaxPooling2D(3, strides=2)(x)
    for stage, filters, blocks, stride in VGGFACE_STAGES:
        for block in range(1, blocks + 1):
            x = _vggface_block(x, filters, stage, block, strides=stride if block == 1 else 1, project=block == 1)
    x = tf_keras.layers.AveragePooling2D(tuple(x.shape[1:3]), name="avg_pool")(x)
    x = tf_keras.layers.Flatten(name="flatten")(x)
    outputs = tf_keras.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return tf_keras.Model(inputs, outputs, name="vggface_resnet50")


def load_vggface_weights(model: tf_keras.Model, path: str | Path, sha256: str | None = None) -> list[str]:
    """Load keras-vggface's notop ResNet50 weights into `model` by layer name; return the loaded layer names.

    The HDF5 file is inspected with h5py first (nothing is unpickled): it must hold every
    weighted layer of the backbone, and match `sha256` when one is given.
    """
    import h5py

    from diva_lib.data import DataError, sha256_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGGFace weights {path} do not exist; download rcmalli_vggface_tf_notop_resnet50.h5 "
                                "from the keras-vggface v2.0 release and pass its path")
    if sha256 and sha256_file(path) != sha256.lower():
        raise DataError(f"{path} does not match the expected SHA-256 {sha256}; download it again")
    try:
        with h5py.File(path, "r") as f:
            stored = {n.decode() if isinstance(n, bytes) else n for n in f.attrs.get("layer_names", list(f.keys()))}
    except OSError as err:
        raise DataError(f"{path} is not an HDF5 weights file ({err})") from err
    wanted = {layer.name for layer in model.layers if layer.weights} - {"classifier"}
    missing = sorted(wanted - stored)
    if missing:
        raise DataError(f"{path} lacks {len(missing)} backbone layers (e.g. {missing[:3]}); "
                        "is it rcmalli_vggface_tf_notop_resnet50.h5?")
    model.load_weights(str(path), by_name=True)
    return sorted(wanted)
