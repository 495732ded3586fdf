# linpath: `make demo` first, then `make test`. Every target installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.install-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
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

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Rows a-e of issue 5, each a ratio measured side by side; about 5-10 min on a 2-core CPU.
bench: $(BENCH_STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m benchmarks
