"""DCGAN generator and discriminator for 28×28 images, seed-batched with grouped convolutions.

Architecture (Radford et al. 2016, adapted to 28×28 as in the stacked-MNIST protocol of VEEGAN and
PacGAN, ``base`` = 64 filters): G: z -> FC -> 2b×7×7 -> BN·ReLU -> ConvT 4/2 -> b×14×14 -> BN·ReLU
-> ConvT 4/2 -> C×28×28 -> tanh. D: Conv 4/2 -> b×14×14 -> LReLU(0.2) -> Conv 4/2 -> 2b×7×7 ->
[BN] -> LReLU -> FC -> 1. Weights N(0, 0.02), BN scale N(1, 0.02), as in the DCGAN paper.

All seeds run as channel groups of the same convolutions (``[B, S*C, H, W]``), so one launch
serves every seed and no operation mixes seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ganeval.models.layers import (SeedBatchNorm2d, SeedConv2d, SeedConvTranspose2d, SeedLinear, from_grouped,
                                   to_grouped)


class DCGANGenerator(nn.Module):
    """``z [S, B, z_dim] -> images [S, B, C, 28, 28]`` in (-1, 1)."""

    def __init__(self, generators, z_dim: int, data_shape: Sequence[int], base: int = 64, batchnorm: bool = True):
        super().__init__()
        self.S, self.base = len(generators), base
        channels = data_shape[0]
        # No bias before batch norm: it would be cancelled, and Adam turns its zero gradient's rounding
        # noise into full-size steps.
        self.fc = SeedLinear(generators, z_dim, 2 * base * 7 * 7, init_std=0.02, bias=not batchnorm)
        self.bn0 = SeedBatchNorm2d(generators, 2 * base) if batchnorm else nn.Identity()
        self.up1 = SeedConvTranspose2d(generators, 2 * base, base, 4, 2, 1, bias=not batchnorm)
        self.bn1 = SeedBatchNorm2d(generators, base) if batchnorm else nn.Identity()
        self.up2 = SeedConvTranspose2d(generators, base, channels, 4, 2, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        S, B = z.shape[:2]
        x = self.fc(z).view(S, B, 2 * self.base, 7, 7)
        x = torch.relu(self.bn0(to_grouped(x)))
        x = torch.relu(self.bn1(self.up1(x)))
        return from_grouped(torch.tanh(self.up2(x)), S)


class DCGANDiscriminator(nn.Module):
    """``images [S, B, C, 28, 28] -> logits [S, B]``; ``batchnorm=False`` for critics with a
    gradient penalty (Gulrajani et al. 2017 use no batch norm in the critic)."""

    def __init__(self, generators, data_shape: Sequence[int], base: int = 64, batchnorm: bool = True):
        super().__init__()
        self.S, self.base = len(generators), base
        self.conv1 = SeedConv2d(generators, data_shape[0], base, 4, 2, 1)
        self.conv2 = SeedConv2d(generators, base, 2 * base, 4, 2, 1, bias=not batchnorm)
        self.bn2 = SeedBatchNorm2d(generators, 2 * base) if batchnorm else nn.Identity()
        self.fc = SeedLinear(generators, 2 * base * 7 * 7, 1, init_std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        S, B = x.shape[:2]
        h = nn.functional.leaky_relu(self.conv1(to_grouped(x)), 0.2)
        h = nn.functional.leaky_relu(self.bn2(self.conv2(h)), 0.2)
        h = h.view(B, S, -1).transpose(0, 1)
        return self.fc(h).squeeze(-1)
