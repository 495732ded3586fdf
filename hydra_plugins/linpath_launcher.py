"""Hydra's handle on linpath's sweep launcher (`hydra/launcher=devices`, the default).

Hydra finds launchers only in the `hydra_plugins` package and imports every module there at
start-up, so this class only keeps its settings; the work is `sweeps.launcher.launch`.
"""

from hydra.plugins.launcher import Launcher


class DeviceLauncher(Launcher):
    """One job per GPU (or per group of `devices_per_job` GPUs), at most `n_jobs` at once."""

    def __init__(self, devices="auto", devices_per_job=1, n_jobs=None, accelerator="auto"):
        self.devices, self.devices_per_job = devices, devices_per_job
        self.n_jobs, self.accelerator = n_jobs, accelerator
        self.config = self.task_function = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config):
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides, initial_job_idx):
        from sweeps.launcher import launch

        return launch(self, job_overrides, initial_job_idx)
