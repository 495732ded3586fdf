"""`python -m runs.reevaluate run_dir=DIR [interpolation.KEY=VALUE ...] [name=NAME]`

Looks at a finished run again without training: its theta_i.pt and theta_f.pt are evaluated
with its own config (`.hydra/config.yaml`) and the given `interpolation.*` overrides (paths,
units, alphas, split, example cap, BN policy, views, thresholds). The new evaluation is
written to DIR/evaluations/NAME/ (results.json, interpolation.png, evaluation.yaml); the
run's own results.json is never touched. `-m run_dir=A,B,C` does many runs.
"""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from landscape.errors import LinpathError
from runs.identity import REUSED_FROM
from runs.manifest import verify_files
from runs.store import EVALUATIONS

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
RUN_FILES = ("results.json", "theta_i.pt", "theta_f.pt", ".hydra/config.yaml")
# results.json keys that describe one evaluation, not the run: never carried to another one
EVALUATION_ONLY = ("schema", "distance", "timing", "evaluation", "manifest", REUSED_FROM)


class RunDirError(LinpathError):
    """A run directory that is missing, incomplete, or whose files do not fit its config."""


def check_complete(run_dir: Path, option: str = "run_dir") -> dict:
    """The run's results.json, once every file a re-evaluation reads is there."""
    if not run_dir.is_dir():
        raise RunDirError(f"{option}={run_dir} is not a directory; expected a finished run's")
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if missing:
        raise RunDirError(
            f"{option}={run_dir} lacks {missing}: not a complete run (needs {list(RUN_FILES)})"
        )
    from landscape.state_files import load_results_file

    return load_results_file(run_dir / "results.json")


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

    from landscape.state_files import load_state_for
    from lightning_modules.build import data_and_net_factory, device_of
    from lightning_modules.classifier import fresh_draw
    from runs.evaluation import write_results

    source = check_complete(run_dir)
    verify_files(run_dir, source)
    datamodule, net_factory = data_and_net_factory(cfg)
    net = net_factory()
    theta_i = load_state_for(run_dir / "theta_i.pt", net)
    theta_f = load_state_for(run_dir / "theta_f.pt", net)
    callback = instantiate(
        cfg.interpolation,
        output_dir=str(out_dir),
        init=source.get("init"),
        identity={k: source[k] for k in ("training_id", "setting_id") if k in source},
        _convert_="all",
        **callback_options,
    )
    net.load_state_dict(theta_f)
    net.to(device_of(cfg))
    started = time.perf_counter()
    evaluation = callback.evaluation
    fresh_net = functools.partial(fresh_draw, net_factory)
    views = evaluation.all_curves(net, fresh_net, datamodule.loss, datamodule, theta_i, theta_f)
    carried = {k: v for k, v in source.items() if k not in EVALUATION_ONLY}
    results = evaluation.results(
        net,
        datamodule.loss,
        datamodule,
        theta_i,
        theta_f,
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
    """A folder name that says what changed: `units=blocks_bn=recompute`; `default` for none."""
    parts = [o.lstrip("+~").removeprefix("interpolation.") for o in overrides]
    name = "_".join(re.sub(r"[^A-Za-z0-9_.=-]+", "-", p).strip("-") for p in parts)
    return name[:120] or "default"


def reevaluate(cfg: DictConfig, task_overrides: Sequence[str]) -> Path:
    """The run's config with the command line's interpolation overrides, evaluated into
    run_dir/evaluations/NAME; returns that folder."""
    from runs.identity import run_config

    run_dir = Path(cfg.run_dir)
    source = check_complete(run_dir)
    verify_files(run_dir, source)
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

    try:
        out_dir = reevaluate(cfg, HydraConfig.get().overrides.task)
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        sys.exit(2)
    print(out_dir)


if __name__ == "__main__":
    main()
