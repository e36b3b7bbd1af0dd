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
# # The attack engine: PGD, DIVA and the baselines on one model pair (paper §3–§4, §5.4)
#
# This chapter introduces `diva_lib.attacks`: one small class per attack on a shared base that
# runs batched, `tf.function`-compiled projected gradient ascent in the L∞ ball. It runs every
# attack on one architecture's whitebox pair (true original + QAT model), judges the result on
# the true original, the QAT graph and the deployed int8 TFLite model, and shows how fast the
# engine is compared with the Adversarial Robustness Toolbox (ART).
#
# | attack | loss maximised | paper |
# | --- | --- | --- |
# | PGD {cite}`madry2018pgd` | cross-entropy of the adapted model | baseline, §5.1 |
# | DIVA | $p_{orig}(x)[y] - c\,p_{adapted}(x)[y]$ | Eq. 5 |
# | Momentum PGD {cite}`dong2018momentum` | PGD with momentum 0.5 on the L1-normalised gradient | §5.4 |
# | CW-L∞ {cite}`carlini2017cw` | $\max_{j \ne y} z_j - z_y$ of the adapted model | §5.4 |
# | targeted DIVA | DIVA $+\ p_{adapted}(x)[t]$ | §6 |

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
seed = 0
arch = "mobilenet"  # the model pair attacked here
n_eval = None  # images both models classify correctly (None: smoke 48, default 256, paper 3,000)
c = 1.0  # DIVA's balance between the two models
target = 0  # target class of targeted DIVA

# %%
from diva_lib import config

cfg = config.get_profile(profile, archs=[arch])
seed = config.check_seed(seed)
if n_eval is None:
    n_eval = {"smoke": 48, "default": 256}.get(profile, 3000)
config.check_positive_int("n_eval", n_eval)
if not c >= 0:
    raise config.ParameterError(f"parameter 'c'={c!r} must be >= 0")
if not 0 <= target < cfg.num_classes:
    raise config.ParameterError(f"parameter 'target'={target!r} must be a class index in [0, {cfg.num_classes})")

# %%
import json

import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display

from diva_lib import attacks, crosscheck, evaluate, report, train, zoo
from diva_lib.report import Claim, pct

# %% [markdown]
# ## Paper setting vs this run

# %%
EPS, STEP, STEPS = 8 / 255, 1 / 255, 20
display(report.settings_table({
    "ε (L∞)": ("8/255", f"{EPS * 255:.0f}/255"),
    "step size": ("1/255", f"{STEP * 255:.0f}/255"),
    "steps": (20, STEPS),
    "random start": ("no", "no"),
    "c": (1, c),
    "models": ("ResNet50 / MobileNet / DenseNet121 on ImageNet", f"{arch} on {cfg.dataset}"),
    "evaluation set": ("3,000 images all models classify correctly", f"up to {n_eval} images both models classify correctly"),
}))

# %%
train.set_seed(seed)
data = zoo.load_data(cfg, seed)
entry = zoo.get(arch, cfg, seed, stand_in=data)
x, y = evaluate.select_eval_set(data.x_test, data.y_test, [entry.fp32, entry.qat, entry.tflite], n_eval)
print(f"{len(y)} of {len(data.y_test)} test images are classified correctly by fp32, QAT and int8 models")

# %% [markdown]
# ## All attacks on the same images
# Success rates carry 95 % Wilson intervals. "QAT graph" judges the adversarial images with the
# differentiable model the gradients flowed through; "int8 TFLite" rounds them to the 8-bit
# pixel grid and runs the deployed model.

# %%
kw = {"eps": EPS, "step": STEP, "steps": STEPS}
suite = {
    "PGD": attacks.PGD(entry.fp32, entry.qat, **kw),
    "DIVA": attacks.DIVA(entry.fp32, entry.qat, c=c, **kw),
    "Momentum PGD": attacks.MomentumPGD(entry.fp32, entry.qat, momentum=0.5, **kw),
    "CW-L∞": attacks.CWLinf(entry.fp32, entry.qat, **kw),
    "targeted DIVA": attacks.TargetedDIVA(entry.fp32, entry.qat, c=c, target=target, **kw),
}
reports = {name: evaluate.evaluate_attack(a, entry.fp32, entry.qat, entry.tflite, x, y, batch_size=cfg.attack_batch_size)
           for name, a in suite.items()}
display(pd.DataFrame({name: {
    "top-1 success (QAT graph)": str(r.qat.top1), "top-1 success (int8 TFLite)": str(r.tflite.top1),
    "top-5 success (int8)": str(r.tflite.top5), "adapted fooled (int8)": str(r.tflite.evasion),
    "original still correct": str(r.tflite.orig_still_correct),
    "confidence delta (int8)": pct(r.tflite.conf_delta), "mean DSSIM": f"{r.dssim.mean():.4f}",
} for name, r in reports.items()}).T)

