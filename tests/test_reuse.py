"""Reuse and re-evaluation trust a run folder only as far as its manifest and its identity
say: changed weights are refused in one line, a vanished or edited run is skipped."""

from __future__ import annotations

import json
import shutil

import pytest
from omegaconf import OmegaConf

from lightning_modules.data.cifar import Cifar10DataModule
from lightning_modules.data.stand_ins import write_cifar10
from run import compose_config
from runs.identity import training_id
from runs.manifest import ManifestError
from runs.reevaluate import reevaluate
from runs.reuse import find_reusable, reuse_run
from tests.conftest import read_results, run_in_process, run_linpath

RUN = ("experiment=spiral_mlp", "scale=smoke", "logger=none", "trainer.max_epochs=1", "seed=5")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished run and a run that reused it, both under one root."""
    root = tmp_path_factory.mktemp("store")
    run_linpath(*RUN, run_dir=root / "trained")
    cfg = compose_config(*RUN, "interpolation.alphas=5", output_dir=root / "reused")
    reuse_run(cfg, (root / "trained").resolve(), root / "reused")
    shutil.copytree(root / "trained" / ".hydra", root / "reused" / ".hydra")  # as run.py does
    return root


@pytest.fixture
def store(trained, tmp_path):
    """A copy of the two runs to spoil (the reused run's reused_from points into it)."""
    root = tmp_path / "store"
    shutil.copytree(trained, root)
    results = read_results(root / "reused")
    results["reused_from"] = str((root / "trained").resolve())
    (root / "reused" / "results.json").write_text(json.dumps(results))
    return root


def notes_of(cfg, root, exclude=None):
    notes = []
    return find_reusable(cfg, roots=[root], exclude=exclude, note=notes.append), notes


def test_a_complete_run_is_found(store):
    found, notes = notes_of(compose_config(*RUN), store)
    assert found == (store / "trained").resolve() and notes == []


def test_a_truncated_theta_file_is_refused_not_linked(store):
    theta_f = store / "trained" / "theta_f.pt"
    theta_f.write_bytes(theta_f.read_bytes()[:100])
    with pytest.raises(ManifestError, match="theta_f.pt is not the file its run finished with"):
        find_reusable(compose_config(*RUN), roots=[store])
    with pytest.raises(ManifestError, match="theta_f.pt is not the file"):
        reevaluate(OmegaConf.create({"run_dir": str(store / "trained"), "name": None}), [])
    assert not (store / "trained" / "evaluations").exists()


def test_a_vanished_source_is_skipped_with_a_note(store):
    shutil.rmtree(store / "trained")
    found, notes = notes_of(compose_config(*RUN), store)
    assert found is None
    assert any("the run it reused" in n and "is gone" in n for n in notes), notes


def test_an_edited_config_is_not_trusted(store):
    config = store / "trained" / ".hydra" / "config.yaml"
    edited = OmegaConf.load(config)
    edited.optimizer.lr = 0.5
    OmegaConf.save(edited, config)
    found, notes = notes_of(compose_config(*RUN), store, exclude=store / "reused")
    assert found is None
    assert any("gives another training" in n for n in notes), notes
    found, _ = notes_of(compose_config(*RUN, "optimizer.lr=0.5"), store)
    assert found is None  # its results.json's training_id is still the lr=5e-4 one


def test_other_data_is_not_reused(store):
    for run in ("trained", "reused"):
        results = read_results(store / run)
        results["data_fingerprint"] = "0" * 64
        (store / run / "results.json").write_text(json.dumps(results))
    found, notes = notes_of(compose_config(*RUN), store)
    assert found is None and any("other data" in n for n in notes), notes


def test_reuse_never_links_a_folder_to_itself(trained, capsys):
    own = trained / "trained"
    before = {p.name: p.stat().st_mtime_ns for p in own.iterdir()}
    code, output = run_in_process([*RUN, "reuse=true", f"hydra.run.dir={own}"], capsys)
    assert code == 2 and "holds a finished run" in output, output
    assert {p.name: p.stat().st_mtime_ns for p in own.iterdir()} == before
    assert not list(own.glob(".*.link"))


def test_a_stand_in_data_set_is_not_the_real_one(tmp_path):
    """Equal configs, other files: the fingerprint tells them apart."""

    def fingerprint(root, seed):
        write_cifar10(root, seed=seed)
        data = Cifar10DataModule(root=str(root), check_integrity=False, train_fraction=0.5)
        data.setup("fit")
        return data.fingerprint

    assert fingerprint(tmp_path / "a", 0) == fingerprint(tmp_path / "b", 0)
    assert fingerprint(tmp_path / "a", 0) != fingerprint(tmp_path / "c", 1)


def test_a_run_with_a_training_callback_is_another_training():
    plain = training_id(compose_config(*RUN))
    early = "+callbacks.es._target_=lightning.pytorch.callbacks.EarlyStopping"
    assert training_id(compose_config(*RUN, early, "+callbacks.es.monitor=val/loss")) != plain
    assert training_id(compose_config(*RUN, "checkpoint=last")) == plain  # only observes
