import pytest

from diva_lib import config
from diva_lib.config import ParameterError


def test_profiles_resolve():
    for name in ("smoke", "default", "paper"):
        p = config.get_profile(name)
        assert p.name == name and set(p.epochs) == set(config.ARCHS)


def test_the_stand_in_profiles_attack_at_twice_the_papers_radius_and_step():
    from diva_lib import paper

    assert config.get_profile("paper").attack == paper.ATTACK
    for name in ("smoke", "default"):
        a = config.get_profile(name).attack
        assert (a.eps, a.step, a.steps) == (2 * paper.ATTACK.eps, 2 * paper.ATTACK.step, paper.ATTACK.steps)
    assert config.STAND_IN_ATTACK.kwargs() == {"eps": 16 / 255, "step": 2 / 255, "steps": 20}
    assert config.STAND_IN_ATTACK.describe() == "16/255 / 2/255 / 20 / no"


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


def test_qat_summary_names_epochs_and_images():
    assert config.get_profile("smoke", n_train=300).qat_summary() == "1 epoch(s) on 300 training images"
