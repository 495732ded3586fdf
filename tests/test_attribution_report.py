"""The attribution report's numbers, from results.json entries written by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from paper.attribution_report import diagnosed, findings, seed_frame, unit_rows, unit_summary
from paper.settings import TargetSetting
from runs.store import Run

ALPHAS = [0.0, 0.5, 1.0]


def run(seed: int, shape: str, fractions: dict, unit_rises: dict, eigen=(1.0, 50.0, 5.0)):
    """A run whose full path rises 0.2 from 0 to 0.5, split by `fractions`."""
    hessian = [
        {"at": at, "alpha": a, "top_eigenvalue": e, "trace": 10 * e, "trace_standard_error": 1}
        for at, a, e in zip((0, "peak", 1), ALPHAS, eigen)
    ]
    attribution = {
        "parts": list(fractions),
        "change": -1.0,
        "total": {u: -f for u, f in fractions.items()},
        "barrier": {
            "start_alpha": 0.0,
            "peak_alpha": 0.5,
            "rise": 0.2,
            "residual": 1e-4,
            "fraction": fractions,
        },  # fmt: skip
    }
    paths = {
        "full": {
            "shape": shape,
            "diagnostics": {
                "partition": "units",
                "attribution": attribution,
                "curvature": {"along_path": [1.0, -3.0, 2.0], "hessian": hessian},
            },
        },  # fmt: skip
        **{
            f"unit/{u}": {"max_rise": r, "shape": "B" if r > 0.01 else "NB"}
            for u, r in unit_rises.items()
        },  # fmt: skip
    }
    return Run(Path(f"/runs/{seed}"), {"seed": seed, "alphas": ALPHAS, "paths": paths})


def frames(runs):
    setting = TargetSetting("spiral_mlp", (), runs, "spiral")
    rows = pd.DataFrame([row for r in runs for row in unit_rows(setting, r)])
    return rows, seed_frame(rows), unit_summary(rows)


def test_shares_per_unit_and_seed_with_rank_agreement_and_curvature():
    runs = [
        run(0, "B", {"a": 1.5, "b": -0.7, "c": 0.2}, {"a": 0.3, "b": 0.0, "c": 0.1}),
        run(1, "B", {"a": 1.1, "b": 0.2, "c": -0.3}, {"a": 0.0, "b": 0.0, "c": 0.0}),
        run(2, "NB", {"a": 9.0, "b": 9.0, "c": 9.0}, {"a": 0.0, "b": 0.0, "c": 0.0}),
    ]
    assert all(diagnosed(r) for r in runs)
    rows, seeds, summary = frames(runs)
    a = summary.set_index("unit").loc["a"]
    assert a["share_of_rise"] == pytest.approx(1.3) and a["share_of_rise_seeds"] == 2
    assert a["share_of_change"] == pytest.approx(1.0 * (1.5 + 1.1 + 9.0) / 3)
    first = seeds.set_index("seed").loc[0]
    assert first["top_unit_by_share"] == first["top_unit_by_unit_path"] == "a"
    assert first["spearman"] == pytest.approx(1.0)  # ranks (3, 1, 2) both ways
    assert first["curvature_at_peak"] == -3.0 and first["top_eigenvalue_at_peak"] == 50.0
    second, third = seeds.set_index("seed").loc[1], seeds.set_index("seed").loc[2]
    assert pd.isna(second["top_unit_by_unit_path"]) and math.isnan(second["spearman"])
    assert pd.isna(third["top_unit_by_share"]) and pd.isna(third["top_eigenvalue_at_peak"])
    words = findings(summary, seeds, "spiral_mlp")
    assert words.startswith("2 of 3 seeds' full paths have a barrier.")
    assert "a's: 1.30 of it" in words and "in 1 of those 2 seeds" in words
    assert "positive in 2 of 2 seeds" in words and "exceeds both ends' in 2" in words


def test_a_panel_without_a_barrier_says_so():
    runs = [run(s, "NB", {"a": 0.5, "b": 0.5}, {"a": 0.0, "b": 0.02}) for s in range(3)]
    _, seeds, summary = frames(runs)
    assert findings(summary, seeds, "spiral_mlp").startswith(
        "None of the 3 seeds' full paths has a barrier"
    )
    assert findings(summary, seeds, "spiral_mlp").endswith("Some unit path has one in 3 of them.")
