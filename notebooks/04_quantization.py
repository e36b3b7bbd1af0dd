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
# # DIVA on quantized models: three threat models, evasion cost, c and other baselines (paper §5.1–§5.4)
#
# The paper's main experiment. For each architecture we attack the pair (original fp32 model,
# QAT model) with PGD {cite}`madry2018pgd` and DIVA under three threat models (§4.2–§4.4):
#
# | threat model | attacker differentiates through | how the attacker gets it |
# | --- | --- | --- |
# | whitebox | true original + true QAT model | both models are leaked |
# | semi-blackbox | **surrogate** original + true QAT model | QAT model recovered from the device; original distilled from the deployed model's outputs on the attacker's own images |
# | blackbox | surrogate original + **surrogate** QAT model | only query access: the surrogate original, then QAT of it |
#
# Whatever the attacker crafted with, success is judged on the true original and on the true
# adapted model, both as the QAT graph and as the deployed int8 TFLite model on the LiteRT
# interpreter (adversarial images rounded to the 8-bit pixel grid first). The deployed view is
# the headline; the QAT view is shown next to it.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
seed = 0
archs = None  # architectures (None: smoke ["mobilenet"], otherwise all three)
sweep_archs = None  # architectures of the semi-/blackbox attacks, c ablation and baselines (None: paper all, else mobilenet)
n_whitebox = None  # whitebox evaluation-set size per architecture (None: smoke 32, default 1000, paper 3000)
n_transfer = None  # semi-blackbox / blackbox images per architecture (None: smoke 32, default 200, paper 3000)
c = 1.0  # DIVA's balance between the two models (paper default 1)
c_values = [0, 0.001, 0.1, 1, 5, 10]  # Fig 7 ablation
n_ablation = None  # images per c value and architecture (None: smoke 16, default 100, paper 1000)
n_baselines = None  # images per architecture for Momentum PGD / CW-L∞ (None: smoke 16, default 200, paper 3000)
n_examples = 4  # columns of the example grid (Fig 1 / Fig 3)

# %%
from diva_lib import config

SIZES = {"n_whitebox": (32, 1000, 3000), "n_transfer": (32, 200, 3000), "n_ablation": (16, 100, 1000),
         "n_baselines": (16, 200, 3000)}
_col = {"smoke": 0, "default": 1}
cfg = config.get_profile(profile, archs=archs or (["mobilenet"] if profile == "smoke" else list(config.ARCHS)))
seed = config.check_seed(seed)
n_whitebox, n_transfer, n_ablation, n_baselines = (
    config.check_positive_int(k, v if v is not None else SIZES[k][_col.get(profile, 2)])
    for k, v in (("n_whitebox", n_whitebox), ("n_transfer", n_transfer), ("n_ablation", n_ablation),
                 ("n_baselines", n_baselines)))
config.check_positive_int("n_examples", n_examples)
sweep_archs = config.check_archs(sweep_archs if sweep_archs is not None else
                                 (cfg.archs if profile == "paper" else ["mobilenet"]))
if not set(sweep_archs) <= set(cfg.archs):
    raise config.ParameterError(f"parameter 'sweep_archs'={sweep_archs!r} must be drawn from archs={list(cfg.archs)}")
if not c >= 0:
    raise config.ParameterError(f"parameter 'c'={c!r} must be >= 0 (the paper uses 1)")
if not c_values or any(not (isinstance(v, int | float) and v >= 0) for v in c_values):
    raise config.ParameterError(f"parameter 'c_values'={c_values!r} must be a non-empty list of numbers >= 0")
if max(n_ablation, n_baselines) > n_whitebox:
    raise config.ParameterError(f"n_ablation={n_ablation} and n_baselines={n_baselines} must not exceed "
                                f"n_whitebox={n_whitebox}: they reuse the first images of the whitebox set")

# %%
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display
from tqdm.auto import tqdm

from diva_lib import attacks, data as dataio, evaluate, metrics, paper, plots, report, threat, train, zoo
from diva_lib.report import Claim, pct

# %% [markdown]
# ## Paper setting vs this run

