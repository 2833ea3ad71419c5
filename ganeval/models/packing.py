"""Packing (Lin et al. 2018, PacGAN): the discriminator judges ``pack`` samples at once, all real or
all generated, concatenated along their first data axis (features of a point, channels of an image).
A D that sees several samples together can tell a collapsed generator by their lack of variety.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def packed_shape(data_shape: Sequence[int], pack: int) -> tuple[int, ...]:
    """The shape the inner discriminator sees: ``[2] -> [2 * pack]``, ``[C, H, W] -> [C * pack, H, W]``."""
    shape = tuple(data_shape)
    return (shape[0] * pack, *shape[1:])


class PackedDiscriminator(nn.Module):
    """``x [S, B, *shape] -> logits [S, B / pack]``: consecutive groups of ``pack`` samples form one
    input of ``inner`` (built for :func:`packed_shape`). ``B`` must be a multiple of ``pack``; a
    batch of real samples followed by as many fakes never mixes the two in a pack."""

    def __init__(self, inner: nn.Module, pack: int):
        super().__init__()
        self.inner = inner
        self.pack = pack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        S, B = x.shape[:2]
        if B % self.pack:
            raise ValueError(f"a packed discriminator needs a batch that is a multiple of {self.pack}, got {B}")
        shape = x.shape[2:]
        return self.inner(x.reshape(S, B // self.pack, shape[0] * self.pack, *shape[1:]))

    def extra_repr(self) -> str:
        return f"pack={self.pack}"
