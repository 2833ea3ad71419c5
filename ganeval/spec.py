"""Bench and run specifications: defaults in one place, strict validation, TOML in and out.

Resolution order for one run, later wins:
RunSpec defaults < benchmark protocol < loss paper defaults < benchmark x loss protocol
< variant paper defaults < spec top level < [benchmark.NAME] < [loss.NAME] < [variant.NAME]
< [cell."BENCH/LOSS[/VARIANT]"] < CLI flags.

The resolved spec written to a bench folder pins every run in a [cell] table, so it re-runs as is
even if a later ganeval changes its defaults. TOML keys and CLI flags use the same names.

A ``[benchmark.NAME.mixture]`` sub-table (centers, std, optional weights and description) declares
NAME as a new 2-D Gaussian-mixture benchmark (:class:`ganeval.GaussianMixture`); the resolved spec
records every mixture it uses that way, so it re-runs, and reports, without the code that made it.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from ganeval.errors import GanevalError, SpecError, arg, given
from ganeval.metrics.catalog import EXTRACTORS, FIDELITY_METRICS, IS_SPLITS
from ganeval.registry import did_you_mean, unknown_name_message
from ganeval.settings import RESERVED, SETTINGS, get_setting, owned_defaults
from ganeval.success import parse_success
from ganeval.sweep import setting_fragment, setting_label

SPEC_VERSION = 1
DEFAULT_BENCHMARKS = ["ring8", "grid25"]
DEFAULT_LOSSES = ["bce", "wgan-gp", "hinge"]
DEFAULT_SEEDS = 3
DEVICES = ("auto", "cpu", "cuda")
Z_DISTRIBUTIONS = ("normal", "uniform")


@dataclass(frozen=True)
class CellId:
    """One (benchmark, loss, variant[, setting]) cell of a bench grid, and every way it is written down.

    ``key`` (``ring8/bce/sn``, or ``ring8/bce [lr_d=1e-04]`` for a study's setting) names it in
    specs, baselines and messages; ``folder`` (``ring8/bce-sn``, ``ring8/bce@lr_d-1e-04``) is where
    its seed-runs live (see :mod:`ganeval.rundir`); ``label`` (``bce + sn``) heads table rows. A
    study's ``setting`` is part of the identity: ``(key, value)`` pairs, in the study's key order.
    No other module composes these strings.
    """

    benchmark: str
    loss: str
    variant: str = "none"
    setting: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, row: Any) -> CellId:
        """From anything with benchmark / loss / variant fields (a RunSpec, a results row, a
        metrics or config document); its setting from a RunSpec's ``swept`` keys, a document's
        ``setting`` (a table, or its JSON text in ``results.csv``) or a config's ``swept`` list."""
        get = row.get if isinstance(row, dict) or hasattr(row, "get") else lambda k, d=None: getattr(row, k, d)
        variant = get("variant", "none")
        return cls(str(get("benchmark")), str(get("loss")), variant if isinstance(variant, str) and variant else "none",
                   _setting_pairs(get))

    @classmethod
    def from_key(cls, key: str) -> CellId:
        parts = key.split("/")
        if len(parts) not in (2, 3):
            raise ValueError(f"cell keys are 'BENCHMARK/LOSS' or 'BENCHMARK/LOSS/VARIANT', got {key!r}")
        return cls(*parts)

    @property
    def plain(self) -> bool:
        return self.variant == "none"

    @property
    def base(self) -> CellId:
        """The cell without its setting (the grid cell a study's settings share)."""
        return CellId(self.benchmark, self.loss, self.variant)

    @property
    def setting_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.setting}

    @property
    def key(self) -> str:
        base = f"{self.benchmark}/{self.loss}" + ("" if self.plain else f"/{self.variant}")
        return f"{base} [{setting_label(self.setting_dict)}]" if self.setting else base

    @property
    def name(self) -> str:
        """The cell's folder name under its benchmark: ``bce``, ``bce-sn`` or ``bce@lr_d-1e-04``."""
        name = self.loss if self.plain else f"{self.loss}-{self.variant}"
        return f"{name}@{setting_fragment(self.setting_dict)}" if self.setting else name

    @property
    def folder(self) -> Path:
        return Path(self.benchmark) / self.name

    @property
    def label(self) -> str:
        """``bce + sn``, or ``bce (lr_d=1e-04)`` for a study's setting."""
        base = cell_label(self.loss, self.variant)
        return f"{base} ({setting_label(self.setting_dict)})" if self.setting else base


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _setting_pairs(get) -> tuple[tuple[str, Any], ...]:
    setting = get("setting", None)
    if isinstance(setting, str) and setting:
        import json

        try:
            setting = json.loads(setting)
        except ValueError:
            raise SpecError(f"a setting must be a JSON table of swept values, got {setting[:60]!r}") from None
    if isinstance(setting, Mapping):
        return tuple((str(k), _frozen(v)) for k, v in setting.items())
    swept = get("swept", None)
    if isinstance(swept, (list, tuple)):
        return tuple((k, _frozen(get(k, None))) for k in swept)
    return ()


def cell_label(loss: str, variant: str | None) -> str:
    """A table row's name for a loss and variant: ``bce`` or ``bce + sn``."""
    return loss if variant in (None, "none", "") else f"{loss} + {variant}"


