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
