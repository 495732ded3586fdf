"""One sweep job per device: slots, the scheduler, progress, and the launcher with stand-in
device ids (CUDA_VISIBLE_DEVICES values on this CPU machine)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from runs.evaluation import describe_device
from sweeps.devices import (
    LauncherError,
    SlotScheduler,
    SweepProgress,
    device_slots,
    visible_gpus,
)
from tests.conftest import REPO, read_results, run_linpath


def test_slots_are_disjoint_device_groups_capped_by_n_jobs():
    assert device_slots([0, 1, 2], 1, None) == [("0",), ("1",), ("2",)]
    assert device_slots(range(8), 2, None) == [("0", "1"), ("2", "3"), ("4", "5"), ("6", "7")]
    assert device_slots(range(8), 3, None) == [("0", "1", "2"), ("3", "4", "5")]  # 6, 7 idle
    assert device_slots(range(8), 2, 3) == [("0", "1"), ("2", "3"), ("4", "5")]
    assert device_slots([], 1, None) == [()]  # a CPU sweep: one job after another
    assert device_slots([], 4, 3) == [(), (), ()]  # n_jobs unpinned processes


@pytest.mark.parametrize(
    "devices, per_job, n_jobs, message",
    [
        ([0, 1], 3, None, "needs trainer.devices=3 devices but the sweep has 2"),
        ([0, 0], 1, None, "lists a device twice"),
        ([0, 1], "auto", None, "trainer.devices must be a positive integer"),
        ([0, 1], 1, 0, "n_jobs must be a positive integer or null, got 0"),
    ],
)
def test_impossible_slots_are_refused(devices, per_job, n_jobs, message):
    with pytest.raises(LauncherError, match=message):
        device_slots(devices, per_job, n_jobs)


class SimulatedJob:
    """A handle whose job ends `duration` simulated seconds after it starts."""

    def __init__(self, name: str, slot: tuple, start: float, duration: float):
        self.name, self.slot, self.start, self.end = name, slot, start, start + duration


def simulate(durations: dict[str, float], slots: list[tuple]):
    clock = {"now": 0.0}
    reported = []

    def start(job, slot):
        return SimulatedJob(job, slot, clock["now"], durations[job])

    def wait(handles):
        clock["now"] = min(h.end for h in handles)
        return [h for h in handles if h.end == clock["now"]]

    def report(job, slot, handle):
        assert clock["now"] == handle.end and handle.slot == slot
        reported.append(job)

    handles = SlotScheduler(slots, start, wait, report).run(list(durations))
    return handles, reported, clock["now"]


def test_three_devices_seven_jobs_never_share_a_device():
    durations = {f"job{i}": d for i, d in enumerate([5, 1, 3, 2, 4, 1, 2])}
    slots = [("0",), ("1",), ("2",)]
    handles, reported, finished_at = simulate(durations, slots)
    assert [h.name for h in handles] == list(durations)  # every job ran, results in job order
    assert sorted(reported) == sorted(durations)
    for one in handles:
        for other in handles:
            if one is not other and one.slot == other.slot:
                assert one.end <= other.start or other.end <= one.start, (one.name, other.name)
    assert len({h.slot for h in handles if h.start == 0}) == 3  # all three devices start at once
    # greedy list scheduling by hand: job3 starts at t=1 on device 1 (job1 done), job4 at t=3
    # on device 1, job5 at t=3 on device 2, job6 at t=4 on device 2; the last ends at t=7
    starts = {h.name: (h.start, h.slot) for h in handles}
    assert starts["job3"] == (1, ("1",))
    assert starts["job4"] == (3, ("1",)) and starts["job5"] == (3, ("2",))
    assert starts["job6"] == (4, ("2",))
    assert finished_at == 7


def test_progress_line_counts_jobs_and_estimates_time_left():
    now = {"t": 100.0}
    progress = SweepProgress(7, slots=3, clock=lambda: now["t"])
    for job in range(3):
        progress.start(job)
    assert progress.line() == "0/7 jobs done, 3 running, elapsed 0:00:00, ETA -"
    now["t"] = 110.0
    assert progress.finish(1, ok=True) == 10.0
    # jobs 0 and 2 are due now; 4 jobs of 10 s wait for 3 devices: 40 s of work / 3
    assert progress.line() == "1/7 jobs done, 2 running, elapsed 0:00:10, ETA 0:00:13"
    progress.finish(0, ok=False)
    progress.start(3)
    now["t"] = 115.0  # one job of 10 s half done, 3 waiting: (5 + 30) s / 3
    assert progress.line() == ("2/7 jobs done, 1 failed, 2 running, elapsed 0:00:15, ETA 0:00:12")


def test_visible_gpus_follow_the_parent_process(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert visible_gpus("auto") == ["0", "1", "2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpus("gpu") == ["2", "3"]
    assert visible_gpus("cpu") == []


def test_device_record(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    record = describe_device(torch.device("cpu"), world_size=2)
    assert record == {"type": "cpu", "name": "cpu", "visible_devices": "1", "ranks": 2}


# A stand-in task: records the device it was given and when it ran; seed 3 fails as run.py
# fails on bad input. Real processes, real launcher, no training.
TASK = """
import json, os, sys, time
import hydra
from hydra.core.hydra_config import HydraConfig

