# Two commands do all the set-up on a fresh machine (Python 3.11, Java 17):
#   make demo   creates .venv, installs streambt, runs the example backtest on DuckDB
#   make test   installs the dev extras and runs the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
DEV_EXTRAS ?= dev

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade "pip>=24"

$(VENV)/.core: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PIP) -e ".[$(DEV_EXTRAS)]"
	bash install-talib.sh $(BIN)/python
	touch $@

demo: $(VENV)/.core
	$(BIN)/streambt run examples/sma_cross.toml --out runs/demo

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check streambt tests benchmarks
	$(BIN)/ruff format --check streambt tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_sma_cross.py --json benchmarks/out/sma_cross.json

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache
