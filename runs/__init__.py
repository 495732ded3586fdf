"""Finished runs and the store of them: what a run folder holds (results.json, its thetas,
its figure and summary), training identity, finding runs, reuse and re-evaluation.
`load_run(run_dir)` gives one back to a notebook."""

from runs.load import load_run

__all__ = ["load_run"]
