"""`make attention`: the paper's interventions on attention models, Table 1's way.

The paper ends: "attention-based models need adaptive optimizers (e.g. Adam) to train
properly ... revisiting this study for attention-based models is an interesting direction
for future work" (Sec. 8). Each row here is an intervention on the digits ViT, on ViT-Tiny
on CIFAR-10 or on the modular-addition GPT-2, against its own control, with the full
path's shape (tolerant and strict; end rises, rises that never come down, counted apart
from barriers), the unit barriers against the control's, test accuracy with
its 95% interval, and the paper's ResNet-18 row of the same intervention where it has one.
Modular addition adds its milestones: the epoch of memorisation and of generalisation and
what the straight path to each says.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence

import pandas as pd

from landscape.shape import SHAPES, curve_metrics
from paper.settings import expected_settings, select
from paper.table1 import (
    Table1Row,
    accuracy_verdict,
    full_shapes,
    shows,
    test_accs_pp,
    unit_barriers,
    unit_max_rise,
)
from paper.tables import bootstrap_interval, difference_interval, mean_std
from paper.targets import Sweep
from runs.store import Run

VIT, CIFAR_VIT, MODADD = (
    (Sweep("vit_digits"),),
    (Sweep("vit_pretrained", ("start=scratch",)),),
    (Sweep("modadd"),),
)


def _row(model, intervention, settings, control, control_label, paper_row, shape, acc):
    return Table1Row(model, intervention, paper_row, settings, control, control_label, shape, acc)


def _each(experiment: str, key: str, values: str) -> tuple[Sweep, ...]:
    return tuple(Sweep(experiment, (f"{key}={v}",)) for v in values.split(","))


ATTENTION_ROWS = (
    _row("ViT, digits", "SGD with momentum instead of AdamW", (Sweep("vit_optimizer"),), VIT,
         "AdamW (vit_digits)", "Sec. 8 remark (no experiment)", "-", "adaptive optimizers needed"),
    _row("ViT, digits", "Learning rate", _each("vit_lr", "optimizer.lr", "3.0e-4,3.0e-3"), VIT,
         "lr 1e-3 (vit_digits)", "Fixed learning rate h = 0.01 / h != 0.01", "P / NB",
         "Better / Worse"),
    _row("ViT, digits", "Less weight decay", _each("vit_weight_decay", "optimizer.weight_decay",
         "0.0"), VIT, "weight decay 0.05 (vit_digits)", "Less weight decay", "NB / B", "Worse"),
    _row("ViT, digits", "More weight decay", _each("vit_weight_decay", "optimizer.weight_decay",
         "0.5"), VIT, "weight decay 0.05 (vit_digits)", "More weight decay", "P", "Worse"),
    _row("ViT, digits", "No warmup", (Sweep("vit_warmup"),), VIT, "10 warmup epochs (vit_digits)",
         "-", "-", "-"),
    _row("ViT, digits", "Less data", _each("vit_data_fraction", "+data.train_fraction",
         "0.25,0.5"), VIT, "all training images (vit_digits)", "Less data", "NB / L-LB", "Worse"),
    _row("ViT-Tiny, CIFAR-10", "Pre-train full model (ImageNet)",
         (Sweep("vit_pretrained", ("start=imagenet",)),), CIFAR_VIT, "scratch",
         "Pre-train full model", "NB", "Better"),
    _row("GPT-2, a + b mod 97", "SGD with momentum instead of AdamW",
         (Sweep("modadd_optimizer"),), MODADD, "AdamW (modadd)", "Sec. 8 remark (no experiment)",
         "-", "adaptive optimizers needed"),
    _row("GPT-2, a + b mod 97", "Learning rate", _each("modadd_lr", "optimizer.lr",
         "1.0e-3,1.0e-2"), MODADD, "lr 3e-3 (modadd)", "Fixed learning rate h = 0.01 / h != 0.01",
         "P / NB", "Better / Worse"),
    _row("GPT-2, a + b mod 97", "Less weight decay", _each("modadd_weight_decay",
         "optimizer.weight_decay", "0.0"), MODADD, "weight decay 0.3 (modadd)",
         "Less weight decay", "NB / B", "Worse"),
    _row("GPT-2, a + b mod 97", "More weight decay", _each("modadd_weight_decay",
         "optimizer.weight_decay", "1.0"), MODADD, "weight decay 0.3 (modadd)",
         "More weight decay", "P", "Worse"),
    _row("GPT-2, a + b mod 97", "No warmup", (Sweep("modadd_warmup"),), MODADD,
         "1 warmup epoch (modadd)", "-", "-", "-"),
    _row("GPT-2, a + b mod 97", "Less / more data", _each("modadd_data_fraction",
         "data.train_fraction", "0.2,0.5"), MODADD, "30% of all pairs (modadd)", "Less data",
         "NB / L-LB", "Worse"),
)  # fmt: skip
# What `make attention` runs: every row's settings and controls, each sweep once.
ATTENTION_SWEEPS = tuple(
    dict.fromkeys(s for row in ATTENTION_ROWS for s in (*row.control, *row.settings))
)


def read_again(run: Run) -> Run:
    """`run` with every path's shapes and numbers computed from its curves by the current
    definitions (`landscape.shape`: ER apart from B, barrier locations) with the run's own
    thresholds, so runs written before end rises were told apart count as new ones do.
    Nothing on disk changes."""
    results = run.results
    paths = {path: {**entry, **curve_metrics(results, entry)}
             for path, entry in results["paths"].items()}  # fmt: skip
    return dataclasses.replace(run, results={**results, "paths": paths})


def counts_text(shapes: Sequence[str]) -> str:
    """'NB/B/P/ER' counts; paths with non-finite points are named apart."""
    text = "/".join(str(shapes.count(s)) for s in SHAPES)
    other = len(shapes) - sum(shapes.count(s) for s in SHAPES)
    return text + (f" (+{other} non-finite)" if other else "")


def accuracy(runs: Sequence[Run]) -> tuple[float, float, float]:
    """Mean test accuracy (%) over seeds and its 95% bootstrap interval."""
    values = test_accs_pp(runs)
    return (mean_std(values)[0], *bootstrap_interval(values))


def attention_rows(by_key: dict[str, list[Run]], scale: str):
    """Per row: the intervention settings found, the control's runs (pooled) and how many
    of the control's seeds diverged."""
    found = []
    for row in ATTENTION_ROWS:
        settings = select(by_key, expected_settings(row.settings, scale), shows)
        controls = select(by_key, expected_settings(row.control, scale), shows)
        control = [run for setting in controls for run in setting.runs]
        if settings and control:
            found.append((row, settings, control, sum(len(s.diverged) for s in controls)))
    return found


