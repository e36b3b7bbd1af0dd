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
