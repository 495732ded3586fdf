"""Every `interpolation.*` option reaches the numbers in results.json.

One smoke fit of a BN network (blockwise: ResNet-18 at 1/16 width) with bn=recompute and an
extra view, then re-evaluations of it with the other options changed; every curve is
compared with the plain loop (`benchmarks.reference`) on the run's own files, so an option
that is written to results.json but never used fails here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from benchmarks.reference import reference_curve
from landscape import moving_keys
from landscape.evaluate import PathEvaluator
from lightning_modules.build import data_and_net_factory
from lightning_modules.classifier import fresh_draw
from runs.evaluation import NEW_INIT_SEED_OFFSET
from runs.identity import run_config
from runs.reevaluate import reevaluate
from tests.conftest import compose_reevaluate, read_results, run_linpath

SEED = 2  # not 0: an option that fell back to a default seed would still draw theta_i' right
RUN = [
    "experiment=blockwise",
    "scale=smoke",
    f"seed={SEED}",
    "data.check_integrity=false",
    "interpolation.bn=recompute",
    "interpolation.bn_batches=2",
    "interpolation.views=[test/interpolate]",
    "interpolation.figure=false",
]
BLOCKWISE_PATHS = ["full", "unit/conv1", *(f"unit/layer{i}" for i in range(1, 5)), "unit/fc"]


@pytest.fixture(scope="module")
def bn_run(cifar_root, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("bn_run")
    run_linpath(*RUN, f"data.root={cifar_root}", run_dir=run_dir)
    return run_dir


@dataclass
class RunFiles:
    """What the plain loop needs to recompute a run's curves: its data, net and end states."""

    datamodule: object
    net: nn.Module
    net_factory: object
    theta_i: dict
    theta_f: dict

    def bn_batches(self, count: int) -> list:
        """The first `count` training batches: the ones bn=recompute averages over."""
        batches = self.datamodule.loader("train", sharded=False)
        return [batch for _, batch in zip(range(count), batches)]

    def curve(self, path, alphas, split="test", limit=None, bn_count=None, units=None, ends=None):
        inputs, targets = self.datamodule.split(split)
        theta_a, theta_b = ends or (self.theta_i, self.theta_f)
        keys = moving_keys(self.net, theta_b, path, units)
        bn = self.bn_batches(bn_count) if bn_count else None
        data = (inputs[:limit], targets[:limit])
        return reference_curve(self.net, theta_a, theta_b, keys, data, alphas, bn_batches=bn)


@pytest.fixture(scope="module")
def files(bn_run) -> RunFiles:
    datamodule, net_factory = data_and_net_factory(run_config(bn_run))
    theta_i, theta_f = (torch.load(bn_run / f"theta_{end}.pt") for end in "if")
    return RunFiles(datamodule, net_factory(), net_factory, theta_i, theta_f)


def assert_curve(entry: dict, expected: tuple[list, list]) -> None:
    assert entry["loss"] == pytest.approx(expected[0], abs=1e-5)
    assert entry["acc"] == pytest.approx(expected[1], abs=1e-6)


def look_again(run_dir, name: str, *overrides: str) -> dict:
    """`python -m runs.reevaluate run_dir=RUN OVERRIDES name=NAME`, in this process."""
    arguments = (f"run_dir={run_dir}", *overrides, f"name={name}")
    return read_results(reevaluate(compose_reevaluate(*arguments), arguments))


def test_a_fit_with_bn_recompute_and_a_view_writes_both(bn_run, files):
    results = read_results(bn_run)
    alphas = results["alphas"]
    assert alphas == pytest.approx([i / 10 for i in range(11)], abs=1e-12)
    assert results["seed"] == SEED
    assert list(results["paths"]) == [*BLOCKWISE_PATHS, "final_to_new_init"]
    [(view, interpolated)] = results["views"].items()
    assert view == "test/interpolate" and list(interpolated) == list(results["paths"])
    assert {e["bn"] for e in results["paths"].values()} == {"recompute"}
    assert {e["bn"] for e in interpolated.values()} == {"interpolate"}
    for path in ("full", "unit/layer2"):
        assert_curve(results["paths"][path], files.curve(path, alphas, bn_count=2))
        assert_curve(interpolated[path], files.curve(path, alphas))
    # the stored statistics give theta_f's own test loss; re-estimated ones another
    test_loss = results["final"]["test_loss"]
    assert interpolated["full"]["loss"][-1] == pytest.approx(test_loss, rel=1e-5)
    assert abs(results["paths"]["full"]["loss"][-1] - test_loss) > 1e-4
    # theta_i' is the run seed's draw (interpolation.seed = ${seed})
    theta_new = fresh_draw(files.net_factory, SEED + NEW_INIT_SEED_OFFSET).state_dict()
    back = files.curve("full", alphas, bn_count=2, ends=(files.theta_f, theta_new))
    assert_curve(results["paths"]["final_to_new_init"], back)
    assert not (bn_run / "interpolation.png").exists()  # figure=false


