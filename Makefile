# The two commands of the README: `make test` and `make book`. Both start from nothing but Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_MIRROR ?= ../shared/data
PROFILE ?= default

.PHONY: venv data test book notebooks chapter readme verify reproduce reference lint bench lock clean

# requirements.txt is the hashed lock of pyproject.toml (runtime + book + test extras): `make lock`.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

data: venv
	$(BIN)/diva fetch --mirror "$(DATA_MIRROR)" all

# Datasets that cannot be prepared (no mirror, no network) skip the tests that need them, naming the fix.
test: venv
	-$(BIN)/diva fetch --mirror "$(DATA_MIRROR)" all
	$(BIN)/python -m pytest -q -rs -n 2 --dist loadfile --durations=15

lint: venv
	$(BIN)/ruff check diva_lib tests data_scripts benchmarks book notebooks

# Execute every notebook with papermill in $(PROFILE) (timings in results/$(PROFILE)/timings.json).
notebooks: data
	$(BIN)/python book/execute.py --profile $(PROFILE)

# One chapter with its own parameters, into .runs/ (results/ stays the reference):
#   make chapter NB=04_quantization PARAMS="n_eval=200 seed=1"
chapter: data
	DIVA_RESULTS=$(CURDIR)/.runs $(BIN)/python book/execute.py --profile $(PROFILE) --only $(NB) \
		--out .runs/notebooks --param $(PARAMS)

# Rewrite the README's results block from results/default.
readme: venv
	$(BIN)/python -c "from diva_lib import report; report.write_readme_summary('README.md', 'results/default')"

# The book of the committed reference run (results/default/notebooks), executing nothing; with
# EXECUTE=1, or any profile but default, every notebook is executed here first.
book: venv
ifeq ($(EXECUTE)$(filter-out default,$(PROFILE)),)
	$(BIN)/python book/prepare.py --reference results/default
else
	$(MAKE) notebooks PROFILE=$(PROFILE)
	$(BIN)/python book/prepare.py --executed $(PROFILE)
endif
	$(BIN)/jupyter-book build --quiet .
	@echo "Book: $(CURDIR)/_build/html/index.html"

# Re-run every notebook into .verify/ (with whatever caches exist) and compare each number with
# the committed results/$(PROFILE), chapter by chapter. `make verify` recomputes every attack too.
reproduce: data
	DIVA_RESULTS=$(CURDIR)/.verify $(BIN)/python book/execute.py --profile $(PROFILE) --out .verify/notebooks
	$(BIN)/python book/verify.py --reference results/$(PROFILE) --fresh .verify/$(PROFILE)

verify: data
	DIVA_RESULTS=$(CURDIR)/.verify DIVA_ATTACK_CACHE_MODE=refresh $(BIN)/python book/execute.py --profile $(PROFILE) --out .verify/notebooks
	$(BIN)/python book/verify.py --reference results/$(PROFILE) --fresh .verify/$(PROFILE)

# Make the finished run in .verify/ the committed reference, with the stamp of this code.
reference: venv
	$(BIN)/diva reference promote --run .verify/$(PROFILE) --notebooks .verify/notebooks --results results/$(PROFILE)

bench: data
	$(BIN)/python benchmarks/bench_attacks.py --profile $(PROFILE)
	$(BIN)/python benchmarks/bench_paper_data.py --profile $(PROFILE)
	$(BIN)/python benchmarks/bench_audit.py --profile $(PROFILE)
	$(BIN)/python benchmarks/bench_recipes.py --profile $(PROFILE)

# Re-compile the hashed lock from pyproject.toml (existing pins are kept unless UPGRADE=--upgrade).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet uv
	.lock-venv/bin/uv pip compile pyproject.toml --extra book --extra test --generate-hashes $(UPGRADE) \
		--python-version 3.11.7 --python-platform x86_64-unknown-linux-gnu -o requirements.txt
	rm -rf .lock-venv

clean:
	rm -rf _build book/notebooks .cache
