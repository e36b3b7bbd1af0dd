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
# # Does adversarial training defend against DIVA? (paper §5.5)
#
# The paper attacked MadryLab's PGD-adversarially-trained ResNet50 and its quantized version: the
# robust original barely moves under ε = 8/255, and DIVA's success drops to about 10 %. Here an
# original model is adversarially fine-tuned in TensorFlow (the min-max of {cite}`madry2018pgd`: every training batch is
# replaced by its PGD adversarial version), then quantized with QAT and converted to int8 TFLite,
# and PGD and DIVA with several c attack it, next to the same attacks on the non-robust pair.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
seed = 0
arch = "mobilenet"  # the architecture trained robustly (MobileNet fits the 2-core budget)
adv_epochs = None  # epochs of PGD adversarial fine-tuning (None: smoke 1, default 1, paper 2)
adv_steps = None  # PGD steps of the inner maximisation (None: smoke 1, default 3, paper 7)
adv_eps = 8 / 255  # training ε (MadryLab's ImageNet model: 8/255)
c_values = [1, 1.5, 5]  # DIVA c values (the paper: 1, 1.5, 5)
n_eval = None  # test images attacked (None: smoke 48, default 256, paper 3000)

# %%
from diva_lib import config

cfg = config.get_profile(profile, archs=[arch])
seed = config.check_seed(seed)
_col = {"smoke": 0, "default": 1}.get(profile, 2)
adv_epochs = config.check_positive_int("adv_epochs", adv_epochs if adv_epochs is not None else (1, 1, 2)[_col])
adv_steps = config.check_positive_int("adv_steps", adv_steps if adv_steps is not None else (1, 3, 7)[_col])
n_eval = config.check_positive_int("n_eval", n_eval if n_eval is not None else (48, 256, 3000)[_col])
if not (isinstance(adv_eps, float | int) and 0 < adv_eps <= 0.5):
    raise config.ParameterError(f"parameter 'adv_eps'={adv_eps!r} must be in (0, 0.5], e.g. 8/255")
if not c_values or any(not (isinstance(v, int | float) and v >= 0) for v in c_values):
    raise config.ParameterError(f"parameter 'c_values'={c_values!r} must be a non-empty list of numbers >= 0")
ADV_STEP = 2.5 * adv_eps / adv_steps  # Madry et al.'s step-size rule

# %%
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display

from diva_lib import attacks, evaluate, metrics, report, train, zoo
from diva_lib.report import Claim, pct

# %% [markdown]
# ## Paper setting vs this run

# %%
EPS, STEP, STEPS = 8 / 255, 1 / 255, 20
display(report.settings_table({
    "robust original": ("MadryLab robust ResNet50 (PyTorch, ImageNet, PGD ε = 8/255, 20 steps, step 0.00375)",
                        f"{arch} on {cfg.dataset}: the default original fine-tuned {adv_epochs} epoch(s) with "
                        f"PGD-{adv_steps} adversarial training, ε = {adv_eps * 255:.0f}/255, step {ADV_STEP * 255:.2f}/255"),
    "adapted model": ("quantized version of the robust model", f"QAT {cfg.qat_summary()} (clean), int8 TFLite"),
    "attack": ("PGD, DIVA with c ∈ {1, 1.5, 5}", f"PGD, DIVA with c ∈ {c_values}, ε = 8/255, step 1/255, 20 steps"),
    "images": ("ImageNet validation", f"first {n_eval} test images (success rates on those both models get right)"),
}))

# %%
train.set_seed(seed)
stand_in = zoo.load_data(cfg, seed)
plain = zoo.get(arch, cfg, seed, stand_in=stand_in)
robust = zoo.get_robust(arch, cfg, seed, epochs=adv_epochs, eps=adv_eps, step=ADV_STEP, steps=adv_steps,
                        stand_in=stand_in)
print("robust model build times (s):", {k: round(v) for k, v in robust.build_seconds.items()})

# %% [markdown]
# ## Attacks on the robust and on the non-robust pair
# Attacks run on the first `n_eval` test images. Robust accuracy is the deployed int8 model's
# accuracy on all of them after the attack; success rates (top-1, evasion) count only the
# images both models classified correctly before the attack, as everywhere in the book.

