"""Comparison tables: one row per cell (benchmark, loss, variant[, bench, extractor]), mean ± std
over seeds with the 95 % interval and n, and the direction in the header. Rendered as markdown,
CSV, LaTeX or JSON from the same summary.

No cell is marked best. A bold "best" mean over 3 seeds is a claim no test stands behind (the
default bench's bold bce and hinge could not be told apart), and one behind a test would need a
multiple-comparison procedure per column that, at the seed counts benches run, would almost never
mark anything: the intervals under each mean carry the comparison, and ``ganeval check`` tests a
change against a baseline with a stated level and power. A cell whose samples mostly miss every
mode is flagged (``†``, with a footnote) where its mode metrics would otherwise read as good."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import pandas as pd

from ganeval.metrics.catalog import METRICS
from ganeval.results import flat_summary
from ganeval.spec import cell_label

ARROW = {"higher": "↑", "lower": "↓", "none": ""}
FORMATS = ("md", "csv", "latex", "json")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_number(x: Any, fmt: str = ".4g") -> str:
    """One number for a table: ``–`` when undefined, ``∞`` for an infinite one (e.g. FID of a
    diverged seed), else ``format(x, fmt)``. The one formatter of every table and verdict."""
    if _missing(x):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:{fmt}}"


def fmt_mean_std(mean: float, std: float, n: int, fmt: str) -> str:
    if n == 0 or _missing(mean):
        return "–"
    if n == 1 or _missing(std) or math.isinf(mean):
        return fmt_number(mean, fmt)
    return f"{fmt_number(mean, fmt)} ± {fmt_number(std, fmt)}"


def fmt_interval(low: float, high: float, fmt: str) -> str:
    return "" if _missing(low) or _missing(high) else f"{low:{fmt}} – {high:{fmt}}"


OFF_MODES_MARK = "†"
#: the columns a mostly-off-modes cell's mark goes on: the ones that count only the samples near a mode
OFF_MODES_COLUMNS = ("modes_covered", "kl")


def off_modes_rows(summary: pd.DataFrame) -> set[Any]:
    """Rows (cells) whose mean high-quality rate says most samples miss every mode."""
    from ganeval.metrics.modes import mostly_off_modes

    if ("hq_rate", "mean") not in summary.columns:
        return set()
    return {idx for idx, value in summary[("hq_rate", "mean")].items() if mostly_off_modes(value)}


def off_modes_footnote(summary: pd.DataFrame, metrics: list[str]) -> str:
    """The table's footnote when some cell is flagged, else an empty string."""
    from ganeval.metrics.modes import OFF_MODES_NOTE

    if not off_modes_rows(summary) or not any(m in OFF_MODES_COLUMNS for m in metrics):
        return ""
    return f"{OFF_MODES_MARK} {OFF_MODES_NOTE[0].upper()}{OFF_MODES_NOTE[1:]}; see the samples figure."


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _row_labels(summary: pd.DataFrame) -> list[list[str]]:
    names = list(summary.index.names)
    labels = []
    for idx in summary.index:
        key = dict(zip(names, idx if isinstance(idx, tuple) else (idx,)))
        label = [row_label(key["loss"], key.get("variant"), key.get("setting"))]
        if "bench" in key:
            label.insert(0, str(key["bench"]))
        labels.append(label)
    return labels


def row_label(loss: str, variant: str | None, setting: str | None = None) -> str:
    """A table row's name: ``bce + sn``, and a study's setting with its numbers to 4 digits
    (``hinge (lr_d=3.162e-04)``); the results keep them exact."""
    base = cell_label(loss, variant)
    if not setting:
        return base
    from ganeval.sweep import setting_label

    return f"{base} ({setting_label(json.loads(setting), digits=4)})"


def header(metric: str) -> str:
    return f"{metric} {ARROW[METRICS.get(metric).direction]}".strip()


def table_markdown(summary: pd.DataFrame, metrics: list[str], intervals: bool = True) -> str:
    """Markdown; with ``intervals`` each cell also shows its 95 % interval (GitHub renders <br>).
    A cell whose samples mostly miss every mode gets ``†`` on its modes covered and KL, and the
    table a footnote saying why."""
    multi = "bench" in summary.index.names
    headers = (["bench"] if multi else []) + ["loss", "seeds (diverged)"] + [header(m) for m in metrics]
    flagged = off_modes_rows(summary)
    rows = []
    for label, (idx, row) in zip(_row_labels(summary), summary.iterrows()):
        cells = label + [f"{int(row[('runs', 'n')])} ({int(row[('runs', 'diverged')])})"]
        for m in metrics:
            fmt = METRICS.get(m).fmt
            n = int(row[(m, "n")])
            text = fmt_mean_std(row[(m, "mean")], row[(m, "std")], n, fmt)
            if text != "–" and n != int(row[("runs", "n")]):
                text += f" (n={n})"
            if idx in flagged and m in OFF_MODES_COLUMNS and text != "–":
                text += f" {OFF_MODES_MARK}"
            lo, hi = METRICS.get(m).bounds
            ci = fmt_interval(max(row[(m, "ci_low")], lo), min(row[(m, "ci_high")], hi), fmt) if intervals else ""
            cells.append(f"{text}<br><sub>{ci}</sub>" if ci else text)
        rows.append(cells)
    note = off_modes_footnote(summary, metrics)
    return markdown_table(headers, rows) + (f"\n\n{note}" if note else "")


