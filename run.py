"""linpath's entry point: `python run.py experiment=NAME [overrides]`, `-m` for a sweep."""

from __future__ import annotations

import errno
import functools
import logging
import os
import signal
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import hydra
import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from callbacks import InterpolationCallback
from landscape.errors import LinpathError
from lightning_modules.command_line import (
    CONFIG_DIR,
    check_config_choices,
    check_overrides_apply,
    compose_config,
    output_folder,
    quoted,
)
from runs.folder import missing_directories, remove_if_empty
from runs.lifecycle import (
    check_same_training,
    claimed,
    finish_evaluation,
    go_on_command,
    note,
    stop_line,
)
from runs.resume import continue_training

__all__ = ["build", "check_config_choices", "cli", "compose_config", "main"]

# torch's own deprecation inside Lightning's pytree helper: noise on every run, not ours to fix
warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")
# conf/hydra/launcher/{joblib,submitit_slurm}.yaml spell out the plugins' configs under their
# own names on purpose (hydra/launcher=joblib); Hydra 1.3 still validates them against the schema
warnings.filterwarnings("ignore", message="(?s).*is validated against ConfigStore schema")

# Lightning advertises a cloud logger on every Trainer it builds; a run's output is ours
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: "litlogger" not in record.getMessage()
)

# what a full disk, a read-only or a vanished folder raises: one line, not a traceback
UNWRITABLE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
# trainer.* keys that run.py reads itself; the rest are Lightning Trainer arguments
RUN_PY_TRAINER_KEYS = ("compile", "channels_last")
# this process's command line (cli), the folders Hydra will make for it that do not exist
# yet, and the run folder it holds once claimed: what a refusal or a stop reports or undoes
ARGUMENTS: list[str] = []
CREATED: list[Path] = []
CLAIMED: list[Path] = []


