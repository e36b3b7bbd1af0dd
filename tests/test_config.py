import pytest

from diva_lib import config
from diva_lib.config import ParameterError


def test_profiles_resolve():
    for name in ("smoke", "default", "paper"):
        p = config.get_profile(name)
        assert p.name == name and set(p.epochs) == set(config.ARCHS)


def test_override_applies_and_none_keeps_default():
    p = config.get_profile("default", n_test=100, archs=["mobilenet"], n_train=None)
    assert p.n_test == 100 and p.archs == ("mobilenet",) and p.n_train == config.PROFILES["default"].n_train


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"profile": "fast"}, "'profile'='fast'"),
        ({"profile": "smoke", "n_test": 0}, "'n_test'=0"),
        ({"profile": "smoke", "n_test": 2.5}, "'n_test'=2.5"),
        ({"profile": "smoke", "archs": ["vgg16"]}, "vgg16"),
        ({"profile": "smoke", "archs": "resnet50"}, "'archs'"),
        ({"profile": "smoke", "archs": []}, "'archs'"),
        ({"profile": "smoke", "colour": 1}, "'colour'"),
        ({"profile": "default", "qat_n_train": 0}, "'qat_n_train'=0"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, needle):
    profile = kwargs.pop("profile")
    with pytest.raises(ParameterError, match=needle.replace("[", r"\[").replace(".", r"\.")):
        config.get_profile(profile, **kwargs)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, None])
def test_bad_seed(seed):
    with pytest.raises(ParameterError, match="'seed'"):
        config.check_seed(seed)


def test_qat_subset_takes_the_first_images():
    import numpy as np

    from diva_lib import zoo

    x, y = np.arange(40).reshape(10, 4), np.arange(10)
    part = config.get_profile("default", qat_n_train=3)
    assert [a.tolist() for a in zoo.qat_subset(part, x, y)] == [x[:3].tolist(), [0, 1, 2]]
    whole = config.get_profile("smoke")
    assert whole.qat_n_train is None and len(zoo.qat_subset(whole, x, y)[0]) == 10
    assert part.qat_summary() == "1 epoch(s) on 3 training images"
    assert whole.qat_summary() == f"1 epoch(s) on {whole.n_train} training images"


def test_qat_subset_is_part_of_the_qat_cache_key():
    from diva_lib import zoo

    a = zoo.qat_config("mobilenet", config.get_profile("default"), 0)
    b = zoo.qat_config("mobilenet", config.get_profile("default", qat_n_train=2_000), 0)
    assert a["parent"] == b["parent"] and a != b
