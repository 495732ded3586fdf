"""A sweep job, as the launcher hands it to Hydra's `run_job` in this process or in its own.

Kept apart from the scheduling (`sweeps.launcher`) and free of torch: a job's process
imports this module first, so it starts in about a second before the job imports its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

OUTPUT_FILE = "output.log"  # a job's stdout and stderr when it runs in its own process


@dataclass
class SweepJob:
    """One job of a sweep: its number, its overrides and its composed config."""

    index: int
    overrides: list[str]
    config: DictConfig  # the job's composed config, hydra.job.num set

    @property
    def directory(self) -> Path:
        hydra = self.config.hydra
        return Path(str(hydra.sweep.dir)) / str(hydra.sweep.subdir)


def compose(context: HydraContext, config: DictConfig, index: int, overrides) -> SweepJob:
    """The job's config as Hydra's own launchers compose it."""
    job_config = context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job_config):
        job_config.hydra.job.id = f"{job_config.hydra.job.name}_{index}"
        job_config.hydra.job.num = index
    return SweepJob(index, list(overrides), job_config)


def run_here(context: HydraContext, task_function: TaskFunction, job: SweepJob) -> JobReturn:
    HydraConfig.instance().set_config(job.config)
    return run_job(
        hydra_context=context,
        task_function=task_function,
        config=job.config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def run_in_child(payload: bytes, output: str, sender: Connection) -> None:
    """A job in its own process, its output in `output`; sends back its JobReturn."""
    with open(output, "a") as stream:
        os.dup2(stream.fileno(), 1)
        os.dup2(stream.fileno(), 2)
    context, task_function, job, singleton_state = cloudpickle.loads(payload)
    setup_globals()
    Singleton.set_state(singleton_state)
    try:
        result = run_here(context, task_function, job)
    except SystemExit as stop:  # run.py's `linpath: error:` exit: a failed job, not a crash
        status = JobStatus.COMPLETED if stop.code in (0, None) else JobStatus.FAILED
        result = JobReturn(status=status, _return_value=stop)
    try:
        sender.send(result)
    except Exception as error:  # an unpicklable return value: keep the status
        sender.send(JobReturn(status=result.status, _return_value=RuntimeError(repr(error))))
