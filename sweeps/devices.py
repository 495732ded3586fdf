"""One sweep job per device: which devices there are, how jobs share them, how far a sweep is.

Plain Python, no Hydra: `sweeps.launcher` is the Hydra side. A slot is the
tuple of device ids one job sees (through CUDA_VISIBLE_DEVICES); a job that finishes frees
its slot for the next job, so no two running jobs ever share a device.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import torch

from landscape.errors import LinpathError
from runs.progress import clock_time

VISIBLE = "CUDA_VISIBLE_DEVICES"
Slot = tuple[str, ...]  # device ids one job sees; () when jobs are not pinned to devices
Job = TypeVar("Job")
Handle = TypeVar("Handle")


class LauncherError(LinpathError):
    """A launcher setting that cannot be met (bad device list, jobs needing more devices)."""


def visible_gpus(accelerator: str) -> list[str]:
    """The GPU ids this process may hand out: its own CUDA_VISIBLE_DEVICES list if set (so
    `CUDA_VISIBLE_DEVICES=2,3 python run.py -m ...` shares GPUs 2 and 3), none for a CPU run."""
    if accelerator == "cpu" or not torch.cuda.is_available():
        return []
    if os.environ.get(VISIBLE):
        return [d.strip() for d in os.environ[VISIBLE].split(",") if d.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def device_slots(devices: Sequence[Any], per_job: Any, n_jobs: int | None) -> list[Slot]:
    """Disjoint groups of `per_job` devices, at most `n_jobs` of them. Without devices (a CPU
    sweep) there are `n_jobs` unpinned slots, one by default: jobs one after another."""
    if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs < 1):
        raise LauncherError(
            f"hydra.launcher.n_jobs must be a positive integer or null, got {n_jobs!r}"
        )
    ids = [str(d) for d in devices]
    if len(set(ids)) != len(ids):
        raise LauncherError(f"hydra.launcher.devices lists a device twice: {ids}")
    if not ids:
        return [()] * (n_jobs or 1)
    if not isinstance(per_job, int) or isinstance(per_job, bool) or per_job < 1:
        raise LauncherError(
            "trainer.devices must be a positive integer to share GPUs between jobs, "
            f"got {per_job!r}"
        )
    if per_job > len(ids):
        raise LauncherError(
            f"each job needs trainer.devices={per_job} devices but the sweep has {len(ids)}: {ids}"
        )
    slots = [tuple(ids[i : i + per_job]) for i in range(0, len(ids) - per_job + 1, per_job)]
    return slots[:n_jobs] if n_jobs else slots


class SweepProgress:
    """Jobs done out of the total, and the time left: the jobs not done, at the mean duration
    of the finished ones (less what running jobs have already run), shared by the slots."""

    def __init__(self, total: int, slots: int, clock: Callable[[], float] = time.monotonic):
        self.total, self.slots, self.clock = total, slots, clock
        self.began = clock()
        self.running: dict[Any, float] = {}  # job -> when it started
        self.durations: list[float] = []
        self.failed = 0

    def start(self, job: Any) -> None:
        self.running[job] = self.clock()

    def finish(self, job: Any, ok: bool) -> float:
        """Records a finished job; returns its duration."""
        duration = self.clock() - self.running.pop(job)
        self.durations.append(duration)
        self.failed += not ok
        return duration

    def eta(self) -> float | None:
        if not self.durations:
            return None
        now, mean = self.clock(), sum(self.durations) / len(self.durations)
        pending = self.total - len(self.durations) - len(self.running)
        work = pending * mean + sum(max(mean - (now - t), 0.0) for t in self.running.values())
        return work / max(1, min(self.slots, pending + len(self.running)))

    def line(self) -> str:
        eta = self.eta()
        failed = f", {self.failed} failed" if self.failed else ""
        return (
            f"{len(self.durations)}/{self.total} jobs done{failed}, {len(self.running)} running, "
            f"elapsed {clock_time(self.clock() - self.began)}, "
            f"ETA {'-' if eta is None else clock_time(eta)}"
        )


class SlotScheduler(Generic[Job, Handle]):
    """Runs jobs on slots, each slot one job at a time, the next job on the first free slot.

    `start(job, slot)` launches a job and returns its handle; `wait(handles)` blocks until
    at least one has finished and returns the finished ones; `report(job, slot, handle)`
    hears of each finished job. Both are injected so the order of events can be tested
    without processes or devices.
    """

    def __init__(
        self,
        slots: Sequence[Slot],
        start: Callable[[Job, Slot], Handle],
        wait: Callable[[list[Handle]], list[Handle]],
        report: Callable[[Job, Slot, Handle], None],
    ):
        if not slots:
            raise LauncherError("no device slot to run jobs on")
        self.slots, self.start, self.wait, self.report = list(slots), start, wait, report

    def run(self, jobs: Sequence[Job]) -> list[Handle]:
        """Every job's handle, in the order of `jobs`."""
        free = list(range(len(self.slots)))
        running: list[tuple[int, int, Handle]] = []  # (job index, slot index, handle)
        handles: list[Handle | None] = [None] * len(jobs)
        pending = list(range(len(jobs)))
        while pending or running:
            while pending and free:
                index, slot = pending.pop(0), free.pop(0)
                running.append((index, slot, self.start(jobs[index], self.slots[slot])))
            finished = self.wait([handle for _, _, handle in running])
            for index, slot, handle in [r for r in running if any(r[2] is f for f in finished)]:
                running.remove((index, slot, handle))
                handles[index] = handle
                free = sorted([*free, slot])
                self.report(jobs[index], self.slots[slot], handle)
        return handles
