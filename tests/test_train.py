"""Training loops: BatchNormalization recalibration."""

import numpy as np
import tf_keras

from diva_lib import train


def _bn_model() -> tf_keras.Model:
    inp = tf_keras.Input((4, 4, 3))
    out = tf_keras.layers.Dense(2, activation="softmax")(
        tf_keras.layers.GlobalAveragePooling2D()(tf_keras.layers.BatchNormalization()(inp)))
    return tf_keras.Model(inp, out)


def test_recalibration_averages_the_batch_statistics_and_restores_the_momentum():
    model = _bn_model()
    bn = model.layers[1]
    x = np.random.default_rng(0).normal(3.0, 2.0, (40, 4, 4, 3)).astype(np.float32)
    train.recalibrate_batchnorm(model, x, batches=3, batch_size=8)  # uses the first 3 batches only
    batches = x[:24].reshape(3, 8 * 4 * 4, 3)
    np.testing.assert_allclose(bn.moving_mean.numpy(), batches.mean(1).mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), batches.var(1, ddof=1).mean(0), rtol=1e-4)
    assert bn.momentum == 0.99 and isinstance(bn.momentum, float)


def test_shifts_and_flips_keep_shape_range_and_content():
    import tensorflow as tf

    image = np.random.default_rng(1).random((8, 8, 3)).astype(np.float32)
    out = train._shift_and_flip(tf.constant(image), seed=0).numpy()
    assert out.shape == image.shape and out.min() >= 0.0 and out.max() <= 1.0
    kept = np.isin(out, image) | (out == 0.0)  # every pixel comes from the image or from the zero padding
    assert kept.all() and np.count_nonzero(out) >= image.size * 9 / 16  # a shift by ≤ 2 of 8 keeps ≥ 6×6


def test_label_smoothing_trains_on_smoothed_one_hot_labels():
    model = _bn_model()
    x = np.random.default_rng(2).random((32, 4, 4, 3)).astype(np.float32)
    y = np.arange(32) % 2
    train.fit(model, x, y, epochs=1, learning_rate=1e-3, batch_size=8, seed=0, label_smoothing=0.2, augment=True)
    assert model.loss.get_config()["label_smoothing"] == 0.2
    train.fit(model, x, y, epochs=1, learning_rate=1e-3, batch_size=8, seed=0)
    assert model.loss == "sparse_categorical_crossentropy"


def test_distillation_loss_is_t_squared_cross_entropy_at_temperature():
    import pytest

    from diva_lib import zoo

    probs = np.array([[0.7, 0.2, 0.1, 0.0]], np.float32)
    assert zoo.distillation_targets(probs)[0, :3] == pytest.approx([0.7, 0.2, 0.1], abs=2e-3)
    soft = zoo.distillation_targets(probs, 10.0)
    assert soft.argmax() == 0 and soft.max() < 0.4 and soft.min() > 0.1  # flatter, same order
    with pytest.raises(ValueError, match="temperature=0"):
        zoo.distillation_targets(probs, 0)
    student = np.array([[0.5, 0.3, 0.1, 0.1]], np.float32)
    loss = float(train.distillation_loss(10.0)(soft, student)[0])
    tempered = np.exp(np.log(student) / 10) / np.exp(np.log(student) / 10).sum()
    assert loss == pytest.approx(100 * -(soft * np.log(tempered)).sum(), rel=1e-4)


def test_pgd_accuracy_never_exceeds_clean_accuracy_and_equals_it_at_zero_budget():
    tf_keras.utils.set_random_seed(0)
    inp = tf_keras.Input((4, 4, 3))
    model = tf_keras.Model(inp, tf_keras.layers.Dense(2, activation="softmax")(tf_keras.layers.Flatten()(inp)))
    x = np.random.default_rng(3).random((64, 4, 4, 3)).astype(np.float32)
    y = (x.mean((1, 2, 3)) > 0.5).astype(np.int64)
    train.fit(model, x, y, epochs=20, learning_rate=3e-2, batch_size=16, seed=0)
    clean = float((model.predict(x, verbose=0).argmax(1) == y).mean())
    assert train.pgd_accuracy(model, x, y, eps=1e-9, step=1e-9, steps=2) == clean
    assert train.pgd_accuracy(model, x, y, eps=0.3, step=0.05, steps=10) < clean


def test_adversarial_fit_stops_when_asked():
    model = _bn_model()
    x = np.random.default_rng(4).random((32, 4, 4, 3)).astype(np.float32)
    seen = []
    history = train.adversarial_fit(model, x, np.arange(32) % 2, epochs=5, learning_rate=1e-3, batch_size=16, seed=0,
                                    eps=0.03, step=0.01, steps=2, stop=lambda epoch: seen.append(epoch) or epoch == 1)
    assert len(history) == 2 and seen == [0, 1]


def test_fit_traces_its_step_once_and_trains_as_keras_does():
    import tensorflow as tf

    x = np.random.default_rng(3).random((48, 4, 4, 3)).astype(np.float32)
    y = np.arange(48) % 2
    ours, plain = _bn_model(), _bn_model()
    plain.set_weights(ours.get_weights())
    train.set_seed(0)
    train.fit(ours, x, y, epochs=2, learning_rate=1e-2, batch_size=16, seed=0)
    assert ours.train_function.experimental_get_tracing_count() == 1
    train.set_seed(0)
    plain.compile(tf_keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(48, seed=0, reshuffle_each_iteration=True).batch(16)
    plain.fit(ds, epochs=2, verbose=0)
    assert plain.train_function.experimental_get_tracing_count() == 2  # Keras alone traces twice
    for a, b in zip(ours.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
