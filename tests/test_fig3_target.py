"""`make fig3` on hand-made scratch runs: seeds are trained until 5 have a barrier (seed cap
20), an offset that would leave the path is skipped, and the report is always written and
says what it has. The multiruns are faked: each writes the runs run.py would leave."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from landscape.shape import shape_metrics
from sweeps import run_target
from tests.test_report import job_config

ALPHAS = [i / 50 for i in range(51)]


def curve(peak: float | None) -> list[float]:
    """Test loss from ln 10 down to 0.1; with `peak`, a bump of 0.8 on it that tops there."""
    return [
        2.3 - 2.2 * a + (0.0 if peak is None else 0.8 * max(0.0, 1 - abs(a - peak) / 0.04))
        for a in ALPHAS
    ]


class FakeMultiruns:
    """Stands in for `subprocess.run` of `run.py -m`: writes one finished run per job, the
    scratch seeds in `peaks` with a barrier topping at that alpha, the others without."""

    def __init__(self, peaks: dict[int, float]):
        self.peaks = peaks
        self.commands: list[dict[str, str]] = []

    def __call__(self, command: list[str], *args, **kwargs) -> subprocess.CompletedProcess:
        given = dict(o.split("=", 1) for o in command[3:])
        self.commands.append(given)
        folder = Path(given.pop("hydra.sweep.dir"))
        given.pop("reuse")
        axes = {k: v.split(",") for k, v in given.items()}
        for job, values in enumerate(itertools.product(*axes.values())):
            self.write(folder / str(job), dict(zip(axes, values)))
        return subprocess.CompletedProcess(command, 0)

    def write(self, directory: Path, job: dict[str, str]) -> None:
        seed, experiment = int(job.pop("seed")), job["experiment"]
        source = job.pop("init.from_run", None)
        init = {"name": "random"}
        peak = self.peaks.get(seed) if experiment == "blockwise" else None
        if source is not None:
            init = {"name": "barrier", "from_run": source, "offset": int(job["init.offset"])}
        loss = curve(peak)
        results = {
            "schema": 1,
            "experiment": experiment,
            "seed": seed,
            "overrides": [f"{k}={v}" for k, v in job.items()] + [f"seed={seed}"],
            "init": init,
            "final": {"test_loss": 0.3, "test_acc": 0.9, "train_loss": 0.0, "train_acc": 1.0},
            "history": {"val/acc": [0.5, 0.9]},
            "distance": 1.0,
            "alphas": ALPHAS,
            "paths": {"full": {"loss": loss, "acc": [0.5] * 51, **shape_metrics(ALPHAS, loss)}},
        }
        staged = () if source is None else ("init.from_run=X",)
        config = job_config((*(f"{k}={v}" for k, v in job.items()), *staged)).copy()
        if source is not None:
            config.init.from_run = source
        config.seed = seed
        (directory / ".hydra").mkdir(parents=True)
        OmegaConf.save(config, directory / ".hydra" / "config.yaml")
        (directory / "results.json").write_text(json.dumps(results))


def make_fig3(tmp_path: Path, monkeypatch, peaks: dict[int, float]) -> tuple[FakeMultiruns, str]:
    """`python -m sweeps.run_target fig3` in `tmp_path`; the multiruns and the report."""
    fake = FakeMultiruns(peaks)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_target.subprocess, "run", fake)
    assert run_target.main(["fig3"]) == 0
    stem = tmp_path / "reports" / "fig3" / "fig3_blockwise_barrier_init"
    assert stem.with_suffix(".png").stat().st_size > 10_000
    return fake, stem.with_suffix(".md").read_text()


def scratch_seeds(fake: FakeMultiruns) -> list[str]:
    return [c["seed"] for c in fake.commands if c["experiment"] == "blockwise"]


def barrier_jobs(fake: FakeMultiruns) -> dict[str, str]:
    """Seed -> the offsets its barrier-initialised multirun ran."""
    return {c["seed"]: c["init.offset"] for c in fake.commands if c["experiment"] != "blockwise"}


def test_no_barrier_in_any_seed_tries_the_cap_and_still_reports(tmp_path, monkeypatch):
    fake, markdown = make_fig3(tmp_path, monkeypatch, peaks={})
    assert scratch_seeds(fake) == ["0,1,2,3,4", "5,6,7,8,9", "10,11,12,13,14", "15,16,17,18,19"]
    assert barrier_jobs(fake) == {}
    assert "- scratch seeds tried: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12" in markdown
    assert "(20)" in markdown and "- with a barrier: none (0)" in markdown
    assert "started from: none (0 of the 5 wanted)" in markdown
    assert "the scratch rows are every scratch run found" in markdown


def test_offsets_that_would_leave_the_path_are_skipped_with_a_note(tmp_path, monkeypatch):
    fake, markdown = make_fig3(tmp_path, monkeypatch, peaks={0: 0.04, 1: 0.96})
    # two barriers in 0-4, then batches of the 3 still wanted, up to the cap of 20 seeds
    assert scratch_seeds(fake)[1:] == ["5,6,7", "8,9,10", "11,12,13", "14,15,16", "17,18,19"]
    # the barrier at alpha 0.04 (step 2) has no step -5; the one at 0.96 (step 48) no +5
    assert barrier_jobs(fake) == {"0": "0,5", "1": "-5,0"}
    assert "- with a barrier: 0, 1 (2)" in markdown
    assert "started from: 0, 1 (2 of the 5 wanted)" in markdown
    assert "- seed 0, init.offset=-5: its barrier peaks at alpha 0.04 (grid step 2 of 51)" in (
        markdown
    )
    assert "- seed 1, init.offset=5: its barrier peaks at alpha 0.96 (grid step 48 of 51)" in (
        markdown
    )
    rows = [line for line in markdown.splitlines() if line.startswith("| blockwise ")]
    assert len(rows) == 1 and "| optimizer.weight_decay=0 | full | 2 |" in rows[0]


def test_seeds_are_trained_until_five_have_a_barrier(tmp_path, monkeypatch):
    peaks = dict.fromkeys((1, 4, 7, 9, 11), 0.5)
    fake, markdown = make_fig3(tmp_path, monkeypatch, peaks)
    # 2 barriers in 0-4, then as many seeds as are missing: 5-7 (+1), 8-9 (+1), 10, 11 (+1)
    assert scratch_seeds(fake) == ["0,1,2,3,4", "5,6,7", "8,9", "10", "11"]
    assert barrier_jobs(fake) == dict.fromkeys(("1", "4", "7", "9", "11"), "-5,0,5")
    assert "- scratch seeds tried: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 (12)" in markdown
    assert "started from: 1, 4, 7, 9, 11 (5 of the 5 wanted)" in markdown
    assert "Offsets not run" not in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| barrier_init |")]
    assert len(rows) == 3 and all("| full | 5 |" in row for row in rows)


@pytest.mark.parametrize("scale, expected", [("full", (5, 20)), ("smoke", (2, 3))])
def test_the_seed_rule_is_stated_per_scale(scale, expected):
    from paper.targets import TARGETS

    assert TARGETS["fig3"].sweeps[0].until.at(scale) == expected
