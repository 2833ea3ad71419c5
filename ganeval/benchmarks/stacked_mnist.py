"""Stacked MNIST: three independent MNIST digits, one per channel, 3×28×28 in [-1, 1]; 1,000 modes.

Protocol (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN): a DCGAN with 64 base filters,
z ~ U(-1, 1) of size 100, Adam lr 2e-4, beta1 0.5, batch 64, trained on 128,000 stacked images.
Evaluation: 26,000 generated samples, each channel labelled by the shipped MNIST classifier; a
sample's mode is its digit triple; report modes covered (of 1,000) and KL(p_gen || uniform), the
published rule, and ``modes_robust``, the number of modes holding samples estimated by deconvolving the
classifier's misreads (metrics.robust_modes), with its interval and the deconvolved KL.
The classifier's confusion is measured on the even-indexed MNIST test digits (``CONFUSION_DIGITS``);
real test triples meant to be evaluated (``split="heldout"``) use only the odd-indexed ones.
With 26,000 samples a perfect sampler still shows KL ≈ 0.02 (plug-in bias ≈ 999 / (2 · 26,000)).

The 128,000 training images are a fixed pool of digit triples drawn once (from ``POOL_SEED``) from
the 60,000 training digits; every run samples its batches from that pool with its own stream.
"""

from __future__ import annotations

from typing import Any

import torch

from ganeval import rng
from ganeval.benchmarks.base import Benchmark, register_benchmark
from ganeval.errors import SampleError
from ganeval.metrics.catalog import (
    KL, KL_DECONVOLVED, MEAN_CONFIDENCE, MODES_COVERED, MODES_ROBUST, MODES_ROBUST_HIGH, MODES_ROBUST_LOW, N_SAMPLES)
from ganeval.metrics.modes import coverage_metrics, mode_counts
from ganeval.metrics import robust_modes as rm

POOL_SEED = 2017
N_MODES = 1000
#: the digits the classifier's confusion is measured on (recorded with every result)
CONFUSION_DIGITS = "even-indexed MNIST test digits (5,000: indices 0, 2, ..., 9998)"


def held_out_indices(n: int = 10000) -> tuple[torch.Tensor, torch.Tensor]:
    """(even, odd) test-digit indices: the confusion is measured on the even ones; real triples
    that are evaluated as samples (``split="heldout"``) are built from the odd ones."""
    index = torch.arange(n)
    return index[index % 2 == 0], index[index % 2 == 1]

# Full published protocol: 50 epochs of 128,000 images at batch 64 = 100,000 generator steps.
# The default here is a CPU budget; `ganeval bench --protocol pacgan-stacked-mnist` runs the full one.
STACKED_TRAIN_DEFAULTS: dict[str, Any] = {
    "model": "dcgan",
    "z_dim": 100,
    "z_dist": "uniform",
    "base_filters": 64,
    "g_batchnorm": True,  # DCGAN: batch norm in G and D
    "d_batchnorm": True,
    "batch_size": 64,
    "steps": 200,
    "lr_g": 2e-4,
    "lr_d": 2e-4,
    "ckpt_every": 100,
    "trace_every": 5,
    "eval_samples": 26000,
    "pool_size": 128000,
    "fidelity": ["fid", "is", "kid", "prc"],
    "fidelity_samples": 10000,
}


# MNIST: the small DCGAN of stacked MNIST with one channel (Radford et al. 2016 settings: Adam 2e-4,
# beta1 0.5, batch 64). 1,000 steps measured to give recognisable digits (README).
MNIST_TRAIN_DEFAULTS: dict[str, Any] = {
    **STACKED_TRAIN_DEFAULTS,
    "steps": 1000,
    "ckpt_every": 500,
    "trace_every": 10,
    "eval_samples": 10000,
}


