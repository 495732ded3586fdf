"""Figures of loss and accuracy against alpha: one run's paths, or means over seeds.

What a reader of the paper needs from them: lines named in words (theta_i -> theta_f, not
`full`), each line running from its first state at alpha 0 to its second at 1 (the path
towards a new init is drawn from theta_i' at 0, as the paper's Fig. 1A; results.json keeps
it from theta_f), the barrier's place marked, a log axis where one curve would flatten
the rest, and lines that coincide still visible.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from landscape.shape import drawn_alpha, stored_metrics  # noqa: E402

PATH_STYLES = {"full": "-", "final_to_new_init": "--", "init_to_new_init": ":"}
OTHER_STYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (1, 1, 3, 1)))  # lines of many settings
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # every line its own, so coinciding ones show
BOUNDS = {"loss": (0.0, None), "acc": (0.0, 1.0)}  # a mean +- std band stays inside these
BAND_ALPHA = 0.12  # light enough that overlapping seed bands keep their colours
LOG_RATIO = 30.0  # a loss axis whose largest value is this many times its median goes log
Note = str | tuple[str, str]  # a legend note: text, or (a line this one covers, on what)
MOST_BANDS = 3  # std bands on a panel of at most this many lines; beyond, they hide the lines
COINCIDE = 1e-3  # two mean curves closer than this share of the axis range coincide
TAB10 = 10  # colours of seaborn's default palette; more lines take evenly spaced hues
LEGEND_ROWS = 12  # a legend column beside a panel holds this many lines
LEGEND_CHARS = 90  # a label longer than this goes under the panels, not beside them
METRIC_WORDS = {"loss": "loss", "acc": "accuracy"}
# Data sets that stand in for another where the real one is not on disk
STAND_INS = {"digits": "scikit-learn's 8x8 digits standing in for MNIST"}
NOT_A_SETTING = (
    "seed", "scale", "reuse", "experiment", "data.root", "data.check_integrity", "progress",
)  # fmt: skip
THETA = {"i": r"$\theta_i$", "f": r"$\theta_f$", "new": r"$\theta_i'$"}
LEGEND_TITLE = "path [shape]\n(broad stroke: a barrier's rise)"
ALPHA_LABEL = r"$\alpha$ (0: a line's first state, 1: its second)"


def path_label(path: str) -> str:
    """A path in words, first state first as it is drawn."""
    i, f, new = THETA["i"], THETA["f"], THETA["new"]
    if path == "full":
        return rf"{i} $\to$ {f} (all parameters)"
    if path == "final_to_new_init":
        return rf"{new} (new init) $\to$ {f}"
    if path == "init_to_new_init":
        return rf"{i} $\to$ {new} (two inits)"
    if path in ("weights", "biases"):
        return rf"{path} only, {i} $\to$ {f}"
    kind, _, rest = path.partition("/")
    if kind == "unit":
        return rf"unit {rest} only, {i} $\to$ {f}"
    if kind == "group":
        unit, _, group = rest.rpartition("/")
        return rf"{group.replace('_', ' ')} of {unit} only"
    return path


def curves_frame(results: dict, view: str | None = None) -> pd.DataFrame:
    """One row per (path, alpha) of one run: path, alpha (as drawn), loss, acc (NaN where
    null); `view` picks one of the run's extra views (results["views"]) instead."""
    paths = results["paths"] if view is None else results["views"][view]
    rows = [
        {"path": path, "alpha": drawn_alpha(entry, alpha), "loss": loss, "acc": acc}
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
    label_of: Callable[[str], str] = path_label,
) -> dict[str, list[Note]]:
    """One line per (hue, path) of `frame`: the mean over its rows at each alpha, with a
    +-1 std band (kept within the metric's bounds) when `band`. Each line has its own
    colour, style and marker; a line that covers an earlier one says so in its label (which
    line, on which metric), one with no finite point too, and a panel with none at all says
    why. The loss axis goes log when one curve's values would flatten the others'. Returns
    each line's notes by its plain label, for a legend that several panels share."""
    names = list(dict.fromkeys(frame[hue]))
    palette = colours(names)
    several_paths = hue != "path" and frame["path"].nunique() > 1
    low, high = BOUNDS.get(metric, (None, None))
    drawn: list[tuple[str, pd.Series]] = []
    notes: dict[str, list[Note]] = {}
    span = np.nanmax(frame[metric]) - np.nanmin(frame[metric]) if frame[metric].notna().any() else 0
    for index, ((name, path), part) in enumerate(frame.groupby([hue, "path"], sort=False)):
        stats = part.groupby("alpha", sort=True)[metric].agg(["mean", "std"])
        label = label_of(path) if hue == "path" else name
        plain = path_label(path) if hue == "path" else name  # no shape tag: names a line
        if several_paths:
            label = f"{name}: {label_of(path)}"
            plain = f"{name}: {path_label(path)}"
        notes[label] = []
        if stats["mean"].isna().all():
            notes[label].append("no finite point")
        same = next((other for other, mean in drawn if _coincide(mean, stats["mean"], span)), None)
        if same is not None:
            notes[label].append((same, METRIC_WORDS.get(metric, metric)))
        ax.plot(stats.index, stats["mean"], color=palette[name], linestyle=style_of(path),
                marker=MARKERS[index % len(MARKERS)], markersize=4,
                markevery=_mark_every(len(stats), index),
                label=with_notes(label, notes[label]))  # fmt: skip
        drawn.append((plain, stats["mean"]))
        if band and same is None:  # a line on top of another has its band too
            spread = stats["std"].fillna(0.0)
            lower = (stats["mean"] - spread).clip(lower=low, upper=high)
            upper = (stats["mean"] + spread).clip(lower=low, upper=high)
            ax.fill_between(stats.index, lower, upper, color=palette[name], alpha=BAND_ALPHA, lw=0)
    if frame[metric].isna().all():
        reason = f": {empty_reason}" if empty_reason else ""
        ax.text(0.5, 0.5, f"no finite {metric}{reason}", ha="center", transform=ax.transAxes)
    elif metric == "loss" and needs_log_axis(frame[metric]):
        ax.set_yscale("log")
    ax.set_xlabel(ALPHA_LABEL, fontsize="small")
    return notes


