"""``trace.csv``: one row per logged training step, one file per seed-run.

Rows are collected as device tensors (no host sync per step) and written in bulk at each flush;
every flush rewrites the file atomically, so a killed run leaves the last flushed trace intact.

With ``tensorboard=True`` each flush also appends the new rows to a TensorBoard event file in the
run folder (``torch.utils.tensorboard.SummaryWriter``; ``pip install 'ganeval[tensorboard]'``), one
scalar per column: ``trace/<column>`` for the per-step columns, ``layers/<column>`` for the
per-layer ones, at the row's step. Non-finite values are left out (TensorBoard cannot draw them;
``events.json`` and the ``events`` text name a divergence). A resumed run purges the event
file's entries from the resume step on, as trace.csv drops its rows.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ganeval import fileio
from ganeval.errors import SpecError

log = logging.getLogger(__name__)

STEP = "step"
WALL_TIME = "wall_time"


def format_value(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, int):
        return str(value)
    return f"{value:.7g}"


def read_trace(path: Path) -> list[dict[str, float]]:
    """Rows of a trace.csv as dicts of floats (``step`` as int); a missing or unreadable file (not
    text: a disk error, random bytes) gives no rows, with a warning for the unreadable one."""
    try:
        text = fileio.read_text(Path(path), what="a trace")  # a FIFO or device: one line, never a hang
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("%s: unreadable (%s); its rows are left out", path, exc)
        return []
    return parse_trace(text)


def parse_trace(text: str) -> list[dict[str, float]]:
    """The rows of a trace.csv's text (see :func:`read_trace`)."""
    rows = []
    for raw in csv.DictReader(io.StringIO(text.replace("\0", ""))):
        try:
            row = {k: float(v) for k, v in raw.items() if k is not None and v not in (None, "")}
            row[STEP] = int(row[STEP])
        except (ValueError, KeyError, OverflowError):  # OverflowError: an infinite step
            continue  # a row we cannot read is skipped, never fatal
        rows.append(row)
    return rows


def tensorboard_writer(run_dir: Path, purge_step: int | None = None):
    """A ``SummaryWriter`` writing into ``run_dir`` (so ``tensorboard --logdir runs/`` lists every
    run folder under ``runs/``); a clear error when TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch raises ImportError when the tensorboard package is missing
        raise SpecError("tensorboard output needs the tensorboard package: pip install 'ganeval[tensorboard]' "
                        f"({exc})") from None
    return SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)


def scalar_tag(column: str) -> str:
    """TensorBoard tag of a trace column: ``trace/d_loss``, ``layers/d_grad_norm.main.0``."""
    return f"layers/{column}" if "." in column else f"trace/{column}"


class TraceLog:
    """Per-seed trace rows: ``record`` appends ``[S, C]`` device stats, ``flush`` writes CSVs (and,
    with ``tensorboard``, the new rows as TensorBoard scalars in each seed's folder)."""

    def __init__(self, paths: Sequence[Path], columns: Sequence[str], tensorboard: bool = False):
        self.paths = [Path(p) for p in paths]
        self.columns = list(columns)
        self.header = [STEP, *self.columns, WALL_TIME]
        self._rows: list[list[list[str]]] = [[] for _ in self.paths]
        self._pending: list[tuple[int, torch.Tensor, float]] = []
        self.tensorboard = tensorboard
        self._writers: list[Any] | None = None
        self._purge_step: int | None = None

    def writers(self) -> list[Any]:
        """One ``SummaryWriter`` per seed folder, opened at the first use."""
        if self._writers is None:
            self._writers = [tensorboard_writer(p.parent, self._purge_step) for p in self.paths]
        return self._writers

    def close(self) -> None:
        """Close the TensorBoard writers, if any (trace.csv needs no closing)."""
        for writer in self._writers or []:
            writer.close()
        self._writers = None

    def resume(self, step: int) -> None:
        """Keep the rows already on disk for steps before ``step`` (those after it are redone)."""
        self._purge_step = step if step > 0 else None
        for i, path in enumerate(self.paths):
            kept = [r for r in read_trace(path) if r[STEP] < step]
            self._rows[i] = [[format_value(r[STEP]), *(format_value(r.get(c, math.nan)) for c in self.header[1:])]
                             for r in kept]

    def record(self, step: int, stats: torch.Tensor, wall_time: float) -> None:
        """``stats [S, C]`` for ``step``; kept on its device until the next flush."""
        self._pending.append((step, stats.detach(), wall_time))

    def record_many(self, steps: Sequence[int], stats: torch.Tensor, wall_times: Sequence[float]) -> None:
        """``stats [T, S, C]`` for ``steps``, e.g. a device buffer filled inside a CUDA graph."""
        for t, step in enumerate(steps):
            self._pending.append((step, stats[t], wall_times[t]))

    def flush(self) -> None:
        if self._pending:
            values = torch.stack([s for _, s, _ in self._pending]).to("cpu", torch.float64)  # one copy
            writers = self.writers() if self.tensorboard else None
            for t, (step, _, wall) in enumerate(self._pending):
                for i in range(len(self.paths)):
                    row = values[t, i].tolist()
                    self._rows[i].append([str(step), *(format_value(v) for v in row), format_value(wall)])
                    if writers is not None:
                        for column, v in zip(self.columns, row):
                            if math.isfinite(v):
                                writers[i].add_scalar(scalar_tag(column), v, global_step=step)
            self._pending.clear()
            for writer in writers or []:
                writer.flush()
        for path, rows in zip(self.paths, self._rows):
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(self.header)
            writer.writerows(rows)
            fileio.write_text(path, buf.getvalue())