@dataclass
class RunSpec:
    """Everything one training run depends on, except its seed. Written to ``config.json``.

    Fields after ``ckpt_every`` only change how a run is *evaluated*: changing them re-evaluates
    finished runs from their checkpoints instead of retraining them.
    """

    benchmark: str
    loss: str
    variant: str = "none"
    # --- training ---
    model: str = "mlp"
    z_dim: int = 16
    z_dist: str = "normal"
    hidden: int = 128
    depth: int = 2
    d_hidden: int = 0  # D's width and depth where they differ from G's (0: as G's)
    d_depth: int = 0
    maxout: int = 1  # pieces per hidden unit of an MLP D (1: ReLU)
    d_input_scale: float = 1.0  # an MLP D multiplies its input by this (Metz et al. 2017: 1/4)
    pack: int = 1  # samples D judges at once (PacGAN; 1: one)
    base_filters: int = 64
    g_batchnorm: bool = False
    d_batchnorm: bool = False
    spectral_norm: bool = False
    batch_size: int = 256
    steps: int = 3000
    n_critic: int = 1
    g_steps: int = 1  # G updates per step, on the same latents (PacGAN's stacked-MNIST code: 2)
    simultaneous: bool = False  # G's gradient taken at the same D as D's (both updated at once)
    optimizer: str = "adam"
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    gp_weight: float = 0.0
    r1_gamma: float = 0.0
    r1_every: int = 1
    clip_value: float = 0.0
    clip_grad: float = 0.0
    ema_beta: float = 0.0
    pool_size: int = 128000
    trace_every: int = 10
    spectral_every: int = 10
    tensorboard: bool = False  # also write the trace (and events) as TensorBoard logs; output only
    ckpt_every: int = 1000
    # --- evaluation ---
    eval_samples: int = 2500
    hq_sigmas: float = 3.0
    cover_threshold: int = 1
    fidelity: list[str] = field(default_factory=list)
    fidelity_samples: int = 10000
    is_splits: int = IS_SPLITS
    extractor: str = "ganeval-mnist"
    extractor_weights: str = ""
    lpips_weights: str = ""
    eval_checkpoints: bool = False
    #: the keys whose values come from a study's setting (``--sweep``/``--search``): part of the
    #: run's identity (its folder, table row and baseline key), never a training setting itself
    swept: list[str] = field(default_factory=list)
    #: settings declared by plugin entries (:mod:`ganeval.settings`), by name; flat in config.json
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, values: dict[str, Any]) -> RunSpec:
        """From flat values (config.json, a resolved spec): plugin settings go to ``extra``."""
        known = {k: v for k, v in values.items() if k in _FIELD_NAMES}
        return cls(**known, extra={k: v for k, v in values.items() if k not in _FIELD_NAMES})

    def __getattr__(self, name: str) -> Any:
        """A plugin's setting reads like a built-in one: ``run.my_weight``."""
        if name != "extra" and not name.startswith("__"):
            extra = self.__dict__.get("extra")
            if extra is not None and name in extra:
                return extra[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def cell_name(self) -> str:
        """The cell's folder name (``bce-sn``); see :class:`CellId`."""
        return CellId.of(self).name

    @property
    def cell_key(self) -> str:
        """The cell's name in specs, baselines and messages (``ring8/bce/sn``)."""
        return CellId.of(self).key

    @property
    def setting(self) -> dict[str, Any]:
        """The study setting this run trains (``{}`` outside a study): its swept keys' values."""
        return {k: getattr(self, k) for k in self.swept}

    def to_dict(self) -> dict[str, Any]:
        """Every setting, flat (plugin settings beside built-in ones), as config.json holds them;
        ``swept`` only for a study's runs."""
        values = dataclasses.asdict(self)
        extra = values.pop("extra")
        if not values["swept"]:
            values.pop("swept")
        return {**values, **extra}

    def train_config(self) -> dict[str, Any]:
        """What a checkpoint depends on: a checkpoint is only resumed under the same values."""
        return {k: v for k, v in self.to_dict().items()
                if not is_eval_field(k) and k not in OUTPUT_FIELDS and k != "swept"}

    def eval_config(self) -> dict[str, Any]:
        """What the metrics depend on beyond the weights: metrics are stale when these change."""
        return {k: v for k, v in self.to_dict().items() if is_eval_field(k)}


def with_new_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A stored run config with every RunSpec field it lacks at its default. Fields added by a later
    ganeval default to the old behaviour (e.g. ``g_steps`` = 1), so a run folder written before they
    existed still resumes and still counts as the same configuration. Settings of the plugin
    entries the run uses are filled the same way."""
    missing = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
               for f in fields(RunSpec) if f.name not in config and f.name not in IDENTITY and f.name != "extra"
               and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)}
    owned = entry_setting_defaults(config)
    return {**config, **missing, **{k: v for k, v in owned.items() if k not in config}}


def entry_setting_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """Defaults of the plugin settings owned by the entries a run's values name (loss, variant
    parts, model, benchmark, optimizer)."""
    variant = values.get("variant") or "none"
    owners = [f"loss {values.get('loss')}", f"benchmark {values.get('benchmark')}", f"model {values.get('model')}",
              f"optimizer {values.get('optimizer')}", *(f"variant {v}" for v in str(variant).split("+"))]
    return owned_defaults(owners)


EVAL_FIELDS = ("eval_samples", "hq_sigmas", "cover_threshold", "fidelity", "fidelity_samples", "is_splits",
               "extractor", "extractor_weights", "lpips_weights", "eval_checkpoints")


def is_eval_field(key: str) -> bool:
    """Whether a setting only changes how a run is evaluated (built-in or a plugin's)."""
    setting = get_setting(key)
    return key in EVAL_FIELDS or (setting is not None and setting.evaluation)


#: Fields that only add output (a run with them on trains and evaluates exactly the same).
OUTPUT_FIELDS = ("tensorboard",)

# Fields a spec or flag may set (the identity fields come from the grid and the study).
IDENTITY = ("benchmark", "loss", "variant", "swept")
_FIELD_NAMES = {f.name for f in fields(RunSpec)} - {"extra"}
RUN_FIELDS = {f.name: f for f in fields(RunSpec) if f.name not in IDENTITY and f.name != "extra"}
RESERVED.update(RUN_FIELDS, IDENTITY)

_POSITIVE_INT = ("z_dim", "hidden", "base_filters", "batch_size", "steps", "n_critic", "ckpt_every",
                 "trace_every", "eval_samples", "cover_threshold", "pool_size", "fidelity_samples", "is_splits",
                 "spectral_every", "r1_every", "maxout", "pack", "g_steps")
_BOOL = ("g_batchnorm", "d_batchnorm", "spectral_norm", "eval_checkpoints", "simultaneous", "tensorboard")
_NONNEG_INT = ("depth", "d_hidden", "d_depth")
_POSITIVE_FLOAT = ("lr_g", "lr_d", "hq_sigmas", "d_input_scale")
_NONNEG_FLOAT = ("gp_weight", "clip_value", "r1_gamma", "clip_grad")

#: The largest value of every numeric setting (the smallest is 1, or 0 for the ``_NONNEG`` ones, and
#: above 0 for the positive floats). They guard against overflow, not taste: every product ganeval
#: forms from them (weights, the memory estimate, step counters) stays within int64, and a float
#: setting leaves float32 room (3.4e38) for its product with a weight or a gradient (a learning rate
#: of 1e30 is a deliberate divergence). A value above it is refused with one line before any work;
#: below it, a setting too large for this machine is refused by the memory estimate.
MAX_VALUE: dict[str, int | float] = {
    "z_dim": 2**30, "hidden": 2**20, "d_hidden": 2**20, "base_filters": 2**16, "depth": 64, "d_depth": 64,
    "maxout": 64, "pack": 64, "batch_size": 2**30, "steps": 10**9, "n_critic": 1000, "g_steps": 1000,
    "ckpt_every": 10**9, "trace_every": 10**9, "spectral_every": 10**9, "r1_every": 10**9,
    "pool_size": 2**31 - 1, "eval_samples": 2**31 - 1, "cover_threshold": 2**31 - 1,
    "fidelity_samples": 2**31 - 1, "is_splits": 10**4,
    "lr_g": 1e30, "lr_d": 1e30, "hq_sigmas": 100.0, "d_input_scale": 1e30,
    "gp_weight": 1e30, "clip_value": 1e30, "r1_gamma": 1e30, "clip_grad": 1e30,
}
#: The most seeds one bench runs (``--seeds N``), and the range of a seed.
MAX_SEEDS = 100_000
SEED_LIMIT = 2**63


def _big(value: int) -> str:
    text = str(value) if abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit number"
    return text


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- --set KEY=VALUE: one value of the key's type, nothing more ---------------------------------
_INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)  # no '1_0', no full-width digits: ASCII decimal only
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _parse_number(text: str, kind: str) -> Any:
    """An int (decimal digits only) or a float (decimal, optional exponent; no hex, nan or inf)
    from ``text``; the text itself when it is not one (the validator then names the type)."""
    if len(text) <= 400 and _INT_TEXT.fullmatch(text):
        return int(text)
    if kind == "float" and len(text) <= 400 and _FLOAT_TEXT.fullmatch(text):
        return float(text)
    return text


