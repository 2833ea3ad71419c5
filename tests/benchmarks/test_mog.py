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


# --- mixtures as data: centres, weights, std -----------------------------------------------------------
import numpy as np  # noqa: E402

from ganeval import GaussianMixture, register_benchmark  # noqa: E402
from ganeval.errors import SpecError  # noqa: E402

FIVE = [[0.0, 0.0], [2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]]
ZIPF = [1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5]


def _registered(name, centers=FIVE, weights=ZIPF, std=0.05):
    register_benchmark(name, GaussianMixture(centers, std, weights))
    return get_benchmark(name)


@pytest.mark.parametrize("name", ["ring8", "ring8-unit", "grid25"])
def test_equal_weight_benchmarks_draw_bit_for_bit_what_they_always_drew(name):
    """The committed CI baseline was trained on these batches: weights must not change one bit of
    them. Today's draw, restated: the mode from randint on the data stream, the offset from normals."""
    b = get_benchmark(name)
    streams = rng.SeedStreams([0, 1, 2, 2**40 + 5])
    for step, sub in ((7, 1), (0, 0), (torch.tensor(123456789012, dtype=torch.int64), 2)):
        then = (b.centers[streams.randint(rng.DATA, step, 2 * sub, b.n_modes, (300,))]
                + b.std * streams.normal(rng.DATA, step, 2 * sub + 1, (300, 2)))
        assert torch.equal(b.batch(streams, step, sub, 300), then)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    then = b.centers[torch.randint(b.n_modes, (1000,), generator=g2)] + b.std * torch.randn(1000, 2, generator=g2)
    assert torch.equal(b.sample(1000, generator=g1), then)
    # the same centres with equal weights written out draw the same batches too
    same = _registered(f"{name}-equal", b.centers.double().tolist(), [2.5] * b.n_modes, b.std)
    assert same.equal_weights and torch.equal(same.batch(streams, 7, 1, 300), b.batch(streams, 7, 1, 300))


def test_a_weighted_mixture_draws_its_modes_with_their_weights():
    b = _registered("zipf5-draws")
    q = np.array(ZIPF) / sum(ZIPF)
    n = 200_000
    for x in (b.batch(rng.SeedStreams([11]), 3, 0, n)[0], b.sample(n, generator=torch.Generator().manual_seed(1))):
        _, counts = b.evaluate_with_counts(x)
        nearest = torch.cdist(x.double(), b.centers.double()).argmin(1)
        freq = np.bincount(nearest.numpy(), minlength=5) / n
        assert np.all(np.abs(freq - q) < 5 * np.sqrt(q * (1 - q) / n)), freq  # within 5 standard errors


