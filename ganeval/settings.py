"""Run settings declared by plugin entries (a loss's, stabilizer's, model's or benchmark's own knobs).

ganeval's own settings are the fields of :class:`ganeval.spec.RunSpec`. A plugin adds its settings
by listing :class:`Setting` objects in its entry (``Loss(..., settings=[...])``); registering the
entry registers them here, so ``--set``, TOML tables, ``config.json`` and resume validate and carry
them like built-in ones, without anyone editing ``spec.py``. A run carries a plugin setting when it
uses the entry that owns it (at the entry's default unless set), or when a spec sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ganeval.errors import SpecError
from ganeval.fileio import MAX_NUMBER
from ganeval.registry import Registry

_TYPES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
#: A setting's value, its default included, stays within what ganeval reads back from config.json
#: and spec.toml (:data:`ganeval.fileio.MAX_NUMBER`, int64), or its run could not be read again.
INT64 = 2**63


@dataclass(frozen=True)
class Setting:
    """One setting: its name (a TOML key / ``--set`` name), type, default and optional check.

    ``check(value)`` returns why a value is refused (a short phrase, e.g. ``"must be in (0, 1)"``)
    or None. ``evaluation=True`` marks a setting that only changes how a run is *evaluated*:
    changing it re-evaluates finished runs from their checkpoints instead of retraining them.
    """

    name: str
    type: type
    default: Any
    description: str = ""
    check: Callable[[Any], str | None] | None = None
    evaluation: bool = False
    batchable: bool = False

    def validate(self, value: Any, where: str) -> Any:
        """``value`` converted to the setting's type, or SpecError naming ``where`` and the key."""
        bad = f"{where}: {self.name!r} must be"
        if self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(f"{bad} a number, got {value!r:.60}")
            if isinstance(value, int) and abs(value) > MAX_NUMBER:
                raise SpecError(f"{bad} at most {MAX_NUMBER:g} in magnitude, got a {len(str(abs(value)))}-digit number")
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise SpecError(f"{bad} finite, got {value}")
            if abs(value) > MAX_NUMBER:  # config.json and spec.toml could not be read back
                raise SpecError(f"{bad} at most {MAX_NUMBER:g} in magnitude, got {value:g}")
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise SpecError(f"{bad} an integer, got {value!r:.60}")
            if not -INT64 <= value < INT64:
                raise SpecError(f"{bad} within the 64-bit range, got a {len(str(abs(value)))}-digit number")
        elif not isinstance(value, self.type):
            raise SpecError(f"{bad} {_TYPES[self.type]}, got {value!r:.60}")
        elif self.type is str and not value.isprintable():
            raise SpecError(f"{bad} one line of printable text, got {value!r:.60}")
        if self.check is not None:
            from ganeval.usercode import run_user_code

            why = run_user_code(f"the check of setting {self.name!r}", self.check, value)
            if why and not isinstance(why, str):
                raise SpecError(f"{where}: the check of setting {self.name!r} returned {type(why).__name__}, not "
                                "a reason (a str) or None")
            if why:
                raise SpecError(f"{where}: {self.name!r} {why}, got {value!r:.60}")
        return value


@dataclass(frozen=True)
class _Owned:
    setting: Setting
    owner: str  # "loss ragan", "variant gp0", ...


SETTINGS: Registry[_Owned] = Registry("setting")


#: Names ganeval's own settings use (the RunSpec fields; :mod:`ganeval.spec` fills it at import), and
#: ``state``, the keyword a loss with per-member state receives it by.
RESERVED: set[str] = {"state"}


def register_settings(settings: tuple[Setting, ...] | list[Setting], owner: str) -> None:
    """Register an entry's settings; refuses a name ganeval or another entry already uses."""
    for s in settings:
        if not isinstance(s, Setting):
            raise TypeError(f"{owner}: settings must be ganeval.Setting objects, got {s!r}")
        if not isinstance(s.name, str) or not s.name.isidentifier():
            raise ValueError(f"{owner}: setting names are identifiers (a TOML key, run.NAME), got {s.name!r}")
        if s.type not in _TYPES:
            raise TypeError(f"{owner}: setting {s.name!r} has type {s.type!r}; use bool, int, float or str")
        if s.batchable and (s.type is not float or s.evaluation):
            raise TypeError(f"{owner}: setting {s.name!r} can only be batchable as a training setting of type float")
        if s.name in RESERVED:
            raise ValueError(f"{owner}: setting {s.name!r} is already a ganeval setting")
        s.validate(s.default, f"{owner}: default of")
        if s.name in SETTINGS:
            raise ValueError(f"{owner}: setting {s.name!r} is already declared by {SETTINGS.get(s.name).owner}")
    for s in settings:
        SETTINGS.register(s.name, _Owned(s, owner))


def check_defaults(defaults: dict[str, Any], owner: str) -> None:
    """An entry's ``defaults`` may only name settings that exist (a typo is an error at registration,
    not a TypeError at the first run); their values are checked where runs are resolved."""
    from ganeval.registry import did_you_mean

    for key in defaults:
        if key not in RESERVED and key not in SETTINGS:
            raise ValueError(f"{owner}: defaults name an unknown setting {key!r}"
                             f"{did_you_mean(key, [*sorted(RESERVED), *SETTINGS.names()])}")


def get_setting(name: str) -> Setting | None:
    return SETTINGS.get(name).setting if name in SETTINGS else None


def owned_defaults(owners: list[str]) -> dict[str, Any]:
    """Defaults of the settings that the entries ``owners`` (``"loss ragan"``, ...) declare."""
    return {name: o.setting.default for name, o in SETTINGS.items() if o.owner in owners}


def check_state(state: Any, owner: str) -> None:
    """An entry's per-member ``state`` declaration: identifier names, each with an initial value (a
    number: one float per member; a tensor: that tensor per member)."""
    import torch

    if not isinstance(state, dict):
        raise TypeError(f"{owner}: state must be a dict of name -> initial value, got {state!r}")
    for name, initial in state.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{owner}: state names are identifiers, got {name!r}")
        if isinstance(initial, bool) or not isinstance(initial, (int, float, torch.Tensor)):
            raise TypeError(f"{owner}: state {name!r} needs an initial number or tensor, got {initial!r}")


def register_entry(registry: Registry, entry: Any, cls: type) -> Any:
    """The one way an entry (a Loss, Variant, ModelFamily, Optimizer) is registered: of the right
    class, a new name, its own settings and state declared, its defaults naming settings that exist."""
    if not isinstance(entry, cls):
        raise TypeError(f"register_{registry.kind} takes a ganeval.{cls.__name__}, got {entry!r}")
    if entry.name in registry:
        raise ValueError(f"{registry.kind} {entry.name!r} is already registered")
    owner = f"{registry.kind} {entry.name}"
    check_state(getattr(entry, "state", {}), owner)
    register_settings(entry.settings, owner)
    check_defaults(getattr(entry, "defaults", {}), owner)
    return registry.register(entry.name, entry)
