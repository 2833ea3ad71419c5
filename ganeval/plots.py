"""Figures (matplotlib, Agg backend, PNG). Every figure has a title and labelled axes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ganeval import fileio  # noqa: E402


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Render to PNG in memory and write atomically."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    fileio.write_bytes(path, buf.getvalue())


def draw_points(ax, samples: torch.Tensor, centers: torch.Tensor, std: float, hq_sigmas: float, title: str,
                weights: torch.Tensor | None = None) -> None:
    """Generated 2-D samples over the true mode centres, with the high-quality radius drawn.
    ``weights`` (a weighted mixture): each centre's marker grows with its weight and is labelled
    with it, so a reader sees which modes should hold more samples."""
    pts = samples.detach().cpu().float()
    pts = pts[torch.isfinite(pts).all(dim=1)]
    c = centers.cpu().float()
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.35, color="tab:blue", label="generated", rasterized=True)
    for x, y in c.tolist():
        ax.add_patch(plt.Circle((x, y), hq_sigmas * std, fill=False, color="tab:red", lw=0.8))
    if weights is None:
        ax.scatter(c[:, 0], c[:, 1], s=12, marker="x", color="tab:red", label="true modes")
    else:
        w = weights.detach().cpu().double()
        w = w / w.sum()
        ax.scatter(c[:, 0], c[:, 1], s=(12 * len(w) * w).clamp(min=3).tolist(), marker="x", color="tab:red",
                   label="true modes (weight shown)")
        for (x, y), share in zip(c.tolist(), w.tolist()):
            ax.annotate(f"{share:.2g}", (x, y), xytext=(3, 3), textcoords="offset points", fontsize=6,
                        color="tab:red")
    span = float(c.abs().max()) * 1.35 + 0.5
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")


def samples_figure(path: Path, samples: torch.Tensor, centers: torch.Tensor, std: float, hq_sigmas: float,
                   title: str, weights: torch.Tensor | None = None) -> None:
    fig, ax = plt.subplots(figsize=(4, 4))
    draw_points(ax, samples, centers, std, hq_sigmas, title, weights)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    save_figure(fig, path)


def samples_grid_figure(path: Path, panels: Sequence[tuple[str, torch.Tensor]], centers: torch.Tensor, std: float,
                        hq_sigmas: float, title: str, weights: torch.Tensor | None = None) -> None:
    """One panel per (label, samples), side by side, for comparing losses on one benchmark."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False, sharey=True)
    for i, (ax, (label, samples)) in enumerate(zip(axes[0], panels)):
        draw_points(ax, samples, centers, std, hq_sigmas, label, weights)
        if i:
            ax.set_ylabel("")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)


def image_grid(images: torch.Tensor, columns: int = 8) -> torch.Tensor:
    """``[N, C, H, W]`` in [-1, 1] -> one ``[H', W', 3]`` array in [0, 1] with 1-pixel white gaps."""
    from torchvision.utils import make_grid

    imgs = images.detach().float().cpu().nan_to_num(0.0).clamp(-1, 1).add(1).div(2)
    return make_grid(imgs, nrow=columns, padding=1, pad_value=1.0).permute(1, 2, 0)


