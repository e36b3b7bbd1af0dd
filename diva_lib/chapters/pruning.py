"""DIVA on pruned models (§5.6, Fig 8): pruning changes predictions more than quantization, and DIVA exploits it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from diva_lib import (
    adapt,
    attacks,
    config,
    evaluate,
    floors,
    metrics,
    paper,
    plots,
    report,
    saturation,
    train,
    verdicts,
    zoo,
)
from diva_lib.chapters import ArchSettings, ChapterResult, per_profile
from diva_lib.claims import judge
from diva_lib.evaluate import AttackReport
from diva_lib.metrics import Rate
from diva_lib.models import release as release_models
from diva_lib.report import pct
from diva_lib.verdicts import Estimate, paired_difference

KINDS = ("pruned", "pruned_quantized")
"""The two adapted models of the chapter: pruned (float32 TFLite) and pruned + QAT (int8 TFLite)."""


@dataclass(frozen=True)
class Settings(ArchSettings):
    """Parameters of the pruning chapter."""

    archs: tuple[str, ...] = per_profile(("mobilenet",), config.ARCHS, config.ARCHS)
    target_sparsity: float = 0.8  # final share of zero weights (the authors' artifact: 0.8)
    n_eval: int = per_profile(32, 256, 3000)  # images per architecture
    c: float = 1.0  # DIVA's balance between the two models

    def validate(self) -> None:
        """The target sparsity is a share strictly between 0 and 1."""
        if not 0 < self.target_sparsity < 1:
            raise config.ParameterError(f"parameter 'target_sparsity'={self.target_sparsity!r} must be in (0, 1), "
                                        "e.g. 0.8")


def settings_table(s: Settings) -> pd.DataFrame:
    """Paper setting vs this run."""
    cfg = s.cfg
    return report.settings_table({
        "models": ("ResNet50, MobileNet, DenseNet121 (ImageNet)", f"{', '.join(cfg.archs)} on {cfg.dataset}"),
        "pruning": ("Keras weight pruning, polynomial decay to 0.8, fine-tuned",
                    f"prune_low_magnitude on Conv2D and Dense kernels, 0 → {s.target_sparsity:g} over "
                    f"{zoo.PRUNE_SCHEDULE_SHARE * 100:g} % of "
                    f"{cfg.prune_epochs} epoch(s), lr {cfg.learning_rate} with cosine decay"),
        "pruned + quantized": ("the same QAT pipeline, sparsity preserved with tfmot",
                               f"Default8BitPrunePreserveQuantizeScheme, QAT {cfg.qat_summary()}, int8 TFLite"),
        "deployed models": ("TFLite", "float32 TFLite (pruned), int8 TFLite (pruned + QAT), LiteRT interpreter"),
        "ε / step / steps / random start": (paper.ATTACK.describe(), cfg.attack.describe()),
        "protocol": ("each image kept at the first step where the original is right and the adapted model wrong",
                     "the same on the Keras pair; the kept image judged on the true original and the deployed "
                     "TFLite model (8-bit pixel grid)"),
        "DIVA c": ("1", f"{s.c:g}"),
        "instability": ("images where exactly one of the two models is correct", "the same, on the test set; "
                        "disagreement (any two different predictions) beside it"),
        "evaluation set": ("3,000 images all models classify correctly",
                           f"the first {s.n_eval} test images of the split's second half (disjoint from the "
                           "quantization chapter's sets) all three models classify correctly, per architecture"),
        "seed": ("not stated", s.seed),
    })


@dataclass(frozen=True)
class PrunedModel:
    """What the claims need of one pruned model: its attack rates, confidence gain, instability and size."""

    arch: str
    kind: str  # "pruned" or "pruned_quantized"
    diva_top1: Rate
    pgd_top1: Rate
    conf_gain: Estimate  # paired per image: DIVA − PGD confidence delta
    instability: Rate
    int8_instability: Rate  # the same architecture's QAT int8 model, same test images
    size_ratio: float  # gzip size of the deployed file over the original's



def confidence_deltas(r: AttackReport) -> np.ndarray:
    """Per kept image: p_orig[y] − p_deployed[y] on the 8-bit grid (the headline view's confidence delta)."""
    idx = np.arange(len(r.y))
    return r.p_orig[idx, r.y] - r.p_deployed[idx, r.y]


def run(s: Settings) -> ChapterResult:
    """Prune each architecture (and quantize the pruned model), measure it, attack it with PGD and DIVA, judge.

    Example:
        >>> r = run(Settings.resolve("smoke"))  # doctest: +SKIP
        >>> r.show("fig8")  # doctest: +SKIP
    """
    cfg = s.cfg
    train.set_seed(s.seed)
    data = zoo.load_data(cfg, s.seed)
    x_test, y_test = data.x_test, data.y_test
    models, json_out = floors.ModelsTable(), {}
    measured, stat_rows, attack_rows, layer_rows, build, saturated = [], [], [], [], [], []
    models.check("test set", "n_rate", len(y_test))
    for arch in cfg.archs:
        t = time.perf_counter()
        e = zoo.get(arch, cfg, s.seed, stand_in=data)
        p = zoo.get_pruned(arch, cfg, s.seed, s.target_sparsity, stand_in=data)
        build.append({"arch": arch, "this call (s)": round(time.perf_counter() - t, 1),
                      **{k: round(v, 1) for k, v in {**e.build_seconds, **p.build_seconds}.items()}})
        po, p8 = evaluate.predict(e.fp32, x_test), evaluate.predict(e.tflite, x_test)
        orig_acc, orig_kb = metrics.accuracy(po, y_test), adapt.gzipped_size(p.original_tflite_path) / 1024
        int8 = {"accuracy": metrics.accuracy(p8, y_test), "instability": metrics.instability(po, p8, y_test)}
        models.check(f"{arch} fp32", floors.fp32_floor(cfg.dataset), orig_acc.value)
        models.check(f"{arch} int8", "int8_minus_fp32", int8["accuracy"].value - orig_acc.value)
        stat_rows += [_stat_row(arch, "original", {"accuracy": orig_acc, "gzip_kb": orig_kb}),
                      _stat_row(arch, "int8 (QAT)", int8)]
        x, y = evaluate.select_second_half(x_test, y_test, [e.fp32, p.pruned_tflite, p.pruned_qat_tflite], s.n_eval)
        models.check(f"{arch} eval set", "n_rate", len(y))
        json_out[arch] = {"original": {"accuracy": orig_acc.value, "gzip_kb": orig_kb},
                          "int8": {"accuracy": int8["accuracy"].value, "instability": int8["instability"].value},
                          "build_seconds": build[-1]}
        for kind, keras_model, deployed in (("pruned", p.pruned, p.pruned_tflite),
                                            ("pruned_quantized", p.pruned_qat, p.pruned_qat_tflite)):
            st = _clean_stats(po, evaluate.predict(deployed, x_test), y_test, deployed, orig_kb)
            models.check(f"{arch} {kind}", "pruned_minus_original", st["accuracy"].value - orig_acc.value)
            models.check(f"{arch} {kind}", "sparsity", st["sparsity"])
            runs = {name: evaluate.evaluate_attack(atk, e.fp32, keras_model, deployed, x, y, progress=False,
                                                   batch_size=cfg.attack_batch_size, final=name == "PGD")
                    for name, atk in (("PGD", attacks.PGD(e.fp32, keras_model, **cfg.attack.kwargs())),
                                      ("DIVA", attacks.DIVA(e.fp32, keras_model, c=s.c, **cfg.attack.kwargs())))}
            d, g = runs["DIVA"], runs["PGD"]
            models.check(f"{arch} {kind}", "pgd_evasion", g.tflite_final.evasion.value)
            saturated.append(saturation.row(f"{arch} {kind}", y, g.outputs["int8_final"],
                                            evaluate.predict(keras_model, x),
                                            attacks.PGD(e.fp32, keras_model).gradient(x, y),
                                            saturation.second_attack(e.fp32, keras_model, deployed, x, y,
                                                                     cfg.attack.kwargs(), cfg.attack_batch_size)))
            measured.append(PrunedModel(arch, kind, d.tflite.top1, g.tflite.top1,
                                        paired_difference(confidence_deltas(d), confidence_deltas(g)),
                                        st["instability"], int8["instability"], st["size_ratio"]))
            stat_rows.append(_stat_row(arch, kind, st))
            attack_rows += [_attack_row(arch, kind, name, r) for name, r in runs.items()]
            json_out[arch][kind] = _json_row(st, d, g)
        layer_rows += [{"arch": arch, "layer kind": k, "zero weights (%)": 100 * v}
                       for k, v in adapt.sparsity(p.pruned).items()]
        release_models(e.fp32, e.qat, p.pruned, p.pruned_qat)  # one architecture's models in memory at a time
    result = ChapterResult("pruning", s.profile, settings_table(s), models,
                           data={**json_out, "target_sparsity": s.target_sparsity, "c": s.c, "seed": s.seed,
                                 "n_test": len(y_test), "saturation": saturation.to_json(saturated)})
    result.tables = {"models_measured": pd.DataFrame(stat_rows),
                     "fig8": pd.DataFrame(attack_rows).drop(columns=["_top1", "_top5"]),
                     "build": pd.DataFrame(build).astype(str), "saturation": saturation.table(saturated)}
    result.claims = claims(measured, models, s.stand_in)
    result.extras.update(layers=pd.DataFrame(layer_rows), attack_rows=attack_rows, target=s.target_sparsity)
    return result


def _clean_stats(po: np.ndarray, pa: np.ndarray, y: np.ndarray, deployed: adapt.TFLiteModel,
                 orig_kb: float) -> dict:
    """Accuracy, instability, disagreement, clean confidence delta, sparsity and size of one deployed model."""
    kb = adapt.gzipped_size(deployed.path) / 1024
    return {"accuracy": metrics.accuracy(pa, y), "instability": metrics.instability(po, pa, y),
            "disagreement": metrics.disagreement(po, pa), "clean_conf_delta": metrics.confidence_delta(po, pa, y),
            "sparsity": adapt.tflite_weight_sparsity(deployed.path), "gzip_kb": kb, "size_ratio": kb / orig_kb}


def _stat_row(arch: str, model: str, st: dict) -> dict:
    """One row of the models-measured table (rates with their intervals, shares as percentages)."""
    fmt = {"accuracy": str, "instability": str, "disagreement": str, "clean_conf_delta": pct, "sparsity": pct,
           "gzip_kb": lambda v: f"{v:.0f}", "size_ratio": pct}
    names = {"gzip_kb": "gzip (KB)", "size_ratio": "size / original", "clean_conf_delta": "clean confidence delta"}
    return {"arch": arch, "model": model, **{names.get(k, k): fmt[k](st[k]) if k in st else "" for k in fmt}}


def _attack_row(arch: str, kind: str, name: str, r: AttackReport) -> dict:
    """One row of the Fig 8 table: kept images judged on the deployed model, and on the Keras graph."""
    v = r.tflite
    return {"arch": arch, "adapted model": kind, "attack": name, "images": v.top1.n, "top-1 success": str(v.top1),
            "top-5 success": str(v.top5), "confidence delta": pct(v.conf_delta),
            "adapted fooled (Table 2)": str(r.table2_evasion()), "top-1 success (Keras graph)": str(r.qat.top1),
            "_top1": v.top1, "_top5": v.top5}


def _json_row(st: dict, d: AttackReport, g: AttackReport) -> dict:
    """The JSON of one pruned model: its clean statistics and both attacks on the deployed model."""
    return {"sparsity": st["sparsity"], "instability": st["instability"].value,
            "disagreement": st["disagreement"].value, "accuracy": st["accuracy"].value,
            "clean_conf_delta": st["clean_conf_delta"], "gzip_kb": st["gzip_kb"], "size_ratio": st["size_ratio"],
            "diva_top1": d.tflite.top1.value, "pgd_top1": g.tflite.top1.value, "diva_top5": d.tflite.top5.value,
            "pgd_top5": g.tflite.top5.value, "diva_conf_delta": d.tflite.conf_delta,
            "pgd_conf_delta": g.tflite.conf_delta, "diva_evasion": d.table2_evasion().value,
            "pgd_evasion": g.table2_evasion().value, "n": d.tflite.top1.n}


def _farthest(estimates: list[Estimate], low: float, high: float = math.inf) -> Estimate:
    """The estimate whose interval lies farthest outside [low, high] (the one that decides an 'every' rule)."""
    return max(estimates, key=lambda e: max(low - e.high, e.low - high))


def claims(measured: list[PrunedModel], models: floors.ModelsTable, stand_in: bool) -> list[dict]:
    """The chapter's verdicts from plain measured numbers (one `PrunedModel` per arch and kind)."""
    pruned = [m for m in measured if m.kind == "pruned"]
    names = ", ".join(f"{m.arch} {m.kind}" for m in measured)
    scope = f"{names}; n = {', '.join(str(m.diva_top1.n) for m in measured)} attacked images"
    attacked = sorted({f"{m.arch} {k}" for m in measured for k in ("fp32", m.kind, "eval set")})
    diva = [Estimate.of(m.diva_top1) for m in measured]
    gap = [verdicts.difference(m.diva_top1, m.pgd_top1) for m in measured]
    gains = [m.conf_gain for m in measured]
    inst = [verdicts.difference(m.instability, m.int8_instability) for m in pruned]
    ratios = [Estimate(m.size_ratio, m.size_ratio, m.size_ratio) for m in pruned]
    label = [f"{m.arch} {m.kind}" for m in measured]
    return [
        judge("pruning.whitebox_level", all(verdicts.reaches(e, 0.978, 1.0) for e in diva),
              "; ".join(f"{n} {m.diva_top1}" for n, m in zip(label, measured, strict=True)), models=models,
              rests_on=attacked, stand_in=stand_in, estimate=_farthest(diva, 0.978, 1.0), scope=scope),
        judge("pruning.beats_pgd", all(e.low > 0 for e in gap),
              "; ".join(f"{n}: DIVA {pct(m.diva_top1.value)} vs PGD {pct(m.pgd_top1.value)}, difference {e}"
                        for n, m, e in zip(label, measured, gap, strict=True)), models=models, rests_on=attacked,
              stand_in=stand_in, estimate=min(gap, key=lambda e: e.low), scope=scope),
        judge("pruning.confidence_gain", all(verdicts.reaches(e, 0.083, 0.16) for e in gains),
              "; ".join(f"{n} {100 * e.value:.1f} points [{100 * e.low:.1f}, {100 * e.high:.1f}]"
                        for n, e in zip(label, gains, strict=True)), models=models, rests_on=attacked,
              stand_in=stand_in, estimate=_farthest(gains, 0.083, 0.16), scope=scope),
        judge("pruning.less_stable_than_int8", all(e.low > 0 for e in inst),
              "; ".join(f"{m.arch}: pruned {m.instability} vs int8 {m.int8_instability}" for m in pruned),
              models=models, rests_on=sorted({f"{m.arch} {k}" for m in pruned for k in ("fp32", "int8", "pruned")}
                                            | {"test set"}), stand_in=stand_in,
              estimate=min(inst, key=lambda e: e.low) if inst else None,
              scope=f"{', '.join(m.arch for m in pruned)}; n = {pruned[0].instability.n if pruned else 0} test images"),
        judge("pruning.size", all(verdicts.reaches(e, 0.25, 0.42) for e in ratios),
              "; ".join(f"{m.arch}: {pct(m.size_ratio)}" for m in pruned), models=models,
              rests_on=[f"{m.arch} pruned" for m in pruned], stand_in=stand_in,
              estimate=_farthest(ratios, 0.25, 0.42) if ratios else None,
              scope=f"{', '.join(m.arch for m in pruned)}; gzip -9 of the deployed TFLite files"),
    ]


def fig_sparsity(result: ChapterResult) -> plt.Figure:
    """Zero kernel weights of the pruned models per layer kind."""
    sns.set_theme(style="whitegrid")
    g = sns.catplot(data=result.extras["layers"], x="layer kind", y="zero weights (%)", col="arch", kind="bar",
                    height=3.0, aspect=1.1, color="tab:blue")
    g.figure.suptitle(f"zero kernel weights of the pruned models per layer kind (target "
                      f"{result.extras['target']:.0%})", y=1.05)
    return g.figure


def fig8(result: ChapterResult, metric: str = "top1") -> plt.Figure:
    """Fig 8: top-1 (or top-5) success of PGD and DIVA on the deployed pruned models, with 95 % intervals."""
    label = {"top1": "top-1", "top5": "top-5"}[metric]
    df = pd.DataFrame([{"model": f"{r['arch']}\n{r['adapted model'].replace('_', ' + ')}", "attack": r["attack"],
                        "value": r[f"_{metric}"].value, "low": r[f"_{metric}"].low, "high": r[f"_{metric}"].high}
                       for r in result.extras["attack_rows"]])
    return plots.rate_bars(df, "model", "attack", f"Fig 8: {label} success on the deployed TFLite models",
                           f"{label} success (%)")
