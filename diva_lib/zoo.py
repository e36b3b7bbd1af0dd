"""The model zoo: original (fp32), QAT and TFLite-int8 models per architecture, built once and cached."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tf_keras

from diva_lib import adapt, data, distribute, stream, train
from diva_lib.cache import ModelCache
from diva_lib.config import Profile, check_seed
from diva_lib.models import LazyModel, build_model, eager

RECIPE = 3  # bump when training code changes in a way that changes the models


@dataclass
class StandIn:
    """One run's training set, disjoint surrogate set and test set, images in [0, 1] (ImageSets for ImageNet)."""

    x_train: np.ndarray | stream.ImageSet
    y_train: np.ndarray
    x_surrogate: np.ndarray | stream.ImageSet
    y_surrogate: np.ndarray
    x_test: np.ndarray | stream.ImageSet
    y_test: np.ndarray


def imagenet_folder() -> Path:
    """The ImageNet validation folder of the `paper` profile (`DIVA_IMAGENET_VAL`, else data/imagenet_val)."""
    return Path(os.environ.get("DIVA_IMAGENET_VAL", data.DATA_DIR / "imagenet_val"))


def load_data(profile: Profile, seed: int) -> StandIn:
    """The seeded data split of a profile (Fashion-MNIST stand-in, MNIST, or an ImageNet val folder)."""
    if profile.dataset in ("fashion_mnist", "mnist"):
        xtr, ytr = data.load_idx(profile.dataset, "train")
        xte, yte = data.load_idx(profile.dataset, "test")
        s = data.make_split(len(xtr), len(xte), profile.n_train, profile.n_surrogate, profile.n_test, seed)
        size = profile.image_size
        return StandIn(
            data.to_rgb(xtr[s.train], size), ytr[s.train],
            data.to_rgb(xtr[s.surrogate], size), ytr[s.surrogate],
            data.to_rgb(xte[s.test], size), yte[s.test],
        )
    if profile.dataset == "imagenet":  # streamed: each split is an ImageSet, decoded a batch at a time
        files, labels = data.imagenet_files(imagenet_folder())
        images = stream.ImageSet.of(files, labels, profile.image_size)
        perm = np.random.default_rng(seed).permutation(len(files))
        test, pool = perm[: profile.n_test], perm[profile.n_test :]
        s = data.make_split(len(pool), len(test), profile.n_train, profile.n_surrogate, len(test), seed)

        def take(idx: np.ndarray) -> tuple[stream.ImageSet, np.ndarray]:
            return images.subset(idx), labels[idx]

        return StandIn(*take(pool[s.train]), *take(pool[s.surrogate]), *take(test))
    raise data.DataError(f"profile dataset {profile.dataset!r} has no loader")


