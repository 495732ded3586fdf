"""A sweep carries on past a bad job and still ends with a non-zero exit code.

run.py reports a job's `linpath: error:` line and leaves it in the job's folder
(`error.txt`) instead of ending the process, so the launcher starts the next job. This
Hydra callback (`hydra.callbacks` in conf/train.yaml) counts those files once the sweep is
over and exits 2 if any job failed. Files, not process state, so it works the same with
every launcher: jobs in this process, in joblib workers or on SLURM nodes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from runs.folder import ERROR_FILE, clear_job_failure, record_job_failure

__all__ = ["ERROR_FILE", "SweepFailures", "clear_job_failure", "record_job_failure"]
MTIME_SLACK_S = 2  # file systems that store modification times in whole (FAT: two) seconds


class SweepFailures(Callback):
    """Exit 2 after a multirun in which some job recorded an error (in this sweep)."""

    def __init__(self) -> None:
        self.started = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self.started = time.time() - MTIME_SLACK_S

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        failed = sorted(
            path.parent.name
            for path in sweep_dir.rglob(ERROR_FILE)
            if path.stat().st_mtime >= self.started
        )
        if failed:
            print(
                f"linpath: error: {len(failed)} job(s) of the sweep failed: {failed} "
                f"(their {ERROR_FILE} in {sweep_dir})",
                file=sys.stderr,
            )
            sys.exit(2)