def with_notes(label: str, notes: list[Note]) -> str:
    """`label (notes)`: a note is text, or (line, metric) for a line this one covers; a line
    covered on both panels is said once ('on top of X in loss and accuracy')."""
    metrics: dict[Note, list[str]] = {}  # each note once, a covered line's metrics gathered
    for note in notes:
        key = note[0] if isinstance(note, tuple) else note
        metrics.setdefault(key, [])
        if isinstance(note, tuple) and note[1] not in metrics[key]:
            metrics[key].append(note[1])
    words = [f"on top of {n} in {' and '.join(m)}" if m else n for n, m in metrics.items()]
    return f"{label} ({'; '.join(words)})" if words else label


def shown_length(label: str) -> int:
    """About how many characters `label` shows: a $math$ piece (theta_i, an arrow) as two."""
    return len(re.sub(r"\$[^$]*\$", "..", label))


def add_notes(notes: dict[str, list[Note]], more: Mapping[str, list[Note]]) -> None:
    for label, said in more.items():
        notes.setdefault(label, []).extend(said)


def legend_beside(ax, notes: Mapping[str, list[Note]], under=None, **options) -> None:
    """One legend for a row of panels, beside its last: every line with the notes that any
    panel of the row gave it (which line it covers, and on which metric). With `under` (a
    figure), below all its panels instead: a transformer's many paths, or long notes."""
    place = (
        dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
        if under is None
        else dict(loc="outside lower center", fontsize="x-small")
    )
    labels = [with_notes(label, said) for label, said in notes.items()]
    (ax if under is None else under).legend(ax.get_lines(), labels, **place, **options)


def _coincide(a: pd.Series, b: pd.Series, span: float) -> bool:
    if len(a) != len(b) or a.isna().all() or not np.array_equal(a.index, b.index):
        return False
    return bool(np.nanmax(np.abs(a.to_numpy() - b.to_numpy())) <= COINCIDE * max(span, 1e-12))


