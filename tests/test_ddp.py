"""DDP: path evaluation sharded over ranks equals one process; trainer=ddp writes one run."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
import torch.multiprocessing as mp

from benchmarks.reference import reference_curve, trained_copy
from landscape import diagnose_paths, evaluate_paths, moving_keys
from landscape.sharded import evaluate_paths_sharded, evaluate_share, merge_shares, shard_points
from lightning_modules.build import data_and_net_factory
from lightning_modules.classifier import fresh_draw
from runs.evaluation import NEW_INIT_SEED_OFFSET
from runs.identity import run_config
from tests.conftest import SmallBNNet, read_results, run_linpath

ALPHAS = [i / 10 for i in range(11)]
PATHS = ["full", "unit/conv1", "group/bn2/bn_stats", "weights"]


@pytest.mark.parametrize("world", [1, 2, 3, 7, 50])
def test_every_point_has_exactly_one_rank(world):
    shards = [shard_points(PATHS, len(ALPHAS), rank, world) for rank in range(world)]
    points = [p for shard in shards for p in shard]
    assert sorted(points) == sorted((p, j) for p in PATHS for j in range(len(ALPHAS)))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced


def test_simulated_ranks_give_one_process_curves_exactly(bn_setup):
    model, theta_a, theta_b, data = bn_setup
    inputs, targets = data
    for bn_data in (None, [(inputs[:20], targets[:20]), (inputs[20:], targets[20:])]):
        options = dict(loss="cross_entropy", bn_data=bn_data)
        expected = evaluate_paths(model, theta_a, theta_b, data, ALPHAS, PATHS, **options)
        shares = [
            evaluate_share(model, theta_a, theta_b, data, ALPHAS, PATHS, rank, 3, **options)
            for rank in range(3)
        ]
        assert sum(map(len, shares)) == len(PATHS) * len(ALPHAS)
        assert merge_shares(shares, PATHS, len(ALPHAS)) == expected  # bit for bit


def test_rank_zero_of_two_passes_every_option_to_its_own_share(bn_setup, monkeypatch):
    """The multi-rank branch of evaluate_paths_sharded, as rank 0 of 2 (rank 1's share made
    here): with BN statistics re-estimated, its curves are one process's, bit for bit."""
    model, theta_a, theta_b, data = bn_setup
    inputs, targets = data
    options = dict(loss="cross_entropy", bn_data=[(inputs[:20], targets[:20])])
    other = evaluate_share(model, theta_a, theta_b, data, ALPHAS, PATHS, 1, 2, **options)

    def gather(share, gathered, dst):
        gathered[:] = [share, other]

    monkeypatch.setattr("landscape.sharded.rank_and_world", lambda: (0, 2))
    monkeypatch.setattr(torch.distributed, "gather_object", gather)
    curves = evaluate_paths_sharded(model, theta_a, theta_b, data, ALPHAS, PATHS, **options)
    assert curves == evaluate_paths(model, theta_a, theta_b, data, ALPHAS, PATHS, **options)


def test_merge_refuses_gaps_and_repeats():
    share = {("full", 0): (1.0, 0.5)}
    with pytest.raises(ValueError, match="nobody evaluated"):
        merge_shares([share], ["full"], 2)
    with pytest.raises(ValueError, match="twice"):
        merge_shares([share, share], ["full"], 1)


def _join(rank: int, world: int, store: str):
    """This process as rank `rank` of a gloo group, and the same model, states and data as
    every other rank."""
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=world
    )
    torch.manual_seed(0)
    model = SmallBNNet()
    inputs, targets = torch.randn(40, 1, 6, 6), torch.randint(0, 3, (40,))
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    return model, theta_a, trained_copy(model, inputs), inputs, targets


def _sharded_worker(rank: int, world: int, store: str, out: str) -> None:
    model, theta_a, theta_b, inputs, targets = _join(rank, world, store)
    # every kind of path: unit/* shared out per unit, the new-init ones through theta_new
    paths = [*PATHS, "unit/*", "final_to_new_init", "init_to_new_init"]
    options = dict(theta_new=trained_copy(model, inputs, seed=7))
    data = (inputs, targets)
    curves = evaluate_paths_sharded(model, theta_a, theta_b, data, ALPHAS, paths, **options)
    if rank == 0:
        expected = evaluate_paths(model, theta_a, theta_b, data, ALPHAS, paths, **options)
        theta_new = options["theta_new"]
        ends = {path: (theta_a, theta_b, path) for path in PATHS}  # start, end, what moves
        ends["final_to_new_init"] = (theta_b, theta_new, "full")
        ends["init_to_new_init"] = (theta_a, theta_new, "full")
        plain = {
            path: reference_curve(model, start, end, moving_keys(model, end, kind), data, ALPHAS)
            for path, (start, end, kind) in ends.items()
        }
        torch.save({"sharded": curves, "single": expected, "plain": plain}, out)
    else:
        assert curves is None
    torch.distributed.destroy_process_group()


