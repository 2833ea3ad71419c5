"""Progress of a bench: a live bar on a terminal, a line every half minute elsewhere (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts seed-steps (one step of one seed) and finished cells. Silent by default."""

    def start(self, total_seed_steps: int, total_cells: int) -> None:
        pass

    def cell_started(self, name: str, seeds: int) -> None:
        pass

    def advance(self, seed_steps: int) -> None:
        pass

    def cell_done(self, name: str, summary: str = "") -> None:
        pass

    def phase(self, text: str) -> None:
        """A stretch of work that advances no steps (evaluation), so the user knows what runs."""

    def close(self) -> None:
        pass


class BarProgress(Progress):
    """tqdm bar for an interactive terminal."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.bar = None
        self.cells_done = 0
        self.total_cells = 0

    def start(self, total_seed_steps: int, total_cells: int) -> None:
        from tqdm import tqdm

        self.total_cells = total_cells
        self.bar = tqdm(total=total_seed_steps, unit="seed-step", unit_scale=True, file=self.stream,
                        dynamic_ncols=True, desc=f"cells 0/{total_cells}")

    def cell_started(self, name: str, seeds: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name)

    def advance(self, seed_steps: int) -> None:
        if self.bar is not None:
            self.bar.update(seed_steps)

    def cell_done(self, name: str, summary: str = "") -> None:
        self.cells_done += 1
        if self.bar is not None:
            self.bar.set_description(f"cells {self.cells_done}/{self.total_cells}")
            if summary:
                self.bar.write(f"{name}: {summary}", file=self.stream)

    def phase(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class LineProgress(Progress):
    """Plain lines for logs: one per finished cell and at most one every ``interval`` seconds."""

    def __init__(self, stream: TextIO | None = None, interval: float = 30.0):
        self.stream, self.interval = stream or sys.stderr, interval
        self.total = self.done = 0
        self.cells_done = self.total_cells = 0
        self.t0 = self.last = time.monotonic()
        self.current = ""

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, total_seed_steps: int, total_cells: int) -> None:
        self.total, self.total_cells = total_seed_steps, total_cells
        self.t0 = self.last = time.monotonic()

    def cell_started(self, name: str, seeds: int) -> None:
        self.current = name

    def advance(self, seed_steps: int) -> None:
        self.done += seed_steps
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            rate = self.done / max(now - self.t0, 1e-9)
            pct = 100.0 * self.done / max(self.total, 1)
            self._line(f"[{now - self.t0:6.0f}s] {pct:5.1f}% cells {self.cells_done}/{self.total_cells} "
                       f"({self.current}) {rate:,.0f} seed-steps/s")

    def cell_done(self, name: str, summary: str = "") -> None:
        self.cells_done += 1
        elapsed = time.monotonic() - self.t0
        self._line(f"[{elapsed:6.0f}s] cell {self.cells_done}/{self.total_cells} done: {name}"
                   + (f" — {summary}" if summary else ""))

    def phase(self, text: str) -> None:
        self._line(f"[{time.monotonic() - self.t0:6.0f}s] {text}")


class _WithHeader(Progress):
    """Prints ``header`` once the work really starts (after every input was checked)."""

    def __init__(self, inner: Progress, header: str, stream: TextIO):
        self.inner, self.header, self.stream = inner, header, stream

    def start(self, total_seed_steps: int, total_cells: int) -> None:
        print(self.header, file=self.stream, flush=True)
        self.inner.start(total_seed_steps, total_cells)

    def cell_started(self, name: str, seeds: int) -> None:
        self.inner.cell_started(name, seeds)

    def advance(self, seed_steps: int) -> None:
        self.inner.advance(seed_steps)

    def cell_done(self, name: str, summary: str = "") -> None:
        self.inner.cell_done(name, summary)

    def phase(self, text: str) -> None:
        self.inner.phase(text)

    def close(self) -> None:
        self.inner.close()


def default_progress(stream: TextIO | None = None, header: str | None = None) -> Progress:
    # sys.stderr is looked up now, not when this module was imported: it may have been replaced since.
    stream = stream or sys.stderr
    inner = BarProgress(stream) if stream.isatty() else LineProgress(stream)
    return _WithHeader(inner, header, stream) if header else inner


class QueueProgress(Progress):
    """A cell's progress in another process (a worker, a Ray task), sent to the bench's process
    through a queue at most every ``interval`` seconds; :func:`forward` replays it there."""

    def __init__(self, queue, interval: float = 0.5):
        self.queue, self.interval = queue, interval
        self.pending = 0
        self.last = time.monotonic()

    def _send(self, item: tuple[str, object]) -> None:
        try:
            self.queue.put_nowait(item)
        except Exception:  # noqa: BLE001 - progress is best effort; the cell's result is what counts
            pass

    def cell_started(self, name: str, seeds: int) -> None:
        self._send(("started", (name, seeds)))

    def advance(self, seed_steps: int) -> None:
        self.pending += seed_steps
        if time.monotonic() - self.last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self._send(("advance", self.pending))
            self.pending = 0
        self.last = time.monotonic()

    def phase(self, text: str) -> None:
        self.flush()
        self._send(("phase", text))


def replay(item: tuple[str, object], progress: Progress) -> None:
    """One :class:`QueueProgress` message, shown by ``progress``."""
    kind, value = item
    if kind == "started":
        progress.cell_started(*value)  # type: ignore[misc]
    elif kind == "advance":
        progress.advance(value)  # type: ignore[arg-type]
    else:
        progress.phase(value)  # type: ignore[arg-type]
