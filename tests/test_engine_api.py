"""The engine from a notebook: README's example runs as written on a finished run and gives
back the run's own curves; `load_run` rebuilds a run; bad input to `evaluate_paths` is one
LinpathError line."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from benchmarks.reference import reference_curve
from landscape import LinpathError, evaluate_paths
from lightning_modules.classifier import fresh_draw
from runs import load_run
from runs.load import RunDirError
from tests.conftest import REPO, read_results, run_linpath

# README's run: the paths and the 51 alphas its example asks for, so the curves can be compared
RUN = (
    "experiment=spiral_mlp",
    "scale=smoke",
    "trainer.max_epochs=40",  # trained enough that the paths' curves differ from each other
    "interpolation.paths=[full,unit/*,final_to_new_init]",
    "interpolation.alphas=51",
)
HEADINGS = ("The engine from a notebook", "The engine without Lightning")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("notebook") / "demo"
    run_linpath(*RUN, run_dir=run_dir)
    return run_dir


def readme_engine_example() -> str:
    """The first python block under README's engine heading (either name)."""
    text = (REPO / "README.md").read_text()
    for heading in HEADINGS:
        found = re.search(rf"^#+ {heading}\n(.*?)^```python\n(.*?)^```", text, re.M | re.S)
        if found and not re.search(r"^#", found.group(1), re.M):
            return found.group(2)
    raise AssertionError(f"README.md has no python block under a heading {HEADINGS}")


def run_example(source: str, run_dir) -> dict:
    assert '"outputs/demo"' in source
    namespace: dict = {}
    exec(compile(source.replace('"outputs/demo"', repr(str(run_dir))), "README", "exec"), namespace)
    return namespace


def largest_difference(a: list, b: list) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def test_readme_example_gives_the_runs_own_curves_back(finished):
    namespace = run_example(readme_engine_example(), finished)
    curves, results = namespace["curves"], read_results(finished)
    assert list(curves) == ["full", "unit/fc1", "unit/fc2", "unit/fc3", "final_to_new_init"]
    assert list(curves) == list(results["paths"])
    assert results["alphas"] == [i / 50 for i in range(51)]
    for path, entry in results["paths"].items():
        for metric in ("loss", "acc"):
            assert len(curves[path][metric]) == 51
            assert largest_difference(curves[path][metric], entry[metric]) < 1e-6, (path, metric)
    # the comparison can fail: every curve is far (> 1e-4) from every other one, so a path
    # answered with another's curve (theta_new ignored, a unit mixed up) would not pass
    for path in curves:
        for other, entry in results["paths"].items():
            if other != path:
                assert largest_difference(curves[path]["loss"], entry["loss"]) > 1e-4
    # and the engine that wrote results.json is not its own judge: the plain loop (no engine
    # code) from theta_f to a fresh draw of the run's initialiser gives the same curve
    run = namespace["run"]
    theta_new = fresh_draw(run.net_factory, results["seed"] + 1_000_003).state_dict()
    ends = {"full": (run.theta_i, run.theta_f), "final_to_new_init": (run.theta_f, theta_new)}
    for path, (start, end) in ends.items():
        losses, accs = reference_curve(
            run.model, start, end, end.keys(), run.batches("test"), results["alphas"], "bce"
        )
        assert largest_difference(curves[path]["loss"], losses) < 1e-5, path
        assert largest_difference(curves[path]["acc"], accs) < 1e-6, path


def test_the_diagnostics_page_example_splits_the_runs_own_curve(finished):
    """docs/diagnostics.md's notebook block, as written, on the finished run."""
    text = (REPO / "docs" / "diagnostics.md").read_text()
    namespace = run_example(re.search(r"^```python\n(.*?)^```", text, re.M | re.S)[1], finished)
    split = namespace["found"]["full"]["attribution"]
    full = read_results(finished)["paths"]["full"]["loss"]
    assert split["change"] == pytest.approx(full[-1] - full[0], abs=1e-6)
    assert sum(split["total"].values()) == pytest.approx(split["change"], abs=1e-3)
    assert namespace["found"]["full"]["curvature"]["hessian"][0]["top_eigenvalue"] > 0


def test_load_run_gives_the_runs_model_states_and_data(finished):
    run = load_run(finished)
    results = read_results(finished)
    assert run.results == results and run.config.interpolation.alphas == 51
    assert not run.model.training
    saved_theta_i = torch.load(finished / "theta_i.pt")
    for key, value in run.model.state_dict().items():
        assert torch.equal(value.cpu(), run.theta_f[key])
        assert torch.equal(run.theta_i[key], saved_theta_i[key])
    assert not torch.equal(run.theta_new["fc1.weight"], run.theta_i["fc1.weight"])
    cap = run.config.interpolation.max_eval_examples
    test_size = len(run.datamodule.split("test")[1])
    assert sum(len(y) for _, y in run.batches("test")) == min(test_size, cap or test_size)
    accuracy_at_theta_f = results["paths"]["full"]["acc"][-1]
    with torch.no_grad():
        correct = sum(((run.model(x) > 0).float() == y).sum() for x, y in run.batches("test"))
    assert float(correct) / sum(len(y) for _, y in run.batches("test")) == accuracy_at_theta_f