# %%
x, y = stand_in.x_test[:n_eval], stand_in.y_test[:n_eval]
kw = {"eps": EPS, "step": STEP, "steps": STEPS}
rows, results = [], {}
for pair_name, e in (("robust", robust), ("non-robust", plain)):
    clean_o, clean_d = evaluate.predict(e.fp32, x), evaluate.predict(e.tflite, x)
    valid = metrics.both_correct(clean_o, clean_d, y)
    diva = attacks.DIVA(e.fp32, e.qat, **kw)  # one compiled attack; its c is set per run below
    suite = [("PGD", attacks.PGD(e.fp32, e.qat, **kw), None)] + [(f"DIVA c={cv:g}", diva, cv) for cv in c_values]
    results[pair_name] = {"clean_fp32": metrics.accuracy(clean_o, y), "clean_int8": metrics.accuracy(clean_d, y)}
    for name, atk, cv in suite:
        if cv is not None:
            atk.c = float(cv)
        r = evaluate.evaluate_attack(atk, e.fp32, e.qat, e.tflite, x, y, batch_size=cfg.attack_batch_size,
                                     by_step=False)
        po, pd_ = r.p_orig[valid], r.p_deployed[valid]
        results[pair_name][name] = {"top1": metrics.top1_success(po, pd_, y[valid]),
                                    "evasion": metrics.evasion(pd_, y[valid]),
                                    "robust_acc": metrics.accuracy(r.p_deployed, y),
                                    "orig_robust_acc": metrics.accuracy(r.p_orig, y)}
        rows.append({"pair": pair_name, "attack": name, **{k: str(v) for k, v in results[pair_name][name].items()}})
display(pd.DataFrame([{"pair": p, "clean accuracy fp32": str(r["clean_fp32"]), "clean accuracy int8": str(r["clean_int8"])}
                      for p, r in results.items()]).set_index("pair"))
display(pd.DataFrame(rows).rename(columns={"top1": "top-1 success", "evasion": "adapted fooled",
                                           "robust_acc": "int8 accuracy after attack",
                                           "orig_robust_acc": "original accuracy after attack"})
        .set_index(["pair", "attack"]))

# %%
plot = pd.DataFrame([{"pair": p, "attack": a, "top-1 success (%)": 100 * v["top1"].value}
                     for p, r in results.items() for a, v in r.items() if isinstance(v, dict)])
sns.set_theme(style="whitegrid")
ax = sns.barplot(data=plot, x="attack", y="top-1 success (%)", hue="pair")
ax.set_title(f"{arch}: top-1 success on the int8 model, robust vs non-robust pair");

# %% [markdown]
# ## Paper claim vs this run

# %%
R = results["robust"]
diva = {cv: R[f"DIVA c={cv:g}"] for cv in c_values}
best_c = max(c_values, key=lambda cv: diva[cv]["top1"].value)
claims = [
    Claim("adversarial training defends: DIVA's top-1 success on the robust pair is far below the non-robust pair's",
          "≈ 10 % (vs 92–97 % non-robust)",
          f"{pct(diva[c_values[0]]['top1'].value)} vs {pct(results['non-robust'][f'DIVA c={c_values[0]:g}']['top1'].value)}",
          diva[c_values[0]]["top1"].high < results["non-robust"][f"DIVA c={c_values[0]:g}"]["top1"].low),
    Claim("DIVA still beats PGD on the robust pair for some c", "10.1 points more evasive success at c = 1.5",
          f"best c = {best_c:g}: {pct(diva[best_c]['top1'].value)} vs PGD {pct(R['PGD']['top1'].value)}",
          diva[best_c]["top1"].value > R["PGD"]["top1"].value),
    Claim("robust accuracy of the quantized model is similar under PGD and DIVA", "22.63 % vs 21.77 %",
          f"{pct(R['PGD']['robust_acc'].value)} vs {pct(diva[c_values[0]]['robust_acc'].value)}",
          abs(R["PGD"]["robust_acc"].value - diva[c_values[0]]["robust_acc"].value) <= 0.05),
]
if 1 in c_values and 5 in c_values:
    claims.append(Claim("a larger c (5) raises DIVA's top-1 success on the robust pair", "10.5 % → 12.8 %",
                        f"{pct(diva[1]['top1'].value)} → {pct(diva[5]['top1'].value)}",
                        diva[5]["top1"].value > diva[1]["top1"].value))
display(report.claims_table(claims))

# %%
result = {"profile": profile, "seed": seed, "arch": arch, "n_eval": int(len(y)), "adv_epochs": adv_epochs,
          "adv_steps": adv_steps, "adv_eps": adv_eps,
          "clean_acc": R["clean_int8"].value, "clean_acc_fp32": R["clean_fp32"].value,
          "robust_acc_pgd": R["PGD"]["robust_acc"].value, "robust_acc_diva": diva[c_values[0]]["robust_acc"].value,
          "by_c": {f"{cv:g}": {"diva_top1": diva[cv]["top1"].value, "pgd_top1": R["PGD"]["top1"].value,
                               "diva_evasion": diva[cv]["evasion"].value, "pgd_evasion": R["PGD"]["evasion"].value}
                   for cv in c_values},
          "non_robust": {k: ({"top1": v["top1"].value, "evasion": v["evasion"].value} if isinstance(v, dict)
                             else v.value) for k, v in results["non-robust"].items()},
          "claims": report.claims_record(claims, "Robust training (§5.5)", report.setting_note(cfg.dataset, cfg.image_size, cfg.weights, len(y)) + f", {arch} PGD-{adv_steps} fine-tuned")}
print("wrote", report.save_json(result, report.results_path(profile, "robust")))
