"""Reports from hand-made results.json files: means, stds, shapes, Table 1, bad input."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweeps.report import main as report_main
from sweeps.stage import main as stage_main
from sweeps.tables import bootstrap_interval
from sweeps.targets import TARGETS
from tests.conftest import REPO

ALPHAS = [0.0, 0.5, 1.0]


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
) -> Path:
    """A results.json as the InterpolationCallback writes it; paths: name -> (shape, max_rise)."""
    paths = paths or {"full": ("B", 0.1)}
    results = {
        "schema": 1,
        "experiment": experiment,
        "seed": seed,
        "overrides": [f"experiment={experiment}", *overrides, f"seed={seed}"],
        "final": {
            "test_loss": test_loss,
            "test_acc": test_acc,
            "train_loss": 0.1,
            "train_acc": 1.0,
        },
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
    directory.mkdir(parents=True, exist_ok=True)
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
    write_run(stale, "weight_decay", 0, ["optimizer.weight_decay=0.0005"], 0.10, mtime=1_000_000)
    return tmp_path


def test_report_means_stds_and_shape_counts(weight_decay_runs: Path, tmp_path: Path):
    out = tmp_path / "reports"
    assert report_main(["fig7", str(weight_decay_runs / "multirun"), "--out", str(out)]) == 0
    stem = out / "fig7" / "fig7_weight_decay"
    assert stem.with_suffix(".png").stat().st_size > 10_000
    rows = {r["setting"]: r for r in read_csv(stem.with_suffix(".csv"))}
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
    assert "| 92.00 ± 2.00 |" in markdown and "| 1/2/0 |" in markdown


def test_paper_numbers_sit_beside_ours(tmp_path: Path):
    root = tmp_path / "runs"
    for job, lr in enumerate(["1e-1", "0.01", "0.001"]):
        write_run(root / str(job), "fixed_lr", 0, [f"optimizer.lr={lr}"], 0.9, distance=job)
    out = tmp_path / "reports"
    assert report_main(["fig8", str(root), "--out", str(out)]) == 0
    rows = read_csv(out / "fig8" / "fig8_fixed_lr.csv")
    paper = {r["setting"]: float(r["paper_distance"]) for r in rows}
    assert paper == {
        "optimizer.lr=1e-1": 1.03,
        "optimizer.lr=0.01": 0.88,
        "optimizer.lr=0.001": 0.22,
    }


def test_table1_against_the_base(tmp_path: Path):
    root = tmp_path / "multirun"
    units = lambda rise: {"full": ("P", 0.0), "unit/layer1": ("B", rise), "unit/fc": ("NB", 0.0)}  # noqa: E731
    # base: unit max_rise mean over (0.4, 0, 0.6, 0) = 0.25; test acc mean 0.92
    write_run(root / "blockwise" / "0", "blockwise", 0, [], 0.91, paths=units(0.4))
    write_run(root / "blockwise" / "1", "blockwise", 1, [], 0.93, paths=units(0.6))
    # more WD: unit rises (1.0, 0, 1.0, 0) -> 0.5 > 0.25 -> H-LB; full P, P -> P; acc 0.90 -> -2 pp
    for seed in (0, 1):
        write_run(
            root / "wd" / f"a{seed}",
            "weight_decay",
            seed,
            ["optimizer.weight_decay=0.005"],
            0.90,
            paths=units(1.0),
        )
    # less WD: unit rises 0.1 -> mean 0.05 -> L-LB; full NB, NB, B -> NB; acc 0.95 -> +3 pp
    for seed, shape in enumerate(["NB", "NB", "B"]):
        paths = {**units(0.1), "full": (shape, 0.0)}
        write_run(
            root / "wd" / f"b{seed}",
            "weight_decay",
            seed,
            ["optimizer.weight_decay=0"],
            0.95,
            paths=paths,
        )
    # a blockwise variant (Fig. 3's no-WD stage) is a row of its own, not part of the base
    write_run(root / "blockwise" / "2", "blockwise", 0, ["optimizer.weight_decay=0"], 0.5,
              paths=units(5.0))  # fmt: skip
    # close to the base (0.26 vs 0.25, within the margin) and not a Table 1 experiment
    write_run(root / "fixed" / "0", "fixed_lr", 0, ["optimizer.lr=0.01"], 0.92, paths=units(0.52))
    write_run(root / "spiral" / "0", "spiral_mlp", 0, [], 0.99)
    out = tmp_path / "reports"
    assert report_main(["table1", str(root), "--out", str(out)]) == 0
    rows = {(r["experiment"], r["setting"]): r for r in read_csv(out / "table1" / "table1.csv")}
    assert "spiral_mlp" not in {experiment for experiment, _ in rows}
    base = rows[("blockwise", "blockwise")]
    assert (base["full_shape"], base["unit_barriers"]) == ("P", "=")
    assert float(base["delta_test_acc"]) == pytest.approx(0.0)
    variant = rows[("blockwise", "optimizer.weight_decay=0")]
    assert variant["unit_barriers"] == "H-LB"
    assert float(variant["delta_test_acc"]) == pytest.approx(-42.0)
    more = rows[("weight_decay", "optimizer.weight_decay=0.005")]
    assert (more["full_shape"], more["unit_barriers"]) == ("P", "H-LB")
    assert float(more["delta_test_acc"]) == pytest.approx(-2.0)
    less = rows[("weight_decay", "optimizer.weight_decay=0")]
    assert (less["full_shape"], less["unit_barriers"], less["seeds"]) == ("NB", "L-LB", "3")
    assert float(less["delta_test_acc"]) == pytest.approx(3.0)
    assert float(less["unit_max_rise"]) == pytest.approx(0.05)
    assert rows[("fixed_lr", "fixed_lr")]["unit_barriers"] == "="
    assert (
        "| weight_decay | optimizer.weight_decay=0 |" in (out / "table1" / "table1.md").read_text()
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fig99"], "unknown report target 'fig99'; expected one of ['fig1a'"),
        (["fig7", "{empty}"], "no results.json of ['weight_decay'] under"),
        (["fig7", "{bad}"], "is not valid JSON"),
        (
            ["fig7", "{runs}", "--scale", "smoke"],
            "no results.json of ['weight_decay'] at scale=smoke",
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


def test_stage_prints_the_newest_matching_run(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = Path("multirun") / "blockwise"
    write_run(
        root / "a",
        "blockwise",
        0,
        ["optimizer.weight_decay=0"],
        0.9,
        mtime=1_000,
        paths={"full": ("B", 0.3)},
    )
    write_run(
        root / "b",
        "blockwise",
        1,
        ["optimizer.weight_decay=0"],
        0.9,
        mtime=2_000,
        paths={"full": ("NB", 0.0)},
    )
    write_run(root / "c", "blockwise", 0, [], 0.9, mtime=3_000)
    assert stage_main(["latest", "blockwise"]) == 0
    assert capsys.readouterr().out.strip() == str((root / "c").resolve())
    assert stage_main(["latest", "blockwise", "--with", "optimizer.weight_decay=0.0"]) == 0
    assert capsys.readouterr().out.strip() == str((root / "b").resolve())
    assert (
        stage_main(["latest", "blockwise", "--with", "optimizer.weight_decay=0", "--shape", "B"])
        == 0
    )
    assert capsys.readouterr().out.strip() == str((root / "a").resolve())
    assert stage_main(["latest", "blockwise", "--scale", "smoke"]) == 2
    assert "no finished run of blockwise with scale=smoke" in capsys.readouterr().err


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
                "figA19", "table1", "tableA4", "bias_view"}  # fmt: skip
    assert paper_targets == expected
    assert expected - {"table1"} <= set(TARGETS)
    dry = subprocess.run(
        ["make", "-n", "SCALE=smoke", *installed(tmp_path), *sorted(expected)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    assert "pip install" not in dry.stdout
    for target in expected:
        assert f"sweeps.report --scale smoke {target}" in dry.stdout


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
        stem = copy / "reports" / name / target.stem
        for suffix in (".png", ".csv", ".md"):
            assert stem.with_suffix(suffix).is_file(), stem.with_suffix(suffix)
    assert "| blockwise |" in (copy / "reports" / "table1" / "table1.md").read_text()


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
    assert "tolerant NB/B/P | strict NB/B/P" in markdown and "| 3/0/0 | 1/2/0 |" in markdown


def test_a_reused_run_belongs_to_the_setting_it_reused(tmp_path: Path):
    root = tmp_path / "multirun" / "weight_decay"
    write_run(root / "a" / "0", "weight_decay", 0, ["optimizer.weight_decay=0"], 0.9)
    write_run(root / "b" / "0", "weight_decay", 1, ["reuse=true", "optimizer.weight_decay=0"], 0.8)
    out = tmp_path / "reports"
    assert report_main(["fig7", str(tmp_path / "multirun"), "--out", str(out)]) == 0
    [row] = read_csv(out / "fig7" / "fig7_weight_decay.csv")
    assert row["seeds"] == "2" and float(row["test_acc_mean"]) == pytest.approx(85.0)
