"""The plan: a target's runs as make launches them, counted once per training, with epochs
(pre-stages included), what exists (staged runs too) and a time estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paper.targets import TARGETS, Sweep, Target
from sweeps.plan import existing_runs, summary, target_jobs
from sweeps.plan import main as plan_main


def hand_made_run(root: Path, job, fit_s: float = 10.0, epochs: int = 2, **extra) -> Path:
    """A complete run folder as the store sees it, trained as `job` says."""
    run_dir = root / f"run{len(list(root.glob('run*')))}"
    (run_dir / ".hydra").mkdir(parents=True)
    for name in ("theta_i.pt", "theta_f.pt", ".hydra/config.yaml"):
        (run_dir / name).write_text("")
    results = {
        "experiment": job.experiment,
        "seed": job.seed,
        "overrides": list(job.overrides),
        "training_id": job.training_id or "staged-run-id",
        "setting_id": job.setting_id or "some-setting",
        "history": {"train/loss": [0.5] * epochs},
        "timing": {"fit_s": fit_s, "interpolation_s": 1.0},
        **extra,
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


def test_runs_that_train_the_same_way_count_once():
    """fig1b's base runs are fig7's weight decay 5e-4 runs: 2 + 12 runs, 12 trainings."""
    fig1b, fig7 = (target_jobs(TARGETS[n], "smoke") for n in ("fig1b", "fig7"))
    nothing = existing_runs(roots=[])
    assert [summary(fig1b, nothing)[k] for k in ("runs", "distinct")] == [2, 2]
    assert [summary(fig7, nothing)[k] for k in ("runs", "distinct", "to_train")] == [12, 12, 12]
    both = summary(fig1b + fig7, nothing)
    assert (both["runs"], both["distinct"], both["epochs"]) == (14, 12, 12 * 2)


def test_sweep_seeds_decide_the_count():
    """Fig. 3's scratch sweep runs `Sweep.seeds` (5), not the experiment's own 10."""
    scratch = target_jobs(TARGETS["fig3"], "full")
    assert len([j for j in scratch if not j.staged]) == 5
    assert sorted(j.seed for j in scratch if not j.staged) == [0, 1, 2, 3, 4]
    own = target_jobs(Target("t", "t", (Sweep("spiral_mlp"),)), "full")
    chosen = target_jobs(Target("t", "t", (Sweep("spiral_mlp", seeds="7,9"),)), "full")
    assert [j.seed for j in own] == list(range(10)) and [j.seed for j in chosen] == [7, 9]
    assert [j.seed for j in target_jobs(Target("t", "t", (Sweep("spiral_mlp"),)), "smoke")] == [
        0,
        1,
    ]


def test_staged_runs_run_at_the_earlier_seeds_and_count_as_existing(tmp_path):
    """A staged sweep is one job per point and earlier seed; its runs exist by setting and
    seed, whichever earlier run they started from (Fig. 4's from_run is null in the plan)."""
    target = Target(
        "t",
        "t",
        (
            Sweep("spiral_mlp", name="base", seeds="range(3)"),
            Sweep("spiral_mlp", ("optimizer.lr=0.01,0.1",), from_sweep="base"),
        ),
    )
    jobs = target_jobs(target, "full")
    base, staged = [j for j in jobs if not j.staged], [j for j in jobs if j.staged]
    assert len(base) == 3 and len(staged) == 2 * 3
    assert sorted(j.seed for j in staged) == [0, 0, 1, 1, 2, 2]
    hand_made_run(tmp_path, base[0])
    hand_made_run(tmp_path, staged[0])
    counts = summary(jobs, existing_runs(roots=[tmp_path]))
    assert (counts["runs"], counts["exist"], counts["to_train"], counts["staged"]) == (9, 2, 7, 5)
    fig4 = target_jobs(TARGETS["fig4"], "full")
    assert sum(j.staged for j in fig4) == 2 * 6 * 10  # sources x units x the base's seeds


def test_epochs_include_a_random_label_pre_stage():
    (job,) = target_jobs(Target("t", "t", (Sweep("random_labels", ("init=random_labels",),
                                                 seeds="0"),)), "full")  # fmt: skip
    assert job.epochs == 100 + 500  # the fit, and the pre-stage's cap (random_label_max_epochs)
    (smoke, _) = target_jobs(Target("t", "t", (Sweep("random_labels", ("init=random_labels",)),)),
                             "smoke")  # fmt: skip
    assert smoke.epochs == 2 + 2


def test_time_is_measured_by_finished_runs_of_the_experiment(tmp_path):
    jobs = target_jobs(Target("t", "t", (Sweep("spiral_mlp", seeds="0,1,2"),)), "full")
    unmeasured = summary(jobs, existing_runs(roots=[]))
    assert unmeasured["time"] == "0:02:36*"  # 3 x (1000 epochs x 0.05 s + 2 s): the default
    hand_made_run(tmp_path, jobs[0], fit_s=20.0, epochs=1000)  # 0.02 s an epoch, 1 s to evaluate
    measured = summary(jobs, existing_runs(roots=[tmp_path]))
    assert (measured["to_train"], measured["time"]) == (2, "0:00:42")  # 2 x (20 s + 1 s)


def test_the_plan_prints_a_row_per_target_as_it_goes(capsys):
    assert plan_main(["fig1b", "fig7", "--scale", "smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("plan: 2 targets at scale=smoke")
    assert lines[1].split() == ["target", "runs", "distinct", "exist", "to_train", "staged",
                                "epochs", "time"]  # fmt: skip
    assert [line.split()[0] for line in lines[2:5]] == ["fig1b", "fig7", "all"]
    assert lines[4].split()[1:3] == ["14", "12"]


def test_an_unknown_target_is_one_line(capsys):
    assert plan_main(["nonsense"]) == 2
    assert "unknown target 'nonsense'" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """The plan reads outputs/, multirun/ and stages/ of the working directory."""
    monkeypatch.chdir(tmp_path)


def test_a_run_trained_by_updates_counts_no_epochs_and_its_own_time():
    """mnist_mlp trains 9380 updates (max_epochs -1): 0 epochs, not -1, and a run's time."""
    (job,) = target_jobs(Target("t", "t", (Sweep("mnist_mlp", ("data=digits",), seeds="0"),)),
                         "full")  # fmt: skip
    assert (job.epochs, job.by_updates) == (0, True)
    assert summary([job], existing_runs(roots=[]))["time"] == "0:01:02*"  # 60 s fit + 2 s
