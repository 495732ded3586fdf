"""Every paper figure and table as a target: the sweeps that make it, its paths, its numbers.

This is the one table of what each `make TARGET` runs: `python -m sweeps.run_target TARGET`
runs its sweeps in order and then its report, and the report takes the runs whose
training matches those sweeps' settings (`paper.settings`). `TARGETS[name].sweeps` lists
them. A paper row names the overrides a setting must have (`key=value`, numbers compared
by value; `experiment=NAME` matches the experiment) and the values the paper gives for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

NEW_INIT_PATHS = ("full", "final_to_new_init", "init_to_new_init")
# Fig. 1A's left panel is MNIST (60,000 images) and so is every full-scale run; scikit-learn's
# digits (1,257 training images: it overfits) stands in at smoke scale and with `--digits`
# (`make fig1a DIGITS=1`), and every title and report made from it says so.
MNIST_STAND_IN = "data=digits"
STAND_IN_NAME = "digits stand-in"


def stand_in_used(scale: str, digits: bool) -> bool:
    """Whether a sweep with a stand-in trains on it: at smoke scale, or when asked."""
    return digits or scale == "smoke"


VGG11 = "model=vgg11_bn"  # one VGG-11 everywhere: 8 conv + 1 FC (conf/model/vgg11_bn.yaml)
# its barrier layers, conv 3-7 (conf/optim/vgg11_barriers.yaml: Fig. A16 against Table A4)
VGG11_BARRIERS = (VGG11, "optim=vgg11_barriers")


@dataclass(frozen=True)
class SeedsUntil:
    """Seeds trained in order, a batch at a time, until `runs` of them have a full path of
    `shape` or `cap` seeds were tried (smoke scale: `smoke_runs`, `smoke_cap`)."""

    shape: str
    runs: int
    cap: int
    smoke_runs: int = 2
    smoke_cap: int = 3

    def at(self, scale: str) -> tuple[int, int]:
        """(runs wanted, seed cap) at `scale`."""
        return (self.smoke_runs, self.smoke_cap) if scale == "smoke" else (self.runs, self.cap)


@dataclass(frozen=True)
class Sweep:
    """One multirun of a target: `experiment` with `overrides`, over the experiment's own
    sweep axes and any sweep in `overrides` (a comma list). `smoke` adds overrides at
    scale=smoke; `seeds` replaces the experiment's seed axis at full scale. `until` trains
    more seeds after those (`SeedsUntil`). `stand_in` swaps MNIST for the digits stand-in
    (`stand_in_used`); `on_stand_in` is the sweep as it then runs, titled so.

    A staged sweep (`from_sweep`, the `name` of an earlier sweep of the same target) runs
    once per earlier run, at that run's seed, with `option=RUN_DIR`; `shape` keeps only the
    earlier runs whose full path has that shape. Its report counts, of the earlier sweep,
    only the runs a staged run started from.
    """

    experiment: str
    overrides: tuple[str, ...] = ()
    name: str = ""
    title: str = ""
    smoke: tuple[str, ...] = ()
    seeds: str | None = None
    until: SeedsUntil | None = None
    stand_in: str | None = None
    from_sweep: str | None = None
    option: str = "init.from_run"
    shape: str | None = None

    @property
    def panel(self) -> str:
        """The figure row of this sweep's settings."""
        return self.title or " ".join((self.experiment, *self.overrides))

    def on_stand_in(self) -> Sweep:
        if self.stand_in is None:
            return self
        title = self.title.replace("MNIST", STAND_IN_NAME)
        return replace(self, overrides=(*self.overrides, self.stand_in), title=title)


@dataclass(frozen=True)
class PaperRow:
    """The paper's numbers for the setting(s) that have every override in `match`."""

    match: tuple[str, ...]
    values: dict[str, float]
    label: str = ""


