"""Lightning callbacks: thin adapters over the `landscape` engine."""

from callbacks.interpolation import InterpolationCallback

__all__ = ["InterpolationCallback"]
