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
# # Audit your own edge model
#
# The chapters so far attack models this book trained. An engineer about to ship an int8 or pruned
# model wants the same question answered for *their* pair: within an ε-ball around my test images,
# how often can an input fool the deployed model while the full-precision original stays right?
# Quantization debuggers (TFLite's QuantizationDebugger, AI Edge Quantizer, ONNX Runtime's QDQ
# debugger, NNCF's accuracy control) report average-case error on the data given to them; none
# searches for such inputs. `diva audit` does:
#
# ```bash
# diva audit --original fp32.keras --adapted model.tflite [--qat qat.h5] --data test.npz \
#            --eps 2/255,4/255,8/255 --n 500 --out audit/ --fail-above 0.05
# ```
#
# It judges every image on the deployed flatbuffer with LiteRT, after rounding it to the 8-bit
# pixel grid, writes `report.json` and a self-contained `report.html`, and exits with status 1 when
# DIVA's top-1 success at the largest ε exceeds `--fail-above`, so it can gate a release in CI.
# This chapter runs it twice on this book's MobileNet: once with the QAT model as the gradient
# source, and once on a post-training-quantized flatbuffer with no QAT model, where the audit
# distils a surrogate of the deployed model from its outputs (the paper's §4.3 route).

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
seed = 0
n = None  # images attacked per radius (None: smoke 24, default 500, paper 500)
eps = "2/255,4/255,8/255"  # radii, as on the command line
fail_above = 0.05  # the release gate shown below

# %%
from diva_lib import audit, config

cfg = config.get_profile(profile, archs=["mobilenet"])
seed = config.check_seed(seed)
n = config.check_positive_int("n", n if n is not None else {"smoke": 24}.get(profile, 500))
try:
    radii = audit.parse_eps(eps)
except audit.AuditError as e:
    raise config.ParameterError(f"parameter 'eps'={eps!r}: {e}") from e
if not 0 <= fail_above <= 1:
    raise config.ParameterError(f"parameter 'fail_above'={fail_above!r} must be a rate in [0, 1], e.g. 0.05")

# %% [markdown]
# ## The pair under audit
# The audit takes files, as a user would hand them over: the original and the QAT model as Keras
# files, the deployed `.tflite`, and test images as an `.npz` of 8-bit pixels. They go to a folder
# next to the model cache, where each audit keeps its own cache: a rerun resumes instead of attacking again.

# %%
from diva_lib import adapt, audit_report, cache, report, train, zoo

train.set_seed(seed)
data = zoo.load_data(cfg, seed)
entry = zoo.get("mobilenet", cfg, seed, stand_in=data)
work = cache.CACHE_DIR.parent / "audit" / profile
work.mkdir(parents=True, exist_ok=True)
entry.fp32.model.save(work / "fp32.keras")
entry.qat.model.save(work / "qat.h5")
audit.save_images(work / "test.npz", data.x_test, data.y_test);

# %% [markdown]
# ## With the QAT model as the gradient source

# %%
with_qat = audit.run(audit.open_pair(work / "fp32.keras", entry.tflite.path, work / "test.npz", work / "qat.h5"),
                     radii, n, work / "qat-audit", seed)
audit.save(with_qat, work / "qat-audit");

# %% [markdown]
# DIVA's and PGD's top-1 success on the deployed model at each radius, with 95 % Wilson
# intervals; the evasion cost is how much more often PGD than DIVA leaves the deployed model
# wrong whatever the original says.

# %% tags=["hide-input"]
from IPython.display import HTML, display

report.show(audit.summary(with_qat.report))
display(HTML(audit_report.success_figure(with_qat.report)))

# %% [markdown]
# On clean images the report gives both accuracies, the paper's instability (one model right, the
# other wrong) and the disagreement of the two top-1 predictions, and scores each input by the
# original's top-1/top-2 margin: a small margin flags a likely float/int8 disagreement.

# %% tags=["hide-input"]
display(audit.clean_table(with_qat.report))

# %% [markdown]
# Where does the gap grow? Per layer, the relative distance between the original's activations and
# the gradient model's, on clean images and on DIVA's images at the largest radius; then a few of
# DIVA's successful images at that radius.

# %% tags=["hide-input"]
display(HTML(audit_report.layer_figure(with_qat.layers)))
display(HTML(audit_report.example_grid(with_qat.examples)))

# %% [markdown]
# ## A post-training-quantized model, no QAT model
# Many teams ship a flatbuffer from post-training quantization and have no QAT graph. The audit
# then distils the deployed model into a copy of the original and takes its gradients.

# %%
ptq = work / f"ptq_int8-{cache.fingerprint(entry.fp32)}.tflite"  # converted once per original
if not ptq.is_file():
    adapt.to_tflite_int8(entry.fp32.model, ptq, data.x_train[:200])
without_qat = audit.run(audit.open_pair(work / "fp32.keras", ptq, work / "test.npz"), radii, n,
                        work / "ptq-audit", seed)

# %% tags=["hide-input"]
report.show(audit.summary(without_qat.report))
print(f"surrogate agrees with the deployed model on "
      f"{report.pct(without_qat.report['surrogate']['agreement_with_deployed'])} of the attacked images")

# %% [markdown]
# ## As a release gate
# `--fail-above` turns the audit into a CI step: the command exits with status 1 when DIVA's
# top-1 success at the largest radius exceeds the given rate.

# %% tags=["hide-input"]
report.show(audit.gate_table({"QAT-trained int8": with_qat.report, "post-training int8": without_qat.report},
                             fail_above))

# %% [markdown]
# ## What the audit cannot see
# LiteRT on this x86 CPU runs the reference int8 kernels; a phone's delegate (XNNPACK, NNAPI, a
# GPU or NPU) may round differently. Audit the flatbuffer the device runs, and where possible on the
# device's own runtime.

# %% tags=["hide-input"]
result = {**with_qat.report, "post_training_quantized": without_qat.report, "profile": profile, "seed": seed}
report.save_json(result, report.results_path(profile, "audit"));
