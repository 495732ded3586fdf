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
        steps_per_call=cfg.get("steps_per_call", 1),
        compile=cfg.trainer.get("compile", False),
    )
    datamodule.steps_per_call = module.steps_per_call
    callbacks = [instantiate(cfg.interpolation)]
    callbacks += [instantiate(c) for c in cfg.get("callbacks", {}).values()]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer_kwargs = {k: v for k, v in cfg.trainer.items() if k != "compile"}
    trainer = instantiate(trainer_kwargs, callbacks=callbacks, logger=logger)
    return datamodule, module, trainer


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