def attention_frame(rows) -> pd.DataFrame:
    """One line per intervention setting against its row's control; diverged seeds are
    counted, not averaged."""
    frame = []
    for row, settings, control, control_diverged in rows:
        control_acc = accuracy(control)
        for setting in settings:
            acc = accuracy(setting.runs)
            low, high = difference_interval(test_accs_pp(setting.runs), test_accs_pp(control))
            frame.append(
                {
                    "model": row.category,
                    "intervention": row.intervention,
                    "setting": setting.label,
                    "control": row.control_label,
                    "seeds": len(setting.runs),
                    "control_seeds": len(control),
                    "diverged": len(setting.diverged),
                    "control_diverged": control_diverged,
                    "full_tolerant": counts_text(full_shapes(setting.runs, "shape")),
                    "full_strict": counts_text(full_shapes(setting.runs, "strict_shape")),
                    "control_full_tolerant": counts_text(full_shapes(control, "shape")),
                    "control_full_strict": counts_text(full_shapes(control, "strict_shape")),
                    "unit_max_rise": unit_max_rise(setting.runs),
                    "control_unit_max_rise": unit_max_rise(control),
                    "unit_barriers": unit_barriers(
                        unit_max_rise(setting.runs), unit_max_rise(control)
                    ),
                    "test_acc": acc[0],
                    "test_acc_ci_low": acc[1],
                    "test_acc_ci_high": acc[2],
                    "control_test_acc": control_acc[0],
                    "control_test_acc_ci_low": control_acc[1],
                    "control_test_acc_ci_high": control_acc[2],
                    "delta_test_acc": acc[0] - control_acc[0],
                    "delta_ci_low": low,
                    "delta_ci_high": high,
                    "test_acc_vs_control": accuracy_verdict(low, high),
                    "resnet18_row": row.figure,
                    "resnet18_shape": row.paper_shape,
                    "resnet18_test_acc": row.paper_acc,
                }
            )
    return pd.DataFrame(frame)


def _acc_text(mean: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.2f}" + ("" if math.isnan(low) else f" [{low:.2f}, {high:.2f}]")


def _delta_text(delta: float, low: float, high: float) -> str:
    if math.isnan(delta):
        return "-"
    return f"{delta:+.2f}" + ("" if math.isnan(low) else f" [{low:+.2f}, {high:+.2f}]")


def _diverged_text(r: dict) -> str:
    control = r["control_seeds"] + r["control_diverged"]
    return f"{r['diverged']} of {r['seeds'] + r['diverged']} ({r['control_diverged']} of {control})"


