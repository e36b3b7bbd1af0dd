"""The three architectures of the paper, taking RGB images in [0, 1] and returning softmax."""

from __future__ import annotations

import tensorflow as tf
import tf_keras

from diva_lib.config import ARCHS

# Keras' `preprocess_input` modes, written as per-channel affine maps on [0, 1] input.
_MEAN_STD = {
    # caffe: RGB->BGR, x*255 - ImageNet mean (BGR)
    "caffe": ((103.939, 116.779, 123.68), (1 / 255, 1 / 255, 1 / 255), True),
    # tf: x*2 - 1
    "tf": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), False),
    # torch: (x - mean) / std
    "torch": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), False),
}
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
        if mode == "caffe":
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


def penultimate(model: tf_keras.Model) -> tf_keras.Model:
    """A model returning the input of the last (classifier) layer, for representation studies."""
    return tf_keras.Model(model.inputs, model.layers[-1].input)
