"""MLP generator and discriminator for 2-D benchmarks, seed-batched.

Width, depth, batch norm and the hidden activation are settings, so each published mixture-of-Gaussians
protocol is expressible: Metz et al. 2017 (ReLU, 128 units), VEEGAN and PacGAN (G: ReLU + batch
norm, 400 units; D: maxout with 5 pieces, 200 units).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ganeval.models.layers import SeedBatchNorm1d, SeedLinear


class Maxout(nn.Module):
    """``[..., units * pieces] -> [..., units]``: the largest of each unit's ``pieces`` linear
    pieces (Goodfellow et al. 2013), the hidden unit of VEEGAN's and PacGAN's 2-D discriminators."""

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, self.pieces)).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


class SeedMLP(nn.Module):
    """``[S, B, in] -> [S, B, out]``: ``depth`` hidden layers of ``hidden`` units, ReLU or (with
    ``maxout`` > 1) maxout over that many pieces, with batch norm before the activation if
    ``batchnorm`` (and then no bias, which batch norm would cancel)."""

    def __init__(self, generators: Sequence[torch.Generator], in_features: int, out_features: int,
                 hidden: int, depth: int, batchnorm: bool = False, maxout: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        pieces = max(1, maxout)
        for _ in range(depth):
            layers.append(SeedLinear(generators, width, hidden * pieces, bias=not batchnorm))
            if batchnorm:
                layers.append(SeedBatchNorm1d(generators, hidden * pieces))
            layers.append(Maxout(pieces) if pieces > 1 else nn.ReLU())
            width = hidden
        layers.append(SeedLinear(generators, width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPGenerator(SeedMLP):
    """``z [S, B, z_dim] -> samples [S, B, *data_shape]``; images (``[C, H, W]``, which ganeval keeps
    in [-1, 1]) end in tanh, points are linear."""

    def __init__(self, generators, z_dim: int, data_shape: Sequence[int], hidden: int, depth: int,
                 batchnorm: bool = False):
        self.data_shape = tuple(data_shape)
        out = 1
        for d in self.data_shape:
            out *= d
        super().__init__(generators, z_dim, out, hidden, depth, batchnorm)
        self.tanh = len(self.data_shape) == 3

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(z)
        x = torch.tanh(x) if self.tanh else x
        return x.view(*x.shape[:2], *self.data_shape)


class MLPDiscriminator(SeedMLP):
    """``x [S, B, *data_shape] -> logits [S, B]``; the input is first multiplied by ``input_scale``
    (Metz et al. 2017 scale the ring's points by 1/4 to roughly [-1, 1])."""

    def __init__(self, generators, data_shape: Sequence[int], hidden: int, depth: int, batchnorm: bool = False,
                 maxout: int = 1, input_scale: float = 1.0):
        n = 1
        for d in data_shape:
            n *= d
        super().__init__(generators, n, 1, hidden, depth, batchnorm, maxout)
        self.input_scale = input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2)
        return self.net(x if self.input_scale == 1.0 else x * self.input_scale).squeeze(-1)
