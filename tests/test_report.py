"""Reports from hand-made results.json files: runs taken by their training setting, means,
stds, shapes, Table 1 against matched controls, bad input."""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf, open_dict

from paper.report import main as report_main
from paper.settings import compose
from paper.tables import bootstrap_interval
from paper.targets import TARGETS
from sweeps.run_target import main as run_target_main
from tests.conftest import REPO

ALPHAS = [0.0, 0.5, 1.0]
# experiments whose data is generated or bundled: no data.root
DATA_FREE = {"mnist_mlp", "spiral_mlp", "mlp_width", "bias_view"}
DATA_FREE |= {e for e in TARGETS["attention"].experiments if e != "vit_pretrained"}


@functools.cache
def job_config(overrides: tuple[str, ...]):
    """The job config run.py would save in .hydra/config.yaml for these overrides."""
    (cfg,) = compose(overrides)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def write_run(
    directory: Path,
    experiment: str,
    seed: int,
    overrides: list[str],
    test_acc: float,
    test_loss: float = 0.5,
    distance: float = 1.0,
    paths: dict[str, tuple[str, float]] | None = None,
    mtime: float | None = None,
    init: dict | None = None,
    history: dict | None = None,
) -> Path:
    """A run as run.py leaves it: results.json (paths: name -> (shape, max_rise)) and the
    composed config in .hydra/config.yaml."""
    paths = paths or {"full": ("B", 0.1)}
    results = {
        "schema": 1,
        "experiment": experiment,
        "seed": seed,
        "overrides": [f"experiment={experiment}", *overrides, f"seed={seed}"],
        "init": init or {"name": "random"},
        "final": {
            "test_loss": test_loss,
            "test_acc": test_acc,
            "train_loss": 0.1,
            "train_acc": 1.0,
        },
        "history": history or {"train/acc": [0.5, 0.97]},
        "distance": distance,
        "alphas": ALPHAS,
        "paths": {
            name: {
                "label": name,
                "split": "test",
                "loss": [2.3, 2.3 + rise, test_loss],
                "acc": [0.1, 0.2, test_acc],
                "shape": shape,
                "max_rise": rise,
                "barrier_height": 2 * rise,
                "alpha_max": 0.5,
                "plateau_fraction": 0.0,
            }
            for name, (shape, rise) in paths.items()
        },
        "timing": {"fit_s": 1.0, "interpolation_s": 0.1},
    }
    (directory / ".hydra").mkdir(parents=True, exist_ok=True)
    config = job_config((f"experiment={experiment}", *overrides)).copy()
    config.seed = seed
    OmegaConf.save(config, directory / ".hydra" / "config.yaml")
    path = directory / "results.json"
    path.write_text(json.dumps(results))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return directory


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture
def weight_decay_runs(tmp_path: Path) -> Path:
    """Two settings x three seeds, plus an older duplicate of one seed that must not count."""
    root = tmp_path / "multirun" / "weight_decay" / "2026-01-01"
    accs = {"0.0005": [0.90, 0.92, 0.94], "0.0": [0.80, 0.84, 0.88]}
    shapes = {"0.0005": ["B", "B", "NB"], "0.0": ["P", "P", "P"]}
    rises = {"0.0005": [0.1, 0.2, 0.3], "0.0": [0.0, 0.0, 0.3]}
    job = 0
    for wd in accs:
        for seed in range(3):
            write_run(
                root / str(job),
                "weight_decay",
                seed,
                [f"optimizer.weight_decay={wd}"],
                test_acc=accs[wd][seed],
                test_loss=1.0 + seed,
                distance=2.0 * (seed + 1),
                paths={"full": (shapes[wd][seed], rises[wd][seed])},
                mtime=2_000_000 + job,
            )
            job += 1
    stale = tmp_path / "multirun" / "weight_decay" / "2025-01-01" / "0"
    write_run(stale, "weight_decay", 0, ["optimizer.weight_decay=5.0e-4"], 0.10, mtime=1_000_000)
    return tmp_path


