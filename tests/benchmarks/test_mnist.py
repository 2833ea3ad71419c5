"""Plain MNIST (one digit, 10 modes) against its known answers, and trained end to end from the CLI."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ganeval import get_benchmark
from ganeval.cli import main
from ganeval.errors import SampleError


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("mnist")


def _kl(p: np.ndarray) -> float:
    p = p / p.sum()
    p = p[p > 0]
    return float((p * np.log(p * 10)).sum())


def test_real_held_out_digits_read_as_the_classifiers_histogram_within_the_measured_confusion(bench, mnist, shipped):
    """Every odd-indexed test digit once (the confusion is measured on the even ones). The KL is the
    classifier's own histogram's, computed here independently; that histogram differs from the true
    labels' by misreads, whose expected effect and spread follow from the measured confusion."""
    from ganeval.benchmarks.stacked_mnist import held_out_indices
    from ganeval.metrics.classifier import classify

    odd = held_out_indices()[1]
    images = bench.data.test_images[odd].unsqueeze(1)
    m = bench.evaluate(images)
    assert m["n_modes"] == 10 and m["modes_covered"] == 10
    assert m["modes_robust"] == pytest.approx(10, abs=0.05) and m["modes_robust_low"] <= 10 <= m["modes_robust_high"] + 0.05
    assert m["mean_confidence"] > 0.98
    read = classify(shipped.frozen, images.float().div(255.0))["labels"].numpy()
    assert m["kl"] == pytest.approx(_kl(np.bincount(read, minlength=10).astype(float)), rel=1e-9, abs=1e-12)
    # expected reading of the true labels through the measured (even-half) confusion, and its spread:
    # each class's read count moves by its misreads (Poisson), KL moves by log(10 q_a) per unit of q_a
    labels = bench.data.test_labels[odd].long().numpy()
    n = len(labels)
    p = np.bincount(labels, minlength=10) / n
    rates = bench.confusion(shipped.frozen).rates()
    q = p @ rates
    misreads = n * (p[:, None] * rates * (1 - np.eye(10)))
    var_q = (misreads.sum(0) + misreads.sum(1)) / n**2
    sd = float(np.sqrt((var_q * np.log(10 * q) ** 2).sum()))
    assert 4 * sd < 0.5 * _kl(p)  # the bound is tighter than the value: KL = 0 would fail
    assert m["kl"] == pytest.approx(_kl(q), abs=4 * sd)
    assert m["kl_deconvolved"] == pytest.approx(_kl(p), abs=4 * sd)


def test_one_repeated_digit_covers_one_mode(bench, mnist, shipped):
    one = bench.sample(1, generator=torch.Generator().manual_seed(3), split="test").repeat(500, 1, 1, 1)
    m = bench.evaluate(one)
    assert m["modes_covered"] == 1 and m["modes_robust"] == pytest.approx(1, abs=0.05)
    assert m["kl"] == pytest.approx(math.log(10))


def test_stacked_images_are_refused(bench):
    with pytest.raises(SampleError, match=r"\[N, 1, 28, 28\]"):
        bench.evaluate(torch.zeros(4, 3, 28, 28))


def test_mnist_trains_from_the_cli_with_both_model_families(tmp_path, mnist):
    for model in ("dcgan", "mlp"):
        out = tmp_path / model
        assert main(["bench", "--benchmarks", "mnist", "--losses", "bce", "--seeds", "2", "--steps", "4",
                     "--set", f"model={model}", "--set", "base_filters=8", "--set", "hidden=32",
                     "--set", "eval_samples=200", "--set", "fidelity=fid", "--set", "fidelity_samples=200",
                     "--set", "ckpt_every=2", "--out", str(out)]) == 0
        rows = pd.read_csv(out / "results.csv")
        assert list(rows["benchmark"]) == ["mnist", "mnist"] and rows["modes_covered"].between(1, 10).all()
