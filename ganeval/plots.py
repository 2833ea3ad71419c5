"""Figures (matplotlib, Agg backend, PNG). Every figure has a title and labelled axes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

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
    """``[N, C, H, W]`` in [-1, 1] -> one ``[H', W', C]`` array in [0, 1] with 1-pixel gaps."""
    imgs = images.detach().float().cpu().nan_to_num(0.0).clamp(-1, 1).add(1).div(2)
    n, c, h, w = imgs.shape
    rows = (n + columns - 1) // columns
    grid = torch.ones(c, rows * (h + 1) + 1, columns * (w + 1) + 1)
    for i in range(n):
        r, col = divmod(i, columns)
        grid[:, 1 + r * (h + 1):1 + r * (h + 1) + h, 1 + col * (w + 1):1 + col * (w + 1) + w] = imgs[i]
    return grid.permute(1, 2, 0).squeeze(-1)


def image_grid_figure(path: Path, panels: Sequence[tuple[str, torch.Tensor]], title: str) -> None:
    """One grid of images per (label, images) panel, side by side."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.7), squeeze=False)
    for ax, (label, images) in zip(axes[0], panels):
        grid = image_grid(images)
        ax.imshow(grid.numpy(), cmap="gray" if grid.dim() == 2 else None, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