def held_out(profile: Profile, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training-pool images of a Fashion-MNIST or MNIST profile that no model trains on, and their labels."""
    if profile.dataset not in ("fashion_mnist", "mnist"):
        raise data.DataError(f"held_out needs an in-memory dataset, not {profile.dataset!r}")
    xtr, ytr = data.load_idx(profile.dataset, "train")
    s = data.make_split(len(xtr), 0, profile.n_train, profile.n_surrogate, 0, seed)
    return data.to_rgb(xtr[s.unused], profile.image_size), ytr[s.unused]


@dataclass
class ZooEntry:
    """One architecture's original, QAT and deployed models plus how long each took to build."""

    arch: str
    fp32: LazyModel | tf_keras.Model
    qat: LazyModel | tf_keras.Model
    tflite: adapt.TFLiteModel
    build_seconds: dict[str, float] = field(default_factory=dict)


def original_config(arch: str, profile: Profile, seed: int) -> dict[str, Any]:
    """Everything that determines the trained original model."""
    return {
        "recipe": RECIPE, "role": "original", "arch": arch, "dataset": profile.dataset,
        "image_size": profile.image_size, "num_classes": profile.num_classes, "weights": profile.weights,
        "n_train": profile.n_train, "epochs": profile.epochs[arch], "lr": profile.learning_rate,
        "batch_size": profile.batch_size, "bn_batches": profile.bn_recalibration_batches, "seed": seed,
    }


def _qat_of(role: str, parent: dict[str, Any], profile: Profile, arch: str) -> dict[str, Any]:
    """Configuration of a QAT model fine-tuned from the model that `parent` describes."""
    return {"role": role, "parent": parent, "qat_epochs": profile.qat_epochs, "qat_lr": profile.qat_lr(arch),
            "n_finetune": profile.finetune_images, "input_quantizer": "exact, one step of margin",
            "ranges": "calibrated before and after, to 1 %"}


def qat_config(arch: str, profile: Profile, seed: int) -> dict[str, Any]:
    """Everything that determines the QAT model and its TFLite conversion."""
    return _qat_of("qat", original_config(arch, profile, seed), profile, arch)


class _Data:
    """A run's data split, loaded on first use (cached models need none)."""

    def __init__(self, profile: Profile, seed: int, stand_in: StandIn | None = None):
        self.profile, self.seed, self._d = profile, seed, stand_in

    def __call__(self) -> StandIn:
        if self._d is None:
            self._d = load_data(self.profile, self.seed)
        return self._d


def _fresh(arch: str, profile: Profile) -> tf_keras.Model:
    """A new model of the architecture, its variables placed by the run's distribution strategy."""
    with distribute.current().scope():
        return build_model(arch, profile.num_classes, profile.image_size, profile.weights)


def _quantize(model: tf_keras.Model, preserve_sparsity: bool = False,
              calibration: np.ndarray | None = None, bits: int = 8) -> tf_keras.Model:
    """`adapt.quantize` under the run's distribution strategy."""
    with distribute.current().scope():
        return adapt.quantize(model, preserve_sparsity, calibration, bits)


def _head(x: np.ndarray | stream.ImageSet, n: int) -> np.ndarray | stream.ImageSet:
    """The first n images (an ImageSet stays undecoded)."""
    return x.subset(np.arange(min(n, len(x)))) if isinstance(x, stream.ImageSet) else x[:n]


def _original_copy(arch: str, profile: Profile, seed: int, cache: ModelCache) -> tf_keras.Model:
    """A fresh model holding the cached original's weights (seeded, for training that starts from it)."""
    train.set_seed(seed)
    model = _fresh(arch, profile)
    model.load_weights(cache.path("original", original_config(arch, profile, seed)) / "weights.h5")
    return model


def _lazy(arch: str, profile: Profile, weights: Path, quantized: bool = False,
          preserve_sparsity: bool = False, bits: int = 8) -> LazyModel:
    """A cached float or QAT model of an architecture, built from its weights file on first use."""

    def build() -> tf_keras.Model:
        if not quantized:
            return _fresh(arch, profile)
        with adapt.quantize_scope():
            return _quantize(_fresh(arch, profile), preserve_sparsity, bits=bits)

    size = profile.image_size
    return LazyModel(weights, build, (None, size, size, 3), (None, profile.num_classes))


def _load_pair(arch: str, profile: Profile, fp32_dir: Path, qat_dir: Path) -> tuple[LazyModel, LazyModel]:
    """A float model and its QAT version from cached weights (each built on first use)."""
    return (_lazy(arch, profile, fp32_dir / "weights.h5"),
            _lazy(arch, profile, qat_dir / "weights.h5", quantized=True))


def _checkpoints(cache: ModelCache, role: str, config: dict[str, Any], profile: Profile) -> Path | None:
    """Where a model of the ImageNet profile backs up each epoch, so a killed build resumes (None elsewhere)."""
    return cache.root / ".checkpoints" / cache.path(role, config).name if profile.dataset == "imagenet" else None


def _train_original(arch: str, profile: Profile, x: np.ndarray, y: np.ndarray, seed: int,
                    desc: str, checkpoints: Path | None = None, temperature: float = 1.0) -> tf_keras.Model:
    """A fresh float model trained with cosine decay, then BatchNormalization recalibration."""
    train.set_seed(seed)
    model = _fresh(arch, profile)
    if profile.epochs[arch] > 0:
        train.fit(model, x, y, epochs=profile.epochs[arch], learning_rate=profile.learning_rate,
                  batch_size=profile.batch_size, seed=seed, cosine=True, desc=desc, checkpoint_dir=checkpoints,
                  temperature=temperature)
    train.recalibrate_batchnorm(model, x, profile.bn_recalibration_batches, profile.batch_size)
    return model


def _train_qat(arch: str, profile: Profile, fp32_dir: Path, x: np.ndarray, y: np.ndarray, seed: int,
               desc: str, checkpoints: Path | None = None, preserve_sparsity: bool = False,
               bits: int = 8) -> tf_keras.Model:
    """QAT fine-tuning of a cached float model, then BatchNormalization recalibration."""
    train.set_seed(seed)
    fp32 = _fresh(arch, profile)
    fp32.load_weights(fp32_dir / "weights.h5")
    x, y = _head(x, profile.finetune_images), y[: profile.finetune_images]
    qat = _quantize(fp32, preserve_sparsity, calibration=x, bits=bits)
    train.fit(qat, x, y, epochs=profile.qat_epochs, learning_rate=profile.qat_lr(arch),
              batch_size=profile.batch_size, seed=seed, desc=desc, checkpoint_dir=checkpoints)
    train.recalibrate_batchnorm(qat, x, profile.bn_recalibration_batches, profile.batch_size)
    adapt.calibrate(qat, x[: adapt.CALIBRATION_IMAGES])  # fit the ranges to the settled weights and statistics
    return qat


def get(arch: str, profile: Profile, seed: int, cache: ModelCache | None = None,
        stand_in: StandIn | None = None) -> ZooEntry:
    """Build (or load from the cache) the original, QAT and TFLite-int8 models of an architecture."""
    check_seed(seed)
    cache = cache or ModelCache()
    ocfg, qcfg = original_config(arch, profile, seed), qat_config(arch, profile, seed)
    need_data = _Data(profile, seed, stand_in)

    def build_original(tmp: Path) -> None:
        d = need_data()
        t = time.perf_counter()
        model = _train_original(arch, profile, d.x_train, d.y_train, seed, f"{arch} fp32",
                                _checkpoints(cache, "original", ocfg, profile))
        times = {"fp32_train_s": time.perf_counter() - t}
        model.save_weights(tmp / "weights.h5")
        (tmp / "times.json").write_text(json.dumps(times))

    def build_qat(tmp: Path) -> None:
        d = need_data()
        times = {}
        t = time.perf_counter()
        qat = _train_qat(arch, profile, cache.path("original", ocfg), d.x_train, d.y_train, seed, f"{arch} QAT",
                         _checkpoints(cache, "qat", qcfg, profile))
        times["qat_train_s"] = time.perf_counter() - t
        qat.save_weights(tmp / "weights.h5")
        t = time.perf_counter()
        adapt.to_tflite_int8(qat, tmp / "model_int8.tflite", d.x_train[:200])
        times["tflite_convert_s"] = time.perf_counter() - t
        (tmp / "times.json").write_text(json.dumps(times))

    opath = cache.get_or_build("original", ocfg, build_original)
    qpath = cache.get_or_build("qat", qcfg, build_qat)
    fp32, qat = _load_pair(arch, profile, opath, qpath)
    return ZooEntry(arch, fp32, qat, adapt.TFLiteModel(qpath / "model_int8.tflite"), _build_times(opath, qpath))


def _build_times(*folders: Path, required: bool = True) -> dict[str, float]:
    """The build times recorded in the cache entries `folders` (their `times.json`).

    Without `required` an entry with no `times.json` is skipped: pruned models cached before
    their builds were timed have none.
    """
    return {k: v for d in folders if required or (d / "times.json").exists()
            for k, v in json.loads((d / "times.json").read_text()).items()}


def get_nbit(arch: str, profile: Profile, seed: int, bits: int, cache: ModelCache | None = None,
             stand_in: StandIn | None = None) -> LazyModel:
    """The QAT graph of the cached original at `bits` bits (tfmot's n-bit scheme, the 8-bit recipe otherwise).

    Example:
        >>> qat4 = get_nbit("mobilenet", get_profile("smoke"), 0, bits=4)  # doctest: +SKIP
    """
    check_seed(seed)
    cache = cache or ModelCache()
    entry = get(arch, profile, seed, cache, stand_in)
    if bits == 8:
        return entry.qat
    ocfg = original_config(arch, profile, seed)
    cfg = {**_qat_of("qat_nbit", ocfg, profile, arch), "bits": bits}
    need_data = _Data(profile, seed, stand_in)

    def build(tmp: Path) -> None:
        d = need_data()
        t = time.perf_counter()
        qat = _train_qat(arch, profile, cache.path("original", ocfg), d.x_train, d.y_train, seed,
                         f"{arch} QAT {bits}-bit", bits=bits)
        qat.save_weights(tmp / "weights.h5")
        (tmp / "times.json").write_text(json.dumps({"qat_train_s": time.perf_counter() - t}))

    path = cache.get_or_build("qat_nbit", cfg, build)
    return _lazy(arch, profile, path / "weights.h5", quantized=True, bits=bits)


DISTILL_TEMPERATURE = 10.0  # the authors' surrogate notebook distils at T = 10


@dataclass
class Surrogates:
    """The attacker's own models (§4.3–4.4), each distilled from the deployed int8 model on disjoint data.

    semiblackbox: an original started from the adapted model's parameters (the attacker holds the
    adapted model); it pairs with the true QAT model. blackbox: an original trained from scratch
    with the original's recipe, and `blackbox_qat`, its own QAT version.
    """

    semiblackbox: LazyModel
    blackbox: LazyModel
    blackbox_qat: LazyModel
    build_seconds: dict[str, float] = field(default_factory=dict)


def surrogate_config(arch: str, profile: Profile, seed: int, threat: str) -> dict[str, Any]:
    """Everything that determines a threat model's surrogate original."""
    if threat not in ("semiblackbox", "blackbox"):
        raise ValueError(f"threat={threat!r} has no surrogate; use 'semiblackbox' or 'blackbox'")
    base = {"role": f"surrogate_{threat}", "teacher": qat_config(arch, profile, seed),
            "n_surrogate": profile.n_surrogate, "temperature": DISTILL_TEMPERATURE}
    if threat == "semiblackbox":
        return base | {"init": "adapted", "epochs": profile.distill_epochs, "lr": profile.qat_learning_rate}
    return base | {"init": "scratch" if profile.weights is None else profile.weights, "epochs": profile.epochs[arch],
                   "lr": profile.learning_rate, "batch_size": profile.batch_size}


def distillation_targets(teacher_probs: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Soft targets from a deployed model's probabilities: softmax(log p / T).

    An int8 model's probabilities sit on a 1/256 grid, so a class it rounds to zero gets half a
    step (1/512) before the logarithm. At T = 1 the targets are the probabilities themselves.
    """
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} must be > 0, e.g. 10 as in the authors' notebook")
    logits = np.log(np.maximum(teacher_probs.astype(np.float64), 1 / 512)) / temperature
    z = np.exp(logits - logits.max(1, keepdims=True))
    return (z / z.sum(1, keepdims=True)).astype(np.float32)


def get_surrogates(arch: str, profile: Profile, seed: int, teacher: ZooEntry, cache: ModelCache | None = None,
                   stand_in: StandIn | None = None) -> Surrogates:
    """Both threat models' surrogates, distilled at T = 10 from the deployed int8 model on the surrogate split (cached).

    Example:
        >>> sur = get_surrogates("mobilenet", profile, 0, get("mobilenet", profile, 0))  # doctest: +SKIP
    """
    check_seed(seed)
    cache = cache or ModelCache()
    semi, black = (surrogate_config(arch, profile, seed, t) for t in ("semiblackbox", "blackbox"))
    bqcfg = _qat_of("surrogate_blackbox_qat", black, profile, arch)
    need_data = _Data(profile, seed, stand_in)
    targets: np.ndarray | None = None

    def need() -> tuple[StandIn, np.ndarray]:
        nonlocal targets
        if targets is None:
            probs = teacher.tflite.predict(need_data().x_surrogate)
            targets = distillation_targets(probs, DISTILL_TEMPERATURE)
        return need_data(), targets

    def build_semi(tmp: Path) -> None:
        d, t = need()
        start = time.perf_counter()
        train.set_seed(seed + 1)
        model = _fresh(arch, profile)
        adapt.copy_float_weights(eager(teacher.qat), model)
        train.fit(model, d.x_surrogate, t, epochs=profile.distill_epochs, learning_rate=profile.qat_learning_rate,
                  batch_size=profile.batch_size, seed=seed + 1, cosine=True, temperature=DISTILL_TEMPERATURE,
                  desc=f"{arch} semi-blackbox surrogate")
        train.recalibrate_batchnorm(model, d.x_surrogate, profile.bn_recalibration_batches, profile.batch_size)
        model.save_weights(tmp / "weights.h5")
        (tmp / "times.json").write_text(json.dumps({"semiblackbox_surrogate_s": time.perf_counter() - start}))

    def build_black(tmp: Path) -> None:
        d, t = need()
        start = time.perf_counter()
        _train_original(arch, profile, d.x_surrogate, t, seed + 1, f"{arch} blackbox surrogate",
                        _checkpoints(cache, "surrogate_blackbox", black, profile),
                        temperature=DISTILL_TEMPERATURE).save_weights(tmp / "weights.h5")
        (tmp / "times.json").write_text(json.dumps({"blackbox_surrogate_s": time.perf_counter() - start}))

    def build_black_qat(tmp: Path) -> None:
        d, t = need()  # its QAT fine-tunes on the deployed model's labels
        start = time.perf_counter()
        qat = _train_qat(arch, profile, cache.path("surrogate_blackbox", black), d.x_surrogate, t.argmax(1), seed + 1,
                         f"{arch} blackbox surrogate QAT",
                         _checkpoints(cache, "surrogate_blackbox_qat", bqcfg, profile))
        qat.save_weights(tmp / "weights.h5")
        (tmp / "times.json").write_text(json.dumps({"blackbox_surrogate_qat_s": time.perf_counter() - start}))

    spath = cache.get_or_build("surrogate_semiblackbox", semi, build_semi)
    bpath = cache.get_or_build("surrogate_blackbox", black, build_black)
    bqpath = cache.get_or_build("surrogate_blackbox_qat", bqcfg, build_black_qat)
    times = {k: v for p in (spath, bpath, bqpath) for k, v in json.loads((p / "times.json").read_text()).items()}
    return Surrogates(_lazy(arch, profile, spath / "weights.h5"), *_load_pair(arch, profile, bpath, bqpath), times)


@dataclass
class PrunedEntry:
    """A pruned float model and its sparsity-preserving QAT version, each with its deployed TFLite model."""

    arch: str
    pruned: LazyModel
    pruned_tflite: adapt.TFLiteModel
    pruned_qat: LazyModel
    pruned_qat_tflite: adapt.TFLiteModel
    original_tflite_path: Path
    build_seconds: dict[str, float] = field(default_factory=dict)


PRUNE_SCHEDULE_SHARE = 0.3
"""Share of the pruning fine-tuning steps over which sparsity rises to its target; the rest recovers.

Measured on the `default` ResNet50 (3 epochs, 10,000 images): ending at 60 % of the steps left it
at 80.6 % (original 88.5 %) and its pruned + QAT model at 69.5 %; ending at 30 %, 83.9 % and 83.3 %.
"""


def pruned_config(arch: str, profile: Profile, seed: int, target_sparsity: float) -> dict[str, Any]:
    """Everything that determines the pruned model."""
    return {"role": "pruned", "parent": original_config(arch, profile, seed), "target_sparsity": target_sparsity,
            "prune_epochs": profile.prune_epochs, "lr": profile.learning_rate, "n_finetune": profile.finetune_images,
            "schedule_share": PRUNE_SCHEDULE_SHARE}


def get_pruned(arch: str, profile: Profile, seed: int, target_sparsity: float = 0.8,
               cache: ModelCache | None = None, stand_in: StandIn | None = None) -> PrunedEntry:
    """Prune the cached original (polynomial decay 0 → target, fine-tuned), then pruning-preserving QAT (cached)."""
    check_seed(seed)
    cache = cache or ModelCache()
    entry = get(arch, profile, seed, cache, stand_in)
    ocfg = original_config(arch, profile, seed)
    pcfg = pruned_config(arch, profile, seed, target_sparsity)
    pqcfg = _qat_of("pruned_qat", pcfg, profile, arch)
    need_data = _Data(profile, seed, stand_in)

    def build_pruned(tmp: Path) -> None:
        x, y = _head(need_data().x_train, profile.finetune_images), need_data().y_train[: profile.finetune_images]
        t = time.perf_counter()
        model = _original_copy(arch, profile, seed, cache)
        steps = profile.prune_epochs * -(-len(x) // profile.batch_size)
        wrapped = adapt.prune(model, target_sparsity, end_step=max(1, int(PRUNE_SCHEDULE_SHARE * steps)))
        train.fit(wrapped, x, y, epochs=profile.prune_epochs, learning_rate=profile.learning_rate,
                  batch_size=profile.batch_size, seed=seed, cosine=True, desc=f"{arch} prune",
                  callbacks=adapt.pruning_callbacks())
        stripped = adapt.strip_pruning(wrapped)
        train.recalibrate_batchnorm(stripped, x, profile.bn_recalibration_batches, profile.batch_size)
        stripped.save_weights(tmp / "weights.h5")
        adapt.to_tflite_float(stripped, tmp / "model_float.tflite")
        (tmp / "times.json").write_text(json.dumps({"pruned_train_s": time.perf_counter() - t}))

    def build_pruned_qat(tmp: Path) -> None:
        d, t = need_data(), time.perf_counter()
        qat = _train_qat(arch, profile, cache.path("pruned", pcfg), d.x_train, d.y_train, seed, f"{arch} pruned QAT",
                         preserve_sparsity=True)
        qat.save_weights(tmp / "weights.h5")
        adapt.to_tflite_int8(qat, tmp / "model_int8.tflite", d.x_train[:200])
        (tmp / "times.json").write_text(json.dumps({"pruned_qat_train_s": time.perf_counter() - t}))

    def build_original_float(tmp: Path) -> None:
        adapt.to_tflite_float(entry.fp32.model, tmp / "model_float.tflite")

    ppath = cache.get_or_build("pruned", pcfg, build_pruned)
    pqpath = cache.get_or_build("pruned_qat", pqcfg, build_pruned_qat)
    fpath = cache.get_or_build("original_tflite", {"role": "original_tflite", "parent": ocfg}, build_original_float)
    pruned = _lazy(arch, profile, ppath / "weights.h5")
    pqat = _lazy(arch, profile, pqpath / "weights.h5", quantized=True, preserve_sparsity=True)
    return PrunedEntry(arch, pruned, adapt.TFLiteModel(ppath / "model_float.tflite"), pqat,
                       adapt.TFLiteModel(pqpath / "model_int8.tflite"), fpath / "model_float.tflite",
                       _build_times(ppath, pqpath, required=False))


@dataclass(frozen=True)
class RobustRecipe:
    """PGD adversarial training of the robust original (§5.5) and the adversarial QAT of its adapted model.

    Training runs at most `max_epochs` on the first `n_train` training images and stops once the
    PGD accuracy on the first `n_check` images of the surrogate split (held out from these models)
    has not risen for `patience` epochs; the best epoch's weights are kept. The check attacks with
    PGD-10, step 2.5 ε / 10, no random start.
    """

    max_epochs: int
    steps: int
    eps: float = 8 / 255
    n_train: int = 10_000
    n_check: int = 500
    patience: int = 2

    @property
    def step(self) -> float:
        """Step of the training PGD (Madry et al.'s rule: 2.5 ε / steps)."""
        return 2.5 * self.eps / self.steps


def robust_config(arch: str, profile: Profile, seed: int, recipe: RobustRecipe) -> dict[str, Any]:
    """Everything that determines the adversarially trained original."""
    return {"role": "robust", "parent": original_config(arch, profile, seed), **dataclasses.asdict(recipe),
            "lr": profile.learning_rate, "batch_size": profile.batch_size}


def get_robust(arch: str, profile: Profile, seed: int, recipe: RobustRecipe, cache: ModelCache | None = None,
               stand_in: StandIn | None = None) -> ZooEntry:
    """PGD adversarial fine-tuning of the cached original, then adversarial QAT and int8 TFLite of it (cached).

    Example:
        >>> robust = get_robust("mobilenet", profile, 0, RobustRecipe(max_epochs=10, steps=5))  # doctest: +SKIP
    """
    check_seed(seed)
    cache = cache or ModelCache()
    get(arch, profile, seed, cache, stand_in)  # the starting point
    rcfg = robust_config(arch, profile, seed, recipe) | {"check_set": "surrogate split"}
    rqcfg = _qat_of("robust_qat", rcfg, profile, arch) | {"adversarial": True}
    need_data = _Data(profile, seed, stand_in)
    adv = {"eps": recipe.eps, "step": recipe.step, "steps": recipe.steps, "batch_size": profile.batch_size}

    def build_robust(tmp: Path) -> None:
        d = need_data()
        x, y = _head(d.x_train, recipe.n_train), d.y_train[: recipe.n_train]
        xh, yh = _head(d.x_surrogate, recipe.n_check), d.y_surrogate[: recipe.n_check]  # no robust model sees them
        model = _original_copy(arch, profile, seed, cache)
        checks: list[float] = []
        best: list = [-1.0, None]

        def stop(epoch: int) -> bool:
            checks.append(train.pgd_accuracy(model, xh, yh, eps=recipe.eps, step=2.5 * recipe.eps / 10, steps=10))
            if checks[-1] > best[0]:
                best[:] = [checks[-1], model.get_weights()]
            return epoch - int(np.argmax(checks)) >= recipe.patience

        t = time.perf_counter()
        train.adversarial_fit(model, x, y, epochs=recipe.max_epochs, learning_rate=profile.learning_rate, seed=seed,
                              stop=stop, desc=f"{arch} PGD-{recipe.steps} adversarial training", **adv)
        model.set_weights(best[1])  # BatchNormalization keeps the adversarial batches' statistics
        model.save_weights(tmp / "weights.h5")
        (tmp / "times.json").write_text(json.dumps({"adversarial_train_s": time.perf_counter() - t,
                                                    "epochs_run": len(checks), "heldout_pgd_acc": checks}))

    def build_qat(tmp: Path) -> None:
        d = need_data()
        x, y = _head(d.x_train, recipe.n_train), d.y_train[: recipe.n_train]
        t = time.perf_counter()
        train.set_seed(seed)
        fp32 = _fresh(arch, profile)
        fp32.load_weights(cache.path("robust", rcfg) / "weights.h5")
        qat = _quantize(fp32, calibration=x)
        train.adversarial_fit(qat, x, y, epochs=profile.qat_epochs, learning_rate=profile.qat_lr(arch),
                              seed=seed, desc=f"{arch} adversarial QAT", **adv)
        adapt.calibrate(qat, x[: adapt.CALIBRATION_IMAGES])
        qat.save_weights(tmp / "weights.h5")
        adapt.to_tflite_int8(qat, tmp / "model_int8.tflite", x[:200])
        (tmp / "times.json").write_text(json.dumps({"qat_and_convert_s": time.perf_counter() - t}))

    rpath = cache.get_or_build("robust", rcfg, build_robust)
    rqpath = cache.get_or_build("robust_qat", rqcfg, build_qat)
    fp32, qat = _load_pair(arch, profile, rpath, rqpath)
    built = {**json.loads((rpath / "times.json").read_text()), **json.loads((rqpath / "times.json").read_text())}
    return ZooEntry(arch, fp32, qat, adapt.TFLiteModel(rqpath / "model_int8.tflite"), built)
