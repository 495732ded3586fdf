# linpath: `make demo` first, then `make test`. Every target installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.install-stamp
SCALE ?= full

.PHONY: install demo test test-all lint bench

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

demo: install
	$(PY) run.py experiment=spiral_mlp hydra.run.dir=outputs/demo
	@echo "figure: outputs/demo/interpolation.png   results: outputs/demo/results.json"

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m "not gpu"

lint: install
	$(VENV)/bin/ruff check .
