"""Point metrics against independent computations (NumPy/SciPy written out here, not ganeval's code)
and known answers: identical sets, one distribution sampled twice, disjoint far clusters."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist, pdist

from ganeval.errors import SampleError
from ganeval.metrics.points import median_bandwidth, mmd2_unbiased, point_metrics, precision_recall


def numpy_mmd2(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    """Gretton et al. 2012, eq. 3, with the full kernel matrices."""
    k = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2 * sigma**2))  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean())


def numpy_prc(gen: np.ndarray, real: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019: a point is inside a set's manifold when it lies within the distance
    from some member of the set to that member's k-th nearest other member."""
    def radii(a):
        return np.sort(cdist(a, a), axis=1)[:, k]  # column 0 is the point itself
    precision = (cdist(gen, real) <= radii(real)[None, :]).any(axis=1).mean()
    recall = (cdist(real, gen) <= radii(gen)[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(300, 2))
    gen = rng.normal(loc=(0.7, 0.0), scale=(1.0, 0.5), size=(250, 2))  # overlapping, not equal
    return gen, real


def test_mmd_equals_the_full_matrix_formula(sets):
    gen, real = sets
    sigma = float(np.median(pdist(real)))
    assert median_bandwidth(torch.from_numpy(real)) == pytest.approx(sigma, rel=1e-12)
    out = point_metrics(torch.from_numpy(gen), torch.from_numpy(real), ("mmd",))
    assert out["mmd_bandwidth"] == pytest.approx(sigma, rel=1e-12)
    assert out["mmd2"] == pytest.approx(numpy_mmd2(gen, real, sigma), rel=1e-9, abs=1e-12)
    # another bandwidth, given: the same formula
    assert mmd2_unbiased(torch.from_numpy(gen), torch.from_numpy(real), 0.3) == pytest.approx(
        numpy_mmd2(gen, real, 0.3), rel=1e-9)


def test_mmd_is_about_zero_for_one_distribution_and_large_for_far_clusters():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2))
    same = mmd2_unbiased(torch.from_numpy(a), torch.from_numpy(b), median_bandwidth(torch.from_numpy(b)))
    assert abs(same) < 2e-3  # unbiased: centred on 0 (may be negative)
    far = a + 100.0
    apart = mmd2_unbiased(torch.from_numpy(far), torch.from_numpy(b), median_bandwidth(torch.from_numpy(b)))
    # no cross-set kernel mass: MMD^2 = mean within-set kernel of both sets (computed independently)
    assert apart == pytest.approx(numpy_mmd2(far, b, float(np.median(pdist(b)))), rel=1e-9)
    assert apart > 0.5


def test_precision_recall_equal_the_definition(sets):
    gen, real = sets
    p, r = precision_recall(torch.from_numpy(gen), torch.from_numpy(real))
    assert (p, r) == pytest.approx(numpy_prc(gen, real), abs=1e-6)  # same counts (torch-fidelity means in float32)
    assert 0.3 < p < 1 and 0.3 < r < 1  # a sceptic's check that the example is not degenerate


def test_precision_recall_known_answers():
    rng = np.random.default_rng(1)
    real = torch.from_numpy(rng.normal(size=(200, 2)))
    assert precision_recall(real, real.clone()) == (1.0, 1.0)  # identical sets
    far = real + 50.0
    assert precision_recall(far, real) == (0.0, 0.0)  # disjoint far clusters
    # a generator collapsed onto a quarter of the real set: all precise, little recall
    p, r = precision_recall(real[real[:, 0] > 0.67], real)
    assert p == 1.0 and r < 0.5


def test_bad_points_are_refused():
    good = torch.randn(50, 2)
    with pytest.raises(SampleError, match="contain NaN"):
        point_metrics(torch.full((50, 2), math.nan), good)
    with pytest.raises(SampleError, match="coincide"):
        median_bandwidth(torch.zeros(10, 2))
    with pytest.raises(SampleError, match="3-D"):
        point_metrics(torch.randn(50, 3), good)
    with pytest.raises(SampleError, match="more than 3"):
        precision_recall(torch.randn(3, 2), good)


def test_large_sets_are_scored_on_a_stated_seeded_subset():
    """Issue 35, finding 8: 200,000 vs 200,000 points did not finish (MMD and PRC are quadratic).
    Each side is limited to MAX_POINTS, drawn uniformly without replacement with a fixed seed: the
    same numbers as computing on those subsets by hand, and the same on every call."""
    from ganeval.metrics import points

    g = torch.Generator().manual_seed(3)
    gen, real = torch.randn(points.MAX_POINTS + 1500, 2, generator=g), torch.randn(points.MAX_POINTS + 700, 2, generator=g)
    out = point_metrics(gen, real)
    sigma = median_bandwidth(real)  # the kernel's bandwidth comes from the full real set, as before
    gen_used, real_used = points.subsample(gen), points.subsample(real)
    assert len(gen_used) == len(real_used) == points.MAX_POINTS
    assert out["mmd2"] == pytest.approx(mmd2_unbiased(gen_used, real_used, sigma), rel=1e-12)
    assert (out["precision"], out["recall"]) == precision_recall(gen_used, real_used)
    assert point_metrics(gen, real) == out
    small = gen[:500]
    assert points.subsample(small) is small  # a set within the limit is used whole