# %%
EPS, STEP, STEPS = 8 / 255, 1 / 255, 20
display(report.settings_table({
    "data": (paper.SETTINGS["dataset"], f"{cfg.dataset}, {cfg.image_size}×{cfg.image_size}, {cfg.n_train} "
             "training images"),
    "models": ("ResNet50, MobileNet, DenseNet121 fine-tuned from ImageNet weights",
               f"{', '.join(cfg.archs)}, " + ("trained from scratch" if cfg.weights is None else cfg.weights)),
    "adaptation": (paper.SETTINGS["qat"], f"tfmot quantize_model, QAT {cfg.qat_summary()}, int8 TFLite"),
    "surrogate data": ("12,811 disjoint ImageNet train images", f"{cfg.n_surrogate} disjoint training images"),
    "surrogate training": ("distillation from the deployed model, then QAT",
                           "distillation from the deployed int8 model (½ hard label + ½ soft), then QAT"),
    "ε / step / steps / random start": ("8/255 / 1/255 / 20 / no", f"{EPS * 255:.0f}/255 / {STEP * 255:.0f}/255 / "
                                        f"{STEPS} / no"),
    "c": (1, c),
    "evaluation set (whitebox)": ("3,000 images all models classify correctly", f"up to {n_whitebox} per arch"),
    "evaluation set (semi-/blackbox)": ("3,000 (a second set for blackbox)",
                                        f"first {n_transfer} of the whitebox set (time budget)"),
    "c ablation / baselines": ("3,000 images", f"first {n_ablation} / {n_baselines} images per arch (time budget)"),
    "architectures of semi-/blackbox, c ablation, baselines": ("all three", ", ".join(sweep_archs)),
}))

# %% [markdown]
# ## Models and the evaluation set
# Each architecture has the original and its QAT model (and the int8 TFLite model converted from
# it); each architecture in `sweep_archs` also has a surrogate original distilled from the
# deployed model on a disjoint split, and the surrogate's QAT model. As in §5.1, attacks run only
# on test images that *every* model of the architecture classifies correctly.

# %%
train.set_seed(seed)
stand_in = zoo.load_data(cfg, seed)
names = dataio.class_names(cfg.dataset, cfg.num_classes)
entries, surrogates, evalset = {}, {}, {}
for arch in tqdm(cfg.archs, desc="models"):
    entries[arch] = zoo.get(arch, cfg, seed, stand_in=stand_in)
    e = entries[arch]
    used = [e.fp32, e.qat, e.tflite]
    if arch in sweep_archs:
        surrogates[arch] = zoo.get_surrogates(arch, cfg, seed, e, stand_in=stand_in)
        used += [surrogates[arch].fp32, surrogates[arch].qat]
    evalset[arch] = evaluate.select_eval_set(stand_in.x_test, stand_in.y_test, used, n_whitebox)
display(pd.DataFrame({a: {"test images": len(stand_in.y_test), "all its models correct (used)": len(evalset[a][1]),
                          "requested": n_whitebox} for a in cfg.archs}).T)
short = [a for a in cfg.archs if len(evalset[a][1]) < n_whitebox]
if short:
    print(f"fewer correctly classified images than requested for {short}: the sets above are used as they are")

# %% [markdown]
# ## PGD and DIVA under the three threat models
# Every attack runs once per (architecture, threat model) on the same images. Success rates
# carry 95 % Wilson intervals. PGD's loss ignores the original, so semi-blackbox PGD (surrogate
# original, true QAT model) crafts exactly the whitebox PGD images: its row is the whitebox run
# judged on the first `n_transfer` images, not a second run.
#
# **Sample sizes.** The whitebox set keeps the floor of 1,000 images per architecture in
# `default` (the headline of Fig 6). To fit the book's 45-minute budget on two CPU cores, the
# semi-blackbox and blackbox rows, the c ablation and the §5.4 baselines run on the
# architectures of `sweep_archs` only (MobileNet in `default`: its surrogates are the cheapest to
# train), on the first `n_transfer`, `n_ablation` per point and `n_baselines` images of the
# whitebox set (the settings table above gives the values of this run); the wider intervals of
# those rows show what that costs.

# %%
runs, crafted = {}, {}
jobs = [(a, t) for a in cfg.archs for t in threat.THREATS if t == "whitebox" or a in sweep_archs]
for arch, th in tqdm(jobs, desc="attacks"):
    e = entries[arch]
    x, y = evalset[arch]
    if th != "whitebox":
        x, y = x[:n_transfer], y[:n_transfer]
    orig, adapted = threat.crafting_pair(th, e, surrogates.get(arch))
    kw = {"eps": EPS, "step": STEP, "steps": STEPS}
    for name, atk in (("PGD", attacks.PGD(orig, adapted, **kw)), ("DIVA", attacks.DIVA(orig, adapted, c=c, **kw))):
        if th == "semiblackbox" and name == "PGD":
            runs[arch, th, name] = evaluate.restrict(runs[arch, "whitebox", name], x, y, e.fp32, e.qat, e.tflite)
            continue
        crafted[arch, th, name] = atk
        runs[arch, th, name] = evaluate.evaluate_attack(atk, e.fp32, e.qat, e.tflite, x, y,
                                                        batch_size=cfg.attack_batch_size)