def _parse_list(text: str, kind: str) -> Any:
    inner = text.strip()
    if inner.startswith("[") and inner.endswith("]"):
        inner = inner[1:-1]
    items = [item.strip() for item in inner.split(",")]
    if items and items[-1] == "":  # a trailing comma, as TOML allows
        items = items[:-1]
    if kind == "float":
        return [_parse_number(item, "float") for item in items]
    return [_unquote(item) for item in items]


def parse_set(pair: str) -> tuple[str, Any]:
    """``--set KEY=VALUE``: the key (a run setting) and exactly one value of its type, validated.

    Integers are decimal digits; floats decimal with an optional exponent (``1e-3``; no ``0x10``,
    ``nan`` or ``inf``); booleans ``true`` / ``false``; lists ``[a, b]`` or ``a,b``; strings as given
    (surrounding quotes dropped). The value must be one line of printable text: nothing after it is
    read as another setting.
    """
    if "=" not in pair:
        raise SpecError(f"{arg('set_pairs')} expects KEY=VALUE, got {_shown(pair)}")
    key, raw = (part.strip() for part in pair.split("=", 1))
    return key, parse_typed(key, raw, arg("set_pairs"))


def parse_typed(key: str, raw: str, where: str) -> Any:
    """One value of setting ``key`` written as text (``--set``, ``--sweep``), read as its type and
    validated; the rules of :func:`parse_set`."""
    raw = raw.strip()
    plugin_setting = get_setting(key) if key not in RUN_FIELDS else None
    if key not in RUN_FIELDS and plugin_setting is None:
        raise SpecError(_unknown_key(key, [*RUN_FIELDS, *SETTINGS.names()], where))
    if not raw.isprintable():
        raise SpecError(f"{where}: {key!r} must be one value on one line, got {_shown(raw)}")
    kind = plugin_setting.type.__name__ if plugin_setting is not None else str(RUN_FIELDS[key].type)
    if kind == "int":
        value: Any = _parse_number(raw, "int")
    elif kind == "float":
        value = _parse_number(raw, "float")
    elif kind == "bool":
        value = {"true": True, "false": False}.get(raw, raw)
    elif kind.startswith("list"):
        value = _parse_list(raw, "float" if "float" in kind else "str")
    else:
        value = _unquote(raw)
    return check_run_value(key, value, where)


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def check_run_value(key: str, value: Any, where: str) -> Any:
    """Validate and normalise one setting (a RunSpec field or a plugin's); raises SpecError naming
    ``where`` and ``key``."""
    if key not in RUN_FIELDS:
        setting = get_setting(key)
        if setting is None:
            raise SpecError(_unknown_key(key, [*RUN_FIELDS, *SETTINGS.names()], where))
        return setting.validate(value, where)
    bad = f"{where}: {key!r} must be"
    if key in _POSITIVE_INT or key in _NONNEG_INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{bad} an integer, got {_type_name(value)} {_shown(value)}")
        if key in _POSITIVE_INT and value <= 0:
            raise SpecError(f"{bad} positive, got {value}")
        if value < 0:
            raise SpecError(f"{bad} >= 0, got {value}")
        if value > MAX_VALUE[key]:
            raise SpecError(f"{bad} at most {MAX_VALUE[key]:,}, got {_big(value)}")
        return value
    if key in _POSITIVE_FLOAT or key in _NONNEG_FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{bad} a number, got {_type_name(value)} {_shown(value)}")
        if isinstance(value, int) and abs(value) > 2**63:
            raise SpecError(f"{bad} at most {MAX_VALUE[key]:g}, got {_big(value)}")
        value = float(value)
        if not value == value or value in (float("inf"), float("-inf")):
            raise SpecError(f"{bad} finite, got {value}")
        if key in _POSITIVE_FLOAT and value <= 0:
            raise SpecError(f"{bad} positive, got {value}")
        if value < 0:
            raise SpecError(f"{bad} >= 0, got {value}")
        if value > MAX_VALUE[key]:
            raise SpecError(f"{bad} at most {MAX_VALUE[key]:g}, got {value:g}")
        return value
    if key == "ema_beta":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise SpecError(f"{bad} a number in [0, 1) (0 = no EMA), got {value!r}")
        return float(value)
    if key == "betas":
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in value)):
            raise SpecError(f"{bad} two numbers in [0, 1), got {value!r}")
        return [float(b) for b in value]
    if key in _BOOL:
        if not isinstance(value, bool):
            raise SpecError(f"{bad} true or false, got {value!r}")
        return value
    if key == "fidelity":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) and v in FIDELITY_METRICS for v in value):
            raise SpecError(f"{bad} a list of {', '.join(FIDELITY_METRICS)}, got {value!r}")
        return list(dict.fromkeys(value))
    if key == "extractor":
        return _choice(value, EXTRACTORS, f"{where}: extractor")
    if key in ("extractor_weights", "lpips_weights"):
        if not isinstance(value, str):
            raise SpecError(f"{bad} a path (string), got {value!r}")
        return value
    if key == "optimizer":
        from ganeval.optimizers import OPTIMIZERS

        if not isinstance(value, str) or value not in OPTIMIZERS:
            raise SpecError(f"{where}: " + unknown_name_message("optimizer", str(value), OPTIMIZERS.names()))
        return value
    if key == "z_dist":
        return _choice(value, Z_DISTRIBUTIONS, f"{where}: z_dist")
    if key == "model":
        from ganeval.models import MODELS

        if not isinstance(value, str) or value not in MODELS:
            raise SpecError(f"{where}: " + unknown_name_message("model", str(value), MODELS.names()))
        return value
    raise AssertionError(f"no validator for {key}")  # pragma: no cover - every field has one above


