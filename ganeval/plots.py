"""Figures (matplotlib, Agg backend, PNG). Every figure has a title and labelled axes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def draw_points(ax, samples: torch.Tensor, centers: torch.Tensor, std: float, hq_sigmas: float, title: str) -> None:
    """Generated 2-D samples over the true mode centres, with the high-quality radius drawn."""
    pts = samples.detach().cpu().float()
    pts = pts[torch.isfinite(pts).all(dim=1)]
    c = centers.cpu().float()
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.35, color="tab:blue", label="generated", rasterized=True)
    for x, y in c.tolist():
        ax.add_patch(plt.Circle((x, y), hq_sigmas * std, fill=False, color="tab:red", lw=0.8))
    ax.scatter(c[:, 0], c[:, 1], s=12, marker="x", color="tab:red", label="true modes")
    span = float(c.abs().max()) * 1.35 + 0.5
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")


def samples_figure(path: Path, samples: torch.Tensor, centers: torch.Tensor, std: float, hq_sigmas: float,
                   title: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 4))
    draw_points(ax, samples, centers, std, hq_sigmas, title)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    save_figure(fig, path)


def samples_grid_figure(path: Path, panels: Sequence[tuple[str, torch.Tensor]], centers: torch.Tensor, std: float,
                        hq_sigmas: float, title: str) -> None:
    """One panel per (label, samples), side by side, for comparing losses on one benchmark."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False, sharey=True)
    for i, (ax, (label, samples)) in enumerate(zip(axes[0], panels)):
        draw_points(ax, samples, centers, std, hq_sigmas, label)
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


#: Training events on curves: one colour apart from the curves' cycle, labelled with their kind.
EVENT_COLOUR = "#8b0000"


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


def band_figure(path: Path, panels: Sequence[tuple[str, Sequence[tuple[str, Sequence[int], torch.Tensor]]]],
                title: str, ylabel: str, log: bool | Sequence[bool] = True,
                events: Sequence[Sequence[tuple[int, str]]] | None = None) -> None:
    """One panel per (panel title, curves); each curve is (label, steps, values ``[seeds, T]``),
    drawn as the median over seeds with a band from the lowest to the highest seed. Non-finite
    values (a diverged seed) leave a gap; a log panel with zeros switches to symlog, and one with
    nothing positive to a linear axis, each saying so on the panel. ``log``: one flag, or one per
    panel. ``events``: per panel, (step, label) drawn as labelled dashed lines."""
    n = len(panels)
    logs = [log] * n if isinstance(log, bool) else list(log)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.6), squeeze=False)
    for k, (ax, (panel_title, curves)) in enumerate(zip(axes[0], panels)):
        log = logs[k]
        scale = _scale(curves, log)
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
            n = values.shape[0]
            ax.plot(list(steps), med.tolist(), color=color, lw=1.2, label=label if n == 1 else f"{label} (n={n} seeds)")
            if values.shape[0] > 1:
                ax.fill_between(list(steps), lo.tolist(), hi.tolist(), color=color, alpha=0.18, lw=0)
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
        elif log:
            note = "nothing positive to draw on a log axis: every value is zero or undefined"
        if note:
            ax.text(0.5, 0.97, note, transform=ax.transAxes, ha="center", va="top", fontsize=7, color="0.35")
        for step, label in (events[k] if events else ()):
            ax.axvline(step, color=EVENT_COLOUR, ls="--", lw=0.9, alpha=0.8)
            ax.text(step, 0.02, f" {label}", transform=ax.get_xaxis_transform(), rotation=90, va="bottom",
                    fontsize=6, color=EVENT_COLOUR)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("generator step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)


def events_figure(path: Path, rows: Sequence[tuple[str, Sequence[tuple[int, str]]]], steps: int, title: str) -> None:
    """Timeline: one line per run label, one marker per event (step, kind)."""
    kinds = sorted({k for _, evs in rows for _, k in evs})
    markers = dict(zip(kinds, "ovs^D*P"))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.4))
    for y, (label, evs) in enumerate(rows):
        ax.axhline(y, color="0.85", lw=0.8, zorder=0)
        for step, kind in evs:
            ax.scatter([step], [y], marker=markers[kind], color=f"C{kinds.index(kind)}", s=36, zorder=2)
    for kind in kinds:
        ax.scatter([], [], marker=markers[kind], color=f"C{kinds.index(kind)}", label=kind.replace("_", " "))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([label for label, _ in rows], fontsize=7)
    ax.set_xlim(0, max(steps, 1))
    ax.set_xlabel("generator step")
    ax.set_title(title, fontsize=10)
    if kinds:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=min(3, len(kinds)))
    fig.tight_layout()
    save_figure(fig, path)


def mode_counts_figure(path: Path, series: Sequence[tuple[str, Sequence[int]]], title: str) -> None:
    """Samples per mode: bars for a few modes, the sorted counts (a rank plot) for many; the dashed
    line is the same number of samples spread evenly over the modes."""
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
    ax.axhline(total / k, color="0.3", ls="--", lw=0.8, label="uniform over modes")
    ax.set_ylabel("samples")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
