"""What counts as a successful seed-run: per-benchmark criteria such as ``modes_covered >= 7 and
hq_rate >= 0.5``, written in a spec's ``[success.BENCH]`` tables (or passed to the API) and read by the
study report and a study's baseline. Kept apart from the study statistics so that the spec layer
can check a criterion without depending on them.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ganeval.errors import GanevalError, SpecError
from ganeval.metrics.catalog import METRICS

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
_CONDITION = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+0-9.eEinfINF]+)\s*$")

__all__ = ["DEFAULT_SUCCESS", "Condition", "SuccessCriterion", "default_criterion", "parse_success"]


# --- success criteria -----------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """``metric op threshold``, e.g. ``modes_covered >= 7``. An undefined value never holds."""

    metric: str
    op: str
    threshold: float

    def holds(self, values: pd.Series) -> pd.Series:
        v = pd.to_numeric(values, errors="coerce")
        return _OPS[self.op](v, self.threshold) & v.notna()

    def __str__(self) -> str:
        t = int(self.threshold) if float(self.threshold).is_integer() else self.threshold
        return f"{self.metric} {self.op} {t}"


@dataclass(frozen=True)
class SuccessCriterion:
    """All ``conditions`` hold (and the run did not diverge): one seed-run is a success."""

    conditions: tuple[Condition, ...]

    def evaluate(self, frame: pd.DataFrame) -> pd.Series:
        """``[rows]`` booleans; raises GanevalError if the frame lacks a metric the criterion reads."""
        ok = pd.Series(True, index=frame.index)
        for c in self.conditions:
            if c.metric not in frame.columns:
                raise GanevalError(f"success criterion '{self}' reads {c.metric!r}, which the results do not have")
            ok &= c.holds(frame[c.metric])
        if "status" in frame.columns:
            ok &= frame["status"].ne("diverged")
        return ok

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.conditions)


#: Defaults: most modes covered with mostly high-quality samples. ring8: >= 7 of 8 modes and
#: HQ >= 0.5 (the issue's example); grid25: >= 20 of 25 and HQ >= 0.5. Other benchmarks with
#: modes: >= ceil(0.8 * modes) covered (which gives exactly these two), plus HQ >= 0.5 where the
#: benchmark reports a high-quality rate.
DEFAULT_SUCCESS: dict[str, SuccessCriterion] = {
    "ring8": SuccessCriterion((Condition("modes_covered", ">=", 7), Condition("hq_rate", ">=", 0.5))),
    "grid25": SuccessCriterion((Condition("modes_covered", ">=", 20), Condition("hq_rate", ">=", 0.5))),
}


def default_criterion(benchmark: str, frame: pd.DataFrame | None = None) -> SuccessCriterion:
    """The default criterion of ``benchmark`` (``frame``: its rows, to read ``n_modes`` from)."""
    if benchmark in DEFAULT_SUCCESS:
        return DEFAULT_SUCCESS[benchmark]
    if frame is not None and "n_modes" in frame.columns and "modes_covered" in frame.columns:
        modes = pd.to_numeric(frame["n_modes"], errors="coerce").dropna()
        if len(modes) and modes.nunique() == 1:
            conds = [Condition("modes_covered", ">=", float(math.ceil(0.8 * float(modes.iloc[0]))))]
            if "hq_rate" in frame.columns and frame["hq_rate"].notna().any():
                conds.append(Condition("hq_rate", ">=", 0.5))
            return SuccessCriterion(tuple(conds))
    raise GanevalError(f"no default success criterion for benchmark {benchmark!r}: set one in the spec, "
                       f"e.g. [success.{benchmark}] modes_covered = \">= 7\"")


def _condition(metric: str, value: Any, where: str) -> Condition:
    if metric not in METRICS:
        raise SpecError(f"{where}: {metric!r} is not a metric (known: {', '.join(METRICS.names())})")
    info = METRICS.get(metric)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if info.direction == "none":
            raise SpecError(f"{where}: {metric!r} has no better direction; write the comparison, e.g. \">= 3\"")
        return Condition(metric, ">=" if info.direction == "higher" else "<=", float(value))
    if isinstance(value, str):
        m = _CONDITION.match(value)
        if m:
            try:
                threshold = float(m.group(2))
            except ValueError:
                threshold = math.nan
            if not math.isnan(threshold):
                return Condition(metric, m.group(1), threshold)
    raise SpecError(f"{where}: {metric!r} must be a number or a comparison such as \">= 7\" or \"< 0.5\", "
                    f"got {value!r}")


def parse_success(table: Mapping[str, Any], where: str = "[success]") -> dict[str, SuccessCriterion]:
    """A spec's ``[success.BENCH]`` tables -> criteria. ``modes_covered = ">= 7"``; a bare number
    means "at least" for a higher-is-better metric and "at most" for a lower-is-better one."""
    out: dict[str, SuccessCriterion] = {}
    if not isinstance(table, Mapping):
        raise SpecError(f"{where}: expected tables [success.BENCHMARK], got {table!r}")
    for bench, conds in table.items():
        here = f"{where[:-1]}.{bench}]" if where.endswith("]") else f"{where}.{bench}"
        if not isinstance(conds, Mapping) or not conds:
            raise SpecError(f"{here}: expected metric = \"OP VALUE\" entries, got {conds!r}")
        out[bench] = SuccessCriterion(tuple(_condition(m, v, here) for m, v in conds.items()))
    return out
