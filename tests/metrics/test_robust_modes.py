"""modes_robust: known answers on synthetic counts, an independent Kronecker product, and real
held-out triples from a known number of modes."""

import math

import numpy as np
import pytest
import torch

from ganeval.metrics.robust_modes import (
    Confusion, _through, confusion_matrix, deconvolve, estimate_modes, expected_misreads, robust_modes)


def triple(a, b, c):
    return 100 * a + 10 * b + c


def noisy(rate=0.001):
    return torch.full((10, 10), rate, dtype=torch.float64).fill_diagonal_(1 - 9 * rate)


def test_confusion_rows_are_distributions_with_no_pseudo_count_unless_asked():
    true = torch.tensor([0] * 98 + [1] * 100)
    pred = torch.tensor([0] * 97 + [7] + [1] * 100)
    c = confusion_matrix(true, pred)
    assert torch.allclose(c.sum(dim=1), torch.ones(10, dtype=torch.float64))
    assert c[0, 7] == 1 / 98 and c[0, 3] == 0 and c[1, 1] == 1
    assert confusion_matrix(true, pred, pseudo_count=1.0)[0, 3] == 1 / 107


def test_measured_rates_keep_the_measured_error_rate_and_give_unseen_errors_a_small_rate():
    g = torch.Generator().manual_seed(0)
    true = torch.arange(10).repeat_interleave(500)
    pred = true.clone()
    wrong = torch.randperm(5000, generator=g)[:25]  # 0.5 % misread, as the shipped classifier
    pred[wrong] = (true[wrong] + 1 + torch.randint(9, (25,), generator=g)) % 10
    conf = Confusion.measured(true, pred, "test digits")
    rates = conf.rates()
    assert np.allclose(rates.sum(1), 1.0)
    off = ~np.eye(10, dtype=bool)
    # empirical Bayes shrinks cells, it does not inflate the total (the old pseudo-count made it ~1.4 %)
    assert abs((1 - np.diag(rates)).mean() - 0.005) < 0.0005
    seen, unseen = conf.counts[off] > 0, conf.counts[off] == 0
    assert rates[off][unseen].max() < rates[off][seen].min() and rates[off][unseen].min() > 0
    assert (conf.rates(0.9)[off] > rates[off]).all()  # the count's conservative rates


def test_the_kronecker_product_is_applied_axis_by_axis():
    """Independent computation: the 1000 x 1000 matrix kron(C, C, C)."""
    rng = np.random.default_rng(1)
    c = rng.random((10, 10)) + np.eye(10) * 20
    c /= c.sum(1, keepdims=True)
    p = rng.random((2, 1000))
    big = np.kron(np.kron(c, c), c)
    conf = np.stack([c, c])
    assert np.allclose(_through(p, conf, 3), p @ big)
    assert np.allclose(_through(p, conf, 3, back=True), p @ big.T)
    assert np.allclose(_through(p[:, :10], conf, 1), p[:, :10] @ c)
    lam = expected_misreads(torch.as_tensor(p[0]), torch.as_tensor(c)).numpy()
    assert np.allclose(lam, p[0] @ big - p[0] * np.diag(big))


def test_em_recovers_the_masses_from_their_exact_reading():
    """Known answer: counts equal to the expected reading of known masses deconvolve to those masses."""
    c = noisy(0.003).numpy()
    rng = np.random.default_rng(2)
    p = np.zeros(1000)
    p[rng.permutation(1000)[:50]] = rng.random(50)
    p /= p.sum()
    h = 1e6 * _through(p[None], c[None], 3)
    got = deconvolve(h, c[None], 3, iterations=3000)[0]
    assert np.abs(got - p).max() < 1e-4
    assert (got[p == 0] < 1e-5).all()


def test_a_perfect_classifier_counts_like_the_published_rule():
    counts = torch.zeros(1000)
    counts[torch.randperm(1000, generator=torch.Generator().manual_seed(0))[:37]] = 1
    est = estimate_modes(counts, torch.eye(10, dtype=torch.float64), bootstrap=0)
    assert est.count == pytest.approx(37, abs=1e-6)
    assert est.kl == pytest.approx(math.log(1000 / 37))