@hydra.main(version_base="1.3", config_path={conf!r}, config_name="train")
def main(cfg):
    start = time.time()
    time.sleep(0.3)
    if cfg.seed == 3:
        print("linpath: error: seed 3 is bad", file=sys.stderr)
        sys.exit(2)
    record = dict(seed=cfg.seed, device=os.environ.get("CUDA_VISIBLE_DEVICES"), start=start,
                  end=time.time())
    with open(os.path.join(HydraConfig.get().runtime.output_dir, "record.json"), "w") as f:
        json.dump(record, f)

if __name__ == "__main__":
    main()
"""


def test_launcher_gives_each_running_job_its_own_device(tmp_path):
    script = tmp_path / "task.py"
    script.write_text(textwrap.dedent(TASK.format(conf=str(REPO / "conf"))))
    sweep = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, str(script), "-m", "seed=range(7)", "hydra.launcher.devices=[0,1,2]",
         f"hydra.sweep.dir={sweep}"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2, output  # the failed job's exit code, after every job ran
    records = [json.loads((sweep / str(j) / "record.json").read_text()) for j in range(7) if j != 3]
    assert sorted(r["seed"] for r in records) == [0, 1, 2, 4, 5, 6]
    assert {r["device"] for r in records} <= {"0", "1", "2"}
    for one in records:
        for other in records:
            if one is not other and one["device"] == other["device"]:
                assert one["end"] <= other["start"] or other["end"] <= one["start"]
    assert "#3 FAILED" in output and "linpath: error: seed 3 is bad" in output
    assert re.search(r"7/7 jobs done, 1 failed, 0 running", output), output
    assert "seed 3 is bad" in (sweep / "3" / "output.log").read_text()


@pytest.mark.slow  # seven training processes
def test_run_py_sweep_records_each_jobs_device(tmp_path):
    """The issue's check: 3 stand-in devices, 7 jobs of run.py; no two running jobs share a
    device (read from the launcher's start and done lines) and results.json names it."""
    result = run_linpath(
        "-m", "experiment=spiral_mlp", "scale=smoke", "logger=none", "seed=range(7)",
        "trainer.max_epochs=1", "interpolation.paths=[full]", "interpolation.figure=false",
        "hydra.launcher.devices=[0,1,2]", f"hydra.sweep.dir={tmp_path}",
        run_dir=tmp_path / "unused",
    )  # fmt: skip
    busy: dict[str, str] = {}
    ran_on = {}
    for line in (result.stdout + result.stderr).splitlines():
        started = re.search(r"#(\d+) : .* on device (\d)$", line)
        done = re.search(r"#(\d+) done in .* on device (\d) \|", line)
        if started:
            job, device = started.groups()
            assert device not in busy, f"job {job} started on device {device} of job {busy}"
            busy[device] = job
            ran_on[int(job)] = device
        elif done:
            job, device = done.groups()
            assert busy.pop(device) == job
    assert sorted(ran_on) == list(range(7)) and not busy
    for job, device in ran_on.items():
        results = read_results(tmp_path / str(job))
        assert results["seed"] == job
        assert results["device"] == {
            "type": "cpu", "name": "cpu", "visible_devices": device, "ranks": 1
        }  # fmt: skip