def to_unit(samples: Any, channels: int = 3) -> torch.Tensor:
    """Validate (stacked-)MNIST samples of ``channels`` digits and map them to [0, 1]: floats in
    [-1, 1] (generator output) or uint8 in [0, 255] (saved images). Non-finite values (a diverged
    generator) become 0.5."""
    if not isinstance(samples, torch.Tensor):
        raise SampleError(f"samples must be a tensor [N, {channels}, 28, 28], got {type(samples).__name__}")
    if samples.dim() != 4 or tuple(samples.shape[1:]) != (channels, 28, 28):
        raise SampleError(f"samples must have shape [N, {channels}, 28, 28], got {list(samples.shape)}")
    if len(samples) == 0:
        raise SampleError("samples must not be empty")
    if samples.dtype == torch.uint8:
        return samples.float().div(255.0)
    if not samples.is_floating_point():
        raise SampleError(f"samples must be floats in [-1, 1] or uint8, got {samples.dtype}")
    finite = samples[torch.isfinite(samples)]
    if finite.numel() and (float(finite.min()) < -1.001 or float(finite.max()) > 1.001):
        raise SampleError(f"samples must lie in [-1, 1] (got [{float(finite.min()):.3g}, {float(finite.max()):.3g}]); "
                          "pass generator outputs, or uint8 images")
    return samples.float().nan_to_num(0.0).add(1.0).div(2.0).clamp(0.0, 1.0)


