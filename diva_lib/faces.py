"""Face recognition case study (§6): a PubFig-like identification task, VGGFace ResNet50, its QAT and int8 models.

The paper fine-tunes VGGFace (ResNet50 pretrained on VGGFace2) on 150 PubFig people, first 90 %
of each person's images for training. Without those weights, `default` keeps the shape of that
transfer: the backbone is pretrained on the celebrities of the data mirror (Pins and LFW), then
fine-tuned on a disjoint group of people, the 40 of the AT&T set (source "att"; 6 of each
person's 10 images to train, 4 to validate, so that 40 people give at least 120 attacked images).
Source "mirror" fine-tunes on Pins celebrities instead, a harder task at 32×32.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tf_keras

from diva_lib import adapt, data, train
from diva_lib.cache import ModelCache
from diva_lib.config import ParameterError, check_seed
from diva_lib.models import LazyModel, build_vggface_resnet50, load_vggface_weights
from diva_lib.zoo import ZooEntry

RECIPE = 2


@dataclass(frozen=True)
class FaceSetting:
    """Scale of the face case study in one profile."""

    image_size: int
    n_people: int
    pretrain_epochs: int
    finetune_epochs: int
    qat_epochs: int
    batch_size: int
    pretrain_lr: float
    finetune_lr: float
    qat_lr: float
    bn_batches: int
    max_pretrain_people: int | None  # None: every person not fine-tuned on
    source: str  # fine-tuning people: "att" (AT&T), "mirror" (Pins), "pubfig" (data/pubfig from data_scripts)
    weights: str | None  # "vggface": backbone from DIVA_VGGFACE_WEIGHTS instead of pretraining
    train_share: float  # first share of each person's images used to train, the rest validates
    per_person: int  # attacked validation images per person at most (the paper: 3, its 450 for 150 people)
    augment: bool  # fine-tune on random flips and 2-pixel shifts (else on each image and its mirror image)
    label_smoothing: float  # of the fine-tuning labels


SETTINGS = {
    "smoke": FaceSetting(32, 5, 2, 5, 1, 32, 1e-3, 3e-4, 1e-5, 4, 10, "att", None, 0.7, 3, False, 0.0),
    "default": FaceSetting(32, 40, 2, 80, 3, 64, 1e-3, 1e-3, 1e-5, 20, None, "att", None, 0.6, 4, True, 0.1),
    "paper": FaceSetting(224, 150, 0, 3, 2, 32, 0.0, 1e-4, 1e-5, 0, 0, "pubfig", "vggface", 0.9, 3, False, 0.0),
}


@dataclass
class FaceTask:
    """Fine-tuning people with their train / validation images, and the disjoint pretraining set."""

    people: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    pretrain_people: list[str]
    x_pretrain: np.ndarray
    y_pretrain: np.ndarray


def display_name(person: str) -> str:
    """'pins_faces:Nicolas_Cage' -> 'Nicolas Cage' (AT&T people keep their folder name, e.g. 's12')."""
    return person.split(":", 1)[-1].replace("_", " ")


def _if_prepared(name: str) -> dict[str, list[Path]]:
    """A face set's people, or none (with a warning naming the fix) when the set is not prepared."""
    try:
        return data.face_identities(name)
    except data.DataError as e:
        warnings.warn(f"pretraining without {name} ({e})", stacklevel=3)
        return {}


def _pool(setting: FaceSetting) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """(candidates for fine-tuning, extra pretraining-only people) of the setting's source."""
    if setting.source == "pubfig":
        root = data.DATA_DIR / "pubfig"
        people = {f"pubfig:{d.name}": sorted(d.glob("*.jpg")) for d in sorted(root.glob("*")) if d.is_dir()}
        if not people:
            raise data.DataError(f"{root} holds no people; fetch PubFig with `diva fetch --pubfig dev`")
        return people, {}
    if setting.source == "att":
        return data.face_identities("att_faces"), {**_if_prepared("pins_faces"), **data.face_identities("lfw_faces")}
    if setting.source == "mirror":
        return data.face_identities("pins_faces"), data.face_identities("lfw_faces")
    raise ParameterError(f"face source {setting.source!r} is unknown; use 'att', 'mirror' or 'pubfig'")


