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

# Rows a-e of issue 5 and f (loss planes), each a ratio measured side by side; about 6-12 min
# on a 2-core CPU.
bench: $(BENCH_STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m benchmarks

# ---- paper figures and tables (PAPER.md's catalogue) -------------------------------------
# `make fig7` runs the experiment's multirun(s), then `python -m sweeps.report fig7`, which
# writes reports/fig7/ (figure, CSV, Markdown). `SCALE=smoke` runs the same code in seconds
# (two seeds, tiny data, CIFAR and ImageNet-weight stand-ins in data/smoke); `make smoke-all` runs every target so.
PAPER_TARGETS := fig1a fig1b fig2a fig2b fig3 tableA3 fig4 fig5 fig6 figA15 fig7 fig8 fig9 \
	table2 fig10 figA17 figA18 figA19 table1 tableA4 bias_view
.PHONY: $(PAPER_TARGETS) smoke-all plan

# Experiments of the one-stage targets; staged targets are written out below.
EXPERIMENTS_fig1a := mnist_mlp spiral_mlp
EXPERIMENTS_fig1b := blockwise
EXPERIMENTS_fig2a := pretrained
EXPERIMENTS_fig2b := random_labels
EXPERIMENTS_fig6 := data_fraction
EXPERIMENTS_figA15 := augmentation
EXPERIMENTS_fig7 := weight_decay
EXPERIMENTS_fig8 := fixed_lr
EXPERIMENTS_fig10 := depth
EXPERIMENTS_figA17 := mlp_width
EXPERIMENTS_figA18 := bn_groups
EXPERIMENTS_figA19 := vgg_bn
EXPERIMENTS_tableA4 := narrowing
EXPERIMENTS_bias_view := bias_view bias_view_resnet
ONE_STAGE_TARGETS := fig1a fig1b fig2a fig2b fig6 figA15 fig7 fig8 fig10 figA17 figA18 \
	figA19 tableA4 bias_view

# MNIST is not on disk here: scikit-learn's digits stand in (`make fig1a MNIST_ARGS=` for MNIST).
MNIST_ARGS ?= data=digits
ARGS_mnist_mlp = $(MNIST_ARGS)
ARGS_bias_view = $(MNIST_ARGS)
DATA_FREE_EXPERIMENTS := mnist_mlp spiral_mlp mlp_width bias_view
SMOKE_DATA := data/smoke
SCALE_ARGS_smoke := scale=smoke
SEEDS_smoke := seed=0,1
DATA_ARGS_smoke := data.root=$(SMOKE_DATA) data.check_integrity=false
DATA_DEPS_smoke := $(SMOKE_DATA)/.written
# ImageNet stand-ins for init=pretrained at smoke width, where torchvision's cache would be
ifeq ($(SCALE),smoke)
export TORCH_HOME := $(abspath $(SMOKE_DATA)/torch)
endif
# A run whose training config matches a finished run's (outputs/, multirun/, stages/) is
# evaluated from that run instead of trained again; REUSE=false trains everything anew.
REUSE ?= true
# the experiment's own overrides at $(SCALE): scale, data (CIFAR experiments), MNIST stand-in
scaled = experiment=$(1) reuse=$(REUSE) $(SCALE_ARGS_$(SCALE)) $(ARGS_$(1)) \
	$(if $(filter $(1),$(DATA_FREE_EXPERIMENTS)),,$(DATA_ARGS_$(SCALE)))
# $(call sweep,EXPERIMENT[,OVERRIDES]): the experiment's multirun over its seeds and axes
sweep = $(PY) run.py -m $(call scaled,$(1)) $(SEEDS_$(SCALE)) $(2)
# $(call latest,EXPERIMENT[,--with KEY=VALUE --shape B]): the newest run directory of it
latest = $(PY) -m sweeps.stage latest $(1) --scale $(SCALE) $(2)
REPORT = $(PY) -m sweeps.report --scale $(SCALE)

$(SMOKE_DATA)/.written: | install
	$(PY) -m sweeps.smoke_data $(SMOKE_DATA)
	touch $@

$(PAPER_TARGETS): install $(DATA_DEPS_$(SCALE))

$(ONE_STAGE_TARGETS):
	$(foreach experiment,$(EXPERIMENTS_$@),$(call sweep,$(experiment)) && ) true
	$(REPORT) $@

# Fig. 3 / Table A3: start at the barrier of a no-WD base run (a shape-B one at full scale),
# and 5 grid steps before / after it (1 step on the smoke scale's 11-point grid).
BARRIER_SHAPE_full := --shape B
BARRIER_OFFSETS_smoke := init.offset=-1,0,1
fig3:
	$(call sweep,blockwise,optimizer.weight_decay=0)
	run=$$($(call latest,blockwise,--with optimizer.weight_decay=0 $(BARRIER_SHAPE_$(SCALE)))) \
		&& $(call sweep,barrier_init,init.from_run=$$run $(BARRIER_OFFSETS_$(SCALE)))
	$(REPORT) $@

tableA3: fig3
	$(REPORT) tableA3

# Earlier stages: one run each (seed 0), made once per scale and reused (delete to redo).
STAGES := stages/$(SCALE)
$(STAGES)/base/results.json: | install $(DATA_DEPS_$(SCALE))
	$(PY) run.py $(call scaled,blockwise) seed=0 hydra.run.dir=$(@D)
$(STAGES)/random_labels/results.json: | install $(DATA_DEPS_$(SCALE))
	$(PY) run.py $(call scaled,random_labels) init=random_labels seed=0 hydra.run.dir=$(@D)

# Fig. 4: reset unit k of a trained base run to a fresh init.
fig4: $(STAGES)/base/results.json
	$(call sweep,partial_pretraining,init.from_run=$(<D))
	$(REPORT) $@

# Fig. 5: unit k from a random-label run, the rest a fresh init.
fig5: $(STAGES)/random_labels/results.json
	$(call sweep,blockwise_adversarial,init.from_run=$(<D))
	$(REPORT) $@

# Fig. 9 / Table 2: the paper's barrier units (listed in conf/optim), or with
# UNIT_GROUPS=measured those whose unit path has a barrier in a base run (optim.groups_from).
UNIT_GROUPS ?= listed
GROUPS_RUN_measured := $(STAGES)/base/results.json
EXPERIMENT_fig9 := layer_lr
EXPERIMENT_table2 := layer_lr_wd
fig9 table2: $(GROUPS_RUN_$(UNIT_GROUPS))
	$(call sweep,$(EXPERIMENT_$@),$(if $(GROUPS_RUN_$(UNIT_GROUPS)),\
		optim.groups_from=$(dir $(GROUPS_RUN_$(UNIT_GROUPS)))))
	$(REPORT) $@

# Table 1 from every run found at $(SCALE), after App. F's no-BN ResNet-18.
table1:
	$(call sweep,no_bn)
	$(REPORT) appF
	$(REPORT) table1

# What the targets cost: runs needed, distinct trainings, how many exist, epochs left.
# `make plan` for every target, `make plan TARGET="fig7 table2"` for some, SCALE=smoke.
plan: install
	$(PY) -m sweeps.plan --scale $(SCALE) $(TARGET)

# Table 1 last: it reads every run the other targets made.
smoke-all:
	$(MAKE) SCALE=smoke $(filter-out table1,$(PAPER_TARGETS))
	$(MAKE) SCALE=smoke table1

# ---- beyond the straight line (not in the paper) ----------------------------------------
# The training trajectory against the path with two loss planes (spiral_mlp, 10 seeds), and
# the ICLR 2023 biased view: every bias_view run's (alpha_w, alpha_b) grid and the correlation
# of plateau length with the class-bias spread. Reports: reports/trajectory, reports/biased_view.
.PHONY: trajectory biased_view
trajectory: install
	$(call sweep,spiral_mlp,beyond=trajectory)
	$(REPORT) trajectory

biased_view: install
	$(call sweep,bias_view,beyond=weights_biases)
	$(REPORT) biased_view
