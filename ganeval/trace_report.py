"""Report of traced run folders (``trace.csv`` [+ ``events.json``, ``layers.json``]): a user's own
loop traced with ``GANTracer``, or any seed-run of a bench. Several folders are compared side by
side: one panel per folder for the per-layer curves, one row of panels per folder for the rest
(sharing the step axis), so each folder's events are shaded on its own panels only: a one-step
event of one run is never lost under another run's long one. Events are drawn over their interval
from the step their evidence started.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ganeval import fileio, rundir
from ganeval.diagnostics.events import interval_label
from ganeval.errors import RunFolderError
from ganeval.tables import markdown_table


def trace_matrix(rows_per_seed: list[list[dict[str, float]]], key: str) -> tuple[list[int], torch.Tensor]:
    """Steps common to every seed, and ``[seeds, T]`` values of ``key`` at those steps."""
    common = sorted(set.intersection(*(set(r["step"] for r in rows) for rows in rows_per_seed)))
    values = torch.full((len(rows_per_seed), len(common)), float("nan"), dtype=torch.float64)
    for i, rows in enumerate(rows_per_seed):
        by_step = {r["step"]: r.get(key, float("nan")) for r in rows}
        values[i] = torch.tensor([by_step[s] for s in common], dtype=torch.float64)
    return common, values


def _natural(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def layer_columns(columns: set[str], prefix: str, layers: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """(label, column) of the per-layer columns ``prefix.<layer>`` in model order, labelled with the
    layer's type (from ``layers.json``); without it, in natural order (main.2 before main.11)."""
    present = {c.split(".", 1)[1]: c for c in columns if c.startswith(prefix + ".")}
    ordered = [(f"{name} ({kind})", present.pop(name)) for name, kind in layers if name in present]
    ordered += [(name, present[name]) for name in sorted(present, key=_natural)]
    return ordered


class TracedRun:
    """One traced folder read back: rows, events (re-detected if ``events.json`` is missing, e.g.
    after a crash) and layers."""

    def __init__(self, folder: Path, label: str):
        from ganeval.diagnostics.trace import read_trace

        self.folder, self.label = Path(folder), label
        self.rows = read_trace(rundir.trace_path(folder))
        if not self.rows:
            raise RunFolderError(f"{rundir.trace_path(folder)} is missing or has no readable row")
        events = rundir.read_events(folder)
        self.transients = rundir.read_transients(folder) if events is not None else []
        if events is None:
            from ganeval.diagnostics.events import detect

            found = detect(self.rows)
            events, self.transients = found.events, found.transients
        self.events = events
        self.layers = rundir.read_layers(folder)
        self.columns = set().union(*(r.keys() for r in self.rows))

    def curve(self, key: str) -> tuple[list[int], torch.Tensor] | None:
        return trace_matrix([self.rows], key) if key in self.columns else None

    def last(self, key: str) -> float:
        values = [r[key] for r in self.rows if key in r]
        return values[-1] if values else math.nan


def _labels(folders: Sequence[Path]) -> list[str]:
    """The folders' names, or their shortest distinct trailing paths (``toy/healthy/seed-0``)."""
    parts = [Path(f).resolve().parts for f in folders]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(f) for f in folders]


def load_traces(folders: Sequence[Path]) -> list[TracedRun]:
    return [TracedRun(f, label) for f, label in zip(folders, _labels(folders))]


# --- the table ------------------------------------------------------------------------------------
TABLE_COLUMNS = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm", "d_param_norm", "g_param_norm", "sample_diversity")


def trace_table(runs: Sequence[TracedRun]) -> tuple[list[str], list[list[str]]]:
    """One row per traced folder: its span, its events and the last logged value of each column."""
    head = ["trace", "logged steps", "steps", "events", *(f"last {c}" for c in TABLE_COLUMNS)]
    rows = []
    for run in runs:
        events = "; ".join(f"{event_label(e)} @ {interval_label(e)}" for e in run.events) or "none"
        rows.append([run.label, str(len(run.rows)), f"{run.rows[0]['step']}–{run.rows[-1]['step']}", events,
                     *(format(run.last(c), ".4g") for c in TABLE_COLUMNS)])
    return head, rows


def _events_table(events: list[dict[str, Any]], transients: Sequence[dict[str, Any]] = ()) -> str:
    """Events with their intervals (start, end or "still open") and evidence; then the start-up
    transients the detectors set aside, so nothing they saw is hidden."""
    def table(items):
        rows = []
        for e in items:
            evidence = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in e["evidence"].items())
            end = "still open" if e.get("open") else str(e.get("end", e["step"]))
            rows.append([str(e["step"]), end, event_label(e), evidence])
        return markdown_table(["start", "end", "event", "evidence"], rows)

    out = table(events) if events else "_No event detected._"
    if transients:
        out += ("\n\nStart-up transients (the run's initial state, resolved by itself; not counted as events):\n\n"
                + table(transients))
    return out


