"""Seed-batched layers equal the plain torch layer applied to each seed's slice."""

import torch
import torch.nn.functional as F

from ganeval.models.layers import (SeedBatchNorm2d, SeedConv2d, SeedConvTranspose2d, SeedLinear, from_grouped,
                                   to_grouped)


def gens(n):
    return [torch.Generator().manual_seed(100 + i) for i in range(n)]


def test_seed_linear_is_a_linear_per_seed():
    layer = SeedLinear(gens(3), 5, 4)
    x = torch.randn(3, 7, 5)
    y = layer(x)
    for k in range(3):
        assert torch.allclose(y[k], F.linear(x[k], layer.weight[k].T, layer.bias[k, 0]), atol=1e-6)


def test_grouped_conv_layers_equal_plain_convs_per_seed():
    S = 3
    x = torch.randn(S, 4, 2, 9, 9)  # [S, B, C, H, W]
    conv = SeedConv2d(gens(S), 2, 5, 4, 2, 1)
    up = SeedConvTranspose2d(gens(S), 2, 5, 4, 2, 1)
    with torch.no_grad():
        conv.bias.normal_()
        up.bias.normal_()
    y, z = from_grouped(conv(to_grouped(x)), S), from_grouped(up(to_grouped(x)), S)
    for k in range(S):
        assert torch.allclose(y[k], F.conv2d(x[k], conv.weight[k], conv.bias[k], 2, 1), atol=1e-5)
        assert torch.allclose(z[k], F.conv_transpose2d(x[k], up.weight[k], up.bias[k], 2, 1), atol=1e-5)


def test_seed_batchnorm_equals_batchnorm_per_seed_including_running_stats():
    S, C = 2, 3
    bn = SeedBatchNorm2d(gens(S), C)
    plain = [torch.nn.BatchNorm2d(C) for _ in range(S)]
    for k in range(S):
        plain[k].weight.data.copy_(bn.weight.data[k])
    x = torch.randn(S, 6, C, 5, 5) * 3 + 1
    y = from_grouped(bn(to_grouped(x)), S)
    for k in range(S):
        assert torch.allclose(y[k], plain[k](x[k]), atol=1e-5)
        assert torch.allclose(bn.running_mean[k], plain[k].running_mean, atol=1e-6)
        assert torch.allclose(bn.running_var[k], plain[k].running_var, atol=1e-5)
    bn.eval()
    for m in plain:
        m.eval()
    y = from_grouped(bn(to_grouped(x)), S)
    for k in range(S):
        assert torch.allclose(y[k], plain[k](x[k]), atol=1e-5)
