"""Training loops: fp32 training, QAT fine-tuning, and BatchNormalization statistics recalibration."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras
from tqdm.auto import tqdm
from tqdm.keras import TqdmCallback


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic."""
    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def fit(
    model: tf_keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    cosine: bool = False,
    desc: str = "train",
) -> dict[str, list[float]]:
    """Train with Adam on sparse labels (soft labels if `y` is 2-D); return the Keras history.

    With `cosine`, the learning rate decays to zero over the run, so short training ends converged.
    """
    soft = y.ndim == 2
    loss = "categorical_crossentropy" if soft else "sparse_categorical_crossentropy"
    lr = learning_rate
    if cosine:
        lr = tf_keras.optimizers.schedules.CosineDecay(learning_rate, epochs * -(-len(x) // batch_size))
    model.compile(tf_keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])
    ds = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(2)
    )
    cb = TqdmCallback(verbose=0, desc=desc, leave=False)
    return model.fit(ds, epochs=epochs, verbose=0, callbacks=[cb]).history


def recalibrate_batchnorm(model: tf_keras.Model, x: np.ndarray, batches: int, batch_size: int) -> None:
    """Replace BatchNormalization moving statistics by their average over `batches` training batches.

    Short training leaves the exponential moving averages behind the weights; a cumulative
    average (momentum i/(i+1) at batch i) over fresh forward passes fixes inference accuracy.
    """
    bns = [m for m in model.submodules if isinstance(m, tf_keras.layers.BatchNormalization)]
    if not bns or batches < 1:
        return
    saved = [bn.momentum for bn in bns]
    n = min(batches, max(1, len(x) // batch_size))
    try:
        for i in tqdm(range(n), desc="recalibrate BN", leave=False):
            for bn in bns:
                bn.momentum = i / (i + 1)
            model(tf.constant(x[i * batch_size : (i + 1) * batch_size]), training=True)
    finally:
        for bn, m in zip(bns, saved, strict=True):
            bn.momentum = m


def predict(model: tf_keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax outputs of a Keras model in inference mode, batched."""
    return model.predict(x, batch_size=batch_size, verbose=0)
