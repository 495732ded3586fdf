"""The fast evaluator (prefix reuse, shared alpha = 1, chunked cache) against the plain loop."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from benchmarks.reference import reference_curve, trained_copy
from landscape import evaluate_paths, moving_keys
from landscape.evaluate import DEFAULT_CACHE_BYTES, PathEvaluator
from landscape.stages import forward_stages, run_stages
from lightning_modules.models import MLP, VGG, resnet

ALPHAS = [0.0, 0.3, 0.7, 1.0]
RESNET_PATHS = [
    "full",
    "unit/conv1",
    "unit/layer1",
    "unit/layer3",
    "unit/layer4.1",
    "unit/fc",
    "group/layer2/bn_stats",
    "group/layer3/bn_affine",
    "group/layer4/weights",
    "group/fc/biases",
    "weights",
    "biases",
]
MLP_PATHS = ["full", "unit/fc1", "unit/fc2", "unit/fc3", "group/fc2/weights", "weights", "biases"]


def assert_matches_plain(model, theta_a, theta_b, batches, paths, **options):
    curves = evaluate_paths(model, theta_a, theta_b, batches, alphas=ALPHAS, paths=paths, **options)
    bn_batches = options.get("bn_data")
    for path in paths:
        keys = moving_keys(model, theta_b, path)
        losses, accs = reference_curve(
            model, theta_a, theta_b, keys, batches, ALPHAS, bn_batches=bn_batches
        )
        assert curves[path]["loss"] == pytest.approx(losses, abs=1e-5), path
        assert curves[path]["acc"] == pytest.approx(accs, abs=1e-9), path
    return curves


RESNET_UNITS = {"conv1": ["conv1", "bn1"], "layer4.1": ["layer4.1"], "fc": ["fc"]} | {
    f"layer{i}": [f"layer{i}"] for i in range(1, 5)
}


def recording_chunks(monkeypatch) -> list[int]:
    """Examples in each chunk the engine evaluates (its endpoint passes), as they happen."""
    sizes = []
    endpoint_pass = PathEvaluator.endpoint_pass

    def recording(self, chunk, boundaries):
        sizes.append(sum(targets.shape[0] for _, targets in chunk))
        return endpoint_pass(self, chunk, boundaries)

    monkeypatch.setattr(PathEvaluator, "endpoint_pass", recording)
    return sizes


@pytest.mark.parametrize("bn", ["interpolate", "recompute"])
@pytest.mark.parametrize("cache_bytes", [DEFAULT_CACHE_BYTES, 1], ids=["one_chunk", "chunks"])
def test_resnet_every_path_kind_matches_plain_loop(small_resnet, monkeypatch, bn, cache_bytes):
    """Every path kind x BN policy x {the data in one chunk, one example per chunk}: a path
    must leave the working copy as it found it (BN statistics included) for the next chunk."""
    model, theta_a, theta_b, batches = small_resnet
    bn_data = None
    if bn == "recompute":
        generator = torch.Generator().manual_seed(3)
        bn_data = [(torch.randn(12, 3, 8, 8, generator=generator), torch.zeros(12).long())] * 2
    chunk_sizes = recording_chunks(monkeypatch)
    curves = assert_matches_plain(
        model, theta_a, theta_b, batches, RESNET_PATHS,
        units=RESNET_UNITS, bn_data=bn_data, cache_bytes=cache_bytes,
    )  # fmt: skip
    examples = sum(targets.shape[0] for _, targets in batches)
    assert sum(chunk_sizes) == examples
    assert len(chunk_sizes) == (1 if cache_bytes == DEFAULT_CACHE_BYTES else examples)
    assert len({round(c["loss"][1], 6) for c in curves.values()}) == len(RESNET_PATHS)


@pytest.mark.gpu
def test_on_cuda_every_path_kind_matches_the_plain_loop_on_cpu(small_resnet, monkeypatch):
    """The engine on the GPU (data moved there once, chunks, BN recompute) against the CPU
    loop; TF32 off, so the tolerance is float32's, not TF32's."""
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    model, theta_a, theta_b, batches = small_resnet
    bn_data = [(x + 0.5, y) for x, y in batches]
    for cache_bytes in (DEFAULT_CACHE_BYTES, 1):
        curves = evaluate_paths(
            model, theta_a, theta_b, batches, alphas=ALPHAS, paths=RESNET_PATHS,
            units=RESNET_UNITS, bn_data=bn_data, device="cuda", cache_bytes=cache_bytes,
        )  # fmt: skip
        for path in RESNET_PATHS:
            keys = moving_keys(model, theta_b, path, RESNET_UNITS)
            losses, _ = reference_curve(
                model, theta_a, theta_b, keys, batches, ALPHAS, bn_batches=bn_data
            )
            assert curves[path]["loss"] == pytest.approx(losses, abs=1e-4), path


def test_mlp_every_path_kind_matches_plain_loop(mlp_setup):
    model, theta_a, theta_b, (inputs, targets) = mlp_setup
    batches = [(inputs[:20], targets[:20]), (inputs[20:], targets[20:])]
    assert_matches_plain(model, theta_a, theta_b, batches, MLP_PATHS)


def test_vgg_paths_match_plain_loop():
    torch.manual_seed(0)
    model = VGG((3, 32, 32), 4, batch_norm=True, width=1 / 32, widths=[64] * 10, fc_layers=3)
    inputs, targets = torch.randn(6, 3, 32, 32), torch.randint(0, 4, (6,))
    theta_a = {k: v.clone() for k, v in model.state_dict().items()}
    theta_b = trained_copy(model, inputs, scale=0.02)
    paths = ["full", "unit/features.8", "unit/classifier.3", "group/features.4/bn_stats"]
    assert_matches_plain(model, theta_a, theta_b, [(inputs, targets)], paths)


@pytest.mark.parametrize(
    "build, input_shape",
    [
        (lambda: resnet((3, 8, 8), 5, depth=18, width=0.125), (3, 8, 8)),
        (lambda: resnet((3, 8, 8), 5, depth=50, width=0.0625), (3, 8, 8)),
        (lambda: VGG((3, 32, 32), 4, batch_norm=False, width=1 / 32), (3, 32, 32)),
        (lambda: MLP((2, 3), 4, hidden=[5, 6]), (2, 3)),
        (lambda: nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4)), (6,)),
    ],
    ids=["resnet18", "resnet50", "vgg", "mlp", "sequential"],
)
def test_stages_compose_to_the_forward(build, input_shape):
    model = build().eval()
    inputs = torch.randn(3, *input_shape)
    stages = forward_stages(model)
    assert len(stages) > 2
    with torch.no_grad():
        assert torch.equal(run_stages(stages, inputs), model(inputs))


def count_calls(module: nn.Module) -> list[int]:
    """A counter of forward calls; copied along when the engine deep-copies the model."""
    calls = [0]

    def hook(*_):
        calls[0] += 1

    module.register_forward_hook(hook)
    return calls


def test_prefix_is_computed_once_per_chunk(small_resnet):
    """A unit/fc path runs the stem on the endpoint pass only, not once per alpha."""
    model, theta_a, theta_b, batches = small_resnet
    model = copy.deepcopy(model)
    stem, head = count_calls(model.conv1), count_calls(model.fc)
    alphas = [i / 10 for i in range(11)]
    evaluate_paths(model, theta_a, theta_b, batches, alphas=alphas, paths=["unit/fc", "full"])
    # loss inferred from one example + stage check (stages, forward) + bytes per example +
    # endpoint pass (2 batches) + full
    assert stem[0] == 1 + 2 + 1 + 2 + 10 * 2
    assert head[0] == 1 + 2 + 1 + 2 + 2 * 10 * 2  # unit/fc and full: every alpha but 1


def test_chunking_respects_the_budget_and_changes_nothing(small_resnet, monkeypatch):
    model, theta_a, theta_b, batches = small_resnet
    paths = ["unit/layer2", "unit/fc", "full"]
    whole = evaluate_paths(model, theta_a, theta_b, batches, alphas=ALPHAS, paths=paths)

    kept_bytes = []
    endpoint_pass = PathEvaluator.endpoint_pass

    def recording(self, chunk, boundaries):
        kept = endpoint_pass(self, chunk, boundaries)
        kept_bytes.append(
            sum(a.numel() * a.element_size() for cached, _, _ in kept for a in cached.values())
        )
        return kept

    monkeypatch.setattr(PathEvaluator, "endpoint_pass", recording)
    budget = 3000  # bytes: a few examples' activations at the layer2 and fc boundaries
    chunked = evaluate_paths(
        model, theta_a, theta_b, batches, alphas=ALPHAS, paths=paths, cache_bytes=budget
    )
    assert len(kept_bytes) > 2  # more chunks than the two batches given
    assert max(kept_bytes) <= budget
    for path in paths:
        assert chunked[path]["loss"] == pytest.approx(whole[path]["loss"], abs=1e-6)
        assert chunked[path]["acc"] == pytest.approx(whole[path]["acc"], abs=1e-12)


class WrongStages(MLP):
    """Claims stages that skip the ReLUs: the engine must notice and use the forward."""

    def forward_stages(self):
        return [((f"fc{i}",), getattr(self, f"fc{i}")) for i in range(1, self.depth + 1)]


def test_stages_that_disagree_with_forward_fall_back_to_it(mlp_setup):
    _, theta_a, theta_b, (inputs, targets) = mlp_setup
    model = WrongStages((5,), 4, hidden=[7, 6])
    data = (inputs, targets)
    with pytest.warns(UserWarning, match="do not reproduce its forward"):
        curves = evaluate_paths(model, theta_a, theta_b, data, alphas=ALPHAS, paths=["unit/fc2"])
    keys = moving_keys(model, theta_b, "unit/fc2")
    losses, _ = reference_curve(model, theta_a, theta_b, keys, data, ALPHAS)
    assert curves["unit/fc2"]["loss"] == pytest.approx(losses, abs=1e-5)
