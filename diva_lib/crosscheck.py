"""The engine against an independent implementation: our PGD and ART's on the same model, images and settings."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import tensorflow as tf
import tf_keras

from diva_lib import attacks, evaluate, metrics
from diva_lib.adapt import TFLiteModel
from diva_lib.cache import ArrayCache


def art_pgd(adapted: tf_keras.Model, x: np.ndarray, y: np.ndarray, *, eps: float, step: float, steps: int,
            batch_size: int) -> np.ndarray:
    """ART's ProjectedGradientDescent (L∞, no random start) on the adapted model's cross-entropy."""
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    clf = TensorFlowV2Classifier(model=adapted, nb_classes=int(adapted.output_shape[-1]), input_shape=x.shape[1:],
                                 loss_object=tf.keras.losses.SparseCategoricalCrossentropy(), clip_values=(0.0, 1.0))
    pgd = ProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=step, max_iter=steps, num_random_init=0,
                                   batch_size=batch_size, verbose=False)
    return pgd.generate(x, y=y).astype(np.float32)


def compare_with_art(original: tf_keras.Model, adapted: tf_keras.Model, deployed: TFLiteModel, x: np.ndarray,
                     y: np.ndarray, *, eps: float, step: float, steps: int, batch_size: int) -> dict:
    """Success on the deployed model and crafting time of both PGDs, and how far their images differ.

    Both are timed from scratch (our attack cache is bypassed), after one warm-up batch each.
    """
    ours = attacks.PGD(original, adapted, eps=eps, step=step, steps=steps)
    crafted, seconds = {}, {}
    for name, craft in {
        "this engine": lambda xs, ys: ours.run(xs, ys, batch_size, progress=False, keep_final=True,
                                               cache=ArrayCache(mode="off")).x_final,
        "ART": lambda xs, ys: art_pgd(adapted, xs, ys, eps=eps, step=step, steps=steps, batch_size=batch_size),
    }.items():
        craft(x[:8], y[:8])  # warm-up: tracing is not crafting
        t = time.perf_counter()
        crafted[name] = craft(x, y)
        seconds[name] = time.perf_counter() - t
    views = {n: evaluate.deployed_view(a, y, original, deployed) for n, a in crafted.items()}
    ours_pred, art_pred = (evaluate.predict(deployed, metrics.to_pixel_grid(crafted[n])).argmax(1) for n in crafted)
    return {
        "engines": {n: {"top1": v.top1.value, "top1_ci": [v.top1.low, v.top1.high],
                        "evasion": v.evasion.value} for n, v in views.items()},
        "seconds": seconds,
        "max_abs_diff": float(np.abs(crafted["this engine"] - crafted["ART"]).max()),
        "same_int8_prediction": float(np.mean(ours_pred == art_pred)),
        "n": len(y),
        "steps": steps,
    }


def comparison_table(result: dict) -> pd.DataFrame:
    """The cross-check as a table: success with its interval, adapted model fooled, speed."""
    return pd.DataFrame({n: {
        "top-1 success (int8)": f"{100 * e['top1']:.1f} % ({100 * e['top1_ci'][0]:.1f}–{100 * e['top1_ci'][1]:.1f})",
        "adapted fooled (int8)": f"{100 * e['evasion']:.1f} %",
        "images·steps / s": f"{result['n'] * result['steps'] / result['seconds'][n]:.0f}",
    } for n, e in result["engines"].items()}).T
