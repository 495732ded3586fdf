"""`python -m benchmarks` (`make bench`): rows a-g, each a ratio of two ways measured side by
side in this one run, printed as one table and written to bench_results/bench.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from benchmarks.engine import row_a, row_b, row_c, row_g
from benchmarks.planes import row_f
from benchmarks.training import row_d

OUTPUT = Path(__file__).resolve().parents[1] / "bench_results" / "bench.json"
# Printed under a row's ratio when it has them (bench.json keeps everything).
BESIDE_THE_RATIO = (
    "max_loss_difference",
    "final_weights_max_difference",
    "cpu_ratio",
    "validating_every_epoch_ratio",
    "load_average",
    "error",
)


def row_e(repeats: int) -> dict:
    """CIFAR training pipeline images/s, on-device augmentation vs torchvision transforms +
    DataLoader (`benchmarks.pipeline`, by the vision suite); the speedup feeding a
    ResNet-18 SGD step is reported beside it (on a CPU the model's step dominates)."""
    from benchmarks.pipeline import measure

    result = measure(repeats=repeats, train_steps=2)
    ratio = result["pipeline_speedup"]
    return {
        "row": "e",
        "what": "CIFAR pipeline images/s: on-device augmentation / torchvision + DataLoader",
        "ratio": ratio,
        "target": ">= 5",
        "met": ratio >= 5,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="abcdefg", help="which rows to run, e.g. 'ad'")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds per row")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    plan = {
        "a": lambda: row_a(examples=32, alphas=11, repeats=args.repeats),
        "b": lambda: row_b(examples=32, steps=10, repeats=args.repeats),
        "c": lambda: row_c(examples=512, alphas=4, repeats=args.repeats),
        "d": lambda: row_d(epochs=300, repeats=args.repeats),
        "e": lambda: row_e(repeats=args.repeats),
        "f": lambda: row_f(examples=64, points=21, repeats=args.repeats),
        "g": lambda: row_g(examples=360, alphas=11, repeats=args.repeats),
    }
    rows = []
    for name in args.rows:
        started = time.perf_counter()
        try:
            row = plan[name]()
        except (ImportError, NotImplementedError) as error:  # a missing part, not a bug here
            row = {"row": name, "what": "not measured", "target": "-", "error": repr(error)}
        row["wall_s"] = time.perf_counter() - started
        rows.append(row)
        print(f"row {name}: {row.get('ratio', '-')} ({row['wall_s']:.0f} s)", file=sys.stderr)
    print(table(rows))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "rows": rows,
    }
    args.output.write_text(json.dumps(report, indent=2))
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
