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
# # Case study: evading a face-recognition model on the edge (paper §6, Figs 9–10)
#
# A face-ID model deployed on a camera or phone is an int8 model; the operator audits it with
# the full-precision original. DIVA makes the deployed model misidentify a person while the
# original still recognises them, and targeted DIVA pushes the deployed model towards a
# chosen person. The paper fine-tunes VGGFace (ResNet50 pretrained on VGGFace2
# {cite}`cao2018vggface2`) on 150 PubFig {cite}`kumar2009pubfig` people. Here the same
# architecture, with keras-vggface's layer names, is pretrained on the celebrities of the data
# mirror (Pins and LFW photos) and fine-tuned on a disjoint group of people: in `default` the 40
# people of the AT&T face set, 6 images each to train and 4 each to validate, fine-tuned on
# random flips and 2-pixel shifts with label smoothing 0.1. The paper attacks 3 validation images
# per person of 150 people; with 40 people, 3 each reach 120 attacked images (the fewest a rate
# compared here rests on) only if every validation image is classified correctly, so `default`
# takes up to 4. Fine-tuning on Pins celebrities at 32×32
# (`source="mirror"`) stays far below the paper's 99 % accuracy with a backbone pretrained on a
# few thousand photos, and an attack on a model that is mostly wrong measures little; the AT&T
# people make a far more accurate model within the 2-core budget (the accuracies this run
# measured are in the tables below). The `paper` profile uses real PubFig and the real VGGFace
# weights.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
seed = 0
n_people = None  # identities of the fine-tuned task (None: smoke 5, default 40, paper 150)
people = None  # or an explicit list of identities, e.g. ["s1", "s2", ...] (paper: ["Nicolas Cage", ...])
n_targets = None  # people used as targets of targeted DIVA (None: smoke 2, default 5, paper 10 as in the paper)
c = 1.0  # DIVA's balance between the two models

# %%
from diva_lib.chapters import face_id

settings = face_id.Settings.resolve(profile, seed, n_people=n_people, people=people, n_targets=n_targets, c=c)

# %% [markdown]
# ## Models, attacks and the protocol
# One call builds (or loads from the cache) the three models: the fine-tuned original, its
# quantization-aware (QAT) graph and the int8 TFLite model the device runs. It then attacks the
# validation images all three models classify correctly, at most 3 per person as in the paper
# (4 in `default`, see above; people with none are left out), with PGD, DIVA and targeted DIVA,
# ε = 8/255 in 20 steps of 1/255.
#
# As in the authors' `WBattack.py`, the attacks craft on the differentiable pair (original and
# QAT graph) and keep each image at the *first* step where the original is right and the QAT
# graph wrong. The kept image is then rounded to the 8-bit pixel grid and judged on the true
# original and on the deployed int8 model (LiteRT): every rate below is measured there.

# %%
result = face_id.run(settings)

# %% [markdown]
# ## Paper setting vs this run

# %% tags=["hide-input"]
result.show("settings")

# %% [markdown]
# ## The models and their quality floors
# The claims rest on a face model worth attacking: the original and the int8 model must both
# recognise at least 95 % of the validation faces, the QAT graph (the attacker's gradient
# source) must agree with the deployed model on all but 2 % of them, and at least 120 images
# must be attacked. That the int8 model keeps the original's accuracy (99.4 % vs 99.0 % in the
# paper) is this precondition, not a claim. A claim resting on a row below its floor is
# "not testable here".

# %% tags=["hide-input"]
result.show("models")
result.show("clean")
result.show("attack set")

# %% [markdown]
# ## Fig 10: untargeted DIVA vs PGD
# Top-1 success: the original still names the person and the deployed model does not. Top-5
# success is §5.1's: the original is right and the deployed model's answer is outside the
# original's five most likely people. The intervals are 95 % Wilson intervals.

# %% tags=["hide-input"]
result.show("attacks")
face_id.fig10(result);

# %% [markdown]
# ## Fig 9: one attacked face
# Chosen by a rule: among the images where DIVA succeeds on the deployed model, the one whose
# wrong identity the deployed model is most confident about (no figure when DIVA succeeded on no image).

# %% tags=["hide-input"]
face_id.fig9(result);

# %% [markdown]
# ## Targeted DIVA
# For each target person t (the first people of the task in name order), targeted DIVA adds
# $p_{adapted}(x)[t]$ to DIVA's loss and runs on every attacked image of another person, kept at
# its first success like every attack here. On the successful images we count the identities the
# deployed model is pushed to, and how often it lands exactly on t. Beside it, the identities
# untargeted DIVA reaches on the same images: the paper's "8.3 of 149 people" is a set size with no
# comparison, and with 40 people instead of 150 an absolute size is not comparable, so the
# question becomes whether the target term narrows the set that untargeted DIVA reaches.

# %% tags=["hide-input"]
result.show("targeted")
face_id.fig_targeted(result);

# %% [markdown]
# ## The paper's claims, judged
# - **DIVA beats PGD** (Fig 10): holds when the 95 % interval of DIVA − PGD top-1 success on the
#   deployed model (Newcombe's interval of a difference of two rates) lies above 0.
# - **Targeted DIVA narrows the set of identities**: holds when the 95 % bootstrap interval of
#   untargeted − targeted identities reached, on the same images and averaged over the targets,
#   lies above 0 (seeded; each draw resamples the attacked images, paired between the two attacks).
#
# The paper also notes that DIVA is weaker on top-5 than on top-1. With §5.1's definition that
# cannot fail: an answer outside the original's top five is not the original's top-1, which is the
# true person, so every top-5 success is a top-1 success. The numbers are in the attack table;
# the comparison is not counted as a claim.

# %% tags=["hide-input"]
result.show("claims")
result.save()
