"""linpath's entry point: `python run.py experiment=NAME [overrides]`, `-m` for a sweep."""

from __future__ import annotations

import functools
import logging
import os
import re
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
    from callbacks.progress import FitProgress
    from lightning_modules import Classifier
    from lightning_modules.build import data_and_net_factory, device_of
    from lightning_modules.param_groups import build_param_groups
    from runs.identity import setting_id, training_id
    from runs.progress import progress_mode

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
    if progress != "none":
        callbacks.append(FitProgress(progress))
    if cfg.trainer.get("channels_last"):
        callbacks.append(ChannelsLast())
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer_kwargs = {k: v for k, v in cfg.trainer.items() if k not in RUN_PY_TRAINER_KEYS}
    trainer_kwargs["enable_progress_bar"] = False  # batches of one epoch: FitProgress counts epochs
    if strategy is not None:
        trainer_kwargs["strategy"] = strategy
    trainer = instantiate(trainer_kwargs, callbacks=callbacks, logger=logger)
    return datamodule, module, trainer


def compose_config(*overrides: str, output_dir: Path | None = None):
    """The job config run.py would get, with `${hydra:...}` resolvable, without running it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(
            output_dir or CONFIG_DIR.parent / "outputs" / "compose-only"
        )
        cfg.hydra.overrides.task = list(overrides)
    HydraConfig.instance().set_config(cfg)
    return cfg


def train(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from lightning_modules.config_checks import check_config

    check_config(cfg)  # every value, before anything is built, written or trained
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
    if trainer.is_global_zero and not trainer.interrupted:
        print_finished(Path(HydraConfig.get().runtime.output_dir))


def print_finished(output_dir: Path) -> None:
    """A run ends with its summary table and where its files are, whatever scrolled by."""
    from runs.evaluation import summary_table, written_line
    from runs.store import RESULTS_FILE

    if (output_dir / RESULTS_FILE).is_file():
        from landscape.state_files import load_results_file

        print(summary_table(load_results_file(output_dir / RESULTS_FILE)))
    print(written_line(output_dir), flush=True)


def reuse_finished_run(cfg: DictConfig, output_dir: Path) -> bool:
    """Evaluate a finished run with this training config instead of training; False if none."""
    from runs.reuse import find_reusable, reuse_run

    source = find_reusable(cfg, exclude=output_dir)
    if source is None:
        return False
    print(f"linpath: reuse: {source} trained this config already; evaluating it", file=sys.stderr)
    reuse_run(cfg, source, output_dir)
    print_finished(output_dir)
    return True


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import InstantiationException

    from sweeps.sweep_failures import clear_job_failure

    output_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        clear_job_failure(output_dir)
        train(cfg)
    except LinpathError as error:
        refuse(error, output_dir)
    except InstantiationException as error:  # a callback refusing its options: our one line
        if not isinstance(error.__cause__, LinpathError):
            raise
        refuse(error.__cause__, output_dir)
    except SIGTERMException:  # Lightning stopped cleanly; it exits 0, a preempted run must not
        last = output_dir / "checkpoints" / "last.ckpt"
        resume = (
            f"resume: ckpt_path={last}"
            if last.is_file()
            else "no checkpoint to resume from (checkpoint=last keeps one)"
        )
        print(f"linpath: stopped by SIGTERM, no results written; {resume}", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    finally:
        if "wandb" in sys.modules:  # the next job of a multirun must not log into this run
            sys.modules["wandb"].finish()


def refuse(error: LinpathError, output_dir: Path) -> None:
    """A single run ends with the one line; one bad job of a sweep is reported, left in its
    folder, and the next job runs (the sweep's exit code says so: sweeps.sweep_failures)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from sweeps.sweep_failures import record_job_failure

    if HydraConfig.get().mode != RunMode.MULTIRUN:
        fail(error)
    print(f"linpath: error: job {HydraConfig.get().job.num}: {error}", file=sys.stderr)
    record_job_failure(output_dir, str(error))


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
    instead of Hydra's multi-line report. Names come from conf/ and from every folder on
    `hydra.searchpath` (your own configs); Hydra's own groups (hydra/...) are Hydra's to check."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    try:
        overrides = OverridesParser.create().parse_overrides(
            [a for a in arguments if "=" in a and not a.startswith("-")]
        )
    except Exception:
        return  # a syntax error: check_overrides_apply reports it
    roots = [CONFIG_DIR, *search_path_folders(overrides)]
    for override in overrides:
        group = override.key_or_group
        folders = [root / group for root in roots if (root / group).is_dir()]
        if group.startswith("hydra") or override.is_delete() or not folders:
            continue
        if override.is_sweep_override():
            if override.value_type not in (ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP):
                continue  # glob(...) picks among what exists
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        valid = sorted({p.stem for folder in folders for p in folder.glob("*.yaml")})
        for value in values:
            if value not in valid and value != "null":
                raise LinpathError(f"unknown {group} {value!r}; expected one of {valid}")


def search_path_folders(overrides) -> list[Path]:
    """The config folders that `hydra.searchpath=[file://DIR, pkg://PACKAGE]` adds."""
    import importlib.util

    folders = []
    for override in overrides:
        if override.key_or_group != "hydra.searchpath" or override.is_sweep_override():
            continue
        entries = override.value()
        for entry in entries if isinstance(entries, list) else [entries]:
            scheme, _, location = str(entry).partition("://")
            if scheme == "file":
                folders.append(Path(location))
            elif scheme == "pkg":
                spec = importlib.util.find_spec(location.replace("/", "."))
                if spec is not None and spec.submodule_search_locations:
                    folders += [Path(p) for p in spec.submodule_search_locations]
    return folders


def check_overrides_apply(arguments: list[str]) -> None:
    """A key that is not in the config (a typo) or an override Hydra cannot apply is one
    line, not Hydra's report: compose once with the single-value overrides to find out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    candidates = [a for a in arguments if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except HydraException as error:
        raise LinpathError(" ".join(str(error).split())) from error
    try:
        compose_config(*[o.input_line for o in overrides if not o.is_sweep_override()])
    except HydraException as error:
        unknown = re.match(r"Could not override '([^']+)'", str(error))
        if unknown and "not in struct" in str(error.__cause__):
            key = unknown.group(1)
            raise LinpathError(
                f"{key}: no such key in the config (a typo?); `+{key}=VALUE` adds a new one"
            ) from error
        lines = [str(error), str(error.__cause__ or "")]
        words = [line.strip() for text in lines for line in text.splitlines()]
        kept = [w for w in words if w and not w.startswith(("full_key", "object_type"))]
        raise LinpathError(" ".join(kept)) from error


def cli(arguments: list[str]) -> None:
    """What `python run.py ARGUMENTS` does (tests call it in-process)."""
    try:
        check_config_choices(arguments)
        check_overrides_apply(arguments)
    except LinpathError as error:
        fail(error)
    sys.argv = [sys.argv[0], *arguments]
    main()


if __name__ == "__main__":
    cli(sys.argv[1:])
