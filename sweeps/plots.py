"""Seaborn figures of loss and accuracy against alpha."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PATH_STYLES = {"full": "-", "final_to_new_init": "--", "init_to_new_init": ":"}


def curves_frame(results: dict, view: str | None = None) -> pd.DataFrame:
    """One row per (path, alpha) of one run: path, alpha, loss, acc; `view` picks one of
    the run's extra views (results["views"]) instead of its main paths."""
    paths = results["paths"] if view is None else results["views"][view]
    rows = [
        {"path": path, "alpha": alpha, "loss": loss, "acc": acc}
        for path, entry in paths.items()
        for alpha, loss, acc in zip(results["alphas"], entry["loss"], entry["acc"])
    ]
    return pd.DataFrame(rows)


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
        first = next(iter(results["paths"] if view is None else results["views"][view].values()))
        entry = results["paths"][first] if view is None else first
        where = f"{entry['split']} ({entry.get('bn', 'interpolate')} BN)"
        for ax, metric in zip(axes, ("loss", "acc")):
            sns.lineplot(data=frame, x="alpha", y=metric, hue="path", ax=ax, legend=ax is axes[-1])
            for line, path in zip(ax.get_lines(), frame["path"].unique()):
                line.set_linestyle(PATH_STYLES.get(path, "-"))
            ax.set_xlabel(r"$\alpha$")
            ax.set_ylabel(f"{where} {metric}")
        axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    fig.suptitle(f"{results.get('experiment', '')}  seed {results.get('seed', '')}")
    fig.tight_layout()
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
