"""Fig. 3 / Table A3's barrier runs, as a report states them: the scratch seeds tried, those
whose full path has a barrier, the barrier-initialised runs started from them, and each
offset left out because it would leave the path (`make fig3` skips it; never an abort)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from landscape.errors import LinpathError
from landscape.shape import stored_path_metrics
from lightning_modules.init import barrier_peak, offset_fits
from paper.settings import TargetSetting, best_per_seed, expected_settings
from paper.targets import Sweep, Target
from runs.store import Run

OFFSET = "init.offset="


@dataclass
class BarrierRuns:
    """What a target with a `SeedsUntil` sweep found among the runs."""

    sweep: Sweep
    wanted: int
    cap: int
    tried: list[Run]  # every run of the scratch setting, one per seed
    with_barrier: list[Run]
    started: list[Run]  # of those, the ones a barrier-initialised run started from
    skipped: list[str]  # offsets left out, one line each

    @property
    def headline(self) -> str:
        """One line for the figure's title."""
        return (
            f"{len(self.started)} barrier runs (wanted {self.wanted}) from "
            f"{len(self.tried)} scratch seeds tried (seed cap {self.cap})"
        )

    def markdown(self) -> str:
        seeds = lambda runs: ", ".join(str(r.seed) for r in runs) or "none"  # noqa: E731
        lines = [
            "",
            "## Barrier runs",
            "",
            f"Scratch seeds are trained in order until {self.wanted} have a full path with a "
            f"barrier (tolerant shape {self.sweep.until.shape}) or {self.cap} seeds were "
            "tried; each such run starts its own barrier-initialised runs.",
            "",
            f"- scratch seeds tried: {seeds(self.tried)} ({len(self.tried)})",
            f"- with a barrier: {seeds(self.with_barrier)} ({len(self.with_barrier)})",
            f"- barrier-initialised runs started from: {seeds(self.started)} "
            f"({len(self.started)} of the {self.wanted} wanted)",
        ]
        if not self.started:
            lines.append(
                "- no barrier-initialised run yet: the scratch rows are every scratch run found"
            )
        if self.skipped:
            lines += ["", "Offsets not run (they would leave the path):", ""]
            lines += [f"- {line}" for line in self.skipped]
        return "\n".join(lines) + "\n"


def barrier_runs(
    target: Target,
    by_key: dict[str, list[Run]],
    settings: Sequence[TargetSetting],
    scale: str,
    digits: bool = False,
) -> BarrierRuns | None:
    """The barrier runs of `target` (None for a target without a `SeedsUntil` sweep)."""
    until = next((s for s in target.sweeps if s.until), None)
    if until is None:
        return None
    tried = best_per_seed(
        [r for e in expected_settings((until,), scale, digits) for r in by_key.get(e.key, [])],
        lambda path: path == "full",
    )
    with_barrier = [r for r in tried if _shape(r) == until.until.shape]
    staged = [s for s in settings if s.sweep and s.sweep.from_sweep == until.name]
    done = {
        (_from(r), o.removeprefix(OFFSET))
        for setting in staged
        for r in setting.runs
        for o in setting.overrides
        if o.startswith(OFFSET)
    }
    sources = {source for source, _ in done}
    started = [r for r in with_barrier if _resolved(r) in sources]
    offsets = {
        o for s in target.sweeps if s.from_sweep == until.name for o in _offsets(s, scale, digits)
    }
    skipped = []
    for run in with_barrier:
        try:
            alphas, peak = barrier_peak(run.results, run.directory)
        except LinpathError:
            continue
        for offset in sorted(offsets, key=int):
            if (_resolved(run), offset) not in done and not offset_fits(alphas, peak, int(offset)):
                skipped.append(
                    f"seed {run.seed}, {OFFSET}{offset}: its barrier peaks at alpha "
                    f"{alphas[peak]:g} (grid step {peak} of {len(alphas)})"
                )
    wanted, cap = until.until.at(scale)
    return BarrierRuns(until, wanted, cap, tried, with_barrier, started, skipped)


def _shape(run: Run) -> str | None:
    if "full" not in run.results.get("paths", {}):
        return None
    return stored_path_metrics(run.results, "full").get("shape")


def _resolved(run: Run) -> Path:
    return Path(run.directory).resolve()


def _from(run: Run) -> Path | None:
    """The run a staged run started from."""
    source = run.results.get("init", {}).get("from_run")
    return None if source is None else Path(source).resolve()


def _offsets(sweep: Sweep, scale: str, digits: bool) -> list[str]:
    return [
        o.removeprefix(OFFSET)
        for expected in expected_settings((sweep,), scale, digits)
        for o in expected.overrides
        if o.startswith(OFFSET)
    ]
