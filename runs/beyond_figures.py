"""Figures beyond the straight line: the training trajectory against the path, loss planes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

MAX_UNIT_PANELS = 8


def plot_trajectory(trajectory: dict, out: Path) -> None:
    """Per path (full first, then units): the straight path's loss against alpha, and the
    kept states' loss against their alpha_t, coloured by epoch, joined in training order."""
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
        ax.plot(trajectory["alphas"], entry["loss"], color="black", label="straight path")
        along = entry["trajectory"]
        ax.plot(along["alpha"], along["loss"], color="grey", linewidth=0.8, zorder=1)
        points = ax.scatter(along["alpha"], along["loss"], c=epochs, cmap="viridis", s=18, zorder=2)
        if entry.get("shape") == "B":  # where the barrier peaks
            ax.axvline(entry["alpha_max"], color="red", linestyle=":", linewidth=1)
        ax.set_title(path, fontsize="medium")
        ax.set_xlabel(r"$\alpha$ (path) / $\alpha_t$ (kept state)")
        ax.set_ylabel(f"{trajectory['split']} loss")
    for ax in list(axes.flat)[len(paths) :]:
        ax.set_visible(False)
    fig.colorbar(points, ax=axes, label="epoch", shrink=0.6)
    axes.flat[0].legend(fontsize="small")
    fig.suptitle("training trajectory (dots) against the straight path (line)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_plane(plane: dict, out: Path) -> None:
    """Contour (left) and heat map (right) of the loss on a plane, with the states of its
    `marks` (label -> (x, y)) and the projected trajectory. Colours are log10 of the loss, so
    a barrier and the basins both show; loss above the grid's 95th percentile saturates."""
    xs, ys = np.array(plane["xs"]), np.array(plane["ys"])
    loss = np.array([[np.nan if v is None else v for v in row] for row in plane["loss"]], float)
    shown = np.log10(np.clip(loss, 1e-6, np.nanpercentile(loss, 95)))
    x_name, y_name = plane["axes"]
    sns.set_theme(style="white", context="notebook")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    contour = left.contourf(xs, ys, shown, levels=20, cmap="magma_r")
    left.contour(xs, ys, shown, levels=10, colors="white", linewidths=0.4)
    fig.colorbar(contour, ax=left, label=f"log10 {plane['split']} loss")
    step_x, step_y = xs[1] - xs[0], ys[1] - ys[0]
    extent = (xs[0] - step_x / 2, xs[-1] + step_x / 2, ys[0] - step_y / 2, ys[-1] + step_y / 2)
    image = right.imshow(shown, origin="lower", extent=extent, aspect="auto", cmap="magma_r")
    fig.colorbar(image, ax=right, label=f"log10 {plane['split']} loss")
    trajectory = plane.get("trajectory", [])
    for ax in (left, right):
        if len(trajectory) > 2:
            xy = ([p["x"] for p in trajectory], [p["y"] for p in trajectory])
            ax.plot(*xy, "-o", color="cyan", markersize=3, linewidth=1, label="trajectory")
        ax.plot([0, 1], [0, 0] if x_name == "x" else [0, 1], "--", color="white", linewidth=1)
        for label, (x, y) in plane["marks"].items():
            ax.plot(x, y, "o", color="white", markeredgecolor="black", clip_on=False)
            inward = (-5 if x >= xs[-1] else 5, -12 if y >= ys[-1] else 5)  # stay on the grid
            ax.annotate(label, (x, y), textcoords="offset points", xytext=inward, color="white",
                        fontsize="small", ha="right" if inward[0] < 0 else "left")  # fmt: skip
        ax.set_xlabel(x_name)
        ax.set_ylabel(y_name)
    if len(trajectory) > 2:
        left.legend(fontsize="small", loc="lower right")
    fig.suptitle(f"plane {plane['name']}: through {', '.join(plane['through'])}")
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