def _choice(value: Any, choices: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SpecError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _unknown_key(key: str, valid: list[str], where: str) -> str:
    return f"{where}: unknown key {key!r}{did_you_mean(key, valid)}"


@dataclass
class BenchSpec:
    """A grid of runs: benchmarks x losses x variants, each over ``seeds``, plus overrides."""

    benchmarks: list[str] = field(default_factory=lambda: list(DEFAULT_BENCHMARKS))
    losses: list[str] = field(default_factory=lambda: list(DEFAULT_LOSSES))
    variants: list[str] = field(default_factory=lambda: ["none"])
    seeds: list[int] = field(default_factory=lambda: list(range(DEFAULT_SEEDS)))
    device: str = "auto"
    batch_seeds: bool = True
    run: dict[str, Any] = field(default_factory=dict)
    benchmark_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    loss_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    variant_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    cell_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: plugins the bench loads (absolute file paths or module names) and their files' SHA-256
    plugins: list[str] = field(default_factory=list)
    plugin_sha256: dict[str, str] = field(default_factory=dict)
    #: a hyperparameter study: ``[sweep]`` (a grid: ``KEY`` or tied ``"K1+K2"`` -> values) and
    #: ``[search]`` (``trials``, ``seed``, ``KEY = "LOW:HIGH[:log]"``); every cell trains every
    #: setting that applies to it, over the seeds (:meth:`runs`)
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    #: what counts as a successful seed-run, per benchmark (``[success.ring8] modes_covered = ">= 7"``):
    #: the study report's success rates and a study's baseline read it (defaults: ``study.DEFAULT_SUCCESS``)
    success: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self, names: bool = True) -> BenchSpec:
        """Check every value. ``names=False`` reads a recorded spec whose plugins are not loaded
        here (names are data: a report or check still works from the files), so entry names and
        plugin settings are taken as written."""
        from ganeval.benchmarks import BENCHMARKS
        from ganeval.losses import LOSSES
        from ganeval.variants import VARIANTS, parse_variant

        for kind, values, registry in (("benchmark", self.benchmarks, BENCHMARKS), ("loss", self.losses, LOSSES)):
            if not values:
                raise SpecError(f"at least one {kind} is needed")
            for name in values if names else ():
                registry.get(name)
            if len(set(values)) != len(values):
                raise SpecError(f"{kind} listed twice in {values}")
        if not self.variants:
            raise SpecError("at least one variant is needed ('none' for the plain losses)")
        if len(set(self.variants)) != len(self.variants):
            raise SpecError(f"variant listed twice in {self.variants}")
        if not names:
            return self
        for v in self.variants:
            for loss in self.losses:
                parse_variant(v, loss)
        if not self.seeds:
            raise SpecError("at least one seed is needed")
        if len(set(self.seeds)) != len(self.seeds):
            raise SpecError(f"seed listed twice in {self.seeds}")
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 or s >= 2**63 for s in self.seeds):
            raise SpecError(f"seeds must be non-negative integers, got {self.seeds}")
        _choice(self.device, DEVICES, "device")
        for key, value in self.run.items():
            self.run[key] = check_run_value(key, value, "spec")
        for table, registry, label in ((self.benchmark_overrides, BENCHMARKS, "benchmark"),
                                       (self.loss_overrides, LOSSES, "loss"),
                                       (self.variant_overrides, VARIANTS, "variant")):
            for name, values in table.items():
                registry.get(name)
                for key, value in values.items():
                    values[key] = check_run_value(key, value, f"[{label}.{name}]")
        for key, values in self.cell_overrides.items():
            try:
                cell = CellId.from_key(key)
            except ValueError:
                raise SpecError(f"[cell.{key!r}]: cell keys are 'BENCHMARK/LOSS' or 'BENCHMARK/LOSS/VARIANT'") from None
            BENCHMARKS.get(cell.benchmark)
            LOSSES.get(cell.loss)
            if not cell.plain:
                parse_variant(cell.variant, cell.loss)
            for k, value in values.items():
                values[k] = check_run_value(k, value, f"[cell.{key!r}]")
        self.runs()  # the study's values, and that each swept key is a setting of some cell
        if self.success:
            parse_success(self.success, "[success]")
        return self

    def cells(self) -> list[RunSpec]:
        """Every (benchmark, loss, variant) run configuration of the grid, fully resolved."""
        return [self.resolve(b, l, v) for b in self.benchmarks for l in self.losses for v in self.variants]

    @property
    def is_study(self) -> bool:
        return bool(self.sweep or self.search)

    def settings(self) -> list[dict[str, Any]]:
        """The study's settings: the ``[sweep]`` grid crossed with the ``[search]`` trials (a search
        inside each grid point), each value checked by its key's own validator; ``[]`` outside a study."""
        from ganeval.sweep import cross, grid_from_table, search_from_table

        grid = grid_from_table(self.sweep, lambda k, v: check_run_value(k, v, "sweep"), "sweep") if self.sweep else []
        found = search_from_table(self.search, lambda k, v: check_run_value(k, v, "search"), "search") \
            if self.search else []
        return cross(grid, found)

    def runs(self) -> list[RunSpec]:
        """Every run configuration the bench trains over its seeds: each grid cell under each study
        setting, the setting's keys applied last (a study's axis beats every other source). A key
        applies to a cell when it is a ganeval setting or a setting of an entry the cell uses (a
        plugin loss's own knob applies to that loss only); a cell that none of the keys applies to
        trains once, as it would outside the study."""
        cells = self.cells()
        settings = self.settings()
        if not settings:
            return cells
        used = {k for s in settings for k in s}
        applies = {k for k in used if k in RUN_FIELDS or any(k in c.extra for c in cells)}
        for k in sorted(used - applies):
            owner = SETTINGS.get(k).owner if k in SETTINGS else "no entry"
            raise SpecError(f"study: {k!r} is not a setting of any cell of this bench (it belongs to {owner})")
        out = []
        for base in cells:
            seen: set[str] = set()
            for setting in settings:
                own = {k: v for k, v in setting.items() if k in RUN_FIELDS or k in base.extra}
                canonical = repr(sorted(own.items()))
                if canonical in seen:
                    continue
                seen.add(canonical)
                builtin = {k: v for k, v in own.items() if k in RUN_FIELDS}
                extra = {**base.extra, **{k: v for k, v in own.items() if k not in RUN_FIELDS}}
                out.append(dataclasses.replace(base, **builtin, extra=extra, swept=list(own)))
        return out

    def resolve(self, benchmark: str, loss: str, variant: str = "none") -> RunSpec:
        from ganeval.benchmarks import get_benchmark
        from ganeval.losses import get_loss
        from ganeval.variants import apply_variant_defaults

        bench = get_benchmark(benchmark)
        values: dict[str, Any] = {}
        values.update(entry_setting_defaults({"benchmark": benchmark, "loss": loss, "variant": variant}))
        values.update(bench.train_defaults)
        values.update({k: check_run_value(k, v, f"loss {loss}: defaults") for k, v in get_loss(loss).defaults.items()})
        values.update(bench.loss_defaults.get(loss, {}))
        values = apply_variant_defaults(variant, values)
        values.update(self.run)
        values.update(self.benchmark_overrides.get(benchmark, {}))
        values.update(self.loss_overrides.get(loss, {}))
        for part in variant.split("+") if variant != "none" else []:
            values.update(self.variant_overrides.get(part, {}))
        values.update(self.cell_overrides.get(CellId(benchmark, loss).key, {}))
        if variant != "none":
            values.update(self.cell_overrides.get(CellId(benchmark, loss, variant).key, {}))
        model = values.get("model", RUN_FIELDS["model"].default)
        optimizer = values.get("optimizer", RUN_FIELDS["optimizer"].default)
        for key, value in entry_setting_defaults({"model": model, "optimizer": optimizer}).items():
            values.setdefault(key, value)  # a model's or optimizer's own settings, unless set
        return RunSpec.of({"benchmark": benchmark, "loss": loss, "variant": variant, **values})

    def to_toml(self) -> str:
        """The fully resolved spec: the grid, plus one [cell] table pinning every run's settings."""
        doc: dict[str, Any] = {
            "spec_version": SPEC_VERSION,
            "benchmarks": self.benchmarks,
            "losses": self.losses,
            "variants": self.variants,
            "seeds": self.seeds,
            "device": self.device,
            "batch_seeds": self.batch_seeds,
        }
        if self.plugins:
            doc["plugins"] = self.plugins
            doc["plugin_sha256"] = {ref: self.plugin_sha256[ref] for ref in self.plugins if self.plugin_sha256.get(ref)}
        if self.sweep:
            doc["sweep"] = self.sweep
        if self.search:
            doc["search"] = self.search
        if self.success:
            doc["success"] = self.success
        from ganeval.benchmarks.base import MIXTURES

        mixtures = {b: {MIXTURE_KEY: MIXTURES[b].to_table()} for b in self.benchmarks if b in MIXTURES}
        if mixtures:  # benchmarks that are data travel with the spec (however they were registered)
            doc["benchmark"] = mixtures
        doc["cell"] = {}
        for run in self.cells():
            values = run.to_dict()
            for k in IDENTITY:
                values.pop(k, None)
            doc["cell"][run.cell_key] = values
        return "# ganeval bench spec (resolved): re-run with `ganeval bench --spec THIS_FILE`\n" + tomli_w.dumps(doc)