def _mark_every(points: int, index: int) -> tuple[int, int]:
    """About eight markers a line, each line's shifted so coinciding ones alternate."""
    step = max(1, points // 8)
    return (index % step, step)


def needs_log_axis(values: pd.Series) -> bool:
    finite = values[np.isfinite(values) & (values > 0)]
    return len(finite) > 1 and finite.max() > LOG_RATIO * finite.median()


def path_style(path: str) -> object:
    return PATH_STYLES.get(path, "-")


def empty_reason(results: dict) -> str:
    """Why a run's panel can be empty: its trained state itself is not finite."""
    nonfinite = results.get("divergence", "theta_f holds NaN or inf") == "theta_f holds NaN or inf"
    return (
        "theta_f holds NaN or inf (training diverged)"
        if results.get("diverged") and nonfinite
        else ""
    )


def mark_barriers(ax, results: dict, paths: Mapping[str, dict], palette: Mapping) -> None:
    """Each barrier's rise, from where it starts to its peak (`barrier_start_alpha`,
    `barrier_peak_alpha`; an older run's computed from its curve with its own thresholds), as
    a broad translucent stroke over its loss curve as drawn."""
    for path, entry in paths.items():
        metrics = stored_metrics(results, entry)
        where = [metrics.get(name) for name in ("barrier_start_alpha", "barrier_peak_alpha")]
        if None in where:
            continue
        low, high = sorted(drawn_alpha(entry, a) for a in where)
        drawn = [drawn_alpha(entry, a) for a in results["alphas"]]
        rise = sorted((a, v) for a, v in zip(drawn, entry["loss"]) if low <= a <= high)
        ax.plot(*zip(*rise), color=palette.get(path, "grey"), linewidth=7, alpha=0.25,
                solid_capstyle="round", zorder=1)  # fmt: skip


def describe(results: dict, evaluation: str | None = None) -> str:
    """A run's title: experiment, seed, scale, its setting (the overrides that are not
    bookkeeping), a stand-in data set in words, and the evaluation's name."""
    overrides = [o.lstrip("+~") for o in results.get("overrides", [])]
    setting = [o for o in overrides if o.partition("=")[0] not in NOT_A_SETTING]
    scale = next((o.partition("=")[2] for o in overrides if o.startswith("scale=")), "full")
    first = f"{results.get('experiment', '')}, seed {results.get('seed', '')}"
    if scale == "smoke":
        first += ", smoke scale (tiny data and model: exercises the code, means nothing)"
    lines = [first]
    if setting:
        lines.append(" ".join(setting))
    data = [o.partition("=")[2] for o in overrides if o.startswith("data=")]
    stand_ins = [STAND_INS[d] for d in data if d in STAND_INS]
    if stand_ins:
        lines.append(f"data: {stand_ins[0]}")
    elif results.get("data_name"):  # what results.json says it trained on
        lines.append(f"data: {results['data_name']}")
    if evaluation or results.get("evaluation"):
        lines.append(f"re-evaluation '{evaluation or results['evaluation'].get('name')}'")
    return "\n".join(lines)


def y_label(metric: str, entry: Mapping) -> str:
    """`test loss`; the BN policy only when it changes something (statistics recomputed)."""
    words = f"{entry.get('split', 'test')} {METRIC_WORDS[metric]}"
    return words + (" (BN statistics re-estimated)" if entry.get("bn") == "recompute" else "")


def plot_run(results: dict, out: Path, below: Callable | None = None) -> None:
    """Loss (left) and accuracy (right) along every path of one run; a row per view (split
    and BN policy) when the run has more than one. `below(subfigure)` draws more panels
    under them (`runs.diagnostic_figures`)."""
    views = [None, *results.get("views", {})]
    sns.set_theme(style="whitegrid", context="notebook")
    height = 4.2 * len(views) + (8 if below else 0)
    fig = plt.figure(figsize=(12, height), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[len(views), 2]) if below else (fig, None)
    grid = top.subplots(len(views), 2, squeeze=False)
    row_notes = []
    for axes, view in zip(grid, views):
        frame = curves_frame(results, view)
        entries = results["paths"] if view is None else results["views"][view]
        entry = next(iter(entries.values()), {"split": "test"})
        shapes = {p: e.get("shape") for p, e in entries.items()}

        def with_shape(path: str, shapes=shapes) -> str:
            return f"{path_label(path)}  [{shapes[path]}]" if shapes.get(path) else path_label(path)

        notes: dict[str, list[Note]] = {}
        for ax, metric in zip(axes, ("loss", "acc")):
            drawn = draw_curves(ax, frame, metric, "path", path_style, False,
                                empty_reason(results), label_of=with_shape)  # fmt: skip
            add_notes(notes, drawn)
            ax.set_ylabel(y_label(metric, entry))
        mark_barriers(axes[0], results, entries, colours(list(entries)))
        row_notes.append(notes)
    legend = dict(title=LEGEND_TITLE, title_fontsize="small")
    lines = max(map(len, row_notes))
    longest = max((shown_length(with_notes(*note)) for notes in row_notes
                   for note in notes.items()), default=0)  # fmt: skip
    if lines > LEGEND_ROWS or longest > LEGEND_CHARS:  # beside, it would squeeze the panels
        columns = 2 if lines > LEGEND_ROWS else 1  # a transformer's many units
        fig.set_size_inches(12, height + 0.2 * -(-lines // columns))
        # once, under every panel: the views show the same paths
        legend_beside(grid[0][-1], row_notes[0], top, ncol=columns, **legend)
    else:
        for axes, notes in zip(grid, row_notes):
            legend_beside(axes[-1], notes, **legend)
    fig.suptitle(describe(results), fontsize="medium")
    if below is not None:
        below(bottom)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
