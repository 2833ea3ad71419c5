"""Hyperparameter sweeps and random search: the settings a study trains, and their folder names.

A *setting* is a dict ``{run key: value}`` (e.g. ``{"lr_d": 1e-4, "lr_g": 1e-4}``) applied on top of
a cell's resolved run settings. Three sources, all returning ``list[dict]``:

* grid: ``--sweep KEY=V1,V2,...`` (repeatable; several items cross; ``lr_d+lr_g=1e-4,1e-3`` ties
  keys, one value setting both) or a spec table ``[sweep]`` with the same keys;
* random search: ``--search KEY=LOW:HIGH[:log] --trials N --search-seed S`` or a ``[search]``
  table, drawn from a scrambled Sobol sequence (``scipy.stats.qmc``): trial i depends only on the
  seed and i, so trials 0..N-1 are a prefix of trials 0..M-1 for M > N and a study extended with
  more trials keeps (and need not retrain) the trials it has;
* :func:`cross` of the two.

Every value is validated by a ``check(key, value) -> value`` callback (the bench passes the
run-spec validator, ``ganeval.spec.check_run_value``, so a swept key is any run setting, a
plugin's included; without one, values are taken as given). :func:`setting_fragment`
gives a readable, collision-free folder-name fragment, :func:`setting_label` the text that names a
setting in keys and tables.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

from ganeval.errors import SpecError

Check = Callable[[str, Any], Any]
Setting = dict[str, Any]

__all__ = ["MAX_SETTINGS", "MAX_TRIALS", "SearchDim", "cross", "fragments", "grid", "grid_from_table",
           "parse_search", "parse_sweep", "parse_value", "search", "search_from_table", "search_table",
           "setting_fragment", "setting_label", "swept_keys", "sweep_table", "value_text"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The most trials one search draws, and the most settings one study trains (grid points x trials):
#: each setting is a folder per cell and seed, so a study beyond this is a typo, not a plan.
MAX_TRIALS = 10_000
MAX_SETTINGS = 10_000


def _as_given(key: str, value: Any) -> Any:
    return value


def parse_value(text: str) -> Any:
    """One value as written on the command line: a TOML literal if it is one (``1e-4``, ``3``,
    ``true``, ``[0.5, 0.999]``, ``"x"``), otherwise the bare text (``bce``)."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _split_values(text: str, where: str) -> list[str]:
    """Split on commas outside brackets and quotes (``[0.5,0.9],[0.0,0.9]`` is two values)."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise SpecError(f"{where}: unbalanced ']' in {text!r}")
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if depth or quote:
        raise SpecError(f"{where}: unbalanced brackets or quotes in {text!r}")
    parts.append("".join(cur))
    if any(not p.strip() for p in parts):
        raise SpecError(f"{where}: empty value in {text!r}")
    return parts


def _keys(text: str, where: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in text.split("+"))
    for k in keys:
        if not _KEY.match(k):
            raise SpecError(f"{where}: {k!r} is not a setting name (expected KEY or KEY1+KEY2)")
    if len(set(keys)) != len(keys):
        raise SpecError(f"{where}: a key is tied to itself in {text!r}")
    return keys


def _split_item(item: str, where: str) -> tuple[tuple[str, ...], str]:
    if "=" not in item:
        raise SpecError(f"{where}: expected KEY=VALUES, got {item!r}")
    left, right = item.split("=", 1)
    return _keys(left, where), right


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _checked(keys: Sequence[str], value: Any, check: Check) -> Setting:
    return {k: check(k, value) for k in keys}


def _no_repeated_keys(groups: Sequence[tuple[str, ...]], where: str) -> None:
    seen: set[str] = set()
    for keys in groups:
        for k in keys:
            if k in seen:
                raise SpecError(f"{where}: {k!r} is swept twice (tie keys with KEY1+KEY2 instead)")
            seen.add(k)


def grid(axes: Sequence[tuple[tuple[str, ...], Sequence[Any]]], check: Check | None = None,
         where: str = "--sweep") -> list[Setting]:
    """The cross product of ``axes`` (each: tied keys and their values), first axis slowest."""
    check = check or _as_given
    _no_repeated_keys([keys for keys, _ in axes], where)
    columns = []
    for keys, values in axes:
        if len(values) == 0:
            raise SpecError(f"{where}: {'+'.join(keys)} has no values")
        settings = [_checked(keys, v, check) for v in values]
        canon = [_canonical(s) for s in settings]
        if len(set(canon)) != len(canon):
            dup = next(c for c in canon if canon.count(c) > 1)
            raise SpecError(f"{where}: {'+'.join(keys)} lists the same value twice ({dup})")
        columns.append(settings)
    if math.prod(len(c) for c in columns) > MAX_SETTINGS:
        raise SpecError(f"{where}: {math.prod(len(c) for c in columns):,} settings; at most {MAX_SETTINGS:,}")
    out = []
    for combo in itertools.product(*columns):
        merged: Setting = {}
        for part in combo:
            merged.update(part)
        out.append(merged)
    return out


def parse_sweep(items: Sequence[str], check: Check | None = None, where: str = "--sweep") -> list[Setting]:
    """``["lr_d=1e-4,1e-3", "lr_d+lr_g=..."]`` -> the grid of settings (empty items: ``[]``)."""
    table = sweep_table(items, where=where)
    return grid_from_table(table, check, where) if table else []


def sweep_table(items: Sequence[str], parse: Callable[[str, str], Any] | None = None,
                where: str = "--sweep") -> dict[str, list[Any]]:
    """``--sweep`` items as the spec's ``[sweep]`` table: ``{"lr_d+lr_g": [1e-4, 1e-3], ...}``.

    ``parse(key, text)`` reads one value as that key's type (the bench passes ``--set``'s parser,
    so a swept value is read exactly as ``--set KEY=VALUE`` would read it); default: a TOML
    literal or the bare word (:func:`parse_value`)."""
    table: dict[str, list[Any]] = {}
    for item in items:
        keys, right = _split_item(item, where)
        name = "+".join(keys)
        if name in table:
            raise SpecError(f"{where}: {name} is swept twice (give its values in one item: {name}=V1,V2,...)")
        texts = _split_values(right, f"{where} {item!r}")
        table[name] = [parse(keys[0], t) if parse is not None else parse_value(t) for t in texts]
    return table


def grid_from_table(table: Mapping[str, Any], check: Check | None = None, where: str = "[sweep]") -> list[Setting]:
    """A spec's ``[sweep]`` table (``lr_d = [1e-4, 1e-3]``, ``"lr_d+lr_g" = [...]``) -> settings."""
    axes = []
    for key, values in table.items():
        if not isinstance(values, list):
            raise SpecError(f"{where}: {key!r} must be a list of values, got {values!r}")
        axes.append((_keys(key, where), values))
    return grid(axes, check, where) if axes else []