def build(cfg: DictConfig, strategy: str | None = None):
    """Data, model, callbacks, logger and trainer from a composed config; `strategy`, when
    given, replaces trainer.strategy (how ranks start, not what they compute)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from callbacks.memory_format import ChannelsLast
    from callbacks.progress import FitProgress
    from callbacks.stops import TrainingPhase
    from lightning_modules import Classifier
    from lightning_modules.build import data_and_net_factory, device_of
    from lightning_modules.config_checks import ConfigError
    from lightning_modules.param_groups import build_param_groups
    from runs.identity import identity as identity_of
    from runs.identity import training_config
    from runs.progress import progress_mode

    datamodule, net_factory = data_and_net_factory(cfg)
    try:
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
    except (TypeError, ValueError, RuntimeError) as error:  # the model's own refusal
        raise ConfigError(
            f"model._target_={cfg.model.get('_target_')} does not build a network for "
            f"{type(datamodule).__name__}: {' '.join(str(error).split())}"
        ) from error
    datamodule.steps_per_call = module.steps_per_call
    init = instantiate(cfg.init)(module, datamodule, seed=cfg.seed, device=device_of(cfg))
    identity = {**identity_of(cfg), "data_fingerprint": getattr(datamodule, "fingerprint", None)}
    interpolation = instantiate(cfg.interpolation, init=init, identity=identity, _convert_="all")
    # set, not passed: instantiate would build the trainer the config names inside it
    interpolation.training = {**identity, "config": training_config(cfg)}
    # the interpolation callback last: its results.json is the last file a run writes
    callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values()]
    callbacks += [interpolation, TrainingPhase()]
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
    try:
        trainer = instantiate(trainer_kwargs, callbacks=callbacks, logger=logger)
    except InstantiationException as error:  # Lightning refusing its own arguments
        cause = error.__cause__ or error
        raise ConfigError(f"trainer: {' '.join(str(cause).split())}") from error
    return datamodule, module, trainer


def train(cfg: DictConfig, output_dir: Path) -> None:
    """Check everything, then claim the run folder, then train and evaluate (or finish
    the evaluation, or reuse a finished run's training)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from lightning_modules.config_checks import check_config
    from runs.folder import check_claimable
    from runs.resume import plan_start

    check_config(cfg)  # every value, before anything is built, written or trained
    check_own_folder(cfg, output_dir)
    strategy = sweep_strategy(cfg.trainer, HydraConfig.get().mode == RunMode.MULTIRUN)
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    start = plan_start(cfg.get("ckpt_path"), output_dir)
    if start.done:
        check_same_training(cfg, output_dir)
        note(f"{output_dir} is finished already (results.json): nothing to do")
        return
    if rank_zero_only.rank == 0:  # DDP ranks that rank 0 starts follow it into its folder
        check_claimable(output_dir, cfg.get("overwrite", False), start.continues)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.get("reuse") and not start.continues:
        source = reusable_run(cfg, output_dir)
        if source is not None:
            with hold(cfg, output_dir, continues=False):
                reuse_finished_run(cfg, source, output_dir)
            print_finished(output_dir)
            return
    datamodule, module, trainer = build(cfg, strategy)
    check_fits(cfg, module, datamodule, trainer)
    interpolation = next(c for c in trainer.callbacks if isinstance(c, InterpolationCallback))
    if start.checkpoint is not None:
        continue_training(cfg, start.checkpoint, module.net, interpolation)
    with hold(cfg, output_dir, continues=start.continues):
        if start.finish:
            finish_evaluation(cfg, output_dir, module, datamodule, interpolation)
        else:
            for logger in trainer.loggers:  # the resolved config: wandb's run config, hparams
                logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
            trainer.fit(module, datamodule=datamodule, ckpt_path=start.checkpoint)
            if trainer.interrupted:
                return
    if rank_zero_only.rank == 0:
        print_finished(output_dir)  # once the folder is let go: its lock is gone


def print_finished(output_dir: Path) -> None:
    """A run ends with its summary table and where its files are, whatever scrolled by."""
    from runs.evaluation import summary_table, written_line
    from runs.store import RESULTS_FILE

    if (output_dir / RESULTS_FILE).is_file():
        from landscape.state_files import load_results_file

        print(summary_table(load_results_file(output_dir / RESULTS_FILE)))
    print(written_line(output_dir), flush=True)


def check_own_folder(cfg: DictConfig, output_dir: Path) -> None:
    """A run writes into its own folder only (the one it holds: runs.folder); pointing a
    callback elsewhere would write into another run's folder unchecked."""
    from lightning_modules.config_checks import ConfigError

    sections = {"interpolation": cfg.interpolation}
    sections.update({f"callbacks.{k}": v for k, v in cfg.get("callbacks", {}).items()})
    for name, section in sections.items():
        folder = section.get("output_dir") if hasattr(section, "get") else None
        if folder is not None and Path(str(folder)).absolute() != output_dir.absolute():
            raise ConfigError(
                f"{name}.output_dir={folder}: a run writes into its own folder ({output_dir}); "
                "choose the folder with hydra.run.dir (hydra.sweep.dir for -m) instead"
            )


def check_fits(cfg: DictConfig, module, datamodule, trainer) -> None:
    """The model takes the data, the paths fit the model and the optimizer its parameter
    groups: one forward on two examples, the callbacks' own checks and the optimizer and
    scheduler built once, before anything is written."""
    from callbacks import TrajectoryCallback
    from landscape.evaluate import batch_loss_and_correct
    from lightning_modules.config_checks import ConfigError

    inputs, targets = datamodule.split("train", device="cpu")
    net = module.net
    if not isinstance(net, torch.nn.Module) or not list(net.parameters()):
        raise ConfigError(
            f"model: {type(net).__name__} is not a network with weights (a torch.nn.Module "
            "with parameters); model._target_ names what builds it"
        )
    was_training = net.training
    try:
        with torch.no_grad():
            net.eval()
            outputs = net(inputs[:2])
            batch_loss_and_correct(outputs, targets[:2], module.loss_name)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            f"model {type(net).__name__} does not fit data {type(datamodule).__name__} "
            f"(inputs {tuple(inputs.shape[1:])}, {datamodule.num_outputs} outputs): {first}"
        ) from error
    finally:
        net.train(was_training)
    for callback in trainer.callbacks:
        if isinstance(callback, (InterpolationCallback, TrajectoryCallback)):
            callback.setup(trainer, module, "fit")
    try:  # torch checks its own options (betas, eps, nesterov without momentum, ...)
        module.configure_optimizers()  # over its parameter groups (optim.groups_from)
    except (ValueError, TypeError, KeyError) as error:
        target = OmegaConf.select(cfg, "optimizer._target_")
        raise ConfigError(
            f"optimizer: {target} (or its scheduler) refuses these options: "
            f"{' '.join(str(error).split())}"
        ) from error


@contextmanager
def hold(cfg: DictConfig, output_dir: Path, continues: bool):
    """`runs.lifecycle.claimed`, remembered: a stop or a refusal says what was written."""
    from hydra.core.hydra_config import HydraConfig

    with claimed(cfg, HydraConfig.instance().cfg, output_dir, continues):
        CLAIMED.append(output_dir)
        yield


