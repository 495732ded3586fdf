"""Every paper figure and table as a report target: its experiments, paths and paper numbers.

The paper's numbers are read from its text, figures and tables (Vlaar & Frankle, ICML
2022); each row names the overrides a setting must have (`key=value`, numbers compared by
value; `experiment=NAME` matches the experiment) and the values the paper gives for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NEW_INIT_PATHS = ("full", "final_to_new_init", "init_to_new_init")


@dataclass(frozen=True)
class PaperRow:
    """The paper's numbers for the setting(s) that have every override in `match`."""

    match: tuple[str, ...]
    values: dict[str, float]
    label: str = ""


@dataclass(frozen=True)
class Target:
    """One paper figure or table: which experiments feed it and which paths it shows."""

    name: str
    title: str
    experiments: tuple[str, ...]
    # path keys, or prefixes ending in '*' ('unit/*' is every unit path)
    paths: tuple[str, ...] = ("full",)
    paper: tuple[PaperRow, ...] = field(default_factory=tuple)

    @property
    def stem(self) -> str:
        """File name stem: the paper's figure, then its experiments: fig7_weight_decay."""
        return "_".join((self.name, *self.experiments))

    def shows(self, path: str) -> bool:
        return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in self.paths)


def _acc(*rows: tuple[tuple[str, ...], float, str]) -> tuple[PaperRow, ...]:
    return tuple(PaperRow(match, {"test_acc": acc}, label) for match, acc, label in rows)


VGG11 = "model=vgg11_bn"

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

# Table A4: VGG-11-BN conv widths (model.widths) as conf/experiment/narrowing.yaml sweeps them.
TABLE_A4_PAPER = _acc(
    (("model.widths=[64,128,256,256,512,512,512,512,512,512]",), 91.93, "standard"),
    (("model.widths=[32,64,128,256,512,512,512,512,512,512]",), 91.73, "narrow no-barrier"),
    (("model.widths=[64,128,256,128,512,512,512,512,512,512]",), 91.53, "narrow 1 barrier"),
    (("model.widths=[64,128,256,128,256,512,512,512,512,512]",), 91.25, "narrow 2 barrier"),
    (("model.widths=[64,128,256,128,256,256,256,256,256,256]",), 91.15, "narrow all barrier"),
)

FIXED_LR_PAPER = tuple(
    PaperRow((f"optimizer.lr={lr}",), {"distance": d}, f"lr {lr}")
    for lr, d in (("0.1", 1.03), ("0.01", 0.88), ("0.001", 0.22))
)

BASE_PAPER = _acc((("experiment=blockwise",), 92.2, "ResNet-18 base"))
VGG_PAPER = _acc((("experiment=vgg_bn", "model=vgg11_bn"), 91.9, "VGG-11 base"))

TARGETS = {
    t.name: t
    for t in (
        Target(
            "fig1a",
            "Fig. 1A: MLP on MNIST (left) and spiral (right)",
            ("mnist_mlp", "spiral_mlp"),
            NEW_INIT_PATHS,
        ),
        Target(
            "fig1b",
            "Fig. 1B / A11: ResNet-18 unit paths",
            ("blockwise",),
            ("full", "unit/*"),
            BASE_PAPER,
        ),
        Target("fig2a", "Fig. 2A: ImageNet pre-training", ("pretrained",)),
        Target(
            "fig2b", "Fig. 2B: random-label pre-training", ("random_labels",), ("full", "unit/*")
        ),
        Target(
            "fig3",
            "Fig. 3 / A12: init at the barrier",
            ("barrier_init",),
            ("full",),
            TABLE_A3_PAPER,
        ),
        Target(
            "tableA3",
            "Table A3: init at the barrier (train / test acc)",
            ("barrier_init", "blockwise"),
            ("full",),
            TABLE_A3_PAPER,
        ),
        Target(
            "fig4", "Fig. 4: partial (pre-)training", ("partial_pretraining",), ("full", "unit/*")
        ),
        Target(
            "fig5",
            "Fig. 5 / A13: unit k from random-label training",
            ("blockwise_adversarial",),
            ("full", "unit/*"),
        ),
        Target(
            "fig6",
            "Fig. 6 / A14: data fraction x augmentation",
            ("data_fraction",),
            ("full", "unit/*"),
        ),
        Target("figA15", "Fig. A15: augmentation", ("augmentation",), ("full", "unit/*")),
        Target("fig7", "Fig. 7: weight decay", ("weight_decay",)),
        Target(
            "fig8", "Fig. 8 / App. E: fixed learning rate", ("fixed_lr",), ("full",), FIXED_LR_PAPER
        ),
        Target(
            "fig9",
            "Fig. 9 / A16: smaller lr for units with barriers",
            ("layer_lr",),
            ("full", "unit/*"),
        ),
        Target(
            "table2",
            "Table 2: lr and weight decay per unit group",
            ("layer_lr_wd",),
            ("full",),
            TABLE2_PAPER,
        ),
        Target("fig10", "Fig. 10: depth", ("depth",), ("full", "unit/*")),
        Target(
            "figA17", "Fig. A17: 8-layer MLP width on spiral", ("mlp_width",), ("full", "unit/*")
        ),
        Target(
            "figA18",
            "Fig. A18: groups inside unit layer3",
            ("bn_groups",),
            ("full", "unit/layer3", "group/*"),
        ),
        Target(
            "figA19",
            "Fig. A19: VGG-11 with / without BN",
            ("vgg_bn",),
            ("full", "unit/*"),
            VGG_PAPER,
        ),
        Target(
            "tableA4",
            "Table A4: narrowing VGG-11-BN layers",
            ("narrowing",),
            ("full",),
            TABLE_A4_PAPER,
        ),
        Target("appF", "App. F: ResNet-18 without BN", ("no_bn",), ("full", "unit/*")),
        Target(
            "bias_view",
            "ICLR 2023: weights vs biases (MLP on MNIST, ResNet-18 on CIFAR-10)",
            ("bias_view", "bias_view_resnet"),
            ("full", "weights", "biases"),
        ),
    )
}

# Table 1: the interventions compared with the base (`blockwise`), with the paper's entry.
TABLE1_BASE = "blockwise"
TABLE1_PAPER = {
    "pretrained": ("Fig. 2A", "NB", "Better"),
    "random_labels": ("Fig. 2B", "H-LB", "Worse"),
    "barrier_init": ("Fig. 3", "NB", "Better"),
    "partial_pretraining": ("Fig. 4", "B/NB/P", "Often worse"),
    "blockwise_adversarial": ("Fig. 5", "B/NB", "Often worse"),
    "data_fraction": ("Fig. 6", "NB / L-LB", "Worse"),
    "augmentation": ("Fig. 6", "L-LB", "Worse"),
    "weight_decay": ("Fig. 7", "NB / B (less WD), P (more WD)", "Worse"),
    "fixed_lr": ("Fig. 8", "P (lr 0.01), NB (lr != 0.01)", "Better (0.01), worse"),
    "layer_lr": ("Fig. 9", "NB", "Worse"),
    "layer_lr_wd": ("Table 2", "", ""),
    "depth": ("Fig. 10", "H-LB", "Better"),
    "bn_groups": ("Fig. A18", "", ""),
    "vgg_bn": ("Fig. A19", "", ""),
    "no_bn": ("App. F", "NB", "Worse"),
    "narrowing": ("Table A4", "", ""),
}
