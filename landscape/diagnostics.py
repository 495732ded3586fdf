"""Attribution, curvature and agreement along straight paths: `diagnose_paths`.

At every alpha of a path one forward and backward pass over the evaluation data gives the
gradient of the mean loss at theta(alpha) in every entry the path moves, BN running
statistics included (under `bn=interpolate` they move with the rest, so they get their
share; `landscape.statistics` gets their gradients). `landscape.attribution` turns the
gradients into each part's share of the curve. With `curvature`, forward-mode
differentiation of that gradient in the path's direction gives delta^T H delta =
d2L/dalpha2 in the same pass, and at a few alphas the Hessian's top eigenvalue and trace
(`landscape.curvature`). `agreement` counts the examples predicted as at either end.

Plain PyTorch like `evaluate_paths`, with the same arguments and the same care: the model is
left as found, the state is cast to float32, autocast is off, a unit or group path runs the
network from the first stage its entries sit in (the stages before it are computed once per
chunk of data, at theta_b), and `sharded=True` splits the examples over the ranks of a
torch.distributed job, summing their gradients, so every rank gets the whole result.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, jvp
from torch.nn.attention import SDPBackend, sdpa_kernel

from landscape.attribution import PARTITIONS, attribution, barrier_points, partition_keys
from landscape.curvature import hutchinson_trace, top_eigenvalue
from landscape.distributed import all_reduce_sum, rank_and_world
from landscape.evaluate import (
    DEFAULT_CACHE_BYTES,
    as_fp32,
    batch_loss_and_correct,
    chunks,
    resolve_paths,
    run_stages,
    stages_to_use,
    without_autocast,
    working_copy,
)
from landscape.inputs import (
    EngineInputError,
    alpha_grid,
    as_batches,
    check_cache_bytes,
    check_loss,
    check_model,
    infer_loss,
    model_device,
)
from landscape.paths import PathError, discover_units
from landscape.stages import first_stage_reading
from landscape.statistics import StatisticsChain, statistics_as_inputs

DIAGNOSTICS = ("attribution", "curvature", "agreement")
# Hessian points: numbers are alphas; `start` and `peak` the barrier's (landscape.attribution)
BARRIER_POINTS = ("start", "peak")
DEFAULT_HESSIAN = {"alphas": (0.0, "peak", 1.0), "iters": 50, "probes": 20, "seed": 0}

Loss = str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
State = Mapping[str, torch.Tensor]


def differentiable_copy(model: nn.Module, state: State, fused: bool) -> nn.Module:
    """`working_copy` of `model` holding `state`, its own parameters needing no gradient (the
    moving entries are inputs); unless `fused` (BN statistics' gradients by the chain rule
    through the fused kernel), its BN layers take their running statistics as inputs
    (`landscape.statistics`)."""
    work = working_copy(model, state, None).requires_grad_(False)
    if not fused:
        statistics_as_inputs(work)
    return work


class _FromStage(nn.Module):
    """`work`'s forward from one stage on, as a module `functional_call` can re-parametrise."""

    def __init__(self, work: nn.Module, stages):
        super().__init__()
        self.work, self.stages = work, stages

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return run_stages(self.stages, hidden)


def summed_loss(logits: torch.Tensor, targets: torch.Tensor, loss: Loss) -> torch.Tensor:
    if callable(loss):
        return loss(logits, targets)
    return batch_loss_and_correct(logits, targets, loss)[0]


def predictions(logits: torch.Tensor, loss: Loss) -> torch.Tensor:
    """The predicted class: the sign of a single output, else the largest output."""
    if loss == "bce" or logits.dim() == 1 or logits.shape[1] == 1:
        return logits.reshape(-1) > 0
    return logits.argmax(dim=1)


def shard_examples(batches: Sequence, rank: int, world: int) -> list:
    """This rank's examples: every `world`-th of each batch, from `rank`."""
    pieces = [(x[rank::world], y[rank::world]) for x, y in batches]
    return [(x, y) for x, y in pieces if y.shape[0] > 0]


