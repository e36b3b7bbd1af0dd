# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # DIVA on pruned models (paper §5.6, Fig 8)
#
# Pruning is the second edge adaptation of the paper. Each original model is pruned with tfmot's
# `prune_low_magnitude` (magnitude pruning of the Conv2D and Dense kernels, sparsity rising
# 0 → target along a polynomial decay {cite}`zhu2017prune`, as in the authors' artifact; tfmot leaves DepthwiseConv2D
# kernels dense, which matters for MobileNet), fine-tuned, and stripped of its pruning wrappers. A second adapted model is the pruned model quantized with
# tfmot's pruning-preserving QAT (`Default8BitPrunePreserveQuantizeScheme`), so it is both
# sparse and int8. Both are converted to TFLite; the pruned one stays float32.
#
# Whitebox DIVA and PGD attack (original, pruned) and (original, pruned + QAT); success is judged
# on the deployed TFLite models.
#
# Pruning and pruning-preserving QAT retrain every model twice more, so on two CPU cores `default`
# prunes MobileNet only (the `paper` profile prunes all three architectures; `archs` chooses).

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
seed = 0
archs = None  # architectures (None: ["mobilenet"] in smoke and default, all three in paper)
target_sparsity = 0.8  # final share of zero weights (the authors' artifact: 0.8)
n_eval = None  # images per architecture (None: smoke 32, default 256, paper 3000)
c = 1.0  # DIVA's balance between the two models

# %%
from diva_lib import config

cfg = config.get_profile(profile, archs=archs or (list(config.ARCHS) if profile == "paper" else ["mobilenet"]))
seed = config.check_seed(seed)
n_eval = config.check_positive_int("n_eval", n_eval if n_eval is not None else
                                   {"smoke": 32, "default": 256}.get(profile, 3000))
if not (isinstance(target_sparsity, float | int) and 0 < target_sparsity < 1):
    raise config.ParameterError(f"parameter 'target_sparsity'={target_sparsity!r} must be in (0, 1), e.g. 0.8")
if not c >= 0:
    raise config.ParameterError(f"parameter 'c'={c!r} must be >= 0 (the paper uses 1)")

# %%
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display
from tqdm.auto import tqdm

from diva_lib import adapt, attacks, evaluate, metrics, plots, report, train, zoo
from diva_lib.report import Claim, pct

# %% [markdown]
# ## Paper setting vs this run

# %%
EPS, STEP, STEPS = 8 / 255, 1 / 255, 20
display(report.settings_table({
    "models": ("ResNet50, MobileNet, DenseNet121 (ImageNet)", f"{', '.join(cfg.archs)} on {cfg.dataset}"),
    "pruning": ("Keras weight pruning, polynomial decay to 0.8, fine-tuned",
                f"prune_low_magnitude on conv/dense kernels, 0 → {target_sparsity} over 60 % of "
                f"{cfg.prune_epochs} epoch(s), lr {cfg.learning_rate} with cosine decay"),
    "pruned + quantized": ("same QAT pipeline, sparsity preserved with tfmot",
                           f"Default8BitPrunePreserveQuantizeScheme, QAT {cfg.qat_summary()}, int8 TFLite"),
    "deployed models": ("TFLite", "float32 TFLite (pruned), int8 TFLite (pruned + QAT), LiteRT interpreter"),
    "ε / step / steps": ("8/255 / 1/255 / 20", f"{EPS * 255:.0f}/255 / {STEP * 255:.0f}/255 / {STEPS}"),
    "evaluation set": ("3,000 images all models classify correctly", f"up to {n_eval} per architecture"),
}))

# %%
train.set_seed(seed)
stand_in = zoo.load_data(cfg, seed)
entries, pruned = {}, {}
for arch in tqdm(cfg.archs, desc="models"):
    entries[arch] = zoo.get(arch, cfg, seed, stand_in=stand_in)
    pruned[arch] = zoo.get_pruned(arch, cfg, seed, target_sparsity, stand_in=stand_in)

# %% [markdown]
# ## Sparsity, size, accuracy and instability
# Sparsity is the share of zero values in the weight tensors of the deployed TFLite file (so it
# shows whether the int8 model kept the zeros); sizes are gzip-compressed TFLite files (pruned
# zeros compress, a dense file does not).
# Instability is the share of test images on which the original and the deployed adapted model
# disagree; the clean confidence delta is $p_{orig}[y] - p_{adapted}[y]$ on all test images.

