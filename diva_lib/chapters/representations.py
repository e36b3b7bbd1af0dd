"""What DIVA does inside the network (§4.2, Fig 4): penultimate-layer features of clean and attacked MNIST digits.

The paper projects the penultimate-layer activations of ResNet50 on MNIST zeros and twos with
PCA and shows that DIVA moves the adapted model's features of attacked zeros toward another
class, not the original's. This chapter redraws the projection (PCA and t-SNE) and measures the
shift: for each model, how often an attacked zero's nearest class centroid is no longer the zero's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NewType

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from diva_lib import attacks, config, evaluate, floors, metrics, models, report, train, verdicts, zoo
from diva_lib.chapters import ChapterResult, ChapterSettings, per_profile
from diva_lib.claims import judge
from diva_lib.metrics import Rate

Digit = NewType("Digit", int)
"""An MNIST digit 0–9, checked by `Settings.validate` (0 is a valid value)."""
NonNegative = NewType("NonNegative", int)
"""An integer ≥ 0, checked by `Settings.validate`."""

CENTROID_IMAGES = 200
"""Correctly classified clean test images per digit that make up a class centroid (at most)."""
TSNE_POINTS = 3000
"""Most points t-SNE embeds (the clean ones are subsampled, the attacked ones all kept)."""


@dataclass(frozen=True)
class Settings(ChapterSettings):
    """Parameters of the MNIST representations chapter."""

    arch: str = per_profile("mobilenet", "resnet50", "resnet50")  # Fig 4's ResNet50 (smoke: MobileNet, seconds)
    epochs: int | None = per_profile(None, 3, None)  # fp32 training epochs (None: the profile's for `arch`)
    n_train: int | None = None  # MNIST training images (None: the profile's, 45,000 in default)
    digits: tuple[Digit, ...] = (Digit(0), Digit(2))  # the attacked digit first, then the comparison digit
    n_per_digit: int = per_profile(100, 1000, 1000)  # clean images per digit in the projections
    n_attack: int = per_profile(16, 1000, 1000)  # attacked images of the first digit
    tsne_perplexity: float = 30.0
    tsne_seed: NonNegative = NonNegative(1)

    @property
    def cfg(self) -> config.Profile:
        """MNIST at 32×32 with this chapter's architecture and epochs (the `paper` profile too: Fig 4 is MNIST)."""
        overrides = {"image_size": 32, "num_classes": 10, "weights": None} if self.profile == "paper" else {}
        cfg = config.get_profile(self.profile, dataset="mnist", archs=[self.arch], n_train=self.n_train,
                                 n_test=1_000 if self.profile == "smoke" else 10_000, **overrides)
        return dataclasses.replace(cfg, epochs={self.arch: self.epochs or cfg.epochs[self.arch]})

    def validate(self) -> None:
        """A known architecture, two different digits, a positive perplexity and a seed ≥ 0."""
        if self.arch not in config.ARCHS:
            raise config.ParameterError(f"parameter 'arch'={self.arch!r} is unknown; use one of {config.ARCHS}")
        d = self.digits
        if len(d) != 2 or len(set(d)) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                                      and 0 <= v <= 9 for v in d):
            raise config.ParameterError(f"parameter 'digits'={list(d)!r} must be two different digits 0-9")
        if not self.tsne_perplexity > 0:
            raise config.ParameterError(f"parameter 'tsne_perplexity'={self.tsne_perplexity!r} must be > 0")
        s = self.tsne_seed
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise config.ParameterError(f"parameter 'tsne_seed'={s!r} must be a non-negative integer")


def settings_table(s: Settings) -> pd.DataFrame:
    """Paper setting vs this run."""
    cfg = s.cfg
    return report.settings_table({
        "data": ("MNIST, 32×32×3", f"MNIST padded to {cfg.image_size}×{cfg.image_size}×3, {cfg.n_train} training "
                 "images"),
        "model": ("ResNet50 + QAT int8", f"{s.arch} trained {cfg.epochs[s.arch]} epochs, QAT {cfg.qat_summary()}"),
        "points per digit": (1000, s.n_per_digit),
        "attacked images": (1000, s.n_attack),
        "images used": ("classified correctly by both models", "classified correctly by the original, the QAT graph "
                        "and the deployed int8 model"),
        "projection": ("PCA (2 components)", "PCA fitted once on all clean points; t-SNE as a second view"),
        "seed": ("not stated", s.seed),
    })


