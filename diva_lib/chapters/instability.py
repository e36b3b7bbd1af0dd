"""Table 1 (§2.2): an int8 model keeps the original's accuracy but not its predictions."""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from diva_lib import config, evaluate, floors, metrics, paper, plots, report, spread, verdicts, zoo
from diva_lib.chapters import ChapterResult, ChapterSettings, per_profile
from diva_lib.claims import judge
from diva_lib.models import release as release_models
from diva_lib.report import pct

SPREAD_ARCH = "mobilenet"  # the architecture retrained on every seed of the seed spread


@dataclass(frozen=True)
class Settings(ChapterSettings):
    """Parameters of the Table 1 chapter."""

    archs: tuple[str, ...] = config.ARCHS
    n_test: int | None = None  # None: the profile's test-set size
    spread_seeds: tuple[int, ...] = per_profile((), (0, 1, 2), ())  # MobileNet retrained on each (seed spread)

    @property
    def cfg(self) -> config.Profile:
        """The run's profile with this chapter's overrides."""
        return config.get_profile(self.profile, archs=list(self.archs), n_test=self.n_test)


def settings_table(s: Settings) -> pd.DataFrame:
    """Paper setting vs this run."""
    cfg = s.cfg
    return report.settings_table({
        "dataset": (paper.SETTINGS["dataset"], f"{cfg.dataset}, {cfg.n_train} training images, {cfg.n_test} test "
                    "images"),
        "image size": (paper.SETTINGS["image_size"], cfg.image_size),
        "original model": (paper.SETTINGS["weights"], f"{cfg.weights or 'trained from scratch (cosine decay)'}, "
                           "epochs " + ", ".join(f"{a} {cfg.epochs[a]}" for a in cfg.archs)),
        "adaptation": (paper.SETTINGS["qat"], f"tfmot QAT, {cfg.qat_summary()}, lr "
                       + ", ".join(f"{a} {cfg.qat_lr(a):g}" for a in cfg.archs) + ", input quantized over its exact "
                       "range"),
        "deployed model": (paper.SETTINGS["deployed"], "all-int8 TFLite on the LiteRT interpreter (ai-edge-litert)"),
        "instability": ("images where exactly one of the two models is correct", "the same; top-1 disagreement "
                        "(any two different predictions) is a separate column"),
        "seed": ("not stated", s.seed),
    })


def run(s: Settings) -> ChapterResult:
    """Build (or load) each architecture's three models, measure Table 1 and judge its claims.

    Example:
        >>> r = run(Settings.resolve("smoke"))  # doctest: +SKIP
        >>> r.show("table1")  # doctest: +SKIP
    """
    cfg = s.cfg
    data = zoo.load_data(cfg, s.seed)
    models, rows, json_models = floors.ModelsTable(), [], {}
    for arch in cfg.archs:
        t = time.perf_counter()
        entry = zoo.get(arch, cfg, s.seed, stand_in=data)
        seconds = {"this call (s)": round(time.perf_counter() - t, 1),
                   **{k: round(v, 1) for k, v in entry.build_seconds.items()}}
        p32, pq, p8 = (evaluate.predict(m, data.x_test) for m in (entry.fp32, entry.qat, entry.tflite))
        release_models(entry.fp32, entry.qat)  # one architecture's models in memory at a time
        y = data.y_test
        r = {"fp32": metrics.accuracy(p32, y), "qat": metrics.accuracy(pq, y), "int8": metrics.accuracy(p8, y),
             "instability": metrics.instability(p32, p8, y), "disagreement": metrics.disagreement(p32, p8),
             "qat_int8": metrics.disagreement(pq, p8), **metrics.deviations(p32, p8, y)}
        models.check(f"{arch} fp32", floors.fp32_floor(cfg.dataset), r["fp32"].value)
        models.check(f"{arch} int8", "int8_minus_fp32", r["int8"].value - r["fp32"].value)
        models.check(f"{arch} int8", "qat_int8_disagreement", r["qat_int8"].value)
        rows.append({"arch": arch, **r, "build": seconds})
        json_models[arch] = {
            "fp32_acc": r["fp32"].value, "qat_acc": r["qat"].value, "tflite_int8_acc": r["int8"].value,
            "instability": r["instability"].value, "instability_ci": [r["instability"].low, r["instability"].high],
            "disagreement": r["disagreement"].value, "qat_int8_disagreement": r["qat_int8"].value,
            "orig_correct_adapted_wrong": r["orig_correct_adapted_wrong"],
            "orig_wrong_adapted_correct": r["orig_wrong_adapted_correct"], "build_seconds": seconds}
    sp = spread.table1(SPREAD_ARCH, cfg, s.spread_seeds) if s.spread_seeds else {}
    result = ChapterResult("table1", s.profile, settings_table(s), models, data={
        "seed": s.seed, "n_test": cfg.n_test, "models": json_models} | ({"seed_spread": sp} if sp else {}))
    result.tables = {"table1": _table1(rows), "build": pd.DataFrame([{"arch": r["arch"], **r["build"]} for r in rows]),
                     "seed_spread": spread.frame(sp)}
    result.claims = _claims(rows, models, s, cfg.n_test)
    result.extras["rows"] = rows
    return result


