"""`diva audit`: search an ε-ball for inputs on which a deployed edge model is wrong and its original right.

Quantization debuggers report average-case error on the data you give them. An audit runs DIVA
(and PGD, for comparison) against your own pair: the full-precision Keras original and the
deployed `.tflite`, judged with LiteRT on the 8-bit pixel grid. Gradients come from your QAT
model when you have one; otherwise from a surrogate of the deployed model, distilled from its
outputs (the paper's §4.3 route). Every input is checked before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import tf_keras
from tqdm.auto import tqdm

from diva_lib import adapt, attacks, evaluate, metrics, train, zoo
from diva_lib.adapt import TFLiteModel
from diva_lib.cache import ArrayCache, digest, file_digest, fingerprint
from diva_lib.files import atomic_write
from diva_lib.models import Preprocess
from diva_lib.report import save_json

LIMITS = ("LiteRT on this x86 CPU runs the reference int8 kernels; a phone's delegate (XNNPACK, NNAPI, a GPU "
          "or NPU) may round differently, so a deployed model can differ from what was judged here.")


class AuditError(ValueError):
    """An input of the audit cannot be used; the message names the file or value and the fix."""


@dataclass(frozen=True)
class Pair:
    """What the audit attacks: the original, the deployed model, the gradient model, and the labelled images."""

    original: tf_keras.Model
    deployed: TFLiteModel
    qat: tf_keras.Model | None
    x: np.ndarray
    y: np.ndarray


def parse_eps(text: str) -> dict[str, float]:
    """'2/255,4/255,8/255' -> {'2/255': 0.0078..., ...}: radii as given, in [0, 1] pixel units."""
    out = {}
    for item in (t.strip() for t in text.split(",")):
        try:
            value = float(Fraction(item))
        except (ValueError, ZeroDivisionError) as e:
            raise AuditError(f"--eps {item!r} is not a number or fraction; write e.g. --eps 2/255,4/255,8/255") from e
        if not 0 < value <= 1:
            raise AuditError(f"--eps {item!r} = {value:.4g} must be in (0, 1] (pixels are in [0, 1]); e.g. 8/255")
        out[item] = value
    return out


def _exists(path: Path, flag: str) -> Path:
    if not Path(path).exists():
        raise AuditError(f"{flag} {path}: no such file; give the path of an existing file")
    return Path(path)


def load_keras(path: Path, flag: str, quantized: bool = False) -> tf_keras.Model:
    """A Keras model file (.h5, .keras) or SavedModel folder; QAT models load with tfmot's custom objects."""
    _exists(path, flag)
    try:
        if quantized:
            with adapt.quantize_scope():
                return tf_keras.models.load_model(path, compile=False, custom_objects={"Preprocess": Preprocess})
        return tf_keras.models.load_model(path, compile=False, custom_objects={"Preprocess": Preprocess})
    except Exception as e:  # Keras raises many types for an unreadable file
        fix = "save a QAT model with model.save('qat.h5')" if quantized else "save it with model.save('model.keras')"
        raise AuditError(f"{flag} {path}: could not be read as a Keras model ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200]}); {fix}") from e


def load_tflite(path: Path) -> TFLiteModel:
    """The deployed flatbuffer, opened with LiteRT."""
    _exists(path, "--adapted")
    try:
        return TFLiteModel(path)
    except Exception as e:
        raise AuditError(f"--adapted {path}: could not be read as a TFLite flatbuffer ({type(e).__name__}); "
                         "give the .tflite file the device runs") from e


