"""DIVA on quantized models (§5.1–§5.4): three threat models, evasion cost, the balance c, other baselines."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from tqdm.auto import tqdm

from diva_lib import (
    attacks,
    config,
    evaluate,
    floors,
    metrics,
    paper,
    plots,
    report,
    saturation,
    spread,
    threat,
    verdicts,
    zoo,
)
from diva_lib import data as dataio
from diva_lib.chapters import ArchSettings, ChapterResult, per_profile
from diva_lib.claims import judge
from diva_lib.evaluate import AttackReport
from diva_lib.metrics import Rate
from diva_lib.models import release as release_models
from diva_lib.report import pct
from diva_lib.verdicts import Estimate, mean_interval, paired_difference

ATTACKS = ("PGD", "DIVA")
SETS = {"whitebox": "whitebox set", "semiblackbox": "semi-blackbox set", "blackbox": "blackbox set"}
SURROGATE_NOTE = ("semi-blackbox: a surrogate original started from the adapted model's parameters, distilled at "
                  "T = 10 from the deployed model, crafting with the true QAT model; blackbox: a surrogate original "
                  "trained from scratch on the deployed model's outputs (T = 10), crafting with its own QAT model")


@dataclass(frozen=True)
class Settings(ArchSettings):
    """Parameters of the quantization chapter."""

    archs: tuple[str, ...] = per_profile(("mobilenet",), config.ARCHS, config.ARCHS)
    sweep_archs: tuple[str, ...] | None = None  # None: all of archs (smoke: mobilenet, or the first of archs)
    n_whitebox: int = per_profile(32, 1000, 3000)
    n_transfer: int = per_profile(32, 200, 3000)
    c: float = 1.0
    c_values: tuple[float, ...] = (0.0, 0.001, 0.1, 1.0, 5.0, 10.0)
    n_ablation: int = per_profile(16, 200, 1000)
    n_baselines: int = per_profile(16, 200, 3000)
    n_radius: int = per_profile(16, 200, 200)  # PGD at the paper's radius and at the profile's
    n_examples: int = 4
    spread_seeds: tuple[int, ...] = per_profile((), (0, 1, 2), ())  # whitebox MobileNet retrained on each

    def __post_init__(self) -> None:
        if self.sweep_archs is None:
            default = self.archs if self.profile != "smoke" else (
                ("mobilenet",) if "mobilenet" in self.archs else self.archs[:1])
            object.__setattr__(self, "sweep_archs", tuple(default))

    def validate(self) -> None:
        """Semi-/blackbox architectures are attacked ones; the smaller sets are heads of the whitebox set."""
        if not set(self.sweep_archs) <= set(self.archs):
            raise config.ParameterError(f"parameter 'sweep_archs'={list(self.sweep_archs)!r} must be drawn from "
                                        f"archs={list(self.archs)}")
        for name in ("n_transfer", "n_ablation", "n_baselines", "n_radius"):
            if getattr(self, name) > self.n_whitebox:
                raise config.ParameterError(f"parameter {name!r}={getattr(self, name)} must not exceed n_whitebox="
                                            f"{self.n_whitebox}: it takes the first images of the whitebox set")


def settings_table(s: Settings) -> pd.DataFrame:
    """Paper setting vs this run."""
    cfg = s.cfg
    return report.settings_table({
        "data": (paper.SETTINGS["dataset"], f"{cfg.dataset}, {cfg.image_size}×{cfg.image_size}, {cfg.n_train} "
                 f"training images, {cfg.n_test} test images"),
        "models": ("ResNet50, MobileNet, DenseNet121 fine-tuned from ImageNet weights",
                   f"{', '.join(cfg.archs)}, " + ("trained from scratch" if cfg.weights is None else cfg.weights)),
        "adaptation": (paper.SETTINGS["qat"], f"tfmot quantize_model, QAT {cfg.qat_summary()}, int8 TFLite"),
        "surrogate data": ("12,811 disjoint ImageNet train images", f"{cfg.n_surrogate} disjoint training images"),
        "surrogate training": ("§4.3: from the adapted model's parameters or ImageNet weights, distilled from the "
                               "deployed model; §4.4: then adapted (the authors' notebook distils at T = 10)",
                               SURROGATE_NOTE),
        "ε / step / steps / random start": (paper.ATTACK.describe(), cfg.attack.describe() + (
            "" if cfg.attack == paper.ATTACK else " (the stand-in's; see the radius table)")),
        "success": ("first step with the original right and the adapted model wrong (WBattack.py)",
                    "the same, checked on the crafting pair; final iterate shown beside it (whitebox)"),
        "c": (1, f"{s.c:g}"),
        "evaluation set (whitebox, semi-blackbox)": ("3,000 images all models classify correctly",
                                                     f"first {s.n_whitebox} such test images per arch (semi-blackbox: "
                                                     f"first {s.n_transfer} of them)"),
        "evaluation set (blackbox)": ("a second set of 3,000", f"the next {s.n_transfer} such test images"),
        "c ablation / baselines": ("3,000 images", f"first {s.n_ablation} / {s.n_baselines} images of the whitebox "
                                   "set"),
        "architectures of semi-/blackbox, c ablation, baselines": ("all three", ", ".join(s.sweep_archs)),
        "seed": ("not stated", s.seed),
    })


# --- intervals ---------------------------------------------------------------------------------------------




def per_image_delta(p_orig: np.ndarray, p_adapted: np.ndarray, y: np.ndarray) -> np.ndarray:
    """p_orig[y] − p_adapted[y] per image (Fig 6c's confidence delta before averaging)."""
    idx = np.arange(len(y))
    return p_orig[idx, y] - p_adapted[idx, y]


# --- the claims ----------------------------------------------------------------------------------------------


@dataclass
class Measured:
    """The numbers the claims are judged on (plain rates and estimates, no models).

    Keys: (threat, arch, attack) for `top1`; (arch, attack) for the whitebox rates; (arch, c) for
    the c ablation; (arch, attack) for the §5.4 baselines (PGD included).
    """

    archs: tuple[str, ...]
    sweep_archs: tuple[str, ...]
    top1: dict[tuple[str, str, str], Rate]  # deployed int8, first success
    top1_final: dict[tuple[str, str], Rate]  # whitebox, deployed int8, final iterate
    top5: dict[tuple[str, str], Rate]  # whitebox, deployed int8
    step1: dict[tuple[str, str], Rate]  # whitebox, QAT pair, first success by step 1
    evasion: dict[tuple[str, str], Rate]  # whitebox, Table 2 evasion on the deployed int8 model
    conf_gain: dict[str, tuple[Estimate, Estimate]]  # arch: (PGD − natural, DIVA − PGD), paired per image
    dssim_max: float
    dssim_mean: dict[str, float]  # attack: mean DSSIM over every adversarial image
    c_top1: dict[tuple[str, float], Rate] = field(default_factory=dict)
    c_evasion: dict[tuple[str, float], Rate] = field(default_factory=dict)
    baselines: dict[tuple[str, str], Rate] = field(default_factory=dict)


def _rests(archs: list[str] | tuple[str, ...], *parts: str) -> list[str]:
    return [f"{a} {p}" for a in archs for p in parts]


def _scope(archs: list[str] | tuple[str, ...], rates: dict, key) -> str:
    return f"{', '.join(archs)}; n = " + ", ".join(str(rates[key(a)].n) for a in archs)


def _beats(m: Measured, th: str, models: floors.ModelsTable, stand_in: bool, claim_id: str,
           rests: list[str]) -> dict | None:
    on = [a for a in (m.archs if th == "whitebox" else m.sweep_archs) if (th, a, "DIVA") in m.top1]
    if not on:
        return None
    diffs = {a: verdicts.difference(m.top1[th, a, "DIVA"], m.top1[th, a, "PGD"]) for a in on}
    text = "; ".join(f"{a}: DIVA {m.top1[th, a, 'DIVA']} vs PGD {m.top1[th, a, 'PGD']}, Δ {diffs[a]}"
                     + (f" (final iterate: DIVA {pct(m.top1_final[a, 'DIVA'].value)}, PGD "
                        f"{pct(m.top1_final[a, 'PGD'].value)})" if th == "whitebox" else "") for a in on)
    return judge(claim_id, all(d.low > 0 for d in diffs.values()), text, models=models, rests_on=rests,
                 stand_in=stand_in, estimate=min(diffs.values(), key=lambda e: e.low),
                 scope=_scope(on, m.top1, lambda a: (th, a, "DIVA")))


def _whitebox_claims(m: Measured, models: floors.ModelsTable, stand_in: bool) -> list[dict]:
    A = m.archs
    wb = _rests(A, "fp32", "int8", SETS["whitebox"])
    scope = _scope(A, m.top1, lambda a: ("whitebox", a, "DIVA"))
    level = {a: m.top1["whitebox", a, "DIVA"] for a in A}
    step = {a: verdicts.difference(m.step1[a, "DIVA"], m.step1[a, "PGD"]) for a in A}
    top5 = {a: verdicts.difference(m.top5[a, "DIVA"], m.top5[a, "PGD"]) for a in A}
    conf = [e for pair in m.conf_gain.values() for e in pair]
    cost = {a: verdicts.difference(m.evasion[a, "PGD"], m.evasion[a, "DIVA"]) for a in A}
    ratio = m.dssim_mean["DIVA"] / m.dssim_mean["PGD"] if m.dssim_mean["PGD"] > 0 else math.inf
    largest = Estimate(m.dssim_max, m.dssim_max, m.dssim_max)  # exact: the largest over every image
    return [
        _beats(m, "whitebox", models, stand_in, "quantization.whitebox_beats_pgd", wb),
        judge("quantization.whitebox_level", all(verdicts.reaches(r, 0.923, 0.970) for r in level.values()),
              "; ".join(f"{a} {r}" for a, r in level.items()), models=models, rests_on=wb, stand_in=stand_in,
              estimate=Estimate.of(min(level.values(), key=lambda r: r.high)), scope=scope),
        judge("quantization.from_step_one", all(d.low > 0 for d in step.values()),
              "; ".join(f"{a}: after step 1 DIVA {pct(m.step1[a, 'DIVA'].value)} vs PGD "
                        f"{pct(m.step1[a, 'PGD'].value)}, Δ {d}" for a, d in step.items()),
              models=models, rests_on=wb, stand_in=stand_in, estimate=min(step.values(), key=lambda e: e.low),
              scope=scope),
        judge("quantization.whitebox_top5", all(d.low > 0 for d in top5.values()),
              "; ".join(f"{a}: DIVA {pct(m.top5[a, 'DIVA'].value)} vs PGD {pct(m.top5[a, 'PGD'].value)}, Δ {d}"
                        for a, d in top5.items()), models=models, rests_on=wb, stand_in=stand_in,
              estimate=min(top5.values(), key=lambda e: e.low), scope=scope),
        judge("quantization.confidence_order", all(e.low > 0 for e in conf),
              "; ".join(f"{a}: PGD − natural {g[0]}, DIVA − PGD {g[1]}" for a, g in m.conf_gain.items()),
              models=models, rests_on=wb, stand_in=stand_in, estimate=min(conf, key=lambda e: e.low), scope=scope),
        judge("quantization.evasion_cost", all(verdicts.reaches(d, -math.inf, 0.036) for d in cost.values()),
              "; ".join(f"{a}: PGD {pct(m.evasion[a, 'PGD'].value)} vs DIVA {pct(m.evasion[a, 'DIVA'].value)}, "
                        f"PGD − DIVA {d}" for a, d in cost.items()), models=models, rests_on=wb,
              stand_in=stand_in, estimate=max(cost.values(), key=lambda e: e.low), scope=scope),
        judge("quantization.dssim", verdicts.below(largest, 0.0092),
              f"max {m.dssim_max:.4g}; mean DIVA {m.dssim_mean['DIVA']:.4g}, PGD {m.dssim_mean['PGD']:.4g} "
              f"(DIVA / PGD {ratio:.2f})", models=models, rests_on=wb, stand_in=stand_in,
              estimate=largest, scope=f"every adversarial image; {scope}"),
    ]


def _transfer_claims(m: Measured, models: floors.ModelsTable, stand_in: bool) -> list[dict]:
    S = m.sweep_archs
    semi = _rests(S, "fp32", "int8", "semi-blackbox surrogate", SETS["semiblackbox"])
    black = _rests(S, "fp32", "int8", SETS["blackbox"])
    rows = [_beats(m, "semiblackbox", models, stand_in, "quantization.semiblackbox_beats_pgd", semi),
            _beats(m, "blackbox", models, stand_in, "quantization.blackbox_beats_pgd", black)]
    on = [a for a in S if ("blackbox", a, "DIVA") in m.top1]
    if on:
        r = {(t, a): m.top1[t, a, "DIVA"] for t in threat.THREATS for a in on}
        gap = {a: verdicts.difference(r["whitebox", a], r["blackbox", a]) for a in on}
        holds = all(gap[a].low > 0 and verdicts.not_above(r["semiblackbox", a], r["whitebox", a])
                    and verdicts.not_above(r["blackbox", a], r["semiblackbox", a]) for a in on)
        rows.append(judge("quantization.knowledge_order", holds,
                          "; ".join(f"{a}: " + " → ".join(pct(r[t, a].value) for t in threat.THREATS)
                                    + f", whitebox − blackbox {gap[a]}" for a in on),
                          models=models, rests_on=sorted({*_rests(on, SETS["whitebox"]), *semi, *black}),
                          stand_in=stand_in, estimate=min(gap.values(), key=lambda e: e.low),
                          scope=f"{', '.join(on)}; n = " + ", ".join(f"{r['whitebox', a].n}/{r['semiblackbox', a].n}/"
                                                                    f"{r['blackbox', a].n}" for a in on)))
    return [row for row in rows if row is not None]


def _sweep_claims(m: Measured, models: floors.ModelsTable, stand_in: bool) -> list[dict]:
    S, rows = m.sweep_archs, []
    abl = _rests(S, "fp32", "int8", "c ablation set")
    cs = sorted({c for _, c in m.c_top1})
    if 1.0 in cs and len(cs) > 1:
        over = {(a, c): verdicts.difference(m.c_top1[a, c], m.c_top1[a, 1.0]) for a in S for c in cs if c != 1.0}
        best = {a: max((c for c in cs), key=lambda c: m.c_top1[a, c].value) for a in S}
        rows.append(judge("quantization.c_default", all(d.low <= 0 for d in over.values()),
                          "; ".join(f"{a}: c = 1 {pct(m.c_top1[a, 1.0].value)}, highest c = {best[a]:g} "
                                    f"{pct(m.c_top1[a, best[a]].value)}" for a in S),
                          models=models, rests_on=abl, stand_in=stand_in,
                          estimate=max(over.values(), key=lambda e: e.low),
                          scope=_scope(S, m.c_top1, lambda a: (a, 1.0)) + " per c"))
    if {1.0, 10.0} <= set(cs):
        gain = {a: verdicts.difference(m.c_evasion[a, 10.0], m.c_evasion[a, 1.0]) for a in S}
        rows.append(judge("quantization.c_evasion", all(d.low > 0 for d in gain.values()),
                          "; ".join(f"{a}: evasion c = 10 {pct(m.c_evasion[a, 10.0].value)} vs c = 1 "
                                    f"{pct(m.c_evasion[a, 1.0].value)}, Δ {d}" for a, d in gain.items()),
                          models=models, rests_on=abl, stand_in=stand_in,
                          estimate=min(gain.values(), key=lambda e: e.low),
                          scope=_scope(S, m.c_evasion, lambda a: (a, 1.0)) + " per c"))
    if m.baselines:
        over = {(a, b): verdicts.difference(m.baselines[a, b], m.baselines[a, "PGD"])
                for a in S for b in ("Momentum PGD", "CW-L∞")}
        rows.append(judge("quantization.baselines", all(d.low <= 0 for d in over.values()),
                          "; ".join(f"{a}: " + ", ".join(f"{b} {pct(m.baselines[a, b].value)}"
                                                         for b in ("Momentum PGD", "CW-L∞", "PGD")) for a in S),
                          models=models, rests_on=_rests(S, "fp32", "int8", "baselines set"), stand_in=stand_in,
                          estimate=max(over.values(), key=lambda e: e.low),
                          scope=_scope(S, m.baselines, lambda a: (a, "PGD"))))
    return rows


def claims(m: Measured, models: floors.ModelsTable, stand_in: bool) -> list[dict]:
    """Verdict rows of the chapter's claims from its measured numbers.

    The c claims need c = 1 (and c = 10) among the ablation's values; without them their rows are
    left out (`not_run` says which and why).

    Example:
        >>> rows = claims(measured, models, stand_in=True)  # doctest: +SKIP
    """
    return _whitebox_claims(m, models, stand_in) + _transfer_claims(m, models, stand_in) + _sweep_claims(
        m, models, stand_in)


def not_run(c_values: tuple[float, ...], blackbox_archs: list[str]) -> pd.DataFrame:
    """Claims of the chapter that this run's parameters or data leave unmeasured, and why."""
    rows = []
    if 1.0 not in c_values or len(set(c_values)) < 2:
        rows.append(("quantization.c_default", "c_values lacks c = 1 or any other c to compare it with"))
    if not {1.0, 10.0} <= set(c_values):
        rows.append(("quantization.c_evasion", "c_values lacks c = 1 or c = 10"))
    if not blackbox_archs:
        rows += [(i, "no correctly classified test image is left after the whitebox set for the blackbox set")
                 for i in ("quantization.blackbox_beats_pgd", "quantization.knowledge_order")]
    return pd.DataFrame(rows or [("—", "every claim of the chapter was measured")], columns=["claim", "why not run"])


# --- the experiment ------------------------------------------------------------------------------------------


@dataclass
class ArchSetup:
    """One architecture's models, evaluation sets and clean-data numbers."""

    arch: str
    entry: zoo.ZooEntry
    surrogates: zoo.Surrogates | None
    sets: dict[str, tuple[np.ndarray, np.ndarray]]  # threat: (images, labels)
    n_correct: int
    clean: dict[str, float]  # fp32_acc, int8_acc, qat_int8_disagreement, <threat>_surrogate_acc and _agreement
    seconds: dict[str, float]

    def release(self) -> None:
        """Let go of this architecture's Keras models (rebuilt on use); its sets and numbers stay."""
        sur = self.surrogates
        release_models(self.entry.fp32, self.entry.qat,
                       *((sur.semiblackbox, sur.blackbox, sur.blackbox_qat) if sur else ()))


def _subset(x, idx: np.ndarray):
    return x.subset(idx) if hasattr(x, "subset") else x[idx]


def split_sets(n: int, n_whitebox: int, n_blackbox: int) -> tuple[slice, slice]:
    """Positions in a pool of n usable images: the whitebox set first, the separate blackbox set next (§5.1).

    The blackbox set takes what remains after the whitebox set, up to `n_blackbox`. When the
    whitebox set would leave it nothing, the pool is shared in proportion to the two sizes asked.

    Example:
        >>> split_sets(23, 32, 32)
        (slice(0, 11, None), slice(11, 23, None))
    """
    wb = n_whitebox if n > n_whitebox or not n_blackbox else n * n_whitebox // (n_whitebox + n_blackbox)
    wb = min(wb, n)
    return slice(0, wb), slice(wb, min(n, wb + n_blackbox))


def _setup(arch: str, s: Settings, data: zoo.StandIn) -> ArchSetup:
    """Build (or load) an architecture's models; pick its whitebox and blackbox sets (§5.1)."""
    cfg, t = s.cfg, time.perf_counter()
    entry = zoo.get(arch, cfg, s.seed, stand_in=data)
    sur = zoo.get_surrogates(arch, cfg, s.seed, entry, stand_in=data) if arch in s.sweep_archs else None
    seconds = {"this call (s)": round(time.perf_counter() - t, 1),
               **{k: round(v, 1) for k, v in {**entry.build_seconds, **(sur.build_seconds if sur else {})}.items()}}
    y = data.y_test
    used = [entry.fp32, entry.qat, entry.tflite] + ([sur.semiblackbox, sur.blackbox, sur.blackbox_qat] if sur else [])
    preds = [evaluate.predict(m, data.x_test) for m in used]
    idx = np.flatnonzero(np.all([p.argmax(1) == y for p in preds], axis=0))
    wb, bb = split_sets(len(idx), s.n_whitebox, s.n_transfer if sur else 0)
    wb, bb = idx[wb], idx[bb]
    sets = {"whitebox": (_subset(data.x_test, wb), y[wb])}
    if sur:
        sets["semiblackbox"] = (_subset(data.x_test, wb[: s.n_transfer]), y[wb[: s.n_transfer]])
        sets["blackbox"] = (_subset(data.x_test, bb), y[bb])
    p32, pq, p8 = preds[:3]
    clean = {"fp32_acc": metrics.accuracy(p32, y).value, "int8_acc": metrics.accuracy(p8, y).value,
             "qat_int8_disagreement": metrics.disagreement(pq, p8).value}
    if sur:
        for th, p in zip(("semiblackbox", "blackbox"), preds[3:5], strict=True):
            clean |= {f"{th}_surrogate_acc": metrics.accuracy(p, y).value,
                      f"{th}_surrogate_agreement": 1.0 - metrics.disagreement(p, p32).value}
    return ArchSetup(arch, entry, sur, sets, len(idx), clean, seconds)


def _attack_runs(st: ArchSetup, s: Settings) -> tuple[dict, attacks.DIVA | None]:
    """PGD and DIVA on one architecture under each threat model: whitebox keeps the final iterate too."""
    runs, kw, e, whitebox_diva = {}, s.cfg.attack.kwargs(), st.entry, None
    for th, (x, y) in st.sets.items():
        if not len(y):
            continue
        orig, adapted = threat.crafting_pair(th, e, st.surrogates)
        pgd, diva = attacks.PGD(orig, adapted, **kw), attacks.DIVA(orig, adapted, c=s.c, **kw)
        for name, atk in (("PGD", pgd), ("DIVA", diva)):
            runs[st.arch, th, name] = evaluate.evaluate_attack(atk, e.fp32, e.qat, e.tflite, x, y,
                                                               batch_size=s.cfg.attack_batch_size, progress=False,
                                                               final=th == "whitebox")
        whitebox_diva = diva if th == "whitebox" else whitebox_diva
    return runs, whitebox_diva


def _ablation(st: ArchSetup, runs: dict, diva: attacks.DIVA, s: Settings) -> list[dict]:
    """Whitebox DIVA for each c on the first `n_ablation` images (the chapter's c: the whitebox run's head)."""
    e, rows = st.entry, []
    x, y = (v[: s.n_ablation] for v in st.sets["whitebox"])
    try:  # compiled once; only its c changes
        for cv in s.c_values:
            diva.c = cv
            r = runs[st.arch, "whitebox", "DIVA"].head(s.n_ablation) if cv == s.c else evaluate.evaluate_attack(
                diva, e.fp32, e.qat, e.tflite, x, y, batch_size=s.cfg.attack_batch_size, progress=False)
            rows.append({"arch": st.arch, "c": cv, "top1": r.tflite.top1, "evasion": r.table2_evasion("tflite")})
    finally:
        diva.c = s.c
    return rows


def _baselines(st: ArchSetup, runs: dict, s: Settings) -> list[dict]:
    """Momentum PGD and CW-L∞ on the first `n_baselines` whitebox images, beside PGD and DIVA on the same ones."""
    e, rows = st.entry, []
    x, y = (v[: s.n_baselines] for v in st.sets["whitebox"])
    for name, cls in (("Momentum PGD", attacks.MomentumPGD), ("CW-L∞", attacks.CWLinf)):
        r = evaluate.evaluate_attack(cls(e.fp32, e.qat, **s.cfg.attack.kwargs()), e.fp32, e.qat, e.tflite, x, y,
                                     batch_size=s.cfg.attack_batch_size, progress=False)
        rows.append({"arch": st.arch, "attack": name, "top1": r.tflite.top1})
    return rows + [{"arch": st.arch, "attack": n, "top1": runs[st.arch, "whitebox", n].head(s.n_baselines).tflite.top1}
                   for n in ATTACKS]


def _natural(st: ArchSetup) -> np.ndarray:
    """Per-image confidence delta of the natural whitebox images (original vs deployed int8)."""
    x, y = st.sets["whitebox"]
    return per_image_delta(evaluate.predict(st.entry.fp32, x), evaluate.predict(st.entry.tflite, x), y)


def radius_check(st: ArchSetup, runs: dict, s: Settings) -> list[dict]:
    """PGD's final-iterate evasion at the paper's radius and at this profile's, fp32 alone and int8.

    On the first `n_radius` whitebox images: "fp32 alone" crafts on and judges the original (no
    quantization anywhere); "int8" crafts on the QAT pair and judges the deployed model, as the
    whitebox run does (its rows at this profile's radius are that run's head).
    """
    e, rows = st.entry, []
    x, y = (v[: s.n_radius] for v in st.sets["whitebox"])
    for radius in dict.fromkeys((paper.ATTACK, s.cfg.attack)):
        for model, crafted, judged in (("fp32 alone", e.fp32, e.fp32), ("int8", e.qat, e.tflite)):
            if radius == s.cfg.attack and model == "int8":
                fooled = runs[st.arch, "whitebox", "PGD"].head(s.n_radius).tflite_final.evasion
            else:
                res = attacks.PGD(e.fp32, crafted, **radius.kwargs()).run(
                    x, y, batch_size=s.cfg.attack_batch_size, progress=False, keep_final=True)
                fooled = metrics.rate(evaluate.predict(judged, metrics.to_pixel_grid(res.x_final)).argmax(1) != y)
            rows.append({"arch": st.arch, "model": model, "ε": f"{radius.eps * 255:g}/255", "evasion": fooled})
    return rows


def _saturation(st: ArchSetup, runs: dict, s: Settings) -> dict:
    x, y = st.sets["whitebox"]
    e, report = st.entry, runs[st.arch, "whitebox", "PGD"]
    second = saturation.second_attack(e.fp32, e.qat, e.tflite, x, y, s.cfg.attack.kwargs(), s.cfg.attack_batch_size)
    return saturation.row(st.arch, y, report.outputs["int8_final"], evaluate.predict(e.qat, x),
                          attacks.PGD(e.fp32, e.qat).gradient(x, y), second)


def _step1(r: AttackReport) -> Rate:
    return metrics.rate((r.first_step >= 0) & (r.first_step <= 1))


def measure(s: Settings, runs: dict, natural: dict[str, np.ndarray], ablation: list[dict],
            baselines: list[dict]) -> Measured:
    """The claims' numbers from the attack runs."""
    wb = {(a, n): runs[a, "whitebox", n] for a in s.archs for n in ATTACKS}
    delta = {k: per_image_delta(r.p_orig, r.p_deployed, r.y) for k, r in wb.items()}
    every = {n: np.concatenate([r.dssim for (_, _, m), r in runs.items() if m == n]) for n in ATTACKS}
    return Measured(
        archs=s.archs, sweep_archs=s.sweep_archs, top1={(th, a, n): r.tflite.top1 for (a, th, n), r in runs.items()},
        top1_final={k: r.tflite_final.top1 for k, r in wb.items()}, top5={k: r.tflite.top5 for k, r in wb.items()},
        step1={k: _step1(r) for k, r in wb.items()}, evasion={k: r.table2_evasion("tflite") for k, r in wb.items()},
        conf_gain={a: (paired_difference(delta[a, "PGD"], natural[a]),
                       paired_difference(delta[a, "DIVA"], delta[a, "PGD"])) for a in s.archs},
        dssim_max=float(max(v.max() for v in every.values())), dssim_mean={n: float(v.mean()) for n, v in
                                                                             every.items()},
        c_top1={(r["arch"], r["c"]): r["top1"] for r in ablation},
        c_evasion={(r["arch"], r["c"]): r["evasion"] for r in ablation},
        baselines={(r["arch"], r["attack"]): r["top1"] for r in baselines})


def _models_table(setups: dict[str, ArchSetup], runs: dict, s: Settings) -> floors.ModelsTable:
    """Every model the chapter uses and every evaluation set, against its floor (issue 21's floors)."""
    models = floors.ModelsTable()
    for arch, st in setups.items():
        c = st.clean
        models.check(f"{arch} fp32", floors.fp32_floor(s.cfg.dataset), c["fp32_acc"])
        models.check(f"{arch} int8", "int8_minus_fp32", c["int8_acc"] - c["fp32_acc"])
        models.check(f"{arch} int8", "qat_int8_disagreement", c["qat_int8_disagreement"])
        models.check(f"{arch} int8", "pgd_evasion", runs[arch, "whitebox", "PGD"].tflite_final.evasion.value)
        models.check(f"{arch} {SETS['whitebox']}", "n_headline", len(st.sets["whitebox"][1]))
        if st.surrogates:
            models.check(f"{arch} semi-blackbox surrogate", "surrogate_agreement",
                         c["semiblackbox_surrogate_agreement"])
            for th in ("semiblackbox", "blackbox"):
                models.check(f"{arch} {SETS[th]}", "n_rate", len(st.sets[th][1]))
            models.check(f"{arch} c ablation set", "n_rate", min(s.n_ablation, len(st.sets["whitebox"][1])))
            models.check(f"{arch} baselines set", "n_rate", min(s.n_baselines, len(st.sets["whitebox"][1])))
    return models


def run(s: Settings) -> ChapterResult:
    """Build the models, run every attack, measure Fig 6, Table 2, Fig 7 and §5.4, and judge the claims.

    Example:
        >>> r = run(Settings.resolve("smoke"))  # doctest: +SKIP
        >>> r.show("claims")  # doctest: +SKIP
    """
    data = zoo.load_data(s.cfg, s.seed)
    setups, runs, natural, ablation, baselines, radius, saturated = {}, {}, {}, [], [], [], []
    for arch in tqdm(s.archs, desc="architectures"):  # one at a time: its models are released after
        st = setups[arch] = _setup(arch, s, data)
        arch_runs, diva = _attack_runs(st, s)
        runs |= arch_runs
        if arch in s.sweep_archs:
            ablation += _ablation(st, runs, diva, s)
            baselines += _baselines(st, runs, s)
        natural[arch] = _natural(st)
        radius += radius_check(st, runs, s)
        saturated.append(_saturation(st, runs, s))
        del diva
        st.release()
    m = measure(s, runs, natural, ablation, baselines)
    models = _models_table(setups, runs, s)
    sp = spread.whitebox("mobilenet", s.cfg, s.spread_seeds, s.n_whitebox, s.c) if s.spread_seeds else {}
    result = ChapterResult("quantization", s.profile, settings_table(s), models,
                           data=_json(s, setups, runs, natural, ablation, baselines) | {
                               "radius": _radius_json(radius), "saturation": saturation.to_json(saturated)}
                           | ({"seed_spread": sp} if sp else {}))
    result.claims = claims(m, models, s.stand_in)
    blackbox = [a for a in s.sweep_archs if (a, "blackbox", "DIVA") in runs]
    result.tables = {"eval_sets": _eval_sets(setups, s), "attacks": _attack_table(runs), "table2": _table2(runs),
                     "dssim": _dssim_table(runs), "c_ablation": _ablation_table(ablation),
                     "baselines": _baseline_table(baselines), "confidence": _confidence_table(m, natural),
                     "not_run": not_run(s.c_values, blackbox), "seed_spread": spread.frame(sp),
                     "radius": radius_table(radius), "saturation": saturation.table(saturated)}
    result.extras = {"setups": setups, "runs": runs, "natural": natural, "ablation": ablation, "measured": m,
                     "names": dataio.class_names(s.cfg.dataset, s.cfg.num_classes), "n_examples": s.n_examples,
                     "eps": s.cfg.attack.eps}
    return result


# --- tables and JSON -----------------------------------------------------------------------------------------


def radius_table(rows: list[dict]) -> pd.DataFrame:
    """PGD evasion (final iterate) per architecture and model, one column per radius."""
    df = pd.DataFrame([{**r, "evasion": str(r["evasion"])} for r in rows])
    return df.pivot(index=["arch", "model"], columns="ε", values="evasion").reset_index().rename_axis(columns=None)


def _radius_json(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r["arch"], {}).setdefault(r["model"], {})[r["ε"]] = r["evasion"].as_dict()
    return out


def _eval_sets(setups: dict[str, ArchSetup], s: Settings) -> pd.DataFrame:
    rows = []
    for arch, st in setups.items():
        n = {th: len(st.sets[th][1]) for th in st.sets}
        bb = st.sets.get("blackbox")
        rows.append({"arch": arch, "all its models correct": st.n_correct,
                     "whitebox": f"{n['whitebox']} of {s.n_whitebox}",
                     "semi-blackbox": f"{n['semiblackbox']} of {s.n_transfer}" if "semiblackbox" in n else "—",
                     "blackbox (separate)": "—" if bb is None else f"{n['blackbox']} of {s.n_transfer}" + (
                         " (all that remain)" if n["blackbox"] < s.n_transfer else ""),
                     "note": _short_note(st.n_correct, n["whitebox"], bb is not None and n["blackbox"] < s.n_transfer,
                                         s)})
    return pd.DataFrame(rows)


def _short_note(pool: int, n_whitebox: int, blackbox_short: bool, s: Settings) -> str:
    if n_whitebox < min(pool, s.n_whitebox):
        return (f"only {pool} usable images: whitebox and blackbox share them in proportion to n_whitebox : "
                "n_transfer")
    if n_whitebox < s.n_whitebox or blackbox_short:
        return "fewer usable images than requested: the sets are used as they are"
    return ""


VIEWS = {"tflite": "int8 TFLite", "qat": "QAT graph", "tflite_final": "int8 TFLite, final iterate",
         "qat_final": "QAT graph, final iterate"}


def _attack_table(runs: dict) -> pd.DataFrame:
    rows = []
    for (arch, th, name), r in runs.items():
        for view, label in VIEWS.items():
            v = getattr(r, view)
            if v is not None:
                rows.append({"arch": arch, "threat": th, "attack": name, "view": label, "top-1 success": str(v.top1),
                             "top-5 success": str(v.top5), "confidence delta": pct(v.conf_delta),
                             "adapted fooled (kept image)": str(v.evasion),
                             "original still correct": str(v.orig_still_correct)})
    return pd.DataFrame(rows)


def _table2(runs: dict) -> pd.DataFrame:
    return pd.DataFrame([{"arch": a, "attack": n, "int8 TFLite": str(r.table2_evasion("tflite")),
                          "QAT graph": str(r.table2_evasion("qat")),
                          "paper": {"PGD": "98.4–98.7 %", "DIVA": "95.1–97.0 %"}[n]}
                         for (a, th, n), r in runs.items() if th == "whitebox"])


def _dssim_table(runs: dict) -> pd.DataFrame:
    rows = []
    for (a, th, n), r in runs.items():
        ratio = r.dssim.mean() / runs[a, th, "PGD"].dssim.mean() if n == "DIVA" else 1.0
        rows.append({"arch": a, "threat": th, "attack": n, "mean DSSIM": f"{r.dssim.mean():.4g}",
                     "max DSSIM": f"{r.dssim.max():.4g}", "mean / PGD's": f"{ratio:.2f}"})
    return pd.DataFrame(rows)


def _ablation_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"arch": r["arch"], "c": f"{r['c']:g}", "top-1 success": str(r["top1"]),
                          "adapted fooled (Table 2)": str(r["evasion"])} for r in rows])