# %%
rows = []
for (arch, th, name), r in runs.items():
    for view in ("tflite", "qat"):
        v = getattr(r, view)
        rows.append({"arch": arch, "threat": th, "attack": name, "view": "int8 TFLite" if view == "tflite" else
                     "QAT graph", "top-1 success": str(v.top1), "top-5 success": str(v.top5),
                     "confidence delta": pct(v.conf_delta), "adapted fooled": str(v.evasion),
                     "original still correct": str(v.orig_still_correct)})
display(pd.DataFrame(rows).set_index(["arch", "threat", "attack", "view"]))

# %% [markdown]
# ## Fig 6a/b: top-1 and top-5 success (deployed int8 model)

# %%
def bars(metric: str) -> pd.DataFrame:
    """Long table of one success rate for the bar plot."""
    return pd.DataFrame([{"model / threat": f"{a}\n{t}", "attack": n, "value": getattr(r.tflite, metric).value,
                          "low": getattr(r.tflite, metric).low, "high": getattr(r.tflite, metric).high}
                         for (a, t, n), r in runs.items()])


plots.rate_bars(bars("top1"), "model / threat", "attack", "Fig 6a: top-1 success on the int8 TFLite model",
                "top-1 success (%)");
plots.rate_bars(bars("top5"), "model / threat", "attack", "Fig 6b: top-5 success on the int8 TFLite model",
                "top-5 success (%)");

# %% [markdown]
# ## Fig 6c: confidence delta
# $p_{orig}(x)[y] - p_{adapted}(x)[y]$ averaged over the whitebox images, for the natural
# images (the gap that quantization alone opens) and after each attack.

# %%
conf_rows = []
for arch in cfg.archs:
    e = entries[arch]
    x, y = evalset[arch]
    natural = metrics.confidence_delta(evaluate.predict(e.fp32, x), evaluate.predict(e.tflite, x), y)
    conf_rows.append({"arch": arch, "input": "natural", "confidence delta (%)": 100 * natural})
    for name in ("PGD", "DIVA"):
        conf_rows.append({"arch": arch, "input": name,
                          "confidence delta (%)": 100 * runs[arch, "whitebox", name].tflite.conf_delta})
conf = pd.DataFrame(conf_rows)
sns.set_theme(style="whitegrid")
ax = sns.barplot(data=conf, x="arch", y="confidence delta (%)", hue="input")
ax.set_title("Fig 6c: confidence delta, whitebox, int8 TFLite");

# %% [markdown]
# ## Fig 6d: success vs number of steps
# From the predictions recorded during the single whitebox run of each attack (QAT graph).

# %%
step_df = pd.DataFrame([{"arch": a, "attack": n, "step": s, "success": v}
                        for (a, t, n), r in runs.items() if t == "whitebox" for s, v in enumerate(r.success_by_step)])
plots.success_by_step(step_df, "Fig 6d: whitebox top-1 success after each step (QAT graph)");

# %% [markdown]
# ## Table 2: evasion cost
# The share of images on which the adapted model is fooled, whatever the original does. DIVA
# gives up some of it in exchange for keeping the original correct.

# %%
table2 = pd.DataFrame({a: {f"{n} attacking quantized ({view})": str(getattr(runs[a, "whitebox", n], view).evasion)
                           for n in ("PGD", "DIVA") for view in ("tflite", "qat")} for a in cfg.archs}).T
display(table2)

# %% [markdown]
# ## Fig 1 / Fig 3: what the attacks look like
# Chosen by a rule, not by hand: the first images of the evaluation set on which whitebox DIVA
# succeeds on the deployed model while PGD's image is misclassified by the original.
# Captions: original model's / deployed int8 model's prediction and confidence.

