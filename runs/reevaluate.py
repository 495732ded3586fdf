"""`python -m runs.reevaluate run_dir=DIR [interpolation.KEY=VALUE ...] [name=NAME]`

Looks at a finished run again without training: its theta_i.pt and theta_f.pt are evaluated
with its own config (`.hydra/config.yaml`) and the given `interpolation.*` overrides (paths,
units, alphas, split, example cap, BN policy, views, thresholds). The new evaluation is
written to DIR/evaluations/NAME/ (results.json, interpolation.png, evaluation.yaml); the
run's own results.json is never touched. `-m run_dir=A,B,C` does many runs.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from landscape.errors import LinpathError
from runs.identity import REUSED_FROM
from runs.load import RunDirError, check_complete, rebuild_run
from runs.store import EVALUATIONS

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
# results.json keys that describe one evaluation, not the run: never carried to another one
EVALUATION_ONLY = ("schema", "distance", "timing", "evaluation", "manifest", REUSED_FROM)
PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,24}")  # kept in an evaluation's folder name
MAX_NAME = 60


def evaluate_run(
    run_dir: Path, cfg: DictConfig, out_dir: Path, header: Mapping = (), **callback_options
) -> dict:
    """Evaluate the run in `run_dir` (its theta files) as `cfg.interpolation` says, on `cfg`'s
    data and model, and write results.json and the figure into `out_dir`.

    results.json keeps what the run's own says about its training (ids, init, fit time) and
    takes `header` and this evaluation on top. `callback_options` go to the callback that
    checks the interpolation config (experiment, seed, overrides).
    """
    from hydra.utils import instantiate

    from runs.evaluation import write_results

    source = check_complete(run_dir)
    run = rebuild_run(run_dir, cfg, source)  # its files checked against its manifest
    callback = instantiate(
        cfg.interpolation,
        output_dir=str(out_dir),
        init=source.get("init"),
        identity={k: source[k] for k in ("training_id", "setting_id") if k in source},
        _convert_="all",
        **callback_options,
    )
    started = time.perf_counter()
    evaluation, loss = callback.evaluation, run.datamodule.loss
    views = evaluation.all_curves(
        run.model, run.fresh_net, loss, run.datamodule, run.theta_i, run.theta_f
    )
    carried = {k: v for k, v in source.items() if k not in EVALUATION_ONLY}
    results = evaluation.results(
        run.model,
        loss,
        run.datamodule,
        run.theta_i,
        run.theta_f,
        views,
        {**carried, **training_free(callback.header()), **dict(header)},
    )
    results["timing"] = {
        "fit_s": source.get("timing", {}).get("fit_s"),
        "interpolation_s": time.perf_counter() - started,
    }
    write_results(results, out_dir, callback.figure, weights_dir=run_dir)
    return results


def training_free(header: dict) -> dict:
    """A new callback's header without its (empty) training history: the run's own stays."""
    return {k: v for k, v in header.items() if k != "history"}


def interpolation_overrides(task_overrides: Sequence[str]) -> list[str]:
    """The `interpolation.KEY=VALUE` overrides of a command line, as given."""
    return [o for o in task_overrides if o.lstrip("+~").startswith("interpolation.")]


def evaluation_name(overrides: Sequence[str]) -> str:
    """A short folder name that says what changed: `units=blocks_bn=recompute`. A value that
    is long or not a plain word leaves only its key, and a hash of the overrides keeps
    names apart (`paths_alphas-3f9c2a`); `default` for none."""
    words = [o.lstrip("+~").removeprefix("interpolation.") for o in overrides]
    keys = [w.partition("=")[0] for w in words]
    name = "_".join(
        w if PLAIN_VALUE.fullmatch(w.partition("=")[2]) else k for w, k in zip(words, keys)
    )
    if len(name) > MAX_NAME:
        name = "_".join(keys)[:MAX_NAME]
    if name != "_".join(words):
        name += "-" + hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:6]
    return name or "default"


# what a re-evaluation may set besides `interpolation.*`: the run's training is fixed
OWN_KEYS = ("run_dir", "name", "overwrite", "progress", "wandb")
NAME = re.compile(r"[A-Za-z0-9_.=,+-]+")


class ReevaluateError(LinpathError):
    """A re-evaluation request that cannot be done as asked."""


def check_keys(overrides: Sequence[str]) -> None:
    """Only `interpolation.*` and the request's own keys (Hydra's aside) may be set."""
    for override in overrides:
        if override.startswith("-") or "=" not in override:
            continue
        key = override.lstrip("+~").partition("=")[0]
        if not key.startswith(("interpolation.", "hydra.", "hydra/")) and key not in OWN_KEYS:
            raise ReevaluateError(
                f"{override}: a re-evaluation changes interpolation.* only (and "
                f"{', '.join(OWN_KEYS)}); the run's training is fixed, so train a new run "
                "for another one"
            )


def check_request(cfg: DictConfig, task_overrides: Sequence[str]) -> None:
    """Before anything is read or written: a run folder given, only interpolation keys
    changed (each by its rule), and a name that stays inside the run's evaluations/."""
    from lightning_modules.config_checks import check_section

    if OmegaConf.is_missing(cfg, "run_dir"):
        raise RunDirError("run_dir has no value: give a finished run's folder, run_dir=DIR")
    check_keys(task_overrides)
    for override in task_overrides:
        key = override.lstrip("+~").partition("=")[0]
        if key.startswith("interpolation."):
            check_section("interpolation", {key.partition(".")[2]: OmegaConf.select(cfg, key)})
    name = cfg.get("name")
    if name is not None and (not NAME.fullmatch(str(name)) or str(name) in (".", "..")):
        raise ReevaluateError(
            f"name={name}: expected a folder name (letters, digits, _.=,+-) for "
            "run_dir/evaluations/NAME"
        )