def quantize(samples: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255], rounding as an image writer would."""
    return samples.float().nan_to_num(0.0).clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


class StackedMNIST(Benchmark):
    name = "stacked-mnist"
    description = "three MNIST digits stacked as RGB channels, 3x28x28 in [-1, 1]"
    n_modes = N_MODES
    data_shape = (3, 28, 28)
    images = True
    figure_samples = 64

    def __init__(self, root=None):
        self.root = root
        self.train_defaults = dict(STACKED_TRAIN_DEFAULTS)
        self.loss_defaults = {}
        self._data = None
        self._device_pool: dict[tuple[torch.device, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self._confusion: dict[int, tuple[Any, rm.Confusion]] = {}

    @property
    def data(self):
        if self._data is None:
            from ganeval.benchmarks.mnist_data import load_mnist

            self._data = load_mnist(self.root)
        return self._data

    def _images(self, split: str) -> torch.Tensor:
        """``train``, ``test`` (all 10,000) or ``heldout`` (the odd-indexed test digits, which the
        confusion of ``modes_robust`` never uses)."""
        if split == "heldout":
            return self.data.test_images[held_out_indices(len(self.data.test_images))[1]]
        return self.data.train_images if split == "train" else self.data.test_images

    @staticmethod
    def stack(digits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """``index [..., 3]`` into ``digits [N, 28, 28] uint8`` -> ``[..., 3, 28, 28]`` in [-1, 1]."""
        return digits[index].float().mul_(2.0 / 255.0).sub_(1.0)

    def sample(self, n: int, generator: torch.Generator | None = None, split: str = "train") -> torch.Tensor:
        digits = self._images(split)
        return self.stack(digits, torch.randint(len(digits), (n, self.data_shape[0]), generator=generator))

    def real_uint8(self, n: int, split: str = "test", seed: int = 0) -> torch.Tensor:
        """``n`` real (stacked) images as uint8 ``[n, C, 28, 28]`` (the reference set of FID/KID)."""
        digits = self._images(split)
        gen = torch.Generator().manual_seed(seed)
        return digits[torch.randint(len(digits), (n, self.data_shape[0]), generator=gen)]

    def pool(self, size: int) -> torch.Tensor:
        """The fixed pool of ``size`` training triples (indices ``[size, 3]``) every run trains on."""
        gen = torch.Generator().manual_seed(POOL_SEED)
        return torch.randint(len(self.data.train_images), (size, 3), generator=gen)

    def batch_options(self, run) -> dict[str, Any]:
        return {"pool_size": run.pool_size}

    def compact(self, samples: torch.Tensor) -> torch.Tensor:
        return quantize(samples)

    def batch(self, streams: rng.SeedStreams, step, substep: int, batch_size: int, pool_size: int = 128000) -> torch.Tensor:
        device = streams.device
        key = (device, pool_size)
        if key not in self._device_pool:  # cached: no host-to-device copy inside a CUDA-graph capture
            self._device_pool[key] = (self.data.train_images.to(device), self.pool(pool_size).to(device))
        digits, pool = self._device_pool[key]
        picks = streams.randint(rng.DATA, step, substep, pool_size, (batch_size,))
        return self.stack(digits, pool[picks])

    def eval_options(self, run) -> dict[str, Any]:
        # recorded in every metrics.json: which digits the confusion behind modes_robust comes from
        return {"confusion_digits": CONFUSION_DIGITS, "mode_bootstrap": rm.BOOTSTRAP}

    def evaluate(self, samples: torch.Tensor, classifier=None, batch_size: int = 4096, **options: Any) -> dict[str, float]:
        """Modes covered (of 1,000), KL to uniform, ``modes_robust`` with its interval, the
        deconvolved KL and mean classifier confidence of ``samples [N, 3, 28, 28]`` (floats in
        [-1, 1] or uint8)."""
        return self.evaluate_with_counts(samples, classifier, batch_size, **options)[0]

    def evaluate_with_counts(self, samples, classifier=None, batch_size: int = 4096,
                             confusion_digits: str = CONFUSION_DIGITS, mode_bootstrap: int = rm.BOOTSTRAP):
        from ganeval.metrics.classifier import classify, shipped_classifier

        if confusion_digits != CONFUSION_DIGITS:
            raise SampleError(f"modes_robust measures its confusion on the {CONFUSION_DIGITS}, not {confusion_digits!r}")
        c = self.data_shape[0]
        unit = to_unit(samples, c)
        model = (classifier or shipped_classifier()).frozen
        out = classify(model, unit.reshape(-1, 1, 28, 28), batch_size)  # [N*C, 1, 28, 28], channel-major
        digits = out["labels"].view(-1, c)
        mode = sum(digits[:, k] * 10 ** (c - 1 - k) for k in range(c))  # 100 a + 10 b + c for a triple
        counts = mode_counts(mode, self.n_modes)
        metrics = coverage_metrics(counts)
        est = rm.estimate_modes(counts, self.confusion(model), bootstrap=int(mode_bootstrap))
        metrics[MODES_ROBUST] = round(est.count, 1)
        metrics[MODES_ROBUST_LOW] = round(est.interval[0], 1)
        metrics[MODES_ROBUST_HIGH] = round(est.interval[1], 1)
        metrics[KL_DECONVOLVED] = est.kl
        metrics[MEAN_CONFIDENCE] = float(out["confidence"].mean())
        metrics[N_SAMPLES] = float(len(samples))
        keys = (MODES_COVERED, MODES_ROBUST, MODES_ROBUST_LOW, MODES_ROBUST_HIGH, "n_modes", KL, KL_DECONVOLVED,
                MEAN_CONFIDENCE, N_SAMPLES)
        return {k: metrics[k] for k in keys}, counts

    def confusion(self, model) -> rm.Confusion:
        """The classifier's confusion on the even-indexed MNIST test digits (cached per classifier)."""
        from ganeval.metrics.classifier import classify

        if id(model) not in self._confusion:
            even = held_out_indices(len(self.data.test_images))[0]
            images = self.data.test_images[even].float().div(255.0).unsqueeze(1)
            predicted = classify(model, images)["labels"]
            conf = rm.Confusion.measured(self.data.test_labels[even], predicted, CONFUSION_DIGITS)
            self._confusion[id(model)] = (model, conf)
        return self._confusion[id(model)][1]

    def save_samples_figure(self, path, samples, title, run=None) -> None:
        from ganeval.plots import image_grid_figure

        image_grid_figure(path, [("", to_unit(samples[: self.figure_samples], self.data_shape[0]) * 2 - 1)], title)

    def save_comparison_figure(self, path, panels, title, run=None) -> None:
        from ganeval.plots import image_grid_figure

        c = self.data_shape[0]
        image_grid_figure(path, [(label, to_unit(s[: self.figure_samples], c) * 2 - 1) for label, s in panels], title)


class MNIST(StackedMNIST):
    """Plain MNIST, one digit per image, 10 modes: the classic first GAN benchmark (Goodfellow et al.
    2014), small enough to train to recognisable digits on a CPU. Batches are drawn from the 60,000
    training digits; evaluation is the same as stacked MNIST's with one channel."""

    name = "mnist"
    description = "MNIST digits, 1x28x28 in [-1, 1]"
    n_modes = 10
    data_shape = (1, 28, 28)

    def __init__(self, root=None):
        super().__init__(root)
        self.train_defaults = dict(MNIST_TRAIN_DEFAULTS)

    def pool(self, size: int) -> torch.Tensor:
        """Every training digit, once (``size`` is ignored: there is nothing to stack)."""
        return torch.arange(len(self.data.train_images)).unsqueeze(1)

    def batch_options(self, run) -> dict[str, Any]:
        return {"pool_size": len(self.data.train_images)}


register_benchmark("stacked-mnist", StackedMNIST)
register_benchmark("mnist", MNIST)
