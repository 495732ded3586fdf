"""Lightning callbacks: thin adapters over the `landscape` engine."""

from callbacks.interpolation import InterpolationCallback
from callbacks.trajectory import TrajectoryCallback

__all__ = ["InterpolationCallback", "TrajectoryCallback"]