def image_grid_figure(path: Path, panels: Sequence[tuple[str, torch.Tensor]], title: str) -> None:
    """One grid of images per (label, images) panel, side by side."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.7), squeeze=False)
    for ax, (label, images) in zip(axes[0], panels):
        grid = image_grid(images)
        ax.imshow(grid.numpy(), interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


#: Training events on curves: colours apart from the curves' cycle, one per event kind.
EVENT_COLOUR = "#8b0000"
EVENT_COLOURS = ("#8b0000", "#6a3d9a", "#b15928", "#1f5f3f", "#b8860b", "#c71585", "#2f4f4f", "#8b4513", "#483d8b")


@dataclass(frozen=True)
class EventSpan:
    """An event as drawn: logged steps ``start``..``end``, ``open`` when it lasted to the run's end
    (drawn to the right edge); ``faint`` for a start-up transient the detectors set aside."""

    start: int
    end: int
    label: str
    open: bool = False
    faint: bool = False

    @classmethod
    def of(cls, event: dict, label: str, faint: bool = False) -> EventSpan:
        end = event.get("end")
        return cls(int(event["step"]), int(end) if end is not None else int(event["step"]), label,
                   bool(event.get("open")), faint)

    def caption(self) -> str:
        span = (f"{self.start}–{self.end}" if self.end != self.start else f"{self.start}") + (" (open)" if self.open else "")
        return f"{self.label}: {span}" + (" (start-up, set aside)" if self.faint else "")


def _as_span(item) -> EventSpan:
    if isinstance(item, EventSpan):
        return item
    step, label = item  # (step, label): a point event
    return EventSpan(int(step), int(step), label)


def _kind_of(label: str) -> str:
    """The event kind in a label such as ``run-a: exploding weights (D)`` (for its colour)."""
    return label.split(": ")[-1].split(" (")[0]


def draw_event_spans(ax, spans: Sequence[EventSpan], colours: dict[str, str]) -> list:
    """Each event as a shaded interval from its start to its end (a line for a single step), in
    its kind's colour (``colours`` is filled as kinds appear); an open event ends in a marker at
    the run's last step. Returns (caption, handle) pairs for a legend outside the data, so events
    at neighbouring steps never stack their labels."""
    from matplotlib.lines import Line2D

    out = []
    for span in spans:
        colour = colours.setdefault(_kind_of(span.label), EVENT_COLOURS[len(colours) % len(EVENT_COLOURS)])
        if span.end > span.start:
            ax.axvspan(span.start, span.end, color=colour, alpha=0.04 if span.faint else 0.10, lw=0)
        ax.axvline(span.start, color=colour, ls=":" if span.faint else "--", lw=0.9, alpha=0.5 if span.faint else 0.9)
        if span.open:
            ax.plot([span.end], [1.0], marker=">", color=colour, ms=6, transform=ax.get_xaxis_transform(),
                    clip_on=False)
        out.append((span.caption(), Line2D([], [], color=colour, lw=6, alpha=0.2 if span.faint else 0.5)))
    return out


def _scale(curves: Sequence[tuple[str, Sequence[int], torch.Tensor]], log: bool) -> str:
    """``linear``, ``log``, or ``symlog`` for a log panel that holds zeros (vanished gradients must show
    as a line at 0, not as a gap), or ``linear`` when it has no positive value at all."""
    if not log:
        return "linear"
    finite = torch.cat([v.double()[torch.isfinite(v.double())].flatten() for _, _, v in curves]) if curves else \
        torch.zeros(0)
    if not bool((finite > 0).any()):
        return "linear"
    return "symlog" if bool((finite == 0).any()) else "log"


def _spread_scale(curves: Sequence[tuple[str, Sequence[int], torch.Tensor]]) -> float | None:
    """For a linear panel whose curves differ in size by more than 20x (one run's loss of 100 next
    to others' of 1), the linear threshold of a symlog axis that shows every curve; else None."""
    sizes = []
    for _, _, values in curves:
        v = values.double()
        v = v[torch.isfinite(v)].abs()
        if len(v):
            sizes.append(float(v.quantile(0.9)))
    sizes = [x for x in sizes if x > 0]
    if len(sizes) < 2 or max(sizes) < 20 * min(sizes):
        return None
    return min(sizes)


def band_figure(path: Path, panels: Sequence[tuple[str, Sequence[tuple[str, Sequence[int], torch.Tensor]]]],
                title: str, ylabel: str, log: bool | Sequence[bool] = True,
                events: Sequence[Sequence[EventSpan | tuple[int, str]]] | None = None,
                columns: int | None = None) -> None:
    """One panel per (panel title, curves); each curve is (label, steps, values ``[seeds, T]``),
    drawn as the median over seeds with a band from the lowest to the highest seed. Non-finite
    values (a diverged seed) leave a gap; a log panel with zeros switches to symlog, one with
    nothing positive to a linear axis, and a linear panel whose curves differ in size by more than
    20x to symlog, each saying so on the panel. ``log``: one flag, or one per panel. ``events``:
    per panel, :class:`EventSpan` s (or (step, label) points) drawn as shaded intervals, named
    in a legend below the panel. Curve legends sit outside the axes, right of the data.
    ``columns``: panels per row (default: all in one row); panels fill the rows in order and share
    the step axis, e.g. one row per traced run, so each run's events shade only its own row."""
    n = len(panels)
    logs = [log] * n if isinstance(log, bool) else list(log)
    cols = max(1, min(columns or n, n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.0 * rows), squeeze=False,
                             sharex=rows > 1)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    colours: dict[str, str] = {}
    captions: dict[str, Any] = {}
    widest = 0
    for k, (ax, (panel_title, curves)) in enumerate(zip(axes.flat, panels)):
        log = logs[k]
        scale = _scale(curves, log)
        spread = _spread_scale(curves) if scale == "linear" and not log else None
        x_max = 0
        for i, (label, steps, values) in enumerate(curves):
            v = values.double()
            v = v.where(torch.isfinite(v), torch.tensor(float("nan"), dtype=v.dtype))  # a diverged seed stops here
            if scale == "log":
                v = v.where(v > 0, torch.tensor(float("nan"), dtype=v.dtype))
            med = v.nanmedian(dim=0).values
            nan = torch.tensor(float("nan"), dtype=v.dtype)
            empty = torch.isnan(v).all(dim=0)
            lo = torch.where(torch.isnan(v), torch.tensor(float("inf"), dtype=v.dtype), v).min(dim=0).values
            hi = torch.where(torch.isnan(v), torch.tensor(float("-inf"), dtype=v.dtype), v).max(dim=0).values
            lo, hi = lo.where(~empty, nan), hi.where(~empty, nan)
            color = f"C{i % 10}"
            seeds = values.shape[0]
            ax.plot(list(steps), med.tolist(), color=color, lw=1.2,
                    label=label if seeds == 1 else f"{label} (n={seeds} seeds)")
            if seeds > 1:
                ax.fill_between(list(steps), lo.tolist(), hi.tolist(), color=color, alpha=0.18, lw=0)
            x_max = max([x_max, *steps]) if len(steps) else x_max
        note = ""
        if scale == "log":
            ax.set_yscale("log")
        elif scale == "symlog":
            finite = torch.cat([c[2].double()[torch.isfinite(c[2].double())].flatten() for c in curves])
            ax.set_yscale("symlog", linthresh=float(finite[finite > 0].min()))
            ax.yaxis.set_major_locator(matplotlib.ticker.SymmetricalLogLocator(
                base=10, linthresh=float(finite[finite > 0].min()), subs=[1.0]))
            ax.yaxis.get_major_locator().numticks = 8
            note = "symlog axis: zeros are drawn at 0"
        elif spread is not None:
            ax.set_yscale("symlog", linthresh=spread)
            ax.yaxis.set_major_locator(matplotlib.ticker.SymmetricalLogLocator(base=10, linthresh=spread * 1.01,
                                                                               subs=[1.0]))
            note = f"symlog axis (linear within ±{spread:.3g}): the curves differ in size by more than 20x"
        elif log:
            note = "nothing positive to draw on a log axis: every value is zero or undefined"
        if note:
            ax.text(0.5, 1.01, note, transform=ax.transAxes, ha="center", va="bottom", fontsize=7, color="0.35")
        widest = max(widest, x_max)
        if x_max > 0 and rows == 1:
            ax.set_xlim(0, x_max)
        for caption, handle in draw_event_spans(ax, [_as_span(e) for e in (events[k] if events else ())], colours):
            captions.setdefault(caption, handle)
        ax.set_title(panel_title, fontsize=10, pad=14 if note else 6)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if rows > 1 and widest > 0:  # shared step axis: the longest run sets it
        axes.flat[0].set_xlim(0, widest)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    if captions:  # below every panel: one line per event, its interval in steps
        fig.legend(list(captions.values()), list(captions), loc="upper left", bbox_to_anchor=(0.0, 0.0),
                   ncol=min(3, len(captions)), fontsize=7, frameon=False,
                   title="events (shaded over their interval; ▶ still open at the end; faint: start-up transient)",
                   title_fontsize=7, alignment="left")
    save_figure(fig, path)


def events_figure(path: Path, rows: Sequence[tuple[str, Sequence[EventSpan | tuple[int, str]]]], steps: int,
                  title: str) -> None:
    """Timeline: one line per run label, one bar per event from its start to its end (an open event
    runs to the last step and ends in an arrow), coloured by kind; x in training steps."""
    spans = [(label, [_as_span(e) for e in evs]) for label, evs in rows]
    kinds = sorted({s.label for _, ss in spans for s in ss})
    colour = {k: EVENT_COLOURS[i % len(EVENT_COLOURS)] for i, k in enumerate(kinds)}
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(rows) + 1.6))
    right = max([steps, 1, *(s.end for _, ss in spans for s in ss)])
    for y, (label, ss) in enumerate(spans):
        ax.axhline(y, color="0.88", lw=0.8, zorder=0)
        lanes = max(len(ss), 1)
        for j, s in enumerate(ss):
            offset = (j - (lanes - 1) / 2) * min(0.6 / lanes, 0.2)
            end = right if s.open else s.end
            ax.plot([s.start, max(end, s.start)], [y + offset] * 2, color=colour[s.label], lw=4,
                    alpha=0.35 if s.faint else 0.9, solid_capstyle="butt")
            ax.scatter([s.start], [y + offset], color=colour[s.label], s=14, zorder=3)
            if s.open:
                ax.annotate("", xy=(right, y + offset), xytext=(right - 0.02 * right, y + offset),
                            arrowprops={"arrowstyle": "->", "color": colour[s.label], "lw": 1.2})
    for kind in kinds:
        ax.plot([], [], color=colour[kind], lw=4, label=kind.replace("_", " "))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([label for label, _ in rows], fontsize=7)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0, right * 1.02)
    ax.set_xlabel("step (bars: event intervals; an arrow: still open at the end)")
    ax.set_title(title, fontsize=10)
    if kinds:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    save_figure(fig, path)


