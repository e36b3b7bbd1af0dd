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
# | semi-blackbox | **surrogate** original + true QAT model | QAT model from the device; an original distilled from it |
# | blackbox | surrogate original + **surrogate** QAT model | query access only: a surrogate from scratch, its own QAT |
#
# Whatever the attacker crafted with, success is judged on the true original and on the true
# adapted model, both as the QAT graph and as the deployed int8 TFLite model on the LiteRT
# interpreter (adversarial images rounded to the 8-bit pixel grid first). The deployed view is
# the headline; the QAT view is shown next to it. "Distilled" means trained on the deployed
# model's outputs for the attacker's own images, a split disjoint from the training and test data,
# at temperature T = 10 as in the authors' surrogate notebook. The paper starts the surrogate
# from the adapted model's parameters or from ImageNet weights (§4.3); this stand-in has no
# ImageNet weights, so the semi-blackbox surrogate starts from the adapted model it holds and the
# blackbox one, which holds no parameters, from scratch.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
seed = 0
archs = None  # architectures (None: smoke ["mobilenet"], otherwise all three)
sweep_archs = None  # archs of the semi-/blackbox attacks, c ablation, baselines (None: all of archs)
n_whitebox = None  # whitebox evaluation-set size per architecture (None: smoke 32, default 1000, paper 3000)
n_transfer = None  # semi-blackbox / blackbox images per architecture (None: smoke 32, default 200, paper 3000)
c = 1.0  # DIVA's balance between the two models (paper default 1)
c_values = [0, 0.001, 0.1, 1, 5, 10]  # Fig 7 ablation
n_ablation = None  # images per c value and architecture (None: smoke 16, default 200, paper 1000)
n_baselines = None  # images per architecture for Momentum PGD / CW-L∞ (None: smoke 16, default 200, paper 3000)
n_examples = 4  # columns of the example grid (Fig 1 / Fig 3)
spread_seeds = None  # seeds MobileNet is retrained on for the seed spread (None: default [0, 1, 2], else none)

# %%
from diva_lib import report
from diva_lib.chapters import quantization

settings = quantization.Settings.resolve(
    profile, seed, archs=archs, sweep_archs=sweep_archs, n_whitebox=n_whitebox, n_transfer=n_transfer, c=c,
    c_values=c_values, n_ablation=n_ablation, n_baselines=n_baselines, n_examples=n_examples,
    spread_seeds=spread_seeds)

# %% [markdown]
# ## Paper setting vs this run
# The stand-in (Fashion-MNIST, 10 classes, 32×32) replaces ImageNet so the book runs on a CPU.
# The attack is the paper's (L∞, 20 steps, no random start) with one change the stand-in forces:
# ε = 16/255 and step 2/255 instead of 8/255 and 1/255 in the `smoke` and `default` profiles.
# At 8/255, PGD leaves a share of Fashion-MNIST images correctly classified even on the float
# model alone, far from Table 2's 98.4–98.7 %, so DIVA and PGD would be compared in a regime the
# paper never saw; twice the radius, with the step scaled alike, brings PGD close to the paper's
# level. The radius table below measures both radii on every architecture, so the reader sees
# that the shortfall at 8/255 belongs to the data and not to quantization; the saturation table
# after it names what still resists at this run's radius. The `paper` profile keeps 8/255.

# %% tags=["hide-input"]
report.show(quantization.settings_table(settings))

# %% [markdown]
# ## The protocol: success at the first successful step
# The authors' `WBattack.py` checks after every step whether the original still predicts the
# true label while the adapted model does not, and keeps the image at the **first** step where
# that happens; an image that never gets there keeps its last iterate and counts as a failure.
# The check runs on the pair the attacker differentiates through (the QAT graph stands in for the
# int8 model inside the loop); the image it keeps is then judged on the true original and the
# deployed int8 model, on the 8-bit pixel grid: that is the headline rate.
#
# For the whitebox rows we also run every image to step 20 and judge its **final iterate** the
# same way. PGD keeps pushing the adapted model's loss, and after a few steps it drags the
# original along: PGD's final-iterate success is far below its first success. The two columns
# differ by the protocol alone.
#
# The semi-blackbox attack follows the authors' `semiBBattack.py`: the first-success check runs
# on the attacker's pair, the surrogate original and the true QAT model, and the kept image is
# judged on the true models. Their script also requires the surrogate's confidence to exceed
# 0.6 before it stops; we do not use that threshold, so semi-blackbox stops exactly as whitebox
# does. PGD's loss ignores the original, but its stopping check does not, so semi-blackbox PGD
# is a run of its own.
#
# ## Evaluation sets (§5.1)
# Attacks run only on test images that every model of the architecture classifies correctly
# (its original, QAT and int8 models and, where it has them, both surrogates). Whitebox uses the
# first `n_whitebox` of them and semi-blackbox the first `n_transfer` of those; blackbox uses a
# separate set, the next `n_transfer` such images after the whitebox set, as the paper keeps a
# second set for it (when the whitebox set would leave it no image, the two share the usable
# images in proportion to `n_whitebox` : `n_transfer`; the table says so). The c ablation and
# the §5.4 baselines take the first images of the whitebox set, reusing the whitebox run where
# the attack is the same.
#
# Building the models and running every attack:

