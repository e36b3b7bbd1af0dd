"""The paper profile's streamed data: an ImageSet reads like an array, a batch at a time, and caches by content."""

import dataclasses

import numpy as np
import pytest
import tf_keras

from diva_lib import attacks, data, evaluate, stream
from diva_lib.cache import ArrayCache, digest

pytestmark = pytest.mark.needs_data("imagenet_sample")


@pytest.fixture(scope="module")
def sample():
    files, labels = data.imagenet_files(data.verify("imagenet_sample"))
    return stream.ImageSet.of(files[:24], labels[:24] % 10)


def _tiny() -> tf_keras.Model:
    tf_keras.utils.set_random_seed(0)
    inp = tf_keras.Input((224, 224, 3))
    h = tf_keras.layers.GlobalAveragePooling2D()(tf_keras.layers.Conv2D(4, 7, strides=8, activation="relu")(inp))
    return tf_keras.Model(inp, tf_keras.layers.Dense(10, activation="softmax")(h))


def test_slices_batches_and_subsets_decode_the_same_images(sample):
    x = sample[:]
    assert x.shape == sample.shape == (24, 224, 224, 3) and 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(sample[5:9], x[5:9])
    np.testing.assert_array_equal(sample.subset(np.array([3, 1]))[:], x[[3, 1]])
    images, labels = zip(*sample.dataset(10), strict=True)
    np.testing.assert_array_equal(np.concatenate(images), x)
    np.testing.assert_array_equal(np.concatenate(labels), sample.labels)
    assert digest(sample) == digest(stream.ImageSet.of(list(sample.files), sample.labels))
    assert digest(sample) != digest(sample.subset(np.arange(23)))
    with pytest.raises(ValueError, match="24 files but 3 labels"):
        stream.ImageSet(sample.files, sample.labels[:3])


def test_predict_select_and_attack_read_an_imageset_like_its_arrays(sample):
    model = _tiny()
    x = sample[:]
    off = ArrayCache(mode="off")
    np.testing.assert_allclose(evaluate.predict(model, sample, cache=off), evaluate.predict(model, x, cache=off),
                               atol=1e-6)
    picked, y = evaluate.select_eval_set(sample, sample.labels, [model])
    assert isinstance(picked, stream.ImageSet) and len(picked) == len(y)
    pgd = attacks.PGD(model, model, steps=2)
    streamed = pgd.run(sample, sample.labels, 8, progress=False, cache=off).x_adv
    np.testing.assert_array_equal(streamed, pgd.run(x, sample.labels, 8, progress=False, cache=off).x_adv)


@pytest.mark.slow
def test_paper_profile_builds_its_models_from_the_stream(monkeypatch, tmp_path):
    """Original, QAT and int8 model of the paper profile, trained from streamed JPEGs, with epoch backups."""
    from diva_lib import config, zoo
    from diva_lib.cache import ModelCache

    monkeypatch.setenv("DIVA_IMAGENET_VAL", str(data.verify("imagenet_sample")))
    cfg = dataclasses.replace(config.get_profile("paper", n_train=40, n_surrogate=20, n_test=20, archs=["mobilenet"],
                                                 batch_size=8, qat_epochs=1), weights=None)  # offline: no download
    d = zoo.load_data(cfg, seed=0)
    assert isinstance(d.x_train, stream.ImageSet) and len(d.x_train) == 40
    cache = ModelCache(tmp_path / "models")
    entry = zoo.get("mobilenet", cfg, 0, cache=cache, stand_in=d)
    p = entry.tflite.predict(d.x_test)  # int8 softmax: near-uniform 1000-way outputs round to 0 at scale 1/256
    assert p.shape == (20, 1000) and 0.0 <= p.min() and p.max() <= 1.0
    q = evaluate.predict(entry.qat, d.x_test, cache=ArrayCache(mode="off"))
    assert q.shape == (20, 1000) and np.allclose(q.sum(1), 1, atol=1e-3)
    backups = list((cache.root / ".checkpoints").iterdir())
    assert {b.name.split("-")[0] for b in backups} == {"original", "qat"}
