"""Figures of loss and accuracy against alpha: one run's paths, or means over seeds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PATH_STYLES = {"full": "-", "final_to_new_init": "--", "init_to_new_init": ":"}
OTHER_STYLES = ("-", "-.", (0, (5, 1)), (0, (1, 1, 3, 1)))  # paths of several settings
BOUNDS = {"loss": (0.0, None), "acc": (0.0, 1.0)}  # a mean +- std band stays inside these
TAB10 = 10  # colours of seaborn's default palette; more lines take evenly spaced hues
LEGEND_ROWS = 12  # a legend column beside a panel holds this many lines


def curves_frame(results: dict, view: str | None = None) -> pd.DataFrame:
    """One row per (path, alpha) of one run: path, alpha, loss, acc (NaN where null);
    `view` picks one of the run's extra views (results["views"]) instead of its main paths."""
    paths = results["paths"] if view is None else results["views"][view]
    rows = [
        {"path": path, "alpha": alpha, "loss": loss, "acc": acc}
        for path, entry in paths.items()
        for alpha, loss, acc in zip(results["alphas"], entry["loss"], entry["acc"])
    ]
    return pd.DataFrame(rows).astype({"loss": float, "acc": float})


def colours(names: list[str]) -> dict[str, tuple]:
    """Distinct colours however many lines: tab10 up to ten, evenly spaced hues beyond."""
    palette = sns.color_palette("tab10" if len(names) <= TAB10 else "husl", len(names))
    return dict(zip(names, palette))


def draw_curves(
    ax,
    frame: pd.DataFrame,
    metric: str,
    hue: str,
    style_of: Callable[[str], object],
    band: bool,
    empty_reason: str = "",
) -> None:
    """One line per (hue, path) of `frame`: the mean over its rows at each alpha, with a
    +-1 std band (kept within the metric's bounds) when `band`. The legend shows each line
    with its colour and style; a line with no finite point says so in its label, and a
    panel with none at all says why."""
    names = list(dict.fromkeys(frame[hue]))
    palette = colours(names)
    several_paths = hue != "path" and frame["path"].nunique() > 1
    low, high = BOUNDS.get(metric, (None, None))
    for (name, path), part in frame.groupby([hue, "path"], sort=False):
        stats = part.groupby("alpha", sort=True)[metric].agg(["mean", "std"])
        label = f"{name} {path}" if several_paths else name
        if stats["mean"].isna().all():
            label += " (no finite point)"
        ax.plot(
            stats.index, stats["mean"], color=palette[name], linestyle=style_of(path), label=label
        )
        if band:
            spread = stats["std"].fillna(0.0)
            lower = (stats["mean"] - spread).clip(lower=low, upper=high)
            upper = (stats["mean"] + spread).clip(lower=low, upper=high)
            ax.fill_between(stats.index, lower, upper, color=palette[name], alpha=0.2, lw=0)
    if frame[metric].isna().all():
        reason = f": {empty_reason}" if empty_reason else ""
        ax.text(0.5, 0.5, f"no finite {metric}{reason}", ha="center", transform=ax.transAxes)
    ax.set_xlabel(r"$\alpha$")


def path_style(path: str) -> object:
    return PATH_STYLES.get(path, "-")


def empty_reason(results: dict) -> str:
    """Why a run's panel can be empty: its trained state itself is not finite."""
    return "theta_f holds NaN or inf (training diverged)" if results.get("diverged") else ""


def plot_run(results: dict, out: Path) -> None:
    """Loss (left) and accuracy (right) along every path of one run; a row per view (split
    and BN policy) when the run has more than one, side by side on shared axes."""
    views = [None, *results.get("views", {})]
    sns.set_theme(style="whitegrid", context="notebook")
    fig, grid = plt.subplots(
        len(views), 2, figsize=(11, 4 * len(views)), squeeze=False, sharey="col"
    )
    for axes, view in zip(grid, views):
        frame = curves_frame(results, view)
        entries = results["paths"] if view is None else results["views"][view]
        entry = next(iter(entries.values()), {"split": "test"})
        where = f"{entry['split']} ({entry.get('bn', 'interpolate')} BN)"
        for ax, metric in zip(axes, ("loss", "acc")):
            draw_curves(ax, frame, metric, "path", path_style, False, empty_reason(results))
            ax.set_ylabel(f"{where} {metric}")
        columns = 1 + (len(entries) - 1) // LEGEND_ROWS  # a transformer's many units
        axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), ncol=columns,
                        fontsize="small" if columns == 1 else "x-small")  # fmt: skip
    fig.suptitle(f"{results.get('experiment', '')}  seed {results.get('seed', '')}")
    fig.tight_layout()
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