def test_report_means_stds_and_shape_counts(weight_decay_runs: Path, tmp_path: Path):
    out = tmp_path / "reports"
    assert report_main(["fig7", str(weight_decay_runs / "multirun"), "--out", str(out)]) == 0
    stem = out / "fig7" / "fig7_weight_decay"
    assert stem.with_suffix(".png").stat().st_size > 10_000
    rows = {r["setting"]: r for r in read_csv(stem.with_suffix(".csv"))}
    # labelled by the sweep's values, whatever the runs' overrides said (5.0e-4)
    assert set(rows) == {"optimizer.weight_decay=0.0005", "optimizer.weight_decay=0.0"}
    wd = rows["optimizer.weight_decay=0.0005"]
    # by hand: acc 90, 92, 94 -> mean 92, sample std 2; loss 1, 2, 3 -> 2 +- 1;
    # distance 2, 4, 6 -> 4 +- 2; max_rise 0.1, 0.2, 0.3 -> 0.2 +- 0.1; the stale seed 0 is out
    assert wd["seeds"] == "3"
    assert float(wd["test_acc_mean"]) == pytest.approx(92.0)
    assert float(wd["test_acc_std"]) == pytest.approx(2.0)
    assert float(wd["test_loss_mean"]) == pytest.approx(2.0)
    assert float(wd["test_loss_std"]) == pytest.approx(1.0)
    assert float(wd["distance_mean"]) == pytest.approx(4.0)
    assert float(wd["distance_std"]) == pytest.approx(2.0)
    assert float(wd["max_rise_mean"]) == pytest.approx(0.2)
    assert float(wd["max_rise_std"]) == pytest.approx(0.1)
    assert float(wd["barrier_height_mean"]) == pytest.approx(0.4)
    assert (wd["NB"], wd["B"], wd["P"], wd["shape"]) == ("1", "2", "0", "B")
    no_wd = rows["optimizer.weight_decay=0.0"]
    # acc 80, 84, 88 -> 84 +- 4
    assert float(no_wd["test_acc_mean"]) == pytest.approx(84.0)
    assert float(no_wd["test_acc_std"]) == pytest.approx(4.0)
    assert (no_wd["NB"], no_wd["B"], no_wd["P"], no_wd["shape"]) == ("0", "0", "3", "P")
    markdown = stem.with_suffix(".md").read_text()
    assert "| 92.00 ± 2.00 |" in markdown and "| 1/2/0/0 |" in markdown


def test_paper_numbers_sit_beside_ours(tmp_path: Path):
    root = tmp_path / "runs"
    for job, lr in enumerate(["1e-1", "0.01", "0.001"]):
        write_run(root / str(job), "fixed_lr", 0, [f"optimizer.lr={lr}"], 0.9, distance=job)
    out = tmp_path / "reports"
    assert report_main(["fig8", str(root), "--out", str(out)]) == 0
    rows = read_csv(out / "fig8" / "fig8_fixed_lr.csv")
    paper = {r["setting"]: float(r["paper_distance"]) for r in rows}
    assert paper == {  # the run spelled 1e-1 trains as the sweep's 0.1
        "optimizer.lr=0.1": 1.03,
        "optimizer.lr=0.01": 0.88,
        "optimizer.lr=0.001": 0.22,
    }


def units(rise: float, full: str = "P") -> dict[str, tuple[str, float]]:
    return {"full": (full, 0.0), "unit/layer1": ("B", rise), "unit/fc": ("NB", 0.0)}


def test_reports_take_runs_by_setting_not_by_experiment(tmp_path: Path):
    """Fig. 3's no-WD blockwise runs stay out of Fig. 1B; a weight_decay run at the base's
    5e-4 trains as the base and counts there; the Markdown lists the directories used."""
    root = tmp_path / "multirun"
    base = write_run(root / "blockwise" / "0", "blockwise", 0, [], 0.92, paths=units(0.3))
    no_wd = write_run(root / "blockwise" / "fig3" / "0", "blockwise", 1,
                      ["optimizer.weight_decay=0"], 0.50, paths=units(5.0))  # fmt: skip
    same = write_run(root / "weight_decay" / "3", "weight_decay", 1,
                     ["optimizer.weight_decay=5e-4"], 0.94, paths=units(0.1))  # fmt: skip
    # Table 2's "lr 0.1 all" row trains as the base too, newer, but without unit paths:
    # of one seed's runs, the one with the most of the report's paths counts
    newer = write_run(root / "layer_lr_wd" / "0", "layer_lr_wd", 0, ["table2=lr_all"], 0.10,
                      paths={"full": ("P", 0.0)}, mtime=4_000_000_000)  # fmt: skip
    out = tmp_path / "reports"
    assert report_main(["fig1b", str(root), "--out", str(out)]) == 0
    stem = out / "fig1b" / "fig1b_blockwise"
    rows = read_csv(stem.with_suffix(".csv"))
    assert {r["seeds"] for r in rows} == {"2"}
    assert float(rows[0]["test_acc_mean"]) == pytest.approx(93.0)  # 92 and 94, not 50
    markdown = stem.with_suffix(".md").read_text()
    assert str(base) in markdown and str(same) in markdown
    assert str(no_wd) not in markdown and str(newer) not in markdown