# %%
result = quantization.run(settings)

# %% [markdown]
# ## The models and their quality floors
# A claim rests only on models worth attacking: each original reaches its accuracy floor, its
# int8 model stays within [−2, +1] points of it, the QAT graph agrees with the deployed model on
# all but 2 % of the test images, and whitebox PGD fools the deployed model on ≥ 98 % of the
# images (Table 2's 98.4–98.7 %; below that, a gradient is masked somewhere). The semi-blackbox
# surrogate must agree with the true original on ≥ 90 % of the test split; the blackbox
# surrogate has no floor (an attacker with query access only gets what it gets), and its
# agreement is reported. Sample sizes are floors too: ≥ 1,000 images for the
# whitebox headline, ≥ 200 for every other compared rate. A claim resting on anything below its
# floor is "not testable here".

# %% tags=["hide-input"]
result.show("models")
result.show("eval_sets")

# %% [markdown]
# ## Why the stand-in's radius
# PGD-20's final-iterate evasion on the first 200 whitebox images, at the paper's radius and at
# this run's: crafted on and judged by the float original alone ("fp32 alone", no quantization
# anywhere), and crafted on the QAT pair and judged on the deployed int8 model ("int8", as in the
# whitebox run). Where both models resist alike at 8/255, the resistance is the data's; where the
# int8 row falls well below the fp32 row, the quantizers mask the gradient.

# %% tags=["hide-input"]
result.show("radius")

# %% [markdown]
# Which images does PGD leave unfooled at this run's radius, and is their gradient masked? The
# paper's PGD ascends the sign of the cross-entropy's gradient. An image is "saturated" when the QAT
# graph gives its true class a probability of exactly 1 in float32; that alone does not stop PGD,
# since the softmax still passes a gradient through the other classes' probabilities until they
# underflow to 0. So the table also takes PGD's gradient at each unfooled clean image: how many have
# no gradient at any pixel, and the median share of pixels whose gradient is exactly zero (a
# quantizer that clips its input zeroes it). The last columns run a second attack on the same
# images with PGD's radius, step and steps: CW-L∞, which ascends the margin between the best other
# class and the true class on the adapted model's logits (fake-quantized, as the QAT graph's softmax
# reads them), where no saturated softmax can stop it. Images PGD leaves unfooled but CW-L∞ fools
# were held by a masked gradient; those both leave unfooled resist by their margin at this radius.

# %% tags=["hide-input"]
result.show("saturation")

# %% [markdown]
# ## PGD and DIVA under the three threat models
# Every rate carries a 95 % Wilson interval. "Adapted fooled (kept image)" is the share of kept
# images the adapted model gets wrong; Table 2 below uses its own first-event rule.

# %% tags=["hide-input"]
result.show("attacks")

# %% [markdown]
# ## Fig 6a/b: top-1 and top-5 success (deployed int8 model)
# Top-1 success: the original is right and the int8 model wrong. Top-5 success (§5.1): the
# int8 model's top-1 lies outside the original's top five, with the original still right, as
# the authors' code requires. With 10 classes, "outside the top five" means among the original's
# five *least* likely classes: a much stricter condition than on 1,000 ImageNet classes, so
# top-5 numbers here are not comparable with the paper's. Whitebox bars show the final iterate
# beside first success.

# %% tags=["hide-input"]
quantization.fig6ab(result);

# %% [markdown]
# ## Fig 6c: confidence delta
# $p_{orig}(x)[y] - p_{int8}(x)[y]$ averaged over the whitebox images: on the natural images
# (the gap quantization alone opens) and on each attack's kept images. The table gives the
# paired differences (same images) with 95 % paired-t intervals.

# %% tags=["hide-input"]
result.show("confidence")
quantization.fig6c(result);

# %% [markdown]
# ## Fig 6d: cumulative first success by step
# The share of whitebox images whose first success on the QAT pair came at or before each step
# (the paper: PGD plateaus at 40.8 % from step 7, DIVA leads from step 1).

# %% tags=["hide-input"]
quantization.fig6d(result);