# --- the report -----------------------------------------------------------------------------------
#: (figure name, title, ylabel, [(panel title, [(label, column)], log axis)])
QUANTITIES = (
    ("losses", "losses and discriminator outputs", "value", [
        ("losses", [("D loss", "d_loss"), ("G loss", "g_loss"), ("penalty", "penalty")], False),
        ("mean D output", [("on real", "d_real"), ("on fake", "d_fake")], False),
        ("D's ranking of real vs fake", [("P[D(real) > D(fake)]", "d_real_above_fake"), ("P[tie]", "d_tied")], False),
    ]),
    ("health", "gradients, weights, diversity and learning rates", "value", [
        ("gradient L2 norm", [("D", "d_grad_norm"), ("G", "g_grad_norm")], True),
        ("parameter L2 norm", [("D", "d_param_norm"), ("G", "g_param_norm")], True),
        ("sample diversity (fake / real)", [("diversity", "sample_diversity")], False),
        ("learning rate", [("D", "lr_d"), ("G", "lr_g")], True),
    ]),
)


def event_label(event: dict[str, Any]) -> str:
    """``exploding weights (D)``: the kind, and the network when the evidence names one."""
    network = (event.get("evidence") or {}).get("network")
    return event["kind"].replace("_", " ") + (f" ({network})" if network else "")


def _panel_events(runs: Sequence[TracedRun], several: bool) -> list[Any]:
    """The runs' events (and, faint, their start-up transients) as intervals to shade."""
    from ganeval.plots import EventSpan

    return [EventSpan.of(e, (f"{run.label}: " if several else "") + event_label(e), faint=faint)
            for run in runs for items, faint in ((run.events, False), (run.transients, True)) for e in items]


def build_trace_report(folders: Path | Sequence[Path], output: Path | None = None) -> Path:
    """``report.md`` with figures for one traced folder (default: in it) or several side by side
    (default: ``trace-comparison.md`` next to the first folder, i.e. in its parent)."""
    from ganeval.plots import band_figure

    folders = [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]
    runs = load_traces(folders)
    several = len(runs) > 1
    output = Path(output) if output is not None else (
        folders[0] / rundir.REPORT_FILE if not several else folders[0].resolve().parent / "trace-comparison.md")
    figures: list[str] = []

    def draw(name: str, panels, title: str, ylabel: str, logs: list[bool], events, columns: int | None = None) -> None:
        if columns is not None:  # a grid (one row per run): keep the columns that hold a curve in some row
            wanted = [c for c in range(columns) if any(panels[r * columns + c][1] for r in range(len(panels) // columns))]
            keep = [r * columns + c for r in range(len(panels) // columns) for c in wanted]
            columns = len(wanted)
        else:
            keep = [i for i, (_, curves) in enumerate(panels) if curves]
        if keep:
            path, rel = rundir.figure_path(output.parent, name)
            band_figure(path, [panels[i] for i in keep], title, ylabel, [logs[i] for i in keep],
                        events=[events[i] for i in keep], columns=columns)
            figures.append(f"![{title}]({rel})")

    for net, label in (("d", "D"), ("g", "G")):  # per layer: one panel per folder
        panels, events = [], []
        for run in runs:
            layers = layer_columns(run.columns, f"{net}_grad_norm", run.layers.get(label, []))
            curves = [(lab, *run.curve(col)) for lab, col in [("total", f"{net}_grad_norm"), *layers]
                      if col in run.columns]
            panels.append((f"{run.label}" if several else f"{label} gradient L2 norm", curves))
            events.append(_panel_events([run], several))
        draw(f"{net}-grad-norms", panels, f"{label} gradient norms, total and per layer (model order)", "L2 norm",
             [True] * len(panels), events)
    for name, title, ylabel, spec in QUANTITIES:  # one row of panels per folder, its own events only
        panels, logs, events = [], [], []
        for run in runs:
            for panel_title, series, log in spec:
                curves = [(lab, *run.curve(col)) for lab, col in series if col in run.columns]
                panels.append((f"{run.label}: {panel_title}" if several else panel_title, curves))
                logs.append(log)
                events.append(_panel_events([run], several))
        draw(name, panels, title, ylabel, logs, events, columns=len(spec))
    panels, events = [], []
    for run in runs:
        sigma = layer_columns(run.columns, "d_sigma", run.layers.get("D", []))
        panels.append((run.label if several else "largest singular value",
                       [(lab, *run.curve(col)) for lab, col in sigma]))
        events.append(_panel_events([run], several))
    draw("d-spectral-norms", panels, "spectral norms of D's weight matrices (model order)", "sigma_max",
         [True] * len(panels), events)

    title = " vs ".join(f"`{r.label}`" for r in runs)
    head, rows = trace_table(runs)
    lines = [f"# ganeval trace report: {title}", "", markdown_table(head, rows), "",
             f"Event thresholds are recorded in each folder's `{rundir.EVENTS_FILE}`; on the curves each event is "
             "shaded over its interval (dashed line: where its evidence started; ▶: still open at the run's end), "
             "faint and dotted for a start-up transient.", ""]
    for run in runs:
        lines += [f"## Events: `{run.label}`" if several else "## Events", "",
                  f"{len(run.rows)} logged steps ({run.rows[0]['step']}–{run.rows[-1]['step']}); "
                  f"{len(run.events)} event(s), {sum(bool(e.get('open')) for e in run.events)} still open at the end.",
                  "", _events_table(run.events, run.transients), ""]
    lines += ["## Curves", ""]
    for fig in figures:
        lines += [fig, ""]
    fileio.write_text(output, "\n".join(lines) + "\n")
    return output
