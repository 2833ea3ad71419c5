"""The shape of every document ganeval reads back, checked field by field before anything uses it.

A field is (allowed types, required). Booleans never pass for numbers (``True`` is an ``int`` in
Python, never in a metrics file). :func:`problem` names the first field that does not fit, so a
reader can say "metrics.json: 'seed' must be an integer, got 'zero'" instead of failing later
with a ``TypeError`` far from the file. Plain explicit checks rather than a schema library: the
documents are small and flat, and the messages are what matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NONE = type(None)
NUMBER = (int, float)
Fields = Mapping[str, tuple[tuple[type, ...], bool]]

_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a table",
          list: "a list", NONE: "null"}


def _describe(types: tuple[type, ...]) -> str:
    names = ["a number" if t is float else _NAMES.get(t, t.__name__) for t in types if not (t is int and float in types)]
    return " or ".join(dict.fromkeys(names))


def fits(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def value_problem(name: str, value: Any, types: tuple[type, ...]) -> str | None:
    if fits(value, types):
        return None
    shown = repr(value)
    return f"'{name}' must be {_describe(types)}, got {shown if len(shown) <= 40 else shown[:37] + '...'}"


def problem(doc: Any, fields: Fields) -> str | None:
    """The first way ``doc`` does not fit ``fields`` (a missing required field, a wrong type), or None."""
    if not isinstance(doc, dict):
        return f"expected a table, got {type(doc).__name__}"
    for name, (types, required) in fields.items():
        if name not in doc:
            if required:
                return f"'{name}' missing"
            continue
        found = value_problem(name, doc[name], types)
        if found:
            return found
    return None


def items_problem(name: str, values: Any, types: tuple[type, ...]) -> str | None:
    """Every value of a table (or item of a list) ``name`` must be of ``types``."""
    pairs = values.items() if isinstance(values, dict) else enumerate(values)
    for key, value in pairs:
        found = value_problem(f"{name}.{key}" if isinstance(values, dict) else f"{name}[{key}]", value, types)
        if found:
            return found
    return None


# --- the documents --------------------------------------------------------------------------------
def req(*types: type) -> tuple[tuple[type, ...], bool]:
    return tuple(types), True


def opt(*types: type) -> tuple[tuple[type, ...], bool]:
    return tuple(types), False


#: metrics.json and eval/step-<n>.json
RESULT: Fields = {
    "format": req(int), "benchmark": req(str), "loss": req(str), "variant": req(str), "seed": req(int),
    "step": req(int), "status": req(str), "metrics": req(dict), "diverged_step": opt(int, NONE),
    "train_time_s": opt(*NUMBER, NONE), "eval_time_s": opt(*NUMBER, NONE), "mode_counts": opt(list, NONE),
    "fidelity": opt(dict), "eval_options": opt(dict), "eval_config": opt(dict, NONE), "raw_metrics": opt(dict, NONE),
    "setting": opt(dict),
}
#: the values of a study's setting (``metrics.json``'s "setting"): run-setting values
SETTING_VALUE = (int, float, str, bool, list)
#: one entry of events.json's "events"
EVENT: Fields = {"step": req(int), "kind": req(str), "evidence": req(dict), "thresholds": opt(dict),
                 "end": opt(int, NONE), "open": opt(bool), "episodes": opt(list), "startup": opt(bool)}
#: env.json (every field optional: a report of an old bench still renders)
ENV: Fields = {
    "wall_time_s": opt(*NUMBER), "git_commit": opt(str, NONE), "git_dirty": opt(bool, NONE), "device": opt(str, NONE),
    "device_name": opt(str, NONE), "torch": opt(str), "torch_fidelity": opt(str, NONE), "ganeval": opt(str),
    "started": opt(str), "finished": opt(str), "executor": opt(str), "cell_devices": opt(list),
    "workers": opt(str), "threads_per_cell": opt(int),
}
#: a checkpoint's payload
CHECKPOINT: Fields = {
    "format": req(int), "step": req(int), "elapsed": req(*NUMBER), "config": req(dict), "G": req(dict), "D": req(dict),
    "opt_G": req(dict), "opt_D": req(dict), "G_ema": opt(dict), "trace_state": opt(dict), "seed": opt(int),
    "plugin_state": opt(dict),
}
#: one metric of a baseline file, and its tolerance
BASELINE_ENTRY: Fields = {"values": req(list), "tolerance": req(dict), "direction": opt(str),
                          "mean": opt(*NUMBER, NONE), "std": opt(*NUMBER, NONE), "n": opt(int)}
TOLERANCE: Fields = {"kind": req(str), "value": req(*NUMBER), "floor": opt(*NUMBER)}