# %% [markdown]
# ## Table 2: evasion cost
# The share of images on which the adapted model is fooled, whatever the original does, with
# the same first-event rule on that criterion: each image is kept at the first step where the
# adapted model is wrong. DIVA gives up some of it in exchange for keeping the original correct.

# %% tags=["hide-input"]
result.show("table2")

# %% [markdown]
# ## Fig 1 / Fig 3: what the attacks look like
# Chosen by a rule, not by hand: the first images of the evaluation set on which whitebox DIVA
# succeeds on the deployed model while the original misclassifies PGD's image, then further DIVA
# successes. Captions: the original's and the deployed int8 model's prediction and confidence.

# %% tags=["hide-input"]
quantization.fig_examples(result);

# %% [markdown]
# ### DSSIM
# The paper measured kornelski's `dssim` (multi-scale SSIM in L\*a\*b\*, reported as 1/SSIM − 1)
# on 224×224 photographs. That tool is not installable here; `metrics.dssim` implements its
# definition on scikit-image's SSIM {cite}`wang2004ssim` (its scale weights, L\*a\*b\*,
# 1/MS-SSIM − 1, a 7×7 uniform window instead of its blurred kernel). On the stand-in's 32×32
# images, zero-padded from 28×28 greyscale, only 3 of the 5 scales exist and the black border
# is easy to disturb, so the absolute value is not comparable with 0.0092; the DIVA / PGD ratio
# of the means, on the same images, is.

# %% tags=["hide-input"]
result.show("dssim")

# %% [markdown]
# ## Fig 7: balancing the two terms with c
# Whitebox DIVA for each c in `c_values` on the first `n_ablation` images of the whitebox set
# (for the chapter's c, the whitebox run on those images). A small c favours keeping the original
# correct, a large c fooling the adapted model; "adapted fooled" is Table 2's evasion.

# %% tags=["hide-input"]
result.show("c_ablation")
quantization.fig7(result);

# %% [markdown]
# ## §5.4: other baselines
# §5.4 compares DIVA with PGD variants that attack the adapted model alone: Momentum PGD
# {cite}`dong2018momentum` (momentum 0.5) and PGD on the CW-L∞ margin loss {cite}`carlini2017cw`.
# The paper reports their top-1 success averaged over the three architectures, 39.4 % and
# 25.5 % against PGD's 40.6 %: neither does better than PGD. They run on the first
# `n_baselines` whitebox images, beside PGD and DIVA on the same images.

# %% tags=["hide-input"]
result.show("baselines")

# %% [markdown]
# ## Seed spread of the whitebox attack
# In `default`, MobileNet is retrained from seeds 0, 1 and 2 (the Table 1 chapter's seed spread)
# and attacked whitebox on the first `n_whitebox` images of each seed's test split that its
# original, QAT and int8 models classify correctly: DIVA and PGD top-1 success on the deployed
# model, mean ± standard deviation over seeds. (Empty in profiles without a seed spread.)
# These sets do not require the surrogates to be right, so seed 0's set is not the whitebox set
# above and its numbers differ from the whitebox row by a few images.

# %% tags=["hide-input"]
result.show("seed_spread")

# %% [markdown]
# ## The paper's claims, judged
# Each claim has one rule, decided on 95 % intervals (Newcombe's interval for a difference of
# two rates, a paired-t interval for per-image confidence deltas), never on a point estimate:
#
# - **whitebox / semi-blackbox / blackbox beats PGD**: the interval of DIVA − PGD top-1 success
#   on the deployed model lies above 0 on every architecture attacked.
# - **whitebox level**: the interval of whitebox DIVA's success reaches the paper's 92.3–97 %.
# - **from step 1**: after step 1 of the cumulative curve (QAT pair), DIVA − PGD lies above 0.
# - **top-5**: DIVA − PGD top-5 success lies above 0; measured and shown, but the stand-in's 10
#   classes make it "not testable here".
# - **knowledge order**: whitebox is significantly above blackbox, and neither semi-blackbox over
#   whitebox nor blackbox over semi-blackbox is significantly above the step before it.
# - **confidence order**: PGD − natural and DIVA − PGD (paired per image) lie above 0.
# - **evasion cost**: the interval of PGD − DIVA Table 2 evasion reaches 3.6 points or less.
# - **DSSIM**: the largest DSSIM lies below 0.0092 (not testable at the stand-in's resolution;
#   the measured text gives the DIVA / PGD ratio).
# - **c default**: no c's top-1 success is significantly above c = 1's; **c = 10 evasion**:
#   evasion at c = 10 is significantly above c = 1's. Both need those values in `c_values`;
#   without them the rows are left out, and the table after the claims says so.
# - **baselines**: neither Momentum PGD nor CW-L∞ is significantly above PGD.

# %% tags=["hide-input"]
result.show("claims")
result.show("not_run")
result.save()
