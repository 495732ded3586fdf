"""The linear-path engine: plain PyTorch, no Lightning, importable from a notebook."""

from landscape.diagnostics import diagnose_paths
from landscape.errors import LinpathError
from landscape.evaluate import evaluate_paths, interpolate_state
from landscape.inputs import alpha_grid
from landscape.paths import PathError, discover_units, expand_paths, moving_keys
from landscape.shape import distance, shape_metrics

__all__ = [
    "LinpathError",
    "PathError",
    "alpha_grid",
    "diagnose_paths",
    "discover_units",
    "distance",
    "evaluate_paths",
    "expand_paths",
    "interpolate_state",
    "moving_keys",
    "shape_metrics",
]
