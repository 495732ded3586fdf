# linpath: `make demo` first, then `make test`. Every target installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.install-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
SCALE ?= full

.PHONY: help install demo test test-all test-gpu lint bench

# `make help`: every target, one line each (paper targets with their cost at each scale)
help: install
	@sed -n 's/^\([a-z_-]*\):.*## \(.*\)/  make \1\t\2/p' $(MAKEFILE_LIST) | expand -t 24
	@$(PY) -m sweeps.plan --catalogue

install: $(STAMP)  ## the virtualenv .venv with linpath installed (every target does it first)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

demo: install  ## spiral MLP, 1000 epochs, its paths and figure (about a minute on a CPU)
	$(PY) run.py experiment=spiral_mlp hydra.run.dir=outputs/demo overwrite=true

test: install  ## the default tests (CPU, a few minutes)
	$(PY) -m pytest -q

test-all: install  ## every test but the GPU ones (slow: full MLP runs, DDP, resume)
	$(PY) -m pytest -q -m "not gpu"

# The tests marked gpu (the data pipeline and the engine on CUDA); each skips without CUDA.
test-gpu: install  ## the tests marked gpu (the data pipeline and the engine on CUDA)
	$(PY) -m pytest -q -m gpu

lint: install  ## ruff
	$(VENV)/bin/ruff check .

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Rows a-e of issue 5, f-g (loss planes), h (attribution) and i (the digits ViT), each a
# ratio measured side by side; about 6-12 min on a 2-core CPU.
bench: $(BENCH_STAMP)  ## speed ratios measured side by side (6-12 min on a 2-core CPU)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m benchmarks

# ---- paper figures and tables ----------------------------------------------------------
# `make fig7` runs `python -m sweeps.run_target fig7`: the target's sweeps as paper/targets.py
# lists them (staged ones once per earlier run), then its report, which writes
# reports/fig7/ (figure, CSV, Markdown) from the runs whose training matches the target's
# settings. `SCALE=smoke` runs the same code in seconds (two seeds, tiny data, CIFAR and
# ImageNet-weight stand-ins in data/smoke); `make smoke-all` runs every target so.
PAPER_TARGETS := fig1a fig1b fig2a fig2b fig3 tableA3 fig4 fig5 fig6 figA15 fig7 fig8 fig9 \
	table2 fig10 figA17 figA18 figA19 table1 tableA4 appF bias_view attribution attention
.PHONY: $(PAPER_TARGETS) paper smoke-all plan

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
plan: install  ## runs, trainings, epochs and estimated time per paper target (SCALE=smoke)
	$(PY) -m sweeps.plan --scale $(SCALE) $(TARGET)

# Every target in one process, Table 1 last: the store is read once, and a sweep or report
# that is up to date is skipped (a second `make smoke-all` trains and reports nothing).
paper: install $(DATA_DEPS_$(SCALE))  ## every paper figure and table in one go (make plan: what it costs)
	$(RUN_TARGET) $(filter-out table1,$(PAPER_TARGETS)) table1

smoke-all:  ## every paper target at smoke scale on a CPU
	$(MAKE) SCALE=smoke paper

# ---- beyond the straight line (not in the paper) ----------------------------------------
# The training trajectory against the path with two loss planes (spiral_mlp, 10 seeds), and
# the ICLR 2023 biased view on the digits MLP: every bias_view run's (alpha_w, alpha_b) grid
# and the correlation of plateau length with the class-bias spread (`make bias_view` is the
# paper-scale target with ResNets). Reports: reports/trajectory, reports/weights_biases.
# Their multiruns: `$(call sweep,EXPERIMENT,OVERRIDES)` at $(SCALE) (bias_view on digits).
.PHONY: trajectory weights_biases
ARGS_bias_view := data=digits
sweep = $(PY) run.py -m experiment=$(1) $(if $(filter smoke,$(SCALE)),scale=smoke seed=0$(comma)1) \
	$(ARGS_$(1)) $(2)
comma := ,
REPORT = $(PY) -m paper.report --scale $(SCALE)
trajectory: install  ## beyond: spiral MLP training trajectory against the path (10 seeds)
	$(call sweep,spiral_mlp,beyond=trajectory)
	$(REPORT) trajectory

weights_biases: install  ## beyond: (alpha_w, alpha_b) grids of the digits MLP (10 seeds)
	$(call sweep,bias_view,beyond=weights_biases)
	$(REPORT) weights_biases
