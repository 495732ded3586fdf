"""Every figure kind, drawn from hand-made results: its title says what it is, its axes and
legend speak in words (text, not pixels)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from landscape.shape import drawn_alpha, stored_metrics
from paper.beyond_report import plot_biased_view
from paper.panels import plot_accuracy_per_unit, plot_training_speed, plot_unit_paths
from paper.report import plot_target, shared_overrides
from paper.settings import TargetSetting
from paper.targets import TARGETS, Sweep
from runs.beyond_figures import plot_plane, plot_trajectory
from runs.figures import path_label, plot_run, with_notes
from runs.store import Run

ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.fixture
def figures(monkeypatch):
    """The figures the plotting functions close, kept open to be read."""
    kept = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    yield kept
    for fig in kept:
        close(fig)


def entry(loss, acc, shape="B", **extra) -> dict:
    return {"loss": loss, "acc": acc, "shape": shape, "split": "test", "bn": "interpolate",
            **extra}  # fmt: skip


def results(seed: int = 0, overrides=("data=digits", "scale=smoke"), **paths) -> dict:
    return {
        "experiment": "mnist_mlp",
        "seed": seed,
        "overrides": ["experiment=mnist_mlp", *overrides, f"seed={seed}"],
        "alphas": ALPHAS,
        "paths": paths
        or {
            "full": entry([2.3, 2.5, 1.0, 0.3, 0.1], [0.1, 0.1, 0.6, 0.9, 0.95]),
            "final_to_new_init": entry(
                [0.1, 0.9, 3.0, 2.4, 2.3], [0.95, 0.6, 0.1, 0.1, 0.1], read_from_end=True
            ),
            "unit/fc1": entry([2.3, 2.0, 1.0, 0.3, 0.1], [0.1, 0.3, 0.6, 0.9, 0.95], "NB"),
        },
    }


def texts(fig) -> dict:
    axes = [ax for ax in fig.axes if ax.get_visible()]
    legends = [ax.get_legend() for ax in axes if ax.get_legend() is not None]
    return {
        "suptitle": fig._suptitle.get_text() if fig._suptitle else "",
        "titles": [ax.get_title() for ax in axes],
        "xlabels": [ax.get_xlabel() for ax in axes],
        "ylabels": [ax.get_ylabel() for ax in axes],
        "legend": [t.get_text() for legend in legends for t in legend.get_texts()],
    }


def test_a_run_figure_names_its_run_paths_and_ends(figures, tmp_path):
    plot_run(results(), tmp_path / "run.png")
    shown = texts(figures[-1])
    assert shown["suptitle"].splitlines()[0].startswith("mnist_mlp, seed 0, smoke scale")
    assert "data: scikit-learn's 8x8 digits standing in for MNIST" in shown["suptitle"]
    assert shown["ylabels"] == ["test loss", "test accuracy"]  # no BN policy on an MLP
    assert all("0: a line's first state, 1: its second" in x for x in shown["xlabels"])
    assert shown["legend"] == [
        r"$\theta_i$ $\to$ $\theta_f$ (all parameters)  [B]",
        r"$\theta_i'$ (new init) $\to$ $\theta_f$  [B]",
        r"unit fc1 only, $\theta_i$ $\to$ $\theta_f$  [NB]",
    ]
    loss_axis = figures[-1].axes[0]
    # the path towards a new init is drawn from theta_i' at alpha 0 (the paper's Fig. 1A)
    lines = {line.get_label(): line for line in loss_axis.get_lines()}
    new_init = lines[r"$\theta_i'$ (new init) $\to$ $\theta_f$  [B]"]
    assert list(new_init.get_xdata()) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert list(new_init.get_ydata()) == [2.3, 2.4, 3.0, 0.9, 0.1]


def test_a_loss_far_above_the_rest_puts_the_loss_axis_on_a_log_scale(figures, tmp_path):
    far = results(
        full=entry([2.3, 47.0, 1.0, 0.3, 0.1], [0.1] * 5), other=entry([1.0] * 5, [0.5] * 5)
    )
    plot_run(far, tmp_path / "far.png")
    assert figures[-1].axes[0].get_yscale() == "log"
    plot_run(results(), tmp_path / "near.png")
    assert figures[-1].axes[0].get_yscale() == "linear"


def test_coinciding_lines_say_so_and_a_re_evaluation_names_itself(figures, tmp_path):
    same = [0.2, 0.3, 0.4, 0.5, 0.6]
    looked = results(full=entry([1, 2, 1, 1, 1], same), weights=entry([1, 1, 1, 1, 1], same),
                     biases=entry([1, 1, 1, 1, 2], same))  # fmt: skip
    looked["evaluation"] = {"name": "bn=recompute"}
    plot_run(looked, tmp_path / "look.png")
    shown = texts(figures[-1])
    assert "re-evaluation 'bn=recompute'" in shown["suptitle"]
    accuracy = figures[-1].axes[1]
    labels = [line.get_label() for line in accuracy.get_lines()]
    first = path_label("full")
    assert labels[1].endswith(f"(on top of {first} in accuracy)")
    assert labels[2].endswith(f"(on top of {first} in accuracy)")
    markers = {line.get_marker() for line in accuracy.get_lines()}
    assert len(markers) == 3  # each line visible under the others


def barrier_location(alphas, losses) -> tuple | None:
    """The marked rise of a curve whose results.json records no location (landscape.shape)."""
    found = stored_metrics({"alphas": alphas}, {"loss": losses})
    start, peak = found["barrier_start_alpha"], found["barrier_peak_alpha"]
    return None if start is None else (start, peak)


def test_the_barrier_location_is_the_running_minimum_before_the_largest_rise():
    assert barrier_location(ALPHAS, [2.0, 1.0, 1.5, 0.8, 0.1]) == (0.25, 0.5)
    assert barrier_location(ALPHAS, [1.0, 0.9, 0.8, 0.7, 0.6]) is None
    assert barrier_location([-0.5, 0.0, 0.5, 1.0], [9.0, 1.0, 2.0, 0.1]) == (0.0, 0.5)


def test_the_shared_legend_says_which_panel_a_line_is_hidden_in(figures, tmp_path):
    same = [1.0, 0.8, 0.6, 0.4, 0.2]
    looked = results(full=entry(same, [0.1, 0.2, 0.3, 0.4, 0.5]),
                     weights=entry(same, [0.5, 0.4, 0.3, 0.2, 0.1]))  # fmt: skip
    plot_run(looked, tmp_path / "look.png")
    legend = [t.get_text() for t in figures[-1].axes[1].get_legend().get_texts()]
    assert legend[1].endswith(f"(on top of {path_label('full')} in loss)")
    assert "(" not in legend[0].split("]")[-1]  # the first line covers nothing


def test_a_path_stored_from_theta_f_is_drawn_from_its_other_end():
    assert drawn_alpha({"read_from_end": True}, 0.25) == 0.75 and drawn_alpha({}, 0.25) == 0.25


def run_of(seed: int, directory: Path, **kwargs) -> Run:
    return Run(directory, results(seed, **kwargs))


def test_a_report_figure_says_target_stand_in_scale_and_seeds(figures, tmp_path):
    target = TARGETS["fig1a"]
    sweep = Sweep("mnist_mlp", ("data=digits",))
    setting = TargetSetting("mnist_mlp", ("data=digits",), [run_of(s, tmp_path) for s in (0, 1)],
                            "mnist_mlp data=digits", sweep=sweep)  # fmt: skip
    plot_target([setting], target, target.titled(True), tmp_path / "report.png", "", "smoke")
    shown = texts(figures[-1])
    lines = shown["suptitle"].splitlines()
    assert lines[0] == (
        "Fig. 1A: MLP on digits stand-in and on the spiral (mean over seeds, band +-1 std)"
    )
    assert lines[1].startswith("smoke scale")
    assert shown["titles"] == ["mnist_mlp data=digits: 2 seeds\n0 of 2 seeds diverged"] * 2
    assert r"$\theta_i$ $\to$ $\theta_f$ (all parameters)" in shown["legend"]


def test_a_report_panel_of_many_lines_drops_its_bands_and_says_so(figures, tmp_path):
    rising = [2.3, 2.0, 1.0, 0.3, 0.1]
    many = {f"unit/layer{i}": entry([v + i / 10 for v in rising], [0.5] * 5) for i in range(5)}
    runs = [run_of(seed, tmp_path, full=entry(rising, [0.5] * 5), **many) for seed in (0, 1)]
    sweep = Sweep("blockwise", ())
    setting = TargetSetting("blockwise", (), runs, "blockwise", sweep)
    plot_target([setting], TARGETS["fig1b"], "Fig. 1B", tmp_path / "many.png", "", "smoke")
    loss_panel = figures[-1].axes[0]
    assert len(loss_panel.get_lines()) == 6 and not loss_panel.collections  # no band
    assert (
        loss_panel.get_title() == "blockwise: 2 seeds, 6 lines: no std bands\n0 of 2 seeds diverged"
    )
    plot_target([setting], TARGETS["fig1a"], "Fig. 1A", tmp_path / "few.png", "", "smoke")
    assert len(figures[-1].axes[0].collections) == len(figures[-1].axes[0].get_lines()) == 1


def trajectory() -> dict:
    along = {"alpha": [0.0, 0.3, 1.0], "loss": [2.3, 1.0, 0.1], "off_line": [0, 0.2, 0],
             "line_length": 1.0}  # fmt: skip
    full = {"loss": [2.3, 2.5, 1.0, 0.3, 0.1], "shape": "B", "alpha_max": 0.25, "trajectory": along}
    return {"split": "test", "epochs": [0, 1, 2], "alphas": ALPHAS, "paths": {"full": full}}


def test_the_trajectory_figure_explains_line_dots_and_peak(figures, tmp_path):
    plot_trajectory(trajectory(), tmp_path / "t.png", "seed 3")
    shown = texts(figures[-1])
    assert shown["suptitle"].startswith("seed 3: training trajectory (dots) against the straight")
    assert shown["legend"] == [
        r"straight path $\theta_i \to \theta_f$ at $\alpha$",
        r"kept training states at $\alpha_t$",
        r"the path's peak ($\alpha_{max}$)",
    ]
    assert "epoch" in shown["ylabels"]  # the colour bar
    assert figures[-1].axes[0].yaxis.get_major_formatter().get_useOffset() is False


def plane(name: str) -> dict:
    grid = [0.0, 0.5, 1.0]
    return {
        "name": name, "split": "test", "through": ["theta_i", "theta_f", "theta_i'"],
        "marks": {"theta_i": (0.0, 0.0), "theta_f": (1.0, 0.0), "theta_i'": (0.0, 1.0)},
        "axes": ["x", "y"], "xs": grid, "ys": grid,
        "loss": [[1.0, 2.0, 0.5], [1.5, 3.0, 1.0], [0.9, 1.2, 2.0]],
        "trajectory": [{"x": 0.0, "y": 0.0}, {"x": 0.5, "y": 0.2}, {"x": 1.0, "y": 0.0}],
    }  # fmt: skip


def test_a_plane_is_one_panel_with_its_axes_named_and_a_colour_bar(figures, tmp_path):
    plot_plane(plane("new_init"), tmp_path / "p.png", "seed 0")
    shown = texts(figures[-1])
    assert len(figures[-1].axes) == 2  # the plane and its colour bar
    assert shown["xlabels"][0] == r"$\alpha$: $\theta_i$ (0) to $\theta_f$ (1)"
    assert shown["ylabels"][0] == r"$\beta$: $\theta_i$ (0) to a new init $\theta_i'$ (1)"
    assert shown["ylabels"][1] == "log10 test loss"
    assert shown["titles"][0] == "seed 0: loss on the plane through theta_i, theta_f, theta_i'"
    labels = [t for t in figures[-1].axes[0].texts]
    assert [t.get_text() for t in labels] == ["theta_i", "theta_f", "theta_i'"]
    assert all(t.get_bbox_patch() is not None for t in labels)  # a box: readable on any colour


def test_the_biased_view_has_a_plain_legend_and_a_colour_bar(figures, tmp_path):
    import pandas as pd

    runs = []
    for seed in range(2):
        directory = tmp_path / str(seed)
        directory.mkdir()
        grid = {"weights_biases": {"loss": [[1.0, 2.0], [1.5, 3.0]]}}
        (directory / "planes.json").write_text(json.dumps(grid))
        runs.append(Run(directory, {"experiment": "bias_view", "seed": seed}))
    frame = pd.DataFrame({"experiment": ["bias_view"] * 2, "shape": ["NB", "P"],
                          "bias_std_theta_f": [0.1, 0.2],
                          "plateau_length": [0.3, 0.4]})  # fmt: skip
    plot_biased_view(frame, runs, tmp_path / "b.png")
    shown = texts(figures[-1])
    assert shown["legend"] == ["bias_view, full path NB", "bias_view, full path P"]
    assert "log10 test loss" in shown["ylabels"]
    assert shown["suptitle"].startswith("Biased view (ICLR 2023)")


def test_layer_wise_paths_are_named_in_words(figures, tmp_path):
    setting = TargetSetting("mlp_width", (), [run_of(s, tmp_path) for s in (0, 1)], "50 all")
    assert plot_unit_paths(setting, tmp_path / "u.png")
    shown = texts(figures[-1])
    assert shown["legend"] == [r"unit fc1 only, $\theta_i$ $\to$ $\theta_f$"]
    assert shown["titles"] == ["Layer-wise paths: 50 all (2 seeds, band +-1 std)"]


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "older_run"])
def test_a_barrier_is_marked_from_where_its_rise_starts_to_its_peak(figures, tmp_path, stored):
    location = {"barrier_start_alpha": 0.25, "barrier_peak_alpha": 0.5} if stored else {}
    looked = results(full=entry([2.0, 1.0, 1.5, 0.8, 0.1], [0.1, 0.5, 0.4, 0.8, 0.9], **location),
                     flat=entry([1.0, 0.9, 0.8, 0.7, 0.6], [0.1] * 5, shape="NB"))  # fmt: skip
    plot_run(looked, tmp_path / "marked.png")
    loss_axis = figures[-1].axes[0]
    strokes = [line for line in loss_axis.get_lines() if line.get_linewidth() == 7]
    assert [list(line.get_xdata()) for line in strokes] == [[0.25, 0.5]]
    assert list(strokes[0].get_ydata()) == [1.0, 1.5]


def test_fig3_training_speed_says_where_each_training_started(figures, tmp_path):
    history = {"val/acc": [0.2, 0.5, 0.8]}
    scratch = [Run(tmp_path, {**results(s), "history": history}) for s in (0, 1)]
    staged = [Run(tmp_path, {**results(s), "history": history}) for s in (0, 1)]
    settings = [
        TargetSetting("blockwise", (), scratch, "weight_decay=0", Sweep("blockwise", ())),
        TargetSetting("blockwise", ("init.offset=0",), staged, "init.offset=0",
                      Sweep("blockwise", ("init.offset=0",), from_sweep="scratch")),
    ]  # fmt: skip
    assert plot_training_speed(settings, tmp_path / "speed.png")
    ax = figures[-1].axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["from scratch (weight_decay=0)", "at the barrier (init.offset=0)"]
    assert [tick for tick in ax.get_xticks() if 1 <= tick <= 3] == [1, 2, 3]  # whole epochs


def test_fig4_accuracy_per_unit_names_what_each_network_started_from(figures, tmp_path):
    def partial(seed: int, unit: str, source: str, acc: float) -> Run:
        done = {**results(seed), "init": {"name": "partial", "unit": unit, "source": source}}
        return Run(tmp_path, {**done, "final": {"test_acc": acc}})

    scratch = [Run(tmp_path, {**results(s), "final": {"test_acc": 0.5}}) for s in (0, 1)]
    reset = [partial(s, u, src, 0.4) for s in (0, 1) for u in ("conv1", "fc")
             for src in ("trained", "pretrained")]  # fmt: skip
    settings = [
        TargetSetting("blockwise", (), scratch, "scratch", Sweep("blockwise", ())),
        TargetSetting("partial_pretraining", (), reset, "RI-k",
                      Sweep("partial_pretraining", (), from_sweep="scratch")),
    ]  # fmt: skip
    assert plot_accuracy_per_unit(settings, tmp_path / "units.png")
    ax = figures[-1].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "trained (theta_f of the base run), unit k random",
        "pre-trained, unit k random",
        "trained from scratch (mean)",
    ]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "fc"]
    assert ax.get_title().startswith("Fig. 4")


def test_a_legend_says_what_differs_and_the_panel_title_what_all_share():
    shared, short = shared_overrides(["model=vgg optim.lr=0.1", "model=vgg optim.lr=0.01"])
    assert shared == "model=vgg"
    assert short == {"model=vgg optim.lr=0.1": "optim.lr=0.1",
                     "model=vgg optim.lr=0.01": "optim.lr=0.01"}  # fmt: skip
    assert shared_overrides(["a=1", "b=2"]) == ("", {"a=1": "a=1", "b=2": "b=2"})
    assert shared_overrides(["a=1 b=2"]) == ("", {"a=1 b=2": "a=1 b=2"})  # one: nothing to cut


def test_a_legend_of_long_notes_goes_under_the_panels_not_beside_them(figures, tmp_path):
    """Lines that coincide on both metrics carry notes longer than a panel is wide: beside
    the panels they squeezed them to nothing."""
    same, flat = [1.0, 0.8, 0.6, 0.4, 0.2], [0.5] * 5
    looked = results(full=entry(same, flat), **{f"unit/block{i}.attention": entry(same, flat)
                                                for i in range(3)})  # fmt: skip
    plot_run(looked, tmp_path / "long.png")
    fig = figures[-1]
    assert [ax.get_legend() for ax in fig.axes] == [None, None]
    (legend,) = fig.legends
    assert len(legend.get_texts()) == 4 and legend._ncols == 1
    assert all(ax.get_position().width > 0.35 for ax in fig.axes)


def test_a_line_covered_on_both_panels_is_named_once():
    notes = [("full", "loss"), "no finite point", ("full", "accuracy")]
    assert with_notes("weights", notes) == (
        "weights (on top of full in loss and accuracy; no finite point)"
    )
    assert with_notes("weights", []) == "weights"


def test_layer_wise_paths_of_many_units_drop_their_bands(figures, tmp_path):
    units = {f"unit/fc{i}": entry([2.3 - i / 10, 2.0, 1.0, 0.3, 0.1], [0.5] * 5) for i in range(5)}
    runs = [run_of(seed, tmp_path, **units) for seed in (0, 1)]
    assert plot_unit_paths(TargetSetting("mlp_width", (), runs, "deep"), tmp_path / "u.png")
    ax = figures[-1].axes[0]
    assert ax.get_title() == "Layer-wise paths: deep (2 seeds, 5 lines: no std bands)"
    assert len(ax.get_lines()) == 5 and not ax.collections


def test_a_tall_report_figure_keeps_its_title_above_the_first_panels(figures, tmp_path):
    """Thirteen rows (the attention report): tight_layout left the title over row one."""
    settings = [
        TargetSetting("mnist_mlp", (f"x={i}",), [run_of(s, tmp_path) for s in (0, 1)], f"x={i}",
                      Sweep("mnist_mlp", (f"x={i}",), title=f"panel {i}"))
        for i in range(13)
    ]  # fmt: skip
    plot_target(settings, TARGETS["fig1a"], "Tall", tmp_path / "tall.png", "", "smoke")
    fig = figures[-1]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    heading = fig._suptitle.get_window_extent(renderer)
    assert all(ax.title.get_window_extent(renderer).y1 <= heading.y0 for ax in fig.axes)
