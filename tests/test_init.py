"""Each initialisation intervention does exactly what it says, and refuses what it cannot do."""

from __future__ import annotations

import functools
import json
import math

import pytest
import torch

from landscape.errors import LinpathError
from lightning_modules import Classifier
from lightning_modules.data import DigitsDataModule
from lightning_modules.data.images import randomize_labels
from lightning_modules.earlier_run import EarlierRunError, find_run
from lightning_modules.init import (
    RANDOM_LABEL_SEED_OFFSET,
    InitError,
    adversarial_unit,
    load_pretrained,
    reset_unit,
    start_at_barrier,
    train_on_random_labels,
)
from lightning_modules.models import MLP, resnet


def classifier(net_factory, lr: float = 1e-3) -> Classifier:
    return Classifier(net_factory, functools.partial(torch.optim.Adam, lr=lr))


def mlp_module(seed: int = 0, hidden=(200, 30)) -> Classifier:
    torch.manual_seed(seed)
    return classifier(functools.partial(MLP, (100,), 10, hidden=list(hidden)))


def perturbed(state: dict, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {
        k: v + torch.randn(v.shape, generator=generator) if v.is_floating_point() else v.clone()
        for k, v in state.items()
    }


# down from ln 10, a bump from 0.6 (alpha 0.3) to 1.1 (alpha 0.4) below the start, down again:
# the curve's highest interior point is alpha 0.1, the barrier's top is alpha 0.4
BUMP_BELOW_START = [2.30, 1.5, 0.8, 0.6, 1.1, 0.9, 0.5, 0.3, 0.2, 0.15, 0.1]


def write_run(run_dir, theta_i, theta_f, seed=0, init="random", full_shape="B", **stored):
    """A finished run on disk as the InterpolationCallback leaves it (11-point grid), its
    full path `BUMP_BELOW_START`; `stored` adds metrics to the entry (an older evaluator
    wrote alpha_max only)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    alphas = [i / 10 for i in range(11)]
    full = {"shape": full_shape, "alpha_max": 0.1, "loss": BUMP_BELOW_START, **stored}
    results = {"seed": seed, "init": {"name": init}, "alphas": alphas, "paths": {"full": full}}
    (run_dir / "results.json").write_text(json.dumps(results))
    torch.save(theta_i, run_dir / "theta_i.pt")
    torch.save(theta_f, run_dir / "theta_f.pt")
    return run_dir


@pytest.fixture
def trained_run(tmp_path):
    """A run of the same MLP: theta_i a draw of seed 5, theta_f that draw perturbed."""
    theta_i = mlp_module(seed=5).net.state_dict()
    return write_run(tmp_path / "trained", theta_i, perturbed(theta_i, 1))


# ---- partial (RI-k) -------------------------------------------------------------------


def test_partial_reset_puts_unit_k_back_at_the_trained_runs_own_init(trained_run):
    """ "re-set a specific convolutional block to its initial (random) state": that run's."""
    module = mlp_module(seed=0)
    fresh = {k: v.clone() for k, v in module.net.state_dict().items()}
    record = reset_unit(module, None, seed=0, unit="fc1", from_run=str(trained_run))
    trained = torch.load(trained_run / "theta_f.pt")
    initial = torch.load(trained_run / "theta_i.pt")
    state = module.net.state_dict()
    assert record["entries"] == ["fc1.weight", "fc1.bias"]
    for key in state:
        expected = initial[key] if key.startswith("fc1.") else trained[key]
        assert torch.equal(state[key], expected), key
        assert not torch.equal(state[key], fresh[key])


def test_partial_reset_draws_from_the_init_distribution(trained_run):
    """nn.Linear's default init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)): std = bound / sqrt(3)."""
    module = mlp_module(seed=3)
    reset_unit(module, None, seed=3, unit="fc1", from_run=str(trained_run))
    weight = module.net.fc1.weight.detach()  # 200 x 100 draws
    bound = 1 / math.sqrt(100)
    assert weight.abs().max() <= bound
    assert float(weight.std()) == pytest.approx(bound / math.sqrt(3), rel=0.03)
    trained_weight = torch.load(trained_run / "theta_f.pt")["fc1.weight"]
    assert float(trained_weight.std()) > 5 * bound  # what it replaced was not a draw of it


def test_partial_reset_names_unknown_units(trained_run):
    with pytest.raises(LinpathError, match="unknown unit 'layer9'.*fc1"):
        reset_unit(mlp_module(), None, seed=0, unit="layer9", from_run=str(trained_run))


# ---- barrier --------------------------------------------------------------------------


@pytest.mark.parametrize("offset, alpha", [(0, 0.4), (-2, 0.2), (3, 0.7)])
def test_barrier_init_loads_theta_alpha_exactly(trained_run, offset, alpha):
    module = mlp_module(seed=0)
    record = start_at_barrier(module, None, seed=0, from_run=str(trained_run), offset=offset)
    theta_i = torch.load(trained_run / "theta_i.pt")
    theta_f = torch.load(trained_run / "theta_f.pt")
    assert record["alpha"] == pytest.approx(alpha)
    assert record["barrier_peak_alpha"] == pytest.approx(0.4)  # the bump's top, not alpha_max
    assert record["source_loss"] == BUMP_BELOW_START[round(10 * alpha)]
    for key, value in module.net.state_dict().items():
        expected = (1 - alpha) * theta_i[key].double() + alpha * theta_f[key].double()
        torch.testing.assert_close(value.double(), expected, rtol=0, atol=1e-6)


def test_barrier_init_refuses_a_run_without_a_barrier(tmp_path):
    state = mlp_module().net.state_dict()
    run = write_run(tmp_path / "nb", state, perturbed(state, 1), full_shape="NB")
    with pytest.raises(InitError, match="shape B.*has shape NB"):
        start_at_barrier(mlp_module(), None, seed=0, from_run=str(run))


def test_barrier_init_refuses_another_architecture(trained_run):
    wider = mlp_module(hidden=(201, 30))
    with pytest.raises(EarlierRunError, match="another architecture.*fc1.weight"):
        start_at_barrier(wider, None, seed=0, from_run=str(trained_run))


def test_barrier_offset_off_the_path_is_refused(trained_run):
    with pytest.raises(InitError, match=r"init.offset=7 leaves the path.*\[-4, 6\]"):
        start_at_barrier(mlp_module(), None, seed=0, from_run=str(trained_run), offset=7)


def test_barrier_init_takes_the_stored_location_over_the_curve(tmp_path):
    """A run evaluated with its barrier's location stored starts there; one with an end
    rise only (shape ER, no location) is refused."""
    state = mlp_module(seed=5).net.state_dict()
    stored = write_run(tmp_path / "b", state, perturbed(state, 1), barrier_peak_alpha=0.6,
                       barrier_start_alpha=0.3)  # fmt: skip
    record = start_at_barrier(mlp_module(), None, seed=0, from_run=str(stored))
    assert record["alpha"] == pytest.approx(0.6)
    end_rise = write_run(tmp_path / "er", state, state, full_shape="ER", barrier_peak_alpha=None)
    with pytest.raises(InitError, match="has shape ER"):
        start_at_barrier(mlp_module(), None, seed=0, from_run=str(end_rise))


def test_from_run_picks_this_seeds_run_from_a_multirun(tmp_path):
    state = mlp_module().net.state_dict()
    for job, seed in enumerate([0, 1, 2]):
        write_run(tmp_path / "multi" / str(job), state, state, seed=seed)
    assert find_run(tmp_path / "multi", seed=1).path == tmp_path / "multi" / "1"
    with pytest.raises(EarlierRunError, match="holds 0 runs of seed 7"):
        find_run(tmp_path / "multi", seed=7)
    (tmp_path / "multi" / "1" / "theta_f.pt").unlink()
    with pytest.raises(EarlierRunError, match=r"lacks \['theta_f.pt'\]"):
        find_run(tmp_path / "multi", seed=1)


# ---- blockwise adversarial ------------------------------------------------------------


def test_blockwise_adversarial_takes_unit_k_from_the_random_label_state(tmp_path):
    adversarial = perturbed(mlp_module(seed=9).net.state_dict(), 2)
    run = write_run(tmp_path / "rl", adversarial, adversarial, init="random_labels")
    module = mlp_module(seed=0)
    fresh = {k: v.clone() for k, v in module.net.state_dict().items()}
    adversarial_unit(module, None, seed=0, unit="fc2", from_run=str(run))
    for key, value in module.net.state_dict().items():
        expected = adversarial[key] if key.startswith("fc2.") else fresh[key]
        assert torch.equal(value, expected), key


def test_blockwise_adversarial_refuses_a_run_without_random_labels(trained_run):
    with pytest.raises(InitError, match="init=random_labels.*init=random"):
        adversarial_unit(mlp_module(), None, seed=0, unit="fc2", from_run=str(trained_run))


# ---- random labels --------------------------------------------------------------------


def test_random_label_prestage_fits_every_random_label_of_digits_in_eval_mode():
    """The whole digits training set (1257 images), an MLP of two 512-unit layers, Adam
    1e-3, batch 128: the stop is 100% eval-mode accuracy over every random-labelled image."""
    data = DigitsDataModule(batch_size=128, seed=0)
    data.setup("fit")
    torch.manual_seed(0)
    module = classifier(functools.partial(MLP, (1, 8, 8), 10, hidden=[512, 512]))
    record = train_on_random_labels(module, data, seed=0, max_epochs=400)
    assert record["reached_100"] and record["train_acc"] == 1.0
    assert 1 < record["epochs"] < 400  # measured: 101
    inputs, targets = data.split("train")
    labels = randomize_labels(targets, 1.0, 10, 0 + RANDOM_LABEL_SEED_OFFSET)
    with torch.no_grad():
        predicted = module.net.eval()(inputs).argmax(1)
    assert torch.equal(predicted, labels)  # independently: every random label, eval mode
    assert float((predicted == targets).float().mean()) < 0.3  # the real labels: chance


def test_random_label_prestage_reports_its_epoch_cap():
    data = DigitsDataModule(batch_size=32, train_size=64, seed=0)
    data.setup("fit")
    module = classifier(functools.partial(MLP, (1, 8, 8), 10, hidden=[8]))
    record = train_on_random_labels(module, data, seed=0, max_epochs=1, lr=0.5)
    assert record == {
        "name": "random_labels",
        "epochs": 1,
        "max_epochs": 1,
        "lr": 0.5,
        "augment": "none",
        "train_acc": record["train_acc"],
        "reached_100": False,
    }
    assert record["train_acc"] < 1.0


# ---- pretrained -----------------------------------------------------------------------


def imagenet_like_file(tmp_path):
    """A file in torchvision's ResNet-18 format (7x7 stem, 1000 classes), random values."""
    from torchvision.models import resnet18

    torch.manual_seed(11)
    state = resnet18().state_dict()
    torch.save(state, tmp_path / "resnet18.pth")
    return tmp_path / "resnet18.pth", state


def test_pretrained_loads_every_matching_entry_and_keeps_stem_and_fc(tmp_path):
    path, imagenet = imagenet_like_file(tmp_path)
    torch.manual_seed(0)
    module = classifier(functools.partial(resnet, (3, 32, 32), 10))
    fresh = {k: v.clone() for k, v in module.net.state_dict().items()}
    record = load_pretrained(module, None, seed=0, weights_path=str(path))
    assert sorted(record["kept_random"]) == ["conv1.weight", "fc.bias", "fc.weight"]
    for key, value in module.net.state_dict().items():
        expected = fresh[key] if key in record["kept_random"] else imagenet[key]
        assert torch.equal(value, expected), key


def test_pretrained_without_weights_names_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    module = classifier(functools.partial(resnet, (3, 32, 32), 10))
    with pytest.raises(InitError) as error:
        load_pretrained(module, None, seed=0)
    message = str(error.value)
    assert "ResNet18_Weights.IMAGENET1K_V1" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message
    assert "init.weights_path" in message and "\n" not in message


def test_pretrained_refuses_an_mlp():
    with pytest.raises(InitError, match="torchvision ResNet; got MLP"):
        load_pretrained(mlp_module(), None, seed=0)
