# The two commands of the README: `make test` and `make book`. Both start from nothing but Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_MIRROR ?= ../shared/data
PROFILE ?= default
NOTEBOOKS := $(sort $(wildcard notebooks/*.py))
EXECUTED := $(patsubst notebooks/%.py,book/notebooks/%.ipynb,$(NOTEBOOKS))

.PHONY: venv data test book notebooks lint bench lock clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

data: venv
	$(BIN)/python data_scripts/fetch.py --mirror "$(DATA_MIRROR)" all

test: data
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check diva_lib tests data_scripts benchmarks

# Execute every notebook with papermill in $(PROFILE), then render the executed notebooks.
notebooks: data
	@mkdir -p book/notebooks
	@for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb .py); \
	  echo "== $$name ($(PROFILE))"; \
	  $(BIN)/jupytext --quiet --to ipynb -o book/notebooks/.$$name.src.ipynb $$nb || exit 1; \
	  $(BIN)/papermill --cwd notebooks -p profile $(PROFILE) book/notebooks/.$$name.src.ipynb \
	    book/notebooks/.$$name.out.ipynb || exit 1; \
	  mv book/notebooks/.$$name.out.ipynb book/notebooks/$$name.ipynb; \
	  rm -f book/notebooks/.$$name.src.ipynb; \
	done

book: notebooks
	$(BIN)/jupyter-book build --quiet .
	@echo "Book: $(CURDIR)/_build/html/index.html"

bench: data
	$(BIN)/python benchmarks/bench_attacks.py --profile $(PROFILE)

# Re-pin requirements.txt from requirements.in in a scratch environment.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements.in
	.lock-venv/bin/pip freeze > requirements.txt && rm -rf .lock-venv

clean:
	rm -rf _build book/notebooks .cache
