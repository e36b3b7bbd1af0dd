"""Beyond the paper: DIVA across bit-widths and sparsities, transfer between compressed models, on-device priors.

The related papers in `shared/papers` measure direct attacks on quantized networks (003), transfer
between compressed and uncompressed models (004) and on-device models as transfer priors (002);
none measures DIVA, whose aim is the opposite of transfer. This chapter puts DIVA into their tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from diva_lib import adapt, attacks, config, evaluate, floors, metrics, report, train, verdicts, zoo
from diva_lib.chapters import ArchSettings, ChapterResult, per_profile
from diva_lib.claims import judge
from diva_lib.metrics import Rate

MODELS = ("original", "int8", "pruned")
"""The three deployed models of the transfer matrix (pruned: the paper's 0.8 sparsity)."""


@dataclass(frozen=True)
class Settings(ArchSettings):
    """Parameters of the beyond-the-paper chapter."""

    archs: tuple[str, ...] = per_profile(("mobilenet",), ("mobilenet",), ("mobilenet", "resnet50"))
    bits: tuple[int, ...] = per_profile((8, 4), (8, 6, 4, 2), (8, 6, 4, 2))
    sparsities: tuple[float, ...] = per_profile((0.8,), (0.5, 0.75, 0.8, 0.9), (0.5, 0.75, 0.8, 0.9))
    n_eval: int = per_profile(32, 400, 1000)  # images per point; transfer rates keep the ~60 % DIVA fools: ≥ 200
    c: float = 1.0  # DIVA's balance between the two models

    def validate(self) -> None:
        """Widths lie in 2–8 bits and include 8; sparsities lie strictly between 0 and 1 and include 0.8."""
        bad = [b for b in self.bits if not 2 <= b <= 8]
        if bad or 8 not in self.bits:
            raise config.ParameterError(f"parameter 'bits'={list(self.bits)!r} must hold widths in 2–8 and include "
                                        "8 (the deployed int8 model), e.g. [8, 6, 4, 2]")
        if any(not 0 < s < 1 for s in self.sparsities) or 0.8 not in self.sparsities:
            raise config.ParameterError(f"parameter 'sparsities'={list(self.sparsities)!r} must lie in (0, 1) and "
                                        "include 0.8 (the paper's pruned model), e.g. [0.5, 0.75, 0.8, 0.9]")


def settings_table(s: Settings) -> pd.DataFrame:
    """What each related paper did vs this run."""
    cfg = s.cfg
    return report.settings_table({
        "models": ("003: MNIST CNN, CIFAR ResNet20; 004: LeNet5, CifarNet; 002: CIFAR/ImageNet ResNet50",
                   f"{', '.join(cfg.archs)} on {cfg.dataset}"),
        "bit-widths": ("003: DoReFa 1–16 bits; 004: fixed point", f"tfmot QAT at {', '.join(map(str, s.bits))} bits "
                       "(weights and activations); 8 bits judged on the deployed int8 TFLite model, others on the "
                       "QAT graph"),
        "sparsities": ("004: dynamic network surgery; 002: l1 pruning ≈ 50 %", f"magnitude pruning to "
                       f"{', '.join(f'{v:g}' for v in s.sparsities)}, each also with pruning-preserving int8 QAT"),
        "attacks": ("IFGSM/PGD, ε 8/255 (002), 0.02 (004)", f"PGD and DIVA (c = {s.c:g}), {s.cfg.attack.describe()}"),
        "transfer": ("adversarial images crafted on one model, tested on another",
                     "the 20th step's image, and apart the first step's image that fooled the crafting model, "
                     "judged on the deployed models"),
        "images per point": ("not stated", f"the first {s.n_eval} test images of the split's second half that the "
                                           "models involved classify correctly"),
        "seed": ("not stated", s.seed),
    })


@dataclass(frozen=True)
class Point:
    """One compressed model measured: clean accuracy, instability, and the two attacks on it."""

    arch: str
    label: str  # "4 bits", "pruned 0.5", "pruned+int8 0.5"
    accuracy: Rate
    instability: Rate
    diva_top1: Rate
    pgd_top1: Rate
    pgd_evasion: Rate  # PGD as a direct attack: the model wrong on the final iterate
    sparsity: float | None = None

    def as_dict(self) -> dict:
        """The JSON of one point."""
        out = {"accuracy": self.accuracy.value, "instability": self.instability.value, "diva_top1":
               self.diva_top1.value, "pgd_top1": self.pgd_top1.value, "pgd_evasion": self.pgd_evasion.value,
               "n": self.diva_top1.n, "diva_top1_ci": [self.diva_top1.low, self.diva_top1.high],
               "pgd_top1_ci": [self.pgd_top1.low, self.pgd_top1.high]}
        return out | ({"sparsity": self.sparsity} if self.sparsity is not None else {})

    def row(self) -> dict:
        """One row of the points table."""
        return {"arch": self.arch, "model": self.label, "accuracy": str(self.accuracy),
                "instability": str(self.instability), "DIVA top-1": str(self.diva_top1),
                "PGD top-1": str(self.pgd_top1), "PGD evasion (final)": str(self.pgd_evasion),
                "zero weights": report.pct(self.sparsity) if self.sparsity is not None else ""}


@dataclass(frozen=True)
class ArchMeasure:
    """Everything the chapter measured on one architecture."""

    arch: str
    bits: dict[int, Point]
    sparsity: dict[float, list[Point]]  # [pruned, pruned + int8] per target sparsity
    transfer: dict[str, dict[str, dict[str, Rate]]]  # attack → crafted on → judged on (final iterates)
    prior: dict[str, Rate]  # crafted through → success on the original
    transfer_first: dict[str, dict[str, dict[str, Rate]]] = field(default_factory=dict)  # first evasions

    def points(self) -> list[Point]:
        """Every width's and every sparsity's point."""
        return [*self.bits.values(), *(q for pair in self.sparsity.values() for q in pair)]


def measure(arch: str, label: str, e: zoo.ZooEntry, adapted, deployed, data: zoo.StandIn, s: Settings,
            sparsity: float | None = None) -> Point:
    """Clean accuracy and instability on the test split, then PGD and DIVA on the pair (original, adapted)."""
    po, pa = evaluate.predict(e.fp32, data.x_test), evaluate.predict(deployed, data.x_test)
    x, y = evaluate.select_second_half(data.x_test, data.y_test, [e.fp32, deployed], s.n_eval)
    batch, kw = s.cfg.attack_batch_size, s.cfg.attack.kwargs()
    d = evaluate.evaluate_attack(attacks.DIVA(e.fp32, adapted, c=s.c, **kw), e.fp32, adapted, deployed, x, y,
                                 batch_size=batch, progress=False)
    g = evaluate.evaluate_attack(attacks.PGD(e.fp32, adapted, **kw), e.fp32, adapted, deployed, x, y, batch_size=batch,
                                 progress=False, final=True)
    return Point(arch, label, metrics.accuracy(pa, data.y_test), metrics.instability(po, pa, data.y_test),
                 d.tflite.top1, g.tflite.top1, g.tflite_final.evasion, sparsity)


def transfer(e: zoo.ZooEntry, p: zoo.PrunedEntry, data: zoo.StandIn, s: Settings) -> tuple[dict, dict]:
    """Transfer rates: images crafted on each model, judged on each deployed model; (final iterates, first evasions).

    Every attack runs all 20 steps, as transfer studies do (`004`: a fixed number of iterations):
    an image counts where its final iterate fools the deployed twin of the model it was crafted
    on, and the rate is the share of those that also fool the judged model. The second matrix
    does the same with the image at the first step the crafting model was wrong, the smallest
    perturbation that fooled it. DIVA is crafted on a pair, so its rows are its adapted models.
    """
    crafted = {"original": e.fp32.model, "int8": e.qat, "pruned": p.pruned}
    deployed = {"original": e.fp32, "int8": e.tflite, "pruned": p.pruned_tflite}
    x, y = evaluate.select_second_half(data.x_test, data.y_test, list(deployed.values()), s.n_eval)
    kw = s.cfg.attack.kwargs()
    attack_on = {"PGD": {m: attacks.PGD(e.fp32, crafted[m], **kw) for m in MODELS},
                 "DIVA": {m: attacks.DIVA(e.fp32, crafted[m], c=s.c, **kw) for m in ("int8", "pruned")}}
    final: dict = {}
    first: dict = {}
    for name, on in attack_on.items():
        for m, atk in on.items():
            res = atk.run(x, y, batch_size=s.cfg.attack_batch_size, progress=False, keep_final=True)
            for out, images in ((final, res.x_final), (first, res.x_evade)):
                grid = metrics.to_pixel_grid(images)
                wrong = {j: evaluate.predict(deployed[j], grid).argmax(1) != y for j in MODELS}
                out.setdefault(name, {})[m] = {j: metrics.rate(wrong[j][wrong[m]]) for j in MODELS}
    return final, first


def on_device_prior(e: zoo.ZooEntry, sur: zoo.Surrogates, data: zoo.StandIn, s: Settings) -> dict[str, Rate]:
    """PGD crafted through the deployed model's QAT twin, an independent surrogate and the original itself.

    Each runs all 20 steps (the attacker cannot see the server model); success is the original
    wrong on the final iterate, on images it classified correctly.
    """
    x, y = evaluate.select_second_half(data.x_test, data.y_test, [e.fp32], s.n_eval)
    through = {"on-device twin (QAT graph)": e.qat, "independent surrogate": sur.blackbox,
               "the original itself (whitebox)": e.fp32.model}
    out = {}
    for name, model in through.items():
        res = attacks.PGD(e.fp32, model, **s.cfg.attack.kwargs()).run(
            x, y, batch_size=s.cfg.attack_batch_size, progress=False, keep_final=True)
        out[name] = metrics.rate(evaluate.predict(e.fp32, metrics.to_pixel_grid(res.x_final)).argmax(1) != y)
    return out


def run(s: Settings) -> ChapterResult:
    """Measure every width and sparsity, the transfer matrix and the on-device prior per architecture; judge.

    Example:
        >>> r = run(Settings.resolve("smoke"))  # doctest: +SKIP
        >>> r.show("points")  # doctest: +SKIP
    """
    cfg = s.cfg
    train.set_seed(s.seed)
    data = zoo.load_data(cfg, s.seed)
    models, json_out, measured, build = floors.ModelsTable(), {}, [], []
    for arch in cfg.archs:
        t = time.perf_counter()
        e = zoo.get(arch, cfg, s.seed, stand_in=data)
        models.check(f"{arch} fp32", floors.fp32_floor(cfg.dataset), metrics.accuracy(
            evaluate.predict(e.fp32, data.x_test), data.y_test).value)
        bits = {}
        for b in s.bits:
            adapted = zoo.get_nbit(arch, cfg, s.seed, b, stand_in=data)
            bits[b] = measure(arch, f"{b} bits", e, adapted, e.tflite if b == 8 else adapted, data, s)
        pruned, sparsity = {}, {}
        for v in s.sparsities:
            p = pruned[v] = zoo.get_pruned(arch, cfg, s.seed, v, stand_in=data)
            sparsity[v] = [measure(arch, f"pruned {v:g}", e, p.pruned, p.pruned_tflite, data, s,
                                   adapt.tflite_weight_sparsity(p.pruned_tflite.path)),
                           measure(arch, f"pruned+int8 {v:g}", e, p.pruned_qat, p.pruned_qat_tflite, data, s,
                                   adapt.tflite_weight_sparsity(p.pruned_qat_tflite.path))]
        sur = zoo.get_surrogates(arch, cfg, s.seed, e, stand_in=data)
        (matrix, first), prior = transfer(e, pruned[0.8], data, s), on_device_prior(e, sur, data, s)
        build.append({"arch": arch, "this call (s)": round(time.perf_counter() - t, 1)})
        measured.append(ArchMeasure(arch, bits, sparsity, matrix, prior, first))
        for q in measured[-1].points():
            models.check(f"{arch} {q.label}", "compressed_acc", q.accuracy.value)
            models.check(f"{arch} {q.label} eval set", "n_rate", q.diva_top1.n)
        for name, rows in matrix.items():
            for m, judged in rows.items():
                models.check(f"{arch} {name} crafted on {m}", "n_rate", judged[m].n)
        models.check(f"{arch} prior eval set", "n_rate", next(iter(prior.values())).n)
        json_out[arch] = {
            "bits": {b: q.as_dict() for b, q in bits.items()},
            "sparsity": {v: {**pair[0].as_dict(), "int8": pair[1].as_dict()} for v, pair in sparsity.items()},
            "transfer": _matrix_json(matrix), "transfer_first_evasion": _matrix_json(first),
            "on_device_prior": {k: r.as_dict() for k, r in prior.items()},
            "build_seconds": build[-1]}
    result = ChapterResult("beyond", s.profile, settings_table(s), models,
                           data={**json_out, "c": s.c, "seed": s.seed, "n_eval": s.n_eval})
    result.tables = {"points": pd.DataFrame([q.row() for m in measured for q in m.points()]),
                     "transfer": transfer_table(measured), "prior": prior_table(measured),
                     "build": pd.DataFrame(build).astype(str)}
    result.claims = claims(measured, models, s.stand_in)
    result.extras["measured"] = measured
    return result


def _matrix_json(matrix: dict) -> dict:
    """attack → crafted on → judged on → {rate, n, ci}."""
    return {n: {m: {j: r.as_dict() for j, r in rows.items()}
                for m, rows in by.items()} for n, by in matrix.items()}


def transfer_table(measured: list[ArchMeasure]) -> pd.DataFrame:
    """The transfer matrices as rows: attack, crafted on, which image, and the rate on each judged model."""
    return pd.DataFrame([{"arch": m.arch, "attack": name, "crafted on": on, "image": image,
                          **{f"fools {j}": str(r) for j, r in judged.items()}}
                         for m in measured for name in m.transfer
                         for image, matrix in (("final (20 steps)", m.transfer), ("first evasion", m.transfer_first))
                         if name in matrix for on, judged in matrix[name].items()])


def prior_table(measured: list[ArchMeasure]) -> pd.DataFrame:
    """PGD's success on the original through each model the attacker could hold."""
    return pd.DataFrame([{"arch": m.arch, "crafted through": k, "fools the original": str(r)}
                         for m in measured for k, r in m.prior.items()])


TWIN, SURROGATE = "on-device twin (QAT graph)", "independent surrogate"


def _split(points: list[Point], models: floors.ModelsTable) -> tuple[list[Point], list[Point]]:
    """The points whose models meet their floors, and the rest."""
    ok = [q for q in points if not models.failures([f"{q.arch} {q.label}"])]
    return ok, [q for q in points if q not in ok]


def _excluded(points: list[Point]) -> str:
    """'; not tested: mobilenet 2 bits (below its floor)' or ''."""
    return f"; not tested: {', '.join(f'{q.arch} {q.label}' for q in points)} (below a floor)" if points else ""


def _names(points: list[Point]) -> list[str]:
    return sorted({f"{q.arch} {q.label}" for q in points} | {f"{q.arch} fp32" for q in points})


def claims(measured: list[ArchMeasure], models: floors.ModelsTable, stand_in: bool) -> list[dict]:
    """The chapter's verdicts from plain measured numbers (one `ArchMeasure` per architecture)."""
    rows = []
    low_bits = []
    for m in measured:
        ok, _ = _split([q for b, q in m.bits.items() if b < 8], models)
        if ok:
            low_bits.append((m.bits[8], min(ok, key=lambda q: int(q.label.split()[0]))))
    all_low = [q for m in measured for b, q in m.bits.items() if b < 8]
    drop = [verdicts.difference(a.pgd_evasion, b.pgd_evasion) for a, b in low_bits]
    rows.append(judge(
        "beyond.direct_robustness", bool(low_bits) and all(e.low > 0 for e in drop),
        "; ".join(f"{a.arch} PGD evasion 8 bits {a.pgd_evasion} vs {b.label} {b.pgd_evasion}" for a, b in low_bits)
        + _excluded(_split(all_low, models)[1]), models=models,
        rests_on=_names([q for pair in low_bits for q in pair]) if low_bits else _names(all_low),
        stand_in=stand_in, estimate=min(drop, key=lambda e: e.low) if drop else None,
        scope=f"{', '.join(m.arch for m in measured)}; the lowest width that meets its floor"))
    for cid, group in (("beyond.diva_beats_pgd_bits", [list(m.bits.values()) for m in measured]),
                       ("beyond.diva_beats_pgd_sparsity", [[q for p in m.sparsity.values() for q in p]
                                                            for m in measured])):
        points = [q for g in group for q in g]
        ok, below = _split(points, models)
        gap = [verdicts.difference(q.diva_top1, q.pgd_top1) for q in ok]
        rows.append(judge(
            cid, bool(ok) and all(e.low > 0 for e in gap),
            "; ".join(f"{q.arch} {q.label}: DIVA {report.pct(q.diva_top1.value)} vs PGD "
                      f"{report.pct(q.pgd_top1.value)}, difference {e}" for q, e in zip(ok, gap, strict=True))
            + _excluded(below), models=models, rests_on=_names(ok or points), stand_in=stand_in,
            estimate=min(gap, key=lambda e: e.low) if gap else None,
            scope=f"{len(ok)} models; n = {ok[0].diva_top1.n if ok else 0} images each"))
    pairs = [(m.arch, src, dst, m.transfer["PGD"][src][dst]) for m in measured
             for src, dst in (("original", "int8"), ("int8", "original"), ("original", "pruned"),
                              ("pruned", "original"))]
    rests = sorted({f"{a} {k}" for a, *_ in pairs for k in ("fp32", "8 bits", "pruned 0.8")}
                   | {f"{a} PGD crafted on {s}" for a, s, _, _ in pairs})
    rows.append(judge(
        "beyond.transfer_remains", all(r.low > 0.5 for *_, r in pairs),
        "; ".join(f"{a} {s} → {d}: {r}" for a, s, d, r in pairs), models=models, rests_on=rests,
        stand_in=stand_in, estimate=verdicts.Estimate.of(min((r for *_, r in pairs), key=lambda r: r.low)),
        scope=f"{', '.join(m.arch for m in measured)}; PGD, images that fooled the model they were crafted on"))
    less = [(m, on, verdicts.difference(m.transfer["PGD"][on]["original"], m.transfer["DIVA"][on]["original"]))
            for m in measured for on in ("int8", "pruned")]
    rows.append(judge(
        "beyond.diva_transfers_less", all(e.low > 0 for *_, e in less),
        "; ".join(f"{m.arch} crafted on {on}: PGD {m.transfer['PGD'][on]['original']} vs DIVA "
                  f"{m.transfer['DIVA'][on]['original']} fool the original, difference {e}" for m, on, e in less),
        models=models, rests_on=rests + sorted({f"{m.arch} DIVA crafted on {on}" for m, on, _ in less}),
        stand_in=stand_in, estimate=min((e for *_, e in less), key=lambda e: e.low),
        scope=f"{', '.join(m.arch for m in measured)}; judged on the original"))
    prior_rests = sorted({f"{m.arch} {k}" for m in measured for k in ("fp32", "8 bits", "prior eval set")})
    twin = [m.prior[TWIN] for m in measured]
    rows.append(judge(
        "beyond.prior_transfers", all(verdicts.reaches(r, 0.90) for r in twin),
        "; ".join(f"{m.arch}: {m.prior[TWIN]}" for m in measured), models=models, rests_on=prior_rests,
        stand_in=stand_in, estimate=verdicts.Estimate.of(min(twin, key=lambda r: r.high)),
        scope=f"{', '.join(m.arch for m in measured)}; PGD final iterates judged on the original"))
    gain = [verdicts.difference(m.prior[TWIN], m.prior[SURROGATE]) for m in measured]
    rows.append(judge(
        "beyond.prior_beats_surrogate", all(e.low > 0 for e in gain),
        "; ".join(f"{m.arch}: twin {m.prior[TWIN]} vs surrogate {m.prior[SURROGATE]}, difference {e}"
                  for m, e in zip(measured, gain, strict=True)), models=models, rests_on=prior_rests,
        stand_in=stand_in, estimate=min(gain, key=lambda e: e.low),
        scope=f"{', '.join(m.arch for m in measured)}; PGD final iterates judged on the original"))
    return rows


def _curve(ax: plt.Axes, xs: list[float], rates: list[Rate], label: str, style: str = "-") -> None:
    """One measure against the compression level, with its 95 % intervals."""
    v = np.array([100 * r.value for r in rates])
    err = np.array([[100 * (r.value - r.low) for r in rates], [100 * (r.high - r.value) for r in rates]])
    ax.errorbar(xs, v, yerr=err, fmt=f"o{style}", capsize=3, label=label)


MEASURES = {"accuracy": "accuracy", "instability": "instability", "diva_top1": "DIVA top-1",
            "pgd_top1": "PGD top-1"}


def fig_bits(result: ChapterResult) -> plt.Figure:
    """Accuracy, instability and both attacks' top-1 success against the bit-width, per architecture."""
    measured = result.extras["measured"]
    fig, axes = plt.subplots(1, len(measured), figsize=(5.5 * len(measured), 3.6), squeeze=False)
    for ax, m in zip(axes[0], measured, strict=True):
        bits = sorted(m.bits, reverse=True)
        for key, label in MEASURES.items():
            _curve(ax, bits, [getattr(m.bits[b], key) for b in bits], label)
        ax.set(xlabel="bits (weights and activations)", ylabel="%", title=m.arch, xticks=bits)
        ax.invert_xaxis()
        ax.legend(fontsize=8)
    fig.suptitle("compression by bit-width: 95 % intervals")
    fig.tight_layout()
    return fig


def fig_sparsity(result: ChapterResult) -> plt.Figure:
    """The same measures against the target sparsity, pruned (solid) and pruned + int8 (dashed)."""
    measured = result.extras["measured"]
    fig, axes = plt.subplots(1, len(measured), figsize=(5.5 * len(measured), 3.6), squeeze=False)
    for ax, m in zip(axes[0], measured, strict=True):
        levels = sorted(m.sparsity)
        for key, label in MEASURES.items():
            for i, (style, kind) in enumerate((("-", "pruned"), ("--", "pruned + int8"))):
                _curve(ax, levels, [getattr(m.sparsity[v][i], key) for v in levels], f"{label}, {kind}", style)
        ax.set(xlabel="target sparsity", ylabel="%", title=m.arch)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle("compression by pruning: 95 % intervals")
    fig.tight_layout()
    return fig


def fig_transfer(result: ChapterResult) -> plt.Figure:
    """Transfer matrices (% of the images that fooled their crafting model that also fool the judged one)."""
    measured = result.extras["measured"]
    fig, axes = plt.subplots(len(measured), 2, figsize=(9, 3.4 * len(measured)), squeeze=False)
    for row, m in zip(axes, measured, strict=True):
        for ax, (name, rows) in zip(row, m.transfer.items(), strict=True):
            grid = pd.DataFrame({on: {j: 100 * r.value for j, r in judged.items()} for on, judged in rows.items()}).T
            sns.heatmap(grid, annot=True, fmt=".0f", vmin=0, vmax=100, cmap="viridis", ax=ax, cbar=False)
            ax.set(title=f"{m.arch}: {name}", xlabel="judged on (deployed)", ylabel="crafted on")
    fig.tight_layout()
    return fig
