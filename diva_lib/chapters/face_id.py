"""Face recognition on the edge (§6, Figs 9–10): DIVA against a deployed int8 face-ID model, untargeted and targeted."""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from diva_lib import attacks, config, evaluate, faces, metrics, paper, plots, report, train, verdicts
from diva_lib.chapters import ChapterResult, ChapterSettings, per_profile
from diva_lib.claims import judge
from diva_lib.floors import ModelsTable
from diva_lib.metrics import Rate
from diva_lib.report import pct
from diva_lib.verdicts import Estimate
from diva_lib.zoo import ZooEntry

TARGETED_COLUMNS = ("target", "top-1 success", "hits on target", "identities reached, targeted",
                    "identities reached, untargeted", "most frequent")
RESTS_ON = ("face fp32", "face int8", "face attack set")
"""The models-table rows both claims rest on: the two models and the set of attacked images."""


@dataclass(frozen=True)
class Settings(ChapterSettings):
    """Parameters of the face chapter."""

    n_people: int | None = None  # identities of the fine-tuned task (None: the profile's, smoke 5, default 40)
    people: tuple[str, ...] | None = None  # an explicit list of identities instead of n_people
    n_targets: int = per_profile(2, 5, 10)  # target people of targeted DIVA (the paper: 10)
    c: float = 1.0  # DIVA's balance between the two models

    @property
    def face(self) -> faces.FaceSetting:
        """The profile's face setting with this run's number of people."""
        return faces.setting_for(self.profile, n_people=self.n_people)

    def validate(self) -> None:
        """A list of people names at least two; the targets fit in the task."""
        if self.people is not None and len(set(self.people)) < 2:
            raise config.ParameterError(f"parameter 'people'={list(self.people)!r} must name at least two identities")
        n = len(set(self.people)) if self.people is not None else self.face.n_people
        if self.n_targets > n:
            raise config.ParameterError(f"parameter 'n_targets'={self.n_targets} exceeds the {n} people of the task; "
                                        f"use at most {n}")


def settings_table(s: Settings, task: faces.FaceTask) -> pd.DataFrame:
    """Paper setting vs this run."""
    f = s.face
    backbone = ("VGGFace2 weights" if f.weights else
                f"backbone pretrained {f.pretrain_epochs} epochs on {len(task.pretrain_people)} other people")
    return report.settings_table({
        "model": ("VGGFace ResNet50 (keras-vggface), VGGFace2 weights", f"VGGFace ResNet50 (same layer names), "
                  f"{backbone}"),
        "fine-tuning data": ("PubFig, 150 people, 11,640 images, first 90 % of each person to train",
                             f"{len(task.people)} people ({f.source} source), {len(task.y_train)} training / "
                             f"{len(task.y_val)} validation images, first {f.train_share:.0%} of each person to "
                             "train" + (", random flips and 2-pixel shifts" if f.augment else ", with mirror images")
                             + (f", label smoothing {f.label_smoothing:g}" if f.label_smoothing else "")),
        "resolution": ("224×224", f"{f.image_size}×{f.image_size}"),
        "adaptation": ("tfmot quantize_model + fine-tuning, TFLite int8", f"QAT {f.qat_epochs} epoch(s), "
                       "preprocessed input quantized over its exact range, TFLite int8 on LiteRT"),
        "attacked images": ("450 validation images (3 per person) both models classify correctly",
                            "validation images all three models classify correctly, at most "
                            f"{f.per_person} per person"),
        "attack (ε / step / steps / random start)": (paper.ATTACK.describe(), paper.ATTACK.describe()),
        "protocol": ("each image kept at its first successful step (WBattack.py)", "the same; judged on the "
                     "true original and the deployed int8 model, images on the 8-bit grid"),
        "DIVA's c": ("1", f"{s.c:g}"),
        "targeted DIVA": ("10 target people", f"{s.n_targets} target people (the first of the task in name order)"),
        "seed": ("not stated", s.seed),
    })


def attack_set(y_val: np.ndarray, predictions: list[np.ndarray], n_people: int, per_person: int = 3) -> np.ndarray:
    """Indices of validation images every model classifies correctly, at most `per_person` per person (the paper: 3)."""
    correct = np.logical_and.reduce([p.argmax(1) == y_val for p in predictions])
    chosen = [np.flatnonzero(correct & (y_val == k))[:per_person] for k in range(n_people)]
    return np.sort(np.concatenate([*chosen, np.zeros(0, np.int64)])).astype(np.int64)


