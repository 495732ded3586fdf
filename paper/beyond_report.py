"""Reports off the straight line: `python -m paper.report {trajectory,weights_biases} [RUN_DIRS]`.

`trajectory` reads runs made with `beyond=trajectory` (default: multirun/ and outputs/ of
spiral_mlp) and asks, per seed, whether training went through the straight path's barrier
region: the trajectory's loss where its alpha_t reaches the path's alpha_max, against the
path's peak. `weights_biases` tests the ICLR 2023 claim across runs of `bias_view` (and
`bias_view_resnet`): "when different classes have different last-layer biases on a deep
network, there will be a long plateau" -- plateau length of the full path against the spread
of the output layer's class biases at theta_f, with the correlation and its 95% interval,
and every run's (alpha_w, alpha_b) grid (`beyond=weights_biases`) side by side.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from scipy import stats  # noqa: E402

from paper.tables import write_table  # noqa: E402
from runs.figures import MARKERS, colours  # noqa: E402
from runs.store import ReportError, Run, load_runs  # noqa: E402

REPORTS = {"trajectory": ("spiral_mlp",), "weights_biases": ("bias_view", "bias_view_resnet")}
CONFIDENCE = 0.95


def runs_for(
    report: str, run_dirs: Sequence[str], scale: str | None, needs: str | None, on_bad=None
) -> tuple[list[Run], list[Run]]:
    """The report's runs with the file `needs` beside them, and apart from them the ones
    whose training diverged (counted in the report, never read); of runs that trained the
    same network (one `training_id`, e.g. with and without `beyond=`) the newest counts."""
    experiments = REPORTS[report]
    dirs = [Path(d) for d in run_dirs] or [
        Path(root) / e for e in experiments for root in ("multirun", "outputs")
    ]
    runs = [r for r in load_runs(dirs, None, on_bad) if r.experiment in experiments]
    runs = [r for r in runs if scale is None or r.scale == scale]
    runs = [r for r in runs if needs is None or (r.directory / needs).is_file()]
    newest: dict[tuple, Run] = {}
    for run in sorted(runs, key=lambda r: r.modified):
        trained = run.results.get("training_id") or (run.experiment, run.setting, run.seed)
        newest[trained] = run
    if not newest:
        what = f" with {needs}" if needs else ""
        raise ReportError(
            f"no runs of {list(experiments)}{what} under {[str(d) for d in dirs]}; "
            f"run `make {report}` first"
        )
    ordered = sorted(newest.values(), key=lambda r: (r.experiment, r.setting, r.seed))
    return [r for r in ordered if not r.diverged], [r for r in ordered if r.diverged]


def diverged_note(runs: Sequence[Run], diverged: Sequence[Run], listed: bool = True) -> str:
    """'n of m seeds diverged', with the runs left out where `listed`."""
    note = f"{len(diverged)} of {len(runs) + len(diverged)} seeds diverged"
    if not diverged or not listed:
        return note
    return note + " (left out: " + ", ".join(f"`{r.directory}`" for r in diverged) + ")"


# ---- the trajectory against the path ------------------------------------------------------
def trajectory_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run and path: the path's shape and peak, the trajectory there."""
    rows = []
    for run in runs:
        trajectory = json.loads((run.directory / "trajectory.json").read_text())
        for path, entry in trajectory["paths"].items():
            along, crossed = entry["trajectory"], entry["crossing"]
            rows.append(
                {
                    "experiment": run.experiment,
                    "seed": run.seed,
                    "path": path,
                    "shape": entry["shape"],
                    "alpha_max": crossed["alpha_max"],
                    "initial_loss": entry["loss"][0],
                    "path_peak_loss": crossed["path_peak_loss"],
                    "trajectory_loss_at_alpha_max": crossed["trajectory_loss_at_alpha_max"],
                    "through_barrier": crossed["through_barrier"],
                    "trajectory_max_loss": crossed["trajectory_max_loss"],
                    "max_off_line_relative": max(along["off_line"]) / along["line_length"],
                }
            )
    return pd.DataFrame(rows)


