import math

import pytest
import torch

from ganeval import get_benchmark, rng
from ganeval.errors import SampleError, UnknownNameError


def test_ring_has_eight_distinct_centres_on_radius_two():
    ring = get_benchmark("ring8")
    c = ring.centers.double()
    assert c.shape == (8, 2)
    assert torch.allclose(c.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64), atol=1e-6)
    # the linspace(0, 2*pi, 8) bug would put two centres on top of each other
    dists = torch.cdist(c, c) + torch.eye(8, dtype=torch.float64) * 10
    assert float(dists.min()) == pytest.approx(2 * 2 * math.sin(math.pi / 8), rel=1e-5)
    angles = torch.atan2(c[:, 1], c[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles.sort().values, torch.arange(8, dtype=torch.float64) * math.pi / 4, atol=1e-6)


def test_grid_centres():
    grid = get_benchmark("grid25")
    coords = sorted({round(v, 6) for v in grid.centers.flatten().tolist()})
    assert coords == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert grid.centers.unique(dim=0).shape == (25, 2)
    assert grid.std == 0.05


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_perfect_sampler_covers_every_mode_with_kl_near_zero(name):
    b = get_benchmark(name)
    m = b.evaluate(b.sample(2500, generator=torch.Generator().manual_seed(0)))
    assert m["modes_covered"] == b.n_modes
    assert m["n_modes"] == b.n_modes
    # within 3 std in 2-D holds 1 - exp(-4.5) = 98.9 % of a Gaussian's mass
    assert m["hq_rate"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert 0 <= m["kl"] < 0.03  # plug-in bias ~ (K-1)/(2N)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_one_point_generator_covers_exactly_one_mode(name):
    b = get_benchmark(name)
    samples = b.centers[3].repeat(2500, 1)
    m = b.evaluate(samples)
    assert m["modes_covered"] == 1
    assert m["hq_rate"] == 1.0
    assert m["kl"] == pytest.approx(math.log(b.n_modes))


def test_samples_between_modes_are_not_high_quality():
    ring = get_benchmark("ring8")
    mid = (ring.centers[0] + ring.centers[1]) / 2
    m = ring.evaluate(mid.repeat(100, 1))
    assert m["hq_rate"] == 0 and m["modes_covered"] == 0 and math.isnan(m["kl"])
    # just inside / outside the 3-sigma radius of a centre
    inside = ring.centers[0] + torch.tensor([0.059, 0.0])
    outside = ring.centers[0] + torch.tensor([0.061, 0.0])
    assert ring.evaluate(inside[None])["hq_rate"] == 1.0
    assert ring.evaluate(outside[None])["hq_rate"] == 0.0


def test_threshold_options_change_the_answer():
    ring = get_benchmark("ring8")
    samples = ring.centers[0] + torch.tensor([0.08, 0.0])
    assert ring.evaluate(samples[None], hq_sigmas=5.0)["hq_rate"] == 1.0
    two = torch.cat([ring.centers[:1], ring.centers[1:2].repeat(5, 1)])
    assert ring.evaluate(two, cover_threshold=2)["modes_covered"] == 1


def test_diverged_generator_output_is_scored_not_crashed():
    ring = get_benchmark("ring8")
    samples = torch.full((100, 2), float("nan"))
    samples[:10] = ring.centers[2]
    m = ring.evaluate(samples)
    assert m["hq_rate"] == pytest.approx(0.1) and m["modes_covered"] == 1


@pytest.mark.parametrize("bad", [torch.zeros(10, 3), torch.zeros(10), torch.zeros(0, 2), "points"])
def test_wrong_shapes_are_a_clear_error(bad):
    with pytest.raises(SampleError):
        get_benchmark("ring8").evaluate(bad)


def test_batch_draws_the_benchmark_distribution_per_seed():
    grid = get_benchmark("grid25")
    streams = rng.SeedStreams([0, 1, 2])
    x = grid.batch(streams, 0, 0, 4000)
    assert x.shape == (3, 4000, 2)
    for k in range(3):
        m = grid.evaluate(x[k])
        assert m["modes_covered"] == 25 and m["kl"] < 0.02
    assert torch.equal(grid.batch(rng.SeedStreams([1]), 0, 0, 4000)[0], x[1])


def test_unknown_benchmark():
    with pytest.raises(UnknownNameError, match="valid: ring8, ring8-unit, grid25"):
        get_benchmark("ring9")
