"""Finished runs and the store of them: what a run folder holds (results.json, its thetas,
its figure and summary), training identity, finding runs, reuse and re-evaluation."""