def markdown_attention(frame: pd.DataFrame) -> str:
    header = ["model", "intervention", "setting", "control", "seeds (control)", "diverged",
              "full path tolerant NB/B/P/ER", "strict NB/B/P/ER", "control tolerant",
              "control strict", "unit barriers vs control", "test acc % [95% CI]",
              "control test acc %", "Δ (pp) [95% CI]", "vs control", "ResNet-18 (Table 1): row",
              "shape", "test acc"]  # fmt: skip
    lines = [
        "# Attention models: the paper's interventions against matched controls",
        "",
        "Shapes of the full path theta_i -> theta_f over seeds: NB (monotonic decay), B "
        "(barrier: a rise that comes down again), P (plateau), ER (end rise: a rise that "
        "never comes down), read from each run's curves by the current definitions. "
        "Tolerant: the run's thresholds; strict: any rise counts (App. E). Unit barriers: "
        "mean largest bump over unit paths against the control's (H-LB / L-LB beyond 10%). "
        "diverged: n of m seeds (the control's in brackets) whose training diverged; no "
        "number here includes them. "
        "[a, b]: 95% percentile-bootstrap interval of the mean (of the difference for Δ: "
        "Better / Worse when it excludes 0). "
        "The last columns are the paper's ResNet-18 entry for the same intervention.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    for r in frame.to_dict("records"):
        cells = [r["model"], r["intervention"], r["setting"], r["control"],
                 f"{r['seeds']} ({r['control_seeds']})", _diverged_text(r),
                 r["full_tolerant"], r["full_strict"],
                 r["control_full_tolerant"], r["control_full_strict"], r["unit_barriers"],
                 _acc_text(r["test_acc"], r["test_acc_ci_low"], r["test_acc_ci_high"]),
                 _acc_text(r["control_test_acc"], r["control_test_acc_ci_low"],
                           r["control_test_acc_ci_high"]),
                 _delta_text(r["delta_test_acc"], r["delta_ci_low"], r["delta_ci_high"]),
                 r["test_acc_vs_control"], r["resnet18_row"], r["resnet18_shape"],
                 r["resnet18_test_acc"]]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---- modular addition: memorisation, then generalisation ---------------------------------
def milestone_frame(runs_by_setting: Sequence[tuple[str, Sequence[Run]]]) -> pd.DataFrame:
    """One line per run and milestone (milestones.json beside results.json): its epoch (None:
    not reached by the cap), the state's accuracy and the shape of the path to it."""
    rows = []
    for label, runs in runs_by_setting:
        for run in runs:
            path = run.directory / "milestones.json"
            if not path.is_file():
                continue
            report = json.loads(path.read_text())
            options = {**run.results, "alphas": report["alphas"]}  # the run's thresholds
            for name, milestone in report["milestones"].items():
                paths = {p: {**e, **curve_metrics(options, e)}
                         for p, e in milestone.get("paths", {}).items()}  # fmt: skip
                full = paths.get("full", {})
                rows.append(
                    {
                        "setting": label,
                        "seed": run.seed,
                        "milestone": name,
                        "condition": f"{milestone['metric']} >= {milestone['at_least']:g}",
                        "epoch": milestone["epoch"],
                        "cap": report["max_epochs"],
                        "train_acc": milestone.get("train_acc"),
                        "test_acc": milestone.get("test_acc"),
                        "shape": full.get("shape"),
                        "strict_shape": full.get("strict_shape"),
                        "max_rise": full.get("max_rise"),
                        "unit_shapes": counts_text(
                            [e["shape"] for p, e in paths.items() if p != "full"]
                        ),
                    }
                )
    return pd.DataFrame(rows)


def markdown_milestones(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    lines = [
        "",
        "## Modular addition: the straight path at memorisation and after generalisation",
        "",
        "Each run keeps its state the first epoch its running training accuracy is 100% "
        "(memorised) and the first its test accuracy is at least 95% (generalised); the "
        "line theta_i -> theta_t is evaluated to each. Epoch '-': not reached by the cap.",
        "",
        "| setting | seed | milestone | epoch (cap) | train acc | test acc | full path "
        "tolerant | strict | largest bump | unit paths NB/B/P/ER |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    pct = lambda v: "-" if v is None or v != v else f"{100 * v:.2f}"  # noqa: E731
    for r in frame.to_dict("records"):
        epoch = "-" if r["epoch"] is None or r["epoch"] != r["epoch"] else int(r["epoch"])
        bump = (
            "-"
            if r["max_rise"] is None or r["max_rise"] != r["max_rise"]
            else (f"{r['max_rise']:.4f}")
        )
        lines.append(
            f"| {r['setting']} | {r['seed']} | {r['milestone']} | {epoch} ({r['cap']}) | "
            f"{pct(r['train_acc'])} | {pct(r['test_acc'])} | {r['shape'] or '-'} | "
            f"{r['strict_shape'] or '-'} | {bump} | {r['unit_shapes']} |"
        )
    return "\n".join(lines) + "\n"
