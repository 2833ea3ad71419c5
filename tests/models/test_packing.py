"""PacGAN's packed discriminator and the maxout MLP D of VEEGAN/PacGAN's 2-D protocol."""

import pytest
import torch

from ganeval.errors import SpecError
from ganeval.feasibility import check_model
from ganeval.models import build_models
from ganeval.models.mlp import Maxout, MLPDiscriminator
from ganeval.models.packing import PackedDiscriminator
from ganeval.spec import BenchSpec


def gens(n):
    return [torch.Generator().manual_seed(7 + i) for i in range(n)]


def test_maxout_takes_the_largest_of_each_units_pieces():
    x = torch.tensor([[1.0, 5.0, -2.0, 0.0, 3.0, 4.0]])
    assert Maxout(3)(x).tolist() == [[5.0, 4.0]]


def test_maxout_discriminator_layer_widths():
    D = MLPDiscriminator(gens(2), (2,), hidden=200, depth=3, maxout=5)
    widths = [m.weight.shape[1:] for m in D.modules() if hasattr(m, "in_features")]
    assert [tuple(w) for w in widths] == [(2, 1000), (200, 1000), (200, 1000), (200, 1)]
    assert D(torch.randn(2, 7, 2)).shape == (2, 7)


def test_packed_d_sees_consecutive_samples_side_by_side():
    inner = MLPDiscriminator(gens(2), (6,), hidden=8, depth=1)
    D = PackedDiscriminator(inner, 3)
    x = torch.randn(2, 9, 2)
    out = D(x)
    assert out.shape == (2, 3)
    by_hand = inner(torch.cat([x[:, 0::3], x[:, 1::3], x[:, 2::3]], dim=2))
    assert torch.allclose(out, by_hand)
    with pytest.raises(ValueError, match="multiple of 3"):
        D(torch.randn(2, 8, 2))


def test_packed_images_are_stacked_on_channels():
    inner = torch.nn.Identity()
    x = torch.randn(1, 4, 3, 5, 5)
    out = PackedDiscriminator(inner, 2)(x)
    assert out.shape == (1, 2, 6, 5, 5)
    assert torch.equal(out[0, 1, 3:], x[0, 3])


def _run(**over):
    spec = BenchSpec(benchmarks=["ring8"], losses=["bce"])
    spec.run.update(over)
    return spec.resolve("ring8", "bce")


def test_registry_builds_the_pacgan_2d_networks():
    run = _run(hidden=400, depth=4, g_batchnorm=True, d_hidden=200, d_depth=3, maxout=5, pack=4, batch_size=400)
    G, D = build_models(run, [0, 1], (2,))
    assert isinstance(D, PackedDiscriminator) and D.pack == 4
    first = next(m for m in D.modules() if hasattr(m, "in_features"))
    assert first.in_features == 8  # four 2-D points side by side
    assert D(G(torch.randn(2, 400, run.z_dim))).shape == (2, 100)
    g_linears = [m for m in G.modules() if hasattr(m, "in_features")]
    assert [m.out_features for m in g_linears] == [400, 400, 400, 400, 2]


def test_a_batch_that_does_not_divide_into_packs_is_refused_before_training():
    with pytest.raises(SpecError, match="not a multiple of pack 3"):
        check_model(_run(pack=3, batch_size=100))
