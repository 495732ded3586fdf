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
from runs.load import check_complete, rebuild_run
from runs.store import EVALUATIONS

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
# results.json keys that describe one evaluation, not the run: never carried to another one
EVALUATION_ONLY = ("schema", "distance", "timing", "evaluation", REUSED_FROM)
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
    run = rebuild_run(run_dir, cfg, source)
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
    write_results(results, out_dir, callback.figure)
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


def reevaluate(cfg: DictConfig, task_overrides: Sequence[str]) -> Path:
    """The run's config with the command line's interpolation overrides, evaluated into
    run_dir/evaluations/NAME; returns that folder."""
    from runs.identity import run_config

    run_dir = Path(cfg.run_dir)
    source = check_complete(run_dir)
    overrides = interpolation_overrides(task_overrides)
    run_cfg = run_config(run_dir)
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        OmegaConf.update(run_cfg, key, OmegaConf.select(cfg, key), merge=False)
    name = cfg.name or evaluation_name(overrides)
    out_dir = run_dir / EVALUATIONS / name
    evaluate_run(
        run_dir,
        run_cfg,
        out_dir,
        {"evaluation": {"name": name, "of": str(run_dir), "overrides": overrides}},
        experiment=source.get("experiment", ""),
        seed=source.get("seed", run_cfg.seed),
        overrides=source.get("overrides", []),
    )
    interpolation = OmegaConf.to_container(run_cfg.interpolation, resolve=False)
    (out_dir / "evaluation.yaml").write_text(OmegaConf.to_yaml({"interpolation": interpolation}))
    return out_dir


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="reevaluate")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from landscape.state_files import load_results_file
    from runs.evaluation import summary_table, written_line
    from runs.store import RESULTS_FILE

    try:
        out_dir = reevaluate(cfg, HydraConfig.get().overrides.task)
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        sys.exit(2)
    results = load_results_file(out_dir / RESULTS_FILE)
    print(summary_table(results))
    print(written_line(out_dir))
    if cfg.wandb:
        from runs.wandb_log import log_evaluation

        run_id = log_evaluation(results, sorted(out_dir.glob("*.png")), out_dir.name)
        if run_id is not None:
            print(f"linpath: logged to wandb run {run_id} under evaluation/{out_dir.name}/")


if __name__ == "__main__":
    main()
