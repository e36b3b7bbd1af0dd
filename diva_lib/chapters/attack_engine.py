"""The attack engine (§3–§4, §5.4): every attack on one whitebox pair, first success beside the final iterate.

This chapter owns no claim of the paper: the numbers it shows (DIVA against PGD, the baselines,
the evasion cost) are judged in the quantization chapter, on every architecture. It shows what
the engine does, checks its protocol (every final-iterate success is a first success too) and
checks it against an independent implementation (ART).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NewType

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from diva_lib import attacks, config, crosscheck, evaluate, floors, metrics, paper, plots, report, train, zoo
from diva_lib.chapters import ChapterResult, ChapterSettings, per_profile
from diva_lib.evaluate import AttackReport
from diva_lib.metrics import Rate
from diva_lib.report import pct

ClassIndex = NewType("ClassIndex", int)
"""A class index in [0, classes), checked by `Settings.validate` (0 is a valid value)."""

LOSSES = {
    "PGD": "cross-entropy of the adapted model (§5.1)",
    "DIVA": "p_orig[y] − c·p_adapted[y] (Eq. 5)",
    "Momentum PGD": "PGD with momentum on the L1-normalised gradient (§5.4)",
    "CW-L∞": "max_{j≠y} z_j − z_y of the adapted model's logits (§5.4)",
    "targeted DIVA": "DIVA + p_adapted[t] (§6)",
}
"""What each attack of the suite maximises."""


@dataclass(frozen=True)
class Settings(ChapterSettings):
    """Parameters of the attack-engine chapter."""

    arch: str = "mobilenet"  # the model pair attacked here
    n_eval: int | None = per_profile(48, 256, 3000)  # images every model classifies correctly
    c: float = 1.0  # DIVA's balance between the two models
    target: ClassIndex = ClassIndex(0)  # target class of targeted DIVA

    @property
    def cfg(self) -> config.Profile:
        """The run's profile, restricted to this chapter's architecture."""
        return config.get_profile(self.profile, archs=[self.arch])

    def validate(self) -> None:
        """The architecture is known and the target is one of its classes."""
        if self.arch not in config.ARCHS:
            raise config.ParameterError(f"parameter 'arch'={self.arch!r} is unknown; use one of {config.ARCHS}")
        classes = self.cfg.num_classes
        if isinstance(self.target, bool) or not isinstance(self.target, int) or not 0 <= self.target < classes:
            raise config.ParameterError(f"parameter 'target'={self.target!r} must be a class index in [0, {classes})")


def settings_table(s: Settings) -> pd.DataFrame:
    """Paper setting vs this run."""
    cfg, a = s.cfg, s.cfg.attack
    return report.settings_table({
        "ε (L∞)": ("8/255", f"{a.eps * 255:g}/255" + (
            "" if a == paper.ATTACK else " (the stand-in's: see the quantization chapter)")),
        "step size": ("1/255", f"{a.step * 255:g}/255"),
        "steps": (20, a.steps),
        "random start": ("no", "no"),
        "success": ("first step at which the original is right and the adapted model wrong (WBattack.py)",
                    "the same; the final iterate (step 20) is shown beside it"),
        "c": (1, f"{s.c:g}"),
        "models": ("ResNet50 / MobileNet / DenseNet121 on ImageNet", f"{s.arch} on {cfg.dataset}"),
        "evaluation set": ("3,000 images all models classify correctly",
                           f"up to {s.n_eval} test images the original, QAT graph and int8 model classify correctly"),
        "seed": ("not stated", s.seed),
    })


@dataclass
class Pair:
    """One architecture's whitebox pair (original, QAT graph), its deployed int8 model, and the evaluation set."""

    entry: zoo.ZooEntry
    x_test: np.ndarray
    y_test: np.ndarray
    x: np.ndarray
    y: np.ndarray


def model_pair(s: Settings) -> Pair:
    """Build (or load) the models of `s.arch` and select the test images all three classify correctly (§5.1).

    Example:
        >>> pair = model_pair(Settings.resolve("smoke"))  # doctest: +SKIP
    """
    cfg = s.cfg
    train.set_seed(s.seed)
    data = zoo.load_data(cfg, s.seed)
    entry = zoo.get(s.arch, cfg, s.seed, stand_in=data)
    x, y = evaluate.select_eval_set(data.x_test, data.y_test, [entry.fp32, entry.qat, entry.tflite], s.n_eval)
    return Pair(entry, data.x_test, data.y_test, x, y)