def reached(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Distinct identities reached per target under image weights.

    Args:
        labels: (targets, images) the identity the deployed model gives each successful image, −1 elsewhere.
        weights: (draws, images) how often each image is drawn (all ones: the sample itself).

    Returns (draws, targets) counts of distinct identities among the drawn images.
    """
    values = np.unique(labels[labels >= 0])
    onehot = (labels[:, :, None] == values).transpose(1, 0, 2).reshape(labels.shape[1], -1).astype(np.float32)
    seen = (weights > 0).astype(np.float32) @ onehot
    return (seen.reshape(len(weights), labels.shape[0], len(values)) > 0).sum(-1)


def set_size_gap(untargeted: np.ndarray, targeted: np.ndarray, seed: int = 0, reps: int = 2000) -> Estimate:
    """Untargeted − targeted identities reached, averaged over targets, with a seeded bootstrap 95 % interval.

    Each draw resamples the attacked images with replacement and counts, per target, the distinct
    identities each attack reached on the drawn images (paired: the same draw for both attacks).

    Args:
        untargeted, targeted: (targets, images) the identity the deployed model gives each image the
            attack succeeded on, −1 where it did not or where the image shows the target.
        seed, reps: the bootstrap's seed and number of draws.

    Example:
        >>> set_size_gap(np.array([[0, 1, 2, -1]]), np.array([[3, 3, 3, -1]])).value
        2.0
    """
    if untargeted.shape != targeted.shape or untargeted.ndim != 2:
        raise ValueError(f"label arrays {untargeted.shape} and {targeted.shape} must both be (targets, images)")
    targets, n = untargeted.shape
    if not (targets and n):
        return Estimate(float("nan"), float("nan"), float("nan"))

    def gap(w: np.ndarray) -> np.ndarray:
        return (reached(untargeted, w) - reached(targeted, w)).mean(1)

    draws = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=reps)
    low, high = np.quantile(gap(draws), [0.025, 0.975])
    return Estimate(float(gap(np.ones((1, n)))[0]), float(low), float(high))


def judge_claims(diva_top1: Rate, pgd_top1: Rate, gap: Estimate, set_sizes: tuple[float, float], n_others: int,
                 models: ModelsTable, stand_in: bool, scope: str = "") -> list[dict]:
    """Verdicts of the face claims from the measured numbers (deployed int8 view).

    Args:
        diva_top1, pgd_top1: untargeted top-1 success on the deployed model.
        gap: untargeted − targeted identities reached (`set_size_gap`); set_sizes: (untargeted, targeted) means.
        n_others: identities a misclassification can reach (people − 1).
        models: the chapter's models table (`RESTS_ON` rows).
    """
    diff = verdicts.difference(diva_top1, pgd_top1)
    untargeted, targeted = set_sizes
    return [
        judge("face.beats_pgd", diff.low > 0, f"{pct(diva_top1.value)} vs {pct(pgd_top1.value)} (DIVA − PGD "
              f"{100 * diff.value:.1f} [{100 * diff.low:.1f}, {100 * diff.high:.1f}] points)", models=models,
              rests_on=RESTS_ON, stand_in=stand_in, estimate=diff, scope=scope),
        judge("face.targeted_set", gap.low > 0, f"targeted {targeted:.1f} vs untargeted {untargeted:.1f} of "
              f"{n_others} people (untargeted − targeted {gap})", models=models, rests_on=RESTS_ON,
              stand_in=stand_in, estimate=gap, scope=scope),
    ]


def run(s: Settings) -> ChapterResult:
    """Build (or load) the face models, attack them with PGD, DIVA and targeted DIVA, and judge the claims.

    Example:
        >>> r = run(Settings.resolve("smoke"))  # doctest: +SKIP
        >>> r.show("attacks")  # doctest: +SKIP
    """
    train.set_seed(s.seed)
    task = faces.make_task(s.face, s.seed, list(s.people) if s.people is not None else None)
    t = time.perf_counter()
    entry = faces.get_models(s.face, s.seed, task)
    build_seconds = round(time.perf_counter() - t, 1)
    p_o, p_q, p_d = (evaluate.predict(m, task.x_val) for m in (entry.fp32, entry.qat, entry.tflite))
    clean = {"original (fp32) accuracy": metrics.accuracy(p_o, task.y_val),
             "QAT graph accuracy": metrics.accuracy(p_q, task.y_val),
             "int8 TFLite accuracy": metrics.accuracy(p_d, task.y_val),
             "QAT graph vs int8 disagreement": metrics.disagreement(p_q, p_d)}
    idx = attack_set(task.y_val, [p_o, p_q, p_d], len(task.people), s.face.per_person)
    models = ModelsTable()
    models.check("face fp32", "face_acc", clean["original (fp32) accuracy"].value)
    models.check("face int8", "face_acc", clean["int8 TFLite accuracy"].value)
    models.check("face int8", "qat_int8_disagreement", clean["QAT graph vs int8 disagreement"].value)
    models.check("face attack set", "n_face", len(idx))
    if not len(idx):
        raise RuntimeError("no validation image is classified correctly by all three models: train longer "
                           "(finetune_epochs) or use fewer people (n_people)")
    x, y, names = task.x_val[idx], task.y_val[idx], [faces.display_name(p) for p in task.people]
    runs = {name: evaluate.evaluate_attack(atk, entry.fp32, entry.qat, entry.tflite, x, y, progress=False)
            for name, atk in (("PGD", attacks.PGD(entry.fp32, entry.qat)),
                              ("DIVA", attacks.DIVA(entry.fp32, entry.qat, c=s.c)))}
    tgt = _targeted(s, entry, x, y, runs["DIVA"], names)
    gap = set_size_gap(tgt["untargeted"], tgt["targeted"], s.seed)
    sizes = (float(tgt["table"]["identities reached, untargeted"].mean()),
             float(tgt["table"]["identities reached, targeted"].mean()))
    backbone = "VGGFace2 weights" if s.face.weights else "backbone pretrained on other celebrities"
    scope = f"{len(names)} people at {s.face.image_size}×{s.face.image_size}, {backbone}; n = {len(y)}"
    example = _fig9_pick(runs["DIVA"])
    data = {"seed": s.seed, "n_identities": len(names), "n_eval": len(y), "per_person": s.face.per_person,
            "image_size": s.face.image_size, "build_seconds": build_seconds,
            **_clean_json(clean), **_attack_json(runs), **_targeted_json(tgt, sizes, gap),
            "fig9": _fig9_json(runs["DIVA"], y, names, example)}
    result = ChapterResult("face", s.profile, settings_table(s, task), models, data=data)
    result.tables = {
        "clean": pd.DataFrame([{"on the validation images": k, "value": str(v)} for k, v in clean.items()]),
        "attack set": pd.DataFrame([{"attacked images": len(y), "at most per person": s.face.per_person,
                                     "people with images": len(np.unique(y)), "people": len(names)}]),
        "attacks": _attack_table(runs),
        "targeted": tgt["table"].assign(**{k: tgt["table"][k].map(str) for k in ("top-1 success", "hits on target")})}
    result.claims = judge_claims(runs["DIVA"].tflite.top1, runs["PGD"].tflite.top1, gap, sizes, len(names) - 1,
                                 models, s.stand_in, scope)
    result.extras = {"runs": runs, "x": x, "y": y, "names": names, "example": example,
                     "natural": (p_o[idx], p_d[idx]), "targeted": tgt["table"]}
    return result


def _clean_json(clean: dict[str, Rate]) -> dict:
    keys = ("fp32_acc", "qat_acc", "tflite_int8_acc", "qat_int8_disagreement")
    return {k: r.value for k, r in zip(keys, clean.values(), strict=True)}


def _attack_json(runs: dict[str, evaluate.AttackReport]) -> dict:
    """Headline numbers on the deployed model (the keys the book reads), and each run's full summary."""
    out = {"attacks": {k: r.as_dict() for k, r in runs.items()}}
    for name, r in runs.items():
        v, a = r.tflite, name.lower()
        out |= {f"{a}_top1": v.top1.value, f"{a}_top1_ci": [v.top1.low, v.top1.high], f"{a}_top5": v.top5.value,
                f"{a}_conf_delta": v.conf_delta}
    return out


def _targeted_json(tgt: dict, sizes: tuple[float, float], gap: Estimate) -> dict:
    rows = [{k: v.value if isinstance(v, Rate) else v for k, v in row.items()}
            for row in tgt["table"].to_dict("records")]
    return {"targeted_mean_set_size": sizes[1], "untargeted_mean_set_size": sizes[0],
            "set_size_gap": [gap.value, gap.low, gap.high], "targeted_hit_rate": tgt["hits"].value,
            "targets": tgt["table"]["target"].tolist(), "by_target": rows}


def _fig9_json(run: evaluate.AttackReport, y: np.ndarray, names: list[str], i: int | None) -> dict | None:
    if i is None:
        return None
    return {"person": names[y[i]], "deployed_says": names[run.p_deployed[i].argmax()],
            "deployed_confidence": float(run.p_deployed[i].max()), "original_confidence": float(run.p_orig[i].max())}


def _attack_table(runs: dict[str, evaluate.AttackReport]) -> pd.DataFrame:
    return pd.DataFrame([{"attack": n, "judged on": v, "top-1 success": str(getattr(r, k).top1),
                          "top-5 success": str(getattr(r, k).top5), "confidence delta": pct(getattr(r, k).conf_delta),
                          "adapted model fooled": str(getattr(r, k).evasion)}
                         for n, r in runs.items() for k, v in (("tflite", "int8 TFLite"), ("qat", "QAT graph"))])


def _targeted(s: Settings, entry: ZooEntry, x: np.ndarray, y: np.ndarray, untargeted: evaluate.AttackReport,
              names: list[str]) -> dict:
    """Targeted DIVA towards each target on every image of another person, beside untargeted DIVA on those images.

    Returns the per-target table, the share of images landing on their target, and (targets, images)
    arrays of the identity each attack reached on its successful images (−1 elsewhere).
    """
    targeted = attacks.TargetedDIVA(entry.fp32, entry.qat, c=s.c, target=0)  # one compiled step for all targets
    u_hit, u_label = untargeted.success_mask(), untargeted.p_deployed.argmax(1)
    rows, hits, reached_u, reached_t = [], [], [], []
    for t in range(s.n_targets):
        m = y != t
        if not m.any():
            continue
        targeted.target = t
        r = evaluate.evaluate_attack(targeted, entry.fp32, entry.qat, entry.tflite, x[m], y[m], progress=False)
        ok, landed = r.success_mask(), r.p_deployed.argmax(1)
        reached_t.append(np.full(len(y), -1))
        reached_t[-1][np.flatnonzero(m)[ok]] = landed[ok]
        reached_u.append(np.where(m & u_hit, u_label, -1))
        hits.append(ok & (landed == t))
        rows.append({"target": names[t], "top-1 success": metrics.rate(ok),
                     "hits on target": metrics.rate(hits[-1]),
                     "identities reached, targeted": len(set(landed[ok].tolist())),
                     "identities reached, untargeted": len(set(u_label[m & u_hit].tolist())),
                     "most frequent": names[np.bincount(landed[ok]).argmax()] if ok.any() else "-"})
    shape = (len(rows), len(y))
    return {"table": pd.DataFrame(rows, columns=TARGETED_COLUMNS),
            "hits": metrics.rate(np.concatenate(hits or [np.zeros(0, bool)])),
            "untargeted": np.array(reached_u).reshape(shape), "targeted": np.array(reached_t).reshape(shape)}


def _fig9_pick(run: evaluate.AttackReport) -> int | None:
    """Fig 9's rule: of the images DIVA succeeds on, the one whose wrong identity the deployed model is surest of."""
    ok = run.success_mask()
    return int(np.flatnonzero(ok)[run.p_deployed[ok].max(1).argmax()]) if ok.any() else None


def fig10(result: ChapterResult) -> plt.Figure:
    """Top-1 and top-5 success of DIVA and PGD on the deployed int8 model, with 95 % intervals."""
    bars = pd.DataFrame([{"metric": m, "attack": n, "value": getattr(r.tflite, k).value,
                          "low": getattr(r.tflite, k).low, "high": getattr(r.tflite, k).high}
                         for m, k in (("top-1", "top1"), ("top-5", "top5")) for n, r in result.extras["runs"].items()])
    return plots.rate_bars(bars, "metric", "attack", "Fig 10: face recognition, success on the int8 TFLite model",
                           "success (%)")


def fig9(result: ChapterResult) -> plt.Figure | None:
    """The natural face and its DIVA version with what each model says (None when DIVA succeeded on no image)."""
    e, i = result.extras, result.extras["example"]
    if i is None:
        return None
    d, names = e["runs"]["DIVA"], e["names"]

    def caption(po: np.ndarray, pd_: np.ndarray) -> str:
        return f"original: {names[po.argmax()]} ({po.max():.0%})\nint8: {names[pd_.argmax()]} ({pd_.max():.0%})"

    return plots.example_grid({"": np.stack([e["x"][i], metrics.to_pixel_grid(d.x_adv[i])])},
                              {"": [caption(e["natural"][0][i], e["natural"][1][i]),
                                    caption(d.p_orig[i], d.p_deployed[i])]},
                              f"Fig 9: {names[e['y'][i]]}, natural (left) and after DIVA (right)")


def fig_targeted(result: ChapterResult) -> plt.Figure:
    """Per target person, the identities untargeted and targeted DIVA reach on the same images."""
    long = result.extras["targeted"].melt(id_vars="target", value_vars=["identities reached, untargeted",
                                                                         "identities reached, targeted"],
                                          var_name="attack", value_name="identities reached")
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(8, 3.4))
    sns.barplot(data=long.assign(attack=long["attack"].str.removeprefix("identities reached, ")), x="target",
                y="identities reached", hue="attack", ax=ax)
    ax.tick_params(axis="x", rotation=45)
    ax.set(xlabel="target person", title="identities the int8 model is pushed to, on the same images")
    fig.tight_layout()
    return fig
