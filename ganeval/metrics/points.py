"""Distribution metrics of generated points ``[N, D]`` against a user's own real points ``[M, D]``:
no known modes, no feature extractor — the coordinates are the features.

* ``mmd2``: the unbiased estimate of the squared maximum mean discrepancy (Gretton et al. 2012,
  eq. 3) with the Gaussian RBF kernel ``k(a, b) = exp(-|a - b|^2 / (2 sigma^2))``. ``sigma`` is the
  median heuristic taken on the *real* points alone (median distance between distinct pairs of up
  to :data:`BANDWIDTH_POINTS` of them, drawn with a fixed seed), so every model scored against the
  same real set is measured with the same kernel and the numbers compare across runs (a bandwidth
  from the pooled sets would change with the model). The bandwidth is recorded as
  ``mmd_bandwidth``. The estimate is about 0 (and may be slightly negative) for two samples of one
  distribution and at most 2.
* ``precision``, ``recall``: the k-NN manifold estimates of Kynkäänniemi et al. 2019 (k = 3), by
  torch-fidelity's own implementation (``metric_prc``), the one ganeval uses on image features.

Both are quadratic in the number of points, so each side is limited to :data:`MAX_POINTS`: a
larger set is scored on a uniformly random subset of that size, drawn without replacement with a
fixed seed (``subsample``; the MMD stays unbiased for the two distributions, and the counts used
are recorded with the score). Sums run in float64 over blocks of rows, so 10,000 x 10,000 points
need no 800 MB matrix.
"""

from __future__ import annotations

import math

import torch

from ganeval.errors import SampleError
from ganeval.metrics.catalog import MMD2, MMD_BANDWIDTH, PRECISION, RECALL

#: Real points the median heuristic looks at (all pairs of them).
BANDWIDTH_POINTS = 2000
#: Neighbourhood size of precision/recall (Kynkäänniemi et al. 2019; torch-fidelity's default).
PRC_NEIGHBORHOOD = 3
#: The name under which these metrics' "extractor" is recorded: none, the raw coordinates.
RAW_POINTS = "raw-points"
_BLOCK = 2048
#: The most points of each side that MMD and precision/recall compare (the FID convention's 10k).
MAX_POINTS = 10_000
#: The seed of the subsets drawn from larger sets (a score is repeatable).
SUBSAMPLE_SEED = 0


def subsample(x: torch.Tensor, max_points: int = MAX_POINTS, seed: int = SUBSAMPLE_SEED) -> torch.Tensor:
    """``x`` itself, or ``max_points`` of its rows drawn uniformly without replacement with ``seed``."""
    if len(x) <= max_points:
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:max_points]]


def _points(x: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or len(x) == 0:
        raise SampleError(f"{what} must be points [N, D], got {list(getattr(x, 'shape', []))}")
    x = x.detach().cpu().to(torch.float64)
    if not torch.isfinite(x).all():
        raise SampleError(f"{what} contain NaN or infinite values")
    return x


def median_bandwidth(real: torch.Tensor, max_points: int = BANDWIDTH_POINTS, seed: int = 0) -> float:
    """Median Euclidean distance between distinct pairs of (up to ``max_points`` of) ``real [M, D]``."""
    x = _points(real, "real points")
    if len(x) > max_points:
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:max_points]]
    if len(x) < 2:
        raise SampleError("the median-heuristic bandwidth needs at least 2 real points")
    d = torch.pdist(x)
    sigma = float(torch.quantile(d, 0.5))  # the midpoint of the middle two, as numpy.median
    if not sigma > 0:
        raise SampleError("the real points coincide (median pairwise distance 0): no kernel bandwidth")
    return sigma


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, gamma: float) -> float:
    """Sum over all pairs of ``exp(-gamma |a_i - b_j|^2)``, in blocks of rows."""
    total = 0.0
    for block in a.split(_BLOCK):
        total += float(torch.exp(-gamma * torch.cdist(block, b).square()).sum())
    return total


def mmd2_unbiased(generated: torch.Tensor, real: torch.Tensor, bandwidth: float) -> float:
    """Unbiased MMD^2 of ``generated [N, D]`` and ``real [M, D]`` with a Gaussian kernel of ``bandwidth``:
    mean k over distinct generated pairs + over distinct real pairs - 2 x mean k across the sets."""
    x, y = _points(generated, "generated points"), _points(real, "real points")
    if len(x) < 2 or len(y) < 2:
        raise SampleError("the unbiased MMD needs at least 2 generated and 2 real points")
    if x.shape[1] != y.shape[1]:
        raise SampleError(f"generated points are {x.shape[1]}-D, real points {y.shape[1]}-D")
    gamma = 1.0 / (2.0 * bandwidth ** 2)
    n, m = len(x), len(y)
    kxx = (_kernel_sum(x, x, gamma) - n) / (n * (n - 1))  # the diagonal holds n ones
    kyy = (_kernel_sum(y, y, gamma) - m) / (m * (m - 1))
    kxy = _kernel_sum(x, y, gamma) / (n * m)
    return kxx + kyy - 2.0 * kxy


def precision_recall(generated: torch.Tensor, real: torch.Tensor, k: int = PRC_NEIGHBORHOOD) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019) by torch-fidelity's ``metric_prc``:
    precision = share of generated points inside some real point's k-NN ball, recall the reverse."""
    from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

    x, y = _points(generated, "generated points"), _points(real, "real points")
    if min(len(x), len(y)) <= k:
        raise SampleError(f"precision/recall with k = {k} need more than {k} generated and real points")
    if x.shape[1] != y.shape[1]:
        raise SampleError(f"generated points are {x.shape[1]}-D, real points {y.shape[1]}-D")
    out = prc_features_to_metric(x, y, prc_neighborhood=k, prc_batch_size=10000, save_cpu_ram=True, verbose=False)
    return float(out[KEY_METRIC_PRECISION]), float(out[KEY_METRIC_RECALL])


def point_metrics(generated: torch.Tensor, real: torch.Tensor, metrics: tuple[str, ...] = ("mmd", "prc"),
                  bandwidth: float | None = None) -> dict[str, float]:
    """The flat dict of the module docstring's metrics (``mmd``: mmd2 and its bandwidth; ``prc``:
    precision and recall), on at most :data:`MAX_POINTS` of each side (:func:`subsample`).
    ``bandwidth``: the kernel's sigma, default the median heuristic."""
    out: dict[str, float] = {}
    sigma = (median_bandwidth(real) if bandwidth is None else float(bandwidth)) if "mmd" in metrics else 0.0
    generated, real = subsample(generated), subsample(real)  # quadratic work: at most MAX_POINTS a side
    if "mmd" in metrics:
        if not (math.isfinite(sigma) and sigma > 0):
            raise SampleError(f"the MMD bandwidth must be a positive number, got {bandwidth}")
        out[MMD2] = mmd2_unbiased(generated, real, sigma)
        out[MMD_BANDWIDTH] = sigma
    if "prc" in metrics:
        out[PRECISION], out[RECALL] = precision_recall(generated, real)
    return out