def test_table1_compares_each_intervention_with_its_own_control(tmp_path: Path):
    root = tmp_path / "multirun"
    # the base (92.2%) and scratch without weight decay (90.0%): Fig. 3's control
    for seed, acc in enumerate([0.921, 0.923]):
        write_run(root / "base" / str(seed), "blockwise", seed, [], acc, paths=units(0.2))
    for seed, acc in enumerate([0.899, 0.901]):
        write_run(root / "scratch" / str(seed), "blockwise", seed, ["optimizer.weight_decay=0"],
                  acc, paths=units(0.4, full="B"))  # fmt: skip
    # barrier init (91.1%), each from its own scratch run: better than its control, though
    # worse than the base
    for seed, acc in enumerate([0.910, 0.912]):
        source = root / "scratch" / str(seed)
        write_run(root / "barrier" / str(seed), "barrier_init", seed,
                  [f"init.from_run={source}", "init.offset=0"], acc, paths=units(0.4, "NB"),
                  init={"name": "barrier", "from_run": str(source), "alpha": 0.5})  # fmt: skip
    # more weight decay: unit barriers 0.5 > 1.1 x 0.2 (H-LB), 90.0% < 92.2% (Worse)
    write_run(root / "wd" / "0", "weight_decay", 0, ["optimizer.weight_decay=5.0e-3"], 0.90,
              paths=units(0.5))  # fmt: skip
    # MLPs: width 500 against width 50
    wide = "model.hidden=[500,500,500,500,500,500,500]"
    narrow = "model.hidden=[50,50,50,50,50,50,50]"
    write_run(root / "mlp" / "0", "mlp_width", 0, [wide], 1.0, paths=units(0.0, "NB"))
    write_run(root / "mlp" / "1", "mlp_width", 0, [narrow], 0.99, paths=units(0.1, "B"))
    write_run(root / "spiral" / "0", "spiral_mlp", 0, [], 0.99)
    out = tmp_path / "reports"
    assert report_main(["table1", str(root), "--out", str(out)]) == 0
    rows = {r["intervention"]: r for r in read_csv(out / "table1" / "table1.csv")}
    # scratch without weight decay trains as Fig. 7's WD 0 too: counted there as well
    assert set(rows) == {
        "Height of the barrier initialization",
        "Less weight decay",
        "More weight decay",
        "MLPs: overparameterize",
    }
    assert rows["Less weight decay"]["setting"] == "optimizer.weight_decay=0.0"
    barrier = rows["Height of the barrier initialization"]
    assert barrier["control"] == "scratch, no WD" and barrier["control_seeds"] == "2"
    assert float(barrier["test_acc"]) == pytest.approx(91.1)
    assert float(barrier["control_test_acc"]) == pytest.approx(90.0)
    assert float(barrier["delta_test_acc"]) == pytest.approx(1.1)
    assert barrier["test_acc_vs_control"] == "Better" and barrier["paper_test_acc"] == "Better"
    assert (barrier["full_shape"], barrier["control_full_shape"]) == ("NB", "B")
    assert barrier["unit_barriers"] == "="  # 0.2 mean over (0.4, 0) each side
    lo, hi = float(barrier["delta_test_acc_ci_low"]), float(barrier["delta_test_acc_ci_high"])
    assert 0 < lo < 1.1 < hi  # means of two seeds a side: 91.0-91.2 against 89.9-90.1
    more = rows["More weight decay"]
    # one seed: no interval, no verdict
    assert (more["control"], more["unit_barriers"], more["test_acc_vs_control"]) == (
        "base (WD 5e-4)",
        "H-LB",
        "-",
    )
    assert float(more["delta_test_acc"]) == pytest.approx(-2.2)
    mlp = rows["MLPs: overparameterize"]
    assert (mlp["control"], mlp["full_shape"]) == ("8-layer MLP, width 50", "NB")
    markdown = (out / "table1" / "table1.md").read_text()
    assert "| Height of the barrier initialization | Fig. 3 | init.offset=0 | scratch, no WD |" in (
        markdown
    )
    assert f"| +1.10 [{lo:+.2f}, {hi:+.2f}] | Better |" in markdown
    assert str(root / "barrier" / "0") in markdown  # the runs used are listed


def spread(mean_pp: float, std_pp: float, n: int = 10) -> list[float]:
    """`n` accuracies with exactly this mean and sample std (percentage points)."""
    z = np.random.default_rng(7).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return [(mean_pp + std_pp * v) / 100 for v in z]


