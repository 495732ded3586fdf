"""Initialisation interventions (paper Sec. 4): the state the main fit starts from.

run.py builds the network from the run's seed (a draw from the standard initialisation),
then calls the configured intervention as `intervention(module, datamodule, seed=, device=)`.
It changes `module.net` in place and returns what it did, written as `init` in results.json.
theta_i of every path is the state after the intervention, as in the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from landscape import discover_units, interpolate_state, moving_keys
from landscape.errors import LinpathError
from landscape.evaluate import batch_loss_and_correct, evaluate_state
from landscape.shape import BARRIER, stored_path_metrics
from landscape.state_files import load_state_file
from lightning_modules.data.images import randomize_labels
from lightning_modules.data.tensor_data import TensorBatchLoader
from lightning_modules.earlier_run import check_same_architecture, find_run

# torchvision ResNets by (block type, blocks per stage) -> their ImageNet weights
IMAGENET_WEIGHTS = {
    ("BasicBlock", (2, 2, 2, 2)): "ResNet18_Weights.IMAGENET1K_V1",
    ("BasicBlock", (3, 4, 6, 3)): "ResNet34_Weights.IMAGENET1K_V1",
    ("Bottleneck", (3, 4, 6, 3)): "ResNet50_Weights.IMAGENET1K_V1",
}
RANDOM_LABEL_SEED_OFFSET = 7_919  # random labels and their order differ from the main fit's
PARTIAL_SOURCES = ("trained", "pretrained")


class InitError(LinpathError, ValueError):
    """An intervention that cannot be applied as configured."""


def random_init(module, datamodule, seed: int, device: str = "cpu") -> dict:
    """The paper's default: the network as its standard initialiser drew it."""
    return {"name": "random"}


# ---- pretrained -----------------------------------------------------------------------


def imagenet_weights_name(net: nn.Module) -> str:
    stages = [getattr(net, f"layer{i}", None) for i in range(1, 5)]
    if any(stage is None for stage in stages):
        raise InitError(f"init=pretrained needs a torchvision ResNet; got {type(net).__name__}")
    key = (type(stages[0][0]).__name__, tuple(len(stage) for stage in stages))
    if key not in IMAGENET_WEIGHTS:
        raise InitError(
            f"no ImageNet weights for a ResNet of {key}; known: {list(IMAGENET_WEIGHTS.values())}"
        )
    return IMAGENET_WEIGHTS[key]


# timm's ImageNet ViT-Tiny (patches of 16 at 224): its patch embedding and positions are
# resampled to the ViT's own (timm's checkpoint filter), so it fits a CIFAR ViT-Tiny.
VIT_IMAGENET = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
VIT_WEIGHTS_FILE = "model.safetensors"


def vit_imagenet_state(net: nn.Module, weights_path: str | None) -> tuple[dict, str]:
    """timm's ImageNet ViT weights from `weights_path` or the Hugging Face cache (never
    downloaded), resampled to `net`'s patches and positions."""
    from huggingface_hub import constants, try_to_load_from_cache
    from timm.models import get_pretrained_cfg
    from timm.models.vision_transformer import checkpoint_filter_fn

    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise InitError(f"init.weights_path={path} does not exist; expected a state dict file")
        origin = str(path)
    else:
        repo = get_pretrained_cfg(VIT_IMAGENET).hf_hub_id
        cached = try_to_load_from_cache(repo, VIT_WEIGHTS_FILE)
        if not isinstance(cached, str):
            folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
            raise InitError(
                f"ImageNet weights {VIT_IMAGENET} are not on disk: put {VIT_WEIGHTS_FILE} in "
                f"{folder}/snapshots/REVISION/ with refs/main naming REVISION (the Hugging "
                "Face cache; HF_HUB_CACHE moves it) or pass init.weights_path=FILE"
            )
        path, origin = Path(cached), VIT_IMAGENET
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = load_state_file(path)
    return checkpoint_filter_fn(state, net), origin


def imagenet_state(net: nn.Module, weights_path: str | None) -> tuple[dict, str]:
    """ImageNet weights from `weights_path` or torchvision's cache (timm's ViT: the Hugging
    Face cache); never downloaded."""
    from lightning_modules.models.vit import ViT

    if isinstance(net, ViT):
        return vit_imagenet_state(net, weights_path)
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise InitError(f"init.weights_path={path} does not exist; expected a state dict file")
        return load_state_file(path), str(path)
    from torchvision.models import get_weight

    name = imagenet_weights_name(net)
    weights = get_weight(name)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file():
        raise InitError(
            f"ImageNet weights {name} are not on disk: put {cached.name} in {cached.parent} "
            "(torchvision's cache; TORCH_HOME moves it) or pass init.weights_path=FILE"
        )
    return weights.get_state_dict(progress=False), name