def _table1(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "arch": r["arch"], "fp32 acc": str(r["fp32"]), "QAT acc": str(r["qat"]), "int8 acc": str(r["int8"]),
        "orig ✓ int8 ✗": r["orig_correct_adapted_wrong"], "orig ✗ int8 ✓": r["orig_wrong_adapted_correct"],
        "instability": str(r["instability"]), "disagreement": str(r["disagreement"]),
        "QAT vs int8 disagreement": str(r["qat_int8"]),
        "paper fp32 / int8 / instability": " / ".join(pct(paper.TABLE1[r["arch"]][k])
                                                      for k in ("fp32_acc", "quantized_acc", "instability")),
    } for r in rows])


def _claims(rows: list[dict], models: floors.ModelsTable, s: Settings, n: int) -> list[dict]:
    ratios = {r["arch"]: verdicts.flip_ratio(r["orig_correct_adapted_wrong"], r["orig_wrong_adapted_correct"],
                                             r["instability"].n, seed=s.seed) for r in rows}
    worst = min(ratios.values(), key=lambda e: e.high)
    scope = f"{', '.join(ratios)}; n = {n} test images each"
    rests = [f"{a} fp32" for a in ratios] + [f"{a} int8" for a in ratios]
    inst = {r["arch"]: r["instability"] for r in rows}
    lowest = min(inst.values(), key=lambda e: e.high)
    return [
        judge("table1.flip_ratio", all(verdicts.reaches(e, 3.2) for e in ratios.values()),
              "; ".join(f"{a} {e.value:.1f}× [{e.low:.1f}, {e.high:.1f}]" for a, e in ratios.items()),
              models=models, rests_on=rests, stand_in=s.stand_in, estimate=worst, scope=scope),
        judge("table1.instability_level", all(verdicts.reaches(e, 0.063, 0.081) for e in inst.values()),
              "; ".join(f"{a} {e}" for a, e in inst.items()), models=models, rests_on=rests, stand_in=s.stand_in,
              estimate=verdicts.Estimate.of(lowest), scope=scope),
    ]


def figure(result: ChapterResult) -> plt.Figure:
    """Accuracies and instability per architecture with their 95 % intervals."""
    long = pd.DataFrame([{"arch": r["arch"], "metric": name, "value": r[k].value, "low": r[k].low, "high": r[k].high}
                         for r in result.extras["rows"] for k, name in (("fp32", "fp32 accuracy"),
                                                                      ("int8", "int8 accuracy"),
                                                                      ("instability", "instability"))])
    return plots.rate_bars(long, x="arch", hue="metric", title=f"Table 1 ({result.profile} profile)")
