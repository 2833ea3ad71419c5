import math

import pytest
import torch
from scipy.stats import entropy

from ganeval.metrics.modes import coverage_metrics, gaussian_modes, mode_counts, reverse_kl


def test_reverse_kl_matches_scipy():
    counts = torch.tensor([10, 0, 5, 85])
    weights = torch.tensor([0.1, 0.2, 0.3, 0.4])
    # in float64, as reverse_kl computes (SciPy 1.15 with NumPy 1.26 keeps float32 weights in float32)
    expected = entropy(counts.numpy().astype("float64"), weights.numpy().astype("float64"))
    assert reverse_kl(counts, weights) == pytest.approx(expected, rel=1e-12)


def test_reverse_kl_of_the_true_distribution_is_zero_and_of_no_samples_is_nan():
    assert reverse_kl(torch.tensor([25, 25, 25, 25]), torch.ones(4)) == pytest.approx(0.0, abs=1e-15)
    assert math.isnan(reverse_kl(torch.zeros(4), torch.ones(4)))


def test_coverage_counts_modes_over_threshold():
    counts = mode_counts(torch.tensor([0, 0, 0, 1, 2, 2]), 5)
    assert counts.tolist() == [3, 1, 2, 0, 0]
    assert coverage_metrics(counts)["modes_covered"] == 3
    assert coverage_metrics(counts, cover_threshold=2)["modes_covered"] == 2


def test_gaussian_modes_in_higher_dimensions():
    centers = torch.eye(3) * 10
    samples = torch.cat([centers[0].repeat(4, 1), centers[2].repeat(4, 1) + 0.1])
    m, counts = gaussian_modes(samples, centers, std=0.1, hq_sigmas=3.0)
    assert counts.tolist() == [4, 0, 4]
    assert m["modes_covered"] == 2 and m["hq_rate"] == 1.0 and m["kl"] == pytest.approx(math.log(3 / 2))