def reevaluate(cfg: DictConfig, task_overrides: Sequence[str]) -> Path:
    """The run's config with the command line's interpolation overrides, evaluated into
    run_dir/evaluations/NAME (written beside, then renamed into place: complete or
    absent); returns that folder. An evaluation of that name is kept unless `overwrite`."""
    import os
    import shutil

    from runs.folder import missing_directories, move_aside, remove_if_empty
    from runs.identity import run_config

    check_request(cfg, task_overrides)
    run_dir = Path(cfg.run_dir)
    source = check_complete(run_dir)  # its theta files are verified where they are loaded
    overrides = interpolation_overrides(task_overrides)
    try:
        run_cfg = run_config(run_dir)
    except Exception as error:  # YAML or OmegaConf: a config no one can read
        words = " ".join(str(error).split())
        raise RunDirError(f"{run_dir}/.hydra/config.yaml cannot be read: {words}") from error
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        OmegaConf.update(run_cfg, key, OmegaConf.select(cfg, key), merge=False)
    name = str(cfg.name or evaluation_name(overrides))
    out_dir = run_dir / EVALUATIONS / name
    if out_dir.exists() and not cfg.get("overwrite"):
        raise ReevaluateError(
            f"{out_dir} exists: name=OTHER keeps both, overwrite=true moves the old one aside"
        )
    made = missing_directories(out_dir.parent)
    staging = out_dir.with_name(f".{name}.writing-{os.getpid()}")
    interpolation = OmegaConf.to_container(run_cfg.interpolation, resolve=False)
    try:
        staging.mkdir(parents=True)
        (staging / "evaluation.yaml").write_text(
            OmegaConf.to_yaml({"interpolation": interpolation})
        )
        evaluate_run(
            run_dir,
            run_cfg,
            staging,
            {"evaluation": {"name": name, "of": str(run_dir), "overrides": overrides}},
            experiment=source.get("experiment", ""),
            seed=source.get("seed", run_cfg.seed),
            overrides=source.get("overrides", []),
        )
    except BaseException:  # nothing half-written is left in the run
        shutil.rmtree(staging, ignore_errors=True)
        remove_if_empty(made)
        raise
    if out_dir.exists():
        move_aside(out_dir)
    staging.rename(out_dir)
    return out_dir


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="reevaluate")
def main(cfg: DictConfig) -> None:
    """One run: its one line and exit 2 on bad input. `-m`: a bad run is named, recorded
    (error.txt in its job folder) and the next one evaluated; the sweep exits 2 at the
    end (sweeps.sweep_failures, conf/reevaluate.yaml)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from landscape.state_files import load_results_file
    from runs.evaluation import summary_table, written_line
    from runs.folder import clear_job_failure, record_job_failure
    from runs.store import RESULTS_FILE

    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        clear_job_failure(job_dir)
    try:
        out_dir = reevaluate(cfg, hydra_cfg.overrides.task)
    except LinpathError as error:
        if hydra_cfg.mode != RunMode.MULTIRUN:
            print(f"linpath: error: {error}", file=sys.stderr)
            sys.exit(2)
        print(f"linpath: error: job {hydra_cfg.job.num}: {error}", file=sys.stderr)
        record_job_failure(job_dir, str(error))
        return
    results = load_results_file(out_dir / RESULTS_FILE)
    print(summary_table(results))
    print(written_line(out_dir))
    if cfg.wandb:
        from runs.wandb_log import log_evaluation

        run_id = log_evaluation(results, sorted(out_dir.glob("*.png")), out_dir.name)
        if run_id is not None:
            print(f"linpath: logged to wandb run {run_id} under evaluation/{out_dir.name}/")


def cli(arguments: list[str]) -> None:
    """`python -m runs.reevaluate ARGUMENTS`: a key a re-evaluation does not take is one
    line, before Hydra's own report of a key its config lacks."""
    try:
        check_keys(arguments)
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *arguments]
    main()


if __name__ == "__main__":
    cli(sys.argv[1:])
