import numpy as np
import pytest
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
