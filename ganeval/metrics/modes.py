"""Mode coverage for benchmarks with known modes (mixtures of Gaussians, stacked MNIST).

Protocol (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN): a sample is *high quality* if
it lies within ``hq_sigmas`` standard deviations of its nearest mode centre; a mode is *covered*
when it holds at least ``cover_threshold`` high-quality samples; ``kl`` is the reverse KL
divergence KL(p_gen || p_true) between the histogram of high-quality samples over modes and the
true mode weights (plug-in estimate, so a perfect sampler shows a small positive bias of about
(modes - 1) / (2 * samples)).
"""

from __future__ import annotations

import math

import torch

from ganeval.errors import SampleError
from ganeval.metrics.catalog import HQ_RATE, KL, MODES_COVERED, N_MODES, N_SAMPLES


#: A cell whose mean high-quality rate is below this has most of its samples off every mode: its
#: modes covered and KL then describe only the few samples that landed near a mode (a uniform blob
#: over the ring, 1 % high quality, reads "7 modes, KL 0.28"), so tables and the live line flag it.
MOSTLY_OFF_MODES = 0.5
#: The flag's words, the same in the table's footnote and the live line.
OFF_MODES_NOTE = ("most samples miss every mode (high-quality rate below 0.5): modes covered and KL describe only "
                  "the samples near a mode")


def mostly_off_modes(hq_rate: float) -> bool:
    """Whether a cell's mean high-quality rate says most of its samples miss every mode (False when
    it is undefined: no mode metrics to flag)."""
    return hq_rate is not None and math.isfinite(hq_rate) and hq_rate < MOSTLY_OFF_MODES


def reverse_kl(counts: torch.Tensor, weights: torch.Tensor) -> float:
    """KL(p || q) with p = counts / counts.sum() and q = weights (normalised); 0 log 0 = 0.

    Returns NaN when ``counts`` is all zero (no distribution to compare).
    """
    counts = counts.to(torch.float64)
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts / total
    q = weights.to(torch.float64) / weights.to(torch.float64).sum()
    mask = p > 0
    return float((p[mask] * (p[mask] / q[mask]).log()).sum())


def coverage_metrics(counts: torch.Tensor, weights: torch.Tensor | None = None,
                     cover_threshold: int = 1) -> dict[str, float]:
    """Modes covered and reverse KL from per-mode sample counts ``[K]``."""
    n_modes = counts.shape[0]
    if weights is None:
        weights = torch.ones(n_modes)
    return {
        MODES_COVERED: float((counts >= cover_threshold).sum()),
        N_MODES: float(n_modes),
        KL: reverse_kl(counts, weights),
    }


def mode_counts(mode_ids: torch.Tensor, n_modes: int) -> torch.Tensor:
    """``[K]`` int64 histogram of one mode index per (accepted) sample."""
    return torch.bincount(mode_ids.to(torch.int64).flatten(), minlength=n_modes)[:n_modes]


def gaussian_modes(samples: torch.Tensor, centers: torch.Tensor, std: float, weights: torch.Tensor | None = None,
                   hq_sigmas: float = 3.0, cover_threshold: int = 1) -> tuple[dict[str, float], torch.Tensor]:
    """Mode coverage of ``samples [N, D]`` against Gaussian modes at ``centers [K, D]``, and the
    per-mode counts of high-quality samples. Non-finite samples (a diverged generator) count as not
    high quality."""
    samples = check_points(samples, centers.shape[1])
    centers = centers.to(torch.float64)
    x = samples.to(torch.float64)
    finite = torch.isfinite(x).all(dim=1)
    x = torch.where(finite[:, None], x, torch.zeros_like(x))
    nearest_dist, nearest = nearest_center(x, centers)
    hq = finite & (nearest_dist <= hq_sigmas * std)
    counts = mode_counts(nearest[hq], centers.shape[0])
    out = coverage_metrics(counts, weights, cover_threshold)
    out[HQ_RATE] = float(hq.to(torch.float64).mean())
    out[N_SAMPLES] = float(len(x))
    return out, counts


#: The most sample-to-centre distances held at once: beyond it they are computed in blocks of rows.
DISTANCE_BLOCK = 2**22


def nearest_center(x: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance to, index of) the nearest of ``centers [K, D]`` for each row of ``x [N, D]``, in
    blocks of rows when N x K exceeds :data:`DISTANCE_BLOCK` (so many samples against many centres
    never need the whole N x K matrix; the same numbers either way)."""
    rows = max(1, DISTANCE_BLOCK // max(1, len(centers)))
    if len(x) <= rows:
        return torch.cdist(x, centers).min(dim=1)
    parts = [torch.cdist(block, centers).min(dim=1) for block in x.split(rows)]
    return torch.cat([p.values for p in parts]), torch.cat([p.indices for p in parts])


def check_points(samples, dim: int) -> torch.Tensor:
    """Accept a tensor or array-like of shape ``[N, dim]``; anything else is a :class:`SampleError`."""
    if not isinstance(samples, torch.Tensor):
        try:
            samples = torch.as_tensor(samples)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SampleError(f"samples must be a tensor of shape [N, {dim}]: {exc}") from None
    if samples.dim() != 2 or samples.shape[1] != dim:
        raise SampleError(f"samples must have shape [N, {dim}], got {list(samples.shape)}")
    if samples.shape[0] == 0:
        raise SampleError("samples must not be empty")
    if not (samples.is_floating_point() or samples.dtype in (torch.int32, torch.int64)):
        raise SampleError(f"samples must be numeric, got {samples.dtype}")
    return samples.detach().cpu()