@dataclass(frozen=True)
class Target:
    """One paper figure or table: its sweeps, the paths it shows, the paper's numbers.

    `trains=False`: the target reads the runs another make target makes (its
    prerequisite in the Makefile) and only writes its report; `also_reports` are report
    targets written after this one's sweeps; `panels` names extra figures
    (`paper.panels`: training_speed, accuracy_per_unit, unit_paths).
    """

    name: str
    title: str
    sweeps: tuple[Sweep, ...]
    # path keys, or prefixes ending in '*' ('unit/*' is every unit path)
    paths: tuple[str, ...] = ("full",)
    paper: tuple[PaperRow, ...] = field(default_factory=tuple)
    trains: bool = True
    also_reports: tuple[str, ...] = ()
    panels: tuple[str, ...] = ()

    @property
    def experiments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.experiment for s in self.sweeps))

    @property
    def stem(self) -> str:
        """File name stem: the paper's figure, then its experiments: fig7_weight_decay."""
        return "_".join((self.name, *self.experiments))

    def titled(self, stand_in: bool) -> str:
        """The title, saying "digits stand-in" where a sweep trained on it."""
        if stand_in and any(s.stand_in for s in self.sweeps):
            return self.title.replace("MNIST", STAND_IN_NAME)
        return self.title

    def shows(self, path: str) -> bool:
        return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in self.paths)


def _acc(*rows: tuple[tuple[str, ...], float, str]) -> tuple[PaperRow, ...]:
    return tuple(PaperRow(match, {"test_acc": acc}, label) for match, acc, label in rows)


# Table 2: one `table2=ROW` config per row (conf/table2/); ResNet-18, and VGG-11 with
# `model=vgg11_bn`. The base row (lr 0.1 and WD for all units) is the paper's "lr 0.1 all"
# and "WD all" at once.
_TABLE2 = [
    ("lr_all", 92.2, 91.9, "lr 0.1 all / WD all"),
    ("lr_b", 91.8, 92.0, "lr 0.1 (B), 0.01 (NB)"),
    ("lr_nb", 90.1, 90.4, "lr 0.01 (B), 0.1 (NB)"),
    ("lr_none", 90.3, 90.9, "lr 0.01 all"),
    ("wd_b", 91.5, 91.8, "WD (B) only"),
    ("wd_nb", 90.1, 90.2, "WD (NB) only"),
    ("wd_none", 90.1, 90.4, "no WD"),
]
TABLE2_PAPER = tuple(
    row
    for name, resnet, vgg, label in _TABLE2
    for row in (
        PaperRow((f"table2={name}",), {"test_acc": resnet}, f"ResNet-18: {label}"),
        PaperRow((f"table2={name}", VGG11), {"test_acc": vgg}, f"VGG-11: {label}"),
    )
)

TABLE_A3_PAPER = (
    PaperRow(
        ("experiment=blockwise", "optimizer.weight_decay=0"),
        {"train_acc": 99.44, "test_acc": 90.01},
        "random init",
    ),
    PaperRow(("init.offset=-5",), {"train_acc": 99.80, "test_acc": 91.05}, "before barrier"),
    PaperRow(("init.offset=0",), {"train_acc": 99.86, "test_acc": 91.12}, "height of barrier"),
    PaperRow(("init.offset=5",), {"train_acc": 99.88, "test_acc": 90.85}, "after barrier"),
)

# Table A4: the 8 conv widths of VGG-11-BN (conf/experiment/narrowing.yaml).
TABLE_A4_PAPER = _acc(
    (("model.widths=[64,128,256,256,512,512,512,512]",), 91.93, "standard"),
    (("model.widths=[32,64,256,256,512,512,512,256]",), 91.73, "narrow no-barrier"),
    (("model.widths=[64,128,128,256,512,512,512,512]",), 91.53, "narrow 1 barrier"),
    (("model.widths=[64,128,128,128,512,512,512,512]",), 91.25, "narrow 2 barrier"),
    (("model.widths=[64,128,128,128,256,256,256,512]",), 91.15, "narrow all barrier"),
)

FIXED_LR_PAPER = tuple(
    PaperRow((f"optimizer.lr={lr}",), {"distance": d}, f"lr {lr}")
    for lr, d in (("0.1", 1.03), ("0.01", 0.88), ("0.001", 0.22))
)

BASE_PAPER = _acc((("experiment=blockwise",), 92.2, "ResNet-18 base"))
VGG_PAPER = _acc((("experiment=vgg_bn", "model=vgg11_bn"), 91.9, "VGG-11 base"))

