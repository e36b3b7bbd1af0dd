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
# # Claims vs paper
#
# Every claim of the paper that this book tests has one id in the library's registry
# (`diva_lib.claims`), one chapter that measures it, and one of three verdicts:
#
# - **holds**: the claim's rule is met on this run's numbers;
# - **does not hold**: it is not;
# - **not testable here**: a model the claim rests on is below its quality floor (each
#   chapter's models table), or the claim depends on a property of the stand-in data that the
#   registry names (10 classes instead of 1,000; 32×32 zero-padded images). A claim that fails
#   is never put here.
#
# Rules decide on 95 % intervals, never on a point estimate alone: a comparison of two rates asks
# whether the interval of their difference lies above 0; a comparison with the paper asks whether
# the measured interval reaches the paper's number or range. This page gathers the verdicts the
# chapters wrote; nothing here is typed in.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper: whose results to gather
seed = 0  # unused here; kept so every chapter takes the same parameters

# %%
from diva_lib import config, report
from diva_lib.chapters import summary
from diva_lib.claims import WIDTHS
from diva_lib.claims import table as claims_table

config.get_profile(profile)
config.check_seed(seed)
gathered = summary.gather(report.results_path(profile, "x").parent)
claims, related = summary.split_related(gathered)

# %% [markdown]
# ## Verdicts per chapter

# %% tags=["hide-input"]
report.show(summary.counts(gathered))

# %% [markdown]
# ## Every claim
# Grouped by the chapter that measures it; "this run" shows the numbers its rule was applied to.

# %% tags=["hide-input"]
report.show(claims_table(claims.to_dict("records")), WIDTHS)

# %% [markdown]
# ## Forest plot
# Each claim with a number: the measured value and its 95 % interval, coloured by verdict,
# against the paper's number or range (shaded) or against 0 where the paper only orders two
# rates (the value is then their difference). Intervals that run to infinity are cut at the
# right edge.

# %% tags=["hide-input"]
summary.forest(claims);

# %% [markdown]
# ## Beyond the paper: the related papers' claims
# The chapter "Beyond the paper" measures what three related papers report (direct attacks on
# quantized networks, transfer between compressed and uncompressed models, on-device models as
# transfer priors) and asks the paper's own claims at other bit-widths and sparsities. The same
# verdict rules apply.

# %% tags=["hide-input"]
report.show(claims_table(related.to_dict("records")), WIDTHS)
summary.forest(related);
