"""Loss and accuracy along straight lines between two states of one model."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from landscape.inputs import (
    Batch,
    EngineInputError,
    alpha_grid,
    as_batches,
    check_cache_bytes,
    check_loss,
    check_model,
    check_paths,
    check_state,
    infer_loss,
    model_device,
)
from landscape.paths import NEW_INIT_ENDS, discover_units, expand_paths, moving_keys
from landscape.stages import WHOLE_MODEL, Stage, first_stage_reading, forward_stages, run_stages

DEFAULT_CACHE_BYTES = 1 << 30  # activations kept for prefix reuse, per chunk of data
STAGE_CHECK_EXAMPLES = 4  # examples on which the stages must reproduce the plain forward


def interpolate_state(
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    alpha: float,
    keys: Iterable[str] | None = None,
) -> dict[str, torch.Tensor]:
    """theta_b with `keys` (default: every floating entry) moved to (1 - alpha) a + alpha b."""
    moving = (
        set(keys) if keys is not None else {k for k, v in theta_b.items() if v.is_floating_point()}
    )
    return {k: torch.lerp(theta_a[k], v, alpha) if k in moving else v for k, v in theta_b.items()}


def batch_loss_and_correct(
    logits: torch.Tensor, targets: torch.Tensor, loss: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed loss and number of correct predictions in one batch."""
    if loss == "bce":
        logits = logits.reshape(-1)
        targets = targets.reshape(-1).to(logits.dtype)
        summed = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
        correct = ((logits > 0) == (targets > 0.5)).sum()
    else:
        summed = F.cross_entropy(logits, targets, reduction="sum")
        correct = (logits.argmax(dim=1) == targets).sum()
    return summed, correct


