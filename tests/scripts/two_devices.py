"""DIVA on the 100 real ImageNet-sample JPEGs at 224×224: one device vs MirroredStrategy over two logical CPUs.

Run in its own process (logical devices must be set before TensorFlow starts); prints a JSON line.
"""

import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before TensorFlow is imported

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import tf_keras  # noqa: E402

from diva_lib import adapt, attacks, data, distribute, stream, train  # noqa: E402
from diva_lib.cache import ArrayCache  # noqa: E402


def tiny(classes: int) -> tf_keras.Model:
    """A small CNN at 224×224 (the test is about the data and device path, not the architecture)."""
    inp = tf_keras.Input((224, 224, 3))
    h = tf_keras.layers.Conv2D(8, 5, strides=4, activation="relu")(inp)
    h = tf_keras.layers.Conv2D(16, 3, strides=2, activation="relu")(h)
    h = tf_keras.layers.GlobalAveragePooling2D()(h)
    return tf_keras.Model(inp, tf_keras.layers.Dense(classes, activation="softmax")(h))


files, labels = data.imagenet_files(data.verify("imagenet_sample", sys.argv[1] if len(sys.argv) > 1 else data.DATA_DIR))
images = stream.ImageSet.of(files, labels)
train.set_seed(0)
fp32 = tiny(len(files))
train.fit(fp32, images, images.labels, epochs=10, learning_rate=3e-3, batch_size=25, seed=0)
qat = adapt.quantize(fp32)
x, y = images[:], images.labels
single = attacks.DIVA(fp32, qat).run(x, y, 16, progress=False, keep_final=True, cache=ArrayCache(mode="off"))

strat = distribute.strategy("mirrored")
with strat.scope():
    fp32_m, qat_m = tiny(len(files)), adapt.quantize(tiny(len(files)))
fp32_m.set_weights(fp32.get_weights())
qat_m.set_weights(qat.get_weights())
mirrored = distribute.craft(attacks.DIVA(fp32_m, qat_m), x, y, 16, strat, keep_final=True)
predictions = fp32.predict(x, verbose=0).argmax(1)
print(json.dumps({"replicas": strat.num_replicas_in_sync, "n": len(y),
                  "max_abs_diff": max(float(np.abs(a - b).max()) for a, b in
                                      ((single.x_adv, mirrored.x_adv), (single.x_final, mirrored.x_final))),
                  "same_first_steps": bool(np.array_equal(single.first_step, mirrored.first_step)),
                  "moved": float(np.abs(single.x_final - x).max()),
                  "distinct_predictions": len(np.unique(predictions))}))
