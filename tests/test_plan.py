"""The plan: a target's runs composed as make launches them, counted once per training."""

from __future__ import annotations

from sweeps.plan import main as plan_main
from sweeps.plan import plan_rows, summary


def test_runs_that_train_the_same_way_count_once():
    """fig1b's base runs are fig7's weight decay 5e-4 runs: 2 + 12 runs, 12 trainings."""
    rows = dict(plan_rows(["fig1b", "fig7"], "smoke"))
    fig1b, fig7, everything = (summary(rows[n], {}) for n in ("fig1b", "fig7", "all"))
    assert (fig1b["runs"], fig1b["distinct"]) == (2, 2)
    assert (fig7["runs"], fig7["distinct"], fig7["to_train"]) == (12, 12, 12)
    assert (everything["runs"], everything["distinct"]) == (14, 12)
    assert everything["epochs"] == 12 * 2  # smoke: two epochs each
    # a training that exists is not to train
    existing = {rows["fig1b"][0].training_id: "somewhere"}
    assert summary(rows["all"], existing)["to_train"] == 11


def test_staged_runs_are_counted_as_to_train(capsys):
    rows = dict(plan_rows(["fig3"], "smoke"))
    jobs = rows["fig3"]
    assert len(jobs) == 2 + 6  # its no-WD base sweep first, then barrier_init
    assert sum(j.staged for j in jobs) == 6  # barrier_init: 3 offsets x 2 seeds
    assert summary(jobs, {j.training_id: "x" for j in jobs})["to_train"] == 6
    assert plan_main(["nonsense"]) == 2
    assert "unknown target 'nonsense'" in capsys.readouterr().err
