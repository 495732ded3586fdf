"""Train once, look many ways: re-evaluating a finished run, and reusing it instead of training."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from benchmarks.reference import reference_curve
from landscape.state_files import StateFileError
from lightning_modules.build import data_and_net_factory
from run import compose_config
from runs.identity import run_config, training_config
from runs.load import RunDirError
from runs.reevaluate import evaluation_name, reevaluate
from runs.reuse import find_reusable, reuse_run
from runs.store import load_runs
from tests.conftest import (
    REPO,
    changed_value,
    compose_reevaluate,
    read_results,
    run_in_process,
    run_linpath,
)

RUN = ("experiment=spiral_mlp", "scale=smoke", "seed=3")
# another look: new paths, points beyond both ends, the training split
LOOK = (
    "interpolation.paths=[full,unit/*,final_to_new_init]",
    "interpolation.alphas=[-0.25,0,0.25,0.5,0.75,1,1.25]",
    "interpolation.eval_split=train",
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished smoke run."""
    root = tmp_path_factory.mktemp("runs")
    run_linpath(*RUN, run_dir=root / "first")
    return root


@pytest.fixture(scope="module")
def fresh(finished):
    """The same run trained again and evaluated the other way at fit end."""
    run_linpath(*RUN, *LOOK, run_dir=finished / "fresh")
    return finished / "fresh"


def reevaluate_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runs.reevaluate", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_same_curves(got: dict, expected: dict, tolerance: float = 1e-6) -> None:
    assert got["alphas"] == expected["alphas"]
    assert set(got["paths"]) == set(expected["paths"])
    for path, entry in expected["paths"].items():
        for metric in ("loss", "acc"):
            assert got["paths"][path][metric] == pytest.approx(entry[metric], abs=tolerance), path


def test_a_reevaluation_is_the_plain_computation_on_the_run_files(finished):
    """Against the engine-free reference: load each interpolated state, run the train split."""
    first = finished / "first"
    overrides = (f"run_dir={first}", *LOOK, "name=look")
    look = reevaluate(compose_reevaluate(*overrides), overrides)
    assert look == first / "evaluations" / "look"
    results = read_results(look)
    datamodule, net_factory = data_and_net_factory(run_config(first))
    theta_i, theta_f = (torch.load(first / f"theta_{w}.pt") for w in "if")
    inputs, targets = datamodule.split("train")
    limit = run_config(first).interpolation.max_eval_examples
    loss, acc = reference_curve(
        net_factory(), theta_i, theta_f, theta_f.keys(),
        (inputs[:limit], targets[:limit].float()), results["alphas"], loss="bce",
    )  # fmt: skip
    assert results["paths"]["full"]["loss"] == pytest.approx(loss, abs=1e-6)
    assert results["paths"]["full"]["acc"] == pytest.approx(acc, abs=1e-6)
    assert results["paths"]["full"]["split"] == "train"
    assert results["evaluation"]["overrides"] == list(LOOK)
    assert results["training_id"] == read_results(finished / "first")["training_id"]
    assert (look / "interpolation.png").is_file() and (look / "evaluation.yaml").is_file()
    # the run's own results are untouched, and reports see one run or the other, never both
    assert read_results(finished / "first")["alphas"][0] == 0.0
    assert len(load_runs([finished / "first"])) == 1
    [looked] = load_runs([finished / "first"], evaluation="look")
    assert looked.directory == finished / "first" and looked.results["alphas"][0] == -0.25


def test_a_reevaluation_adds_diagnostics_beside_each_path_of_the_main_view(finished):
    first = finished / "first"
    overrides = (
        f"run_dir={first}",
        "interpolation.paths=[full,unit/fc2,final_to_new_init]",
        "interpolation.diagnostics=[attribution,agreement]",
        "interpolation.views=[train/interpolate]",
        "name=diagnosed",
    )
    results = read_results(reevaluate(compose_reevaluate(*overrides), overrides))
    for path, entry in results["paths"].items():
        found = entry["diagnostics"]
        assert set(found) == {"partition", "attribution", "agreement"}, path
        # the diagnostics' own loss change against the path's curve, computed apart
        assert found["attribution"]["change"] == pytest.approx(
            entry["loss"][-1] - entry["loss"][0], abs=1e-6
        )
        assert found["agreement"]["with_start"][0] == found["agreement"]["with_end"][-1] == 1.0
    assert results["paths"]["unit/fc2"]["diagnostics"]["attribution"]["parts"] == ["fc2"]
    assert "diagnostics" not in results["views"]["train/interpolate"]["full"]
    assert (first / "evaluations" / "diagnosed" / "interpolation.png").is_file()