def test_table1_decides_by_the_interval_of_the_difference(tmp_path: Path):
    """10 seeds a side: 91.1 +- 0.3 against 90.0 +- 0.3 is Better, 92.1 +- 0.3 against
    92.2 +- 0.3 is Same; the interval is printed and matches the normal-theory one."""
    root = tmp_path / "multirun"
    accs = {
        "base": spread(92.2, 0.3),
        "scratch": spread(90.0, 0.3),
        "barrier": spread(91.1, 0.3),
        "wd": spread(92.1, 0.3),
    }
    for seed in range(10):
        write_run(root / "base" / str(seed), "blockwise", seed, [], accs["base"][seed])
        source = write_run(root / "scratch" / str(seed), "blockwise", seed,
                           ["optimizer.weight_decay=0"], accs["scratch"][seed])  # fmt: skip
        write_run(root / "barrier" / str(seed), "barrier_init", seed,
                  ["init.from_run=X", "init.offset=0"], accs["barrier"][seed],
                  init={"name": "barrier", "from_run": str(source)})  # fmt: skip
        write_run(root / "wd" / str(seed), "weight_decay", seed,
                  ["optimizer.weight_decay=5.0e-3"], accs["wd"][seed])  # fmt: skip
    out = tmp_path / "reports"
    assert report_main(["table1", str(root), "--out", str(out)]) == 0
    rows = {r["intervention"]: r for r in read_csv(out / "table1" / "table1.csv")}
    markdown = (out / "table1" / "table1.md").read_text()
    # the bootstrap resamples each side with its population std: sqrt(2 * 0.09 * 0.9 / 10)
    half = 1.96 * math.sqrt(2 * 0.09 * 0.9 / 10)
    for name, delta, verdict in [
        ("Height of the barrier initialization", 1.1, "Better"),
        ("More weight decay", -0.1, "Same"),
    ]:
        row = rows[name]
        assert (row["seeds"], row["control_seeds"]) == ("10", "10")
        assert float(row["delta_test_acc"]) == pytest.approx(delta)
        low, high = float(row["delta_test_acc_ci_low"]), float(row["delta_test_acc_ci_high"])
        assert low == pytest.approx(delta - half, abs=0.05)
        assert high == pytest.approx(delta + half, abs=0.05)
        assert row["test_acc_vs_control"] == verdict
        assert f"| {delta:+.2f} [{low:+.2f}, {high:+.2f}] | {verdict} |" in markdown
    assert "The paper gives no rule for its entries" in markdown


def test_unit_barriers_are_higher_or_lower_beyond_10_percent_either_way():
    from paper.table1 import unit_barriers

    assert [unit_barriers(r, 1.0) for r in (1.11, 1.09, 0.91, 0.89)] == ["H-LB", "=", "=", "L-LB"]
    assert unit_barriers(math.nan, 1.0) == "-"


def test_fig3_pairs_each_barrier_run_with_its_own_scratch_run(tmp_path: Path):
    root = tmp_path / "multirun"
    history = lambda start: {"train/acc": [0.6, 0.99], "val/acc": [start, 0.9]}  # noqa: E731
    for seed in (0, 1, 2):  # seed 2 has no barrier run: not on the scratch line
        write_run(root / "scratch" / str(seed), "blockwise", seed, ["optimizer.weight_decay=0"],
                  0.90, paths={"full": ("B", 0.3)}, history=history(0.3))  # fmt: skip
    for seed in (0, 1):
        source = root / "scratch" / str(seed)
        for offset in (-5, 0, 5):
            write_run(root / "barrier" / f"{seed}_{offset}", "barrier_init", seed,
                      [f"init.from_run={source}", f"init.offset={offset}"], 0.91,
                      paths={"full": ("NB", 0.0)}, history=history(0.6),
                      init={"name": "barrier", "from_run": str(source), "alpha": 0.5})  # fmt: skip
    # a newer run of the same training (Fig. 2B's scratch line), no barrier run's source
    write_run(root / "fig2b" / "0", "random_labels", 0, ["init=random"], 0.50,
              paths={"full": ("B", 0.3)}, mtime=4_000_000_000)  # fmt: skip
    out = tmp_path / "reports"
    assert report_main(["fig3", str(root), "--out", str(out)]) == 0
    stem = out / "fig3" / "fig3_blockwise_barrier_init"
    assert stem.with_name(stem.name + "_training_speed.png").stat().st_size > 10_000
    rows = {r["setting"]: r for r in read_csv(stem.with_suffix(".csv"))}
    scratch = rows["optimizer.weight_decay=0"]
    assert scratch["seeds"] == "2" and float(scratch["test_acc_mean"]) == pytest.approx(90.0)
    assert float(rows["init.offset=0"]["paper_test_acc"]) == 91.12
    markdown = stem.with_suffix(".md").read_text()
    for seed in (0, 1):
        assert f"| init.offset=0 | {seed} | `{root / 'scratch' / str(seed)}` | 0.50 |" in markdown
    assert str(root / "scratch" / "2") not in markdown and str(root / "fig2b") not in markdown
    # Table A3: clean eval-mode train accuracy beside the last epoch's running one
    assert report_main(["tableA3", str(root), "--out", str(out)]) == 0
    a3 = read_csv(out / "tableA3" / "tableA3_blockwise_barrier_init.csv")
    assert {float(r["train_acc_mean"]) for r in a3} == {100.0}
    assert {float(r["running_train_acc_mean"]) for r in a3} == {99.0}