# %% [markdown]
# ## Success as a function of the number of steps
# One run per attack records both models' predictions after every step (Fig 6d of the paper);
# nothing is re-run per step count.

# %%
steps_df = pd.DataFrame([{"attack": n, "step": s, "top-1 success (%)": 100 * v}
                         for n, r in reports.items() for s, v in enumerate(r.success_by_step)])
ax = sns.lineplot(data=steps_df, x="step", y="top-1 success (%)", hue="attack", marker="o")
ax.set_title(f"{arch}: top-1 success vs steps (QAT graph)");

# %% [markdown]
# ## Targeted DIVA
# Share of images the deployed model now assigns to the target class, while the original stays correct.

# %%
t_adv = evaluate.metrics.to_pixel_grid(reports["targeted DIVA"].x_adv)
hit = (entry.tflite.predict(t_adv).argmax(1) == target) & (entry.fp32.predict(t_adv, verbose=0).argmax(1) == y)
eligible = y != target
print(f"targeted hits on class {target}: {evaluate.metrics.rate(hit[eligible])}")

# %% [markdown]
# ## Cross-check: this engine's PGD against ART's
# An independent implementation guards against a subtly wrong engine. The Adversarial Robustness
# Toolbox's `ProjectedGradientDescent` runs on the same QAT model and images with the same ε,
# step, steps and no random start; both sets of images are judged on the deployed int8 model.
# Both are timed from scratch (our attack cache is bypassed) after a warm-up batch.

# %%
art = crosscheck.compare_with_art(entry.fp32, entry.qat, entry.tflite, x, y, **kw, batch_size=cfg.attack_batch_size)
display(crosscheck.comparison_table(art))
print(f"same int8 prediction on {pct(art['same_int8_prediction'])} of {art['n']} images; "
      f"largest pixel difference between the two engines' images: {art['max_abs_diff']:.2g}")

# %% [markdown]
# ## Engine speed on random weights
# `make bench` measures images·steps per second of ART 1.20's `ProjectedGradientDescent`
# (TensorFlowV2Classifier) and of our compiled PGD and DIVA on the same QAT model and batch
# (batch 64, 32×32, 20 steps) and writes `results/<profile>/bench_attacks.json`.

# %%
bench_path = report.results_path(profile, "bench_attacks")
if bench_path.is_file():
    bench = json.loads(bench_path.read_text())
    meta = bench.pop("_meta")
    display(pd.DataFrame(bench).T.round(2))
    print("setting:", meta)
else:
    print(f"{bench_path} not found: run `make bench PROFILE={profile}`")

# %% [markdown]
# ## Paper claim vs this run

# %%
d, p = reports["DIVA"].tflite, reports["PGD"].tflite
m, cw = reports["Momentum PGD"].tflite, reports["CW-L∞"].tflite
dssim_max = max(r.dssim.max() for r in reports.values())
claims = [
    Claim("DIVA's top-1 success exceeds PGD's (whitebox)", "92.3–97.0 % vs 30.2–50.9 %",
          f"{pct(d.top1.value)} vs {pct(p.top1.value)}", d.top1.low > p.top1.high),
    Claim("PGD fools the adapted model slightly more often than DIVA (evasion cost)", "98.4–98.7 % vs 95.1–97.0 %",
          f"{pct(p.evasion.value)} vs {pct(d.evasion.value)}", p.evasion.value >= d.evasion.value),
    Claim("Momentum PGD and CW-L∞ do no better than PGD at top-1 success", "39.4 %, 25.5 % vs 40.6 %",
          f"{pct(m.top1.value)}, {pct(cw.top1.value)} vs {pct(p.top1.value)}",
          m.top1.low <= p.top1.high and cw.top1.low <= p.top1.high),
    Claim("DIVA's confidence delta exceeds PGD's", "56.6–72.4 % vs 18.6–25 %",
          f"{pct(d.conf_delta)} vs {pct(p.conf_delta)}", d.conf_delta > p.conf_delta),
    Claim("perturbations are imperceptible (DSSIM ≤ 0.0092)", "≤ 0.0092", f"max {dssim_max:.4f}",
          dssim_max <= 0.0092),
]
display(report.claims_table(claims))

# %%
result = {"profile": profile, "seed": seed, "arch": arch, "n_eval": int(len(y)),
          "attacks": {n: r.as_dict() for n, r in reports.items()}, "art_crosscheck": art,
          "claims": report.claims_record(claims, "The attack engine", report.setting_note(cfg.dataset, cfg.image_size, cfg.weights, len(y)))}
print("wrote", report.save_json(result, report.results_path(profile, "attack_engine")))
