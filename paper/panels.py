"""What a report shows beside its loss curves: the pairs of staged runs, the epoch caps of
random-label pre-stages, Fig. 3's training speed, Fig. 4's accuracy per reset unit and
Fig. A17's layer-wise paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from paper.settings import TargetSetting  # noqa: E402
from paper.targets import Target  # noqa: E402
from runs.evaluation import capped_prestage  # noqa: E402
from runs.figures import MOST_BANDS, curves_frame, draw_curves  # noqa: E402


def prestage_notes(settings: Sequence[TargetSetting]) -> str:
    """One line per random-label pre-stage that its epoch cap ended before 100% accuracy
    (the run's own, or that of the run it took a unit from)."""
    lines = [
        f"- {setting.label}, seed {run.seed}: {capped} (`{run.directory}`)"
        for setting in settings
        for run in setting.runs
        for capped in [capped_prestage(run.results.get("init", {}))]
        if capped
    ]
    if not lines:
        return ""
    return (
        "\n## WARNING: random-label pre-stages ended by the epoch cap\n\n"
        "These runs did not start from the state the paper describes (100% training accuracy "
        "on random labels).\n\n" + "\n".join(lines) + "\n"
    )


def extra_panels(
    target: Target, settings: Sequence[TargetSetting], stem: Path, written: list[Path]
) -> str:
    """Markdown for the target's staged pairs and extra panels; figures go to `written`."""
    markdown = pairs(settings)
    if "training_speed" in target.panels:
        out = stem.with_name(stem.name + "_training_speed.png")
        if plot_training_speed(settings, out):
            written.append(out)
            markdown += f"\n![test accuracy per epoch]({out.name})\n"
    if "unit_paths" in target.panels:
        out = stem.with_name(stem.name + "_unit_paths.png")
        if plot_unit_paths(settings[0], out):
            written.append(out)
            markdown += f"\n![layer-wise paths of {settings[0].label}]({out.name})\n"
    if "accuracy_per_unit" in target.panels:
        out = stem.with_name(stem.name + "_accuracy_per_unit.png")
        if plot_accuracy_per_unit(settings, out):
            written.append(out)
            markdown += f"\n![test accuracy per reset unit]({out.name})\n"
    return markdown


def pairs(settings: Sequence[TargetSetting]) -> str:
    """Which earlier run each staged run started from."""
    staged = [(s, r) for s in settings if s.sweep.from_sweep for r in s.runs]
    if not staged:
        return ""
    lines = ["", "## Staged runs and the runs they started from", ""]
    lines += [
        "| setting | seed | started from | at alpha | run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for setting, run in staged:
        init = run.results.get("init", {})
        alpha = init.get("alpha")
        lines.append(
            f"| {setting.label} | {run.seed} | `{init.get('from_run', '-')}` | "
            f"{'-' if alpha is None else format(alpha, '.2f')} | `{run.directory}` |"
        )
    return "\n".join(lines) + "\n"


def plot_training_speed(settings: Sequence[TargetSetting], out: Path) -> bool:
    """Fig. 3 middle: test accuracy per epoch (the validation split, CIFAR's test set),
    mean over seeds with a +-1 std band, per setting. False when no run has the history."""
    rows = [
        {"start": start_label(s), "seed": r.seed, "epoch": epoch, "acc": acc}
        for s in settings
        for r in s.runs
        for epoch, acc in enumerate(r.results.get("history", {}).get("val/acc", []), start=1)
        if acc is not None
    ]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=pd.DataFrame(rows), x="epoch", y="acc", hue="start", style="start",
                 markers=True, dashes=False, errorbar="sd", ax=ax)  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy")
    ax.set_title("Training speed: init at the barrier against scratch (band +-1 std)")
    ax.legend(title="training started", loc="upper left", bbox_to_anchor=(1.02, 1.0),
              fontsize="small")  # fmt: skip
    save(fig, out)
    return True


def start_label(setting: TargetSetting) -> str:
    """Where a Fig. 3 setting's training started, in words: its staged runs start at an earlier
    run's barrier (`init.offset` grid steps from its peak), the others from scratch."""
    if not setting.sweep.from_sweep:
        return f"from scratch ({setting.label})"
    return f"at the barrier ({setting.label})"


def plot_unit_paths(setting: TargetSetting, out: Path) -> bool:
    """Fig. A17 left: the loss along each unit's path of one setting, mean over seeds."""
    frame = pd.concat([curves_frame(r.results) for r in setting.runs], ignore_index=True)
    frame = frame[frame["path"].str.startswith("unit/")]
    if frame.empty:
        return False
    lines = frame["path"].nunique()
    band = lines <= MOST_BANDS  # more bury the lines under one blur
    fig, ax = plt.subplots(figsize=(7, 4))
    draw_curves(ax, frame, "loss", "path", lambda path: "-", band=band)
    ax.set_ylabel("test loss")
    bands = "band +-1 std" if band else f"{lines} lines: no std bands"
    ax.set_title(f"Layer-wise paths: {setting.label} ({len(setting.runs)} seeds, {bands})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    save(fig, out)
    return True


REST_WORDS = {  # init.source of Fig. 4's runs: where every unit but k comes from
    "trained": "trained (theta_f of the base run), unit k random",
    "pretrained": "pre-trained, unit k random",
}


def plot_accuracy_per_unit(settings: Sequence[TargetSetting], out: Path) -> bool:
    """Fig. 4 left: final test accuracy per reset unit and source, scratch as a line."""
    rows = [
        {"unit": init["unit"], "source": init["source"], "acc": r.results["final"]["test_acc"]}
        for s in settings
        for r in s.runs
        for init in [r.results.get("init", {})]
        if init.get("name") == "partial"
    ]
    scratch = [
        r.results["final"]["test_acc"] for s in settings if not s.sweep.from_sweep for r in s.runs
    ]
    if not rows:
        return False
    frame = pd.DataFrame(rows).assign(rest=lambda f: f["source"].map(REST_WORDS))
    fig, ax = plt.subplots(figsize=(11, 4))  # the legend beside takes a third
    sns.pointplot(data=frame, x="unit", y="acc", hue="rest", errorbar="sd", dodge=0.2, ax=ax)
    if scratch:
        ax.axhline(sum(scratch) / len(scratch), color="black", linestyle="--",
                   label="trained from scratch (mean)")  # fmt: skip
    ax.legend(title="network before training", loc="upper left", bbox_to_anchor=(1.02, 1.0),
              fontsize="small")  # fmt: skip
    ax.set_title("Fig. 4: test accuracy after training with unit k reset (RI-k), +-1 std")
    ax.set_xlabel("unit reset to a random init (RI-k)")
    ax.set_ylabel("final test accuracy")
    save(fig, out)
    return True


def save(fig, out: Path) -> None:
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
