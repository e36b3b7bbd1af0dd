"""Run an attack and measure it the paper's way, on the QAT graph and on the deployed int8 model.

Model outputs go through `predict`, which memoises them in the `ArrayCache` next to the attack
runs, keyed by the model's weights (or TFLite file) and the images, so a rerun with nothing
changed reads its predictions instead of recomputing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tf_keras

from diva_lib import metrics
from diva_lib.adapt import TFLiteModel
from diva_lib.attacks import Attack
from diva_lib.cache import ArrayCache, digest, fingerprint
from diva_lib.metrics import Rate
from diva_lib.models import LazyModel
from diva_lib.stream import ImageSet


def predict(model: tf_keras.Model | LazyModel | TFLiteModel, x: np.ndarray, batch_size: int | None = None,
            cache: ArrayCache | None = None) -> np.ndarray:
    """Outputs of a Keras model (inference mode, batches of 256) or a TFLite model (batches of 64), memoised."""
    streamed = isinstance(x, ImageSet)
    x = x if streamed else np.asarray(x, np.float32)
    tflite = isinstance(model, TFLiteModel)
    batch_size = batch_size or (64 if tflite else 256)
    key = digest("tflite" if tflite else "keras", fingerprint(model), batch_size, x)

    def compute() -> dict[str, np.ndarray]:
        if tflite:
            return {"p": model.predict(x, batch_size=batch_size)}
        if streamed:  # decoded batch by batch
            return {"p": model.predict(x.dataset(batch_size).map(lambda images, _: images), verbose=0)}
        return {"p": model.predict(x, batch_size=batch_size, verbose=0)}

    return (cache or ArrayCache()).get_or_compute("predict", key, compute)["p"]


def select_eval_set(x: np.ndarray, y: np.ndarray, models: list, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` images that every given model (Keras or TFLite) classifies correctly (§5.1)."""
    keep = np.ones(len(y), bool)
    for m in models:
        keep &= predict(m, x).argmax(1) == y
    idx = np.flatnonzero(keep)[:n]
    return (x.subset(idx) if isinstance(x, ImageSet) else x[idx]), y[idx]


@dataclass
class View:
    """Metrics of adversarial images judged by the original and one version of the adapted model."""

    top1: Rate
    top5: Rate
    conf_delta: float
    evasion: Rate
    orig_still_correct: Rate

    def as_dict(self) -> dict[str, float]:
        """Fractions for JSON."""
        return {"top1": self.top1.value, "top1_ci": [self.top1.low, self.top1.high], "top5": self.top5.value,
                "conf_delta": self.conf_delta, "evasion": self.evasion.value,
                "orig_still_correct": self.orig_still_correct.value}


@dataclass
class AttackReport:
    """Everything measured about one attack run."""

    attack: str
    qat: View
    tflite: View
    dssim: np.ndarray
    success_by_step: np.ndarray
    x_adv: np.ndarray = field(repr=False)
    p_orig: np.ndarray = field(repr=False)  # true original on the pixel-grid images
    p_deployed: np.ndarray = field(repr=False)  # int8 TFLite on the pixel-grid images

    def as_dict(self) -> dict:
        """JSON-friendly summary."""
        return {"attack": self.attack, "qat": self.qat.as_dict(), "tflite": self.tflite.as_dict(),
                "dssim_mean": float(self.dssim.mean()) if self.dssim.size else float("nan"),
                "dssim_max": float(self.dssim.max()) if self.dssim.size else float("nan"),
                "success_by_step": self.success_by_step.tolist()}


def _view(p_orig: np.ndarray, p_adapted: np.ndarray, y: np.ndarray) -> View:
    return View(metrics.top1_success(p_orig, p_adapted, y), metrics.top5_success(p_orig, p_adapted, y),
                metrics.confidence_delta(p_orig, p_adapted, y), metrics.evasion(p_adapted, y),
                metrics.accuracy(p_orig, y))


def judge(name: str, x: np.ndarray, y: np.ndarray, x_adv: np.ndarray, original: tf_keras.Model,
          adapted: tf_keras.Model, deployed: TFLiteModel, success_by_step: np.ndarray) -> AttackReport:
    """Measure adversarial images on the true original, the true QAT graph and the int8 TFLite model.

    The deployed view rounds adversarial images to the 8-bit pixel grid, as a stored image is.
    """
    x_grid = metrics.to_pixel_grid(x_adv)
    p_orig, p_qat = predict(original, x_adv), predict(adapted, x_adv)
    p_orig_grid, p_int8 = predict(original, x_grid), predict(deployed, x_grid)
    curve = np.array(success_by_step, dtype=float)
    if np.isnan(curve[-1]):  # not recorded: only the final step is judged, on the true models
        curve[-1] = metrics.top1_success(p_orig, p_qat, y).value
    return AttackReport(name, _view(p_orig, p_qat, y), _view(p_orig_grid, p_int8, y), metrics.dssim(x, x_grid),
                        curve, x_adv, p_orig_grid, p_int8)


def evaluate_attack(attack: Attack, original: tf_keras.Model, adapted: tf_keras.Model, deployed: TFLiteModel,
                    x: np.ndarray, y: np.ndarray, batch_size: int = 64, progress: bool = True,
                    by_step: bool = True) -> AttackReport:
    """Craft with `attack`'s models, then `judge` the images on the true models.

    Success after each step is recorded when the attack crafts on the true models and `by_step`.
    """
    record = by_step and attack.original is original and attack.adapted is adapted
    res = attack.run(x, y, batch_size=batch_size, progress=progress, record=record)
    curve = metrics.success_by_step(res.orig_pred, res.adapted_pred, y) if record else np.full(attack.steps + 1,
                                                                                               np.nan)
    return judge(attack.name(), x, y, res.x_adv, original, adapted, deployed, curve)


def restrict(report: AttackReport, x: np.ndarray, y: np.ndarray, original: tf_keras.Model, adapted: tf_keras.Model,
             deployed: TFLiteModel) -> AttackReport:
    """The report of the same run on its first len(y) images (attacks are per image and deterministic)."""
    n = len(y)
    curve = np.full(len(report.success_by_step), np.nan)
    return judge(report.attack, x, y, report.x_adv[:n], original, adapted, deployed, curve)
