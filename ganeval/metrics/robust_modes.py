"""Mode counts that a classifier's own errors cannot inflate (stacked MNIST).

The published rule (VEEGAN, PacGAN) counts a mode as covered when at least one sample is read as it.
The classifier misreads about 0.5 % of digits, so about 1.5 % of triples, and every misread lands in
a neighbouring mode: 26,000 real triples drawn from exactly 500 modes read as ~650 modes covered.
``modes_robust`` counts a mode only when it holds more samples than misreads of the other modes'
samples plausibly put there: with ``lam_j`` the expected number of misreads landing in mode j (from
the classifier's confusion matrix, measured on held-out real digits, and the observed counts), mode j
counts if P(Poisson(lam_j) >= count_j) < alpha / K (Bonferroni over the K modes, alpha = 0.05).

It is robust to the error measured on *real* digits. Generated images that are not digits yet are
read with no meaning at all (noise can be read with 0.99 confidence), so both counts mean something
only once the samples look like digits (precision in feature space, the samples figure).
"""

from __future__ import annotations

import math

import torch

ALPHA = 0.05


def confusion_matrix(true: torch.Tensor, predicted: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """``[classes, classes]`` float64: row t is the distribution of predictions for true class t, with
    one pseudo-count added to every error: an error never seen among ~1,000 test digits may still
    occur at a rate near 1/1,000, which 2,600 samples of one mode would turn into a few misreads.
    (Validated in benchmarks/mode_count_validation.py: without it, 10 true modes read as 39-56.)"""
    counts = torch.bincount(true.long() * classes + predicted.long(), minlength=classes * classes)
    counts = counts.view(classes, classes).double() + (1.0 - torch.eye(classes, dtype=torch.float64))
    return counts / counts.sum(dim=1, keepdim=True)


def expected_misreads(counts: torch.Tensor, confusion: torch.Tensor) -> torch.Tensor:
    """``[C**k]``: the expected number of samples read as each mode that truly belong to another,
    taking ``counts`` (per mode of k digits, digit-major: ``100 a + 10 b + c`` for a triple) as the
    true counts and reading each digit independently through ``confusion``."""
    c = confusion.shape[0]
    k = round(math.log(counts.numel(), c))
    if c ** k != counts.numel():
        raise ValueError(f"{counts.numel()} modes are not the digit strings of a {c}-class classifier")
    read = counts.double().view((c,) * k)
    correct = read.clone()
    for axis in range(k):  # read digit `axis` through the confusion matrix
        read = torch.tensordot(read, confusion, dims=([axis], [0])).movedim(-1, axis)
        shape = [1] * k
        shape[axis] = c
        correct = correct * confusion.diagonal().view(shape)
    return (read - correct).clamp_min(0).flatten()


def robust_modes(counts: torch.Tensor, confusion: torch.Tensor, alpha: float = ALPHA) -> int:
    """Modes whose count misreads alone would exceed with probability below ``alpha / K``."""
    from scipy.stats import poisson

    lam = expected_misreads(counts, confusion).numpy()
    k = counts.numel()
    observed = counts.double().numpy()
    # P(X >= n) = sf(n - 1); a mode with no misread mass (lam = 0) counts from one sample on.
    p = poisson.sf(observed - 1, lam)
    return int(((observed > 0) & (p < alpha / k)).sum())