def load_images(path: Path, size: tuple[int, int], scale: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from an `.npz` (`x`, `y`) or a folder with one sub-folder per class (sorted = label)."""
    _exists(path, "--data")
    if Path(path).is_dir():
        from PIL import Image

        classes = sorted(p for p in Path(path).iterdir() if p.is_dir())
        files = [(f, i) for i, c in enumerate(classes) for f in sorted(c.iterdir())
                 if f.suffix.lower() in {".png", ".jpg", ".jpeg", ".pgm", ".bmp"}]
        if not files:
            raise AuditError(f"--data {path}: no images in class sub-folders; use <data>/<class>/<image>.png")
        x = np.stack([np.asarray(Image.open(f).convert("RGB").resize(size[::-1]), np.float32) for f, _ in files])
        y = np.array([i for _, i in files])
        scale = 255.0 if scale is None else scale
    else:
        try:
            with np.load(path) as z:
                x, y = z["x"], z["y"]
        except Exception as e:
            raise AuditError(f"--data {path}: not an .npz with arrays 'x' and 'y' ({type(e).__name__}); "
                             "save it with np.savez(path, x=images, y=labels)") from e
        scale = (255.0 if x.dtype == np.uint8 else 1.0) if scale is None else scale
    return np.asarray(x, np.float32) / scale, np.asarray(y).astype(np.int64)


def check(original: tf_keras.Model, deployed: TFLiteModel, qat: tf_keras.Model | None, x: np.ndarray,
          y: np.ndarray, data: Path, scale: float | None) -> None:
    """Refuse a pair or data that cannot be audited, naming the value and the fix (before any attack)."""
    shape, classes = tuple(original.input_shape[1:]), int(original.output_shape[-1])
    if deployed.input_shape != shape:
        raise AuditError(f"--adapted {deployed.path} takes inputs {deployed.input_shape} but the original takes "
                         f"{shape}; audit the flatbuffer converted from this original")
    if deployed.num_classes != classes:
        raise AuditError(f"--adapted {deployed.path} has {deployed.num_classes} classes but the original has "
                         f"{classes}; audit the flatbuffer converted from this original")
    if qat is not None and (tuple(qat.input_shape[1:]), int(qat.output_shape[-1])) != (shape, classes):
        raise AuditError(f"--qat model takes {tuple(qat.input_shape[1:])} with {int(qat.output_shape[-1])} classes, "
                         f"the original {shape} with {classes}; give the QAT model of this original")
    if x.ndim != 4 or tuple(x.shape[1:]) != shape or y.shape != (len(x),):
        want = ", ".join(map(str, shape))
        raise AuditError(f"--data {data}: images {x.shape} and labels {y.shape} must be (N, {want}) and (N,)")
    if x.min() < 0 or x.max() > 1:
        hint = f"--scale {255 if x.max() <= 255 else 'MAX'}" if x.max() > 1 else "non-negative pixel values"
        raise AuditError(f"--data {data}: pixels span [{x.min():.3g}, {x.max():.3g}] after --scale "
                         f"{scale if scale is not None else 'auto'}, outside [0, 1]; use {hint}")
    if y.min() < 0 or y.max() >= classes:
        raise AuditError(f"--data {data}: labels span [{y.min()}, {y.max()}] but the models have {classes} classes; "
                         f"give labels in [0, {classes})")


def surrogate(original: tf_keras.Model, deployed: TFLiteModel, x: np.ndarray, cache_dir: Path, seed: int,
              epochs: int = 3) -> tf_keras.Model:
    """The deployed model's differentiable stand-in: the original's copy, distilled from the deployed outputs."""
    key = digest(fingerprint(original), deployed.fingerprint(), x, seed, epochs, zoo.DISTILL_TEMPERATURE)
    path = Path(cache_dir) / f"surrogate-{key}.h5"
    student = tf_keras.models.clone_model(original)
    if path.is_file():
        student.load_weights(path)
        return student
    train.set_seed(seed)
    student.set_weights(original.get_weights())
    targets = zoo.distillation_targets(deployed.predict(x), zoo.DISTILL_TEMPERATURE)
    train.fit(student, x, targets, epochs=epochs, learning_rate=1e-4, batch_size=64, seed=seed,
              temperature=zoo.DISTILL_TEMPERATURE, desc="distil surrogate")
    path.parent.mkdir(parents=True, exist_ok=True)
    student.save_weights(path)
    return student


def layer_gap(original: tf_keras.Model, twin: tf_keras.Model, clean: np.ndarray, adv: np.ndarray) -> pd.DataFrame:
    """Per layer, the relative distance between the original's and the twin's activations, clean vs adversarial.

    Layers are matched by name (a QAT wrapper `quant_<name>` matches `<name>`); the twin is the
    gradient model, the deployed model's differentiable stand-in.
    """
    twin_names = {layer.name.removeprefix("quant_"): layer for layer in twin.layers}
    pairs = [(lay, twin_names[lay.name]) for lay in original.layers[1:]
             if lay.name in twin_names and isinstance(lay, tf_keras.layers.Conv2D | tf_keras.layers.Dense
                                                      | tf_keras.layers.DepthwiseConv2D)]
    if not pairs:
        return pd.DataFrame(columns=["layer", "clean", "adversarial", "increase"])
    probe_a = tf_keras.Model(original.inputs, [a.output for a, _ in pairs])
    probe_b = tf_keras.Model(twin.inputs, [b.output for _, b in pairs])
    rows = {}
    for name, images in (("clean", clean), ("adversarial", adv)):
        outs_a, outs_b = probe_a.predict(images, verbose=0), probe_b.predict(images, verbose=0)
        for (lay, _), a, b in zip(pairs, outs_a, outs_b, strict=True):
            err = np.linalg.norm((a - b).reshape(len(a), -1), axis=1) / (np.linalg.norm(a.reshape(len(a), -1), axis=1)
                                                                       + 1e-12)
            rows.setdefault(lay.name, {})[name] = float(err.mean())
    frame = pd.DataFrame([{"layer": k, **v} for k, v in rows.items()])
    return frame.assign(increase=frame["adversarial"] - frame["clean"])


def _margins(p: np.ndarray) -> np.ndarray:
    top2 = np.sort(p, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def clean_view(pair: Pair, cache: ArrayCache) -> tuple[dict, np.ndarray, np.ndarray]:
    """Accuracy of both models, the paper's instability, disagreement, the margin as a risk score; the
    mask of inputs both models classify correctly, and the deployed model's outputs."""
    from sklearn.metrics import roc_auc_score

    p_orig = evaluate.predict(pair.original, pair.x, cache=cache)
    p_dep = evaluate.predict(pair.deployed, metrics.to_pixel_grid(pair.x), cache=cache)
    co, cd = p_orig.argmax(1) == pair.y, p_dep.argmax(1) == pair.y
    disagree = p_orig.argmax(1) != p_dep.argmax(1)
    risk = -_margins(p_orig)  # a small top-1/top-2 margin flags a likely float/int8 disagreement
    auc = float(roc_auc_score(disagree, risk)) if 0 < disagree.sum() < len(disagree) else float("nan")
    r = {"original_acc": metrics.rate(co), "adapted_acc": metrics.rate(cd), "instability": metrics.rate(co != cd),
         "disagreement": metrics.rate(disagree)}
    view = {**{k: v.value for k, v in r.items()}, **{f"{k}_ci": [v.low, v.high] for k, v in r.items()},
            "n_clean": len(pair.y), "margin_risk_auc": auc, "riskiest_inputs": np.argsort(risk)[::-1][:10].tolist()}
    return view, co & cd, p_dep


@dataclass
class Audit:
    """The audit's results: its JSON report and what the HTML report draws."""

    report: dict
    examples: tuple[np.ndarray, np.ndarray, np.ndarray]  # clean, DIVA image, label of up to 8 successes
    layers: pd.DataFrame


def run(pair: Pair, eps: dict[str, float], n: int, out: Path, seed: int = 0, distil_n: int = 2000,
        distil_epochs: int = 3) -> Audit:
    """Attack the first `n` inputs both models get right at each ε, DIVA and PGD; measure them on the deployed model.

    Args:
        pair: the checked models and data (see `open_pair`).
        eps: radii by their written form, e.g. {"8/255": 8 / 255}.
        n: images attacked per ε (fewer if fewer are classified correctly by both models).
        out: the report folder; `out/.cache` keeps attacks, predictions and the surrogate for a rerun.
        seed: seeds the surrogate's distillation.
        distil_n, distil_epochs: the surrogate's distillation set (images after the attacked ones) and epochs.

    Example:
        >>> audit = run(open_pair("fp32.keras", "model.tflite", "test.npz"), parse_eps("8/255"), 500, Path("out"))
        ... # doctest: +SKIP
    """
    cache = ArrayCache(Path(out) / ".cache")
    view, both, p_dep = clean_view(pair, cache)
    report = {**view, "limits": LIMITS}
    attacked = np.flatnonzero(both)[:n]  # §5.1: only inputs both models classify correctly are attacked
    if not len(attacked):
        raise AuditError("no image is classified correctly by both models: check that --data's labels index the "
                         "models' classes and that --scale maps its pixels to what the models were trained on")
    x, y = pair.x[attacked], pair.y[attacked]
    rest = np.delete(pair.x, attacked, axis=0)
    if pair.qat is not None:
        twin, report["gradient_source"] = pair.qat, "qat"
    else:
        twin = surrogate(pair.original, pair.deployed, rest[:distil_n], Path(out) / ".cache", seed, distil_epochs)
        report["gradient_source"] = "surrogate distilled from the deployed model"
        agree = evaluate.predict(twin, x, cache=cache).argmax(1) == p_dep[attacked].argmax(1)
        report["surrogate"] = {"distil_images": len(rest[:distil_n]), "epochs": distil_epochs,
                               "agreement_with_deployed": float(agree.mean())}
    report["by_eps"], best = {}, None
    for name, radius in tqdm(sorted(eps.items(), key=lambda item: item[1]), desc="ε", leave=False):
        runs = {a.name(): evaluate.evaluate_attack(a, pair.original, twin, pair.deployed, x, y, 128, progress=False,
                                                   cache=cache)
                for a in (attacks.DIVA(pair.original, twin, eps=radius), attacks.PGD(pair.original, twin, eps=radius))}
        d, p = runs["DIVA"].tflite, runs["PGD"].tflite
        d_ev, p_ev = runs["DIVA"].table2_evasion(), runs["PGD"].table2_evasion()
        report["by_eps"][name] = {"eps": radius, "n": len(y), "diva_top1": d.top1.value,
                                  "diva_top1_ci": [d.top1.low, d.top1.high], "pgd_top1": p.top1.value,
                                  "pgd_top1_ci": [p.top1.low, p.top1.high], "diva_evasion": d_ev.value,
                                  "pgd_evasion": p_ev.value, "evasion_cost": p_ev.value - d_ev.value}
        best = runs["DIVA"]  # at the largest radius when the loop ends
    hit = (best.p_orig.argmax(1) == y) & (best.p_deployed.argmax(1) != y)
    layers = layer_gap(pair.original, twin, x, best.x_adv)
    report["layers"] = layers.sort_values("increase", ascending=False).head(10).to_dict("records")
    idx = np.flatnonzero(hit)[:8]
    return Audit(report, (x[idx], metrics.to_pixel_grid(best.x_adv[idx]), y[idx]), layers)


def open_pair(original: Path, adapted: Path, data: Path, qat: Path | None = None, scale: float | None = None) -> Pair:
    """Load and check the models and the data; an `AuditError` names the first problem found."""
    orig = load_keras(Path(original), "--original")
    deployed = load_tflite(Path(adapted))
    qat_model = load_keras(Path(qat), "--qat", quantized=True) if qat is not None else None
    x, y = load_images(Path(data), tuple(orig.input_shape[1:3]), scale)
    check(orig, deployed, qat_model, x, y, Path(data), scale)
    return Pair(orig, deployed, qat_model, x, y)


def files_digest(*paths: Path | None) -> dict[str, str]:
    """Content hashes of the audited files, so a report names exactly what it audited."""
    return {str(p): file_digest(p) for p in paths if p is not None and Path(p).is_file()}


def save_images(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """[0, 1] images as an `.npz` of 8-bit pixels with their labels, the form `--data` reads."""
    with atomic_write(path) as f:
        np.savez(f, x=np.round(np.clip(x, 0, 1) * 255).astype(np.uint8), y=np.asarray(y, np.int64))
    return Path(path)


def clean_table(report: dict) -> pd.DataFrame:
    """Accuracies, instability and disagreement on clean images, with 95 % intervals."""
    keys = {"original_acc": "original accuracy", "adapted_acc": "deployed accuracy",
            "instability": "instability (one right, one wrong)", "disagreement": "top-1 disagreement"}
    return pd.DataFrame({f"on {report['n_clean']} clean images": {
        label: f"{100 * report[k]:.1f} % ({100 * report[k + '_ci'][0]:.1f}–{100 * report[k + '_ci'][1]:.1f})"
        for k, label in keys.items()}})


def summary(report: dict) -> pd.DataFrame:
    """One row per ε: DIVA and PGD top-1 success on the deployed model with their 95 % intervals."""
    def pct(value: float, ci: list[float]) -> str:
        return f"{100 * value:.1f} % ({100 * ci[0]:.1f}–{100 * ci[1]:.1f})"

    rows = report["by_eps"].items()
    return pd.DataFrame([{"ε": name, "n": r["n"], "DIVA top-1": pct(r["diva_top1"], r["diva_top1_ci"]),
                          "PGD top-1": pct(r["pgd_top1"], r["pgd_top1_ci"]),
                          "evasion cost": f"{100 * r['evasion_cost']:+.1f} pts"} for name, r in rows])


def save(audit: Audit, out: Path) -> tuple[Path, Path]:
    """Write `report.json` and a self-contained `report.html` (figures inlined) into `out`."""
    from diva_lib import audit_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = save_json(audit.report, out / "report.json")
    with atomic_write(out / "report.html", "w") as f:
        f.write(audit_report.html(audit))
    return json_path, out / "report.html"


def gate_table(reports: dict[str, dict], fail_above: float) -> pd.DataFrame:
    """The release gate of `--fail-above` per audited model: DIVA's top-1 success at the largest ε against it."""
    rows = []
    for name, r in reports.items():
        largest = max(r["by_eps"].values(), key=lambda row: row["eps"])
        low, high = largest["diva_top1_ci"]
        rows.append({"deployed model": name, "ε": f"{largest['eps'] * 255:.3g}/255",
                     "DIVA top-1": f"{100 * largest['diva_top1']:.1f} % ({100 * low:.1f}–{100 * high:.1f})",
                     f"--fail-above {fail_above:g}": "FAIL" if largest["diva_top1"] > fail_above else "pass"})
    return pd.DataFrame(rows)
