# linpath: `make demo` first, then `make test`. Every target installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.install-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
SCALE ?= full

.PHONY: install demo test test-all test-gpu lint bench

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

# The tests marked gpu (the data pipeline and the engine on CUDA); each skips without CUDA.
test-gpu: install
	$(PY) -m pytest -q -m gpu

lint: install
	$(VENV)/bin/ruff check .

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Rows a-e of issue 5, f (loss planes) and g (the digits ViT), each a ratio measured side by
# side; about 6-12 min on a 2-core CPU.
bench: $(BENCH_STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m benchmarks

# ---- paper figures and tables ----------------------------------------------------------
# `make fig7` runs `python -m sweeps.run_target fig7`: the target's sweeps as paper/targets.py
# lists them (staged ones once per earlier run), then its report, which writes
# reports/fig7/ (figure, CSV, Markdown) from the runs whose training matches the target's
# settings. `SCALE=smoke` runs the same code in seconds (two seeds, tiny data, CIFAR and
# ImageNet-weight stand-ins in data/smoke); `make smoke-all` runs every target so.
PAPER_TARGETS := fig1a fig1b fig2a fig2b fig3 tableA3 fig4 fig5 fig6 figA15 fig7 fig8 fig9 \
	table2 fig10 figA17 figA18 figA19 table1 tableA4 appF bias_view attention
.PHONY: $(PAPER_TARGETS) smoke-all plan

SMOKE_DATA := data/smoke
DATA_ARGS_smoke := --data-root $(SMOKE_DATA)
DATA_DEPS_smoke := $(SMOKE_DATA)/.written
# ImageNet stand-ins for init=pretrained at smoke width, where torchvision's cache (ResNets)
# and the Hugging Face cache (timm's ViT) would be
ifeq ($(SCALE),smoke)
export TORCH_HOME := $(abspath $(SMOKE_DATA)/torch)
export HF_HUB_CACHE := $(abspath $(SMOKE_DATA)/huggingface)
endif
# Fig. 1A and bias_view train on MNIST (data/MNIST/raw) at full scale; `make fig1a DIGITS=1`
# trains on scikit-learn's digits instead, the stand-in SCALE=smoke always uses, and its
# reports say "digits stand-in".
DIGITS ?=
RUN_TARGET = $(PY) -m sweeps.run_target --scale $(SCALE) $(DATA_ARGS_$(SCALE)) \
	$(if $(DIGITS),--digits)

$(SMOKE_DATA)/.written: sweeps/smoke_data.py | install
	$(PY) -m sweeps.smoke_data $(SMOKE_DATA)
	touch $@

$(PAPER_TARGETS): install $(DATA_DEPS_$(SCALE))
	$(RUN_TARGET) $@

# Beyond the paper (its Sec. 8): `make attention` runs the interventions on the digits ViT,
# ViT-Tiny on CIFAR-10 (a GPU's work) and the modular-addition GPT-2, and writes
# reports/attention/ (paper.attention): Table 1's columns per intervention, the ResNet-18
# row beside it, and modular addition's memorisation and generalisation milestones.
# Table A3 is Fig. 3's runs; Table 1 reads every run the other targets made.
tableA3: fig3

# What the targets cost: runs needed, distinct trainings, how many exist, epochs left.
# `make plan` for every target, `make plan TARGET="fig7 table2"` for some, SCALE=smoke.
plan: install
	$(PY) -m sweeps.plan --scale $(SCALE) $(TARGET)

smoke-all:
	$(MAKE) SCALE=smoke $(filter-out table1,$(PAPER_TARGETS))
	$(MAKE) SCALE=smoke table1

# ---- beyond the straight line (not in the paper) ----------------------------------------
# The training trajectory against the path with two loss planes (spiral_mlp, 10 seeds), and
# the ICLR 2023 biased view: every bias_view run's (alpha_w, alpha_b) grid and the correlation
# of plateau length with the class-bias spread. Reports: reports/trajectory, reports/biased_view.
# Their multiruns: `$(call sweep,EXPERIMENT,OVERRIDES)` at $(SCALE) (bias_view on digits).
.PHONY: trajectory biased_view
ARGS_bias_view := data=digits
sweep = $(PY) run.py -m experiment=$(1) $(if $(filter smoke,$(SCALE)),scale=smoke seed=0$(comma)1) \
	$(ARGS_$(1)) $(2)
comma := ,
REPORT = $(PY) -m paper.report --scale $(SCALE)
trajectory: install
	$(call sweep,spiral_mlp,beyond=trajectory)
	$(REPORT) trajectory

biased_view: install
	$(call sweep,bias_view,beyond=weights_biases)
	$(REPORT) biased_view
