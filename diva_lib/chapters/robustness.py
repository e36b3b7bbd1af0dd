"""Adversarial training as a defense (§5.5): a PGD-trained original, its int8 model, and DIVA against both."""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from diva_lib import attacks, config, evaluate, floors, metrics, plots, report, train, verdicts, zoo
from diva_lib.chapters import ChapterResult, ChapterSettings, per_profile
from diva_lib.claims import judge
from diva_lib.metrics import Rate
from diva_lib.paper import AttackSettings
from diva_lib.report import pct
from diva_lib.verdicts import Estimate

ATTACK = AttackSettings(eps=8 / 255, step=0.00375, steps=20)
"""§5.5's attack on the robust models: ε = 8/255, step 0.00375, 20 steps, no random start."""


@dataclass(frozen=True)
class Settings(ChapterSettings):
    """Parameters of the robust-training chapter."""

    arch: str = "mobilenet"  # the architecture trained robustly (MobileNet fits the 2-core budget)
    adv_epochs: int = per_profile(1, 10, 10)  # at most this many epochs of PGD adversarial fine-tuning
    adv_steps: int = per_profile(1, 5, 7)  # PGD steps of the inner maximisation
    adv_eps: float = 8 / 255  # training ε (MadryLab's ImageNet model: 8/255)
    adv_n_train: int = per_profile(512, 10_000, 20_000)  # training images of adversarial training and QAT
    adv_n_check: int = per_profile(64, 500, 1000)  # held-out images whose PGD accuracy stops the training
    c_values: tuple[float, ...] = (1.0, 1.5, 5.0)  # DIVA c values (the paper: 1, 1.5, 5)
    n_eval: int = per_profile(48, 256, 3000)  # test images attacked

    def validate(self) -> None:
        """A known architecture and a training ε in (0, 0.5]."""
        if self.arch not in config.ARCHS:
            raise config.ParameterError(f"parameter 'arch'={self.arch!r} is unknown; use one of {config.ARCHS}")
        if not 0 < self.adv_eps <= 0.5:
            raise config.ParameterError(f"parameter 'adv_eps'={self.adv_eps!r} must be in (0, 0.5], e.g. 8/255")

    @property
    def recipe(self) -> zoo.RobustRecipe:
        """How the robust original and its adversarial QAT are trained."""
        return zoo.RobustRecipe(max_epochs=self.adv_epochs, steps=self.adv_steps, eps=self.adv_eps,
                                n_train=self.adv_n_train, n_check=self.adv_n_check)

    @property
    def cfg(self) -> config.Profile:
        """The run's profile restricted to the robust architecture."""
        return config.get_profile(self.profile, archs=[self.arch])


def settings_table(s: Settings) -> pd.DataFrame:
    """Paper setting vs this run."""
    cfg = s.cfg
    return report.settings_table({
        "robust original": ("MadryLab robust ResNet50 (PyTorch, ImageNet, PGD ε = 8/255)",
                            f"{s.arch} on {cfg.dataset}: the standard original fine-tuned with PGD-{s.adv_steps} "
                            f"adversarial training (ε = {s.adv_eps * 255:.0f}/255, step {s.recipe.step * 255:.2f}/255, "
                            f"{s.adv_n_train} images) until its PGD accuracy on {s.adv_n_check} held-out images "
                            f"stops rising, at most {s.adv_epochs} epochs"),
        "adapted model": ("quantized version of the robust model", f"adversarial QAT, {cfg.qat_epochs} epoch(s) with "
                          "the same PGD, activation ranges calibrated first; int8 TFLite"),
        "attacks": ("PGD, DIVA with c ∈ {1, 1.5, 5}",
                    f"PGD, DIVA with c ∈ {{{', '.join(f'{c:g}' for c in s.c_values)}}}, on the robust and on the "
                    "non-robust pair"),
        "ε / step / steps / random start": ("8/255 / 0.00375 / 20 / no (§5.5)",
                                            f"{ATTACK.eps * 255:g}/255 / {ATTACK.step:g} / {ATTACK.steps} / no "
                                            "(§5.5's settings, for every attack of this chapter)"),
        "protocol": ("each image kept at the first step where the original is right and the adapted model wrong",
                     "the same on the QAT pair; the kept image judged on the true original and the deployed int8 "
                     "model (8-bit pixel grid)"),
        "robust accuracy": ("accuracy of the quantized model under attack",
                            "the deployed int8 model's accuracy on the kept images; robustness checks (fp32 under "
                            "PGD-20 on itself, int8 under PGD-20 and under CW-L∞) judge the final iterate"),
        "images": ("ImageNet validation", f"first {s.n_eval} test images (success rates on those both models of the "
                   "pair classify correctly)"),
        "seed": ("not stated", s.seed),
    })