def test_a_reevaluation_takes_alphas_split_cap_paths_bn_views_figure_extras_and_cache(
    bn_run, files, monkeypatch
):
    chunks = []
    endpoint_pass = PathEvaluator.endpoint_pass

    def counting(self, chunk, boundaries):
        chunks.append(len(chunk))
        return endpoint_pass(self, chunk, boundaries)

    monkeypatch.setattr(PathEvaluator, "endpoint_pass", counting)
    results = look_again(
        bn_run, "look",
        "interpolation.alphas=[0,0.4,1]", "interpolation.eval_split=train",
        "interpolation.max_eval_examples=50", "interpolation.paths=[full,group/layer3/bn_stats]",
        "interpolation.bn=interpolate", "interpolation.views=[]", "interpolation.figure=true",
        "interpolation.extras=[last_layer_bias_spread]", "interpolation.cache_mb=0.001",
    )  # fmt: skip
    assert results["alphas"] == [0, 0.4, 1]
    assert list(results["paths"]) == ["full", "group/layer3/bn_stats"] and results["views"] == {}
    for path, entry in results["paths"].items():
        assert (entry["split"], entry["bn"]) == ("train", "interpolate")
        assert_curve(entry, files.curve(path, [0, 0.4, 1], split="train", limit=50))
    # 0.001 MB holds less than one example's layer3 input: one example per chunk there
    assert len(chunks) > 2 and max(chunks) == 1
    assert (bn_run / "evaluations" / "look" / "interpolation.png").is_file()
    spread = results["extras"]["last_layer_bias_spread"]
    bias = files.theta_f["fc.bias"].double()
    assert spread["theta_f"]["std"] == pytest.approx(float(bias.std(unbiased=False)))


def test_a_reevaluation_takes_units_and_bn_batches(bn_run, files):
    results = look_again(
        bn_run, "blocks",
        "interpolation.units=blocks", "interpolation.paths=[unit/*]", "interpolation.alphas=3",
        "interpolation.bn_batches=1", "interpolation.views=[]",
    )  # fmt: skip
    blocks = [f"layer{i}.{j}" for i in range(1, 5) for j in (0, 1)]
    assert list(results["units"]) == ["conv1", *blocks, "fc"]
    assert list(results["paths"]) == [f"unit/{u}" for u in results["units"]]
    for path in ("unit/layer2.1", "unit/fc"):
        one_batch = files.curve(path, [0, 0.5, 1], bn_count=1, units=results["units"])
        assert_curve(results["paths"][path], one_batch)
        two_batches = files.curve(path, [0, 0.5, 1], bn_count=2, units=results["units"])
        assert max(abs(a - b) for a, b in zip(one_batch[0], two_batches[0])) > 1e-4


def any_rise_reading(curve: list[float]) -> str:
    """The shape with no tolerance, by brute force: B when some point rises above an earlier
    one and falls below it later, ER when points rise but none comes down, else NB."""
    n = range(len(curve))
    if any(curve[i] < curve[j] > curve[k] for i in n for j in n for k in n if i < j < k):
        return "B"
    return "ER" if any(curve[i] < curve[j] for i in n for j in n if i < j) else "NB"


NO_TOLERANCE = {"barrier_rise": 0, "barrier_atol": 0, "plateau_band": 0, "plateau_min_fraction": 1}


@pytest.mark.parametrize(
    "thresholds, end_rise_as_barrier, expected_shape",
    [
        # nothing is a barrier and everything is within the band: every shape is P
        ({"barrier_rise": 1e9, "barrier_atol": 1e9, "plateau_band": 1e9}, False, lambda c: "P"),
        # no tolerance and a plateau must hold every point: any rise counts
        (NO_TOLERANCE, False, any_rise_reading),
        # ... and an end rise is a barrier too (the paper's letter)
        (NO_TOLERANCE, True, lambda c: "NB" if any_rise_reading(c) == "NB" else "B"),
    ],
    ids=["lenient", "no_tolerance", "no_tolerance_end_rise_as_barrier"],
)
def test_a_reevaluation_takes_the_thresholds_and_the_end_rise_reading(
    bn_run, thresholds, end_rise_as_barrier, expected_shape
):
    overrides = [f"interpolation.thresholds.{k}={v}" for k, v in thresholds.items()]
    overrides += ["interpolation.paths=[full,unit/layer4]", "interpolation.alphas=5"]
    overrides += [f"interpolation.end_rise_as_barrier={end_rise_as_barrier}"]
    name = "-".join(thresholds) + f"-{end_rise_as_barrier}"
    results = look_again(bn_run, name, *overrides, "interpolation.views=[]")
    assert {k: results["thresholds"][k] for k in thresholds} == thresholds
    assert results["end_rise_as_barrier"] is end_rise_as_barrier
    for entry in results["paths"].values():
        assert entry["shape"] == expected_shape(entry["loss"])
        assert entry["error_shape"] == expected_shape([1 - a for a in entry["acc"]])
