"""`python -m benchmarks` (`make bench`): rows a-i, each a ratio of two ways measured side by
side in this one run, printed as one table and merged into bench_results/bench.json (the
rows run now replace their earlier entries; the others stay, each with when and at what
load it was measured)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from benchmarks.attribution import row_h
from benchmarks.engine import row_a, row_b, row_c, row_i
from benchmarks.planes import row_f, row_g
from benchmarks.timing import AGREEMENT
from benchmarks.training import row_d
from landscape.errors import LinpathError
from runs.artifacts import save_json_atomic

ROWS = "abcdefghi"
OUTPUT = Path(__file__).resolve().parents[1] / "bench_results" / "bench.json"
# Printed under a row's ratio when it has them (bench.json keeps everything).
BESIDE_THE_RATIO = (
    "baseline",
    "max_loss_difference",
    "fair_loop_ratio",
    "agrees",
    "final_weights_max_difference",
    "cpu_ratio",
    "validating_every_epoch_ratio",
    "residual_relative",
    "load_average",
    "error",
)


def row_e(repeats: int) -> dict:
    """CIFAR training pipeline images/s, on-device augmentation vs torchvision transforms +
    DataLoader (`benchmarks.pipeline`, by the vision suite); the speedup feeding a
    ResNet-18 SGD step is reported beside it (on a CPU the model's step dominates)."""
    from benchmarks.pipeline import measure

    # a user gives the DataLoader the cores this process may use
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result = measure(repeats=repeats, train_steps=2, workers=workers)
    ratio = result["pipeline_speedup"]
    return {
        "row": "e",
        "what": "CIFAR pipeline images/s: on-device augmentation / torchvision + DataLoader",
        "baseline": f"torchvision transforms + DataLoader, {workers} workers (the machine's "
        "cores), persistent workers, pin_memory on CUDA",
        "ratio": ratio,
        "target": ">= 5",
        "met": ratio >= 5 and result["model_inputs_max_difference"] <= AGREEMENT,
        **result,
    }


def table(rows: list[dict]) -> str:
    lines = [f"{'row':<4} {'ratio':>8} {'target':>8} {'met':>4}  what"]
    for row in rows:
        ratio = "-" if row.get("ratio") is None else f"{row['ratio']:.2f}"
        met = {True: "yes", False: "no"}.get(row.get("met"), "-")
        lines.append(f"{row['row']:<4} {ratio:>8} {row['target']:>8} {met:>4}  {row['what']}")
        for key in BESIDE_THE_RATIO:
            if key in row:
                lines.append(f"{'':<27}{key}: {row[key]}")
    return "\n".join(lines)


class BenchError(LinpathError):
    """A bad command line or an output file that cannot take the rows."""


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rows", default=ROWS, help=f"which rows to run, e.g. 'ad' (of {ROWS})")
    parser.add_argument("--repeats", default="2", help="timed rounds per row (>= 1)")
    parser.add_argument("--threads", default="1", help="torch CPU threads (>= 1)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.rows) - set(ROWS))
    if unknown or not args.rows:
        raise BenchError(
            f"--rows {args.rows!r}: unknown row(s) {unknown}; expected letters of {ROWS!r}"
        )
    for name in ("repeats", "threads"):
        value = getattr(args, name)
        if not value.isdigit() or int(value) < 1:
            raise BenchError(f"--{name} {value!r}: expected a whole number >= 1")
        setattr(args, name, int(value))
    return args


def earlier_rows(output: Path) -> dict[str, dict]:
    """The rows already in `output`, by name (none when it does not exist)."""
    if not output.exists():
        return {}
    try:
        return {row["row"]: row for row in json.loads(output.read_text())["rows"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BenchError(
            f"cannot merge the rows into {output}: not a bench.json ({error}); "
            "move it away or give --output"
        ) from error


def main(argv: list[str] | None = None) -> None:
    try:
        args = parse_arguments(argv)
        rows = earlier_rows(args.output)  # read first: a bad file fails before the work
    except BenchError as error:
        print(f"linpath: error: {error}", file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(args.threads)
    plan = {
        "a": lambda: row_a(examples=32, alphas=11, repeats=args.repeats),
        "b": lambda: row_b(examples=32, steps=10, repeats=args.repeats),
        "c": lambda: row_c(examples=512, alphas=4, repeats=args.repeats),
        "d": lambda: row_d(epochs=300, repeats=args.repeats),
        "e": lambda: row_e(repeats=args.repeats),
        "f": lambda: row_f(examples=64, points=21, repeats=args.repeats),
        "g": lambda: row_g(examples=64, points=21, repeats=args.repeats),
        "h": lambda: row_h(examples=256, alphas=11, repeats=args.repeats),
        "i": lambda: row_i(examples=360, alphas=11, repeats=args.repeats),
    }
    measured = []
    for name in dict.fromkeys(args.rows):
        load, started = [os.getloadavg()[0]], time.perf_counter()
        try:
            row = plan[name]()
        except (ImportError, NotImplementedError) as error:  # a missing part, not a bug here
            row = {"row": name, "what": "not measured", "target": "-", "error": repr(error)}
        load.append(os.getloadavg()[0])
        row["wall_s"] = time.perf_counter() - started
        row["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
        row["load_average"] = load  # 1 min, at the row's start and end
        row["machine"] = machine(args.threads)
        if "error" not in row or name not in rows:  # a missing part keeps an earlier figure
            rows[name] = row
        measured.append(row)
        print(f"row {name}: {row.get('ratio', '-')} ({row['wall_s']:.0f} s)", file=sys.stderr)
    print(table(measured))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_json_atomic(
        {"agreement_tolerance": AGREEMENT, "rows": [rows[name] for name in sorted(rows)]},
        args.output,
    )
    print(f"written: {args.output}")


def machine(threads: int) -> dict:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


if __name__ == "__main__":
    main()
