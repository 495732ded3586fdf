"""Figures beyond the straight line: the training trajectory against the path, loss planes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from runs.figures import path_label  # noqa: E402

MAX_UNIT_PANELS = 8


def plot_trajectory(trajectory: dict, out: Path, title: str = "") -> None:
    """Per path (full first, then units): the straight path's loss against alpha (line),
    and the states kept during training at their alpha_t, coloured by epoch and joined in
    training order (dots); a dotted red line where a path with a barrier peaks."""
    paths = list(trajectory["paths"])[: MAX_UNIT_PANELS + 1]
    sns.set_theme(style="whitegrid", context="notebook")
    columns = min(3, len(paths))
    rows = -(-len(paths) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(5 * columns, 3.8 * rows), squeeze=False, layout="constrained"
    )
    epochs = trajectory["epochs"]
    for ax, path in zip(axes.flat, paths):
        entry = trajectory["paths"][path]
        ax.plot(trajectory["alphas"], entry["loss"], color="black",
                label=r"straight path $\theta_i \to \theta_f$ at $\alpha$")  # fmt: skip
        along = entry["trajectory"]
        ax.plot(along["alpha"], along["loss"], color="grey", linewidth=0.8, zorder=1)
        points = ax.scatter(along["alpha"], along["loss"], c=epochs, cmap="viridis", s=18,
                            zorder=2, label=r"kept training states at $\alpha_t$")  # fmt: skip
        if entry.get("shape") == "B":
            ax.axvline(entry["alpha_max"], color="red", linestyle=":", linewidth=1,
                       label=r"the path's peak ($\alpha_{max}$)")  # fmt: skip
        ax.set_title(path_label(path), fontsize="medium")
        ax.set_xlabel(r"$\alpha$ along the path; $\alpha_t$: a state's projection on it")
        ax.set_ylabel(f"{trajectory['split']} loss")
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.legend(fontsize="x-small")
    for ax in list(axes.flat)[len(paths) :]:
        ax.set_visible(False)
    bar = fig.colorbar(points, ax=axes, label="epoch", shrink=0.6)
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    fig.suptitle(
        f"{title + ': ' if title else ''}training trajectory (dots) against the straight path "
        "(line), for the model and each unit"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


# The plane's axes in words: (x, y) -> the states they run towards
AXIS_WORDS = {
    "new_init": (r"$\alpha$: $\theta_i$ (0) to $\theta_f$ (1)",
                 r"$\beta$: $\theta_i$ (0) to a new init $\theta_i'$ (1)"),
    "trajectory": (r"$\alpha$: $\theta_i$ (0) to $\theta_f$ (1)",
                   r"$\beta$: towards the trajectory's largest step off the line"),
    "weights_biases": (r"$\alpha_w$: weights, $\theta_i$ (0) to $\theta_f$ (1)",
                       r"$\alpha_b$: biases, $\theta_i$ (0) to $\theta_f$ (1)"),
}  # fmt: skip
MARK_BOX = {"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.85, "lw": 0}


def plot_plane(plane: dict, out: Path, title: str = "") -> None:
    """One panel: the loss over the plane (log10, colour bar), its contour lines, the states
    through which it runs (labels on a white box: readable on any colour), the straight
    path from theta_i to theta_f and the projected training trajectory. Loss above the
    grid's 95th percentile saturates, so a barrier and the basins both show."""
    xs, ys = np.array(plane["xs"]), np.array(plane["ys"])
    loss = np.array([[np.nan if v is None else v for v in row] for row in plane["loss"]], float)
    shown = np.log10(np.clip(loss, 1e-6, np.nanpercentile(loss, 95)))
    name = plane["name"]
    x_words, y_words = AXIS_WORDS.get(name, plane["axes"])
    sns.set_theme(style="white", context="notebook")
    fig, ax = plt.subplots(figsize=(7.5, 6))
    filled = ax.contourf(xs, ys, shown, levels=20, cmap="magma_r")
    ax.contour(xs, ys, shown, levels=10, colors="grey", linewidths=0.4)
    fig.colorbar(filled, ax=ax, label=f"log10 {plane['split']} loss")
    trajectory = plane.get("trajectory", [])
    if len(trajectory) > 2:
        xy = ([p["x"] for p in trajectory], [p["y"] for p in trajectory])
        ax.plot(*xy, "-o", color="tab:cyan", markeredgecolor="black", markersize=4,
                linewidth=1.2, label="training trajectory (projected)")  # fmt: skip
    diagonal = name == "weights_biases"  # theta_f is (1, 1) there
    ax.plot([0, 1], [0, 1] if diagonal else [0, 0], "--", color="black", linewidth=1,
            label=r"straight path $\theta_i \to \theta_f$")  # fmt: skip
    for label, (x, y) in plane["marks"].items():
        ax.plot(x, y, "o", color="white", markeredgecolor="black", clip_on=False, zorder=3)
        inward = (-6 if x >= xs[-1] else 6, -14 if y >= ys[-1] else 6)  # stay on the grid
        side = "right" if inward[0] < 0 else "left"
        ax.annotate(label, (x, y), textcoords="offset points", xytext=inward, fontsize="small",
                    color="black", bbox=MARK_BOX, ha=side)  # fmt: skip
    ax.set_xlabel(x_words)
    ax.set_ylabel(y_words)
    ax.legend(fontsize="small", loc="lower right", framealpha=0.85)
    ax.set_title(f"{title + ': ' if title else ''}loss on the plane through "
                 f"{', '.join(plane['through'])}", fontsize="medium")  # fmt: skip
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_milestones(report: dict, out: Path) -> None:
    """Per milestone reached (a column): loss (top) and accuracy (bottom) along the straight
    path from theta_i to the state kept there, full path and every unit."""
    reached = {n: m for n, m in report["milestones"].items() if m["epoch"] is not None}
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(2, len(reached), figsize=(6 * len(reached), 8.5), squeeze=False,
                             sharey="row", layout="constrained")  # fmt: skip
    for column, (name, milestone) in zip(axes.T, reached.items()):
        paths = list(milestone["paths"])
        palette = dict(zip(paths[1:], sns.color_palette("husl", max(1, len(paths) - 1))))
        for ax, metric in zip(column, ("loss", "acc")):
            for path in paths:
                full = path == "full"
                ax.plot(report["alphas"], milestone["paths"][path][metric],
                        color="black" if full else palette[path], linewidth=2.2 if full else 1,
                        label=f"{path} ({milestone['paths'][path]['shape']})")  # fmt: skip
            ax.set_xlabel(r"$\alpha$ ($\theta_i \to \theta_t$)")
            ax.set_ylabel(f"{report['split']} {metric}")
        column[0].set_title(
            f"{name}: epoch {milestone['epoch']} ({milestone['metric']} >= "
            f"{milestone['at_least']:g}; test acc {milestone['test_acc']:.3f})",
            fontsize="medium",
        )
        column[1].legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2,
                         fontsize="x-small", title="path (tolerant shape)")  # fmt: skip
    fig.suptitle(r"straight paths from $\theta_i$ to the state $\theta_t$ kept at each milestone")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
