"""Training loops: fp32 training, QAT fine-tuning, and BatchNormalization statistics recalibration."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras
from tqdm.auto import tqdm
from tqdm.keras import TqdmCallback

from diva_lib.distribute import global_batch
from diva_lib.stream import ImageSet


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic."""
    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def fit(
    model: tf_keras.Model,
    x: np.ndarray | ImageSet,
    y: np.ndarray,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    cosine: bool = False,
    desc: str = "train",
    callbacks: list[tf_keras.callbacks.Callback] | None = None,
    checkpoint_dir: Path | None = None,
    augment: bool = False,
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
) -> dict[str, list[float]]:
    """Train with Adam on sparse labels (soft labels if `y` is 2-D); return the Keras history.

    With `cosine`, the learning rate decays to zero over the run, so short training ends converged.
    `x` may be an `ImageSet`, streamed from its files. `batch_size` is per replica of the model's
    distribution strategy. With `checkpoint_dir`, each epoch is backed up there and a killed
    run resumes from its last finished epoch. `augment` flips images left-right and shifts them by
    up to 2 pixels (in-memory arrays); `label_smoothing` moves that much of each label's mass to
    the other classes. With `temperature` T ≠ 1, `y` holds soft targets at T and the loss is T² times
    the cross-entropy of the model's softmax at T (Hinton et al.'s distillation loss).
    """
    if label_smoothing > 0 and y.ndim == 1:
        y = np.eye(int(model.output_shape[-1]), dtype=np.float32)[y]
    loss = "categorical_crossentropy" if y.ndim == 2 else "sparse_categorical_crossentropy"
    if label_smoothing > 0:
        loss = tf_keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    if temperature != 1.0:
        if y.ndim != 2:
            raise ValueError(f"temperature={temperature} needs soft targets (N, classes), not labels {y.shape}")
        loss = distillation_loss(temperature)
    batch = global_batch(batch_size, model.distribute_strategy)
    lr = learning_rate
    if cosine:
        lr = tf_keras.optimizers.schedules.CosineDecay(learning_rate, epochs * -(-len(x) // batch))
    model.compile(tf_keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])
    _build_training_state(model, y)
    if isinstance(x, ImageSet):
        ds = x.dataset(batch, labels=y, shuffle_seed=seed)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        if augment:
            ds = ds.map(lambda xb, yb: (_shift_and_flip(xb, seed), yb), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch).prefetch(2)
    cbs = [TqdmCallback(verbose=0, desc=desc, leave=False), *(callbacks or [])]
    if checkpoint_dir is not None:
        cbs.append(tf_keras.callbacks.BackupAndRestore(str(checkpoint_dir)))
    return model.fit(ds, epochs=epochs, verbose=0, callbacks=cbs).history


def _build_training_state(model: tf_keras.Model, y: np.ndarray) -> None:
    """Create the optimizer's and the metrics' variables before the training step is traced.

    A `tf.function` whose first trace creates variables is traced a second time; built here,
    the training step is traced once and computes the same updates.
    """
    with model.distribute_strategy.scope():
        model.optimizer.build(model.trainable_variables)
        model.compiled_metrics.build(tf.zeros([1, *model.output_shape[1:]]), tf.constant(y[:1]))


def distillation_loss(temperature: float):
    """T² · cross-entropy between soft targets at T and a softmax model's output re-tempered to T."""

    def loss(target: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
        logits = tf.math.log(tf.clip_by_value(probs, 1e-12, 1.0)) / temperature
        return temperature**2 * tf_keras.losses.categorical_crossentropy(target, logits, from_logits=True)

    return loss


def _shift_and_flip(image: tf.Tensor, seed: int) -> tf.Tensor:
    """A random left-right flip and a shift of up to 2 pixels (zero padding), as Fashion-MNIST augmentation."""
    size = tf.shape(image)[:2]
    padded = tf.image.pad_to_bounding_box(image, 2, 2, size[0] + 4, size[1] + 4)
    cropped = tf.image.random_crop(padded, tf.shape(image), seed=seed)
    return tf.image.random_flip_left_right(cropped, seed=seed)


def recalibrate_batchnorm(model: tf_keras.Model, x: np.ndarray, batches: int, batch_size: int) -> None:
    """Replace BatchNormalization moving statistics by their average over `batches` training batches.

    Short training leaves the exponential moving averages behind the weights; a cumulative
    average (momentum i/(i+1) at batch i) over fresh forward passes fixes inference accuracy.
    The momentum is a variable while this runs, so one compiled forward pass serves every batch.
    """
    bns = [m for m in model.submodules if isinstance(m, tf_keras.layers.BatchNormalization)]
    if not bns or batches < 1:
        return
    saved = [bn.momentum for bn in bns]
    n = min(batches, max(1, len(x) // batch_size))
    momentum = tf.Variable(0.0, trainable=False)
    forward = tf.function(lambda xb: model(xb, training=True))
    try:
        for bn in bns:
            bn.momentum = momentum
        for i in tqdm(range(n), desc="recalibrate BN", leave=False):
            momentum.assign(i / (i + 1))
            forward(tf.constant(x[i * batch_size : (i + 1) * batch_size]))
    finally:
        for bn, m in zip(bns, saved, strict=True):
            bn.momentum = m


def predict(model: tf_keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax outputs of a Keras model in inference mode, batched."""
    return model.predict(x, batch_size=batch_size, verbose=0)


def _pgd(model: tf_keras.Model, x: tf.Tensor, y: tf.Tensor, start: tf.Tensor, eps: float, step: float,
         steps: int) -> tf.Tensor:
    """`steps` signed-gradient ascent steps on the cross-entropy from `start`, inside the L∞ ball of radius eps."""
    ce = tf_keras.losses.SparseCategoricalCrossentropy()
    xa = start
    for _ in tf.range(steps):
        with tf.GradientTape() as tape:
            tape.watch(xa)
            loss = ce(y, model(xa, training=False))
        xa = xa + step * tf.sign(tape.gradient(loss, xa))
        xa = tf.clip_by_value(tf.clip_by_value(xa, x - eps, x + eps), 0.0, 1.0)
    return xa


def pgd_accuracy(model: tf_keras.Model, x: np.ndarray, y: np.ndarray, *, eps: float, step: float, steps: int,
                 batch_size: int = 256) -> float:
    """Accuracy of a model on its own PGD images (no random start, final iterate), in inference mode."""
    attack = tf.function(lambda xb, yb: _pgd(model, xb, yb, xb, eps, step, steps), reduce_retracing=True)
    hits = 0
    for s in range(0, len(x), batch_size):
        xb, yb = tf.constant(x[s : s + batch_size]), tf.constant(y[s : s + batch_size])
        hits += int((model(attack(xb, yb), training=False).numpy().argmax(1) == y[s : s + batch_size]).sum())
    return hits / max(1, len(x))


def adversarial_fit(model: tf_keras.Model, x: np.ndarray, y: np.ndarray, *, epochs: int, learning_rate: float,
                    batch_size: int, seed: int, eps: float, step: float, steps: int,
                    stop: Callable[[int], bool] | None = None, desc: str = "adversarial training") -> list[float]:
    """Madry et al. PGD adversarial training: each batch is replaced by its PGD adversarial version.

    The inner maximisation runs `steps` signed-gradient steps of size `step` in the L∞ ball of
    radius `eps` from a uniform random start, on the model in inference mode; the outer step
    trains on the adversarial batch with Adam and cosine learning-rate decay over `epochs`.
    After each epoch `stop(epoch)` may end training early. Returns the mean training loss of each epoch.
    """
    if not (eps > 0 and step > 0 and steps >= 1):
        raise ValueError(f"eps={eps}, step={step}, steps={steps} must be > 0, > 0 and >= 1")
    total = epochs * -(-len(x) // batch_size)
    opt = tf_keras.optimizers.Adam(tf_keras.optimizers.schedules.CosineDecay(learning_rate, max(1, total)))
    opt.build(model.trainable_variables)  # its variables exist before the step is traced: one trace, not two
    ce = tf_keras.losses.SparseCategoricalCrossentropy()

    @tf.function(reduce_retracing=True)
    def train_step(xb, yb, noise):
        xa = _pgd(model, xb, yb, tf.clip_by_value(xb + noise, 0.0, 1.0), eps, step, steps)
        with tf.GradientTape() as tape:
            loss = ce(yb, model(xa, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables,
                                strict=True))
        return loss

    rng = np.random.default_rng(seed)
    history = []
    with tqdm(total=total, desc=desc, leave=False) as bar:
        for epoch in range(epochs):
            order = rng.permutation(len(x))
            losses = []
            for s in range(0, len(x), batch_size):
                idx = order[s : s + batch_size]
                xb = np.asarray(x[idx], np.float32)  # an ImageSet decodes just this batch
                noise = rng.uniform(-eps, eps, xb.shape).astype(np.float32)
                losses.append(float(train_step(tf.constant(xb), tf.constant(y[idx]), tf.constant(noise))))
                bar.update()
            history.append(float(np.mean(losses)))
            if stop is not None and stop(epoch):
                break
    return history