@dataclass(frozen=True)
class PairResult:
    """What the claims need of one pair (robust or non-robust): each attack's top-1 success and robust accuracy."""

    top1: dict[str, Rate]  # attack name ("PGD", "DIVA c=1", ...) → top-1 success on both-correct images
    robust_acc: dict[str, Rate]  # attack name → deployed int8 accuracy on the kept images (all attacked images)


def _attack_names(c_values: tuple[float, ...]) -> list[str]:
    return ["PGD", *(f"DIVA c={c:g}" for c in c_values)]


def _final_accuracy(attack: attacks.Attack, judge_model, x: np.ndarray, y: np.ndarray, batch_size: int,
                    grid: bool) -> Rate:
    """Accuracy of `judge_model` on the attack's final iterates (rounded to the 8-bit grid when `grid`)."""
    x_final = attack.run(x, y, batch_size, progress=False, keep_final=True).x_final
    return metrics.accuracy(evaluate.predict(judge_model, metrics.to_pixel_grid(x_final) if grid else x_final), y)


def _attack_pair(e: zoo.ZooEntry, x: np.ndarray, y: np.ndarray, c_values: tuple[float, ...], batch_size: int,
                 final_pgd: bool) -> tuple[dict, dict]:
    """PGD and DIVA (each c) on one pair: the reports and the clean accuracies."""
    kw = {"eps": ATTACK.eps, "step": ATTACK.step, "steps": ATTACK.steps}
    diva = attacks.DIVA(e.fp32, e.qat, **kw)  # one compiled attack; its c is set per run
    reports = {"PGD": evaluate.evaluate_attack(attacks.PGD(e.fp32, e.qat, **kw), e.fp32, e.qat, e.tflite, x, y,
                                               batch_size, progress=False, final=final_pgd)}
    for c in c_values:
        diva.c = c
        reports[f"DIVA c={c:g}"] = evaluate.evaluate_attack(diva, e.fp32, e.qat, e.tflite, x, y, batch_size,
                                                            progress=False)
    clean = {"fp32": evaluate.predict(e.fp32, x), "int8": evaluate.predict(e.tflite, x)}
    return reports, clean


def _pair_rows(pair: str, reports: dict, clean: dict, y: np.ndarray) -> tuple[PairResult, list[dict], dict]:
    """Per attack: top-1 success and Table 2 evasion on both-correct images, accuracies after the attack."""
    valid = metrics.both_correct(clean["fp32"], clean["int8"], y)
    top1, robust, rows, js = {}, {}, [], {}
    for name, r in reports.items():
        top1[name] = metrics.top1_success(r.p_orig[valid], r.p_deployed[valid], y[valid])
        robust[name] = metrics.accuracy(r.p_deployed, y)
        evasion = metrics.evasion(r.outputs["int8_evade"][valid], y[valid])
        rows.append({"pair": pair, "attack": name, "top-1 success": str(top1[name]),
                     "adapted fooled (Table 2)": str(evasion), "int8 accuracy after attack": str(robust[name]),
                     "original accuracy after attack": str(metrics.accuracy(r.p_orig, y)), "_top1": top1[name]})
        js[name] = {"top1": top1[name].value, "evasion": evasion.value, "robust_acc": robust[name].value}
    return PairResult(top1, robust), rows, js