@pytest.mark.slow  # ~40 s on a loaded 2-core machine: spawning re-imports torch twice
def test_two_gloo_processes_equal_one_process(tmp_path):
    out = tmp_path / "curves.pt"
    mp.spawn(_sharded_worker, args=(2, str(tmp_path / "store"), str(out)), nprocs=2)
    curves = torch.load(out)
    assert curves["sharded"] == curves["single"]  # bit for bit
    expanded = [*PATHS, "unit/conv2", "unit/fc", "final_to_new_init", "init_to_new_init"]
    assert list(curves["single"]) == expanded  # unit/conv1 once
    for path, (loss, acc) in curves["plain"].items():
        assert curves["sharded"][path]["loss"] == pytest.approx(loss, abs=1e-5), path
        assert curves["sharded"][path]["acc"] == pytest.approx(acc, abs=1e-9), path


def test_without_process_group_it_is_evaluate_paths(bn_setup):
    model, theta_a, theta_b, data = bn_setup
    assert evaluate_paths_sharded(model, theta_a, theta_b, data, ALPHAS, PATHS) == (
        evaluate_paths(model, theta_a, theta_b, data, ALPHAS, PATHS)
    )


def test_a_two_rank_ddp_run_writes_one_run_whose_curves_are_the_plain_loops(tmp_path):
    """`trainer=ddp trainer.devices=2` on CPU (gloo): two real ranks train and share the path
    points; rank 0 writes one run whose theta_i is the seed's draw and whose every curve is
    the plain loop's on the written end states."""
    ddp = tmp_path / "ddp"
    result = run_linpath(
        "experiment=spiral_mlp", "scale=smoke", "seed=5", "trainer=ddp",
        "trainer.accelerator=cpu", "trainer.devices=2", "interpolation.figure=false",
        run_dir=ddp,
    )  # fmt: skip
    assert "GLOBAL_RANK: 1" in result.stderr + result.stdout  # two ranks really ran
    assert sorted(p.name for p in ddp.glob("*.json")) == ["results.json"]
    assert len((ddp / "csv" / "metrics.csv").read_text().splitlines()) > 1
    results = read_results(ddp)
    assert results["seed"] == 5 and results["device"]["ranks"] == 2
    datamodule, net_factory = data_and_net_factory(run_config(ddp))
    pl.seed_everything(5, verbose=False)
    drawn = net_factory().state_dict()
    theta_i, theta_f = (torch.load(ddp / f"theta_{end}.pt") for end in "if")
    assert all(torch.equal(theta_i[k], v) for k, v in drawn.items())
    theta_new = fresh_draw(net_factory, 5 + NEW_INIT_SEED_OFFSET).state_dict()
    ends = {
        "full": (theta_i, theta_f),
        "final_to_new_init": (theta_f, theta_new),
        "init_to_new_init": (theta_i, theta_new),
    }
    inputs, targets = datamodule.split("test")
    limit = run_config(ddp).interpolation.max_eval_examples
    data = (inputs[:limit], targets[:limit].float())
    assert list(results["paths"]) == list(ends)
    for path, (start, end) in ends.items():
        loss, acc = reference_curve(
            net_factory(), start, end, end.keys(), data, results["alphas"], loss="bce"
        )
        assert results["paths"][path]["loss"] == pytest.approx(loss, abs=1e-6), path
        assert results["paths"][path]["acc"] == pytest.approx(acc, abs=1e-9), path


def _diagnosed_worker(rank: int, world: int, store: str, out: str) -> None:
    model, theta_a, theta_b, inputs, targets = _join(rank, world, store)
    batches = [(inputs[:25], targets[:25]), (inputs[25:], targets[25:])]
    options = dict(alphas=5, paths=["full", "unit/conv2"], hessian={"iters": 5, "probes": 3})
    found = diagnose_paths(model, theta_a, theta_b, batches, sharded=True, **options)
    torch.save(found, f"{out}.{rank}")
    if rank == 0:
        torch.save(diagnose_paths(model, theta_a, theta_b, batches, **options), f"{out}.single")
    torch.distributed.destroy_process_group()


def assert_close_tree(got, expected, path=""):
    if isinstance(expected, dict):
        assert set(got) == set(expected), path
        for key in expected:
            assert_close_tree(got[key], expected[key], f"{path}/{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), path
        for index, (a, b) in enumerate(zip(got, expected)):
            assert_close_tree(a, b, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-6), path
    else:
        assert got == expected, path


@pytest.mark.slow  # spawning two processes re-imports torch twice
def test_diagnostics_sharded_over_two_gloo_processes_equal_one_process(tmp_path):
    """Each rank takes every other example; the gradients, curvature products and counts are
    summed over the ranks, so both ranks get one process's diagnostics."""
    out = tmp_path / "diagnosed"
    mp.spawn(_diagnosed_worker, args=(2, str(tmp_path / "store"), str(out)), nprocs=2)
    single = torch.load(f"{out}.single")
    for rank in (0, 1):
        assert_close_tree(torch.load(f"{out}.{rank}"), single)
