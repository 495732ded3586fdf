"""`python -m sweeps.stage latest EXPERIMENT`: the newest finished run, for the next stage.

Staged make targets (barrier_init, partial_pretraining, ...) pass an earlier run on as
`init.from_run=DIR` or `optim.groups_from=DIR`; this prints that DIR. `--with key=value`
keeps runs that have the override, `--shape B` runs whose full path has that shape, and
`--scale` runs at that scale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from landscape.errors import LinpathError
from sweeps.runs import ReportError, Run, Setting, load_runs

ROOTS = ("multirun", "outputs")


def latest_run(
    experiment: str,
    overrides: Sequence[str] = (),
    shape: str | None = None,
    scale: str | None = None,
    roots: Sequence[str | Path] = ROOTS,
) -> Run:
    """The newest run of `experiment` under `roots` that meets every condition."""
    dirs = [Path(root) / experiment for root in roots]
    runs = [r for r in load_runs(dirs) if r.experiment == experiment]
    if scale:
        runs = [r for r in runs if r.scale == scale]
    runs = [r for r in runs if all(Setting(experiment, r.setting).has(o) for o in overrides)]
    if shape:
        runs = [r for r in runs if r.results["paths"].get("full", {}).get("shape") == shape]
    if not runs:
        conditions = [*overrides, *([f"full path {shape}"] if shape else [])]
        conditions += [f"scale={scale}"] if scale else []
        where = f" with {', '.join(conditions)}" if conditions else ""
        raise ReportError(
            f"no finished run of {experiment}{where} under {[str(d) for d in dirs]}; "
            f"run that stage first"
        )
    return max(runs, key=lambda r: r.modified)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.stage", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    latest = commands.add_parser("latest", help="print the newest run directory of EXPERIMENT")
    latest.add_argument("experiment")
    latest.add_argument(
        "--with", dest="overrides", action="append", default=[], metavar="KEY=VALUE"
    )
    latest.add_argument("--shape", choices=("NB", "B", "P"))
    latest.add_argument("--scale", choices=("full", "smoke"))
    args = parser.parse_args(argv)
    try:
        run = latest_run(args.experiment, args.overrides, args.shape, args.scale)
    except LinpathError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        return 2
    print(run.directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
