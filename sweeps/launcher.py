"""linpath's sweep launcher: one job per GPU (or group of GPUs), a finished job's GPU taking
the next job, and a progress line per finished job (`conf/hydra/launcher/devices.yaml`).

`hydra_plugins.linpath_launcher` is Hydra's handle on it; the scheduling is `sweeps.devices`.
A job on a device runs in a fresh process that sees only its GPUs (CUDA_VISIBLE_DEVICES) and
writes its output to `<job dir>/output.log`. With a single unpinned slot (a CPU sweep) jobs
run one after another in this process, as Hydra's basic launcher runs them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    setup_globals,
)
from hydra.types import HydraContext, TaskFunction

from runs.progress import clock_time
from sweeps.devices import (
    VISIBLE,
    LauncherError,
    Slot,
    SlotScheduler,
    SweepProgress,
    device_slots,
    visible_gpus,
)
from sweeps.sweep_job import OUTPUT_FILE, SweepJob, compose, run_here, run_in_child

log = logging.getLogger(__name__)
FAILURE_TAIL_LINES = 8  # of a failed job's output, echoed with the progress line


@dataclass
class Running:
    """A job in flight: its child process (or none, in this process) and, once done, its
    JobReturn."""

    job: SweepJob
    process: Any = None
    connection: Connection | None = None
    result: JobReturn | None = None
    exit_code: int | None = None


def launch(
    launcher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    """Hydra's `Launcher.launch` for `hydra_plugins.linpath_launcher.DeviceLauncher`."""
    try:
        slots = device_slots(
            requested_devices(launcher.devices, launcher.accelerator),
            launcher.devices_per_job,
            launcher.n_jobs,
        )
    except LauncherError as error:  # Hydra would print it as a traceback; run.py's one line
        print(f"linpath: error: {error}", file=sys.stderr)
        sys.exit(2)
    setup_globals()
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    in_process = slots == [()]
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    jobs = [
        compose(launcher.hydra_context, config, initial_job_idx + i, overrides)
        for i, overrides in enumerate(job_overrides)
    ]
    where = "one after another" if in_process else describe(slots)
    log.info(f"Launching {len(jobs)} jobs {where}, sweep dir {config.hydra.sweep.dir}")
    progress = SweepProgress(len(jobs), len(slots))
    task = (launcher.hydra_context, launcher.task_function)

    def start(job: SweepJob, slot: Slot) -> Running:
        log.info(f"\t#{job.index} : {' '.join(filter_overrides(job.overrides))}{on(slot)}")
        handle = Running(job)
        progress.start(job.index)
        if in_process:
            handle.result = run_here(*task, job)
            configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        else:
            start_process(*task, handle, slot)
        return handle

    def report(job: SweepJob, slot: Slot, handle: Running) -> None:
        ok = handle.result is not None and handle.result.status == JobStatus.COMPLETED
        took = clock_time(progress.finish(job.index, ok))
        state = "done" if ok else "FAILED"
        log.info(f"#{job.index} {state} in {took}{on(slot)} | {progress.line()}")
        if not ok and not in_process:
            log.error(failure_tail(job.directory / OUTPUT_FILE))

    finished = SlotScheduler(slots, start, wait_for_any, report).run(jobs)
    return [job_return(handle) for handle in finished]


def requested_devices(devices: Any, accelerator: str) -> list[Any]:
    """`auto`: the GPUs this process sees; otherwise the configured id or list of ids."""
    if devices == "auto":
        return visible_gpus(accelerator)
    if devices is None:
        return []
    return (
        list(devices)
        if isinstance(devices, Sequence) and not isinstance(devices, str)
        else [devices]
    )


def start_process(
    context: HydraContext, task_function: TaskFunction, handle: Running, slot: Slot
) -> None:
    """A fresh (spawned, not forked: CUDA) process that sees only the slot's devices."""
    job = handle.job
    job.directory.mkdir(parents=True, exist_ok=True)
    payload = cloudpickle.dumps((context, task_function, job, Singleton.get_state()))
    spawn = multiprocessing.get_context("spawn")
    receiver, sender = spawn.Pipe(duplex=False)
    process = spawn.Process(
        target=run_in_child, args=(payload, str(job.directory / OUTPUT_FILE), sender)
    )
    with environment({VISIBLE: ",".join(slot)} if slot else {}):
        process.start()
    sender.close()  # the child holds the only write end: its exit reads as end of file
    handle.process, handle.connection = process, receiver


def wait_for_any(handles: list[Running]) -> list[Running]:
    """The handles whose job has ended: in-process jobs at once, child processes when their
    pipe has the result or closed."""
    done = [h for h in handles if h.process is None]
    if done:
        return done
    ready = wait([h.connection for h in handles])
    finished = [h for h in handles if h.connection in ready]
    for handle in finished:
        try:
            handle.result = handle.connection.recv()
        except EOFError:  # the process died before sending anything
            handle.result = None
        handle.process.join()
        handle.exit_code = handle.process.exitcode
        handle.connection.close()
    return finished


def job_return(handle: Running) -> JobReturn:
    """Hydra's JobReturn of a job; a process that died without one is a failed job."""
    if handle.result is not None:
        result = handle.result
    else:
        error = RuntimeError(f"job {handle.job.index} died (exit code {handle.exit_code})")
        result = JobReturn(status=JobStatus.FAILED, _return_value=error)
    result.overrides = result.overrides or handle.job.overrides
    return result


def failure_tail(output: Path) -> str:
    lines = output.read_text().splitlines()[-FAILURE_TAIL_LINES:] if output.exists() else []
    return "\n".join([f"last lines of {output}:", *(f"  {line}" for line in lines)])


def on(slot: Slot) -> str:
    if not slot:
        return ""
    return f" on device{'s' if len(slot) > 1 else ''} {','.join(slot)}"


def describe(slots: list[Slot]) -> str:
    if not slots[0]:
        return f"{len(slots)} at a time"
    return f"on {len(slots)} slots " + " ".join(f"[{','.join(s)}]" for s in slots)


@contextmanager
def environment(variables: dict[str, str]):
    """Environment variables set for the processes started inside the block."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