class PathDiagnosis:
    """The diagnostics of one path: `work` holds theta_b, the path moves `keys`."""

    def __init__(self, work, stages, theta_a: State, theta_b: State, keys, parts, loss, wanted,
                 hessian: Mapping, reduce: Callable[[torch.Tensor], torch.Tensor],
                 chain: StatisticsChain | None):  # fmt: skip
        self.work, self.loss, self.wanted, self.hessian = work, loss, wanted, hessian
        self.theta_a, self.theta_b, self.keys, self.reduce = theta_a, theta_b, keys, reduce
        self.chain = chain  # None: the statistics are inputs of `work`'s BN layers
        self.delta = {k: theta_b[k] - theta_a[k] for k in keys}
        self.start = first_stage_reading(stages, keys)
        self.prefix_stages = stages[: self.start]
        self.runner = _FromStage(work, stages[self.start :])
        self.part_names = list(parts)
        part_of = {k: i for i, keys_of in enumerate(parts.values()) for k in keys_of}
        device = next(iter(theta_b.values())).device
        self.part_index = torch.tensor([part_of[k] for k in keys], device=device)

    def point(self, alpha: float) -> dict[str, torch.Tensor]:
        return {k: torch.lerp(self.theta_a[k], self.theta_b[k], alpha) for k in self.keys}

    @torch.no_grad()
    def prefix(self, inputs: torch.Tensor) -> torch.Tensor:
        """The input of the first stage the path moves: at theta_b, like every stage before."""
        return run_stages(self.prefix_stages, inputs) if self.prefix_stages else inputs

    def _logits(self, point: State, hidden: torch.Tensor) -> torch.Tensor:
        return functional_call(self.runner, {f"work.{k}": v for k, v in point.items()}, hidden)

    def _loss(self, point: State, hidden, targets):
        logits = self._logits(point, hidden)
        summed = summed_loss(logits, targets, self.loss)
        return summed, (summed.detach(), logits.detach())

    def _gradient(self, point: State, hidden, targets):
        """The gradient of the batch's summed loss in the moving entries, by reverse mode."""
        if self.chain is None:
            leaves, held = {k: v.detach().requires_grad_() for k, v in point.items()}, {}
        else:
            leaves, held = self.chain.split(point)
        with torch.enable_grad():
            summed, (_, logits) = self._loss({**held, **leaves}, hidden, targets)
            found = torch.autograd.grad(summed, list(leaves.values()), allow_unused=True)
        found = {k: torch.zeros_like(leaves[k]) if g is None else g for k, g in zip(leaves, found)}
        gradient = found if self.chain is None else self.chain.gradient(found, point)
        return gradient, summed.detach(), logits

    def _summed(self, held: State, hidden, targets, variables: State) -> torch.Tensor:
        return self._loss({**held, **variables}, hidden, targets)[0]

    def _along(self, per_key: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Each key's product with delta, summed within each part (float64)."""
        dots = torch.stack([(per_key[k] * self.delta[k]).sum() for k in self.keys]).double()
        parts = dots.new_zeros(len(self.part_names))
        return parts.index_add_(0, self.part_index, dots)

    def step(self, point: State, hidden, targets, ends) -> torch.Tensor:
        """One batch at one alpha: [summed loss, delta^T H delta, agreement with the start,
        with the end, each part's grad . delta], summed over the batch's examples."""
        row = torch.zeros(4 + len(self.part_names), dtype=torch.float64, device=targets.device)
        if "curvature" in self.wanted:
            gradient, product, (summed, logits) = jvp(
                grad(lambda p: self._loss(p, hidden, targets), has_aux=True),
                (dict(point),),
                (self.delta,),
                has_aux=True,
            )
            row[1] = self._along(product).sum()
            row[4:] = self._along(gradient)
        elif "attribution" in self.wanted:
            gradient, summed, logits = self._gradient(point, hidden, targets)
            row[4:] = self._along(gradient)
        else:
            with torch.no_grad():
                summed, (_, logits) = self._loss(point, hidden, targets)
        row[0] = summed.double()
        if ends is not None:
            predicted = predictions(logits, self.loss)
            row[2] = (predicted == ends[0]).sum()
            row[3] = (predicted == ends[1]).sum()
        return row

    def run(self, batches, alphas: list[float], cache_bytes: int, reading: Mapping) -> dict:
        """Every alpha over every batch (chunk by chunk), then the sums of all ranks."""
        sums = torch.zeros(len(alphas), 4 + len(self.part_names), dtype=torch.float64)
        sums = sums.to(self.part_index.device)
        count = torch.zeros((), dtype=torch.float64, device=sums.device)
        per_example = self._prefix_bytes(batches[0][0]) if batches else 0
        ends_of = {0.0: self.point(0.0), 1.0: self.point(1.0)}
        for chunk in chunks(batches, per_example, cache_bytes) if batches else ():
            kept = [(self.prefix(x), y) for x, y in chunk]
            ends = [self._ends(hidden, ends_of) for hidden, _ in kept]
            for j, alpha in enumerate(alphas):
                point = self.point(alpha)
                for (hidden, targets), end in zip(kept, ends):
                    sums[j] += self.step(point, hidden, targets, end)
            count += sum(y.shape[0] for _, y in chunk)
        sums, count = self.reduce(sums), float(self.reduce(count))
        if count == 0:
            raise PathError("no examples to evaluate the path's diagnostics on")
        mean = (sums / count).tolist()
        losses = [row[0] for row in mean]
        out: dict = {"loss": losses}
        if "attribution" in self.wanted:
            rates = {u: [row[4 + i] for row in mean] for i, u in enumerate(self.part_names)}
            out["attribution"] = attribution(alphas, losses, rates, reading)
        if "curvature" in self.wanted:
            out["curvature"] = {
                "along_path": [row[1] for row in mean],
                "hessian": self.hessian_points(alphas, losses, batches, count, reading),
            }
        if "agreement" in self.wanted:
            out["agreement"] = {
                "with_start": [row[2] for row in mean],
                "with_end": [row[3] for row in mean],
            }
        return out

    @torch.no_grad()
    def _prefix_bytes(self, inputs: torch.Tensor) -> int:
        if not self.prefix_stages:
            return 0
        hidden = self.prefix(inputs[:1])
        return hidden.numel() * hidden.element_size()

    @torch.no_grad()
    def _ends(self, hidden, ends_of) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Predictions at the path's two ends, for `agreement`."""
        if "agreement" not in self.wanted:
            return None
        return tuple(predictions(self._logits(ends_of[a], hidden), self.loss) for a in (0.0, 1.0))

    # ---- the Hessian at a few alphas ----------------------------------------------------
    def hessian_points(self, alphas, losses, batches, count: float, reading: Mapping):
        """Top eigenvalue and trace of the Hessian over the path's moving parameters (BN
        statistics held where the path has them) at each of the `hessian` alphas; an alpha
        named twice (the peak at 1) is computed once."""
        barrier = barrier_points(alphas, losses, **reading)
        parameters = {name for name, _ in self.work.named_parameters()}
        wanted = [k for k in self.keys if k in parameters]
        done: dict[float, dict] = {}
        entries = []
        for at in self.hessian["alphas"]:
            if isinstance(at, str) and barrier is None:
                entries.append({"at": at, "alpha": None, "note": "the path has no barrier"})
                continue
            alpha = alphas[barrier[BARRIER_POINTS.index(at)]] if isinstance(at, str) else at
            alpha = float(alpha)
            if alpha not in done:
                point = self.point(alpha)
                like = {k: point[k] for k in wanted}
                product = self._hessian_product(point, wanted, batches, count)
                generator = torch.Generator().manual_seed(int(self.hessian["seed"]))
                done[alpha] = {
                    **top_eigenvalue(product, like, int(self.hessian["iters"]), generator),
                    **hutchinson_trace(product, like, int(self.hessian["probes"]), generator),
                }
            entries.append({"at": at, "alpha": alpha, **done[alpha]})
        return entries

    def _hessian_product(self, point: State, wanted: list[str], batches, count: float):
        held = {k: v for k, v in point.items() if k not in wanted}
        variables = {k: point[k] for k in wanted}

        def product(vector: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            total = {k: torch.zeros_like(v) for k, v in variables.items()}
            for inputs, targets in batches:
                summed = functools.partial(self._summed, held, self.prefix(inputs), targets)
                _, part = jvp(grad(summed), (variables,), (dict(vector),))
                for k in total:
                    total[k] += part[k]
            return {k: self.reduce(v) / count for k, v in total.items()}

        return product


def diagnose_paths(
    model: nn.Module,
    theta_a: State,
    theta_b: State,
    data,
    alphas: int | Sequence[float] = (0.0, 0.5, 1.0),
    paths: Sequence[str] = ("full",),
    diagnostics: Iterable[str] = DIAGNOSTICS,
    partition: str = "units",
    loss: Loss | None = None,
    theta_new: State | None = None,
    units: Mapping[str, list[str]] | None = None,
    hessian: Mapping | None = None,
    thresholds: Mapping | None = None,
    read_from_end: Iterable[str] = (),
    device: torch.device | str | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    sharded: bool = False,
) -> dict[str, dict]:
    """Per path from theta_a (alpha = 0) to theta_b: the `diagnostics` asked for.

    - `attribution`: each part (`partition`: units, groups or weights_biases) of the state's
      share of the loss curve (`landscape.attribution.attribution`), the residual beside it;
    - `curvature`: `along_path`, d2L/dalpha2 at every alpha, and `hessian`, at each of
      `hessian["alphas"]` (numbers, or `start` / `peak` of the barrier) the top eigenvalue
      (power iteration, at most `iters` products) and Hutchinson's trace (`probes`
      Rademacher probes, with its standard error), over the path's moving parameters;
    - `agreement`: per alpha, the fraction of examples predicted as at alpha = 0
      (`with_start`) and at alpha = 1 (`with_end`).

    The arguments shared with `evaluate_paths` mean the same (integer `alphas`, `unit/*`,
    the new-init paths through `theta_new`, `loss` inferred when None); `loss` may also be
    a function (outputs, targets) -> summed loss. The barrier is where results.json puts it
    (`landscape.shape`, with `thresholds`: its tolerances and `end_rise_as_barrier`); the
    paths in `read_from_end` are read from alpha = 1 back (a trained state to a new init).
    Every path also gets `loss`, its mean loss per alpha as computed here. `sharded=True`
    splits the examples over the process group (every rank calls it alike and gets it all).
    """
    check_model(model)
    alphas = alpha_grid(alphas)
    wanted = list(diagnostics)
    unknown = [d for d in wanted if d not in DIAGNOSTICS]
    if unknown:
        raise EngineInputError(
            f"unknown diagnostics {unknown}; expected some of {list(DIAGNOSTICS)}"
        )
    if partition not in PARTITIONS:
        raise EngineInputError(
            f"unknown partition {partition!r}; expected one of {list(PARTITIONS)}"
        )
    if loss is not None and not callable(loss):
        check_loss(loss)
    check_cache_bytes(cache_bytes)
    units = dict(units) if units is not None else discover_units(model)
    ends, moving, states = resolve_paths(model, theta_a, theta_b, theta_new, paths, units)
    device = model_device(model, device)
    batches = as_batches(data, device)
    loss = loss if loss is not None else infer_loss(model, batches[0][0])
    hessian = {**DEFAULT_HESSIAN, **(hessian or {})}
    rank, world = rank_and_world() if sharded else (0, 1)
    reduce = all_reduce_sum if world > 1 else (lambda t: t)
    mine = shard_examples(batches, rank, world)
    first_order = "curvature" not in wanted
    reading, backwards = dict(thresholds or {}), set(read_from_end)  # how to read the barrier
    found = {}
    # first order (attribution) through the fused BN kernel, unless curvature needs more or
    # a BN layer has no weight and bias to take the chain rule through
    fused = first_order and StatisticsChain.usable(model)
    for start, end in dict.fromkeys(ends.values()):  # each pair of end states once, in order
        state_a, state_b = as_fp32(states[start], device), as_fp32(states[end], device)
        # forward-mode differentiation (curvature) takes attention through the math kernel:
        # the fused ones (flash, memory-efficient) have no forward derivative
        math_attention = contextlib.nullcontext() if first_order else sdpa_kernel(SDPBackend.MATH)
        with without_autocast(device), math_attention:
            work = differentiable_copy(model, state_b, fused)
            on_pair = {path: moving[path] for path in ends if ends[path] == (start, end)}
            stages = stages_to_use(work, batches[0][0], on_pair.values())
            for path, keys in on_pair.items():
                diagnosis = PathDiagnosis(
                    work, stages, state_a, state_b, keys,
                    partition_keys(model, keys, partition, units), loss, wanted, hessian,
                    reduce, StatisticsChain(work, keys) if fused else None,
                )  # fmt: skip
                found[path] = {
                    "partition": partition,
                    **diagnosis.run(
                        mine, alphas, cache_bytes, reading | {"read_from_end": path in backwards}
                    ),
                }
    return {path: found[path] for path in ends}
