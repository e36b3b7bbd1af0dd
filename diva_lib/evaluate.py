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


def select_second_half(x: np.ndarray, y: np.ndarray, models: list,
                       n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`select_eval_set` on the second half of a test split, disjoint from the quantization chapter's sets."""
    half = len(y) // 2
    return select_eval_set(x[half:], y[half:], models, n)


@dataclass
class View:
    """Metrics of adversarial images judged by the original and one version of the adapted model."""

    top1: Rate
    top5: Rate
    conf_delta: float
    evasion: Rate
    orig_still_correct: Rate

    @classmethod
    def of(cls, p_orig: np.ndarray, p_adapted: np.ndarray, y: np.ndarray) -> View:
        """The view from both models' outputs on the adversarial images."""
        return cls(metrics.top1_success(p_orig, p_adapted, y), metrics.top5_success(p_orig, p_adapted, y),
                   metrics.confidence_delta(p_orig, p_adapted, y), metrics.evasion(p_adapted, y),
                   metrics.accuracy(p_orig, y))

    def as_dict(self) -> dict[str, float]:
        """Fractions for JSON."""
        return {"top1": self.top1.value, "top1_ci": [self.top1.low, self.top1.high], "top5": self.top5.value,
                "top5_ci": [self.top5.low, self.top5.high], "conf_delta": self.conf_delta,
                "evasion": self.evasion.value, "evasion_ci": [self.evasion.low, self.evasion.high],
                "orig_still_correct": self.orig_still_correct.value, "n": self.top1.n}


@dataclass
class AttackReport:
    """One attack run measured on the true models: the kept (first-success) images, and the final iterates if kept.

    `qat` and `tflite` judge the kept images on the true original with the QAT graph and with the
    deployed int8 model (images rounded to the 8-bit grid); `qat_final` / `tflite_final` judge the
    final iterates the same way (None when the run did not keep them).
    """

    attack: str
    y: np.ndarray = field(repr=False)
    first_step: np.ndarray = field(repr=False)
    steps: int
    dssim: np.ndarray = field(repr=False)
    x_adv: np.ndarray = field(repr=False)
    outputs: dict[str, np.ndarray] = field(repr=False)  # "orig", "qat", "orig_grid", "int8" (+ "_final")

    def _view(self, orig: str, adapted: str) -> View | None:
        if adapted not in self.outputs:
            return None
        return View.of(self.outputs[orig], self.outputs[adapted], self.y)

    @property
    def qat(self) -> View:
        """Kept images on the true original and the QAT graph."""
        return self._view("orig", "qat")

    @property
    def tflite(self) -> View:
        """Kept images on the 8-bit grid, on the true original and the deployed int8 model (the headline view)."""
        return self._view("orig_grid", "int8")

    @property
    def qat_final(self) -> View | None:
        """Final iterates on the true original and the QAT graph."""
        return self._view("orig_final", "qat_final")

    @property
    def tflite_final(self) -> View | None:
        """Final iterates on the 8-bit grid, on the true original and the deployed int8 model."""
        return self._view("orig_grid_final", "int8_final")

    def table2_evasion(self, view: str = "tflite") -> Rate:
        """Table 2's evasion: the adapted model is wrong on the image kept at its first such event."""
        return metrics.evasion(self.outputs["int8_evade" if view == "tflite" else "qat_evade"], self.y)

    @property
    def p_orig(self) -> np.ndarray:
        """The true original's outputs on the kept images (8-bit grid)."""
        return self.outputs["orig_grid"]

    @property
    def p_deployed(self) -> np.ndarray:
        """The deployed int8 model's outputs on the kept images (8-bit grid)."""
        return self.outputs["int8"]

    @property
    def success_by_step(self) -> np.ndarray:
        """Cumulative first-success rate after each step 0..steps on the crafting pair (Fig 6d)."""
        return metrics.first_success_curve(self.first_step, self.steps)

    def success_mask(self, view: str = "tflite") -> np.ndarray:
        """Per image: the original right and the adapted model wrong, in a view ("tflite" or "qat")."""
        orig, adapted = ("orig_grid", "int8") if view == "tflite" else ("orig", "qat")
        return (self.outputs[orig].argmax(1) == self.y) & (self.outputs[adapted].argmax(1) != self.y)

    def head(self, n: int) -> AttackReport:
        """The report of the same run on its first n images (attacks are per image and deterministic)."""
        return AttackReport(self.attack, self.y[:n], self.first_step[:n], self.steps, self.dssim[:n], self.x_adv[:n],
                            {k: v[:n] for k, v in self.outputs.items()})

    def as_dict(self) -> dict:
        """JSON-friendly summary."""
        views = {"qat": self.qat, "tflite": self.tflite, "qat_final": self.qat_final, "tflite_final": self.tflite_final}
        evasion = {f"table2_evasion_{v}": self.table2_evasion(v).value for v in ("tflite", "qat")}
        return {"attack": self.attack, **{k: v.as_dict() for k, v in views.items() if v is not None}, **evasion,
                "dssim_mean": float(self.dssim.mean()) if self.dssim.size else float("nan"),
                "dssim_max": float(self.dssim.max()) if self.dssim.size else float("nan"),
                "success_by_step": self.success_by_step.tolist()}


def _outputs(x_adv: np.ndarray, original: tf_keras.Model, adapted: tf_keras.Model, deployed: TFLiteModel,
             suffix: str = "", cache: ArrayCache | None = None) -> dict[str, np.ndarray]:
    x_grid = metrics.to_pixel_grid(x_adv)
    return {f"orig{suffix}": predict(original, x_adv, cache=cache),
            f"qat{suffix}": predict(adapted, x_adv, cache=cache),
            f"orig_grid{suffix}": predict(original, x_grid, cache=cache),
            f"int8{suffix}": predict(deployed, x_grid, cache=cache)}


def deployed_view(x_adv: np.ndarray, y: np.ndarray, original: tf_keras.Model, deployed: TFLiteModel) -> View:
    """Any adversarial images judged on the 8-bit grid by the true original and the deployed model."""
    x_grid = metrics.to_pixel_grid(x_adv)
    return View.of(predict(original, x_grid), predict(deployed, x_grid), np.asarray(y))


def evaluate_attack(attack: Attack, original: tf_keras.Model, adapted: tf_keras.Model, deployed: TFLiteModel,
                    x: np.ndarray, y: np.ndarray, batch_size: int = 64, progress: bool = True,
                    final: bool = False, cache: ArrayCache | None = None) -> AttackReport:
    """Craft with `attack`'s models (first success on that pair), then judge on the true models.

    Args:
        attack: the attack, built on the pair the threat model gives the attacker.
        original, adapted, deployed: the true original, QAT graph and int8 TFLite model that judge.
        x, y: the evaluation images (in [0, 1]) and labels.
        final: also run every image to the last step and judge the final iterates.
        cache: where attacks and predictions are memoised (default: `ArrayCache()`).

    Example:
        >>> r = evaluate_attack(DIVA(fp32, qat), fp32, qat, tflite, x, y)  # doctest: +SKIP
        >>> r.tflite.top1  # doctest: +SKIP
    """
    res = attack.run(x, y, batch_size=batch_size, progress=progress, keep_final=final, cache=cache)
    outputs = _outputs(res.x_adv, original, adapted, deployed, cache=cache)
    outputs |= {"qat_evade": predict(adapted, res.x_evade, cache=cache),
                "int8_evade": predict(deployed, metrics.to_pixel_grid(res.x_evade), cache=cache)}
    if final:
        outputs |= _outputs(res.x_final, original, adapted, deployed, "_final", cache)
    dssim = metrics.dssim(np.asarray(x[:], np.float32), metrics.to_pixel_grid(res.x_adv))
    return AttackReport(attack.name(), np.asarray(y), res.first_step, attack.steps, dssim, res.x_adv, outputs)