def test_a_perfect_weighted_sampler_reads_kl_near_zero():
    b = _registered("zipf5-perfect")
    for x in (b.sample(20_000, generator=torch.Generator().manual_seed(0)), b.batch(rng.SeedStreams([4]), 0, 0, 20_000)[0]):
        m = b.evaluate(x)
        assert m["modes_covered"] == 5 and m["hq_rate"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
        assert 0 <= m["kl"] < 3 * 4 / (2 * 20_000)  # the plug-in bias (K-1)/(2N), with room
    # the same samples against equal weights would read a KL far from 0: the weights are the target
    unweighted = _registered("zipf5-perfect-equal", weights=None)
    assert unweighted.evaluate(b.sample(20_000, generator=torch.Generator().manual_seed(0)))["kl"] > 0.1


def test_a_uniform_sampler_against_zipf_weights_reads_the_kl_computed_by_hand():
    b = _registered("zipf5-uniform")
    g = torch.Generator().manual_seed(5)
    per_mode = 2000
    x = torch.cat([torch.tensor(c) + 0.01 * torch.randn(per_mode, 2, generator=g) for c in FIVE])
    m = b.evaluate(x)
    # by hand: every sample lies within 3 std of its own centre, so p is uniform over the 5 modes
    p = np.full(5, 1 / 5)
    q = np.array(ZIPF) / np.sum(ZIPF)
    by_hand = float(np.sum(p * np.log(p / q)))
    assert m["hq_rate"] == 1.0 and m["modes_covered"] == 5
    assert m["kl"] == pytest.approx(by_hand, rel=1e-9)
    assert by_hand == pytest.approx(math.log(sum(ZIPF)) + math.log(120) / 5 - math.log(5))  # 0.174: far from 0
    assert m["kl_max"] == pytest.approx(-math.log(q.min()), rel=1e-9)  # a failed seed's KL


def test_weighted_batches_are_per_seed_and_a_pure_function_of_the_step():
    """Seed k in a cell equals seed k alone; the graph-capturable (tensor) step equals the int one;
    a fresh instance (a resumed run) draws the same batch: nothing but (seed, step) decides it."""
    b = _registered("zipf5-streams")
    cell = b.batch(rng.SeedStreams([0, 1, 2]), 17, 1, 256)
    assert torch.equal(cell[1], b.batch(rng.SeedStreams([1]), 17, 1, 256)[0])
    assert torch.equal(cell, b.batch(rng.SeedStreams([0, 1, 2]), torch.tensor(17, dtype=torch.int64), 1, 256))
    fresh = GaussianMixture(FIVE, 0.05, ZIPF).build_benchmark("again")
    assert torch.equal(cell, fresh.batch(rng.SeedStreams([0, 1, 2]), 17, 1, 256))
    assert not torch.equal(cell, b.batch(rng.SeedStreams([0, 1, 2]), 18, 1, 256))


@pytest.mark.parametrize("kwargs, message", [
    ({"centers": [[0, 0], [1, 1, 1]]}, "2-D"),
    ({"centers": [[0, 0], [0, 0]]}, "coincide"),
    ({"centers": []}, "non-empty"),
    ({"centers": [[0, float("nan")]]}, "finite"),
    ({"std": 0}, "'std' must be positive"),
    ({"std": "0.1"}, "'std' must be a number"),
    ({"weights": [1, 2]}, "2 weights for 5 centres"),
    ({"weights": [1, 0, 1, 1, 1]}, "every weight must be positive"),
    ({"weights": [1, -1, 1, 1, 1]}, "every weight must be positive"),
    ({"weights": "1,2,3,4,5"}, "'weights' must be a list"),
])
def test_an_invalid_mixture_is_refused_naming_the_key(kwargs, message):
    args = {"centers": FIVE, "std": 0.05, "weights": ZIPF, **kwargs}
    with pytest.raises(SpecError, match=message):
        GaussianMixture(**args)


def test_a_mixture_cannot_take_an_existing_name_but_may_be_declared_again():
    register_benchmark("zipf5-again", GaussianMixture(FIVE, 0.05, ZIPF))
    register_benchmark("zipf5-again", GaussianMixture(FIVE, 0.05, ZIPF))  # the same: a spec read twice
    with pytest.raises(SpecError, match="other centres, std or weights"):
        register_benchmark("zipf5-again", GaussianMixture(FIVE, 0.06, ZIPF))
    with pytest.raises(SpecError, match="'ring8' is already registered"):
        register_benchmark("ring8", GaussianMixture(FIVE, 0.05))
    with pytest.raises(SpecError, match="plain folder"):
        register_benchmark("../evil", GaussianMixture(FIVE, 0.05))


def test_figures_show_the_weights(tmp_path, monkeypatch):
    import ganeval.plots as plots

    drawn = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, dpi=110: drawn.setdefault(path.name, fig))
    b = _registered("zipf5-figures")
    x = b.sample(500, generator=torch.Generator().manual_seed(0))
    b.save_samples_figure(tmp_path / "s.png", x, "t")
    labels = sorted(t.get_text() for t in drawn["s.png"].axes[0].texts)
    assert labels == sorted(f"{w / sum(ZIPF):.2g}" for w in ZIPF)  # each centre labelled with its weight
    get_benchmark("ring8").save_samples_figure(tmp_path / "r.png", get_benchmark("ring8").sample(100), "t")
    assert len(drawn["r.png"].axes[0].texts) == 0  # equal weights: nothing to tell apart
    counts = b.evaluate_with_counts(x)[1].tolist()
    plots.mode_counts_figure(tmp_path / "m.png", [("bce", counts)], "t", weights=b.figure_weights())
    dashes = [c for c in drawn["m.png"].axes[0].collections if "expected" in str(c.get_label())]
    expected = [seg[0][1] for seg in dashes[0].get_segments()]
    assert expected == pytest.approx([sum(counts) * w / sum(ZIPF) for w in ZIPF])