_TOP_KEYS = {"spec_version", "benchmarks", "losses", "variants", "seeds", "device", "batch_seeds",
             "benchmark", "loss", "variant", "cell", "plugins", "plugin_sha256", "sweep", "search", "success"}


def load_spec(path: Path, load_plugins: bool = False) -> BenchSpec:
    """Read and validate a bench spec TOML file; every problem is a SpecError naming the key.

    A spec's ``plugins`` run only when ``load_plugins`` is true (``bench --load-spec-plugins``), or
    when this process loaded them already (``--plugin``): see :func:`spec_plugins`."""
    from ganeval import fileio
    from ganeval.errors import DataError

    path = Path(path)
    try:
        text = fileio.read_text(path, what="a spec file")
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {path}") from None
    except DataError as exc:  # a FIFO, a device, too big
        raise SpecError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = fileio.loads_toml(text, str(path))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from None
    spec_plugins(doc, path, load_plugins)
    return spec_from_dict(doc, str(path))


def spec_plugins(doc: dict[str, Any], path: Path, load: bool = False) -> list[str]:
    """Make sure the plugins a spec names are the ones loaded, and rewrite them in ``doc`` as the
    absolute paths or module names they were loaded from, with the hashes of the bytes that ran.

    A plugin loaded already in this process (``--plugin``) must be the recorded code. One that is
    not is imported only with ``load`` (the user's explicit opt-in), its recorded SHA-256 checked
    before any of it runs; without ``load`` the spec is refused in one line naming its plugins: a
    spec file can come from anyone, and reading it must not run code."""
    from ganeval.plugins import describe_refs, load_entry_points, load_plugin, not_loaded, spec_refs

    load_entry_points()
    refs = spec_refs(doc, path)
    missing = not_loaded(refs)
    if missing and not load:
        raise SpecError(f"{path} names plugin(s) {describe_refs(missing)}, which a spec file never runs unasked: "
                        f"re-run with {given('load_spec_plugins')} to load them (their recorded SHA-256 is checked "
                        f"before they run), or load them yourself with {arg('plugins')}")
    loaded = [load_plugin(ref, expected_sha256=sha, where=str(path)) for ref, sha in refs]
    doc["plugins"] = [p.ref for p in loaded]
    doc["plugin_sha256"] = {p.ref: p.sha256 for p in loaded if p.sha256}
    return doc["plugins"]


