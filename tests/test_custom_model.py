"""The README's own-model example runs as written: class and config outside linpath's
packages, found through `hydra.searchpath`."""

from __future__ import annotations

import json

import pytest

from landscape.errors import LinpathError
from run import check_config_choices
from tests.conftest import REPO, run_in_process

SEARCH = f"hydra.searchpath=[file://{REPO / 'examples' / 'custom_model' / 'conf'}]"


def test_a_model_name_from_the_search_path_is_accepted():
    check_config_choices([SEARCH, "model=small_conv"])
    with pytest.raises(LinpathError, match="unknown model 'small_conv'"):
        check_config_choices(["model=small_conv"])
    with pytest.raises(
        LinpathError, match="unknown model 'small_cnv'; expected one of .*'small_conv'"
    ):
        check_config_choices([SEARCH, "model=small_cnv"])


def test_your_own_model_trains_and_walks_its_paths(tmp_path, capsys):
    code, output = run_in_process(
        [
            SEARCH,
            "model=small_conv",
            "experiment=mnist_mlp",
            "data=digits",
            "scale=smoke",
            "logger=none",
            "trainer.max_epochs=1",
            "interpolation.paths=[full,unit/*,group/conv2/bn_stats]",
            f"hydra.run.dir={tmp_path}",
        ],
        capsys,
    )
    assert code == 0, output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["units"] == {"conv1": ["conv1", "bn1"], "conv2": ["conv2", "bn2"], "fc": ["fc"]}
    assert list(results["paths"]) == [
        "full",
        "unit/conv1",
        "unit/conv2",
        "unit/fc",
        "group/conv2/bn_stats",
    ]
    assert all(v is not None for entry in results["paths"].values() for v in entry["loss"])