def run(s: Settings) -> ChapterResult:
    """Train (or load) the robust pair, attack it and the non-robust pair, check its robustness, judge the claims.

    Example:
        >>> r = run(Settings.resolve("smoke"))  # doctest: +SKIP
        >>> r.show("attacks")  # doctest: +SKIP
    """
    cfg = s.cfg
    train.set_seed(s.seed)
    data = zoo.load_data(cfg, s.seed)
    t = time.perf_counter()
    plain = zoo.get(s.arch, cfg, s.seed, stand_in=data)
    robust = zoo.get_robust(s.arch, cfg, s.seed, s.recipe, stand_in=data)
    build = {"this call (s)": round(time.perf_counter() - t, 1),
             **{k: round(v, 1) for k, v in {**plain.build_seconds, **robust.build_seconds}.items() if k.endswith("_s")}}
    x, y = data.x_test[: s.n_eval], data.y_test[: s.n_eval]
    bs = cfg.attack_batch_size
    pairs, rows, clean, js, reports = {}, [], {}, {}, {}
    for pair, e in (("robust", robust), ("non-robust", plain)):
        reports[pair], clean[pair] = _attack_pair(e, x, y, s.c_values, bs, final_pgd=pair == "robust")
        pairs[pair], pair_rows, js[pair] = _pair_rows(pair, reports[pair], clean[pair], y)
        rows += pair_rows
    kw = {"eps": ATTACK.eps, "step": ATTACK.step, "steps": ATTACK.steps}
    checks = {"fp32_pgd_acc": _final_accuracy(attacks.PGD(robust.fp32, robust.fp32, **kw), robust.fp32, x, y, bs,
                                              grid=False),
              "int8_pgd_acc": metrics.accuracy(reports["robust"]["PGD"].outputs["int8_final"], y),
              "int8_second_attack_acc": _final_accuracy(attacks.CWLinf(robust.fp32, robust.qat, **kw), robust.tflite,
                                                        x, y, bs, grid=True)}
    acc = {p: {k: metrics.accuracy(v, y) for k, v in clean[p].items()} for p in clean}
    models = _models_table(s.arch, cfg.dataset, checks, acc, pairs, len(y))
    first = f"DIVA c={s.c_values[0]:g}"
    result = ChapterResult("robust", s.profile, settings_table(s), models, data={
        "seed": s.seed, "arch": s.arch, "n_eval": int(len(y)), "adv_max_epochs": s.adv_epochs,
        "adv_epochs_run": robust.build_seconds["epochs_run"],
        "heldout_pgd_acc": robust.build_seconds["heldout_pgd_acc"], "adv_steps": s.adv_steps, "adv_eps": s.adv_eps,
        "adv_n_train": s.adv_n_train, "attack": {"eps": ATTACK.eps, "step": ATTACK.step, "steps": ATTACK.steps,
                                         "random_start": False, "second_attack": "CW-L∞ margin loss"},
        "clean_acc": acc["robust"]["int8"].value, "clean_acc_fp32": acc["robust"]["fp32"].value,
        "robust_acc_pgd": pairs["robust"].robust_acc["PGD"].value,
        "robust_acc_diva": pairs["robust"].robust_acc[first].value,
        **{k: v.value for k, v in checks.items()}, **{f"{k}_ci": [v.low, v.high] for k, v in checks.items()},
        "by_c": {f"{c:g}": {"diva_top1": js["robust"][f"DIVA c={c:g}"]["top1"], "pgd_top1": js["robust"]["PGD"]["top1"],
                            "diva_evasion": js["robust"][f"DIVA c={c:g}"]["evasion"],
                            "pgd_evasion": js["robust"]["PGD"]["evasion"]} for c in s.c_values},
        "non_robust": {"clean_fp32": acc["non-robust"]["fp32"].value, "clean_int8": acc["non-robust"]["int8"].value,
                       **{k: {"top1": v["top1"], "evasion": v["evasion"]} for k, v in js["non-robust"].items()}},
        "omitted_claims": [] if 5 in s.c_values else ["robust.c5_beats_pgd: c = 5 is not in c_values"],
        "build_seconds": build})
    result.tables = {
        "clean": pd.DataFrame([{"pair": p, "clean accuracy fp32": str(a["fp32"]), "clean accuracy int8": str(a["int8"])}
                               for p, a in acc.items()]),
        "attacks": pd.DataFrame(rows).drop(columns="_top1"),
        "robustness": pd.DataFrame([{"check": name, "accuracy": str(checks[k])} for k, name in CHECKS.items()]),
        "build": pd.DataFrame([build]).astype(str)}
    result.claims = claims(s.arch, pairs["robust"], pairs["non-robust"], s.c_values, models, s.stand_in)
    result.extras["rows"] = rows
    return result


