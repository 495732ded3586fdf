"""The Hessian seen through its products with vectors: top eigenvalue and trace.

Both take `hvp`, a function from a vector (a dict of tensors shaped like `like`) to the
Hessian times it, so they work for any loss whose Hessian-vector product can be formed
(`landscape.diagnostics` forms it with forward-over-reverse differentiation). Random
vectors come from a seeded CPU generator, so every process (and every device) draws the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

Vector = dict[str, torch.Tensor]
HVP = Callable[[Vector], Vector]
POWER_TOLERANCE = 1e-6  # stop once the eigenvalue changes by less than this, relatively


def dot(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    return float(sum((a[k].double() * b[k].double()).sum() for k in a))


def _scaled(vector: Vector, factor: float) -> Vector:
    return {k: v * factor for k, v in vector.items()}


def _draw(like: Mapping[str, torch.Tensor], generator: torch.Generator, rademacher: bool) -> Vector:
    if rademacher:
        draw = lambda t: torch.randint(0, 2, t.shape, generator=generator) * 2.0 - 1.0  # noqa: E731
    else:
        draw = lambda t: torch.randn(t.shape, generator=generator)  # noqa: E731
    return {k: draw(t).to(t.device, t.dtype) for k, t in like.items()}


def top_eigenvalue(
    hvp: HVP, like: Mapping[str, torch.Tensor], iters: int, generator: torch.Generator
) -> dict:
    """The Hessian's eigenvalue of largest magnitude by power iteration (at a trained state
    the largest positive one): at most `iters` products, fewer once it changes by less than
    POWER_TOLERANCE relatively. `relative_change` says how settled it was at the end."""
    vector = _draw(like, generator, rademacher=False)
    vector = _scaled(vector, 1 / math.sqrt(dot(vector, vector)))
    eigenvalue, change, done = 0.0, math.inf, 0
    while done < iters:
        done += 1
        product = hvp(vector)
        estimate = dot(vector, product)  # Rayleigh quotient of a unit vector
        norm = math.sqrt(dot(product, product))
        change = abs(estimate - eigenvalue) / max(abs(estimate), 1e-30)
        eigenvalue = estimate
        if norm == 0.0 or change < POWER_TOLERANCE:
            break
        vector = _scaled(product, 1 / norm)
    return {"top_eigenvalue": eigenvalue, "iterations": done, "relative_change": change}


def hutchinson_trace(
    hvp: HVP, like: Mapping[str, torch.Tensor], probes: int, generator: torch.Generator
) -> dict:
    """Hutchinson's estimate of the trace, the mean of z^T H z over Rademacher probes z,
    with its standard error (the probes' standard deviation / sqrt(probes))."""
    samples = []
    for _ in range(probes):
        probe = _draw(like, generator, rademacher=True)
        samples.append(dot(probe, hvp(probe)))
    values = torch.tensor(samples, dtype=torch.float64)
    error = float(values.std() / math.sqrt(probes)) if probes > 1 else None
    return {"trace": float(values.mean()), "trace_standard_error": error, "probes": probes}