@pytest.mark.slow
def test_a_reevaluation_equals_a_fresh_training_evaluated_that_way(finished, fresh):
    done = reevaluate_cli(f"run_dir={finished / 'first'}", *LOOK, "name=cli")
    assert done.returncode == 0, done.stderr
    assert_same_curves(
        read_results(finished / "first" / "evaluations" / "cli"), read_results(fresh)
    )


def test_the_command_line_prints_the_summary_and_the_short_folder(finished):
    done = reevaluate_cli(f"run_dir={finished / 'first'}", *LOOK[1:])
    assert done.returncode == 0, done.stderr
    name = evaluation_name(LOOK[1:])
    lines = done.stdout.splitlines()
    results = read_results(finished / "first" / "evaluations" / name)
    table = lines[-len(results["paths"]) - 3 :]
    assert table[0].split()[:3] == ["path", "shape", "strict"]
    assert [line.split()[:2] for line in table[1:-2]] == [
        [path, entry["shape"]] for path, entry in results["paths"].items()
    ]
    assert table[-2].startswith("test acc")
    assert table[-1].startswith(f"linpath: written to {finished / 'first' / 'evaluations' / name}/")


def test_incomplete_or_foreign_runs_are_refused_in_one_line(finished, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(finished / "first", partial, ignore=shutil.ignore_patterns("evaluations"))
    (partial / "theta_f.pt").unlink()
    done = reevaluate_cli(f"run_dir={partial}")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"linpath: error: run_dir={partial} lacks ['theta_f.pt']: not a complete run "
        "(needs ['results.json', 'theta_i.pt', 'theta_f.pt', '.hydra/config.yaml'])"
    ]
    foreign = tmp_path / "foreign"
    shutil.copytree(finished / "first", foreign, ignore=shutil.ignore_patterns("evaluations"))
    config = OmegaConf.load(foreign / ".hydra" / "config.yaml")
    config.model.hidden = [8, 8]
    OmegaConf.save(config, foreign / ".hydra" / "config.yaml")
    with pytest.raises(StateFileError, match="theta_i.pt is not a state of this MLP: fc1.weight"):
        reevaluate(compose_reevaluate(f"run_dir={foreign}"), [])
    assert not (foreign / "evaluations").exists()
    with pytest.raises(RunDirError, match="is not a directory"):
        reevaluate(compose_reevaluate(f"run_dir={tmp_path / 'absent'}"), [])


def test_evaluation_names_say_what_changed():
    assert evaluation_name([]) == "default"
    assert evaluation_name(["interpolation.units=blocks", "interpolation.bn=recompute"]) == (
        "units=blocks_bn=recompute"
    )
    # lists and globs: the keys and a hash, short enough to type, different values apart
    name = evaluation_name(LOOK)
    assert name.startswith("paths_alphas_eval_split=train-") and len(name) < 40
    other = evaluation_name([*LOOK[:1], "interpolation.alphas=[0,1]", *LOOK[2:]])
    assert other != name and other.split("-")[0] == name.split("-")[0]


def test_reuse_finds_the_run_whatever_is_evaluated_or_logged(finished):
    first = (finished / "first").resolve()
    for extra in ((), ("interpolation.units=blocks",), ("logger=none",), ("reuse=true",)):
        cfg = compose_config(*RUN, *extra)
        assert find_reusable(cfg, roots=[finished]) == first, extra


def _leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_reuse_refuses_a_run_that_differs_in_any_training_key(finished):
    """Every leaf of the training config, changed one at a time, is another training."""
    cfg = compose_config(*RUN)
    leaves = list(_leaves(training_config(cfg)))
    assert len(leaves) > 20 and any(k == "optimizer.lr" for k, _ in leaves)
    for key, value in leaves:
        changed = cfg.copy()
        OmegaConf.update(changed, key, changed_value(value), force_add=True)
        assert training_config(changed) != training_config(cfg), key
        assert find_reusable(changed, roots=[finished]) is None, key