def make_task(setting: FaceSetting, seed: int, people: list[str] | None = None) -> FaceTask:
    """Pick the fine-tuning people (seeded, or by name), split each by `train_share`, gather the pretraining set."""
    check_seed(seed)
    pool, extra = _pool(setting)
    names = sorted(pool)
    if people is None:
        if setting.n_people > len(names):
            raise ParameterError(f"parameter 'n_people'={setting.n_people} exceeds the {len(names)} people of source "
                                 f"{setting.source!r}; use at most {len(names)}")
        order = np.random.default_rng(seed).permutation(len(names))
        people = sorted(names[i] for i in order[: setting.n_people])
    else:
        lookup = {display_name(n): n for n in names} | {n: n for n in names}
        unknown = [p for p in people if p not in lookup]
        if unknown:
            raise ParameterError(f"parameter 'people' has unknown identities {unknown[:3]}; e.g. {names[:3]}")
        people = sorted(lookup[p] for p in people)
    if len(people) < 2:
        raise ParameterError(f"parameter 'people'={people!r} must name at least two identities")
    xs_t, ys_t, xs_v, ys_v = [], [], [], []
    for k, p in enumerate(people):
        files = pool[p]
        cut = min(len(files) - 1, max(1, round(setting.train_share * len(files))))
        if len(files) < 2:
            raise data.DataError(f"{p} has {len(files)} image(s); a person needs at least 2 (train and validation)")
        xs_t.append(data.load_faces(files[:cut], setting.image_size))
        xs_v.append(data.load_faces(files[cut:], setting.image_size))
        ys_t += [k] * cut
        ys_v += [k] * (len(files) - cut)
    pre_people = ([n for n in names if n not in people] + sorted(extra))[: setting.max_pretrain_people]
    pre_files = {**pool, **extra}
    x_pre = [data.load_faces(pre_files[p], setting.image_size) for p in pre_people] if setting.pretrain_epochs else []
    y_pre = [np.full(len(pre_files[p]), k) for k, p in enumerate(pre_people)] if setting.pretrain_epochs else []
    empty = np.zeros((0, setting.image_size, setting.image_size, 3), np.float32)
    return FaceTask(people, np.concatenate(xs_t), np.asarray(ys_t), np.concatenate(xs_v), np.asarray(ys_v),
                    pre_people, np.concatenate(x_pre) if x_pre else empty,
                    np.concatenate(y_pre) if y_pre else np.zeros(0, np.int64))