# %%
x_test, y_test = stand_in.x_test, stand_in.y_test
stats, sparsity_rows = {}, []
for arch in cfg.archs:
    e, p = entries[arch], pruned[arch]
    po = evaluate.predict(e.fp32, x_test)
    sizes = {"original": adapt.gzipped_size(p.original_tflite_path), "pruned": adapt.gzipped_size(p.pruned_tflite.path),
             "pruned_quantized": adapt.gzipped_size(p.pruned_qat_tflite.path)}
    stats[arch] = {"original": {"accuracy": metrics.accuracy(po, y_test), "gzip_kb": sizes["original"] / 1024}}
    for kind, keras_model, deployed in (("pruned", p.pruned, p.pruned_tflite),
                                        ("pruned_quantized", p.pruned_qat, p.pruned_qat_tflite)):
        pa = evaluate.predict(deployed, x_test)
        stats[arch][kind] = {"accuracy": metrics.accuracy(pa, y_test), "instability": metrics.instability(po, pa),
                             "conf_delta": metrics.confidence_delta(po, pa, y_test),
                             "sparsity": adapt.tflite_weight_sparsity(deployed.path),
                             "gzip_kb": sizes[kind] / 1024, "size_ratio": sizes[kind] / sizes["original"]}
    sparsity_rows += [{"arch": arch, "layer kind": k, "zero weights (%)": 100 * v}
                      for k, v in adapt.sparsity(p.pruned).items()]
display(pd.DataFrame([{"arch": a, "model": k, **{m: (str(v) if isinstance(v, metrics.Rate) else
                                                     (pct(v) if m in ("sparsity", "conf_delta", "size_ratio")
                                                      else f"{v:.0f}"))
                                                 for m, v in s.items()}}
                      for a, ks in stats.items() for k, s in ks.items()]).set_index(["arch", "model"]).fillna(""))

# %%
sns.set_theme(style="whitegrid")
g = sns.catplot(data=pd.DataFrame(sparsity_rows), x="layer kind", y="zero weights (%)", col="arch",
                kind="bar", height=3.0, aspect=1.1, color="tab:blue")
g.figure.suptitle(f"zero kernel weights of the pruned models per layer kind (target {target_sparsity:.0%})", y=1.05);

# %% [markdown]
# ## Fig 8: whitebox PGD vs DIVA on pruned and on pruned + quantized models

# %%
runs, evalsets = {}, {}
for arch in tqdm(cfg.archs, desc="attacks"):
    e, p = entries[arch], pruned[arch]
    evalsets[arch] = evaluate.select_eval_set(x_test, y_test, [e.fp32, p.pruned_tflite, p.pruned_qat_tflite], n_eval)
    x, y = evalsets[arch]
    for kind, adapted, deployed in (("pruned", p.pruned, p.pruned_tflite),
                                    ("pruned_quantized", p.pruned_qat, p.pruned_qat_tflite)):
        kw = {"eps": EPS, "step": STEP, "steps": STEPS}
        for name, atk in (("PGD", attacks.PGD(e.fp32, adapted, **kw)),
                          ("DIVA", attacks.DIVA(e.fp32, adapted, c=c, **kw))):
            runs[arch, kind, name] = evaluate.evaluate_attack(atk, e.fp32, adapted, deployed, x, y,
                                                              batch_size=cfg.attack_batch_size, by_step=False)
display(pd.DataFrame([{"arch": a, "adapted model": k, "attack": n, "images": r.tflite.top1.n,
                       "top-1 success": str(r.tflite.top1), "top-5 success": str(r.tflite.top5),
                       "confidence delta": pct(r.tflite.conf_delta), "adapted fooled (Table 2)": str(r.tflite.evasion),
                       "top-1 success (Keras graph)": str(r.qat.top1)}
                      for (a, k, n), r in runs.items()]).set_index(["arch", "adapted model", "attack"]))

# %%
for metric, label in (("top1", "top-1"), ("top5", "top-5")):
    df = pd.DataFrame([{"model": f"{a}\n{k.replace('_', ' + ')}", "attack": n, "value": getattr(r.tflite, metric).value,
                        "low": getattr(r.tflite, metric).low, "high": getattr(r.tflite, metric).high}
                       for (a, k, n), r in runs.items()])
    plots.rate_bars(df, "model", "attack", f"Fig 8: {label} success on the deployed TFLite models",
                    f"{label} success (%)");

