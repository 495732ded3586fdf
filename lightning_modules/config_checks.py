"""One check of the composed config, before anything is built, written or trained.

Every value a user can get wrong has a rule here: its type, its range and, where it
matters, its relation to other values. A failure is one `ConfigError` naming the key, the
bad value and what would be accepted, which run.py prints as one `linpath: error:` line.
Hydra's structured configs (typed dataclasses) cannot say "an integer or a list of
numbers" (OmegaConf has no unions) nor "increasing" or "at least 1", so the rules are a
table of predicates instead; the constructors that take these values (the interpolation
callback) call the same rules, so a value is refused the same way from Python.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from landscape.attribution import PARTITIONS
from landscape.biases import EXTRAS
from landscape.diagnostics import BARRIER_POINTS, DIAGNOSTICS
from landscape.errors import LinpathError
from landscape.paths import GROUPS, UNIT_GRANULARITIES, WHOLE_MODEL_PATHS
from landscape.shape import shape_metrics
from landscape.views import VIEWS
from lightning_modules.data.images import AUGMENTATIONS
from lightning_modules.data.tensor_data import SPLITS
from lightning_modules.models.resnet import LAYOUTS, NORMS
from lightning_modules.models.vgg import CONV_WIDTHS, FC_LAYERS

# How a run shows its progress (runs.progress): a bar on a terminal else lines, or one of them
PROGRESS_MODES = ("auto", "bar", "lines", "none")
ABSENT = object()  # a key this config does not have (e.g. data.augment for the spiral)


class ConfigError(LinpathError, ValueError):
    """A config value outside what linpath accepts."""


@dataclass(frozen=True)
class Rule:
    """What a value must be, in words (`accepts`, or a function that says them when the
    accepted names live elsewhere) and as a predicate (`ok`)."""

    accepts: str | Callable[[], str]
    ok: Callable[[Any], bool]

    def words(self) -> str:
        return self.accepts() if callable(self.accepts) else self.accepts


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer(low: int, optional: bool = False) -> Rule:
    words = f"an integer >= {low}" + (" or null" if optional else "")
    return Rule(words, lambda v: (optional and v is None) or (_is_int(v) and v >= low))


def number(low: float, high: float | None = None, above: bool = False) -> Rule:
    """A finite number >= low (> low with `above`), <= high if given."""
    words = f"a number {'>' if above else '>='} {low}" + (f" and <= {high}" if high else "")

    def ok(v: Any) -> bool:
        in_range = _is_number(v) and (v > low if above else v >= low)
        return in_range and (high is None or v <= high)

    return Rule(words, ok)


def choice(*options: Any) -> Rule:
    return Rule(f"one of {list(options)}", lambda v: isinstance(v, (str, bool)) and v in options)


def boolean() -> Rule:
    return Rule("true or false", lambda v: isinstance(v, bool))


def text(optional: bool = False) -> Rule:
    words = "a non-empty string" + (" or null" if optional else "")
    return Rule(words, lambda v: (optional and v is None) or (isinstance(v, str) and v != ""))


def widths(count: int | None = None, empty: bool = False) -> Rule:
    words = f"a list of {count} integers >= 1" if count else "a list of integers >= 1"

    def ok(v: Any) -> bool:
        if not isinstance(v, list) or (count is not None and len(v) != count):
            return False
        return (empty or bool(v)) and all(_is_int(w) and w >= 1 for w in v)

    return Rule(words, ok)


ALPHA_LIMIT = 10  # |alpha| beyond this leaves the line's neighbourhood (and overflows float32)


def _alphas_ok(value: Any) -> bool:
    if _is_int(value):
        return value >= 2
    if not isinstance(value, list) or len(value) < 2 or not all(_is_number(a) for a in value):
        return False
    in_range = all(abs(a) <= ALPHA_LIMIT for a in value)
    return in_range and all(a < b for a, b in zip(value, value[1:]))


def _limit_ok(value: Any) -> bool:
    """Lightning's limit_*_batches: a share of the batches in (0, 1], or a count >= 1."""
    if _is_int(value):
        return value >= 1
    return _is_number(value) and 0 < value <= 1


def _increasing(value: Any) -> bool:
    return widths().ok(value) and all(a < b for a, b in zip(value, value[1:]))


