"""Nothing to do takes no time: a target whose runs exist (trained and evaluated as its jobs
would be) launches no job, and its report is current until a run it reads changes or a
newer run would enter it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from paper.report import main as report_main
from paper.report import report_is_up_to_date
from paper.report_inputs import MANIFEST
from paper.targets import TARGETS, Sweep, Target
from sweeps.plan import existing_runs
from sweeps.run_target import launch, make
from tests.test_report import write_run


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    return tmp_path


def test_a_second_launch_starts_no_job_and_skips_the_current_report(in_tmp, monkeypatch, capsys):
    """Real multiruns: the first trains two smoke runs and reports; the second decides from
    the store, before any process starts, that both exist, and says so."""
    target = Target("spiral_only", "spiral MLP", (Sweep("spiral_mlp"),), ("full",))
    monkeypatch.setitem(TARGETS, target.name, target)
    first = launch(target, "smoke", existing=existing_runs())
    assert len(first) == 1
    make(target, "smoke", digits=False, trained=True)
    report = in_tmp / "reports" / target.name / f"{target.stem}.png"
    made = report.stat().st_mtime
    runs_before = sorted(in_tmp.glob("multirun/**/results.json"))
    assert len(runs_before) == 2
    capsys.readouterr()

    assert launch(target, "smoke", existing=existing_runs()) == []
    make(target, "smoke", digits=False, trained=False)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "spiral_only: 2 runs of experiment=spiral_mlp scale=smoke seed=0,1 up to date",
        "spiral_only: up to date (its runs are finished and its report is newer than every "
        "results.json it reads)",
    ]
    assert sorted(in_tmp.glob("multirun/**/results.json")) == runs_before
    assert report.stat().st_mtime == made
    # a run it read changes: the report is made again
    os.utime(runs_before[0], (time.time() + 5, time.time() + 5))
    assert not report_is_up_to_date(target.name, "smoke")


def test_a_report_is_current_until_a_newer_run_would_enter_it(in_tmp):
    root = in_tmp / "multirun"
    for seed in range(2):
        write_run(root / str(seed), "weight_decay", seed, ["optimizer.weight_decay=0"], 0.9)
    assert report_main(["fig7", "--scale", "full"]) == 0
    manifest = json.loads((in_tmp / "reports" / "fig7" / MANIFEST).read_text())
    assert len(manifest["inputs"]) == 2 and len(manifest["settings"]) == 6
    assert report_is_up_to_date("fig7", "full")
    assert not report_is_up_to_date("fig7", "smoke")  # another question
    shown = manifest["inputs"][0]["setting"]
    later = time.time() + 10

    def newer_run(name: str, setting: str, seed: int, paths: dict) -> Path:
        run = write_run(root / name, "weight_decay", seed, [], 0.9, paths=paths)
        results = json.loads((run / "results.json").read_text())
        (run / "results.json").write_text(json.dumps({**results, "setting_id": setting}))
        os.utime(run / "results.json", (later, later))
        return run

    other = newer_run("other", "a-setting-fig7-does-not-show", 5, {"full": ("B", 0.1)})
    assert report_is_up_to_date("fig7", "full")  # not one of its settings
    fewer = newer_run("fewer", shown, 0, {"unit/fc": ("B", 0.1)})
    assert report_is_up_to_date("fig7", "full")  # seed 0 has a run with more of its paths
    new_seed = newer_run("seed7", shown, 7, {"full": ("B", 0.1)})
    assert not report_is_up_to_date("fig7", "full")  # a new seed of a setting it shows
    for run in (other, fewer, new_seed):
        (run / "results.json").unlink()
    assert report_is_up_to_date("fig7", "full")
    (in_tmp / "reports" / "fig7" / "fig7_weight_decay.png").unlink()
    assert not report_is_up_to_date("fig7", "full")  # a file it wrote is gone


def test_the_attribution_report_is_current_until_a_run_it_read_changes(in_tmp):
    """Like every report, `make attribution` records the runs it read (it did not: a second
    `make smoke-all` wrote it again each time)."""
    from paper.targets import DIAGNOSED
    from tests.test_attribution_report import run as diagnosed_run

    written = []
    for seed in range(2):
        directory = write_run(in_tmp / "multirun" / str(seed), "spiral_mlp", seed,
                              list(DIAGNOSED), 0.9)  # fmt: skip
        results = json.loads((directory / "results.json").read_text())
        diagnosed = diagnosed_run(seed, "B", {"fc1": 0.2, "fc2": 0.8}, {"fc1": 0.0, "fc2": 0.1})
        results.update(alphas=diagnosed.results["alphas"], paths=diagnosed.results["paths"])
        (directory / "results.json").write_text(json.dumps(results))
        written.append(directory / "results.json")
    assert report_main(["attribution", "--scale", "full"]) == 0
    manifest = json.loads((in_tmp / "reports" / "attribution" / MANIFEST).read_text())
    assert sorted(Path(i["results"]) for i in manifest["inputs"]) == sorted(
        p.resolve() for p in written
    )
    assert report_is_up_to_date("attribution", "full")
    later = time.time() + 10
    os.utime(written[1], (later, later))
    assert not report_is_up_to_date("attribution", "full")