def attack_set(s: Settings, entry: zoo.ZooEntry, x_test_digit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`n_attack` images of the attacked digit every model classifies correctly: test images first, then held-out ones.

    MNIST's test split has 980 zeros; as the paper attacks 1,000, the rest come from training
    images that no model was trained on (`zoo.held_out`).
    """
    d0 = s.digits[0]
    x = x_test_digit[: s.n_attack]
    if len(x) < s.n_attack:
        xh, yh = zoo.held_out(s.cfg, s.seed)
        xh = xh[yh == d0]
        ok = np.logical_and.reduce([evaluate.predict(m, xh).argmax(1) == d0 for m in (entry.fp32, entry.qat,
                                                                                        entry.tflite)])
        x = np.concatenate([x, xh[ok][: s.n_attack - len(x)]])
    return x, np.full(len(x), d0, dtype=np.int64)


def run(s: Settings) -> ChapterResult:
    """Train (or load) the MNIST pair, attack zeros with DIVA and PGD, project the features and measure the shift.

    Example:
        >>> result = run(Settings.resolve("smoke"))  # doctest: +SKIP
        >>> fig_pca(result)  # doctest: +SKIP
    """
    cfg, (d0, d1) = s.cfg, s.digits
    train.set_seed(s.seed)
    data = zoo.load_data(cfg, s.seed)
    entry = zoo.get(s.arch, cfg, s.seed, stand_in=data)
    x, y = data.x_test, data.y_test
    p32, pq, p8 = (evaluate.predict(m, x) for m in (entry.fp32, entry.qat, entry.tflite))
    acc = {"fp32": metrics.accuracy(p32, y), "QAT": metrics.accuracy(pq, y), "int8 TFLite": metrics.accuracy(p8, y)}
    table = floors.ModelsTable()
    attacked = f"attacked digit-{d0} images"
    table.check(f"{s.arch} fp32", floors.fp32_floor(cfg.dataset), acc["fp32"].value)
    table.check(f"{s.arch} int8", "int8_minus_fp32", acc["int8 TFLite"].value - acc["fp32"].value)
    table.check(f"{s.arch} int8", "qat_int8_disagreement", metrics.disagreement(pq, p8).value)
    correct = metrics.both_correct(p32, pq, y) & (p8.argmax(1) == y)
    sel = {d: np.flatnonzero(correct & (y == d))[: s.n_per_digit] for d in s.digits}
    x_att, y_att = attack_set(s, entry, x[correct & (y == d0)])
    table.check(attacked, "n_rate", len(y_att))
    diva, pgd = (evaluate.evaluate_attack(a, entry.fp32, entry.qat, entry.tflite, x_att, y_att,
                                          batch_size=cfg.attack_batch_size, progress=False)
                 for a in (attacks.DIVA(entry.fp32, entry.qat), attacks.PGD(entry.fp32, entry.qat)))
    feat = {"original": models.penultimate(entry.fp32), "adapted": models.penultimate(entry.qat)}
    centre_idx = np.concatenate([np.flatnonzero(correct & (y == d))[:CENTROID_IMAGES] for d in range(10)])
    shift, feats = {}, {}
    for name, fmodel in feat.items():
        feats[name] = {f"digit {d}, clean": evaluate.predict(fmodel, x[sel[d]]) for d in (d0, d1)}
        feats[name][f"digit {d0}, DIVA-attacked"] = f_adv = evaluate.predict(fmodel, diva.x_adv)
        shift[name] = centroid_shift(evaluate.predict(fmodel, x_att), f_adv,
                                     class_centroids(evaluate.predict(fmodel, x[centre_idx]), y[centre_idx]), d0)
    changed = {m: v["changed"] for m, v in shift.items()}
    inst, dis = metrics.instability(p32, p8, y), metrics.disagreement(p32, p8)
    result = ChapterResult("mnist_pca", s.profile, settings_table(s), table, data={
        "seed": s.seed, "arch": s.arch, "build_seconds": {k: round(v, 1) for k, v in entry.build_seconds.items()},
        "n_attack": len(y_att), "n_attack_held_out": len(y_att) - min(
            s.n_attack, int((correct & (y == d0)).sum())), "fp32_acc": acc["fp32"].value,
        "qat_acc": acc["QAT"].value, "tflite_int8_acc": acc["int8 TFLite"].value, "instability": inst.value,
        "disagreement": dis.value, "diva_top1": diva.qat.top1.value, "pgd_top1": pgd.qat.top1.value,
        "diva_top1_tflite": diva.tflite.top1.value, "pgd_top1_tflite": pgd.tflite.top1.value,
        "attacked_zero_nearest_centroid_changed": {m: r.value for m, r in changed.items()},
        "attacked_zero_nearest_centroid_changed_ci": {m: [r.low, r.high] for m, r in changed.items()}})
    result.tables = {
        "accuracy": pd.DataFrame([{**{k: str(v) for k, v in acc.items()}, "instability (fp32 vs int8)": str(inst),
                                   "disagreement (fp32 vs int8)": str(dis)}]),
        "attacks": pd.DataFrame([{"attack": n, "top-1 success (QAT graph)": str(r.qat.top1),
                                  "top-1 success (int8)": str(r.tflite.top1),
                                  "original still correct (int8 grid)": str(r.tflite.orig_still_correct)}
                                 for n, r in (("DIVA", diva), ("PGD", pgd))]),
        "shift": pd.DataFrame([{"model": m, "nearest centroid changed": str(v["changed"]),
                                "mean move / mean distance between centroids": f"{v['move']:.3f}"}
                               for m, v in shift.items()])}
    result.claims = claims(changed["adapted"], changed["original"], table,
                           rests_on=[f"{s.arch} fp32", f"{s.arch} int8", attacked], stand_in=s.stand_in,
                           scope=f"{s.arch}; n = {len(y_att)} attacked digit-{d0} images")
    result.extras.update(settings=s, feats=feats)
    return result


def class_centroids(features: np.ndarray, labels: np.ndarray, classes: int = 10) -> np.ndarray:
    """The mean feature vector of each class, shape (classes, features)."""
    return np.stack([features[labels == c].mean(0) for c in range(classes)])


def centroid_shift(f_clean: np.ndarray, f_adv: np.ndarray, centroids: np.ndarray, digit: int) -> dict:
    """How far attacked features moved: share whose nearest centroid is not `digit`'s, mean move over spacing."""
    nearest = np.linalg.norm(f_adv[:, None] - centroids[None], axis=2).argmin(1)
    spacing = np.linalg.norm(centroids[:, None] - centroids[None], axis=2)[np.triu_indices(len(centroids), 1)]
    return {"changed": metrics.rate(nearest != digit),
            "move": float(np.linalg.norm(f_adv - f_clean, axis=1).mean() / spacing.mean())}


def claims(adapted: Rate, original: Rate, table: floors.ModelsTable, *, rests_on: list[str], stand_in: bool,
           scope: str = "") -> list[dict]:
    """The chapter's claim from the two shares of attacked images whose nearest centroid changed.

    Example:
        >>> from diva_lib.metrics import rate
        >>> claims(rate([1] * 9 + [0]), rate([0] * 10), floors.ModelsTable(), rests_on=[],
        ...        stand_in=False)[0]["verdict"]
        'holds'
    """
    d = verdicts.difference(adapted, original)
    return [judge("mnist.representation_shift", d.low > 0,
                  f"nearest centroid changed: adapted {adapted}, original {original}; difference {d}",
                  models=table, rests_on=rests_on, stand_in=stand_in, estimate=d, scope=scope)]


def _points(result: ChapterResult) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (model, image) with its group, and the stacked features."""
    rows, blocks = [], []
    for model_name, groups in result.extras["feats"].items():
        for image, f in groups.items():
            rows += [{"model": model_name, "image": image}] * len(f)
            blocks.append(f)
    return pd.DataFrame(rows), np.concatenate(blocks)


def _scatter(points: pd.DataFrame, x: str, y: str, title: str) -> plt.Figure:
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    sns.scatterplot(data=points, x=x, y=y, hue="image", style="model", s=14, alpha=0.6, ax=ax,
                    markers={"original": "o", "adapted": "X"})
    ax.set_title(title)
    ax.legend(fontsize="small", loc="best")
    return fig


def fig_pca(result: ChapterResult) -> plt.Figure:
    """Fig 4: both models' features of clean and attacked digits, on the PCA axes of the clean points."""
    s = result.extras["settings"]
    points, f = _points(result)
    clean = ~points["image"].str.contains("attacked").to_numpy()
    pca = PCA(n_components=2, random_state=s.seed).fit(f[clean])
    points[["PC1", "PC2"]] = pca.transform(f)
    return _scatter(points, "PC1", "PC2", f"PCA of {s.arch} penultimate features (fitted on clean points, "
                    f"{pca.explained_variance_ratio_.sum():.0%} of variance)")


def fig_tsne(result: ChapterResult) -> plt.Figure:
    """The same points with t-SNE: every attacked point and a seeded sample of clean ones (`TSNE_POINTS` in all)."""
    s = result.extras["settings"]
    points, f = _points(result)
    attacked = points["image"].str.contains("attacked").to_numpy()
    clean_rows, attacked_rows = np.flatnonzero(~attacked), np.flatnonzero(attacked)
    budget = min(max(0, TSNE_POINTS - len(attacked_rows)), len(clean_rows))
    rng = np.random.default_rng(s.tsne_seed)
    keep = np.sort(np.concatenate([attacked_rows, rng.choice(clean_rows, budget, replace=False)]))
    z = PCA(n_components=min(50, f.shape[1], len(keep)), random_state=s.tsne_seed).fit_transform(f[keep])
    emb = TSNE(n_components=2, perplexity=min(s.tsne_perplexity, (len(keep) - 1) / 3), random_state=s.tsne_seed,
               init="pca").fit_transform(z)
    shown = points.iloc[keep].assign(**{"t-SNE 1": emb[:, 0], "t-SNE 2": emb[:, 1]})
    return _scatter(shown, "t-SNE 1", "t-SNE 2", f"t-SNE (perplexity {s.tsne_perplexity:g}, seed {s.tsne_seed})")
