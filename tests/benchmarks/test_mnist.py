"""Plain MNIST (one digit, 10 modes) against its known answers, and trained end to end from the CLI."""

import math

import pandas as pd
import pytest
import torch

from ganeval import get_benchmark
from ganeval.cli import main
from ganeval.errors import SampleError


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("mnist")


def test_real_test_digits_cover_the_ten_modes_evenly(bench, mnist, shipped):
    real = bench.sample(10_000, generator=torch.Generator().manual_seed(0), split="test")
    assert real.shape == (10_000, 1, 28, 28)
    m = bench.evaluate(real)
    assert m["n_modes"] == 10 and m["modes_covered"] == 10 and m["modes_robust"] == 10
    # the test set's own class frequencies (8.9-11.4 %) against uniform: KL ~ 0.001
    labels = bench.data.test_labels
    freq = torch.bincount(labels.long(), minlength=10).double() / len(labels)
    assert m["kl"] == pytest.approx(float((freq * (freq * 10).log()).sum()), abs=0.003)
    assert m["mean_confidence"] > 0.98


def test_one_repeated_digit_covers_one_mode(bench, mnist, shipped):
    one = bench.sample(1, generator=torch.Generator().manual_seed(3), split="test").repeat(500, 1, 1, 1)
    m = bench.evaluate(one)
    assert m["modes_covered"] == m["modes_robust"] == 1
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
