"""timm's ViT and transformers' GPT-2: units and groups found from the libraries' module
names, the engine against a plain loop on them, and bad sizes refused in one line."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from benchmarks.reference import reference_curve, trained_copy
from landscape import diagnose_paths, discover_units, evaluate_paths, moving_keys
from landscape.evaluate import interpolate_state
from landscape.paths import MODEL_GROUPS
from lightning_modules.config_checks import ConfigError, check_config
from lightning_modules.models.gpt2 import gpt2
from lightning_modules.models.sizes import ModelConfigError
from lightning_modules.models.vit import ViT
from run import compose_config

EMBEDDINGS = ["cls_token", "pos_embed", "patch_embed"]


def sublayers(prefix: str, block: str, names: tuple[str, ...]) -> list[str]:
    return [f"{prefix}{block}.{name}" for name in names]


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return ViT((1, 8, 8), 10, patch_size=2, embed_dim=16, depth=3, num_heads=4)


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return gpt2((4,), 99, embed_dim=16, depth=2, num_heads=4)


def test_vit_units_are_embeddings_blocks_or_their_sublayers_norm_and_head(vit):
    assert discover_units(vit) == {
        name: [name] for name in [*EMBEDDINGS, "blocks.0", "blocks.1", "blocks.2", "norm", "head"]
    }
    inside = ("norm1", "attn", "norm2", "mlp")
    fine = [u for i in range(3) for u in sublayers("blocks.", str(i), inside)]
    assert list(discover_units(vit, "blocks")) == [*EMBEDDINGS, *fine, "norm", "head"]


def test_gpt2_units_follow_transformers_names(gpt):
    embeddings, last = ["transformer.wte", "transformer.wpe"], ["transformer.ln_f", "lm_head"]
    assert list(discover_units(gpt)) == [*embeddings, "transformer.h.0", "transformer.h.1", *last]
    inside = ("ln_1", "attn", "ln_2", "mlp")
    fine = [u for i in range(2) for u in sublayers("transformer.h.", str(i), inside)]
    assert list(discover_units(gpt, "blocks")) == [*embeddings, *fine, *last]


def test_transformer_groups_over_the_model_and_inside_a_unit(vit, gpt):
    state = vit.state_dict()
    assert moving_keys(vit, state, "embeddings") == [
        "cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
    ]  # fmt: skip
    attention = moving_keys(vit, state, "attention")
    assert attention == [
        f"blocks.{i}.attn.{layer}.{leaf}"
        for i in range(3)
        for layer in ("qkv", "proj")
        for leaf in ("weight", "bias")
    ]
    assert moving_keys(vit, state, "group/blocks.1/mlp") == [
        f"blocks.1.mlp.{layer}.{leaf}" for layer in ("fc1", "fc2") for leaf in ("weight", "bias")
    ]
    norms = moving_keys(vit, state, "layernorm")
    assert {k.rpartition(".")[0] for k in norms} == {
        *(f"blocks.{i}.norm{j}" for i in range(3) for j in (1, 2)), "norm",
    }  # fmt: skip
    # weights and biases split every parameter; bare ones (pos_embed) count as weights
    weights, biases = moving_keys(vit, state, "weights"), moving_keys(vit, state, "biases")
    assert "pos_embed" in weights and "cls_token" in weights
    assert sorted(weights + biases) == sorted(n for n, _ in vit.named_parameters())
    groups = {g: set(moving_keys(gpt, gpt.state_dict(), g)) for g in MODEL_GROUPS}
    assert groups["embeddings"] == {"transformer.wte.weight", "transformer.wpe.weight"}
    assert "transformer.h.1.attn.c_attn.weight" in groups["attention"]
    assert "transformer.h.0.mlp.c_fc.bias" in groups["mlp"]
    assert "lm_head.weight" not in set().union(*(groups[g] for g in ("attention", "mlp")))


def test_bare_parameters_are_units_a_config_may_name(vit):
    from landscape.paths import check_units

    check_units(vit, {"position": ["pos_embed"], "head": ["head"]})
    assert moving_keys(vit, vit.state_dict(), "unit/pos_embed") == ["pos_embed"]


@pytest.fixture(scope="module")
def vit_ends(vit):
    inputs = torch.randn(24, 1, 8, 8)
    targets = torch.randint(0, 10, (24,))
    theta_a = {k: v.clone() for k, v in vit.state_dict().items()}
    theta_b = trained_copy(vit, inputs, scale=0.2)
    return theta_a, theta_b, [(inputs[:13], targets[:13]), (inputs[13:], targets[13:])]


def test_engine_equals_a_plain_loop_on_the_vit(vit, vit_ends):
    theta_a, theta_b, batches = vit_ends
    units = discover_units(vit, "blocks")
    paths = ["full", "unit/pos_embed", "unit/blocks.1.attn", "unit/head", "attention",
             "group/blocks.2/layernorm", "weights"]  # fmt: skip
    alphas = [0.0, 0.25, 0.6, 1.0]
    curves = evaluate_paths(vit, theta_a, theta_b, batches, alphas, paths, units=units)
    for path in paths:
        moving = moving_keys(vit, theta_b, path, units)
        losses, accs = reference_curve(vit, theta_a, theta_b, moving, batches, alphas)
        assert curves[path]["loss"] == pytest.approx(losses, abs=1e-5), path
        assert curves[path]["acc"] == pytest.approx(accs), path
    assert curves["unit/blocks.1.attn"]["loss"][0] != pytest.approx(curves["full"]["loss"][-1])


def test_engine_equals_a_plain_loop_on_gpt2(gpt):
    inputs = torch.randint(0, 99, (20, 4))
    targets = torch.randint(0, 97, (20,))
    theta_a = {k: v.clone() for k, v in gpt.state_dict().items()}
    theta_b = trained_copy(gpt, inputs, scale=0.2)
    units = discover_units(gpt, "blocks")
    paths = ["full", "unit/transformer.h.1.mlp", "embeddings"]
    curves = evaluate_paths(gpt, theta_a, theta_b, (inputs, targets), [0.0, 0.5, 1.0], paths,
                            units=units)  # fmt: skip
    for path in paths:
        moving = moving_keys(gpt, theta_b, path, units)
        losses, _ = reference_curve(gpt, theta_a, theta_b, moving, (inputs, targets), [0, 0.5, 1])
        assert curves[path]["loss"] == pytest.approx(losses, abs=1e-5), path


def float64(state):
    return {k: v.double() if v.is_floating_point() else v for k, v in state.items()}


def float64_loss(model, state, inputs, targets) -> float:
    work = copy.deepcopy(model).double().eval()
    work.load_state_dict(state)
    with torch.no_grad():
        return float(F.cross_entropy(work(inputs.double() if inputs.is_floating_point() else
                                          inputs), targets))  # fmt: skip


@pytest.mark.parametrize("name", ["vit", "gpt"])
def test_curvature_goes_through_fused_attention(name, request, vit_ends):
    """d2L/dalpha2 needs a forward derivative, which the fused attention kernels lack: the
    diagnostics take the math kernel, and equal the second difference of the float64 loss."""
    model = request.getfixturevalue(name)
    if name == "vit":
        theta_a, theta_b, batches = vit_ends
        inputs, targets = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    else:
        inputs, targets = torch.randint(0, 99, (20, 4)), torch.randint(0, 97, (20,))
        theta_a = {k: v.clone() for k, v in model.state_dict().items()}
        theta_b = trained_copy(model, inputs, scale=0.2)
    found = diagnose_paths(model, theta_a, theta_b, (inputs, targets), [0.5], ["full"],
                           diagnostics=["curvature"], hessian={"alphas": []})  # fmt: skip
    keys, h = moving_keys(model, theta_b, "full"), 1e-3
    ends = float64(theta_a), float64(theta_b)
    losses = [float64_loss(model, interpolate_state(*ends, 0.5 + s * h, keys), inputs, targets)
              for s in (-1, 0, 1)]  # fmt: skip
    second = (losses[0] - 2 * losses[1] + losses[2]) / h**2
    assert found["full"]["curvature"]["along_path"][0] == pytest.approx(second, rel=1e-4)
    assert abs(second) > 1e-2


def test_sizes_that_do_not_fit_are_refused_in_one_line():
    with pytest.raises(
        ModelConfigError, match=r"patch_size=3 does not divide the 8x8.*\[1, 2, 4, 8\]"
    ):
        ViT((1, 8, 8), 10, patch_size=3)
    with pytest.raises(ModelConfigError, match=r"num_heads=3 does not divide model.embed_dim=16"):
        ViT((1, 8, 8), 10, patch_size=2, embed_dim=16, num_heads=3)
    with pytest.raises(ModelConfigError, match=r"num_heads=5 does not divide"):
        gpt2((4,), 99, embed_dim=16, num_heads=5)
    with pytest.raises(ModelConfigError, match="needs token sequences"):
        gpt2((1, 8, 8), 10)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.patch_size=3"], r"model.patch_size=3 does not divide the data's 8x8 images"),
        (["model.num_heads=3"], r"model.num_heads=3 does not divide model.embed_dim=64"),
        (["model.depth=0"], r"model.depth=0: expected an integer >= 1"),
    ],
)
def test_the_config_check_refuses_them_before_anything_runs(overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_config(compose_config("experiment=vit_digits", *overrides))


def test_imagenet_vit_weights_come_from_the_local_cache_only(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from lightning_modules.init import InitError, load_pretrained
    from sweeps.smoke_data import write_vit_stand_in

    class Module:
        net = ViT((3, 32, 32), 10, patch_size=4, embed_dim=192, depth=12, num_heads=3,
                  width=1 / 16)  # fmt: skip

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(
        InitError, match=r"not on disk: put model.safetensors in .*hub/models--timm--vit_tiny"
    ):  # noqa: E501
        load_pretrained(Module, None, seed=0)
    checkpoint = write_vit_stand_in(tmp_path / "hub", 1 / 16)
    record = load_pretrained(Module, None, seed=0)
    from safetensors.torch import load_file

    saved = load_file(checkpoint)
    state = Module.net.state_dict()
    assert torch.equal(state["blocks.3.attn.qkv.weight"], saved["blocks.3.attn.qkv.weight"])
    assert saved["pos_embed"].shape == (1, 197, 12) and state["pos_embed"].shape == (1, 65, 12)
    assert saved["patch_embed.proj.weight"].shape[-1] == 16
    # positions and patches resampled to 8x8 patches of 4, so they load; the head stays random
    from timm.layers import resample_abs_pos_embed

    resampled = resample_abs_pos_embed(saved["pos_embed"], (8, 8), num_prefix_tokens=1)
    assert torch.allclose(state["pos_embed"], resampled)
    assert record["kept_random"] == ["head.weight", "head.bias"]