def _path_key_ok(path: Any) -> bool:
    if not isinstance(path, str):
        return False
    kind, _, rest = path.partition("/")
    if path in WHOLE_MODEL_PATHS:
        return True
    if kind == "unit":
        return rest != "" and "/" not in rest
    if kind == "group":
        unit, _, group = rest.rpartition("/")
        return unit != "" and group in GROUPS
    return False


def _paths_ok(value: Any) -> bool:
    """Path keys without repeats; none at all trains and measures the two end states only."""
    return (
        isinstance(value, list)
        and all(_path_key_ok(p) for p in value)
        and len(set(value)) == len(value)
    )


def _names(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(text().ok(n) for n in value)


def _units_ok(value: Any) -> bool:
    if isinstance(value, str):
        return value in UNIT_GRANULARITIES
    if isinstance(value, Mapping):
        return bool(value) and all(_names(modules) for modules in value.values())
    return _names(value)


def _threshold_names() -> list[str]:
    """The keyword thresholds `landscape.shape.shape_metrics` takes."""
    parameters = inspect.signature(shape_metrics).parameters.values()
    return [p.name for p in parameters if isinstance(p.default, float)]


def _thresholds_ok(value: Any) -> bool:
    """Known names only; each value has its own rule (`interpolation.thresholds.NAME`)."""
    return isinstance(value, Mapping) and all(k in _threshold_names() for k in value)


def _extras_ok(value: Any) -> bool:
    return isinstance(value, list) and all(name in list(EXTRAS) for name in value)


def _views_ok(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(set(value)) == len(value)
        and all(name in VIEWS for name in value)
    )


def _unique_names(value: Any, names: Sequence[str]) -> bool:
    return isinstance(value, list) and len(set(value)) == len(value) and set(value) <= set(names)


def _hessian_alphas_ok(value: Any) -> bool:
    return isinstance(value, list) and all(_is_number(a) or a in BARRIER_POINTS for a in value)


HESSIAN_KEYS = ("alphas", "iters", "probes")


def _devices_ok(value: Any) -> bool:
    if value == "auto" or (isinstance(value, str) and value.isdigit() and int(value) >= 1):
        return True
    if isinstance(value, list):  # device ids, each once
        ids = all(_is_int(d) and d >= 0 for d in value)
        return bool(value) and ids and len(set(value)) == len(value)
    return _is_int(value) and (value >= 1 or value == -1)


PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
# momentum and dropout
BELOW_ONE = Rule("a number >= 0 and < 1", lambda v: _is_number(v) and 0 <= v < 1)

RULES: dict[str, Rule] = {
    "seed": integer(0),
    "threads": integer(1, optional=True),
    "progress": choice(*PROGRESS_MODES),
    "steps_per_call": integer(1),
    "experiment_name": text(),
    "pretrained_weights": text(optional=True),
    "random_label_max_epochs": integer(1),
    "ckpt_path": text(optional=True),
    "overwrite": boolean(),
    "reuse": boolean(),
    # data (each key only where the chosen data set has it)
    "data.batch_size": integer(1),
    "data.eval_batch_size": integer(1),
    "data.train_size": integer(1, optional=True),
    "data.test_size": integer(1, optional=True),
    "data.noise": number(0),
    "data.root": text(),
    "data.download": boolean(),
    "data.check_integrity": boolean(),
    "data.normalize": boolean(),
    "data.augment": choice(*AUGMENTATIONS),
    "data.train_fraction": number(0, 1, above=True),
    "data.random_labels": number(0, 1),
    "data.modulus": integer(2),
    # optimisation
    "optimizer.lr": number(0, above=True),
    "optimizer.weight_decay": number(0),
    "optimizer.momentum": BELOW_ONE,
    "optimizer.nesterov": boolean(),
    "optimizer.fused": boolean(),
    "scheduler.milestones": Rule("an increasing list of epochs >= 1", _increasing),
    "scheduler.gamma": number(0, above=True),
    "optim.groups_from": text(optional=True),
    # init interventions
    "init.from_run": text(optional=True),
    "init.unit": text(),
    "init.offset": Rule("an integer", _is_int),
    "init.source": choice("trained", "pretrained"),
    "init.max_epochs": integer(1),
    "init.weights_path": text(optional=True),
    # trainer
    "trainer.max_epochs": Rule("an integer >= 1, or -1 with trainer.max_steps", _is_int),
    "trainer.max_steps": Rule(
        "-1 (no limit) or an integer >= 1", lambda v: _is_int(v) and (v >= 1 or v == -1)
    ),
    "trainer.devices": Rule("an integer >= 1, -1, 'auto' or a list of device ids", _devices_ok),
    "trainer.num_nodes": integer(1),
    "trainer.accelerator": choice(*ACCELERATORS),
    "trainer.precision": Rule(
        f"one of {list(PRECISIONS)}", lambda v: str(v) in PRECISIONS and not isinstance(v, bool)
    ),
    "trainer.deterministic": Rule("true, false or 'warn'", lambda v: v in (True, False, "warn")),
    "trainer.compile": boolean(),
    "trainer.channels_last": boolean(),
    "trainer.check_val_every_n_epoch": integer(1, optional=True),
    "trainer.val_check_interval": Rule(
        "a number > 0 (a share of an epoch, or steps) or null",
        lambda v: v is None or (_is_number(v) and v > 0),
    ),
    "trainer.log_every_n_steps": integer(1),
    "trainer.num_sanity_val_steps": Rule("an integer >= -1", lambda v: _is_int(v) and v >= -1),
    "trainer.limit_train_batches": Rule("a number in (0, 1] or an integer >= 1", _limit_ok),
    "trainer.accumulate_grad_batches": integer(1),
    # Lightning takes 0 or less as no clipping: a value that changes nothing is refused
    "trainer.gradient_clip_val": Rule(
        "a number > 0 or null", lambda v: v is None or (_is_number(v) and v > 0)
    ),
    "trainer.fast_dev_run": Rule(
        "false (fast_dev_run trains a few batches and writes no results)",
        lambda v: v is False or v == 0,
    ),
    # interpolation (InterpolationCallback's arguments)
    "interpolation.alphas": Rule(
        "an integer >= 2 (equal steps on [0, 1]) or an increasing list of >= 2 numbers in "
        f"[-{ALPHA_LIMIT}, {ALPHA_LIMIT}]",
        _alphas_ok,
    ),
    "interpolation.paths": Rule(
        f"a list without repeats of {list(WHOLE_MODEL_PATHS)}, 'unit/*', "
        f"'unit/<module>' or 'group/<module>/<group>' with a group of {list(GROUPS)}",
        _paths_ok,
    ),
    "interpolation.units": Rule(
        f"one of {list(UNIT_GRANULARITIES)}, a non-empty list of module names or a mapping "
        "of unit names to non-empty lists of module names",
        _units_ok,
    ),
    "interpolation.eval_split": choice(*SPLITS),
    "interpolation.max_eval_examples": integer(1, optional=True),
    "interpolation.bn": choice("interpolate", "recompute"),
    "interpolation.bn_batches": integer(1),
    "interpolation.cache_mb": number(0),
    "interpolation.figure": boolean(),
    "interpolation.seed": integer(0),
    "interpolation.thresholds": Rule(
        lambda: f"a mapping with keys from {_threshold_names()}", _thresholds_ok
    ),
    **{f"interpolation.thresholds.{name}": number(0) for name in _threshold_names()},
    "interpolation.end_rise_as_barrier": boolean(),
    "interpolation.extras": Rule(lambda: f"a list of names from {list(EXTRAS)}", _extras_ok),
    "interpolation.views": Rule(lambda: f"a list without repeats of {VIEWS}", _views_ok),
    "interpolation.progress": choice(*PROGRESS_MODES, True, False),
    "interpolation.diverged_loss_ratio": number(1),
    "interpolation.diagnostics": Rule(
        f"a list without repeats of {list(DIAGNOSTICS)}",
        lambda v: _unique_names(v, DIAGNOSTICS),
    ),
    "interpolation.diagnosed_paths": Rule(
        "null (every path) or a list without repeats of path keys from interpolation.paths",
        lambda v: v is None or _paths_ok(v),
    ),
    "interpolation.partition": choice(*PARTITIONS),
    "interpolation.hessian": Rule(
        f"a mapping with keys from {list(HESSIAN_KEYS)}",
        lambda v: isinstance(v, Mapping) and set(v) <= set(HESSIAN_KEYS),
    ),
    "interpolation.hessian.alphas": Rule(
        f"a list of numbers and names from {list(BARRIER_POINTS)}", _hessian_alphas_ok
    ),
    "interpolation.hessian.iters": integer(1),
    "interpolation.hessian.probes": integer(2),
}


# The options of linpath's own networks, by `model._target_`; a model of your own (README:
# "Your own model") is checked by its own constructor.
WIDTH = number(0, above=True)
# timm's ViT and transformers' GPT-2 (conf/model/vit_*.yaml, gpt2.yaml): the same names
ATTENTION = {
    "embed_dim": integer(1),
    "depth": integer(1),
    "num_heads": integer(1),
    "mlp_ratio": number(0, above=True),
    "dropout": BELOW_ONE,
    "width": WIDTH,
}
MODEL_RULES: dict[str, dict[str, Rule]] = {
    "lightning_modules.models.MLP": {"hidden": widths(empty=True)},
    "lightning_modules.models.resnet": {
        "depth": Rule(f"one of {sorted(LAYOUTS)}", lambda v: _is_int(v) and v in LAYOUTS),
        "norm": choice(*NORMS),
        "width": WIDTH,
    },
    "lightning_modules.models.vit.ViT": {"patch_size": integer(1), **ATTENTION},
    "lightning_modules.models.gpt2.gpt2": ATTENTION,
    "lightning_modules.models.VGG": {
        "widths": widths(),  # how many: a relation to fc_layers (check_relations)
        "fc_layers": Rule(f"one of {list(FC_LAYERS)}", lambda v: _is_int(v) and v in FC_LAYERS),
        "width": WIDTH,
        "batch_norm": boolean(),
        "dropout": BELOW_ONE,
    },
}


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_value(key: str, value: Any, rules: Mapping[str, Rule] = RULES) -> None:
    """Refuse `value` for `key` unless its rule accepts it (keys without a rule pass)."""
    rule = rules.get(key)
    if rule is not None and not rule.ok(value):
        raise ConfigError(f"{key}={_shown(value)}: expected {rule.words()}")


def check_section(section: str, values: Mapping[str, Any]) -> None:
    """Check the `section.key` rules for `values` (a constructor's keyword arguments), and
    the `section.key.name` rules for the entries of a mapping."""
    for key, value in values.items():
        value = _plain(value)
        check_value(f"{section}.{key}", value)
        for name, entry in value.items() if isinstance(value, Mapping) else ():
            check_value(f"{section}.{key}.{name}", _plain(entry))


def _plain(value: Any) -> Any:
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, tuple):
        return list(value)
    return value