def suite(pair: Pair, s: Settings) -> dict[str, attacks.Attack]:
    """Every attack of the chapter on the whitebox pair, with the profile's ε, step and steps (`Profile.attack`)."""
    fp32, qat, kw = pair.entry.fp32, pair.entry.qat, s.cfg.attack.kwargs()
    return {
        "PGD": attacks.PGD(fp32, qat, **kw),
        "DIVA": attacks.DIVA(fp32, qat, c=s.c, **kw),
        "Momentum PGD": attacks.MomentumPGD(fp32, qat, momentum=0.5, **kw),
        "CW-L∞": attacks.CWLinf(fp32, qat, **kw),
        "targeted DIVA": attacks.TargetedDIVA(fp32, qat, c=s.c, target=s.target, **kw),
    }


def run(s: Settings, pair: Pair | None = None, attack_suite: dict[str, attacks.Attack] | None = None
        ) -> ChapterResult:
    """Run every attack to its last step, keeping first success and final iterate; cross-check PGD with ART.

    Args:
        s: the chapter's settings.
        pair: the models and evaluation set (default: `model_pair(s)`).
        attack_suite: the attacks by name (default: `suite(pair, s)`; it must hold "PGD" and "targeted DIVA").

    Example:
        >>> s = Settings.resolve("smoke")  # doctest: +SKIP
        >>> result = run(s)  # doctest: +SKIP
        >>> result.show("attacks")  # doctest: +SKIP
    """
    cfg = s.cfg
    pair = pair or model_pair(s)
    attack_suite = attack_suite or suite(pair, s)
    e = pair.entry
    reports = {name: evaluate.evaluate_attack(a, e.fp32, e.qat, e.tflite, pair.x, pair.y,
                                              batch_size=cfg.attack_batch_size, progress=False, final=True)
               for name, a in attack_suite.items()}
    p32, pq, p8 = (evaluate.predict(m, pair.x_test) for m in (e.fp32, e.qat, e.tflite))
    acc = {"fp32": metrics.accuracy(p32, pair.y_test), "qat": metrics.accuracy(pq, pair.y_test),
           "int8": metrics.accuracy(p8, pair.y_test)}
    models = floors.ModelsTable()
    models.check(f"{s.arch} fp32", floors.fp32_floor(cfg.dataset), acc["fp32"].value)
    models.check(f"{s.arch} int8", "int8_minus_fp32", acc["int8"].value - acc["fp32"].value)
    models.check(f"{s.arch} int8", "qat_int8_disagreement", metrics.disagreement(pq, p8).value)
    models.check(f"{s.arch} int8", "pgd_evasion", reports["PGD"].tflite_final.evasion.value)
    models.check("evaluation set", "n_rate", len(pair.y))
    a = cfg.attack
    art = crosscheck.compare_with_art(e.fp32, e.qat, e.tflite, pair.x, pair.y, eps=a.eps, step=a.step,
                                      steps=a.steps, batch_size=cfg.attack_batch_size)
    exceptions = {n: final_not_first(r) for n, r in reports.items()}
    hits = targeted_hits(reports["targeted DIVA"], s.target)
    result = ChapterResult("attack_engine", s.profile, settings_table(s), models, data={
        "seed": s.seed, "arch": s.arch, "n_eval": len(pair.y), "attacks": {n: r.as_dict() for n, r in reports.items()},
        "art_crosscheck": art, "final_not_first": exceptions,
        "accuracy": {k: v.value for k, v in acc.items()},
        "targeted_hits": {"target": s.target, **{k: v.as_dict() for k, v in hits.items()}}})
    result.tables = {"suite": suite_table(attack_suite), "attacks": attacks_table(reports),
                     "details": details_table(reports), "subset": subset_table(reports),
                     "targeted": pd.DataFrame([{"image": k, f"int8 says {s.target}, original right": str(v)}
                                               for k, v in hits.items()]),
                     "art": crosscheck.comparison_table(art).reset_index(names="engine")}
    result.extras.update(reports=reports, art=art)
    return result