# Fig. 3 / Table A3: "For the runs that exhibit barriers, we save the model state at the
# height of the barrier" of ResNet-18 without weight decay; "Results are presented over 5
# runs ... from a initialization corresponding to the height of the barrier along each
# blue line" (Fig. 3's caption: each of the 5 scratch lines has a barrier). Our reading:
# 5 runs that exhibit a barrier, so scratch seeds are trained in order (0-4, then as many
# more as barriers are missing) until 5 have one (tolerant shape B) or 20 seeds were tried;
# the report says how many it has and which seeds were tried. The height of the barrier is
# its peak (`barrier_peak_alpha`); the paper's was above L(0) ("initialized at a higher
# loss than occurs at random initialization"). Offsets -5, 0, +5 grid steps (+-1 on the
# smoke scale's 11-point grid); one that leaves the path is skipped with a note. The
# scratch line and Table A3's "random init" row are the barrier runs' sources.
FIG3_BARRIER_RUNS = SeedsUntil("B", runs=5, cap=20)
FIG3_SWEEPS = (
    Sweep(
        "blockwise",
        ("optimizer.weight_decay=0",),
        name="scratch",
        title="scratch (no weight decay)",
        # two smoke epochs leave the test loss climbing to theta_f (an end rise, ER): counted
        # as a barrier there, so the smoke run exercises the barrier stage
        smoke=("interpolation.end_rise_as_barrier=true",),
        seeds="range(5)",
        until=FIG3_BARRIER_RUNS,
    ),
    Sweep(
        "barrier_init",
        name="barrier",
        title="init at the barrier",
        smoke=("init.offset=-1,0,1",),
        from_sweep="scratch",
        shape="B",
    ),
)
NO_BN = (Sweep("no_bn"),)
# Beyond the paper (its Sec. 8): the interventions on attention models (paper.attention).
# Each sweep titled by its network, data and what it varies (the figure's panels).
ATTENTION = {
    "vit_digits": "ViT on digits, AdamW (the control)",
    "vit_optimizer": "ViT on digits, SGD with momentum",
    "vit_lr": "ViT on digits, learning rates", "vit_weight_decay": "ViT on digits, weight decay",
    "vit_warmup": "ViT on digits, no warmup", "vit_data_fraction": "ViT on digits, less data",
    "vit_pretrained": "ViT-Tiny on CIFAR-10, scratch and ImageNet pre-training",
    "modadd": "GPT-2 on a + b mod 97, AdamW (the control)",
    "modadd_optimizer": "GPT-2 on a + b mod 97, SGD with momentum",
    "modadd_lr": "GPT-2, learning rates", "modadd_weight_decay": "GPT-2, weight decay",
    "modadd_warmup": "GPT-2, no warmup", "modadd_data_fraction": "GPT-2, training fractions",
}  # fmt: skip
# Beyond the paper: the full path's rise split among its units, beside every unit path.
DIAGNOSED = (
    "interpolation.paths=[full,unit/*]",
    "interpolation.diagnostics=[attribution,curvature,agreement]",
    "interpolation.diagnosed_paths=[full]",
)