def mode_counts_figure(path: Path, series: Sequence[tuple[str, Sequence[int]]], title: str,
                       weights: torch.Tensor | None = None) -> None:
    """Samples per mode: bars for a few modes, the sorted counts (a rank plot) for many; the dashed
    line is the same number of samples spread over the modes as the benchmark's weights spread
    them (evenly, without ``weights``): the target the KL compares with."""
    k = len(series[0][1])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if k <= 30:
        width = 0.8 / len(series)
        for i, (label, counts) in enumerate(series):
            ax.bar([m + i * width for m in range(k)], counts, width=width, label=label, color=f"C{i % 10}")
        ax.set_xlabel("mode")
        ax.set_xticks(range(k))
        ax.tick_params(axis="x", labelsize=6)
    else:
        for i, (label, counts) in enumerate(series):
            ordered = sorted(counts, reverse=True)
            ax.plot(range(1, k + 1), ordered, label=label, color=f"C{i % 10}", lw=1.2)
        ax.set_xlabel("mode rank (most to least frequent)")
        ax.set_yscale("symlog", linthresh=1)
    total = sum(series[0][1])
    if weights is None:
        ax.axhline(total / k, color="0.3", ls="--", lw=0.8, label="uniform over modes")
    else:
        w = weights.detach().cpu().double()
        expected = (total * w / w.sum()).tolist()
        if k <= 30:  # one dash over each mode's group of bars
            half = 0.4 / len(series)
            ax.hlines(expected, [m - half for m in range(k)], [m + 0.8 - half for m in range(k)], color="0.3",
                      ls="--", lw=0.8, label="expected under the benchmark's weights")
        else:
            ax.plot(range(1, k + 1), sorted(expected, reverse=True), color="0.3", ls="--", lw=0.8,
                    label="expected under the benchmark's weights")
    ax.set_ylabel("samples")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
