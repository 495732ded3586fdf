"""Lightning callbacks: thin adapters over the `landscape` engine."""

from callbacks.interpolation import InterpolationCallback
from callbacks.milestones import MilestoneCallback
from callbacks.trajectory import TrajectoryCallback

__all__ = ["InterpolationCallback", "MilestoneCallback", "TrajectoryCallback"]