def suite_table(attack_suite: dict[str, attacks.Attack]) -> pd.DataFrame:
    """Each attack, what it maximises, and its own hyperparameters (ε, step and steps are the profile's for all)."""
    shared = {"eps", "step", "steps", "random_start", "seed"}
    return pd.DataFrame([{"attack": n, "maximises": LOSSES.get(n, type(a).__name__),
                          "own parameters": ", ".join(f"{k} = {v}" if isinstance(v, str) else f"{k} = {v:g}"
                                                  for k, v in a.params().items() if k not in shared) or "none"}
                         for n, a in attack_suite.items()])


def attacks_table(reports: dict[str, AttackReport]) -> pd.DataFrame:
    """The headline: top-1 success on the deployed int8 model at first success and at the final iterate."""
    return pd.DataFrame([{"attack": n, "top-1 success, first success (int8)": str(r.tflite.top1),
                          "top-1 success, final iterate (int8)": str(r.tflite_final.top1),
                          "first success (QAT graph)": str(r.qat.top1),
                          "final iterate (QAT graph)": str(r.qat_final.top1)} for n, r in reports.items()])


def details_table(reports: dict[str, AttackReport]) -> pd.DataFrame:
    """The kept images on the deployed model: top-5, Table 2's evasion, original still correct, confidence, DSSIM."""
    return pd.DataFrame([{"attack": n, "top-5 success (int8)": str(r.tflite.top5),
                          "adapted fooled, Table 2 (int8)": str(r.table2_evasion("tflite")),
                          "original still correct (int8 grid)": str(r.tflite.orig_still_correct),
                          "confidence delta (int8)": pct(r.tflite.conf_delta),
                          "mean / max DSSIM": f"{r.dssim.mean():.4f} / {r.dssim.max():.4f}"}
                         for n, r in reports.items()])


def final_success(r: AttackReport) -> np.ndarray:
    """Per image: the final iterate succeeds on the QAT pair (original right, QAT graph wrong)."""
    return (r.outputs["orig_final"].argmax(1) == r.y) & (r.outputs["qat_final"].argmax(1) != r.y)


def final_not_first(r: AttackReport) -> int:
    """Images whose final iterate succeeds on the QAT pair but that never succeeded on it first (must be 0)."""
    return int((final_success(r) & (r.first_step < 0)).sum())


def subset_table(reports: dict[str, AttackReport]) -> pd.DataFrame:
    """Per attack: successes of the final iterate, of first success, and final successes missing from the first."""
    return pd.DataFrame([{"attack": n, "final-iterate successes (QAT pair)": int(final_success(r).sum()),
                          "first successes (QAT pair)": int((r.first_step >= 0).sum()),
                          "final successes that are not first successes": final_not_first(r)}
                         for n, r in reports.items()])


def targeted_hits(r: AttackReport, target: int) -> dict[str, Rate]:
    """Share of images not of the target class that the deployed model assigns to it while the original is right."""
    eligible = r.y != target
    out = {}
    for name, (orig, deployed) in {"first success": ("orig_grid", "int8"),
                                   "final iterate": ("orig_grid_final", "int8_final")}.items():
        hit = (r.outputs[deployed].argmax(1) == target) & (r.outputs[orig].argmax(1) == r.y)
        out[name] = metrics.rate(hit[eligible])
    return out


def fig_success_by_step(result: ChapterResult) -> plt.Figure:
    """Cumulative first-success top-1 rate after each step, on the crafting (QAT) pair (Fig 6d)."""
    arch = result.data["arch"]
    df = pd.DataFrame([{"attack": n, "step": k, "success": v, "arch": arch}
                       for n, r in result.extras["reports"].items() for k, v in enumerate(r.success_by_step)])
    return plots.success_by_step(df, f"Cumulative first-success top-1 rate ({result.profile} profile)")


def show_bench(profile: str) -> None:
    """The engine's speed against ART from `make bench` (bench_attacks.json), or how to produce it."""
    path = report.results_path(profile, "bench_attacks")
    if not path.is_file():
        print(f"bench_attacks.json is not there for the {profile} profile: `make bench PROFILE={profile}` writes it")
        return
    bench = json.loads(path.read_text())
    meta = bench.pop("_meta")
    report.show(pd.DataFrame(bench).T.round(2).reset_index(names="arch"))
    print("setting:", ", ".join(f"{k} {v}" for k, v in meta.items()))
