"""MLP generator and discriminator for 2-D benchmarks, seed-batched.

Default sizes follow the mixture-of-Gaussians protocol of Metz et al. 2017 (Unrolled GAN), reused
by VEEGAN and PacGAN: fully connected ReLU networks with hidden layers of 128 units.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ganeval.models.layers import SeedBatchNorm1d, SeedLinear


class SeedMLP(nn.Module):
    """``[S, B, in] -> [S, B, out]``: ``depth`` hidden layers of ``hidden`` ReLU units, with batch
    norm before each ReLU if ``batchnorm`` (and then no bias, which batch norm would cancel)."""

    def __init__(self, generators: Sequence[torch.Generator], in_features: int, out_features: int,
                 hidden: int, depth: int, batchnorm: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers.append(SeedLinear(generators, width, hidden, bias=not batchnorm))
            if batchnorm:
                layers.append(SeedBatchNorm1d(generators, hidden))
            layers.append(nn.ReLU())
            width = hidden
        layers.append(SeedLinear(generators, width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPGenerator(SeedMLP):
    """``z [S, B, z_dim] -> samples [S, B, *data_shape]``."""

    def __init__(self, generators, z_dim: int, data_shape: Sequence[int], hidden: int, depth: int,
                 batchnorm: bool = False):
        self.data_shape = tuple(data_shape)
        out = 1
        for d in self.data_shape:
            out *= d
        super().__init__(generators, z_dim, out, hidden, depth, batchnorm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(z)
        return x.view(*x.shape[:2], *self.data_shape)


class MLPDiscriminator(SeedMLP):
    """``x [S, B, *data_shape] -> logits [S, B]``."""

    def __init__(self, generators, data_shape: Sequence[int], hidden: int, depth: int, batchnorm: bool = False):
        n = 1
        for d in data_shape:
            n *= d
        super().__init__(generators, n, 1, hidden, depth, batchnorm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(2)).squeeze(-1)
