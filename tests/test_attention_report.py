"""The attention report from hand-made runs: interventions against their own controls,
shapes read again from the curves (end rises apart from barriers), intervals, and modular
addition's milestones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paper.attention import ATTENTION_ROWS, ATTENTION_SWEEPS, read_again
from paper.report import main as report_main
from paper.targets import TARGETS
from runs.store import Run
from tests.test_report import read_csv, write_run

RISE_AT_END = [2.3, 1.0, 0.4, 0.2, 0.5]  # a rise that never comes down: ER
RISE_INSIDE = [2.3, 1.0, 1.5, 0.4, 0.3]
ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0]


def with_full_curve(run: Path, loss: list[float]) -> None:
    """The run's curves replaced; its stored shape labels left as they were (stale)."""
    path = run / "results.json"
    results = json.loads(path.read_text())
    results["alphas"] = ALPHAS
    for entry in results["paths"].values():
        entry.update(loss=loss, acc=[0.1, 0.5, 0.8, 0.9, 0.9])
    path.write_text(json.dumps(results))


def test_shapes_are_read_again_from_the_curves():
    """A run written before end rises were told apart says B; read again, it says ER."""
    entry = {"loss": RISE_AT_END, "acc": [0.1] * 5, "shape": "B", "strict_shape": "B"}
    run = Run(Path("old"), {"alphas": ALPHAS, "paths": {"full": entry}})
    again = read_again(run).results["paths"]["full"]
    assert (again["shape"], again["strict_shape"]) == ("ER", "ER")
    inside = read_again(Run(Path("old"), {"alphas": ALPHAS, "paths": {"full": {
        **entry, "loss": RISE_INSIDE}}})).results["paths"]["full"]  # fmt: skip
    assert (inside["shape"], inside["barrier_peak_alpha"]) == ("B", 0.5)
    assert run.results["paths"]["full"]["shape"] == "B"  # the run itself is left alone


def test_every_row_runs_under_make_attention():
    experiments = set(TARGETS["attention"].experiments)
    assert {s.experiment for s in ATTENTION_SWEEPS} <= experiments
    assert {s.experiment for row in ATTENTION_ROWS for s in row.settings} <= experiments


def test_interventions_against_their_controls_with_milestones(tmp_path: Path):
    root = tmp_path / "multirun"
    units = {"full": ("NB", 0.0), "unit/blocks.0.attn": ("B", 0.2)}
    for seed, acc in enumerate([0.95, 0.97]):  # the control: AdamW
        run = write_run(root / "adamw" / str(seed), "vit_digits", seed, [], acc, paths=units)
        with_full_curve(run, [2.3, 1.2, 0.6, 0.3, 0.2])
    for seed, acc in enumerate([0.60, 0.70]):  # SGD: an end rise and a barrier inside
        run = write_run(root / "sgd" / str(seed), "vit_optimizer", seed, [], acc,
                        paths={"full": ("B", 0.1), "unit/blocks.0.attn": ("B", 0.5)})  # fmt: skip
        with_full_curve(run, [RISE_AT_END, RISE_INSIDE][seed])
    diverged = write_run(root / "sgd" / "2", "vit_optimizer", 2, [], 0.1)  # counted, not averaged
    results = json.loads((diverged / "results.json").read_text())
    (diverged / "results.json").write_text(json.dumps({**results, "diverged": True}))
    for seed in range(2):  # modular addition: memorised at 40, generalised at 300 or never
        run = write_run(root / "modadd" / str(seed), "modadd", seed, [], 0.99 - 0.5 * seed)
        memorised = {"metric": "train/acc", "at_least": 1.0, "epoch": 40, "train_acc": 1.0,
                     "test_acc": 0.05, "paths": {"full": {"loss": RISE_INSIDE, "shape": "B",
                     "strict_shape": "B", "max_rise": 0.5},
                     "unit/lm_head": {"loss": RISE_AT_END, "shape": "B"}}}  # fmt: skip
        generalised = {"metric": "val/acc", "at_least": 0.95, "epoch": [300, None][seed]}
        (run / "milestones.json").write_text(json.dumps({
            "alphas": ALPHAS, "max_epochs": 500,
            "milestones": {"memorised": memorised, "generalised": generalised},
        }))  # fmt: skip
    out = tmp_path / "reports"
    assert report_main(["attention", str(root), "--out", str(out)]) == 0
    (row,) = read_csv(out / "attention" / "attention.csv")
    assert (row["intervention"], row["control"]) == (
        "SGD with momentum instead of AdamW",
        "AdamW (vit_digits)",
    )
    assert (row["full_tolerant"], row["control_full_tolerant"]) == ("0/1/0/1", "2/0/0/0")
    assert (row["seeds"], row["diverged"], row["control_diverged"]) == ("2", "1", "0")
    assert float(row["test_acc"]) == pytest.approx(65.0)
    assert float(row["control_test_acc"]) == pytest.approx(96.0)
    assert float(row["test_acc_ci_low"]) == pytest.approx(60.0)  # two seeds: the range
    assert float(row["test_acc_ci_high"]) == pytest.approx(70.0)
    assert (row["unit_barriers"], row["test_acc_vs_control"]) == ("H-LB", "Worse")
    markdown = (out / "attention" / "attention.md").read_text()
    assert "| 2 (2) | 1 of 3 (0 of 2) | 0/1/0/1 |" in markdown
    assert "| modadd | 0 | memorised | 40 (500) | 100.00 | 5.00 | B | B | 0.5000 |" in (markdown)
    assert "0/0/0/1 |" in markdown  # the unit path to the memorised state: an end rise
    assert "| modadd | 1 | generalised | - (500) |" in markdown
    assert (out / "attention" / "attention.png").is_file()
    paths = {
        (r["setting"], r["path"]): r for r in read_csv(out / "attention" / "attention_paths.csv")
    }
    assert paths[("vit_optimizer", "unit/blocks.0.attn")]["seeds"] == "2"
