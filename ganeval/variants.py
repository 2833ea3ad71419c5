"""Stabilizer variants crossed with losses. ``none`` is the plain loss; further variants register
here with the hyper-parameters they set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ganeval.errors import SpecError
from ganeval.registry import Registry


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    paper: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)


VARIANTS: Registry[Variant] = Registry("variant")
VARIANTS.register("none", Variant("none", "the loss as its paper defines it, no stabilizer"))


def parse_variant(name: str) -> list[Variant]:
    """``a+b`` -> [Variant a, Variant b]; ``none`` -> []. Unknown parts raise UnknownNameError."""
    if not isinstance(name, str) or not name:
        raise SpecError(f"variant must be a non-empty name, got {name!r}")
    if name == "none":
        return []
    parts = name.split("+")
    if len(set(parts)) != len(parts):
        raise SpecError(f"variant {name!r} names a part twice")
    out = [VARIANTS.get(p) for p in parts]
    if any(v.name == "none" for v in out):
        raise SpecError(f"variant {name!r}: 'none' cannot be combined")
    return out


def apply_variant_defaults(name: str, values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    for variant in parse_variant(name):
        values.update(variant.defaults)
    return values