CHECKS = {"fp32_pgd_acc": "robust fp32 under PGD-20 on itself (final iterate)",
          "int8_pgd_acc": "deployed int8 under PGD-20 through the QAT graph (final iterate, 8-bit grid)",
          "int8_second_attack_acc": "deployed int8 under CW-L∞ through the QAT graph (final iterate, 8-bit grid)"}


def _models_table(arch: str, dataset: str, checks: dict[str, Rate], acc: dict[str, dict[str, Rate]],
                  pairs: dict[str, PairResult], n: int) -> floors.ModelsTable:
    """The robust pair's robustness floors, the non-robust pair's accuracy floors, and the attacked image counts."""
    m = floors.ModelsTable()
    fp32, int8, second = (checks[k].value for k in ("fp32_pgd_acc", "int8_pgd_acc", "int8_second_attack_acc"))
    m.check(f"{arch} robust fp32", "robust_pgd_acc", fp32)
    m.check(f"{arch} robust int8", "int8_robust_gap", int8 - fp32)
    m.check(f"{arch} robust int8", "second_attack_gap", abs(second - int8))
    m.check(f"{arch} fp32", floors.fp32_floor(dataset), acc["non-robust"]["fp32"].value)
    m.check(f"{arch} int8", "int8_minus_fp32", acc["non-robust"]["int8"].value - acc["non-robust"]["fp32"].value)
    m.check("attacked images", "n_rate", n)
    for pair, r in pairs.items():
        m.check(f"{pair} pair images", "n_rate", r.top1["PGD"].n)
    return m


def claims(arch: str, robust: PairResult, non_robust: PairResult, c_values: tuple[float, ...],
           models: floors.ModelsTable, stand_in: bool) -> list[dict]:
    """The chapter's verdicts from plain measured numbers (the c = 5 claim only when 5 is among `c_values`)."""
    rests = [f"{arch} robust fp32", f"{arch} robust int8", f"{arch} fp32", f"{arch} int8", "robust pair images",
             "non-robust pair images"]
    first = f"DIVA c={c_values[0]:g}"
    drops = {a: verdicts.difference(non_robust.top1[a], robust.top1[a]) for a in ("PGD", first)}
    scope = f"{arch}; n = {robust.top1['PGD'].n} (robust) and {non_robust.top1['PGD'].n} (non-robust) attacked images"
    rows = [judge("robust.defends", all(e.low > 0 for e in drops.values()),
                  "; ".join(f"{a}: {pct(non_robust.top1[a].value)} → {pct(robust.top1[a].value)}, drop {e}"
                            for a, e in drops.items()), models=models, rests_on=rests, stand_in=stand_in,
                  estimate=min(drops.values(), key=lambda e: e.low), scope=scope)]
    if 5 in c_values:
        gap = verdicts.difference(robust.top1["DIVA c=5"], robust.top1["PGD"])
        rows.append(judge("robust.c5_beats_pgd", gap.low > 0,
                          f"DIVA c = 5 {robust.top1['DIVA c=5']} vs PGD {robust.top1['PGD']}, difference {gap}",
                          models=models, rests_on=rests[:2] + ["robust pair images"], stand_in=stand_in,
                          estimate=gap, scope=scope))
    same = verdicts.difference(robust.robust_acc["PGD"], robust.robust_acc[first])
    rows.append(judge("robust.same_robust_accuracy", verdicts.reaches(same, -0.05, 0.05),
                      f"PGD {robust.robust_acc['PGD']} vs {first} {robust.robust_acc[first]}, difference {same}",
                      models=models, rests_on=[*rests[:2], "attacked images"], stand_in=stand_in,
                      estimate=Estimate.of(same),
                      scope=f"{arch}; n = {robust.robust_acc['PGD'].n} attacked images"))
    return rows


def figure(result: ChapterResult) -> plt.Figure:
    """Top-1 success on the deployed int8 model per attack, robust vs non-robust pair, with 95 % intervals."""
    df = pd.DataFrame([{"attack": r["attack"], "pair": r["pair"], "value": r["_top1"].value, "low": r["_top1"].low,
                        "high": r["_top1"].high} for r in result.extras["rows"]])
    return plots.rate_bars(df, "attack", "pair", "top-1 success on the int8 model: robust vs non-robust pair",
                           "top-1 success (%)")
