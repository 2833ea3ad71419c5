"""The larger DCGAN of PacGAN's stacked-MNIST code (carpedm20/DCGAN-tensorflow with gf_dim = df_dim
= 64), seed-batched: 5×5 kernels, stride 2, 'SAME' padding.

G: z -> FC -> 8b×2×2 -> BN·ReLU -> ConvT -> 4b×4×4 -> ConvT -> 2b×7×7 -> ConvT -> b×14×14 (each
BN·ReLU) -> ConvT -> C×28×28 -> tanh. D: Conv -> b×14×14 -> LReLU(0.2) -> Conv -> 2b×7×7 -> Conv ->
4b×4×4 -> Conv -> 8b×2×2 (each [BN]·LReLU) -> FC -> 1. Source: github.com/fjxmlzn/PacGAN at 190853e,
stacked_MNIST_experiments/VEEGAN_experiment/model.py L287-330 (generator and discriminator) and
ops.py (init N(0, 0.02), BN eps 1e-5).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ganeval.models.layers import SeedBatchNorm2d, SeedConv2d, SeedConvTranspose2d, SeedLinear, from_grouped, to_grouped

# (output size, output padding) of each transposed 5×5 stride-2 convolution with padding 2: TF's
# 'SAME' deconvolutions 2 -> 4 -> 7 -> 14 -> 28.
_UP = ((4, 1), (7, 0), (14, 1), (28, 1))


class DCGAN5Generator(nn.Module):
    def __init__(self, generators, z_dim: int, data_shape: Sequence[int], base: int = 64, batchnorm: bool = True):
        super().__init__()
        self.S, self.base = len(generators), base
        widths = [8 * base, 4 * base, 2 * base, base, data_shape[0]]
        self.fc = SeedLinear(generators, z_dim, widths[0] * 2 * 2, init_std=0.02, bias=not batchnorm)
        self.bn0 = SeedBatchNorm2d(generators, widths[0]) if batchnorm else nn.Identity()
        last = len(_UP) - 1
        self.ups = nn.ModuleList(
            SeedConvTranspose2d(generators, widths[i], widths[i + 1], 5, 2, 2,
                                bias=not batchnorm or i == last, output_padding=_UP[i][1]) for i in range(len(_UP)))
        self.bns = nn.ModuleList(SeedBatchNorm2d(generators, widths[i + 1]) if batchnorm else nn.Identity()
                                 for i in range(last))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        S, B = z.shape[:2]
        x = to_grouped(self.fc(z).view(S, B, 8 * self.base, 2, 2))
        x = torch.relu(self.bn0(x))
        for up, bn in zip(self.ups[:-1], self.bns):
            x = torch.relu(bn(up(x)))
        return from_grouped(torch.tanh(self.ups[-1](x)), S)


class DCGAN5Discriminator(nn.Module):
    def __init__(self, generators, data_shape: Sequence[int], base: int = 64, batchnorm: bool = True):
        super().__init__()
        self.S = len(generators)
        widths = [data_shape[0], base, 2 * base, 4 * base, 8 * base]
        self.convs = nn.ModuleList(SeedConv2d(generators, widths[i], widths[i + 1], 5, 2, 2,
                                              bias=i == 0 or not batchnorm) for i in range(4))
        # no batch norm on the first layer (model.py L288)
        self.bns = nn.ModuleList([nn.Identity()] + [SeedBatchNorm2d(generators, widths[i + 1]) if batchnorm
                                                     else nn.Identity() for i in range(1, 4)])
        self.fc = SeedLinear(generators, 8 * base * 2 * 2, 1, init_std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        S, B = x.shape[:2]
        h = to_grouped(x)
        for conv, bn in zip(self.convs, self.bns):
            h = nn.functional.leaky_relu(bn(conv(h)), 0.2)
        h = h.view(B, S, -1).transpose(0, 1)
        return self.fc(h).squeeze(-1)