# %%
show_arch = "mobilenet" if "mobilenet" in cfg.archs else cfg.archs[0]
x, y = evalset[show_arch]
pg, dv = runs[show_arch, "whitebox", "PGD"], runs[show_arch, "whitebox", "DIVA"]
p_nat_o, p_nat_d = evaluate.predict(entries[show_arch].fp32, x), evaluate.predict(entries[show_arch].tflite, x)
diva_ok = (dv.p_orig.argmax(1) == y) & (dv.p_deployed.argmax(1) != y)
pick = np.flatnonzero(diva_ok & (pg.p_orig.argmax(1) != y))
pick = np.concatenate([pick, np.setdiff1d(np.flatnonzero(diva_ok), pick)])[:n_examples]


def caption(po: np.ndarray, pd_: np.ndarray) -> list[str]:
    """'original: label p / int8: label p' per picked image."""
    return [f"orig: {names[po[i].argmax()]} {po[i].max():.0%}\nint8: {names[pd_[i].argmax()]} {pd_[i].max():.0%}"
            for i in pick]


if len(pick):
    plots.example_grid({"natural": x[pick], "PGD": metrics.to_pixel_grid(pg.x_adv[pick]),
                        "DIVA": metrics.to_pixel_grid(dv.x_adv[pick])},
                       {"natural": caption(p_nat_o, p_nat_d), "PGD": caption(pg.p_orig, pg.p_deployed),
                        "DIVA": caption(dv.p_orig, dv.p_deployed)},
                       f"{show_arch}: natural, PGD and DIVA images (ε = 8/255)");
else:
    print("whitebox DIVA succeeded on no image here: nothing to show")

# %% [markdown]
# ### DSSIM
# Structural dissimilarity (scikit-image SSIM {cite}`wang2004ssim`, (1 − SSIM)/2) of every adversarial image on the
# pixel grid to its natural image. The paper reports all its ImageNet images below 0.0092.

# %%
dssim = pd.DataFrame([{"arch": a, "threat": t, "attack": n, "mean DSSIM": r.dssim.mean(), "max DSSIM": r.dssim.max()}
                      for (a, t, n), r in runs.items()])
display(dssim.pivot_table(index=["arch", "attack"], columns="threat", values=["mean DSSIM", "max DSSIM"]).round(4))

# %% [markdown]
# ## Fig 7: balancing the two terms with c
# Whitebox DIVA for each c in `c_values` (the paper: 0, 0.001, 0.1, 1, 5, 10), on the first `n_ablation`
# images of each whitebox set (for c equal to the chapter's c, the whitebox run above restricted
# to those images). A small c favours keeping the original correct, a large c favours fooling the adapted model.

# %%
ablation = []
for arch in tqdm(sweep_archs, desc="c ablation"):
    e = entries[arch]
    x, y = evalset[arch][0][:n_ablation], evalset[arch][1][:n_ablation]
    sweep = crafted[arch, "whitebox", "DIVA"]  # the whitebox attack, already compiled; only its c changes
    for cv in c_values:
        if cv == c:  # the whitebox run above, restricted to the same images
            r = runs[arch, "whitebox", "DIVA"]
            po, pd_ = r.p_orig[:n_ablation], r.p_deployed[:n_ablation]
            top, fooled = metrics.top1_success(po, pd_, y), metrics.evasion(pd_, y)
        else:
            sweep.c = float(cv)
            r = evaluate.evaluate_attack(sweep, e.fp32, e.qat, e.tflite, x, y, batch_size=cfg.attack_batch_size,
                                         progress=False, by_step=False)
            top, fooled = r.tflite.top1, r.tflite.evasion
        ablation.append({"arch": arch, "c": cv, "top-1 success": top, "adapted fooled": fooled})
    sweep.c = c
abl = pd.DataFrame(ablation)
abl_long = pd.concat([abl.assign(metric=m, value=[v.value for v in abl[m]], low=[v.low for v in abl[m]],
                                 high=[v.high for v in abl[m]]) for m in ("top-1 success", "adapted fooled")])
g = sns.relplot(data=abl_long.assign(pct=100 * abl_long["value"], c_label=abl_long["c"].astype(str)),
                x="c_label", y="pct", hue="arch", col="metric", kind="line", marker="o", height=3.2, aspect=1.2,
                sort=False)
g.set_axis_labels("c", "rate on int8 TFLite (%)")
g.figure.suptitle(f"Fig 7: whitebox DIVA vs c (n = {n_ablation} per point)", y=1.04);
display(abl.pivot(index="c", columns="arch", values="top-1 success").map(str))

# %% [markdown]
# ## §5.4: other baselines
# Momentum PGD {cite}`dong2018momentum` (momentum 0.5) and the CW-L∞ margin loss {cite}`carlini2017cw`,
# on the first `n_baselines` whitebox
# images, next to PGD and DIVA on the same images (those runs are reused, restricted to the
# same images: every attack is per-image and deterministic).

