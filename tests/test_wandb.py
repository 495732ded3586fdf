"""logger=wandb: an offline run under the run directory with the dashboard's pieces."""

from __future__ import annotations

import json

from callbacks.wandb_report import sweep_setting
from tests.conftest import read_results, run_linpath


def test_sweep_setting_leaves_out_seeds_and_bookkeeping():
    overrides = ["experiment=fig7", "optimizer.weight_decay=0.0005", "seed=3", "logger.offline=0"]
    excludes = ["seed", "experiment", "logger"]
    assert sweep_setting(overrides, excludes) == "optimizer.weight_decay=0.0005"
    assert sweep_setting(["seed=1"], excludes) == "default"
    assert len(sweep_setting([f"a{i}=1" for i in range(40)], [])) == 64


def test_offline_run_carries_curves_figure_summary_and_config(tmp_path):
    run_linpath(
        "experiment=spiral_mlp", "scale=smoke", "logger=wandb", "optimizer.lr=0.01",
        run_dir=tmp_path,
    )  # fmt: skip
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    results = read_results(tmp_path)
    (table,) = (run / "files" / "media" / "table" / "paths").glob("curves_*.table.json")
    table = json.loads(table.read_text())
    assert table["columns"] == ["path", "alpha", "loss", "acc"]
    expected = [
        [path, alpha, loss, acc]
        for path, entry in results["paths"].items()
        for alpha, loss, acc in zip(results["alphas"], entry["loss"], entry["acc"])
    ]
    assert table["data"] == expected
    for metric in ("loss", "acc"):
        assert list((run / "files" / "media" / "table" / "paths").glob(f"{metric}_table_*.json"))
    assert list((run / "files" / "media" / "images" / "paths").glob("figure_*.png"))
    # the run record (protobuf, uncompressed): group, job type, resolved config, summary keys
    (record,) = run.glob("run-*.wandb")
    raw = record.read_bytes()
    for needle in (b"spiral_mlp", b"optimizer.lr=0.01", b"experiment_name", b"path/full/shape"):
        assert needle in raw, needle
