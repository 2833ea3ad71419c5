"""Stacked MNIST against its known answers (full data) and its input checks (no data needed)."""

import math

import pytest
import torch

from ganeval import get_benchmark
from ganeval.benchmarks.stacked_mnist import quantize, to_unit
from ganeval.errors import SampleError

N_EVAL = 26_000


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("stacked-mnist")


def test_real_samples_are_independent_digits_in_range(bench, mnist):
    x = bench.sample(500, generator=torch.Generator().manual_seed(1))
    assert x.shape == (500, 3, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    # channels are different digits, not copies
    assert not torch.equal(x[:, 0], x[:, 1])


@pytest.mark.slow
def test_real_stacked_samples_cover_about_every_mode(bench, mnist, shipped):
    real = bench.sample(N_EVAL, generator=torch.Generator().manual_seed(0), split="test")
    m = bench.evaluate(real)
    assert m["n_samples"] == N_EVAL and m["n_modes"] == 1000
    assert m["modes_covered"] >= 995
    # plug-in bias of the KL estimate ~ 999 / (2 * 26000) = 0.019, plus classifier errors
    assert 0.01 < m["kl"] < 0.04
    assert m["mean_confidence"] > 0.98


def test_one_repeated_image_covers_one_mode(bench, mnist, shipped):
    one = bench.sample(1, generator=torch.Generator().manual_seed(3), split="test").repeat(2000, 1, 1, 1)
    m = bench.evaluate(one)
    assert m["modes_covered"] == 1
    assert m["kl"] == pytest.approx(math.log(1000))


def test_uint8_images_give_the_same_answer(bench, mnist, shipped):
    x = bench.sample(300, generator=torch.Generator().manual_seed(2), split="test")
    a, b = bench.evaluate(quantize(x)), bench.evaluate(x)
    assert {k: v for k, v in a.items() if k != "mean_confidence"} == {k: v for k, v in b.items() if k != "mean_confidence"}
    assert a["mean_confidence"] == pytest.approx(b["mean_confidence"], rel=1e-6)


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(4, 1, 28, 28), "shape"),
    (torch.zeros(4, 3, 32, 32), "shape"),
    (torch.zeros(0, 3, 28, 28), "empty"),
    (torch.full((4, 3, 28, 28), 255.0), r"\[-1, 1\]"),
    (torch.zeros(4, 3, 28, 28, dtype=torch.int32), "floats"),
    ([[0.0]], "tensor"),
])
def test_bad_samples_are_a_clear_error(bench, bad, message):
    with pytest.raises(SampleError, match=message):
        to_unit(bad)


def test_quantize_and_to_unit_invert_each_other():
    x = torch.linspace(-1, 1, 3 * 28 * 28 * 2).view(2, 3, 28, 28)
    assert torch.allclose(to_unit(quantize(x)), (x + 1) / 2, atol=1 / 255)


def test_a_result_records_which_digits_the_confusion_comes_from_and_refuses_another_rule(bench):
    from ganeval.benchmarks.stacked_mnist import CONFUSION_DIGITS
    from ganeval.spec import RunSpec

    options = bench.eval_options(RunSpec(benchmark="stacked-mnist", loss="bce"))
    assert options["confusion_digits"] == CONFUSION_DIGITS and "even-indexed" in CONFUSION_DIGITS
    with pytest.raises(SampleError, match="even-indexed"):
        bench.evaluate(torch.zeros(4, 3, 28, 28), confusion_digits="all 10,000 test digits")
