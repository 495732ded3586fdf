"""linpath's entry point: `python run.py experiment=NAME [overrides]`, `-m` for a sweep."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import warnings
from pathlib import Path

import hydra
import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from landscape.errors import LinpathError

# torch's own deprecation inside Lightning's pytree helper: noise on every run, not ours to fix
warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")
# conf/hydra/launcher/{joblib,submitit_slurm}.yaml spell out the plugins' configs under their
# own names on purpose (hydra/launcher=joblib); Hydra 1.3 still validates them against the schema
warnings.filterwarnings("ignore", message="(?s).*is validated against ConfigStore schema")

# Lightning advertises a cloud logger on every Trainer it builds; a run's output is ours
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: "litlogger" not in record.getMessage()
)

CONFIG_DIR = Path(__file__).resolve().parent / "conf"
# trainer.* keys that run.py reads itself; the rest are Lightning Trainer arguments
RUN_PY_TRAINER_KEYS = ("compile", "channels_last")


def build(cfg: DictConfig, strategy: str | None = None):
    """Data, model, callbacks, logger and trainer from a composed config; `strategy`, when
    given, replaces trainer.strategy (how ranks start, not what they compute)."""
    from hydra.utils import instantiate

    from callbacks.memory_format import ChannelsLast
    from callbacks.progress import EpochLines, progress_mode
    from lightning_modules import Classifier
    from lightning_modules.param_groups import build_param_groups
    from sweeps.build import data_and_net_factory, device_of
    from sweeps.identity import setting_id, training_id

    datamodule, net_factory = data_and_net_factory(cfg)
    module = Classifier(
        net_factory=net_factory,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        loss=datamodule.loss,
        steps_per_call=cfg.get("steps_per_call", 1),
        compile=cfg.trainer.get("compile", False),
        param_groups=functools.partial(build_param_groups, **cfg.optim, seed=cfg.seed)
        if cfg.optim.groups or cfg.optim.groups_from
        else None,
    )
    datamodule.steps_per_call = module.steps_per_call
    init = instantiate(cfg.init)(module, datamodule, seed=cfg.seed, device=device_of(cfg))
    identity = {"training_id": training_id(cfg), "setting_id": setting_id(cfg)}
    callbacks = [instantiate(cfg.interpolation, init=init, identity=identity, _convert_="all")]
    callbacks += [instantiate(c) for c in cfg.get("callbacks", {}).values()]
    progress = progress_mode(cfg.get("progress", "auto"))
    if progress == "lines":
        callbacks.append(EpochLines())
    if cfg.trainer.get("channels_last"):
        callbacks.append(ChannelsLast())
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer_kwargs = {k: v for k, v in cfg.trainer.items() if k not in RUN_PY_TRAINER_KEYS}
    trainer_kwargs["enable_progress_bar"] = progress == "bar"
    if strategy is not None:
        trainer_kwargs["strategy"] = strategy
    trainer = instantiate(trainer_kwargs, callbacks=callbacks, logger=logger)
    return datamodule, module, trainer


def train(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    strategy = sweep_strategy(cfg.trainer, HydraConfig.get().mode == RunMode.MULTIRUN)
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    if cfg.get("reuse") and reuse_finished_run(cfg, Path(HydraConfig.get().runtime.output_dir)):
        return
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module, trainer = build(cfg, strategy)
    if cfg.get("ckpt_path") not in (None, "last", "hpc", "best"):  # Lightning's own keywords
        from callbacks.interpolation import check_checkpoint

        check_checkpoint(cfg.ckpt_path, module.net)  # Lightning's own failure is a traceback
    for logger in trainer.loggers:  # the resolved config: wandb's run config, csv's hparams.yaml
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))


def reuse_finished_run(cfg: DictConfig, output_dir: Path) -> bool:
    """Evaluate a finished run with this training config instead of training; False if none."""
    from callbacks.evaluation import summary_table
    from sweeps.reuse import find_reusable, reuse_run

    source = find_reusable(cfg, exclude=output_dir)
    if source is None:
        return False
    print(f"linpath: reuse: {source} trained this config already; evaluating it", file=sys.stderr)
    print(summary_table(reuse_run(cfg, source, output_dir)))
    return True


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> None:
    from hydra.errors import InstantiationException

    try:
        train(cfg)
    except LinpathError as error:
        fail(error)
    except InstantiationException as error:  # a callback refusing its options: our one line
        if not isinstance(error.__cause__, LinpathError):
            raise
        fail(error.__cause__)
    except SIGTERMException:  # Lightning stopped cleanly; it exits 0, a preempted run must not
        from hydra.core.hydra_config import HydraConfig

        last = f"{HydraConfig.get().runtime.output_dir}/checkpoints/last.ckpt"
        print(
            f"linpath: stopped by SIGTERM, no results written; resume: ckpt_path={last}",
            file=sys.stderr,
        )
        sys.exit(128 + signal.SIGTERM)
    finally:
        if "wandb" in sys.modules:  # the next job of a multirun must not log into this run
            sys.modules["wandb"].finish()


def fail(error: LinpathError) -> None:
    print(f"linpath: error: {error}", file=sys.stderr)
    sys.exit(2)


def sweep_strategy(trainer_cfg: DictConfig, multirun: bool) -> str | None:
    """Lightning starts local DDP ranks by re-running this command line, which under `-m`
    would re-run the whole sweep; a sweep job starts its ranks as spawned processes instead
    (ddp_spawn: the same training, the job's own config and run directory). On SLURM the
    ranks are SLURM's tasks, started by the launcher."""
    if multirun and trainer_cfg.get("strategy") == "ddp" and "SLURM_NTASKS" not in os.environ:
        return "ddp_spawn"
    return None


def check_config_choices(arguments: list[str]) -> None:
    """An unknown `experiment=`, `model=`, `data=`, ... is one line listing the valid names,
    instead of Hydra's multi-line report. Hydra's own groups (hydra/...) are Hydra's to check."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    try:
        overrides = OverridesParser.create().parse_overrides(
            [a for a in arguments if "=" in a and not a.startswith("-")]
        )
    except Exception:
        return  # a syntax error: Hydra reports it
    for override in overrides:
        group = override.key_or_group
        folder = CONFIG_DIR / group
        if group.startswith("hydra") or override.is_delete() or not folder.is_dir():
            continue
        if override.is_sweep_override():
            if override.value_type not in (ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP):
                continue  # glob(...) picks among what exists
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        valid = sorted(p.stem for p in folder.glob("*.yaml"))
        for value in values:
            if value not in valid and value != "null":
                raise LinpathError(f"unknown {group} {value!r}; expected one of {valid}")


if __name__ == "__main__":
    try:
        check_config_choices(sys.argv[1:])
    except LinpathError as error:
        fail(error)
    main()