def trajectory_markdown(frame: pd.DataFrame) -> str:
    full = frame[frame["path"] == "full"]
    barrier = full[full["shape"] == "B"]
    lines = [
        "# Training trajectory against the straight path (full model)",
        "",
        f"{len(full)} runs; the full path has a barrier (shape B) in {len(barrier)}.",
        f"Of those, the trajectory went through the barrier region (its loss at the path's "
        f"alpha_max at least the path's peak) in {int(barrier['through_barrier'].sum())}; "
        f"elsewhere it passed below the peak, around the barrier.",
        "",
        "| seed | shape | alpha_max | path loss at alpha_max | trajectory loss there | "
        "through the barrier (B only) | initial loss | trajectory's highest loss after theta_i | "
        "max distance off the line / line length |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in full.itertuples():
        lines.append(
            f"| {row.seed} | {row.shape} | {row.alpha_max:.2f} | {row.path_peak_loss:.4f} | "
            f"{_num(row.trajectory_loss_at_alpha_max)} | "
            f"{('yes' if row.through_barrier else 'no') if row.shape == 'B' else '-'} | "
            f"{row.initial_loss:.4f} | {_num(row.trajectory_max_loss)} | "
            f"{row.max_off_line_relative:.3f} |"
        )
    lines += ["", "Per unit (unit paths; the trajectory is the unit's, the rest at theta_f):", ""]
    lines += ["| path | runs with shape B | through the barrier |", "| --- | --- | --- |"]
    for path, group in frame[frame["path"] != "full"].groupby("path", sort=False):
        barrier = group[group["shape"] == "B"]
        lines.append(f"| {path} | {len(barrier)} | {int(barrier['through_barrier'].sum())} |")
    return "\n".join(lines) + "\n"


def plot_trajectories(runs: Sequence[Run], out: Path, note: str = "") -> None:
    """Every seed: the full path's loss (line) and the trajectory's (dots) against alpha."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
    colours = sns.color_palette("husl", len(runs))
    for colour, run in zip(colours, runs):
        trajectory = json.loads((run.directory / "trajectory.json").read_text())
        full = trajectory["paths"]["full"]
        along = full["trajectory"]
        left.plot(trajectory["alphas"], full["loss"], color=colour, linewidth=1)
        left.plot(along["alpha"], along["loss"], "o:", color=colour, markersize=3, linewidth=0.8,
                  label=f"seed {run.seed}")  # fmt: skip
        right.plot(along["alpha"], np.array(along["off_line"]) / along["line_length"], "o-",
                   color=colour, markersize=3, linewidth=0.8)  # fmt: skip
    left.set_xlabel(r"$\alpha$ (path, line) / $\alpha_t$ (kept states, dots)")
    left.set_ylabel(f"{trajectory['split']} loss")
    left.plot([], [], color="black", linewidth=1, label=r"straight path $\theta_i \to \theta_f$")
    left.plot([], [], "o:", color="black", markersize=3, linewidth=0.8,
              label=r"kept training states at $\alpha_t$")  # fmt: skip
    left.legend(fontsize="x-small", ncol=2, title="a colour per seed", title_fontsize="x-small")
    left.set_title("loss along the path and along training", fontsize="medium")
    right.set_title("how far training strays from the line", fontsize="medium")
    right.set_xlabel(r"$\alpha_t$")
    right.set_ylabel("distance off the line / line length")
    fig.suptitle(f"training trajectory against the straight path (full model); {note}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


# ---- the biased view ----------------------------------------------------------------------
def biased_view_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run: plateau length of the full path, class-bias spread at theta_f."""
    rows = []
    for run in runs:
        spread = run.results.get("extras", {}).get("last_layer_bias_spread")
        full = run.results["paths"].get("full")
        if spread is None or full is None:
            raise ReportError(
                f"{run.directory} lacks the full path or extras.last_layer_bias_spread; "
                "expected a run of experiment=bias_view"
            )
        rows.append(
            {
                "experiment": run.experiment,
                "seed": run.seed,
                "plateau_length": plateau_length(run.results["alphas"], full["loss"]),
                "plateau_fraction": full["plateau_fraction"],
                "shape": full["shape"],
                "bias_std_theta_f": spread["theta_f"]["std"],
                "bias_range_theta_f": spread["theta_f"]["range"],
                "test_acc": run.results["final"]["test_acc"],
            }
        )
    return pd.DataFrame(rows)


def plateau_length(alphas: Sequence[float], losses: Sequence[float], band: float = 0.1) -> float:
    """The alpha where the loss first leaves the band of `band` * |L0 - L1| around L0, linear
    between grid points: the plateau's length, finer than the grid's `plateau_fraction`."""
    limit = band * abs(losses[0] - losses[-1])
    for (a0, l0), (a1, l1) in zip(zip(alphas, losses), zip(alphas[1:], losses[1:])):
        if abs(l1 - losses[0]) > limit:
            gap0, gap1 = abs(l0 - losses[0]), abs(l1 - losses[0])
            return a0 + (a1 - a0) * (limit - gap0) / (gap1 - gap0)
    return float(alphas[-1])


def correlation(x: Sequence[float], y: Sequence[float]) -> dict:
    """Pearson's r with its Fisher-z interval, and Spearman's rho with a bootstrap interval."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"n": len(x), "pearson_r": math.nan, "spearman_rho": math.nan}
    pearson = stats.pearsonr(x, y)
    low, high = pearson.confidence_interval(CONFIDENCE)
    spearman = stats.spearmanr(x, y)
    boot = stats.bootstrap(
        (x, y), lambda a, b: stats.spearmanr(a, b)[0], paired=True, vectorized=False,
        confidence_level=CONFIDENCE, n_resamples=2000, random_state=0, method="percentile",
    )  # fmt: skip
    return {
        "n": len(x),
        "pearson_r": float(pearson.statistic),
        "pearson_ci": [float(low), float(high)],
        "pearson_p": float(pearson.pvalue),
        "spearman_rho": float(spearman.statistic),
        "spearman_ci": [float(boot.confidence_interval.low), float(boot.confidence_interval.high)],
        "spearman_p": float(spearman.pvalue),
    }


def biased_view_markdown(frame: pd.DataFrame, found: dict[str, dict]) -> str:
    lines = [
        "# The biased view (ICLR 2023) across runs",
        "",
        "Claim: when different classes have different last-layer biases, the full path has a "
        "long plateau. Test: plateau length of the full path (the alpha where its loss first "
        "leaves the band of 10% of |L0 - L1| around L0, linear between grid points) against "
        "the population std of the output layer's class biases at theta_f.",
        "",
        "| experiment | runs | Pearson r (95% CI) | p | Spearman rho (95% bootstrap CI) | p |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for experiment, c in found.items():
        if math.isnan(c["pearson_r"]):
            lines.append(f"| {experiment} | {c['n']} | - | - | - | - |")
            continue
        lines.append(
            f"| {experiment} | {c['n']} | {c['pearson_r']:+.2f} "
            f"[{c['pearson_ci'][0]:+.2f}, {c['pearson_ci'][1]:+.2f}] | {c['pearson_p']:.3f} | "
            f"{c['spearman_rho']:+.2f} [{c['spearman_ci'][0]:+.2f}, {c['spearman_ci'][1]:+.2f}] "
            f"| {c['spearman_p']:.3f} |"
        )
    lines += ["", markdown_rows(frame)]
    return "\n".join(lines) + "\n"


def markdown_rows(frame: pd.DataFrame) -> str:
    """`frame` as a Markdown table, floats to 4 decimals."""
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in frame.values]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + " --- |" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def plot_biased_view(frame: pd.DataFrame, runs: Sequence[Run], out: Path, note: str = "") -> None:
    """Plateau length against class-bias spread (left; a colour per experiment, a marker
    per shape), and each run's (alpha_w, alpha_b) loss grid where the run has one (right,
    one small heat map per run on one colour scale, with its colour bar)."""
    grids = [r for r in runs if (r.directory / "planes.json").is_file()]
    columns = min(5, len(grids)) if grids else 0
    rows = -(-len(grids) // columns) if grids else 0
    sns.set_theme(style="whitegrid", context="notebook")
    fig = plt.figure(figsize=(5.5 + 2.6 * columns, max(4.5, 2.8 * rows)), layout="constrained")
    panels = fig.subfigures(1, 2, width_ratios=[5.5, max(2.6 * columns, 0.01)]) if grids else [fig]
    ax = panels[0].subplots()
    palette = colours(list(dict.fromkeys(frame["experiment"])))
    markers = dict(zip(sorted(set(frame["shape"])), MARKERS))
    for (experiment, shape), group in frame.groupby(["experiment", "shape"], sort=False):
        ax.scatter(group["bias_std_theta_f"], group["plateau_length"], s=60,
                   color=palette[experiment], marker=markers[shape],
                   label=f"{experiment}, full path {shape}")  # fmt: skip
    ax.legend(fontsize="small")
    ax.set_xlabel("std of the output layer's class biases at theta_f")
    ax.set_ylabel("plateau length of the full path (alpha)")
    ax.set_title("one point per run", fontsize="medium")
    ax.xaxis.set_major_locator(MaxNLocator(5))
    if grids:
        axes = list(panels[1].subplots(rows, columns, squeeze=False).flat)
        losses = [plane_loss(run) for run in grids]
        low = min(np.nanmin(v) for v in losses)
        high = max(np.nanmax(v) for v in losses)
        for grid_ax, run, loss in zip(axes, grids, losses):
            scale = {"vmin": np.log10(low), "vmax": np.log10(high)}  # one colour scale for all
            image = grid_ax.imshow(np.log10(loss), origin="lower", cmap="magma_r", aspect="auto",
                                   extent=(0, 1, 0, 1), **scale)  # fmt: skip
            grid_ax.plot([0, 1], [0, 1], "--", color="black", linewidth=0.8)
            grid_ax.set_title(f"{run.experiment} seed {run.seed}", fontsize="x-small")
            grid_ax.set_xlabel(r"$\alpha_w$ (weights)", fontsize="small")
            grid_ax.set_ylabel(r"$\alpha_b$ (biases)", fontsize="small")
            grid_ax.tick_params(labelsize="x-small")
            grid_ax.grid(False)
        for grid_ax in axes[len(grids) :]:
            grid_ax.set_visible(False)
        panels[1].colorbar(image, ax=axes, label="log10 test loss", shrink=0.8)
        panels[1].suptitle("loss over (alpha_w, alpha_b); dashed: the full path", fontsize="small")
    fig.suptitle(f"Biased view (ICLR 2023): plateau length against class-bias spread\n{note}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plane_loss(run: Run) -> np.ndarray:
    grid = json.loads((run.directory / "planes.json").read_text())["weights_biases"]
    return np.array([[np.nan if v is None else v for v in row] for row in grid["loss"]], float)


def report(name: str, run_dirs: Sequence[str] = (), out_root: Path = Path("reports"),
           scale: str | None = None, on_bad=None) -> list[Path]:  # fmt: skip
    """Writes the report's figure, CSV and Markdown under reports/<name>/; returns them."""
    out = out_root / name
    if name == "trajectory":
        runs, diverged = runs_for(name, run_dirs, scale, "trajectory.json", on_bad)
        frame = trajectory_frame(runs)
        plot_trajectories(runs, out / "trajectory.png", diverged_note(runs, diverged, listed=False))
        markdown = trajectory_markdown(frame) + f"\n{diverged_note(runs, diverged)}.\n"
        return [out / "trajectory.png", *write_table(frame, markdown, out / name)]
    runs, diverged = runs_for(name, run_dirs, scale, None, on_bad)
    frame = biased_view_frame(runs)
    found = {
        experiment: correlation(group["bias_std_theta_f"], group["plateau_length"])
        for experiment, group in frame.groupby("experiment", sort=False)
    }
    plot_biased_view(
        frame, runs, out / "weights_biases.png", diverged_note(runs, diverged, listed=False)
    )
    (out / "correlation.json").write_text(json.dumps(found, indent=1))
    markdown = biased_view_markdown(frame, found) + f"\n{diverged_note(runs, diverged)}.\n"
    written = write_table(frame, markdown, out / name)
    return [out / "weights_biases.png", out / "correlation.json", *written]


def _num(value) -> str:
    return "-" if value is None or value != value else f"{value:.4f}"