def with_flips(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The images plus their mirror images (faces are left-right symmetric)."""
    return np.concatenate([x, x[:, :, ::-1]]), np.concatenate([y, y])


def _digest(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def _pixels(x: np.ndarray) -> str:
    """Digest of the images themselves: a face set fetched from another source gets its own models."""
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]


# the settings that determine the pretrained backbone (each later stage adds its own to its cache key)
_PRETRAIN_FIELDS = ("image_size", "pretrain_epochs", "batch_size", "pretrain_lr", "bn_batches", "max_pretrain_people",
                    "source", "weights")


def get_models(setting: FaceSetting, seed: int, task: FaceTask, cache: ModelCache | None = None) -> ZooEntry:
    """Pretrained backbone → fine-tuned original → QAT + int8 TFLite, each cached by its full configuration."""
    cache = cache or ModelCache()
    fields = asdict(setting)
    pcfg = {"role": "face_pretrained", "recipe": RECIPE, "seed": seed, "pretrain_people": _digest(task.pretrain_people),
            "pixels": _pixels(task.x_pretrain), **{k: fields[k] for k in _PRETRAIN_FIELDS}}
    ocfg = {"role": "face_original", "parent": pcfg, "people": task.people, "pixels": _pixels(task.x_train),
            "train_share": setting.train_share, "finetune_epochs": setting.finetune_epochs,
            "finetune_lr": setting.finetune_lr, "augment": setting.augment, "label_smoothing": setting.label_smoothing}
    qcfg = {"role": "face_qat", "parent": ocfg, "qat_epochs": setting.qat_epochs, "qat_lr": setting.qat_lr,
            "input_quantizer": "exact, one step of margin", "ranges": "calibrated before and after, to 1 %",
            "bn_statistics": "the original's"}

    def build_pretrained(tmp: Path) -> None:
        train.set_seed(seed)
        model = build_vggface_resnet50(max(2, len(task.pretrain_people)), setting.image_size)
        if setting.weights == "vggface":
            load_vggface_weights(model, os.environ.get("DIVA_VGGFACE_WEIGHTS", data.DATA_DIR / "vggface_notop.h5"),
                                 os.environ.get("DIVA_VGGFACE_SHA256"))
        elif setting.pretrain_epochs:
            x, y = with_flips(task.x_pretrain, task.y_pretrain)
            train.fit(model, x, y, epochs=setting.pretrain_epochs, learning_rate=setting.pretrain_lr,
                      batch_size=setting.batch_size, seed=seed, cosine=True, desc="face backbone pretraining")
            train.recalibrate_batchnorm(model, task.x_pretrain, setting.bn_batches, setting.batch_size)
        tf_keras.Model(model.input, model.get_layer("flatten").output).save_weights(str(tmp / "backbone.h5"))
        (tmp / "people.json").write_text(json.dumps(task.pretrain_people))

    def build_original(tmp: Path) -> None:
        train.set_seed(seed)
        model = build_vggface_resnet50(len(task.people), setting.image_size)
        load_vggface_weights(model, cache.path("face_pretrained", pcfg) / "backbone.h5")
        x, y = (task.x_train, task.y_train) if setting.augment else with_flips(task.x_train, task.y_train)
        train.fit(model, x, y, epochs=setting.finetune_epochs, learning_rate=setting.finetune_lr,
                  batch_size=setting.batch_size, seed=seed, cosine=True, desc="face fine-tuning",
                  augment=setting.augment, label_smoothing=setting.label_smoothing)
        train.recalibrate_batchnorm(model, task.x_train, setting.bn_batches, setting.batch_size)
        model.save_weights(str(tmp / "weights.h5"))

    def build_qat(tmp: Path) -> None:
        train.set_seed(seed)
        model = build_vggface_resnet50(len(task.people), setting.image_size)
        model.load_weights(str(cache.path("face_original", ocfg) / "weights.h5"))
        calibration = task.x_train[:: max(1, len(task.x_train) // adapt.CALIBRATION_IMAGES)]  # every person
        qat = adapt.quantize(model, calibration=calibration)
        x, y = with_flips(task.x_train, task.y_train)
        train.fit(qat, x, y, epochs=setting.qat_epochs, learning_rate=setting.qat_lr, batch_size=setting.batch_size,
                  seed=seed, desc="face QAT")
        adapt.calibrate(qat, calibration)  # BN statistics stay the original's: re-estimated on the training faces,
        # they grew the QAT graph's embedding about tenfold and cost 4-7 points of accuracy
        qat.save_weights(str(tmp / "weights.h5"))
        adapt.to_tflite_int8(qat, tmp / "model_int8.tflite", task.x_train[:: max(1, len(task.x_train) // 64)])

    cache.get_or_build("face_pretrained", pcfg, build_pretrained)
    opath = cache.get_or_build("face_original", ocfg, build_original)
    qpath = cache.get_or_build("face_qat", qcfg, build_qat)
    shapes = (None, setting.image_size, setting.image_size, 3), (None, len(task.people))

    def build_qat_graph() -> tf_keras.Model:
        with adapt.quantize_scope():
            return adapt.quantize(build_vggface_resnet50(len(task.people), setting.image_size))

    fp32 = LazyModel(opath / "weights.h5", lambda: build_vggface_resnet50(len(task.people), setting.image_size),
                     *shapes)
    qat = LazyModel(qpath / "weights.h5", build_qat_graph, *shapes)
    return ZooEntry("vggface_resnet50", fp32, qat, adapt.TFLiteModel(qpath / "model_int8.tflite"))


def setting_for(profile: str, **overrides: Any) -> FaceSetting:
    """The face setting of a profile, with validated overrides (e.g. n_people)."""
    if profile not in SETTINGS:
        raise ParameterError(f"parameter 'profile'={profile!r} is unknown; use one of {', '.join(SETTINGS)}")
    s = SETTINGS[profile]
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in asdict(s):
            raise ParameterError(f"parameter {k!r} is not a face setting; known: {sorted(asdict(s))}")
        if k in ("image_size", "n_people", "finetune_epochs", "qat_epochs", "batch_size") and (
                isinstance(v, bool) or not isinstance(v, int) or v < (32 if k == "image_size" else 1)):
            raise ParameterError(f"parameter {k!r}={v!r} must be an integer >= {32 if k == 'image_size' else 1}")
        s = SETTINGS[profile].__class__(**{**asdict(s), k: v})
    return s
