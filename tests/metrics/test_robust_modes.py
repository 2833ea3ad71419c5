"""modes_robust: known answers on synthetic counts, and real triples from a known number of modes."""

import torch

from ganeval.metrics.robust_modes import confusion_matrix, expected_misreads, robust_modes


def triple(a, b, c):
    return 100 * a + 10 * b + c


def test_confusion_rows_are_distributions_with_a_pseudo_count_per_error():
    true = torch.tensor([0] * 98 + [1] * 100)
    pred = torch.tensor([0] * 97 + [7] + [1] * 100)
    c = confusion_matrix(true, pred)
    assert torch.allclose(c.sum(dim=1), torch.ones(10, dtype=torch.float64))
    assert c[0, 7] == 2 / 107 and c[0, 3] == 1 / 107 and c[1, 1] == 100 / 109


def test_misreads_land_on_the_neighbours_of_a_heavy_mode_only():
    c = torch.full((10, 10), 0.001, dtype=torch.float64).fill_diagonal_(0.991)
    counts = torch.zeros(1000)
    counts[triple(1, 2, 3)] = 10_000
    lam = expected_misreads(counts, c)
    assert lam[triple(1, 2, 3)] == 0
    assert abs(lam[triple(7, 2, 3)] - 10_000 * 0.001 * 0.991 ** 2) < 1e-9  # one digit misread
    assert lam[triple(7, 8, 9)] < lam[triple(7, 2, 3)] / 100  # three digits misread: rare


def test_a_few_samples_beside_a_heavy_mode_are_misreads_but_not_far_from_it():
    c = torch.full((10, 10), 0.001, dtype=torch.float64).fill_diagonal_(0.991)
    counts = torch.zeros(1000)
    counts[triple(1, 2, 3)] = 10_000
    counts[triple(7, 2, 3)] = 12  # expected ~9.8 misreads there: not evidence of a mode
    counts[triple(5, 5, 5)] = 2  # nothing nearby could put two samples here
    assert int((counts > 0).sum()) == 3
    assert robust_modes(counts, c) == 2
    counts[triple(7, 2, 3)] = 200  # far more than misreads explain
    assert robust_modes(counts, c) == 3


def test_a_perfect_classifier_counts_like_the_published_rule():
    counts = torch.zeros(1000)
    counts[torch.randperm(1000, generator=torch.Generator().manual_seed(0))[:37]] = 1
    assert robust_modes(counts, torch.eye(10, dtype=torch.float64)) == 37


def _real_triples(mnist, n_modes, n, seed):
    """uint8 [n, 3, 28, 28]: real test digits whose label triples take exactly n_modes values."""
    g = torch.Generator().manual_seed(seed)
    modes = torch.randperm(1000, generator=g)[:n_modes]
    truth = modes[torch.randint(n_modes, (n,), generator=g)]
    labels = mnist.test_labels.long()
    out = torch.empty(n, 3, 28, 28, dtype=torch.uint8)
    for channel, digit in enumerate((truth // 100, truth // 10 % 10, truth % 10)):
        for k in range(10):
            where = (digit == k).nonzero().flatten()
            candidates = (labels == k).nonzero().flatten()
            out[where, channel] = mnist.test_images[candidates[torch.randint(len(candidates), (len(where),), generator=g)]]
    return out


def test_real_triples_from_a_known_number_of_modes(mnist):
    """The sceptic's case: 26,000 real triples from exactly 10 or 500 modes. The published rule counts
    every mode a misread lands in (10 read as ~70, 500 as ~680); modes_robust reads the truth."""
    from ganeval.benchmarks.stacked_mnist import StackedMNIST

    bench = StackedMNIST()
    for n_modes, published_above in ((10, 40), (500, 600)):
        m = bench.evaluate(_real_triples(mnist, n_modes, 26000, seed=n_modes))
        assert m["modes_covered"] > published_above
        assert n_modes <= m["modes_robust"] <= n_modes + 2, (n_modes, m)