# %% [markdown]
# ## Paper claim vs this run
# "A beats B" needs disjoint 95 % intervals.

# %%
A, K = cfg.archs, ("pruned", "pruned_quantized")
d1 = [runs[a, k, "DIVA"].tflite.top1 for a in A for k in K]
p1 = [runs[a, k, "PGD"].tflite.top1 for a in A for k in K]
conf_gain = [(runs[a, k, "DIVA"].tflite.conf_delta - runs[a, k, "PGD"].tflite.conf_delta) for a in A for k in K]
inst = [stats[a][k]["instability"].value for a in A for k in K]
ratio = [stats[a]["pruned"]["size_ratio"] for a in A]  # the paper's "one third" is about the pruned models
ratio_int8 = [stats[a]["pruned_quantized"]["size_ratio"] for a in A]
claims = [
    Claim("whitebox DIVA top-1 success ≥ 97.8 % on pruned and pruned + quantized models", "≥ 97.8 %",
          f"{pct(min(r.value for r in d1))}–{pct(max(r.value for r in d1))}", all(r.value >= 0.978 for r in d1)),
    Claim("DIVA's top-1 success is above PGD's on every pruned model", "always above",
          f"DIVA {pct(min(r.value for r in d1))}–{pct(max(r.value for r in d1))} vs PGD "
          f"{pct(min(r.value for r in p1))}–{pct(max(r.value for r in p1))}",
          all(d.low > p.high for d, p in zip(d1, p1, strict=True))),
    Claim("DIVA raises the confidence delta 8.3–16 points more than PGD", "8.3–16 points",
          f"{100 * min(conf_gain):.1f}–{100 * max(conf_gain):.1f} points", min(conf_gain) >= 0.083),
    Claim("pruning makes models unstable: instability 17.1–33.5 %", "17.1–33.5 %",
          f"{pct(min(inst))}–{pct(max(inst))}", min(inst) >= 0.171),
    Claim("pruned models are about one third of the original's size (gzip; rule: 25–42 %)", "≈ 1/3",
          ", ".join(f"{a}: {pct(r)} (+ int8: {pct(q)})" for a, r, q in zip(A, ratio, ratio_int8, strict=True)),
          all(0.25 <= r <= 0.42 for r in ratio)),
    Claim("evasion cost on pruned models: PGD and DIVA both fool the pruned model on 100 %", "100 % / 100 %",
          "; ".join(f"{a}: {pct(runs[a, 'pruned', 'PGD'].tflite.evasion.value)} / "
                    f"{pct(runs[a, 'pruned', 'DIVA'].tflite.evasion.value)}" for a in A),
          all(runs[a, "pruned", n].tflite.evasion.value >= 0.995 for a in A for n in ("PGD", "DIVA"))),
]
display(report.claims_table(claims))

# %%
result = {"profile": profile, "seed": seed, "target_sparsity": target_sparsity, "c": c,
          "claims": report.claims_record(claims, "Pruning (§5.6)", report.setting_note(cfg.dataset, cfg.image_size, cfg.weights, n_eval))}
for arch in A:
    result[arch] = {"original": {"accuracy": stats[arch]["original"]["accuracy"].value,
                                 "gzip_kb": stats[arch]["original"]["gzip_kb"]}}
    for kind in K:
        s, d, p = stats[arch][kind], runs[arch, kind, "DIVA"].tflite, runs[arch, kind, "PGD"].tflite
        result[arch][kind] = {
            "sparsity": s["sparsity"], "instability": s["instability"].value, "accuracy": s["accuracy"].value,
            "clean_conf_delta": s["conf_delta"], "gzip_kb": s["gzip_kb"], "size_ratio": s["size_ratio"],
            "diva_top1": d.top1.value, "pgd_top1": p.top1.value, "diva_top5": d.top5.value, "pgd_top5": p.top5.value,
            "diva_conf_delta": d.conf_delta, "pgd_conf_delta": p.conf_delta, "diva_evasion": d.evasion.value,
            "pgd_evasion": p.evasion.value, "n": d.top1.n}
print("wrote", report.save_json(result, report.results_path(profile, "pruning")))