def as_fp32(state: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """`state` on `device` with its floating entries in float32 (integer buffers as they are)."""
    return {
        k: v.to(device, torch.float32) if v.is_floating_point() else v.to(device)
        for k, v in state.items()
    }


def without_autocast(device: torch.device):
    """Evaluation in the model's own precision even inside a caller's autocast region (bf16
    mixed-precision training): the curves must not depend on how the model was trained."""
    return torch.autocast(device.type, enabled=False)


@torch.no_grad()
def evaluate_state(model: nn.Module, batches: Sequence[Batch], loss: str) -> tuple[float, float]:
    """Mean loss and accuracy of `model` (as it stands, in eval mode, no autocast) over
    every example."""
    device = batches[0][0].device
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    with without_autocast(device):
        for inputs, targets in batches:
            summed, correct = batch_loss_and_correct(model(inputs), targets, loss)
            total_loss += summed.double()
            total_correct += correct
            count += targets.shape[0]
    mean_loss = float(total_loss) / count
    return mean_loss, defined_accuracy(mean_loss, float(total_correct) / count)


def defined_accuracy(loss: float, accuracy: float) -> float:
    """NaN where the loss is not finite: the outputs there hold NaN or inf, and an argmax over
    NaN picks class 0, which would pass a class-prior number off as an accuracy."""
    return accuracy if math.isfinite(loss) else math.nan


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, batches: Sequence[Batch]) -> None:
    """Replace every BN layer's running statistics by their exact average over `batches`."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for inputs, _ in batches:
        model(inputs)
    model.eval()
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def chunks(batches: Sequence[Batch], bytes_per_example: int, budget: int) -> Iterator[list[Batch]]:
    """Runs of consecutive batches whose cached activations fit in `budget` bytes (at least
    one example each); a batch is split only when it alone is over the budget."""
    if bytes_per_example == 0:
        yield list(batches)
        return
    limit = max(1, budget // bytes_per_example)
    chunk: list[Batch] = []
    size = 0
    for inputs, targets in batches:
        for start in range(0, targets.shape[0], limit):
            piece = (inputs[start : start + limit], targets[start : start + limit])
            if chunk and size + piece[1].shape[0] > limit:
                yield chunk
                chunk, size = [], 0
            chunk.append(piece)
            size += piece[1].shape[0]
    if chunk:
        yield chunk


def working_copy(
    model: nn.Module, state: Mapping[str, torch.Tensor], recompute_batches: Sequence[Batch] | None
) -> nn.Module:
    """A float32 copy of `model` in eval mode holding `state` (on `state`'s device), with BN
    statistics re-estimated on `recompute_batches` when given; `model` stays untouched."""
    device = next(iter(state.values())).device
    work = copy.deepcopy(model).to(device).float().eval()
    work.load_state_dict(state)
    if recompute_batches is not None:
        recompute_bn_statistics(work, recompute_batches)
    return work


@torch.no_grad()
def stages_to_use(
    work: nn.Module, inputs: torch.Tensor, moving: Iterable[list[str]]
) -> list[Stage]:
    """`work`'s stages when some path can start after the first and they reproduce its
    forward on a few examples; otherwise its plain forward as the one stage."""
    stages = forward_stages(work)
    whole = [Stage((WHOLE_MODEL,), work)]
    if not any(first_stage_reading(stages, keys) for keys in moving):
        return whole
    sample = inputs[:STAGE_CHECK_EXAMPLES]
    if not torch.allclose(run_stages(stages, sample), work(sample), rtol=1e-5, atol=1e-6):
        warnings.warn(
            f"the forward stages of {type(work).__name__} do not reproduce its forward; "
            "evaluating every path with the plain forward",
            stacklevel=3,
        )
        return whole
    return stages


class PathEvaluator:
    """Summed loss and correct predictions per (path, alpha), accumulated chunk by chunk.

    `work` holds theta_b (with re-estimated BN statistics under `recompute_batches`); a path
    moves its entries in place and puts them back when done. Alpha = 1 is theta_b on every
    path, so it is taken from the pass that fills the cache.
    """

    def __init__(
        self,
        work: nn.Module,
        stages: list[Stage],
        theta_a: Mapping[str, torch.Tensor],
        theta_b: Mapping[str, torch.Tensor],
        alphas: list[float],
        loss: str,
        recompute_batches: Sequence[Batch] | None = None,
        progress: Callable[[float], object] | None = None,
    ):
        self.work, self.stages, self.alphas, self.loss = work, stages, alphas, loss
        self.progress = progress
        self.theta_a, self.theta_b = theta_a, theta_b
        self.recompute_batches = recompute_batches
        self.live = work.state_dict(keep_vars=True)
        self.base = {k: v.detach().clone() for k, v in self.live.items()}
        device = next(iter(theta_b.values())).device
        self.loss_sums: dict[str, torch.Tensor] = {}
        self.correct: dict[str, torch.Tensor] = {}
        self.endpoint_loss = torch.zeros((), dtype=torch.float64, device=device)
        self.endpoint_correct = torch.zeros((), dtype=torch.int64, device=device)
        self.count = 0

    @torch.no_grad()
    def cached_bytes_per_example(self, inputs: torch.Tensor, boundaries: list[int]) -> int:
        if not boundaries:
            return 0
        cached, _ = self._forward_keeping(inputs[:1], boundaries)
        return sum(a.numel() * a.element_size() for a in cached.values())

    def _forward_keeping(self, inputs: torch.Tensor, boundaries: list[int]):
        cached, hidden = {}, inputs
        for index, stage in enumerate(self.stages):
            if index in boundaries:
                cached[index] = hidden
            hidden = stage.run(hidden)
        return cached, hidden

    @torch.no_grad()
    def endpoint_pass(self, chunk: list[Batch], boundaries: list[int]) -> list:
        """Evaluate theta_b on `chunk`, keeping the inputs of the stages where paths start."""
        kept = []
        for inputs, targets in chunk:
            cached, logits = self._forward_keeping(inputs, boundaries)
            summed, correct = batch_loss_and_correct(logits, targets, self.loss)
            self.endpoint_loss += summed.double()
            self.endpoint_correct += correct
            self.count += targets.shape[0]
            kept.append((cached, inputs, targets))
        return kept

    @torch.no_grad()
    def evaluate_path(
        self, path: str, keys: list[str], start: int, kept: list, share: float = 1.0
    ) -> None:
        """Every alpha but 1 of one path, running the stages from `start` on; `kept` is
        `share` of the data, reported to `progress` per alpha."""
        if path not in self.loss_sums:
            device = self.endpoint_loss.device
            self.loss_sums[path] = torch.zeros(len(self.alphas), dtype=torch.float64, device=device)
            self.correct[path] = torch.zeros(len(self.alphas), dtype=torch.int64, device=device)
        stages = self.stages[start:]
        for index, alpha in enumerate(self.alphas):
            if self.progress is not None:
                self.progress(share)
            if alpha == 1.0:
                continue
            for k in keys:
                torch.lerp(self.theta_a[k], self.theta_b[k], alpha, out=self.live[k])
            if self.recompute_batches is not None:
                recompute_bn_statistics(self.work, self.recompute_batches)
            for cached, inputs, targets in kept:
                logits = run_stages(stages, cached[start] if start else inputs)
                summed, correct = batch_loss_and_correct(logits, targets, self.loss)
                self.loss_sums[path][index] += summed.double()
                self.correct[path][index] += correct
        restore = self.live if self.recompute_batches is not None else keys
        for k in restore:
            self.live[k].copy_(self.base[k])

    def curves(self, paths: list[str]) -> dict[str, dict[str, list[float]]]:
        endpoint_loss = float(self.endpoint_loss) / self.count
        endpoint_acc = float(self.endpoint_correct) / self.count
        curves = {}
        for path in paths:
            losses = (self.loss_sums[path] / self.count).tolist()
            accs = (self.correct[path].double() / self.count).tolist()
            for index, alpha in enumerate(self.alphas):
                if alpha == 1.0:
                    losses[index], accs[index] = endpoint_loss, endpoint_acc
            accs = [defined_accuracy(loss, acc) for loss, acc in zip(losses, accs)]
            curves[path] = {"loss": losses, "acc": accs}
        return curves


def evaluate_paths(
    model: nn.Module,
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    data,
    alphas: int | Sequence[float] = (0.0, 0.5, 1.0),
    paths: Sequence[str] = ("full",),
    loss: str | None = None,
    theta_new: Mapping[str, torch.Tensor] | None = None,
    units: Mapping[str, list[str]] | None = None,
    bn_data=None,
    device: torch.device | str | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    progress: Callable[[float], object] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Loss and accuracy at every alpha of every path from theta_a (alpha=0) to theta_b.

    `data` is one (inputs, targets) pair or an iterable of them. `alphas` is a list of
    numbers or an integer n: n equal steps on [0, 1] (`alpha_grid`). A path moves the entries
    named by its key (see `landscape.paths.moving_keys`) and keeps the rest at theta_b;
    `unit/*` is one path per unit. `final_to_new_init` runs from theta_b (alpha=0) to
    `theta_new` and `init_to_new_init` from theta_a to `theta_new`: a fresh draw from the
    initialiser (theta_i'), which they need. `loss` defaults to what the config would pick
    for this model: "bce" for one output, "cross_entropy" for one per class. With `bn_data`
    (training batches) BN statistics are re-estimated at every alpha instead of interpolated.

    Nothing passed in is modified: the thetas are state dicts, read and never written (the
    states evaluated are the engine's own copies), so they can be reused and need not be on
    the model's device; `model` gives the architecture only and is left as it was found, its
    BN statistics and train/eval mode included. Bad input is one `LinpathError` line.

    The values are the plain loop's (load each interpolated state, run the data), computed
    with less work: the data goes to the device once; alpha = 1 (theta_b on every path) is
    evaluated once; a path whose moving entries sit behind the first stages of the forward
    pass (`landscape.stages`) starts from their cached output at theta_b. The cache holds at
    most `cache_bytes`; more data than fits is evaluated in chunks.

    Always in fp32: floating states are cast to float32 and any autocast region of the
    caller (bf16-mixed training) is switched off, so a curve does not depend on the
    training precision.

    `progress` (e.g. a tqdm bar's `update`) is called as the (path, alpha) points are done:
    the calls add up to one per point.
    """
    check_model(model)
    alphas = alpha_grid(alphas)
    if loss is not None:
        check_loss(loss)
    check_cache_bytes(cache_bytes)
    units = dict(units) if units is not None else discover_units(model)
    ends, moving, states = resolve_paths(model, theta_a, theta_b, theta_new, paths, units)
    device = model_device(model, device)
    batches = as_batches(data, device)
    recompute_batches = as_batches(bn_data, device, "bn_data") if bn_data is not None else None
    loss = loss if loss is not None else infer_loss(model, batches[0][0])
    curves = {}
    for start, end in dict.fromkeys(ends.values()):  # each pair of end states once, in order
        on_pair = {path: moving[path] for path in ends if ends[path] == (start, end)}
        curves |= evaluate_between(
            model, states[start], states[end], batches, alphas, on_pair, loss,
            recompute_batches, cache_bytes, progress,
        )  # fmt: skip
    return {path: curves[path] for path in ends}


def resolve_paths(model, theta_a, theta_b, theta_new, paths, units):
    """The requested paths (`unit/*` expanded), checked: (each path's pair of end states by
    name, each path's moving entries, the states by name), the states checked against
    `model` and theta_new required by a path that ends there."""
    requested = expand_paths(check_paths(paths), units)
    ends = {path: NEW_INIT_ENDS.get(path, ("theta_a", "theta_b")) for path in requested}
    needs_new = [path for path, (_, end) in ends.items() if end == "theta_new"]
    if needs_new and theta_new is None:
        raise EngineInputError(
            f"path {needs_new[0]!r} ends at a fresh draw from the initialiser: pass it as "
            "theta_new= (a state dict of a newly initialised model, theta_i')"
        )
    states = {"theta_a": theta_a, "theta_b": theta_b, "theta_new": theta_new}
    for name in ("theta_a", "theta_b", "theta_new") if needs_new else ("theta_a", "theta_b"):
        check_state(states[name], model, name)
    moving = {path: moving_keys(model, theta_b, path, units) for path in requested}
    return ends, moving, states


def evaluate_between(
    model: nn.Module,
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    batches: Sequence[Batch],
    alphas: list[float],
    moving: Mapping[str, list[str]],
    loss: str,
    recompute_batches: Sequence[Batch] | None,
    cache_bytes: int,
    progress: Callable[[float], object] | None,
) -> dict[str, dict[str, list[float]]]:
    """`evaluate_paths` between one pair of states, its input checked: `moving` names each
    path and the entries that move on it."""
    device = batches[0][0].device
    theta_a, theta_b = as_fp32(theta_a, device), as_fp32(theta_b, device)
    with without_autocast(device):
        work = working_copy(model, theta_b, recompute_batches)
        stages = stages_to_use(work, batches[0][0], moving.values())
        evaluator = PathEvaluator(
            work, stages, theta_a, theta_b, alphas, loss, recompute_batches, progress
        )
        starts = {path: first_stage_reading(stages, keys) for path, keys in moving.items()}
        boundaries = sorted({s for s in starts.values() if s > 0})
        per_example = evaluator.cached_bytes_per_example(batches[0][0], boundaries)
        work_chunks = list(chunks(batches, per_example, cache_bytes))
        for chunk in work_chunks:
            cached = evaluator.endpoint_pass(chunk, boundaries)
            for path, keys in moving.items():
                evaluator.evaluate_path(path, keys, starts[path], cached, 1 / len(work_chunks))
        return evaluator.curves(list(moving))
