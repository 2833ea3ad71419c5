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
    """Bit for bit on CPU, whichever kernels the CPU gets: oneDNN ran a grouped convolution with
    3-channel groups as im2col + GEMM and the same convolution of one seed as a direct kernel, and
    with its kernels limited to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, as on a CPU without AVX-512) G's
    bn0.bias of seed 2 differed by 3e-3 relative after 6 steps. Each seed's convolution is now the
    call it makes alone (layers._SeedGroupedConv._per_seed)."""
    for loss in ("bce", "wgan-gp"):
        run = resolve(loss, steps=6)
        batch = CellTrainer(run, [0, 1, 2], [tmp_path / loss / "b" / str(k) for k in range(3)], torch.device("cpu"))
        alone = CellTrainer(run, [2], [tmp_path / loss / "a"], torch.device("cpu"))
        batch.train()
        alone.train()
        same_as_alone(batch, 2, alone, loss, exact=True)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("channels", [(3, 8), (8, 16), (1, 8), (16, 32), (64, 128)])
def test_a_seed_batched_convolution_is_each_seed_alone_bit_for_bit(transposed, channels):
    """Forward, input gradient and weight gradient of member k against the same layer of one seed.
    As one grouped call, the first three shapes differed from one seed's call in at least one of the
    three (measured here with the machine's kernels: an image's 1 or 3 channels in all three, 8 -> 16
    in the input gradient); they now run one call per seed. Whole blocks of 16 channels stay one
    grouped call, which runs the kernel one seed's call does."""
    from ganeval.models.layers import SeedConv2d, SeedConvTranspose2d

    cin, cout = channels
    cls = SeedConvTranspose2d if transposed else SeedConv2d
    gens = [torch.Generator().manual_seed(s) for s in (0, 1, 2)]
    three = cls(gens, cin, cout, 4, 2, 1)
    one = cls([torch.Generator().manual_seed(2)], cin, cout, 4, 2, 1)
    assert torch.equal(three.weight[2], one.weight[0])
    x = torch.randn(8, 3 * cin, 14, 14, generator=torch.Generator().manual_seed(5), requires_grad=True)
    x1 = x.detach()[:, 2 * cin:].clone().requires_grad_()
    y, y1 = three(x), one(x1)
    up = torch.randn(y.shape, generator=torch.Generator().manual_seed(6))
    y.backward(up)
    y1.backward(up[:, 2 * y1.shape[1]:])
    assert torch.equal(y[:, 2 * y1.shape[1]:], y1)
    assert torch.equal(x.grad[:, 2 * cin:], x1.grad)
    assert torch.equal(three.weight.grad[2], one.weight.grad[0]) and torch.equal(three.bias.grad[2], one.bias.grad[0])


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
