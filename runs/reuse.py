"""Never train twice: a run whose training identity matches a finished run evaluates that one.

With `reuse=true` (the make targets set it), run.py looks under outputs/, multirun/ and
stages/ for a complete run whose training config (`runs.identity.training_config`) equals
its own. If one exists, the new run folder gets its theta files (hard links) and a fresh
evaluation under the new run's `interpolation` config, with `reused_from` naming the run
that trained; nothing is trained.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from runs.identity import REUSED_FROM, run_config, trained_by, training_config
from runs.load import RUN_FILES
from runs.reevaluate import evaluate_run
from runs.store import find_results

ROOTS = ("outputs", "multirun", "stages")


def find_reusable(
    cfg: DictConfig, roots: Sequence[str | Path] = ROOTS, exclude: Path | None = None
) -> Path | None:
    """A complete run under `roots` whose training config equals `cfg`'s, or None.

    Runs made by a config that no longer composes (an older suite) are skipped.
    """
    wanted = training_config(cfg)
    excluded = exclude.resolve() if exclude is not None else None
    for results_path in find_results([Path(r) for r in roots if Path(r).is_dir()]):
        run_dir = results_path.parent
        if run_dir.resolve() == excluded or any(not (run_dir / f).is_file() for f in RUN_FILES):
            continue
        try:
            results = json.loads(results_path.read_text())
            if results.get("seed") != cfg.get("seed"):
                continue  # the seed is part of the identity: a cheap first filter
            if training_config(run_config(run_dir)) == wanted:
                return trained_by(run_dir.resolve())
        except (json.JSONDecodeError, OmegaConfBaseException, OSError):
            continue
    return None


def link_or_copy(source: Path, target: Path) -> None:
    """`target` becomes the same file as `source` (a hard link; a copy across devices)."""
    temporary = target.with_name(f".{target.name}.link")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def reuse_run(cfg: DictConfig, source: Path, out_dir: Path) -> dict:
    """Evaluate the trained `source` run into `out_dir` as if `cfg` had just trained it.

    When `cfg` asks for the evaluation `source` already made (the same interpolation config),
    its results are taken over instead: the evaluation is deterministic, so it would give
    the same numbers again.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("theta_i.pt", "theta_f.pt"):
        link_or_copy(source / name, out_dir / name)
    if evaluation_config(cfg) != evaluation_config(run_config(source)):
        return evaluate_run(source, cfg, out_dir, {REUSED_FROM: str(source)})
    from runs.evaluation import write_results

    results = json.loads((source / "results.json").read_text())
    callback = cfg.interpolation
    results.update(
        experiment=cfg.get("experiment_name", results.get("experiment")),
        seed=cfg.seed,
        overrides=list(callback.overrides),
        **{REUSED_FROM: str(source)},
    )
    write_results(results, out_dir, callback.get("figure", True))
    return results


def evaluation_config(cfg: DictConfig) -> dict:
    """What decides a run's evaluation: its interpolation config, minus where it is written,
    what it is called and how it shows progress."""
    config = OmegaConf.to_container(cfg.interpolation, resolve=False)
    for key in ("output_dir", "experiment", "overrides", "figure", "progress"):
        config.pop(key, None)
    return config