def _baseline_table(rows: list[dict]) -> pd.DataFrame:
    ref = {"PGD": "40.6 %", "Momentum PGD": "39.4 %", "CW-L∞": "25.5 %", "DIVA": "92.3–97.0 %"}
    return pd.DataFrame([{"arch": r["arch"], "attack": r["attack"], "top-1 success": str(r["top1"]),
                          "paper (mean of 3 archs)": ref[r["attack"]]} for r in rows])


def _confidence_table(m: Measured, natural: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame([{"arch": a, "natural": f"{mean_interval(natural[a])}", "PGD − natural": str(g[0]),
                          "DIVA − PGD": str(g[1])} for a, g in m.conf_gain.items()])


def _row(runs: dict, arch: str, th: str) -> dict:
    d, p = runs[arch, th, "DIVA"], runs[arch, th, "PGD"]
    row = {"diva_top1": d.tflite.top1.value, "pgd_top1": p.tflite.top1.value, "diva_top5": d.tflite.top5.value,
           "pgd_top5": p.tflite.top5.value, "diva_conf_delta": d.tflite.conf_delta,
           "pgd_conf_delta": p.tflite.conf_delta, "diva_evasion": d.table2_evasion("tflite").value,
           "pgd_evasion": p.table2_evasion("tflite").value, "n": d.tflite.top1.n,
           "pgd_evasion_final": p.tflite_final.evasion.value if p.tflite_final else None,
           "dssim_max": {n: float(r.dssim.max()) for n, r in (("DIVA", d), ("PGD", p))},
           "dssim_mean": {n: float(r.dssim.mean()) for n, r in (("DIVA", d), ("PGD", p))},
           "success_by_step": {n: r.success_by_step.tolist() for n, r in (("DIVA", d), ("PGD", p))}}
    for view in VIEWS:
        if getattr(d, view) is not None:
            row[view] = {n: getattr(r, view).as_dict() for n, r in (("DIVA", d), ("PGD", p))}
    if d.tflite_final is not None:
        row |= {"diva_top1_final": d.tflite_final.top1.value, "pgd_top1_final": p.tflite_final.top1.value}
    return row


def _json(s: Settings, setups: dict[str, ArchSetup], runs: dict, natural: dict[str, np.ndarray],
          ablation: list[dict], baselines: list[dict]) -> dict:
    out = {"seed": s.seed, "c": s.c, "natural_conf_delta": {a: float(v.mean()) for a, v in natural.items()},
           "c_ablation": {a: {str(r["c"]): {"top1": r["top1"].value, "evasion": r["evasion"].value,
                                            "n": r["top1"].n} for r in ablation if r["arch"] == a}
                          for a in s.sweep_archs},
           "baselines": {a: {r["attack"]: r["top1"].value for r in baselines if r["arch"] == a}
                         for a in s.sweep_archs}}
    for arch, st in setups.items():
        out[arch] = {th: _row(runs, arch, th) for th in threat.THREATS if (arch, th, "DIVA") in runs}
        out[arch] |= {"eval_set": {"all_models_correct": st.n_correct,
                                   **{th: len(st.sets[th][1]) for th in st.sets}},
                      "clean": st.clean, "build_seconds": st.seconds}
        if st.surrogates:
            out[arch]["surrogate"] = {th: {"accuracy": st.clean[f"{th}_surrogate_acc"],
                                           "agreement_with_original": st.clean[f"{th}_surrogate_agreement"]}
                                      for th in ("semiblackbox", "blackbox")} | {"note": SURROGATE_NOTE}
    return out


# --- figures -------------------------------------------------------------------------------------------------


def _bars(ax: plt.Axes, df: pd.DataFrame, x: str, hue: str, title: str, ylabel: str, colors: list | None = None
          ) -> None:
    """Grouped bars (percent) with 95 % interval whiskers; combinations absent from `df` are left out."""
    xs, hues = list(dict.fromkeys(df[x])), list(dict.fromkeys(df[hue]))
    width, colors = 0.8 / len(hues), colors or sns.color_palette("deep", len(hues))
    for j, h in enumerate(hues):
        sub = df[df[hue] == h]
        err = np.abs(np.stack([sub["value"] - sub["low"], sub["high"] - sub["value"]]))
        ax.bar([xs.index(v) - 0.4 + width * (j + 0.5) for v in sub[x]], 100 * sub["value"], width,
               yerr=100 * np.nan_to_num(err, posinf=0.0), capsize=3, color=colors[j], label=h, error_kw={"lw": 1})
    ax.set_xticks(range(len(xs)), xs)
    ax.set(title=title, ylabel=ylabel)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def fig6ab(result: ChapterResult) -> plt.Figure:
    """Fig 6a/6b: top-1 and top-5 success on the deployed int8 model; whitebox final iterates beside first success."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(2, 1, figsize=(9, 6.4))
    for ax, metric, label in zip(axes, ("top1", "top5"), ("6a: top-1", "6b: top-5"), strict=True):
        rows = []
        for (a, th, n), r in result.extras["runs"].items():
            for view, tag in (("tflite", ""), ("tflite_final", " (final iterate)")):
                v = getattr(r, view)
                if v is not None:
                    rate = getattr(v, metric)
                    rows.append({"x": f"{a}\n{th}", "attack": n + tag, "value": rate.value, "low": rate.low,
                                 "high": rate.high})
        order = {h: i for i, h in enumerate(("PGD", "PGD (final iterate)", "DIVA", "DIVA (final iterate)"))}
        df = pd.DataFrame(rows).sort_values("attack", key=lambda c: c.map(order), kind="stable")
        paired = sns.color_palette("Paired", 4)  # first success dark, its final iterate light
        _bars(ax, df, "x", "attack", f"Fig {label} success on the int8 TFLite model", "success (%)",
              [paired[i] for i in (1, 0, 3, 2)])
    fig.tight_layout()
    return fig


def fig6c(result: ChapterResult) -> plt.Figure:
    """Fig 6c: mean confidence delta p_orig[y] − p_int8[y] on natural and whitebox-attacked images."""
    sns.set_theme(style="whitegrid", context="notebook")
    rows = []
    for arch, nat in result.extras["natural"].items():
        runs = result.extras["runs"]
        for name, v in (("natural", nat), *((n, per_image_delta(runs[arch, "whitebox", n].p_orig,
                                                                  runs[arch, "whitebox", n].p_deployed,
                                                                  runs[arch, "whitebox", n].y)) for n in ATTACKS)):
            e = mean_interval(v)
            rows.append({"arch": arch, "input": name, "value": e.value, "low": e.low, "high": e.high})
    fig, ax = plt.subplots(figsize=(7, 3.4))
    _bars(ax, pd.DataFrame(rows), "arch", "input", "Fig 6c: confidence delta, whitebox, int8 TFLite",
          "confidence delta (%)")
    fig.tight_layout()
    return fig


def fig6d(result: ChapterResult) -> plt.Figure:
    """Fig 6d: cumulative first-success rate after each step, whitebox, on the crafting (QAT) pair."""
    df = pd.DataFrame([{"arch": a, "attack": n, "step": k, "success": v}
                       for (a, th, n), r in result.extras["runs"].items() if th == "whitebox"
                       for k, v in enumerate(r.success_by_step)])
    return plots.success_by_step(df, "Fig 6d: whitebox first success by step (QAT pair, cumulative)")


def fig_examples(result: ChapterResult) -> plt.Figure | None:
    """Fig 1 / Fig 3: natural, PGD and DIVA images chosen by a rule (None when whitebox DIVA never succeeded).

    The rule: the first images on which whitebox DIVA succeeds on the deployed model while the
    original misclassifies PGD's image, then further DIVA successes in order.
    """
    setups, runs, names = result.extras["setups"], result.extras["runs"], result.extras["names"]
    arch = "mobilenet" if "mobilenet" in setups else next(iter(setups))
    (x, y), e = setups[arch].sets["whitebox"], setups[arch].entry
    pg, dv = runs[arch, "whitebox", "PGD"], runs[arch, "whitebox", "DIVA"]
    ok = dv.success_mask("tflite")
    pick = np.flatnonzero(ok & (pg.p_orig.argmax(1) != y))
    pick = np.concatenate([pick, np.setdiff1d(np.flatnonzero(ok), pick)])[: result.extras["n_examples"]]
    if not len(pick):
        return None
    x = np.asarray(x[:], np.float32)

    def caption(po: np.ndarray, pd_: np.ndarray) -> list[str]:
        return [f"orig: {names[po[i].argmax()]} {po[i].max():.0%}\nint8: {names[pd_[i].argmax()]} "
                f"{pd_[i].max():.0%}" for i in pick]

    return plots.example_grid(
        {"natural": x[pick], "PGD": metrics.to_pixel_grid(pg.x_adv[pick]),
         "DIVA": metrics.to_pixel_grid(dv.x_adv[pick])},
        {"natural": caption(evaluate.predict(e.fp32, x), evaluate.predict(e.tflite, x)),
         "PGD": caption(pg.p_orig, pg.p_deployed), "DIVA": caption(dv.p_orig, dv.p_deployed)},
        f"{arch}: natural, PGD and DIVA images (ε = {result.extras['eps'] * 255:g}/255, kept at first success)")


def fig7(result: ChapterResult) -> plt.Figure:
    """Fig 7: whitebox DIVA's top-1 success and Table 2 evasion against c, with 95 % intervals."""
    sns.set_theme(style="whitegrid", context="notebook")
    df = pd.DataFrame(result.extras["ablation"])
    cs = list(dict.fromkeys(df["c"]))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, metric, label in zip(axes, ("top1", "evasion"), ("top-1 success", "adapted fooled (Table 2)"),
                                 strict=True):
        for arch, g in df.groupby("arch", sort=False):
            v = np.array([[r.value, r.value - r.low, r.high - r.value] for r in g[metric]])
            ax.errorbar([cs.index(c) for c in g["c"]], 100 * v[:, 0], yerr=100 * v[:, 1:].T, marker="o",
                        capsize=3, label=arch)
        ax.set_xticks(range(len(cs)), [f"{c:g}" for c in cs])
        ax.set(title=label, xlabel="c", ylabel="rate on int8 TFLite (%)")
    axes[-1].legend(fontsize="small", frameon=False)
    fig.suptitle(f"Fig 7: whitebox DIVA vs c (n = {df['top1'].iloc[0].n} per point)", y=1.02)
    fig.tight_layout()
    return fig