@dataclass(frozen=True)
class SearchDim:
    """One searched axis: tied ``keys`` drawn in [low, high], uniformly or log-uniformly; integers
    when both bounds were written as integers (uniform over low..high inclusive)."""

    keys: tuple[str, ...]
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def value(self, u: float) -> float | int:
        """The value at quantile ``u`` in [0, 1)."""
        if self.integer:
            if self.log:
                x = math.exp(math.log(self.low) + u * (math.log(self.high + 1) - math.log(self.low)))
                return int(min(self.high, max(self.low, math.floor(x))))
            return int(min(self.high, self.low + math.floor(u * (self.high - self.low + 1))))
        if self.log:
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return float(self.low + u * (self.high - self.low))


def _search_dim(keys: tuple[str, ...], text: str, where: str) -> SearchDim:
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("log", "lin")):
        raise SpecError(f"{where}: {'+'.join(keys)} must be LOW:HIGH or LOW:HIGH:log, got {text!r}")
    bounds = [parse_value(p) for p in parts[:2]]
    if not all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in bounds):
        raise SpecError(f"{where}: {'+'.join(keys)} bounds must be finite numbers, got {text!r}")
    low, high = bounds
    log = len(parts) == 3 and parts[2] == "log"
    if not low < high:
        raise SpecError(f"{where}: {'+'.join(keys)} needs LOW < HIGH, got {text!r}")
    if log and low <= 0:
        raise SpecError(f"{where}: {'+'.join(keys)} on a log scale needs LOW > 0, got {text!r}")
    return SearchDim(keys, float(low), float(high), log, all(isinstance(b, int) for b in bounds))