def _names(value: Any, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: {key!r} must be a list of names, got {value!r}")
    return value


def parse_seeds(value: Any, where: str = "seeds") -> list[int]:
    """``3`` means seeds 0, 1, 2; a list means exactly those seeds."""
    if isinstance(value, bool):
        raise SpecError(f"{where} must be a count or a list of integers, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise SpecError(f"{where} must be positive, got {value}")
        if value > MAX_SEEDS:
            raise SpecError(f"{where}: at most {MAX_SEEDS:,} seeds, got {_big(value)}")
        return list(range(value))
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        if len(value) > MAX_SEEDS:
            raise SpecError(f"{where}: at most {MAX_SEEDS:,} seeds, got {len(value):,}")
        bad = next((v for v in value if not 0 <= v < SEED_LIMIT), None)
        if bad is not None:
            raise SpecError(f"{where}: a seed must be in [0, 2^63), got {_big(bad)}")
        return list(value)
    raise SpecError(f"{where} must be a count or a list of integers, got {value!r}")


def spec_from_dict(doc: dict[str, Any], where: str = "spec", names: bool = True) -> BenchSpec:
    """A BenchSpec from a parsed spec document; ``names=False``: see :meth:`BenchSpec.validate`."""
    version = doc.get("spec_version", SPEC_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SpecError(f"{where}: 'spec_version' must be an integer, got {version!r}")
    if version > SPEC_VERSION:
        raise SpecError(f"{where}: spec_version {version} is newer than this ganeval understands "
                        f"({SPEC_VERSION}); upgrade ganeval")
    spec = BenchSpec()
    run: dict[str, Any] = {}
    for key, value in doc.items():
        if key in ("benchmarks", "losses", "variants"):
            setattr(spec, key, _names(value, key, where))
        elif key == "seeds":
            spec.seeds = parse_seeds(value, f"{where}: 'seeds'")
        elif key == "device":
            spec.device = _choice(value, DEVICES, f"{where}: 'device'")
        elif key == "batch_seeds":
            if not isinstance(value, bool):
                raise SpecError(f"{where}: 'batch_seeds' must be true or false, got {value!r}")
            spec.batch_seeds = value
        elif key in ("benchmark", "loss", "variant", "cell"):
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise SpecError(f"{where}: [{key}.NAME] tables expected under {key!r}")
            target = {"benchmark": spec.benchmark_overrides, "loss": spec.loss_overrides,
                      "variant": spec.variant_overrides, "cell": spec.cell_overrides}[key]
            target.update({name: dict(values) for name, values in value.items()})
            if key == "benchmark":
                declare_mixtures(spec.benchmark_overrides, where)
        elif key == "plugins":
            spec.plugins = _names(value, key, where)
        elif key == "plugin_sha256":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise SpecError(f"{where}: 'plugin_sha256' must be a table of file hashes")
            spec.plugin_sha256 = dict(value)
        elif key in ("sweep", "search", "success"):
            if not isinstance(value, dict):
                raise SpecError(f"{where}: [{key}] must be a table, got {value!r}")
            setattr(spec, key, dict(value))
        elif key == "spec_version":
            pass
        elif key in RUN_FIELDS:
            run[key] = value
        else:
            raise SpecError(_unknown_key(key, sorted(_TOP_KEYS | set(RUN_FIELDS)), where))
    spec.run = run
    try:
        return spec.validate(names)
    except SpecError as exc:
        msg = str(exc)
        raise SpecError(msg if msg.startswith(where) else f"{where}: {msg}") from None


#: The key of a ``[benchmark.NAME]`` table whose sub-table declares a new mixture benchmark NAME
#: (never a run setting: no setting may take this name).
MIXTURE_KEY = "mixture"
RESERVED.add(MIXTURE_KEY)


def declare_mixtures(tables: dict[str, dict[str, Any]], where: str) -> None:
    """Register the mixtures that ``[benchmark.NAME.mixture]`` sub-tables declare, and take those
    sub-tables out of the run-setting overrides. The rest of ``[benchmark.NAME]`` stays what it is
    for any benchmark: run settings for NAME's cells. A name that exists already (``ring8``, a
    plugin's) is refused unless it is this very mixture (a resolved spec read again)."""
    from ganeval.benchmarks.mog import register_mixture_table

    for name, values in tables.items():
        if MIXTURE_KEY in values:
            register_mixture_table(name, values.pop(MIXTURE_KEY), f"{where}: [benchmark.{name}.{MIXTURE_KEY}]")


def declare_bench_mixtures(spec_path: Path) -> None:
    """Register the mixtures a bench's resolved spec (``spec_path``) declares, and nothing else (no
    plugin code runs): a command that reads one seed-run (``ganeval eval``) finds its benchmark. A
    spec that cannot be read, or declares something invalid, is left to the commands that read it
    whole."""
    from ganeval import fileio

    try:
        doc = fileio.loads_toml(fileio.read_text(Path(spec_path), what="a spec file"), str(spec_path))
        tables = doc.get("benchmark", {})
        if isinstance(tables, dict):
            declare_mixtures({n: dict(v) for n, v in tables.items() if isinstance(v, dict)}, str(spec_path))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, GanevalError):
        return


def parse_sets(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``--set key=value`` (repeatable): each one value of its key's type (:func:`parse_set`)."""
    return dict(parse_set(pair) for pair in pairs)


def build_spec(*, spec_file: Path | None = None, protocol: str | None = None, losses: list[str] | None = None,
               benchmarks: list[str] | None = None, variants: list[str] | None = None,
               seeds: list[int] | None = None, device: str | None = None, sets: dict[str, Any] | None = None,
               set_pairs: list[str] | tuple[str, ...] = (), steps: int | None = None, batch_size: int | None = None,
               inception_weights: Path | None = None, plugins: list[str] | tuple[str, ...] = (),
               sweep: Sequence[str] | Mapping[str, Sequence[Any]] = (),
               search: Sequence[str] | Mapping[str, str] = (), trials: int | None = None,
               search_seed: int | None = None, success: Mapping[str, Mapping[str, Any]] | None = None,
               load_spec_plugins: bool = False) -> BenchSpec:
    """The bench a command asks for: a spec file or a shipped protocol (or the defaults), then the
    named arguments on top. Arguments beat every table of the spec file, so they are applied at
    the most specific level too. ``plugins`` (files or module names) are loaded and recorded, and
    the spec's own plugins loaded, before any setting is read: ``sets`` (values) and ``set_pairs``
    (``KEY=VALUE`` text, as on the command line) may name their settings. The spec file's own
    plugins run only with ``load_spec_plugins`` (see :func:`spec_plugins`)."""
    from ganeval.plugins import load_plugins

    loaded = load_plugins(plugins)
    if protocol is not None:
        if spec_file is not None:
            raise SpecError("give a spec file or a protocol, not both")
        from ganeval.protocols import protocol_path

        spec_file = protocol_path(protocol)
    spec = load_spec(Path(spec_file), load_spec_plugins) if spec_file else BenchSpec()
    for p in loaded:
        if p.ref not in spec.plugins:
            spec.plugins.append(p.ref)
        if p.sha256:
            spec.plugin_sha256[p.ref] = p.sha256
    for name, value in (("losses", losses), ("variants", variants), ("benchmarks", benchmarks), ("seeds", seeds),
                        ("device", device)):
        if value is not None:
            setattr(spec, name, list(value) if isinstance(value, (list, tuple)) else value)
    cli_run = {**parse_sets(set_pairs), **{k: check_run_value(k, v, arg("sets")) for k, v in (sets or {}).items()}}
    if steps is not None:
        cli_run["steps"] = check_run_value("steps", steps, "steps")
    if batch_size is not None:
        cli_run["batch_size"] = check_run_value("batch_size", batch_size, "batch_size")
    if inception_weights is not None:
        from ganeval.metrics.fidelity import check_inception_weights

        check_inception_weights(inception_weights)  # now, not at the first evaluation (or never)
        cli_run["extractor"] = "inception-v3-compat"
        cli_run["extractor_weights"] = str(inception_weights)
    _apply_study(spec, sweep, search, trials, search_seed)
    if success is not None:
        if not isinstance(success, Mapping):
            raise SpecError(f"success: expected {{benchmark: {{metric: condition}}}}, got {success!r}")
        spec.success = {**spec.success, **{str(b): dict(c) if isinstance(c, Mapping) else c for b, c in success.items()}}
    spec.validate()
    spec.run.update(cli_run)
    for table in (spec.benchmark_overrides, spec.loss_overrides, spec.variant_overrides, spec.cell_overrides):
        for values in table.values():
            values.update(cli_run)
    return spec


def _apply_study(spec: BenchSpec, sweep: Sequence[str] | Mapping[str, Sequence[Any]],
                 search: Sequence[str] | Mapping[str, str], trials: int | None, search_seed: int | None) -> None:
    """A sweep or search given as arguments replaces the spec file's; ``trials`` / ``search_seed``
    alone change the spec's own search (more trials extend it: the first ones stay the same)."""
    from ganeval.sweep import search_table, sweep_table

    if isinstance(sweep, str) or isinstance(search, str):
        raise SpecError("sweep and search take a list of 'KEY=VALUES' items or a table, not one string")
    if sweep:
        spec.sweep = ({k: list(v) for k, v in sweep.items()} if isinstance(sweep, Mapping)
                      else sweep_table(list(sweep), lambda key, text: parse_typed(key, text, arg("sweep"))))
    if search:
        if trials is None:
            raise SpecError(f"{arg('search')} needs {arg('trials')} N (how many settings to draw)")
        items = [f"{k}={v}" for k, v in search.items()] if isinstance(search, Mapping) else list(search)
        spec.search = search_table(items, trials, 0 if search_seed is None else search_seed)
    elif trials is not None or search_seed is not None:
        if not spec.search:
            raise SpecError(f"{arg('trials')} and {arg('search_seed')} go with {arg('search')} KEY=LOW:HIGH[:log] (or a "
                              "spec's [search])")
        spec.search = {**spec.search, **({"trials": trials} if trials is not None else {}),
                       **({"seed": search_seed} if search_seed is not None else {})}