def copy_matching(net: nn.Module, source: dict[str, torch.Tensor]) -> list[str]:
    """Load every entry of `source` whose name and shape match; return their names.

    The CIFAR stem (3x3 conv1) and the class-sized fc (a ViT's head) do not match
    ImageNet's: they keep their random initialisation.
    """
    state = net.state_dict()
    loaded = [k for k, v in source.items() if k in state and state[k].shape == v.shape]
    if not any(state[k].is_floating_point() for k in loaded):
        raise InitError("the pre-trained weights match no parameter of this model's shapes")
    state.update({k: source[k] for k in loaded})
    net.load_state_dict(state)
    return loaded


def load_pretrained(
    module, datamodule, seed: int, device: str = "cpu", weights_path: str | None = None
) -> dict:
    """Fig. 2A: start from ImageNet weights wherever their shapes fit (a torchvision ResNet
    or timm's ViT)."""
    source, origin = imagenet_state(module.net, weights_path)
    loaded = copy_matching(module.net, source)
    kept = [k for k in module.net.state_dict() if k not in loaded]
    return {"name": "pretrained", "weights": origin, "loaded": len(loaded), "kept_random": kept}


# ---- random labels --------------------------------------------------------------------


def train_on_random_labels(
    module,
    datamodule,
    seed: int,
    device: str = "cpu",
    max_epochs: int = 500,
    lr: float | None = None,
) -> dict:
    """Fig. 2B, 5: "training on 100% random labels until 100% training accuracy is reached".

    The paper gives no recipe for this stage. Here it trains without augmentation (a crop
    or flip of a memorised image is a new image: 100% may never come), with the run's
    optimizer at a constant learning rate (`lr`, or the optimizer's), and stops when the
    eval-mode accuracy over the whole random-labelled training set is 100%, or after
    `max_epochs`. The main fit starts from that state.
    """
    if max_epochs < 1:
        raise InitError(f"init.max_epochs must be >= 1, got {max_epochs}")
    if lr is not None and not lr > 0:
        raise InitError(f"init.lr must be > 0 (or null: the optimizer's), got {lr}")
    inputs, targets = datamodule.split("train", device)  # model-ready, not augmented
    classes = 2 if datamodule.num_outputs == 1 else datamodule.num_outputs  # bce: 0/1 floats
    label_seed = seed + RANDOM_LABEL_SEED_OFFSET
    labels = randomize_labels(targets.long().flatten().cpu(), 1.0, classes, label_seed)
    labels = labels.reshape(targets.shape).to(device=targets.device, dtype=targets.dtype)
    loader = TensorBatchLoader(inputs, labels, datamodule.batch_size, True, label_seed)
    whole_set = [
        (inputs[i : i + datamodule.eval_batch_size], labels[i : i + datamodule.eval_batch_size])
        for i in range(0, len(labels), datamodule.eval_batch_size)
    ]
    net = module.net.to(device)
    optimizer = module.make_optimizer()
    for group in optimizer.param_groups if lr is not None else ():
        group["lr"] = lr
    for epoch in range(1, max_epochs + 1):
        loader.set_epoch(epoch)
        net.train()
        for x, y in loader:
            summed, _ = batch_loss_and_correct(net(x), y, module.loss_name)
            optimizer.zero_grad(set_to_none=True)
            (summed / y.shape[0]).backward()
            optimizer.step()
        with torch.no_grad():
            _, accuracy = evaluate_state(net.eval(), whole_set, module.loss_name)
        if accuracy == 1.0:
            break
    module.net.train().to("cpu")
    return {
        "name": "random_labels",
        "epochs": epoch,
        "max_epochs": max_epochs,
        "lr": optimizer.param_groups[0]["lr"],
        "augment": "none",
        "train_acc": accuracy,  # eval mode, every random-labelled training example
        "reached_100": accuracy == 1.0,
    }


# ---- from an earlier run ----------------------------------------------------------------


def unit_entries(net: nn.Module, unit: str) -> list[str]:
    """The state entries of unit `unit` (a discovered unit or any module name)."""
    return moving_keys(net, net.state_dict(), f"unit/{unit}", discover_units(net, "stages"))