TARGETS = {
    t.name: t
    for t in (
        Target(
            "fig1a",
            "Fig. 1A: MLP on MNIST and on the spiral",
            (
                Sweep("mnist_mlp", title="MLP on MNIST", stand_in=MNIST_STAND_IN),
                Sweep("spiral_mlp", title="MLP on spiral"),
            ),
            NEW_INIT_PATHS,
        ),
        Target(
            "fig1b",
            "Fig. 1B / A11: ResNet-18 unit paths",
            (Sweep("blockwise"),),
            ("full", "unit/*"),
            BASE_PAPER,
        ),
        Target(
            "fig2a",
            "Fig. 2A: ImageNet pre-training (ResNet-18 on CIFAR-10, ResNet-50 on CIFAR-100)",
            (
                Sweep("pretrained", title="ResNet-18, CIFAR-10"),
                Sweep(
                    "pretrained", ("model=resnet50", "data=cifar100"), title="ResNet-50, CIFAR-100"
                ),
            ),
            ("full", "final_to_new_init"),
        ),
        Target(
            "fig2b",
            "Fig. 2B: random-label pre-training",
            (Sweep("random_labels"),),
            ("full", "unit/*"),
        ),
        Target(
            "fig3",
            "Fig. 3 / A12: init at the barrier",
            FIG3_SWEEPS,
            ("full",),
            TABLE_A3_PAPER,
            panels=("training_speed",),
        ),
        Target(
            "tableA3",
            "Table A3: init at the barrier (train / test acc)",
            FIG3_SWEEPS,
            ("full",),
            TABLE_A3_PAPER,
            trains=False,
        ),
        Target(
            "fig4",
            "Fig. 4: partial (pre-)training",
            (
                Sweep("blockwise", name="base", title="scratch (base)"),
                Sweep("partial_pretraining", title="reset unit k (RI-k)", from_sweep="base"),
            ),
            ("full", "unit/*"),
            panels=("accuracy_per_unit",),
        ),
        Target(
            "fig5",
            "Fig. 5 / A13: unit k from random-label training",
            (
                Sweep(
                    "random_labels",
                    ("init=random_labels",),
                    name="random_labels",
                    title="random-label pre-training",
                ),
                Sweep(
                    "blockwise_adversarial",
                    title="unit k from random-label training",
                    from_sweep="random_labels",
                ),
            ),
            ("full", "unit/*"),
        ),
        Target(
            "fig6",
            "Fig. 6 / A14: data fraction x augmentation",
            (Sweep("data_fraction"),),
            ("full", "unit/*"),
        ),
        Target("figA15", "Fig. A15: augmentation", (Sweep("augmentation"),), ("full", "unit/*")),
        Target("fig7", "Fig. 7: weight decay", (Sweep("weight_decay"),)),
        Target(
            "fig8",
            "Fig. 8 / App. E: fixed learning rate",
            (Sweep("fixed_lr"),),
            ("full",),
            FIXED_LR_PAPER,
        ),
        Target(
            "fig9",
            "Fig. 9 / A16: smaller lr for units with barriers (ResNet-18, VGG-11)",
            (
                Sweep("layer_lr", title="ResNet-18"),
                Sweep("layer_lr", VGG11_BARRIERS, title="VGG-11"),
            ),
            ("full", "unit/*"),
        ),
        Target(
            "table2",
            "Table 2: lr and weight decay per unit group (ResNet-18, VGG-11)",
            (
                Sweep("layer_lr_wd", title="ResNet-18"),
                Sweep("layer_lr_wd", VGG11_BARRIERS, title="VGG-11"),
            ),
            ("full",),
            TABLE2_PAPER,
        ),
        Target("fig10", "Fig. 10: depth", (Sweep("depth"),), ("full", "unit/*")),
        Target(
            "figA17",
            "Fig. A17: 8-layer MLP width on spiral (left: layer-wise paths of 50 all)",
            (Sweep("mlp_width"),),
            ("full", "unit/*"),
            panels=("unit_paths",),
        ),
        Target(
            "figA18",
            "Fig. A18: groups inside unit layer3",
            (Sweep("bn_groups"),),
            ("full", "unit/layer3", "group/*"),
        ),
        Target(
            "figA19",
            "Fig. A19: VGG-11 with / without BN",
            (Sweep("vgg_bn"),),
            ("full", "unit/*"),
            VGG_PAPER,
        ),
        Target(
            "tableA4",
            "Table A4: narrowing VGG-11-BN layers (8 conv + 1 FC)",
            (Sweep("narrowing"),),
            ("full",),
            TABLE_A4_PAPER,
        ),
        # `make appF`: the no_bn runs Table 1's "No batch normalization" row reads. Fig. A16 is
        # fig9's figure (its unit paths), no target of its own.
        Target("appF", "App. F: ResNet-18 without BN", NO_BN, ("full", "unit/*")),
        Target(
            "table1",
            "Table 1: interventions against their matched controls",
            NO_BN,
            also_reports=("appF",),
        ),
        Target(
            "attribution",
            "Which unit makes the barrier: the full path's rise split among its units",
            (
                Sweep("spiral_mlp", DIAGNOSED, title="MLP 2x50, spiral"),
                Sweep("mnist_mlp", DIAGNOSED, title="MLP 2x50, MNIST", stand_in=MNIST_STAND_IN),
                Sweep("blockwise", DIAGNOSED, title="ResNet-18, CIFAR-10 (Fig. 1B)"),
            ),
            ("full", "unit/*"),
        ),
        Target(
            "attention",
            "Attention models: the paper's interventions on a ViT and a GPT-2",
            tuple(Sweep(e, title=title) for e, title in ATTENTION.items()),
            ("full", "unit/*"),
        ),
        Target(
            "bias_view",
            "ICLR 2023: weights vs biases (MLP on MNIST, ResNet-18 on CIFAR-10)",
            (
                Sweep("bias_view", title="MLP on MNIST", stand_in=MNIST_STAND_IN),
                Sweep("bias_view_resnet", title="ResNet-18 on CIFAR-10"),
            ),
            ("full", "weights", "biases"),
        ),
    )
}
