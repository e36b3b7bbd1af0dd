"""What a profile's run will build and attack, the data it needs, and its memory and time on this machine.

The time estimate comes from rates measured here by a short calibration (training and attack
steps of each architecture at the profile's image size, on random images: speed does not depend
on the weights or the pixels), never from constants in the code.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tf_keras

from diva_lib import adapt, attacks, config, data, distribute, faces, zoo
from diva_lib.cache import ArrayCache
from diva_lib.models import build_model

STEPS = 20  # attack steps, as every chapter runs them
_BYTES = 4  # float32


@dataclass(frozen=True)
class Work:
    """One thing the run does: so many images through training, or through attack steps."""

    arch: str
    what: str
    kind: str  # "train", "qat" or "attack"
    images: int  # image passes: epochs x images for training, images x steps for attacks


def work(profile: config.Profile) -> list[Work]:
    """The trainings and attacks of the quantization and pruning chapters, per architecture."""
    n_tr, n_su, n_te, n_ft = profile.n_train, profile.n_surrogate, profile.n_test, profile.finetune_images
    out = []
    for arch in profile.archs:
        e = profile.epochs[arch]
        out += [Work(arch, "original: fine-tune", "train", e * n_tr),
                Work(arch, "QAT", "qat", profile.qat_epochs * n_ft),
                Work(arch, "semi-blackbox surrogate: distil", "train", profile.distill_epochs * n_su),
                Work(arch, "blackbox surrogate: distil", "train", e * n_su),
                Work(arch, "blackbox surrogate QAT", "qat", profile.qat_epochs * min(n_su, n_ft)),
                Work(arch, "pruned", "train", profile.prune_epochs * n_ft),
                Work(arch, "pruned QAT", "qat", profile.qat_epochs * n_ft),
                Work(arch, "PGD + DIVA, 3 threat models", "attack", 6 * n_te * STEPS),
                Work(arch, "c ablation, baselines, pruning", "attack", 6 * n_te * STEPS)]
    return out


def data_needs(profile: config.Profile) -> pd.DataFrame:
    """Each input the run reads: where it is looked for, what it must hold, and whether it is there."""
    rows = []
    if profile.dataset == "imagenet":
        need = profile.n_train + profile.n_surrogate + profile.n_test
        folder = zoo.imagenet_folder()
        try:
            found = len(data.imagenet_files(folder)[0])
        except data.DataError:
            found = 0
        rows.append(("ImageNet validation images", str(folder), f"≥ {need:,} images", f"{found:,} images",
                     found >= need, "diva fetch --imagenet-val DIR (or DIVA_IMAGENET_VAL=DIR)"))
        pubfig = data.DATA_DIR / "pubfig"
        people = sum(1 for p in pubfig.glob("*") if p.is_dir()) if pubfig.is_dir() else 0
        rows.append(("PubFig (face chapter)", str(pubfig), "one folder per person", f"{people} people", people > 0,
                     "diva fetch --pubfig dev"))
        weights = Path(os.environ.get("DIVA_VGGFACE_WEIGHTS", data.DATA_DIR / "vggface_notop.h5"))
        rows.append(("VGGFace ResNet50 weights (face chapter)", str(weights), "keras-vggface notop .h5",
                     "present" if weights.is_file() else "absent", weights.is_file(),
                     "diva fetch --vggface-weights FILE"))
    else:
        for name in (profile.dataset, *data.FACE_SETS):
            try:
                data.verify(name)
                ok = True
            except data.DataError:
                ok = False
            rows.append((name, str(data.DATA_DIR / data.spec(name).folder), "pinned SHA-256",
                         "verified" if ok else "missing or corrupt", ok, f"diva fetch {name}"))
    return pd.DataFrame(rows, columns=["input", "where", "needs", "found", "ready", "how to get it"])


def memory(profile: config.Profile, strat_replicas: int, params: dict[str, int]) -> pd.DataFrame:
    """Host memory of the largest parts: streamed batches, the adversarial images kept, one model pair."""
    image = profile.image_size**2 * 3 * _BYTES
    batch = profile.batch_size * strat_replicas
    rows = [("decoded batches in flight (tf.data, ~8)", 8 * batch * image),
            ("evaluation set and its adversarial images", 2 * profile.n_test * image),
            (f"largest model pair + Adam state ({max(params, key=params.get)})", 4 * max(params.values()) * _BYTES)]
    frame = pd.DataFrame(rows, columns=["part", "bytes"])
    frame.loc[len(frame)] = ("total (estimate)", frame["bytes"].sum())
    return frame.assign(GiB=lambda d: (d["bytes"] / 2**30).round(2)).drop(columns="bytes")


def _per_second(fn, work: int) -> float:
    """`work` divided by the seconds of one call of `fn`, after one warm-up call (tracing is not work)."""
    fn()
    t = time.perf_counter()
    fn()
    return work / (time.perf_counter() - t)


def calibrate(profile: config.Profile, steps: int = 2,
              batch: int = 8) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """Images per second of float and QAT training steps and image·steps per second of DIVA, measured here;
    and each architecture's parameter count."""
    rates, params = {}, {}
    rng = np.random.default_rng(0)
    x = rng.random((batch, profile.image_size, profile.image_size, 3), dtype=np.float32)
    y = rng.integers(0, profile.num_classes, batch)
    for arch in profile.archs:
        with distribute.current().scope():
            model = build_model(arch, profile.num_classes, profile.image_size)
            qat = adapt.quantize(build_model(arch, profile.num_classes, profile.image_size))
        params[arch] = model.count_params()
        for m in (model, qat):
            m.compile(tf_keras.optimizers.Adam(1e-5), "sparse_categorical_crossentropy")
        diva = attacks.DIVA(model, qat, steps=steps)
        rates[arch] = {
            "train": _per_second(lambda m=model: [m.train_on_batch(x, y) for _ in range(steps)], steps * batch),
            "qat": _per_second(lambda m=qat: [m.train_on_batch(x, y) for _ in range(steps)], steps * batch),
            "attack": _per_second(lambda a=diva: a.run(x, y, batch, progress=False, keep_final=True,
                                                       cache=ArrayCache(mode="off")), steps * batch),
        }
    return rates, params


