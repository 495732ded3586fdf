"""linpath's entry point: `python run.py experiment=NAME [overrides]`, `-m` for a sweep."""

from __future__ import annotations

import functools
import sys
import warnings

import hydra
import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from landscape.errors import LinpathError

# torch's own deprecation inside Lightning's pytree helper: noise on every run, not ours to fix
warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated")


def build(cfg: DictConfig):
    """Data, model, callbacks, logger and trainer from a composed config."""
    from hydra.utils import instantiate

    from lightning_modules import Classifier
    from lightning_modules.param_groups import build_param_groups

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")  # fail on missing data before anything is built or written
    net_factory = functools.partial(
        instantiate(cfg.model),
        input_shape=datamodule.input_shape,
        num_outputs=datamodule.num_outputs,
    )
    module = Classifier(
        net_factory=net_factory,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        loss=datamodule.loss,
        param_groups=functools.partial(build_param_groups, **cfg.optim, seed=cfg.seed)
        if cfg.optim.groups or cfg.optim.groups_from
        else None,
    )
    init = instantiate(cfg.init)(module, datamodule, seed=cfg.seed, device=init_device(cfg))
    callbacks = [instantiate(cfg.interpolation, init=init, _convert_="all")]
    callbacks += [instantiate(c) for c in cfg.get("callbacks", {}).values()]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger)
    return datamodule, module, trainer


def init_device(cfg: DictConfig) -> str:
    """Where an initialisation pre-stage (random labels) trains: the trainer's accelerator."""
    wants_gpu = cfg.trainer.get("accelerator", "auto") in ("auto", "gpu", "cuda")
    return "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"


def train(cfg: DictConfig) -> None:
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module, trainer = build(cfg)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