def search(dims: Sequence[SearchDim], trials: int, seed: int, check: Check | None = None,
           where: str = "--search") -> list[Setting]:
    """``trials`` settings drawn from a scrambled Sobol sequence seeded by ``seed``: trial i is the
    i-th point of that sequence, whatever ``trials`` is (so a longer search extends a shorter one)."""
    check = check or _as_given
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise SpecError(f"{where}: the number of trials must be a positive integer, got {trials!r}")
    if trials > MAX_TRIALS:
        raise SpecError(f"{where}: at most {MAX_TRIALS:,} trials, got {trials:,}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise SpecError(f"{where}: the search seed must be an integer in [0, 2^63), got {seed!r}")
    if not dims:
        raise SpecError(f"{where}: nothing to search (give KEY=LOW:HIGH[:log])")
    _no_repeated_keys([d.keys for d in dims], where)
    sampler = qmc.Sobol(len(dims), scramble=True, rng=np.random.default_rng(seed))
    with warnings.catch_warnings():  # balance warning for n not a power of 2: irrelevant here
        warnings.simplefilter("ignore", UserWarning)
        points = sampler.random(trials)
    out = []
    for row in points:
        setting: Setting = {}
        for dim, u in zip(dims, row):
            setting.update(_checked(dim.keys, dim.value(float(u)), check))
        out.append(setting)
    return out


def parse_search(items: Sequence[str], trials: int, seed: int = 0, check: Check | None = None,
                 where: str = "--search") -> list[Setting]:
    """``["lr_d=1e-5:1e-2:log", "betas0=..."]``, ``--trials``, ``--search-seed`` -> settings."""
    dims = []
    for item in items:
        keys, right = _split_item(item, where)
        dims.append(_search_dim(keys, right, where))
    return search(dims, trials, seed, check, where)


def search_table(items: Sequence[str], trials: int, seed: int = 0, where: str = "--search") -> dict[str, Any]:
    """``--search`` items, ``--trials`` and ``--search-seed`` as the spec's ``[search]`` table
    (``{"trials": 20, "seed": 0, "lr_d": "1e-5:1e-2:log"}``), each range checked now."""
    table: dict[str, Any] = {"trials": trials, "seed": seed}
    for item in items:
        keys, right = _split_item(item, where)
        _search_dim(keys, right, where)
        name = "+".join(keys)
        if name in table:
            raise SpecError(f"{where}: {name} is searched twice")
        table[name] = right.strip()
    return table


def search_from_table(table: Mapping[str, Any], check: Check | None = None, where: str = "[search]") -> list[Setting]:
    """A spec's ``[search]`` table: ``trials = 20``, ``seed = 0`` and ``KEY = "LOW:HIGH[:log]"``."""
    table = dict(table)
    trials = table.pop("trials", None)
    seed = table.pop("seed", 0)
    if trials is None:
        raise SpecError(f"{where}: 'trials' is required (how many settings to draw)")
    dims = []
    for key, text in table.items():
        if not isinstance(text, str):
            raise SpecError(f"{where}: {key!r} must be a string \"LOW:HIGH[:log]\", got {text!r}")
        dims.append(_search_dim(_keys(key, where), text, where))
    return search(dims, trials, seed, check, where)


def cross(*parts: Sequence[Setting]) -> list[Setting]:
    """Every combination of the given setting lists (an empty list is neutral): a search crossed with
    a grid runs the same trials at every grid point."""
    parts = [p for p in parts if p]
    if not parts:
        return []
    if math.prod(len(p) for p in parts) > MAX_SETTINGS:
        sizes = " x ".join(str(len(p)) for p in parts)
        raise SpecError(f"a study of {sizes} = {math.prod(len(p) for p in parts):,} settings; at most {MAX_SETTINGS:,}")
    for a, b in itertools.combinations(parts, 2):
        shared = set(a[0]) & set(b[0])
        if shared:
            raise SpecError(f"{sorted(shared)} is both swept and searched")
    out = []
    for combo in itertools.product(*parts):
        merged: Setting = {}
        for s in combo:
            merged.update(s)
        out.append(merged)
    return out


# --- folder names ---------------------------------------------------------------------------
_SAFE = re.compile(r"^[A-Za-z0-9.+-]+$")
MAX_VALUE_CHARS = 24


def _short_hash(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode()).hexdigest()[:8]


def _number_text(v: float) -> str:
    if v == 0 or 1e-2 <= abs(v) < 1e4:
        text = repr(v)
        return text[:-2] if text.endswith(".0") else text
    mantissa, exp = f"{v:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{exp}"


def _value_text(value: Any) -> tuple[str, bool]:
    """(text, exact): ``exact`` when the text alone identifies the value."""
    if isinstance(value, bool):
        return ("true" if value else "false"), True
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value), True
        text = _number_text(value)
        if float(text) == value:
            return text, True
        return _number_text(float(f"{value:.4g}")), False
    if isinstance(value, (list, tuple)):
        texts = [_value_text(v) for v in value]
        return "+".join(t for t, _ in texts), all(e for _, e in texts) and all(
            not isinstance(v, str) for v in value)
    text = str(value)
    safe = re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-") or "x"
    # a string that reads as a number or boolean ("1", "true") would share that value's text
    return safe, safe == text and isinstance(parse_value(text), str)


