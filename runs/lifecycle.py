"""A run folder's life as run.py leads it: held while it is written (runs.folder), finished
from its weights when only the evaluation is left, and told how to go on when stopped.

`note` is linpath's own line: on stderr, and in the run's run.log once the run holds its
folder (runs.folder.attach_log).
"""

from __future__ import annotations

import json
import logging
import shlex
import signal
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from landscape.state_files import load_results_file, load_state_for
from lightning_modules.build import device_of
from lightning_modules.command_line import quoted
from runs.evaluation import evaluate_trained, summary_table, write_results
from runs.folder import RESULTS_FILE, FolderError, attach_log, claim, detach_log
from runs.identity import RESUMED_FROM, training_id
from runs.resume import LAST_CHECKPOINT, TRAINED_FILE

# what a command that goes on sets itself: the folder, and how it continues
GO_ON_REPLACES = ("ckpt_path=", "hydra.run.dir=", "hydra.sweep.dir=", "overwrite=")


def note(message: str) -> None:
    """A `linpath:` line on stderr, and in the run's run.log once it has one."""
    print(f"linpath: {message}", file=sys.stderr, flush=True)
    logging.getLogger("linpath").info(f"linpath: {message}")


@contextmanager
def claimed(cfg: DictConfig, hydra_cfg: DictConfig, output_dir: Path, continues: bool):
    """The block writes into `output_dir` as its only writer, with the config in .hydra/
    (what Hydra writes with output_subdir=.hydra), Lightning's messages, linpath's lines and
    the summary table in run.log; DDP ranks other than zero only read."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if rank_zero_only.rank != 0:
        yield
        return
    lock = claim(output_dir, overwrite=cfg.get("overwrite", False), continues=continues)
    log = attach_log(output_dir)
    try:
        hydra_dir = output_dir / ".hydra"
        hydra_dir.mkdir(exist_ok=True)
        (hydra_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
        (hydra_dir / "hydra.yaml").write_text(OmegaConf.to_yaml(hydra_cfg))
        overrides = hydra_cfg.hydra.overrides.task
        (hydra_dir / "overrides.yaml").write_text(OmegaConf.to_yaml(overrides))
        yield
        if (output_dir / RESULTS_FILE).is_file():  # run.log ends as the terminal does
            logging.getLogger("linpath").info(
                summary_table(load_results_file(output_dir / RESULTS_FILE))
            )
    finally:
        detach_log(log)
        lock.release()


def check_same_training(cfg: DictConfig, output_dir: Path) -> None:
    """`ckpt_path=auto` in a finished folder does nothing, if it finished this training."""
    results = load_results_file(output_dir / RESULTS_FILE)
    wanted = training_id(cfg, resumed_from=results.get(RESUMED_FROM))
    if results.get("training_id") != wanted:
        raise FolderError(
            f"{output_dir} holds a finished run of another training (training_id "
            f"{results.get('training_id')}, this config's {wanted}); overwrite=true moves it "
            "aside and starts again"
        )


def finish_evaluation(cfg, output_dir: Path, module, datamodule, interpolation) -> None:
    """A run whose training finished but whose evaluation was stopped: its theta_i.pt and
    theta_f.pt evaluated as the interpolation callback would have, with its trained.json."""
    trained = json.loads((output_dir / TRAINED_FILE).read_text())
    recorded, wanted = trained["header"].get("training_id"), interpolation.identity["training_id"]
    if recorded != wanted:
        raise FolderError(
            f"{output_dir} holds the weights of another training (training_id {recorded}, "
            f"this config's {wanted}); give its own config, or overwrite=true to move it aside"
        )
    note(f"{output_dir}: trained already; evaluating theta_i.pt and theta_f.pt")
    net = module.net
    theta_i = load_state_for(output_dir / "theta_i.pt", net)
    theta_f = load_state_for(output_dir / "theta_f.pt", net)
    net.load_state_dict(theta_f)
    net.to(device_of(cfg))
    results = evaluate_trained(
        interpolation.evaluation,
        net,
        module.fresh_net,
        module.loss_name,
        datamodule,
        theta_i,
        theta_f,
        trained,
    )
    write_results(results, output_dir, interpolation.figure)
    (output_dir / TRAINED_FILE).unlink()  # results.json says it all now


def stop_line(signum: int, output_dir: Path, held: bool, go_on: str) -> str:
    """What a run stopped by `signum` keeps, and the command `go_on` that continues it."""
    name = signal.Signals(signum).name
    if not held:
        return f"stopped by {name} before the run wrote anything"
    if (output_dir / TRAINED_FILE).is_file():
        return (
            f"stopped by {name} during the path evaluation; theta_f.pt is kept, finish the "
            f"evaluation without training: {go_on}"
        )
    if (output_dir / LAST_CHECKPOINT).is_file():
        return (
            f"stopped by {name}, no results written; resume from "
            f"{output_dir / LAST_CHECKPOINT}: {go_on}"
        )
    return (
        f"stopped by {name}, no results written; no checkpoint to resume from "
        f"(checkpoint=last keeps one), so this trains it again: {go_on}"
    )


def go_on_command(arguments: Sequence[str], folder_key: str, folder: Path | str) -> str:
    """`python run.py ARGUMENTS` again into the same folder (`hydra.run.dir`, or a sweep's
    `hydra.sweep.dir`) with `ckpt_path=auto`: each run continues from what its own folder
    holds (runs.resume)."""
    multirun = folder_key == "hydra.sweep.dir"
    kept = [
        a
        for a in arguments
        if a not in ("-m", "--multirun") and not a.lstrip("+~").startswith(GO_ON_REPLACES)
    ]
    words = ["python", "run.py", *(["-m"] if multirun else []), *kept]
    words += [f"{folder_key}={quoted(folder)}", "ckpt_path=auto"]
    return " ".join(shlex.quote(w) for w in words)
