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
# # Reproduce it
#
# Everything in this book comes from two commands on a machine with Python 3.11 and `make`:
#
# ```bash
# make test    # virtual environment from the pinned requirements.txt, data with SHA-256 checks, pytest
# make book    # every chapter with papermill (default profile), then the HTML book in _build/html
# make verify  # re-run every chapter into .verify/ and compare each number with results/default
# ```
#
# `make book PROFILE=smoke` renders the book in seconds per chapter with meaningless numbers;
# `make book PROFILE=paper` is the paper's setting (below). Everything on this page is generated
# from the notebooks and from the timings the last `make book` recorded, so it cannot drift.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper: the run this page describes
seed = 0  # unused here; kept so every chapter takes the same parameters

# %%
from diva_lib import config

config.get_profile(profile)
config.check_seed(seed)

# %%
import os
import platform
import tempfile
from pathlib import Path

import jupytext
import pandas as pd
import papermill
import psutil
import tensorflow as tf
from IPython.display import Markdown, display

from diva_lib import report

# %% [markdown]
# ## The machine of this run

# %%
display(pd.DataFrame({"": {
    "CPU": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores",
    "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
    "GPU": ", ".join(d.name for d in tf.config.list_physical_devices("GPU")) or "none (CPU only)",
    "Python / TensorFlow": f"{platform.python_version()} / {tf.__version__}",
    "OS": platform.platform(),
}}))

# %% [markdown]
# ## Measured time and memory per chapter
# Wall time of each notebook under papermill and the peak resident memory of its kernel, as
# recorded by `book/execute.py` into `results/<profile>/timings.json`. A cold run (empty
# `.cache/`) trains and converts every model and crafts every adversarial image. A warm run finds
# the models in `.cache/models`, and each attack run, each model's outputs on a set of images
# and each compressed size in `.cache/attacks`, stored under a hash of everything they were computed
# from (the attack and its parameters, the models' weight files, the images), so any change
# recomputes them; a cached model is built only when something has to be computed with it.
# `make verify` recomputes all of them (`DIVA_ATTACK_CACHE_MODE=refresh`);
# `DIVA_ATTACK_CACHE_MODE=off` neither reads nor stores them. A run on full caches is timed with
# `.venv/bin/python book/execute.py --profile default --timings timings_warm`.

# %%
for prof in dict.fromkeys([profile, "default"]):
    for name, what in (("timings", "last `make book`"), ("timings_warm", "run on full caches")):
        path = report.results_path(prof, name)
        if not path.is_file():
            if name == "timings":
                display(Markdown(f"No timings for the `{prof}` profile yet (`make book PROFILE={prof}` writes them)."))
            continue
        t = report.load_json(path)
        rows = {k: {"minutes": v["seconds"] / 60, "peak RSS (GiB)": v["peak_rss_mb"] / 1024}
                for k, v in t.items() if isinstance(v, dict)}
        display(Markdown(f"**{prof}** profile, {what} (`{path.name}`): total {t.get('total_seconds', 0) / 60:.1f} min"))
        display(pd.DataFrame(rows).T.round(2))

# %% [markdown]
# ## Running one chapter
# Any chapter runs on its own with papermill; parameters are validated in the chapter's first
# cell, which stops with a message naming the bad parameter.
#
# ```bash
# .venv/bin/jupytext --to ipynb notebooks/04_quantization.py -o /tmp/q.ipynb
# .venv/bin/papermill /tmp/q.ipynb /tmp/q-out.ipynb -p profile default -p n_whitebox 500
# # or, with timings recorded: .venv/bin/python book/execute.py --profile default --only 04_quantization
# ```
#
# The parameters of every chapter, read from its `parameters` cell:

# %%
rows = []
with tempfile.TemporaryDirectory() as tmp:
    for src in sorted(Path("../notebooks").glob("*.py")):
        nb_path = Path(tmp) / f"{src.stem}.ipynb"
        jupytext.write(jupytext.read(src), nb_path)
        for name, p in papermill.inspect_notebook(str(nb_path)).items():
            rows.append({"notebook": src.stem, "parameter": name, "default": p["default"], "meaning": p["help"]})
with pd.option_context("display.max_colwidth", 200):
    display(pd.DataFrame(rows).set_index(["notebook", "parameter"]))

# %% [markdown]
# ## The `paper` profile
# The paper's setting needs data and weights this repository cannot ship, and a GPU:
#
# 1. ImageNet: the ILSVRC2012 validation images in class folders (`n01440764/…JPEG`), linked with
#    `python data_scripts/fetch.py --imagenet-val /path/to/val` (or `DIVA_IMAGENET_VAL=/path`).
#    The original, QAT and surrogate models are fine-tuned from Keras' ImageNet weights, which
#    TensorFlow downloads on first use.
# 2. A GPU with at least 16 GB: `make book PROFILE=paper`. The chapters use the paper's sizes
#    (3,000 evaluation images, 224×224, 20,000 fine-tuning images, 12,811 surrogate images).
#
# `python data_scripts/fetch.py --help` lists what else can be fetched and verified.