def _lookup(cfg: DictConfig, key: str) -> Any:
    try:
        value = OmegaConf.select(cfg, key, default=ABSENT, throw_on_missing=True)
    except MissingMandatoryValue as error:
        raise ConfigError(f"{key} has no value (???): give it, e.g. {key}=...") from error
    except OmegaConfBaseException as error:
        raise ConfigError(f"{key} cannot be read: {str(error).splitlines()[0]}") from error
    return value if value is ABSENT else _plain(value)


def check_config(cfg: DictConfig) -> None:
    """Every rule, then the relations between values; the first failure is raised."""
    for section in (k for k in cfg if k != "hydra"):
        if OmegaConf.is_missing(cfg, section):
            missing = [section]
        else:
            try:
                node = cfg[section]
                missing = sorted(OmegaConf.missing_keys(node)) if OmegaConf.is_config(node) else []
            except OmegaConfBaseException as error:  # an interpolation to nothing: ${oops}
                key = getattr(error, "full_key", None) or section
                raise ConfigError(f"{key} cannot be read: {str(error).splitlines()[0]}") from error
        if missing:
            raise ConfigError(f"{missing[0]} has no value (???): give it, e.g. {missing[0]}=...")
    model_rules = MODEL_RULES.get(OmegaConf.select(cfg, "model._target_"), {})
    rules = {**RULES, **{f"model.{key}": rule for key, rule in model_rules.items()}}
    values = {}
    for key in rules:
        value = _lookup(cfg, key)
        if value is not ABSENT:
            check_value(key, value, rules)
            values[key] = value
    values["data.input_shape"] = _data_input_shape(cfg)
    check_relations(values)