def barrier_peak(results: Mapping, run_path: Path | str) -> tuple[list[float], int]:
    """The grid of a run's full path and the step where its barrier peaks ("at the height
    of the barrier": the top of the largest rise that comes down, not the curve's highest
    interior point); a run without a barrier is refused."""
    if "full" not in results.get("paths", {}):
        raise InitError(f"init=barrier needs a run with a full path; {run_path} has none")
    full = stored_path_metrics(results, "full")
    if full.get("shape") != BARRIER or full.get("barrier_peak_alpha") is None:
        raise InitError(
            f"init=barrier needs a run whose full path has a barrier (shape B, with its "
            f"location); {run_path} has shape {full.get('shape')}"
        )
    alphas = list(results["alphas"])
    peak = min(range(len(alphas)), key=lambda j: abs(alphas[j] - full["barrier_peak_alpha"]))
    return alphas, peak


def offset_fits(alphas: Sequence[float], peak: int, offset: int) -> bool:
    """Whether `offset` grid steps from the peak stay on the path (0 <= alpha <= 1)."""
    step = peak + offset
    return 0 <= step < len(alphas) and 0.0 <= alphas[step] <= 1.0


def start_at_barrier(
    module, datamodule, seed: int, device: str = "cpu", from_run: str = "", offset: int = 0
) -> dict:
    """Fig. 3 / Table A3: theta_alpha of an earlier run at its full path's barrier peak
    (`barrier_peak_alpha`) moved by `offset` grid steps, exactly as its path evaluated it."""
    run = find_run(from_run, seed)
    alphas, peak = barrier_peak(run.results, run.path)
    step = peak + offset
    if not offset_fits(alphas, peak, offset):
        fits = [o - peak for o in range(len(alphas)) if 0.0 <= alphas[o] <= 1.0]
        raise InitError(
            f"init.offset={offset} leaves the path: the barrier peaks at step {peak} of "
            f"{len(alphas)} (alpha {alphas[peak]:g}); expected an offset in "
            f"[{min(fits)}, {max(fits)}]"
        )
    theta_i, theta_f = run.state("i"), run.state("f")
    check_same_architecture(module.net, theta_f, run.path)
    module.net.load_state_dict(interpolate_state(theta_i, theta_f, alphas[step]))
    return {
        "name": "barrier",
        "from_run": str(run.path),
        "barrier_peak_alpha": alphas[peak],
        "offset": offset,
        "alpha": alphas[step],
        "source_loss": run.results["paths"]["full"]["loss"][step],
    }


def reset_unit(
    module,
    datamodule,
    seed: int,
    device: str = "cpu",
    unit: str = "",
    source: str = "trained",
    from_run: str | None = None,
    weights_path: str | None = None,
) -> dict:
    """Fig. 4 (RI-k): "re-set a specific convolutional block to its initial (random) state".

    `source=trained`: the trained run's theta_f, with unit k at that run's own theta_i.
    `source=pretrained`: ImageNet weights, with unit k at this seed's fresh random init
    (a pre-trained network has no initial state of its own on CIFAR).
    """
    if source not in PARTIAL_SOURCES:
        raise InitError(f"unknown init.source {source!r}; expected one of {list(PARTIAL_SOURCES)}")
    net = module.net
    initial = {k: v.clone() for k, v in net.state_dict().items()}  # this seed's draw
    keys = unit_entries(net, unit)
    record = {"name": "partial", "unit": unit, "source": source}
    if source == "trained":
        run = find_run(from_run, seed)
        trained = run.state("f")
        check_same_architecture(net, trained, run.path)
        net.load_state_dict(trained)
        initial = run.state("i")
        record["from_run"] = str(run.path)
    else:
        record["weights"] = load_pretrained(module, datamodule, seed, device, weights_path)[
            "weights"
        ]
    state = net.state_dict()
    state.update({k: initial[k] for k in keys})
    net.load_state_dict(state)
    return {**record, "entries": keys}


def adversarial_unit(
    module, datamodule, seed: int, device: str = "cpu", unit: str = "", from_run: str = ""
) -> dict:
    """Fig. 5: unit k from a random-label run's theta_i (the state its pre-stage reached),
    everything else this seed's fresh random init."""
    run = find_run(from_run, seed)
    made_with = run.results.get("init", {}).get("name")
    if made_with != "random_labels":
        raise InitError(
            f"init=blockwise_adversarial needs a run made with init=random_labels; "
            f"{run.path} was made with init={made_with}"
        )
    adversarial = run.state("i")
    check_same_architecture(module.net, adversarial, run.path)
    keys = unit_entries(module.net, unit)
    state = module.net.state_dict()
    state.update({k: adversarial[k] for k in keys})
    module.net.load_state_dict(state)
    return {
        "name": "blockwise_adversarial",
        "unit": unit,
        "from_run": str(run.path),
        "entries": keys,
        "pre_stage": run.results["init"],  # epochs taken and accuracy reached on random labels
    }
