"""`python -m benchmarks`: its command line, the merge into bench.json, and the verdicts
(a row is met only when its two ways agree)."""

from __future__ import annotations

import json

import pytest

import benchmarks.__main__ as bench
from benchmarks import planes
from benchmarks.timing import AGREEMENT, agreement


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--rows", "z"], "--rows 'z': unknown row(s) ['z']; expected letters of 'abcdefghi'"),
        (["--repeats", "0"], "--repeats '0': expected a whole number >= 1"),
        (["--threads", "two"], "--threads 'two': expected a whole number >= 1"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(arguments, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        bench.main([*arguments, "--output", str(tmp_path / "bench.json")])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"linpath: error: {message}"]
    assert not (tmp_path / "bench.json").exists()


def test_rows_are_merged_into_the_existing_file(monkeypatch, tmp_path, capsys):
    output = tmp_path / "bench.json"
    earlier = [{"row": r, "ratio": 1.0, "target": "-", "what": f"old {r}"} for r in "ac"]
    output.write_text(json.dumps({"rows": earlier}))
    monkeypatch.setattr(bench, "row_c", lambda **_: {"row": "c", "ratio": 3.0, "target": "-",
                                                     "what": "new c"})  # fmt: skip
    monkeypatch.setattr(bench, "row_b", lambda **_: {"row": "b", "ratio": 2.0, "target": "-",
                                                     "what": "new b"})  # fmt: skip

    def missing_package(**_):
        raise ImportError("no module named loss_landscapes")

    monkeypatch.setattr(bench, "row_a", missing_package)
    bench.main(["--rows", "cba", "--output", str(output)])
    rows = json.loads(output.read_text())["rows"]
    # a row that could not be measured now keeps its earlier figure
    assert [(r["row"], r["what"]) for r in rows] == [("a", "old a"), ("b", "new b"), ("c", "new c")]
    assert len(rows[1]["load_average"]) == 2 and "measured_at" in rows[1]
    printed = capsys.readouterr().out
    assert "new c" in printed and "old a" not in printed  # the table shows what ran now


def test_a_file_that_is_not_a_bench_json_is_refused_before_any_work(tmp_path, capsys):
    output = tmp_path / "bench.json"
    output.write_text("{")
    with pytest.raises(SystemExit):
        bench.main(["--rows", "a", "--output", str(output)])
    assert capsys.readouterr().err.startswith(
        f"linpath: error: cannot merge the rows into {output}"
    )
    assert output.read_text() == "{"


def test_agreement_is_relative_and_needs_a_curve_that_moves():
    assert agreement([2.0, 100.0 + 50 * AGREEMENT], [2.0, 100.0])["agrees"]
    assert not agreement([2.0, 1.0 + 2 * AGREEMENT], [2.0, 1.0])["agrees"]
    assert not agreement([1.0, 1.0], [1.0, 1.0])["agrees"]  # flat: agreement means nothing


@pytest.mark.parametrize("row", [planes.row_f, planes.row_g], ids=["f", "g"])
def test_a_plane_row_is_met_only_when_the_engine_agrees_with_the_loop(row, monkeypatch):
    small = dict(examples=8, points=3, repeats=1)
    honest = row(**small)
    assert honest["agrees"] and honest["max_relative_difference"] <= AGREEMENT
    assert honest["loss_max"] - honest["loss_min"] > 0.01
    assert honest["met"] == (honest["ratio"] >= float(honest["target"].split()[-1]))
    evaluate_plane = planes.evaluate_plane

    def off_by_a_little(*args, **kwargs):
        plane = evaluate_plane(*args, **kwargs)
        plane["loss"][0][0] += 1e-3
        return plane

    monkeypatch.setattr(planes, "evaluate_plane", off_by_a_little)
    wrong = row(**small)
    assert not wrong["agrees"] and wrong["met"] is False
    assert wrong["max_loss_difference"] == pytest.approx(1e-3, rel=1e-3)