def test_misreads_beside_a_heavy_mode_are_not_modes_but_a_far_sample_is():
    c = noisy()
    counts = torch.zeros(1000)
    counts[triple(1, 2, 3)] = 10_000
    counts[triple(7, 2, 3)] = 12  # expected ~9.8 misreads there: not evidence of a mode
    counts[triple(5, 5, 5)] = 2  # nothing nearby could put two samples here
    assert robust_modes(counts, c) == pytest.approx(2, abs=0.05)
    counts[triple(7, 2, 3)] = 200  # far more than misreads explain
    assert robust_modes(counts, c) == pytest.approx(3, abs=0.05)


def test_light_modes_count_from_one_sample_where_misreads_cannot_explain_them():
    """The case the old Bonferroni rule failed: 1,000 light modes, most holding 1-3 samples."""
    rng = np.random.default_rng(3)
    c = noisy().numpy()
    truth = rng.integers(0, 1000, 2000)
    held = len(np.unique(truth))
    kron = np.kron(np.kron(c, c), c)
    reads = np.array([rng.choice(1000, p=kron[t]) for t in truth])
    counts = np.bincount(reads, minlength=1000)
    count = robust_modes(torch.as_tensor(counts), torch.as_tensor(c))
    assert abs(count - held) <= 0.02 * held, (count, held, int((counts > 0).sum()))


def test_the_interval_is_reproducible_and_holds_the_estimate():
    c = noisy().numpy()
    counts = np.zeros(1000)
    counts[:300] = 20
    a = estimate_modes(counts, c, bootstrap=6, seed=4)
    b = estimate_modes(counts, c, bootstrap=6, seed=4)
    assert a.interval == b.interval
    assert a.interval[0] <= a.count <= a.interval[1] and a.count == pytest.approx(300, abs=1)
    with pytest.raises(ValueError, match="no sample"):
        estimate_modes(np.zeros(1000), c)


def _held_out_triples(mnist, weights, n, seed):
    """uint8 [n, 3, 28, 28]: real odd-indexed test digits (never in the confusion) whose label
    triples follow ``weights``; with the number of modes they hold."""
    from ganeval.benchmarks.stacked_mnist import held_out_indices

    g = torch.Generator().manual_seed(seed)
    truth = torch.multinomial(torch.as_tensor(weights), n, replacement=True, generator=g)
    odd = held_out_indices()[1]
    labels = mnist.test_labels.long()[odd]
    out = torch.empty(n, 3, 28, 28, dtype=torch.uint8)
    for channel, digit in enumerate((truth // 100, truth // 10 % 10, truth % 10)):
        for k in range(10):
            where = (digit == k).nonzero().flatten()
            candidates = odd[(labels == k).nonzero().flatten()]
            out[where, channel] = mnist.test_images[candidates[torch.randint(len(candidates), (len(where),), generator=g)]]
    return out, len(truth.unique())


@pytest.mark.slow
def test_real_held_out_triples_from_known_modes(mnist, shipped):
    """The sceptic's cases: exactly 500 equal modes, where the published rule counts every
    misread; and heavy + light modes at 10,000 samples, where the old rule read about half."""
    from ganeval.benchmarks.stacked_mnist import StackedMNIST

    bench = StackedMNIST()
    g = torch.Generator().manual_seed(5)
    exact = torch.zeros(1000, dtype=torch.float64)
    exact[torch.randperm(1000, generator=g)[:500]] = 1
    mixed = torch.full((1000,), 0.3 / 1000, dtype=torch.float64)
    mixed[torch.randperm(1000, generator=g)[:200]] += 0.7 / 200
    for weights, n, published_above in ((exact, 26000, 600), (mixed, 10000, None)):
        samples, held = _held_out_triples(mnist, weights / weights.sum(), n, seed=n)
        m = bench.evaluate(samples, mode_bootstrap=0)
        if published_above:
            assert m["modes_covered"] > published_above
        assert abs(m["modes_robust"] - held) <= 0.02 * held, (held, m)
