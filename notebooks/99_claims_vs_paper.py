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
# Every chapter ends with a "paper claim vs this run" table and stores it, with the numbers it
# measured, in `results/<profile>/<chapter>.json`. This page gathers them. The verdict of each
# row was computed by the chapter from its measurement (the rule is the claim's own wording:
# a range must contain the value, an inequality must hold, with 95 % intervals where a
# comparison of rates is involved); nothing here is typed in.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper: whose results to gather
seed = 0  # unused here; kept so every chapter takes the same parameters

# %%
from diva_lib import config

config.get_profile(profile)
config.check_seed(seed)

# %%
import pandas as pd
from IPython.display import Markdown, display

from diva_lib import report

# %%
folder = report.results_path(profile, "x").parent
rows = []
for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
    rows += report.load_json(path).get("claims", [])
if not rows:
    display(Markdown(f"No chapter results under `{folder}` yet: run `make book PROFILE={profile}`."))
claims = pd.DataFrame(rows, columns=["chapter", "claim", "paper", "measured", "setting", "holds"]).fillna("")
held = int(claims["holds"].sum())
display(Markdown(f"**{held} of {len(claims)} claims hold in this run ({profile} profile); "
                 f"{len(claims) - held} do not.**"))

# %%
display(claims.assign(holds=claims["holds"].map({True: "yes", False: "no"})).set_index(["chapter", "claim"]))

# %% [markdown]
# ## By chapter

# %%
display(claims.groupby("chapter", sort=False)["holds"].agg(hold="sum", claims="count")
        .assign(**{"do not hold": lambda d: d["claims"] - d["hold"]}))