def _data_input_shape(cfg: DictConfig) -> tuple[int, ...] | None:
    """One example's shape, where the data module's class states it (no data is read)."""
    from hydra.utils import get_class

    try:
        shape = getattr(get_class(OmegaConf.select(cfg, "data._target_")), "input_shape", None)
    except Exception:  # a data module of the user's own that does not import: built later
        return None
    return tuple(shape) if isinstance(shape, tuple) else None


def check_relations(values: Mapping[str, Any]) -> None:
    """What no single value shows: limits that leave training unbounded, an init that needs
    an earlier run without one."""
    epochs, steps = values.get("trainer.max_epochs"), values.get("trainer.max_steps", -1)
    if epochs is not None and (epochs == 0 or epochs < -1 or (epochs == -1 and steps == -1)):
        raise ConfigError(
            f"trainer.max_epochs={epochs}: expected an integer >= 1, or -1 with "
            f"trainer.max_steps >= 1 (trainer.max_steps={steps})"
        )
    vgg_widths, fc_layers = values.get("model.widths"), values.get("model.fc_layers")
    if vgg_widths is not None and fc_layers is not None:
        hidden = fc_layers - 1  # classifier layers between the convs and the classes
        if len(vgg_widths) != len(CONV_WIDTHS) + hidden:
            raise ConfigError(
                f"model.widths={vgg_widths}: expected a list of {len(CONV_WIDTHS) + hidden} "
                f"integers >= 1 ({len(CONV_WIDTHS)} conv widths and {hidden} hidden "
                f"classifier widths with model.fc_layers={fc_layers})"
            )
    embed_dim, heads = values.get("model.embed_dim"), values.get("model.num_heads")
    if embed_dim is not None and heads is not None and embed_dim % heads:
        raise ConfigError(
            f"model.num_heads={heads} does not divide model.embed_dim={embed_dim}: expected "
            "a width that is a multiple of the number of heads"
        )
    patch, shape = values.get("model.patch_size"), values.get("data.input_shape")
    if patch is not None and shape is not None and len(shape) == 3:
        height, width = shape[1:]
        if height % patch or width % patch:
            divisors = [d for d in range(1, min(shape[1:]) + 1) if height % d == width % d == 0]
            raise ConfigError(
                f"model.patch_size={patch} does not divide the data's {height}x{width} "
                f"images: expected one of {divisors}"
            )
    manual = values.get("steps_per_call", 1) > 1  # the Classifier optimizes by hand then
    for key, unused in (("gradient_clip_val", None), ("accumulate_grad_batches", 1)):
        value = values.get(f"trainer.{key}", unused)
        if manual and value != unused:
            raise ConfigError(
                f"trainer.{key}={value}: steps_per_call={values['steps_per_call']} makes "
                f"several optimizer steps per Lightning step (manual optimization), where "
                f"Lightning's {key} does not apply; set steps_per_call=1 to use it"
            )
    if values.get("overwrite") and values.get("ckpt_path") == "auto":
        raise ConfigError(
            "overwrite=true with ckpt_path=auto: overwrite moves the folder's run aside and "
            "starts again, ckpt_path=auto continues it; give one of them"
        )
    diagnostics, bn = values.get("interpolation.diagnostics"), values.get("interpolation.bn")
    if diagnostics and bn == "recompute":
        raise ConfigError(
            f"interpolation.diagnostics={diagnostics} with interpolation.bn=recompute: the "
            "diagnostics differentiate the loss along the straight line, and recomputed BN "
            "statistics leave it; expected interpolation.bn=interpolate or diagnostics=[]"
        )
    paths, diagnosed = (
        values.get("interpolation.paths"),
        values.get("interpolation.diagnosed_paths"),
    )
    unevaluated = [p for p in diagnosed or () if p not in paths and not
                   (p.startswith("unit/") and "unit/*" in paths)]  # fmt: skip
    if paths is not None and unevaluated:
        raise ConfigError(
            f"interpolation.diagnosed_paths={diagnosed}: {unevaluated} not evaluated; expected "
            f"paths from interpolation.paths={paths}"
        )
    if values.get("init.source") == "trained" and values.get("init.from_run") is None:
        raise ConfigError(
            "init.from_run=None: init.source=trained starts from an earlier run's theta_f; "
            "expected init.from_run=RUN_DIR"
        )