def setting_fragment(setting: Mapping[str, Any]) -> str:
    """A folder-name fragment for ``setting``: ``{"lr_d": 1e-4}`` -> ``lr_d-1e-04``; several keys
    in sorted order joined by ``__``. A value whose text would not identify it (rounded, unsafe
    characters, longer than 24 characters) is shortened and followed by ``~`` and 8 hex digits of
    its hash, so distinct settings never share a fragment."""
    if not setting:
        raise ValueError("an empty setting has no fragment")
    parts = []
    for key in sorted(setting):
        text, exact = _value_text(setting[key])
        if len(text) > MAX_VALUE_CHARS:
            text, exact = text[:MAX_VALUE_CHARS].rstrip("-+."), False
        if not exact:
            text = f"{text}~{_short_hash(setting[key])}"
        parts.append(f"{key}-{text}")
    return "__".join(parts)


def fragments(settings: Sequence[Mapping[str, Any]]) -> list[str]:
    """:func:`setting_fragment` of each setting; raises SpecError on a repeated setting."""
    out = [setting_fragment(s) for s in settings]
    seen: dict[str, int] = {}
    for i, f in enumerate(out):
        if f in seen:
            raise SpecError(f"settings {seen[f]} and {i} are the same ({f}); a study lists each setting once")
        seen[f] = i
    return out


def value_text(value: Any, digits: int | None = None) -> str:
    """A value as labels and tables write it: numbers exactly (``1e-04``, or the shortest text that
    reads back as the same float) or, with ``digits``, rounded to that many significant digits;
    booleans ``true``/``false``; lists ``[0.5, 0.999]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if digits is not None and math.isfinite(value):
            return _number_text(float(f"{value:.{digits}g}"))
        text = _number_text(value)
        return text if math.isfinite(value) and float(text) == value else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v, digits) for v in value) + "]"
    return str(value)


def setting_label(setting: Mapping[str, Any], digits: int | None = None) -> str:
    """A setting as keys and messages name it: ``lr_d=1e-04, lr_g=1e-04`` (keys in the setting's
    order). Exact, so two settings of one study never share a label; ``digits`` rounds numbers for
    display (a table row), where the exact values are in the results."""
    return ", ".join(f"{key}={value_text(value, digits)}" for key, value in setting.items())


def swept_keys(settings: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key any setting sets, in first-seen order: the columns ``results.csv`` gains."""
    return list(dict.fromkeys(k for s in settings for k in s))