def table_latex(summary: pd.DataFrame, metrics: list[str]) -> str:
    """A booktabs table: mean $\\pm$ std, arrows in the header, $^\\dagger$ on the mode metrics of a
    cell whose samples mostly miss every mode (with the footnote after the table). Names (losses,
    benches, metrics: a plugin may call its loss ``r&d_1%``) are escaped by pandas' Styler."""
    arrow = {"higher": r"$\uparrow$", "lower": r"$\downarrow$", "none": ""}
    flagged = off_modes_rows(summary)
    labels = (["bench"] if "bench" in summary.index.names else []) + ["loss"]
    rows = []
    for label, (idx, row) in zip(_row_labels(summary), summary.iterrows()):
        cells = [*label, str(int(row[("runs", "n")]))]
        for m in metrics:
            text = fmt_mean_std(row[(m, "mean")], row[(m, "std")], int(row[(m, "n")]), METRICS.get(m).fmt)
            flag = idx in flagged and m in OFF_MODES_COLUMNS and text != "–"
            text = text.replace("±", r"$\pm$").replace("∞", r"$\infty$").replace("–", "--")
            cells.append(text + (r"$^\dagger$" if flag else ""))
        rows.append(cells)
    arrows = {m: arrow[METRICS.get(m).direction] for m in metrics}
    table = _latex(pd.DataFrame(rows, columns=[*labels, "n", *metrics]), labels,
                   lambda name: f"{name} {arrows.get(_unescaped(name), '')}".strip(),
                   "l" * (len(labels) + 1) + "r" * len(metrics))
    note = off_modes_footnote(summary, metrics)
    return table + ("\n" + note.replace(OFF_MODES_MARK, r"$^\dagger$", 1) if note else "")


def _unescaped(name: str) -> str:
    return name.replace("\\", "")


def _latex(frame: pd.DataFrame, text_columns: list[str], header=lambda name: name, column_format: str | None = None
           ) -> str:
    """``frame`` as a booktabs tabular; ``text_columns`` and every header are escaped for LaTeX
    (the other cells hold LaTeX already)."""
    styler = frame.style.hide(axis="index").format(escape="latex", subset=text_columns)
    styler = styler.format_index(header, escape="latex", axis=1)
    return styler.to_latex(hrules=True, column_format=column_format or "l" * len(frame.columns)).rstrip("\n")


def render(summary: pd.DataFrame, metrics: list[str], fmt: str) -> str:
    """The table alone in one of :data:`FORMATS`."""
    if fmt == "md":
        return table_markdown(summary, metrics, intervals=False)
    if fmt == "latex":
        return table_latex(summary, metrics)
    keep = [c for c in summary.columns if c[0] in ("runs", *metrics)]
    flat = flat_summary(summary[keep])
    if ("hq_rate", "mean") in summary.columns:  # the flag of a cell whose samples mostly miss every mode
        flagged = off_modes_rows(summary)
        flat["mostly_off_modes"] = [idx in flagged for idx in summary.index]
    if fmt == "csv":
        buf = io.StringIO()
        flat.to_csv(buf, index=False, float_format="%.6g")
        return buf.getvalue()
    if fmt == "json":
        records = flat.to_dict(orient="records")
        clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in records]
        return json.dumps(clean, indent=2)
    raise ValueError(f"unknown table format {fmt!r}; use one of {', '.join(FORMATS)}")


def render_rows(headers: list[str], rows: list[list[str]], fmt: str) -> str:
    """A table of ready-formatted cells in one of :data:`FORMATS`."""
    if fmt == "md":
        return markdown_table(headers, rows)
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([headers, *rows])
        return buf.getvalue()
    if fmt == "latex":
        return _latex(pd.DataFrame(rows, columns=headers), list(headers)).replace("–", "--")
    if fmt == "json":
        return json.dumps([dict(zip(headers, r)) for r in rows], indent=2, ensure_ascii=False)
    raise ValueError(f"unknown table format {fmt!r}; use one of {', '.join(FORMATS)}")
