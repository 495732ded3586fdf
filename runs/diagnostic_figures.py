"""A run figure's diagnostics panels: who makes the curve, its curvature, and agreement.

Drawn under the run's loss and accuracy (`runs.figures.plot_run`) for one path, the full
path when it has diagnostics: the loss with each part's share of every step of it as
stacked bars (rises up, falls down), each part's cumulative share, d2L/dalpha2 with the
Hessian's top eigenvalue and trace, and the share of predictions kept from either end.
"""

from __future__ import annotations

import numpy as np

from runs.figures import colours

SHOWN_PARTS = 9  # more parts: the largest by their whole share, the rest summed as one


def diagnosed_path(results: dict) -> str | None:
    """The path whose diagnostics the figure shows: `full` if it has them, else the first."""
    having = [p for p, e in results.get("paths", {}).items() if e.get("diagnostics")]
    return "full" if "full" in having else next(iter(having), None)


def shown_parts(attribution: dict) -> tuple[list[str], dict[str, list[float]]]:
    """At most SHOWN_PARTS parts' cumulative shares, the smallest summed as `the rest`."""
    cumulative = {u: np.asarray(v, float) for u, v in attribution["cumulative"].items()}
    order = sorted(cumulative, key=lambda u: -np.nanmax(np.abs(cumulative[u])))
    if len(order) <= SHOWN_PARTS:
        return order, cumulative
    kept, rest = order[: SHOWN_PARTS - 1], order[SHOWN_PARTS - 1 :]
    merged = {u: cumulative[u] for u in kept}
    merged[f"the rest ({len(rest)})"] = sum(cumulative[u] for u in rest)
    return list(merged), merged


def draw_diagnostics(fig, results: dict, path: str) -> None:
    """On `fig` (a subfigure): the loss over each part's share of each grid step, and each
    part's cumulative share beside them; then curvature and agreement. A diagnostic the run
    did not ask for says so."""
    entry = results["paths"][path]
    found = entry["diagnostics"]
    alphas = np.asarray(results["alphas"], float)
    axes = fig.subplot_mosaic(
        [["loss", "cumulative"], ["steps", "cumulative"], ["curvature", "agreement"]],
        height_ratios=[1, 1.2, 1.4],
    )
    axes["steps"].sharex(axes["loss"])
    axes["loss"].tick_params(labelbottom=False)
    if "attribution" in found:
        draw_attribution(axes, alphas, entry, found["attribution"])
    else:
        for name in ("loss", "steps", "cumulative"):
            _absent(axes[name], "attribution")
    if "curvature" in found:
        draw_curvature(axes["curvature"], alphas, found["curvature"])
    else:
        _absent(axes["curvature"], "curvature")
    if "agreement" in found:
        ax = axes["agreement"]
        for key, label in (("with_start", "as at alpha = 0"), ("with_end", "as at alpha = 1")):
            ax.plot(alphas, _floats(found["agreement"][key]), marker=".", label=label)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("share of examples predicted")
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    else:
        _absent(axes["agreement"], "agreement")
    for name in ("steps", "cumulative", "curvature", "agreement"):
        axes[name].set_xlabel(r"$\alpha$")
    fig.suptitle(f"path {path}: which {found['partition']} make the loss curve, its curvature, "
                 "and agreement with its ends", fontsize="medium")  # fmt: skip


def draw_attribution(axes, alphas, entry: dict, attribution: dict) -> None:
    """The loss with its largest rise shaded; under it each part's share of each grid step
    as stacked bars (rises up, falls down; the step itself as a dot). Beside them each
    part's share of L(alpha) - L(0), with that change and the quadrature's residual."""
    names, cumulative = shown_parts(attribution)
    palette = colours(names)
    loss = _floats(entry["loss"])
    axes["loss"].plot(alphas, loss, color="black", marker=".")
    axes["loss"].set_ylabel(f"{entry['split']} loss")
    barrier = attribution.get("barrier")
    if barrier:
        low, high = sorted((barrier["start_alpha"], barrier["peak_alpha"]))
        for name in ("loss", "steps"):
            axes[name].axvspan(low, high, color="grey", alpha=0.15, lw=0)
        axes["loss"].set_title(f"largest rise shaded: {barrier['rise']:.3g}", fontsize="small")
    middles, widths = (alphas[1:] + alphas[:-1]) / 2, np.diff(alphas) * 0.9
    up, down = np.zeros(len(middles)), np.zeros(len(middles))
    for u in names:
        step = np.diff(cumulative[u])
        rising, falling = np.clip(step, 0, None), np.clip(step, None, 0)
        axes["steps"].bar(middles, rising, widths, bottom=up, color=palette[u], lw=0)
        axes["steps"].bar(middles, falling, widths, bottom=down, color=palette[u], lw=0)
        up, down = up + rising, down + falling
    axes["steps"].plot(middles, np.diff(loss), "o", color="black", markersize=3)
    axes["steps"].axhline(0, color="black", lw=0.5)
    axes["steps"].set_ylabel("each part's share\nof each step of the loss")
    cumulative_ax = axes["cumulative"]
    for u in names:
        cumulative_ax.plot(alphas, cumulative[u], color=palette[u], label=u)
    cumulative_ax.plot(alphas, loss - loss[0], color="black", ls="--",
                       label="L(alpha) - L(0) (dots: its steps)")  # fmt: skip
    cumulative_ax.plot(alphas, _floats(attribution["residual"]), color="grey", ls=":",
                       label="residual (quadrature)")  # fmt: skip
    cumulative_ax.axhline(0, color="black", lw=0.5)
    cumulative_ax.set_ylabel("each part's share of L(alpha) - L(0)")
    cumulative_ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")


def draw_curvature(ax, alphas, curvature: dict) -> None:
    """d2L/dalpha2 along the path; the Hessian's top eigenvalue and trace (with its
    standard error) at its alphas on a second axis."""
    ax.plot(alphas, _floats(curvature["along_path"]), color="tab:blue", marker=".",
            label=r"$d^2L/d\alpha^2$ (left)")  # fmt: skip
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel(r"$d^2L/d\alpha^2 = \delta^T H \delta$")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    points = [h for h in curvature.get("hessian", []) if h.get("alpha") is not None]
    handles = ax.get_legend_handles_labels()[0]
    if points:
        right = ax.twinx()
        right.grid(False)
        at = [h["alpha"] for h in points]
        right.plot(at, [h["top_eigenvalue"] for h in points], "s", color="tab:red",
                   label="top eigenvalue (right)")  # fmt: skip
        right.errorbar(at, [h["trace"] for h in points],
                       yerr=[h["trace_standard_error"] or 0 for h in points], fmt="^",
                       color="tab:green", capsize=3, label="trace, +-1 s.e. (right)")  # fmt: skip
        right.set_ylabel("Hessian over the path's parameters")
        handles += right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize="x-small", loc="lower center", bbox_to_anchor=(0.5, 1.0),
              ncol=2, frameon=False)  # fmt: skip


def _floats(values) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], float)


def _absent(ax, name: str) -> None:
    ax.text(0.5, 0.5, f"{name}: not asked for\n(interpolation.diagnostics)", ha="center",
            va="center", transform=ax.transAxes)  # fmt: skip