# %%
base_rows = []
for arch in tqdm(sweep_archs, desc="baselines"):
    e = entries[arch]
    x, y = evalset[arch][0][:n_baselines], evalset[arch][1][:n_baselines]
    for name, cls in (("Momentum PGD", attacks.MomentumPGD), ("CW-L∞", attacks.CWLinf)):
        r = evaluate.evaluate_attack(cls(e.fp32, e.qat, eps=EPS, step=STEP, steps=STEPS), e.fp32, e.qat, e.tflite,
                                     x, y, batch_size=cfg.attack_batch_size, progress=False, by_step=False)
        base_rows.append({"arch": arch, "attack": name, "top-1 success": r.tflite.top1})
    for name in ("PGD", "DIVA"):
        r = runs[arch, "whitebox", name]
        ok = (r.p_orig[:n_baselines].argmax(1) == y) & (r.p_deployed[:n_baselines].argmax(1) != y)
        base_rows.append({"arch": arch, "attack": name, "top-1 success": metrics.rate(ok)})
base = pd.DataFrame(base_rows)
display(base.pivot(index="attack", columns="arch", values="top-1 success").map(str))
mean_top1 = base.assign(v=[r.value for r in base["top-1 success"]]).groupby("attack")["v"].mean()
display(mean_top1.map(pct).rename("mean over architectures").to_frame())

# %% [markdown]
# ## Paper claim vs this run
# Verdict rules: "A beats B" needs the 95 % intervals to be disjoint; ranges hold when every
# architecture's point estimate lies at or beyond the paper's lower end.

# %%
def rng(vals: list[float]) -> str:
    """'lo–hi %' of fractions."""
    return f"{100 * min(vals):.1f}–{100 * max(vals):.1f} %"


def ratio(a: float, b: float) -> str:
    """a / b as 'k.k×' ('∞' when b is 0 and a is not)."""
    return f"{a / b:.1f}×" if b > 0 else ("∞ (PGD 0 %)" if a > 0 else "0 / 0")


def top1(a: str, t: str, n: str) -> metrics.Rate:
    """Top-1 success on the deployed model."""
    return runs[a, t, n].tflite.top1


A, S = cfg.archs, sweep_archs
claims = []
for th, prange in (("whitebox", "92.3–97.0 % vs 30.2–50.9 %"), ("semiblackbox", "71.1–96.2 %, above PGD"),
                   ("blackbox", "30.3–77.2 %, above PGD")):
    on = A if th == "whitebox" else S
    claims.append(Claim(f"{th}: DIVA's top-1 success exceeds PGD's on every architecture", prange,
                        f"DIVA {rng([top1(a, th, 'DIVA').value for a in on])} vs PGD "
                        f"{rng([top1(a, th, 'PGD').value for a in on])}",
                        all(top1(a, th, "DIVA").low > top1(a, th, "PGD").high for a in on)))
