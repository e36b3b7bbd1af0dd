import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from diva_lib import models
from diva_lib.config import ARCHS


@pytest.mark.parametrize("arch", ARCHS)
def test_preprocess_matches_keras(arch):
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    keras_pre = {
        "resnet50": tf_keras.applications.resnet50.preprocess_input,
        "mobilenet": tf_keras.applications.mobilenet.preprocess_input,
        "densenet121": tf_keras.applications.densenet.preprocess_input,
    }[arch]
    ours = models.Preprocess(models.PREPROCESS_MODE[arch])(x).numpy()
    np.testing.assert_allclose(ours, keras_pre(x * 255.0), rtol=1e-4, atol=1e-3)


def test_build_model_outputs_softmax():
    m = models.build_model("mobilenet", num_classes=7, image_size=32)
    p = m(np.zeros((2, 32, 32, 3), np.float32)).numpy()
    assert p.shape == (2, 7)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    assert models.penultimate(m).output_shape == (None, 1024)


def test_bad_arch_and_weights():
    with pytest.raises(ValueError, match="arch='vgg'"):
        models.build_model("vgg", 10, 32)
    with pytest.raises(ValueError, match="weights='random'"):
        models.build_model("resnet50", 10, 32, weights="random")


def test_vggface_layout_and_weight_loading_by_name(tmp_path):
    import tf_keras

    from diva_lib.data import DataError

    tf_keras.utils.set_random_seed(1)
    source = models.build_vggface_resnet50(7, 32)
    names = [layer.name for layer in source.layers]
    for expected in ("conv1/7x7_s2", "conv2_1_1x1_proj/bn", "conv4_6_1x1_increase", "conv5_3_3x3/bn", "avg_pool",
                     "classifier"):
        assert expected in names
    assert sum(isinstance(layer, tf_keras.layers.Conv2D) for layer in source.layers) == 53
    notop = tmp_path / "notop.h5"
    tf_keras.Model(source.input, source.get_layer("flatten").output).save_weights(str(notop))
    tf_keras.utils.set_random_seed(2)
    target = models.build_vggface_resnet50(3, 32)
    loaded = models.load_vggface_weights(target, notop)
    assert "conv3_4_3x3" in loaded and "classifier" not in loaded
    np.testing.assert_array_equal(target.get_layer("conv3_4_3x3").kernel.numpy(),
                                  source.get_layer("conv3_4_3x3").kernel.numpy())
    with pytest.raises(DataError, match="SHA-256"):
        models.load_vggface_weights(target, notop, sha256="0" * 64)
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="not an HDF5"):
        models.load_vggface_weights(target, tmp_path / "bad.h5")


def test_vggface2_preprocessing_matches_keras_vggface_version_2():
    x = np.random.default_rng(0).random((2, 4, 4, 3)).astype(np.float32)
    ours = models.Preprocess("vggface2")(x).numpy()
    expected = x[..., ::-1] * 255.0 - np.array([91.4953, 103.8827, 131.0912], np.float32)  # BGR means
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-3)


def test_lazy_model_is_fingerprinted_without_a_build_and_built_once_on_use(tmp_path):
    from diva_lib.cache import file_digest, fingerprint
    from diva_lib.models import LazyModel

    model = models.build_model("mobilenet", 10, 32, None)
    model.save_weights(str(tmp_path / "w.h5"))
    builds = []
    lazy = LazyModel(tmp_path / "w.h5", lambda: builds.append(1) or models.build_model("mobilenet", 10, 32, None),
                     model.input_shape, model.output_shape)
    assert fingerprint(lazy) == file_digest(tmp_path / "w.h5") and lazy.output_shape == (None, 10) and not builds
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(lazy.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(lazy(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-6)
    assert builds == [1] and lazy.input_shape == lazy.model.input_shape and lazy.output_shape == lazy.model.output_shape
    def fresh() -> LazyModel:
        return LazyModel(tmp_path / "w.h5", lambda: models.build_model("mobilenet", 10, 32, None),
                         model.input_shape, model.output_shape)

    with pytest.raises(RuntimeError, match="models.eager"):
        tf.function(lambda t: fresh()(t, training=False))(tf.constant(x))
    from diva_lib import attacks

    y = np.arange(4)
    np.testing.assert_allclose(attacks.PGD(fresh(), fresh(), steps=2)(x, y), attacks.PGD(model, model, steps=2)(x, y),
                               atol=1e-6)
    released = fresh()
    first = released.model
    models.release(released, model)  # a plain Keras model is left as it is
    assert released._model is None and released.model is not first and model.predict(x, verbose=0).shape == (4, 10)