def estimate(profile: config.Profile, rates: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Hours per piece of work from the calibrated rates."""
    rows = []
    for w in work(profile):
        rate = rates[w.arch][w.kind]
        rows.append({"arch": w.arch, "work": w.what, "image passes": f"{w.images:,}", "hours": w.images / rate / 3600})
    frame = pd.DataFrame(rows)
    frame.loc[len(frame)] = {"arch": "all", "work": "total", "image passes": "", "hours": frame["hours"].sum()}
    return frame.round({"hours": 2})


def report(profile_name: str, archs: list[str] | None = None, calibration_steps: int = 2) -> str:
    """The whole plan as text: settings, data (what is missing), memory, and time from a calibration here."""
    profile = config.get_profile(profile_name, archs=archs)
    strat = distribute.current()
    replicas = strat.num_replicas_in_sync
    needs = data_needs(profile)
    lines = [f"Plan of the {profile.name!r} profile: {profile.dataset} at {profile.image_size}×{profile.image_size}, "
             f"architectures {', '.join(profile.archs)}",
             f"strategy: {type(strat).__name__} with {replicas} replica(s); batch {profile.batch_size} per replica "
             f"({distribute.global_batch(profile.batch_size, strat)} per step)",
             f"face chapter: {faces.setting_for(profile.name).source} faces", "", "Data:", needs.to_string(index=False)]
    missing = needs.loc[~needs["ready"], "input"].tolist()
    rates, params = calibrate(profile, calibration_steps)
    lines += ["", f"missing: {', '.join(missing)}" if missing else "all inputs present", "",
              "Host memory (estimate):", memory(profile, replicas, params).to_string(index=False), "",
              f"Rates measured here ({calibration_steps} steps of batch 8 on random images; images/s for "
              "float and QAT training, image·steps/s for DIVA):", pd.DataFrame(rates).T.round(2).to_string(), "",
              "Time (estimate, from those rates):",
              estimate(profile, rates).to_string(index=False)]
    return "\n".join(lines)