def test_a_reused_run_is_evaluated_not_trained(finished, tmp_path):
    source = (finished / "first").resolve()
    # the evaluation the run already has: taken over as it is
    same = reuse_run(compose_config(*RUN, output_dir=tmp_path), source, tmp_path / "same")
    assert_same_curves(same, read_results(source))
    assert same["reused_from"] == str(source)
    assert read_results(tmp_path / "same")["reused_from"] == str(source)
    assert (tmp_path / "same" / "theta_f.pt").stat().st_ino == (source / "theta_f.pt").stat().st_ino
    # another evaluation: computed on the reused run's files
    cfg = compose_config(*RUN, *LOOK, output_dir=tmp_path)
    other = reuse_run(cfg, source, tmp_path / "other")
    assert other["alphas"][0] == -0.25 and other["paths"]["full"]["split"] == "train"
    assert set(other["paths"]) == {"full", "unit/fc1", "unit/fc2", "unit/fc3", "final_to_new_init"}
    assert other["timing"]["fit_s"] == read_results(source)["timing"]["fit_s"]
    # a reused folder given as an earlier stage names the run that trained
    staged = training_config(compose_config(*RUN, f"+init.from_run={tmp_path / 'other'}"))
    assert staged["init"]["from_run"] == str(source)
    assert training_config(run_config(source)) == training_config(cfg)


def reevaluate_in_process(arguments: list[str], capsys) -> tuple[int, str]:
    """`python -m runs.reevaluate ARGUMENTS` in this process: (exit code, output)."""
    from runs import reevaluate as module

    return run_in_process(arguments, capsys, entry=module.cli)


@pytest.fixture
def copy_of_run(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished / "first", run, ignore=shutil.ignore_patterns("evaluations"))
    return run


@pytest.mark.parametrize(
    "arguments, named",
    [
        ([], "run_dir has no value: give a finished run's folder, run_dir=DIR"),
        (["run_dir={run}", "model.hidden=[8]"], "model.hidden=[8]: a re-evaluation changes"),
        (["run_dir={run}", "+data.noise=0.5"], "+data.noise=0.5: a re-evaluation changes"),
        (["run_dir={run}", "interpolation.alphas=1"], "interpolation.alphas=1: expected"),
        (["run_dir={run}", "interpolation.bn=both"], "interpolation.bn='both': expected"),
        (["run_dir={run}", "name=/tmp/abs"], "name=/tmp/abs: expected a folder name"),
        (["run_dir={run}", "name=.."], "name=..: expected a folder name"),
        (["run_dir={run}", "name=../sibling"], "name=../sibling: expected a folder name"),
        (["run_dir={run}/results.json"], "is not a directory"),
        (["run_dir={garbage}"], ".hydra/config.yaml cannot be read"),
    ],
)
def test_a_bad_reevaluation_is_one_line_and_writes_nothing(
    arguments, named, copy_of_run, tmp_path, capsys, monkeypatch
):
    """Nothing written: not in the run, nor a Hydra folder where the command ran."""
    monkeypatch.chdir(tmp_path)
    garbage = tmp_path / "garbage"
    shutil.copytree(copy_of_run, garbage)
    (garbage / ".hydra" / "config.yaml").write_text("model: [unclosed\n  - {")
    before = sorted(tmp_path.rglob("*"))
    arguments = [a.format(run=copy_of_run, garbage=garbage) for a in arguments]
    code, output = reevaluate_in_process(arguments, capsys)
    assert code == 2 and "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("linpath: error:")]
    assert len(lines) == 1 and named in lines[0], output
    assert sorted(tmp_path.rglob("*")) == before


def test_the_same_name_twice_is_refused_unless_overwrite(copy_of_run, capsys):
    arguments = [f"run_dir={copy_of_run}", "interpolation.alphas=5", "name=look"]
    assert reevaluate_in_process(arguments, capsys)[0] == 0
    first = read_results(copy_of_run / "evaluations" / "look")
    code, output = reevaluate_in_process(
        [*arguments[:1], "interpolation.alphas=3", "name=look"], capsys
    )
    assert code == 2 and "evaluations/look exists: name=OTHER keeps both" in output, output
    assert read_results(copy_of_run / "evaluations" / "look") == first
    again = [*arguments[:1], "interpolation.alphas=3", "name=look", "overwrite=true"]
    assert reevaluate_in_process(again, capsys)[0] == 0
    assert len(read_results(copy_of_run / "evaluations" / "look")["alphas"]) == 3
    (aside,) = (copy_of_run / "evaluations").glob("look.replaced-*")
    assert read_results(aside) == first
    assert read_results(copy_of_run)["alphas"] != first["alphas"]  # the run's own untouched


def test_a_multirun_carries_on_past_a_bad_run(copy_of_run, tmp_path, capsys):
    bad = tmp_path / "missing"
    code, output = reevaluate_in_process(
        ["-m", f"run_dir={bad},{copy_of_run}", "interpolation.alphas=5", "name=five",
         f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        capsys,
    )  # fmt: skip
    assert code == 2, output
    assert f"linpath: error: job 0: run_dir={bad} is not a directory" in output
    assert "1 job(s) of the sweep failed: ['0']" in output
    assert len(read_results(copy_of_run / "evaluations" / "five")["alphas"]) == 5