claims += [
    Claim("whitebox DIVA reaches at least 92.3 % top-1 success", "92.3–97.0 %",
          rng([top1(a, "whitebox", "DIVA").value for a in A]), all(top1(a, "whitebox", "DIVA").value >= 0.923
                                                                  for a in A)),
    Claim("DIVA's success falls from whitebox to semi-blackbox to blackbox", "92.3–97 → 71.1–96.2 → 30.3–77.2 %",
          "; ".join(f"{a}: " + " → ".join(pct(top1(a, t, 'DIVA').value) for t in threat.THREATS) for a in S),
          all(top1(a, "whitebox", "DIVA").value >= top1(a, "semiblackbox", "DIVA").value
              >= top1(a, "blackbox", "DIVA").value for a in S)),
    Claim("whitebox top-5 success: DIVA 2.6–4.2× PGD", "2.6–4.2×",
          "; ".join(f"{a}: {ratio(runs[a, 'whitebox', 'DIVA'].tflite.top5.value, runs[a, 'whitebox', 'PGD'].tflite.top5.value)}"
                    for a in A),
          all(runs[a, "whitebox", "DIVA"].tflite.top5.value >= 2.6 * runs[a, "whitebox", "PGD"].tflite.top5.value
              for a in A)),
    Claim("confidence delta: natural < PGD < DIVA (whitebox)", "7.9 % < 18.6–25 % < 56.6–72.4 %",
          "; ".join(f"{a}: " + " < ".join(f"{v:.1f} %" for v in conf[conf.arch == a]["confidence delta (%)"])
                    for a in A),
          all(list(conf[conf.arch == a]["confidence delta (%)"]) == sorted(conf[conf.arch == a]["confidence delta (%)"])
              for a in A)),
    Claim("evasion cost: DIVA fools the adapted model at most 3.6 points less often than PGD",
          "PGD 98.4–98.7 % vs DIVA 95.1–97.0 %",
          "; ".join(f"{a}: {pct(runs[a, 'whitebox', 'PGD'].tflite.evasion.value)} vs "
                    f"{pct(runs[a, 'whitebox', 'DIVA'].tflite.evasion.value)}" for a in A),
          all(runs[a, "whitebox", "PGD"].tflite.evasion.value - runs[a, "whitebox", "DIVA"].tflite.evasion.value
              <= 0.036 for a in A)),
    Claim("all adversarial images have DSSIM below 0.0092", "< 0.0092", f"max {dssim['max DSSIM'].max():.4f}",
          bool(dssim["max DSSIM"].max() < 0.0092)),
    Claim("Momentum PGD and CW-L∞ do worse than PGD (mean top-1 over architectures)",
          "39.4 % and 25.5 % vs 40.6 %",
          f"{pct(mean_top1['Momentum PGD'])} and {pct(mean_top1['CW-L∞'])} vs {pct(mean_top1['PGD'])}",
          bool(mean_top1["Momentum PGD"] <= mean_top1["PGD"] and mean_top1["CW-L∞"] <= mean_top1["PGD"])),
    Claim("c in [0.001, 1] gives high top-1 success; c = 0 does not",
          "peaks at c = 10, 1, 0.1",
          "; ".join(f"{a}: best c = {abl[abl.arch == a].loc[abl[abl.arch == a]['top-1 success'].map(lambda r: r.value).idxmax(), 'c']}"
                    for a in S),
          all(abl[(abl.arch == a) & (abl.c > 0) & (abl.c <= 1)]["top-1 success"].map(lambda r: r.value).max()
              > abl[(abl.arch == a) & (abl.c == 0)]["top-1 success"].map(lambda r: r.value).max() for a in S)
          if 0 in c_values else False),
]
display(report.claims_table(claims))

# %%
def numbers(r: evaluate.AttackReport, view: str) -> dict[str, float]:
    """The headline fractions of one attack run in one view."""
    v = getattr(r, view)
    return {"top1": v.top1.value, "top1_ci": [v.top1.low, v.top1.high], "top5": v.top5.value,
            "conf_delta": v.conf_delta, "evasion": v.evasion.value, "n": v.top1.n}


result = {"profile": profile, "seed": seed, "c": c, "claims": report.claims_record(
    claims, "Quantization (§5.1–§5.4)", report.setting_note(cfg.dataset, cfg.image_size, cfg.weights, n_whitebox)),
          "natural_conf_delta": {a: float(conf[(conf.arch == a) & (conf.input == "natural")]["confidence delta (%)"]
                                          .iloc[0] / 100) for a in A},
          "c_ablation": {a: {str(r["c"]): {"top1": r["top-1 success"].value, "evasion": r["adapted fooled"].value}
                             for _, r in abl[abl.arch == a].iterrows()} for a in S},
          "baselines": {a: {r["attack"]: r["top-1 success"].value for _, r in base[base.arch == a].iterrows()}
                        for a in S}}
for arch in A:
    result[arch] = {}
    for th in (t for t in threat.THREATS if (arch, t, "DIVA") in runs):
        d, p = runs[arch, th, "DIVA"], runs[arch, th, "PGD"]
        result[arch][th] = {
            "diva_top1": d.tflite.top1.value, "pgd_top1": p.tflite.top1.value, "diva_top5": d.tflite.top5.value,
            "pgd_top5": p.tflite.top5.value, "diva_conf_delta": d.tflite.conf_delta,
            "pgd_conf_delta": p.tflite.conf_delta, "diva_evasion": d.tflite.evasion.value,
            "pgd_evasion": p.tflite.evasion.value, "n": d.tflite.top1.n,
            "tflite": {"DIVA": numbers(d, "tflite"), "PGD": numbers(p, "tflite")},
            "qat": {"DIVA": numbers(d, "qat"), "PGD": numbers(p, "qat")},
            "dssim_max": max(float(d.dssim.max()), float(p.dssim.max())),
        }
print("wrote", report.save_json(result, report.results_path(profile, "quantization")))
