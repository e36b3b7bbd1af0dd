"""Face case study: the identification task is split like PubFig's and refuses bad people up front."""

import numpy as np
import pytest

from diva_lib import faces
from diva_lib.config import ParameterError

pytestmark = pytest.mark.needs_data("att_faces", "lfw_faces")


@pytest.fixture(scope="module")
def smoke_task():
    return faces.make_task(faces.setting_for("smoke"), seed=0)


def test_task_split_and_disjoint_pretraining(smoke_task):
    t = smoke_task
    assert len(t.people) == 5 and len(t.pretrain_people) == 10
    assert not set(t.people) & set(t.pretrain_people)
    assert t.x_train.shape[1:] == (32, 32, 3) and 0.0 <= t.x_train.min() and t.x_train.max() <= 1.0
    counts = np.bincount(t.y_train), np.bincount(t.y_val)
    assert all(counts[0] == 7) and all(counts[1] == 3)  # AT&T: 10 images per person, first 70 % to train
    assert set(np.unique(t.y_pretrain)) == set(range(10))


def test_same_seed_same_people_and_explicit_people(smoke_task):
    again = faces.make_task(faces.setting_for("smoke"), seed=0)
    assert again.people == smoke_task.people
    np.testing.assert_array_equal(again.x_val, smoke_task.x_val)
    chosen = faces.make_task(faces.setting_for("smoke"), seed=0, people=["s3", "att_faces:s12"])
    assert [faces.display_name(p) for p in chosen.people] == ["s12", "s3"]
    assert not {"att_faces:s3", "att_faces:s12"} & set(chosen.pretrain_people)


@pytest.mark.needs_data("pins_faces")
def test_pins_people_by_name():
    pins = faces.make_task(faces.setting_for("smoke", source="mirror"), seed=0, people=["Adriana Lima", "Bill Gates"])
    assert [faces.display_name(p) for p in pins.people] == ["Adriana Lima", "Bill Gates"]
    assert np.bincount(pins.y_val).tolist() == [12, 12]  # 40 images per person, 70 % to train


def test_bad_people_and_settings_are_refused():
    with pytest.raises(ParameterError, match="unknown identities \\['Nobody Here'\\]"):
        faces.make_task(faces.setting_for("smoke"), seed=0, people=["s1", "Nobody Here"])
    with pytest.raises(ParameterError, match="at least two"):
        faces.make_task(faces.setting_for("smoke"), seed=0, people=["s1"])
    with pytest.raises(ParameterError, match="'n_people'=41 exceeds the 40 people"):
        faces.make_task(faces.setting_for("smoke", n_people=41), seed=0)
    with pytest.raises(ParameterError, match="'n_people'=0"):
        faces.setting_for("smoke", n_people=0)
    with pytest.raises(ParameterError, match="'profile'='tiny'"):
        faces.setting_for("tiny")


def test_flips_double_the_data():
    x = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    fx, fy = faces.with_flips(x, np.array([0, 1]))
    assert fx.shape == (4, 4, 4, 3) and list(fy) == [0, 1, 0, 1]
    np.testing.assert_array_equal(fx[2], x[0][:, ::-1])


def test_default_split_can_reach_the_attacked_image_floor():
    from diva_lib import floors

    s = faces.setting_for("default")
    per_person_val = 10 - round(s.train_share * 10)  # AT&T: 10 images per person
    assert min(per_person_val, s.per_person) * s.n_people >= floors.FLOORS["n_face"].bound
    assert faces.setting_for("paper").per_person == 3  # the paper's 450 for 150 people
