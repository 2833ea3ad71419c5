"""Per-run stability summary: a few numbers that go into ``metrics.json`` and so into the tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from ganeval.diagnostics.events import DIVERGENCE
from ganeval.metrics.catalog import BEST_FINAL_GAP, D_SPREAD, DIVERGED, FIRST_EVENT_STEP, G_SPREAD, N_EVENTS


def log_spread(values: Sequence[float]) -> float:
    logs = [math.log10(v) for v in values if math.isfinite(v) and v > 0]
    return statistics.pstdev(logs) if len(logs) >= 2 else math.nan


def stability_summary(rows: Sequence[dict[str, float]], events: Sequence[dict[str, Any]],
                      checkpoint_values: Sequence[float], final_value: float | None) -> dict[str, float]:
    """Summary of one run from its trace rows, events and primary metric over checkpoints."""
    half = rows[len(rows) // 2:]
    finite_checkpoints = [v for v in checkpoint_values if v is not None and math.isfinite(v)]
    if finite_checkpoints and final_value is not None and math.isfinite(final_value):
        gap = max(finite_checkpoints + [final_value]) - final_value
    else:
        gap = math.nan
    return {
        FIRST_EVENT_STEP: float(min(e["step"] for e in events)) if events else math.nan,
        N_EVENTS: float(len(events)),
        DIVERGED: 1.0 if any(e["kind"] == DIVERGENCE for e in events) else 0.0,
        D_SPREAD: log_spread([r.get("d_grad_norm", math.nan) for r in half]),
        G_SPREAD: log_spread([r.get("g_grad_norm", math.nan) for r in half]),
        BEST_FINAL_GAP: gap,
    }