def go_on(output_dir: Path) -> str:
    """The command that continues this run (a sweep: the whole sweep)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return go_on_command(ARGUMENTS, "hydra.sweep.dir", hydra_cfg.sweep.dir)
    return go_on_command(ARGUMENTS, "hydra.run.dir", output_dir)


def reusable_run(cfg: DictConfig, output_dir: Path) -> Path | None:
    from runs.reuse import find_reusable

    return find_reusable(cfg, exclude=output_dir, note=note)


def reuse_finished_run(cfg: DictConfig, source: Path, output_dir: Path) -> None:
    """Evaluate a finished run with this training config instead of training."""
    from runs.reuse import reuse_run

    note(f"reuse: {source} trained this config already; evaluating it")
    reuse_run(cfg, source, output_dir)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import InstantiationException
    from hydra.types import RunMode

    from callbacks.stops import RunStopped, install_stop_handlers, restore_handlers
    from sweeps.sweep_failures import clear_job_failure

    output_dir = Path(HydraConfig.get().runtime.output_dir)
    previous = install_stop_handlers()
    CLAIMED.clear()
    try:
        clear_job_failure(output_dir)
        train(cfg, output_dir)
    except LinpathError as error:
        refuse(error, output_dir)
    except InstantiationException as error:  # a callback refusing its options: our one line
        if not isinstance(error.__cause__, LinpathError):
            raise
        refuse(error.__cause__, output_dir)
    except (SIGTERMException, RunStopped) as stop:
        signum = getattr(stop, "signum", signal.SIGTERM)
        if not CLAIMED:
            remove_if_empty(CREATED)
        note(stop_line(signum, output_dir, bool(CLAIMED), go_on(output_dir)))
        sys.exit(128 + signum)
    except OSError as error:  # a full disk, a read-only or vanished folder: not a bug
        if error.errno not in UNWRITABLE:
            raise
        refuse(UnwritableError(unwritable_line(error, output_dir)), output_dir)
    except Exception as error:  # a crash: a sweep records it and goes on to the next job
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            raise
        crashed(error, output_dir)
    finally:
        restore_handlers(previous)
        if "wandb" in sys.modules:  # the next job of a multirun must not log into this run
            sys.modules["wandb"].finish()


class UnwritableError(LinpathError):
    """The run could not write its files (no space, read-only, no permission)."""


def unwritable_line(error: OSError, output_dir: Path) -> str:
    """What could not be written, and that the folder is unfinished: no results.json."""
    where = error.filename or output_dir
    held = bool(CLAIMED)
    what = "the run is unfinished (no results.json)" if held else "nothing was written"
    go_on_hint = f"; once it can be written: {go_on(output_dir)}" if held else ""
    return f"{where}: {error.strerror}; {what}{go_on_hint}"


def refuse(error: LinpathError, output_dir: Path) -> None:
    """A single run ends with the one line (and takes back the folder Hydra made for it);
    one bad job of a sweep is reported, left in its folder, and the next job runs (the
    sweep's exit code says so: sweeps.sweep_failures)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from sweeps.sweep_failures import record_job_failure

    if HydraConfig.get().mode != RunMode.MULTIRUN:
        remove_if_empty(CREATED)
        fail(error)
    print(f"linpath: error: job {HydraConfig.get().job.num}: {error}", file=sys.stderr)
    record_job_failure(output_dir, str(error))


def crashed(error: Exception, output_dir: Path) -> None:
    """A sweep job that crashed: its traceback printed, its error.txt written, the sweep
    goes on and ends with exit code 2 (sweeps.sweep_failures)."""
    import traceback

    from hydra.core.hydra_config import HydraConfig

    from sweeps.sweep_failures import record_job_failure

    traceback.print_exception(error)
    line = f"crashed: {type(error).__name__}: {' '.join(str(error).split())}"
    print(f"linpath: error: job {HydraConfig.get().job.num}: {line}", file=sys.stderr)
    record_job_failure(output_dir, line)


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


def cli(arguments: list[str]) -> None:
    """What `python run.py ARGUMENTS` does (tests call it in-process): the command line's
    checks, then Hydra, with the output folder pinned to one resolved path (so a refused
    run can take back the folder Hydra makes, and a stopped one can name it)."""
    try:
        check_config_choices(arguments)
        cfg = check_overrides_apply(arguments)
        key, folder = output_folder(arguments, cfg)
    except LinpathError as error:
        fail(error)
    CREATED[:] = missing_directories(folder)
    ARGUMENTS[:] = arguments
    sys.argv = [sys.argv[0], *arguments, f"{key}={quoted(folder)}"]
    main()


if __name__ == "__main__":
    cli(sys.argv[1:])
