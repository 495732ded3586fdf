"""A finished run folder read back: its network, theta_i, theta_f, theta_i', data and
config, as re-evaluation, reuse and a notebook (`load_run`) need them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from landscape.errors import LinpathError
from runs.evaluation import State, eval_batches, new_init_state

RUN_FILES = ("results.json", "theta_i.pt", "theta_f.pt", ".hydra/config.yaml")


class RunDirError(LinpathError):
    """A run directory that is missing, incomplete, or whose files do not fit its config."""


def check_complete(run_dir: Path, option: str = "run_dir") -> dict:
    """The run's results.json, once every file a re-evaluation reads is there."""
    if not run_dir.is_dir():
        raise RunDirError(
            f"{option}={run_dir} is not a directory; expected a finished run's folder"
        )
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if missing:
        raise RunDirError(
            f"{option}={run_dir} lacks {missing}: not a complete run (needs {list(RUN_FILES)})"
        )
    from landscape.state_files import load_results_file

    return load_results_file(run_dir / "results.json")


@dataclass
class LoadedRun:
    """One finished run, rebuilt: `model` holds theta_f, in eval mode, on the device its
    config trains on; `datamodule` is set up; the thetas are state dicts on the CPU."""

    directory: Path
    config: DictConfig
    results: dict
    model: torch.nn.Module
    theta_i: State
    theta_f: State
    datamodule: object
    net_factory: Callable[[], torch.nn.Module]

    def fresh_net(self, seed: int) -> torch.nn.Module:
        """A new draw from the run's initialiser under `seed`."""
        from lightning_modules.classifier import fresh_draw

        return fresh_draw(self.net_factory, seed)

    @functools.cached_property
    def theta_new(self) -> State:
        """theta_i': the draw the run's own new-init paths ended at (under the seed its
        results.json records), so their curves come back."""
        seed = self.results.get("seed", OmegaConf.select(self.config, "interpolation.seed"))
        return new_init_state(self.fresh_net, seed)

    def batches(self, split: str) -> list:
        """The (inputs, targets) batches the run evaluated its paths on, for `split`, with
        its `interpolation.max_eval_examples` cap."""
        if split not in self.datamodule.splits:
            raise RunDirError(
                f"unknown split {split!r}; the data of {self.directory} has "
                f"{sorted(self.datamodule.splits)}"
            )
        limit = OmegaConf.select(self.config, "interpolation.max_eval_examples")
        return eval_batches(self.datamodule, split, limit)


def rebuild_run(run_dir: Path, cfg: DictConfig, results: dict) -> LoadedRun:
    """The run in `run_dir` (`check_complete` gave its `results`) with the data and network
    `cfg` describes: the run's own config, or one with other interpolation settings. Its
    theta files must be the ones its manifest recorded (runs.manifest)."""
    from landscape.state_files import load_state_for
    from lightning_modules.build import data_and_net_factory, device_of
    from runs.manifest import verify_files

    verify_files(run_dir, results)
    datamodule, net_factory = data_and_net_factory(cfg)
    model = net_factory()
    theta_i = load_state_for(run_dir / "theta_i.pt", model)
    theta_f = load_state_for(run_dir / "theta_f.pt", model)
    model.load_state_dict(theta_f)
    model.to(device_of(cfg)).eval()
    return LoadedRun(run_dir, cfg, results, model, theta_i, theta_f, datamodule, net_factory)


def load_run(run_dir: str | Path) -> LoadedRun:
    """A finished run folder (`outputs/demo`) as its composed config `.hydra/config.yaml`
    built it: `.model`, `.theta_i`, `.theta_f`, `.theta_new`, `.datamodule`, `.config`,
    `.results` and `.batches(split)`. A folder that is not a finished run is one
    `RunDirError` line naming what is missing."""
    from runs.identity import run_config

    run_dir = Path(run_dir)
    results = check_complete(run_dir)
    return rebuild_run(run_dir, run_config(run_dir), results)