def test_load_run_refuses_what_is_not_a_finished_run(finished, tmp_path):
    with pytest.raises(RunDirError, match="is not a directory"):
        load_run(tmp_path / "nowhere")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "results.json").write_text((finished / "results.json").read_text())
    with pytest.raises(RunDirError, match=r"lacks \['theta_i.pt', 'theta_f.pt', '.hydra/conf"):
        load_run(partial)
    with pytest.raises(RunDirError, match=r"unknown split 'tset'.*'test'"):
        load_run(finished).batches("tset")


# ---- bad input to evaluate_paths: each one LinpathError line ---------------------------


class ThreeDimensionalOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 6)

    def forward(self, x):
        return self.fc(x).reshape(-1, 2, 3)


@pytest.fixture
def good(mlp_setup):
    model, theta_a, theta_b, data = mlp_setup
    return dict(model=model, theta_a=theta_a, theta_b=theta_b, data=data)


def without(state: dict, *keys: str) -> dict:
    return {k: v for k, v in state.items() if k not in keys}


BAD = {
    "alphas a string": (dict(alphas="11"), r"alphas='11': expected an integer >= 2"),
    "alphas one step": (dict(alphas=1), r"alphas=1: expected an integer >= 2"),
    "alphas empty": (dict(alphas=[]), r"alphas=\[\]: expected"),
    "alphas not finite": (dict(alphas=[0.0, math.nan]), r"alphas=\[0.0, nan\]: expected"),
    "alphas a bool": (dict(alphas=True), r"alphas=True: expected"),
    "theta not a mapping": (dict(theta_a=[1, 2]), r"theta_a is a list; expected a state dict"),
    "theta short of entries": (
        dict(theta_b="drop fc3"),
        r"theta_b is not a state of this MLP: missing \['fc3.weight', 'fc3.bias'\]",
    ),
    "theta entries not tensors": (dict(theta_a="lists"), r"theta_a: entries \['fc1.weight'"),
    "theta_new missing": (dict(paths=["init_to_new_init"]), r"'init_to_new_init'.*theta_new="),
    "theta_new short of entries": (
        dict(paths=["final_to_new_init"], theta_new="drop fc1"),
        r"theta_new is not a state of this MLP: missing \['fc1.weight', 'fc1.bias'\]",
    ),
    "data a tensor": (dict(data="inputs only"), r"data is a Tensor; expected an \(inputs, targ"),
    "data of one tensor each": (dict(data="singletons"), r"data: batch 0 is a tuple; expected"),
    "data of unequal length": (dict(data="unequal"), r"batch 0 has 50 inputs and 49 targets"),
    "data empty": (dict(data=[]), r"data holds no batches"),
    "loss unknown": (dict(loss="mse"), r"unknown loss 'mse'; expected one of"),
    "loss not inferable": (dict(model=ThreeDimensionalOutput()), r"pass loss='cross_entropy'"),
    "path unknown": (dict(paths=["sideways"]), r"unknown path 'sideways'; expected one of"),
    "paths a string": (dict(paths="full"), r"paths='full': expected a list of path keys"),
    "unit unknown": (dict(paths=["unit/fc9"]), r"unknown unit 'fc9'; units of this model"),
    "model not a module": (dict(model="mlp.pt"), r"model is a str; expected a torch.nn.Module"),
}


def bad_arguments(good: dict, change: dict) -> dict:
    arguments = {**good, "alphas": 3, **change}
    theta_a, data = good["theta_a"], good["data"]
    inputs, targets = data
    spelled = {
        "drop fc3": without(good["theta_b"], "fc3.weight", "fc3.bias"),
        "drop fc1": without(theta_a, "fc1.weight", "fc1.bias"),
        "lists": {k: v.tolist() for k, v in theta_a.items()},
        "inputs only": inputs,
        "singletons": [(inputs,)],
        "unequal": [(inputs, targets[:-1])],
    }
    arguments = {k: spelled.get(v, v) if isinstance(v, str) else v for k, v in arguments.items()}
    if isinstance(arguments["model"], ThreeDimensionalOutput):
        arguments["theta_a"] = arguments["theta_b"] = arguments["model"].state_dict()
    return arguments


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_linpath_error_line(good, case):
    change, message = BAD[case]
    with pytest.raises(LinpathError, match=message) as raised:
        evaluate_paths(**bad_arguments(good, change))
    assert "\n" not in str(raised.value)
    assert not isinstance(raised.value, (TypeError, KeyError))


def test_each_bad_input_is_refused_where_good_input_passes(good):
    """The cases above fail for their own reason: with the good value they run."""
    curves = evaluate_paths(**bad_arguments(good, {}))
    assert len(curves["full"]["loss"]) == 3 and all(map(math.isfinite, curves["full"]["loss"]))