def test_fig1a_without_mnist_files_stops_at_once_naming_the_stand_in(
    tmp_path: Path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # data/MNIST/raw is not here
    assert run_target_main(["fig1a"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("linpath: error: MNIST is not on disk: data/MNIST/raw lacks [")
    assert "`make fig1a DIGITS=1`" in err and "digits stand-in" in err and "\n" not in err
    assert not (tmp_path / "multirun").exists()  # nothing trained, not even the spiral


def test_reports_on_the_stand_in_say_digits_never_mnist(tmp_path: Path, monkeypatch):
    import paper.report

    root = tmp_path / "runs"
    for seed in (0, 1):
        write_run(root / "digits" / str(seed), "mnist_mlp", seed, ["data=digits"], 0.95)
        write_run(root / "spiral" / str(seed), "spiral_mlp", seed, [], 0.99)
    titles = []
    plot = paper.report.plot_target
    monkeypatch.setattr(
        paper.report, "plot_target", lambda *a, **k: titles.append(a[2]) or plot(*a, **k)
    )
    out = tmp_path / "reports"
    assert report_main(["fig1a", str(root), "--out", str(out), "--digits"]) == 0
    assert titles == ["Fig. 1A: MLP on digits stand-in and on the spiral"]
    markdown = (out / "fig1a" / "fig1a_mnist_mlp_spiral_mlp.md").read_text()
    assert markdown.startswith(f"# {titles[0]}") and "MNIST" not in markdown
    rows = read_csv(out / "fig1a" / "fig1a_mnist_mlp_spiral_mlp.csv")
    assert {r["setting"] for r in rows} == {"data=digits", "spiral_mlp"}
    # without --digits the report looks for MNIST runs, and says it found none
    assert report_main(["fig1a", str(root / "digits"), "--out", str(out)]) == 2


def test_random_label_cap_is_said_in_the_report(tmp_path: Path):
    root = tmp_path / "multirun"
    capped = {"name": "random_labels", "epochs": 2, "max_epochs": 2, "train_acc": 0.31,
              "reached_100": False}  # fmt: skip
    write_run(root / "0", "random_labels", 0, ["init=random_labels"], 0.8, init=capped)
    out = tmp_path / "reports"
    assert report_main(["fig2b", str(root), "--out", str(out)]) == 0
    markdown = (out / "fig2b" / "fig2b_random_labels.md").read_text()
    assert "stopped at its cap of 2 epochs with 31.00%" in markdown


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fig99"], "unknown report target 'fig99'; expected one of ['fig1a'"),
        (["fig7", "{empty}"], "no results.json under"),
        (["fig7", "{bad}"], "is not valid JSON"),
        (
            ["fig7", "{runs}", "--scale", "smoke"],
            "no run trained as fig7's settings at scale=smoke (experiments ['weight_decay'])",
        ),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, capsys, argv: list[str], message: str):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json")
    write_run(tmp_path / "runs" / "0", "weight_decay", 0, [], 0.9)
    dirs = {k: str(tmp_path / k) for k in ("empty", "bad", "runs")}
    argv = [a.format(**dirs) for a in argv]
    assert report_main([*argv, "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("linpath: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "reports").exists()  # nothing half-written


def installed(tmp_path: Path) -> list[str]:
    """make arguments that use this interpreter and skip `make install` (a fresh stamp)."""
    stamp = tmp_path / "install-stamp"
    stamp.touch()
    return [f"PY={sys.executable}", f"STAMP={stamp}"]


def test_every_catalogue_target_has_a_report_and_a_make_target(tmp_path: Path):
    makefile = (REPO / "Makefile").read_text()
    paper_targets = makefile.split("PAPER_TARGETS :=")[1].split("\n.PHONY")[0]
    paper_targets = set(paper_targets.replace("\\", " ").split())
    expected = {"fig1a", "fig1b", "fig2a", "fig2b", "fig3", "tableA3", "fig4", "fig5", "fig6",
                "figA15", "fig7", "fig8", "fig9", "table2", "fig10", "figA17", "figA18",
                "figA19", "table1", "tableA4", "appF", "bias_view", "attribution",
                "attention"}  # fmt: skip
    assert paper_targets == expected
    assert expected <= set(TARGETS)
    dry = subprocess.run(
        ["make", "-n", "SCALE=smoke", *installed(tmp_path), *sorted(expected)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    assert "pip install" not in dry.stdout
    command = "sweeps.run_target --scale smoke --data-root data/smoke "
    for target in expected:
        assert dry.stdout.count(f"{command} {target}\n")


def test_the_target_table_is_what_run_target_runs(capsys):
    """Every target's sweeps, as `run_target --dry-run` prints them, from paper/targets.py."""
    for name, target in TARGETS.items():
        assert run_target_main([name, "--scale", "smoke", "--data-root", "D", "--dry-run"]) == 0
        printed = capsys.readouterr().out.splitlines()
        assert len(printed) == (len(target.sweeps) if target.trains else 0), name
        for sweep, line in zip(target.sweeps, printed):
            assert f"-m experiment={sweep.experiment} scale=smoke " in line
            assert all(o in line for o in sweep.overrides + sweep.smoke)
            assert ("data.root=D" in line) != (sweep.experiment in DATA_FREE)
            assert ("seed=RUN_SEED" in line) == bool(sweep.from_sweep)
    fig3 = TARGETS["fig3"].sweeps
    assert fig3[1].from_sweep == fig3[0].name and fig3[1].shape == "B"


@pytest.mark.slow
def test_smoke_all_writes_every_figure_and_table(tmp_path: Path):
    """`make smoke-all` in a copy of the repository: every report, Table 1 included."""
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    copy = tmp_path / "repo"
    for name in tracked:
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        ["make", "smoke-all", *installed(tmp_path)],
        cwd=copy,
        capture_output=True,
        text=True,
        env={**env, "WANDB_MODE": "offline"},
        timeout=3000,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name, target in TARGETS.items():
        own_name = name in ("table1", "attention")  # one table of many experiments
        stem = copy / "reports" / name / (name if own_name else target.stem)
        for suffix in (".csv", ".md") if name == "table1" else (".png", ".csv", ".md"):
            assert stem.with_suffix(suffix).is_file(), stem.with_suffix(suffix)
    table1 = (copy / "reports" / "table1" / "table1.md").read_text()
    assert "| Height of the barrier initialization | Fig. 3 |" in table1


def test_a_staged_sweep_starts_from_each_earlier_run_with_a_barrier(tmp_path: Path):
    from sweeps.run_target import TargetError, earlier_runs

    folder = tmp_path / "scratch"
    for seed, shape in enumerate(["B", "NB", "B"]):
        write_run(folder / str(seed), "blockwise", seed, [], 0.9, paths={"full": (shape, 0.1)})
    barrier = TARGETS["fig3"].sweeps[1]
    assert [r.seed for r in earlier_runs(barrier, [folder])] == [0, 2]
    (folder / "0" / "results.json").unlink()
    (folder / "2" / "results.json").unlink()
    assert earlier_runs(barrier, [folder]) == []  # nothing to start from: skipped, no abort
    partial = TARGETS["fig4"].sweeps[1]  # every earlier run, whatever its shape
    assert [r.seed for r in earlier_runs(partial, [folder])] == [1]
    (folder / "1" / "results.json").unlink()
    with pytest.raises(TargetError, match="no run of sweep 'base' under"):
        earlier_runs(partial, [folder])


def test_bootstrap_interval_on_known_samples():
    # [0, 1]: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4 -> (0, 1)
    assert bootstrap_interval([0.0, 1.0]) == (0.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_interval([0.3]))
    assert bootstrap_interval([0.2, 0.2, None]) == (0.2, 0.2)
    # a large normal sample: the normal-theory interval mean +- 1.96 s / sqrt(n)
    sample = np.random.default_rng(1).normal(5.0, 2.0, 400)
    half = 1.96 * sample.std(ddof=1) / math.sqrt(len(sample))
    low, high = bootstrap_interval(list(sample))
    assert low == pytest.approx(sample.mean() - half, abs=0.1 * half)
    assert high == pytest.approx(sample.mean() + half, abs=0.1 * half)


def test_strict_and_tolerant_shapes_side_by_side(tmp_path: Path):
    """Curves with a rise of 1% of the drop: tolerant NB, strict B; older runs without the
    strict label get it from their curves."""
    root = tmp_path / "multirun" / "weight_decay" / "x"
    for seed in range(3):
        run = write_run(root / str(seed), "weight_decay", seed, [], 0.9, paths={"full": ("NB", 0)})
        results = json.loads((run / "results.json").read_text())
        results["alphas"] = [0.0, 0.25, 0.5, 0.75, 1.0]
        results["paths"]["full"]["loss"] = [2.0, 1.0, 1.0 + 0.01 * seed, 0.5, 0.0]
        results["paths"]["full"]["acc"] = [0.1, 0.5, 0.5, 0.7, 0.9]
        (run / "results.json").write_text(json.dumps(results))
    out = tmp_path / "reports"
    assert report_main(["fig7", str(tmp_path / "multirun"), "--out", str(out)]) == 0
    [row] = read_csv(out / "fig7" / "fig7_weight_decay.csv")
    assert (row["NB"], row["B"], row["P"]) == ("3", "0", "0")
    assert (row["strict_NB"], row["strict_B"], row["strict_P"]) == ("1", "2", "0")
    assert float(row["max_rise_mean"]) == 0.0  # the stored numbers win over recomputed ones
    assert float(row["error_max_rise_mean"]) == 0.0
    markdown = (out / "fig7" / "fig7_weight_decay.md").read_text()
    assert "tolerant NB/B/P/ER | strict NB/B/P/ER" in markdown
    assert "| 3/0/0/0 | 1/2/0/0 |" in markdown


def test_a_reused_run_belongs_to_the_setting_it_reused(tmp_path: Path):
    root = tmp_path / "multirun" / "weight_decay"
    write_run(root / "a" / "0", "weight_decay", 0, ["optimizer.weight_decay=0"], 0.9)
    write_run(root / "b" / "0", "weight_decay", 1, ["reuse=true", "optimizer.weight_decay=0"], 0.8)
    out = tmp_path / "reports"
    assert report_main(["fig7", str(tmp_path / "multirun"), "--out", str(out)]) == 0
    [row] = read_csv(out / "fig7" / "fig7_weight_decay.csv")
    assert row["seeds"] == "2" and float(row["test_acc_mean"]) == pytest.approx(85.0)


def test_one_setting_under_reordered_overrides_is_one_row_with_its_seeds(tmp_path: Path):
    """Seeds run as `a=1 b=2`, as `b=2 a=1`, with `experiment=` spelled out or numbers
    spelled otherwise are one setting: one row, every seed counted once."""
    root = tmp_path / "multirun"
    spellings = [  # momentum 0.9 is the recipe's own: the same training
        ["optimizer.weight_decay=0", "optimizer.momentum=0.9"],
        ["optimizer.momentum=0.9", "optimizer.weight_decay=0.0"],
        ["optimizer.weight_decay=0e0"],
    ]
    for seed, overrides in enumerate(spellings):
        write_run(root / str(seed), "weight_decay", seed, overrides, 0.80 + 0.02 * seed)
    out = tmp_path / "reports"
    assert report_main(["fig7", str(root), "--out", str(out)]) == 0
    rows = read_csv(out / "fig7" / "fig7_weight_decay.csv")
    assert [r["setting"] for r in rows] == ["optimizer.weight_decay=0.0"]
    assert rows[0]["seeds"] == "3"
    assert float(rows[0]["test_acc_mean"]) == pytest.approx(82.0)


def test_diverged_seeds_are_counted_never_averaged(tmp_path: Path):
    """Two seeds, one diverged (NaN theta_f: null test accuracy; or a finite blow-up): the
    table says '1 of 2', the numbers are the other seed's alone, labelled so, the figure's
    title says it too; a setting whose every seed diverged still has its row."""
    root = tmp_path / "multirun"
    for wd, diverged_seed in (("0.0005", 1), ("0.0", None)):
        for seed in (0, 1):
            run = write_run(
                root / f"wd{wd}" / str(seed),
                "weight_decay",
                seed,
                [f"optimizer.weight_decay={wd}"],
                test_acc=0.4844 if seed == 0 else 0.1,
                test_loss=0.7 if seed == 0 else 1.2e14,
            )
            if seed == diverged_seed or wd == "0.0":
                results = json.loads((run / "results.json").read_text())
                results["diverged"] = True
                results["divergence"] = "test loss 1.2e+14 is 1.7e+14 times the loss at theta_i"
                (run / "results.json").write_text(json.dumps(results))
    out = tmp_path / "reports"
    assert report_main(["fig7", str(root), "--out", str(out)]) == 0
    stem = out / "fig7" / "fig7_weight_decay"
    rows = {r["setting"]: r for r in read_csv(stem.with_suffix(".csv"))}
    half = rows["optimizer.weight_decay=0.0005"]
    assert (half["seeds"], half["diverged"]) == ("1", "1")
    assert float(half["test_acc_mean"]) == pytest.approx(48.44)  # seed 0 alone ...
    assert float(half["test_loss_mean"]) == pytest.approx(0.7)  # ... never 6e13
    assert (half["B"], half["NB"], half["P"]) == ("1", "0", "0")
    gone = rows["optimizer.weight_decay=0.0"]
    assert (gone["seeds"], gone["diverged"], gone["path"]) == ("0", "2", "-")
    markdown = stem.with_suffix(".md").read_text()
    assert "| weight_decay | optimizer.weight_decay=0.0005 | full | 1 | 1 of 2 |" in markdown
    assert "| weight_decay | optimizer.weight_decay=0.0 | - | 0 | 2 of 2 |" in markdown
    assert str(root / "wd0.0005" / "1") in markdown  # the diverged run is listed as used


def test_the_figure_title_counts_diverged_seeds(tmp_path: Path, monkeypatch):
    from paper import report as report_module

    titles = []
    original = report_module.plt.Axes.set_title
    monkeypatch.setattr(
        report_module.plt.Axes,
        "set_title",
        lambda self, text, *a, **k: titles.append(text) or original(self, text, *a, **k),
    )
    root = tmp_path / "multirun"
    for seed in (0, 1, 2):
        run = write_run(root / str(seed), "weight_decay", seed, [], test_acc=0.9)
        if seed == 2:
            results = json.loads((run / "results.json").read_text())
            results["diverged"] = True
            (run / "results.json").write_text(json.dumps(results))
    assert report_main(["fig7", str(root), "--out", str(tmp_path / "reports")]) == 0
    assert any(": 2 seeds\n1 of 3 seeds diverged" in title for title in titles), titles


def test_a_report_carries_on_past_an_unreadable_run(weight_decay_runs: Path, tmp_path, capsys):
    corrupt = weight_decay_runs / "multirun" / "weight_decay" / "2026-01-01" / "9"
    corrupt.mkdir()
    (corrupt / "results.json").write_text('{"paths": {"full": ')  # truncated
    out = tmp_path / "reports"
    assert report_main(["fig7", str(weight_decay_runs / "multirun"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"linpath: warning: left out of the report: {corrupt / 'results.json'} is not valid "
        f"JSON {err[0].split('is not valid JSON ')[1]}",
        "linpath: error: 1 run(s) could not be read",
    ]
    rows = read_csv(out / "fig7" / "fig7_weight_decay.csv")
    assert sorted(r["seeds"] for r in rows) == ["3", "3"]  # the readable runs, all of them
    # a report that left a run out is never current: run_target makes it again next time
    assert not (out / "fig7" / "inputs.json").exists()
    argv = ["fig7", str(weight_decay_runs / "multirun"), "--out", str(out)]
    (corrupt / "results.json").rename(tmp_path / "corrupt.json")
    assert report_main(argv) == 0 and (out / "fig7" / "inputs.json").is_file()
    (tmp_path / "corrupt.json").rename(corrupt / "results.json")
    assert report_main(argv) == 2 and not (out / "fig7" / "inputs.json").exists()  # stale: gone


def test_a_missing_evaluation_is_named(tmp_path: Path, capsys):
    write_run(tmp_path / "runs" / "0", "weight_decay", 0, [], 0.9)
    argv = ["fig7", str(tmp_path / "runs"), "--evaluation", "nosuch"]
    assert report_main([*argv, "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err.strip()
    assert "has an evaluation named 'nosuch' (RUN/evaluations/nosuch/)" in err and "\n" not in err
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fig7", "--scale", "huge"], "argument --scale: invalid choice: 'huge'"),
        (["fig7", "--nosuch"], "unrecognized arguments: --nosuch"),
    ],
)
def test_report_command_lines_are_one_line(tmp_path: Path, capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        report_main([*argv, "--out", str(tmp_path / "reports")])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.startswith("linpath: error: ") and message in err
    assert "\n" not in err and not (tmp_path / "reports").exists()


def test_plan_command_lines_are_one_line(capsys):
    from sweeps.plan import main as plan_main

    with pytest.raises(SystemExit) as stop:
        plan_main(["--scale", "huge"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.startswith("linpath: error: argument --scale")
    assert "\n" not in err
    assert plan_main(["nosuch"]) == 2
    assert capsys.readouterr().err.startswith("linpath: error: unknown target 'nosuch'")


def test_a_barrier_on_a_path_stored_from_theta_f_is_placed_as_the_figure_draws_it(
    tmp_path: Path,
):
    """final_to_new_init is stored theta_f -> theta_i' and drawn from theta_i': its barrier
    at stored alphas 0.75 -> 0.25 is at 0.25 -> 0.75 in the table, as in the figure."""
    run = write_run(tmp_path / "multirun" / "spiral_mlp" / "0", "spiral_mlp", 0, [], 0.9,
                    paths={"full": ("NB", 0.0), "final_to_new_init": ("B", 0.2)})  # fmt: skip
    results = json.loads((run / "results.json").read_text())
    results["paths"]["final_to_new_init"].update(
        read_from_end=True, barrier_start_alpha=0.75, barrier_peak_alpha=0.25
    )
    (run / "results.json").write_text(json.dumps(results))
    out = tmp_path / "reports"
    assert report_main(["fig1a", str(tmp_path / "multirun"), "--out", str(out)]) == 0
    (csv_file,) = (out / "fig1a").glob("*.csv")
    row = next(r for r in read_csv(csv_file) if r["path"] == "final_to_new_init")
    assert float(row["barrier_start_alpha_mean"]) == pytest.approx(0.25)
    assert float(row["barrier_peak_alpha_mean"]) == pytest.approx(0.75)
    assert "| 0.25 -> 0.75 |" in csv_file.with_suffix(".md").read_text()
