"""The seed-batched DCGAN: each seed's forward pass and its training equal that seed alone."""

import pytest
import torch

from ganeval import rng
from ganeval.benchmarks.base import BENCHMARKS, Benchmark, register_benchmark
from ganeval.models import build_models
from ganeval.spec import BenchSpec
from ganeval.train.trainer import CellTrainer


class RandomImages(Benchmark):
    """Random 3x28x28 images in [-1, 1]: enough to exercise the convolutional training path."""

    name = "test-random-images"
    description = "uniform noise images (test only)"
    n_modes = 1
    data_shape = (3, 28, 28)

    def __init__(self):
        self.train_defaults = {"model": "dcgan", "z_dim": 16, "z_dist": "uniform", "base_filters": 8,
                               "g_batchnorm": True, "d_batchnorm": True,
                               "batch_size": 8, "lr_g": 2e-4, "lr_d": 2e-4}

    def sample(self, n, generator=None):
        return torch.rand(n, *self.data_shape, generator=generator) * 2 - 1

    def batch(self, streams, step, substep, batch_size):
        return streams.uniform(rng.DATA, step, substep, (batch_size, *self.data_shape)) * 2 - 1

    def evaluate_with_counts(self, samples, **_):
        return {"n_samples": float(len(samples))}, torch.tensor([len(samples)])

    def save_samples_figure(self, path, samples, title, run=None):
        pass

    def save_comparison_figure(self, path, panels, title, run=None):
        pass


if RandomImages.name not in BENCHMARKS:
    register_benchmark(RandomImages.name, RandomImages)


def resolve(loss, **over):
    spec = BenchSpec(benchmarks=[RandomImages.name], losses=[loss])
    spec.run.update({"trace_every": 1, "ckpt_every": 100, **over})
    return spec.resolve(RandomImages.name, loss)


def test_dcgan_shapes_and_seed_independence():
    run = resolve("bce")
    G3, D3 = build_models(run, [5, 6, 7], (3, 28, 28))
    G1, D1 = build_models(run, [6], (3, 28, 28))
    z = torch.rand(3, 4, 16) * 2 - 1
    x = G3(z)
    assert x.shape == (3, 4, 3, 28, 28) and float(x.detach().abs().max()) <= 1
    assert torch.allclose(x[1], G1(z[1:2])[0], atol=1e-5)
    logits = D3(x)
    assert logits.shape == (3, 4)
    assert torch.allclose(logits[1], D1(x[1:2])[0], atol=1e-5)


def test_batched_dcgan_training_matches_each_seed_alone(tmp_path, same_as_alone):
    for loss in ("bce", "wgan-gp"):
        run = resolve(loss, steps=6)
        batch = CellTrainer(run, [0, 1, 2], [tmp_path / loss / "b" / str(k) for k in range(3)], torch.device("cpu"))
        alone = CellTrainer(run, [2], [tmp_path / loss / "a"], torch.device("cpu"))
        batch.train()
        alone.train()
        same_as_alone(batch, 2, alone, loss)


def test_critic_of_wgan_gp_has_no_batchnorm():
    run = resolve("wgan-gp")
    assert run.d_batchnorm is False
    _, D = build_models(run, [0], (3, 28, 28))
    assert not any(getattr(m, "uses_batch_statistics", False) for m in D.modules())


@pytest.mark.parametrize("variant", ["sn", "r1", "clip-grad", "bn", "no-bn", "ttur", "ema", "pac2"])
def test_every_variant_trains_the_batched_dcgan_like_each_seed_alone(tmp_path, variant, same_as_alone):
    """Over the first steps, as the issue asks. Later, agreement stops being a property of the code:
    Adam divides a gradient by its own magnitude, so an element whose gradient is ~1e-8 (a ReLU unit
    barely alive; summation order differs between grouped and single convolutions) moves by a
    sizeable fraction of the learning rate depending on its last bits (measured: no-bn, step 4,
    5 % of G's first-layer weights differ by up to 7e-5 while D still agrees to 4e-9)."""
    spec = BenchSpec(benchmarks=[RandomImages.name], losses=["hinge"], variants=[variant])
    spec.run.update({"trace_every": 1, "ckpt_every": 100, "steps": 2, "base_filters": 8, "batch_size": 16})
    run = spec.validate().resolve(RandomImages.name, "hinge", variant)
    batch = CellTrainer(run, [0, 1], [tmp_path / "b" / str(k) for k in range(2)], torch.device("cpu"))
    alone = CellTrainer(run, [1], [tmp_path / "a"], torch.device("cpu"))
    batch.train()
    alone.train()
    same_as_alone(batch, 1, alone, variant)


def test_pacgan_dcgan5x5_has_the_published_layers_and_trains_like_each_seed_alone(tmp_path, same_as_alone):
    """PacGAN's stacked-MNIST DCGAN (carpedm20): G 2x2x8b -> 4 -> 7 -> 14 -> 28, D 14 -> 7 -> 4 -> 2, with
    two G updates per step (g_steps) and packing, seed-batched like every other family."""
    # 8 packs per batch: with 4, BN over 4x2x2 values leaves gradients near 1e-8, where Adam turns
    # last-bit differences into visible ones (see the variant test above)
    run = resolve("bce", model="dcgan5x5", base_filters=4, g_steps=2, pack=2, steps=3, batch_size=16)
    G, D = build_models(run, [0], (3, 28, 28))
    sizes = []
    G.ups[0].register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
    for up in G.ups[1:]:
        up.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
    x = G(torch.rand(1, 4, run.z_dim) * 2 - 1)
    assert sizes == [4, 7, 14, 28] and x.shape == (1, 4, 3, 28, 28)
    assert D.inner.convs[0].weight.shape[1:] == (4, 6, 5, 5)  # two packed RGB images
    assert D(x).shape == (1, 2)
    batch = CellTrainer(run, [0, 1], [tmp_path / "b" / str(k) for k in range(2)], torch.device("cpu"))
    alone = CellTrainer(run, [1], [tmp_path / "a"], torch.device("cpu"))
    batch.train()
    alone.train()
    same_as_alone(batch, 1, alone, "dcgan5x5")
