"""Seed-batched layers. Each holds ``S`` independent parameter sets, initialised from one
``torch.Generator`` per seed, so seed k gets the same initial weights whether it is built alone or
among others (the generators are consumed in the same order either way)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _stack(generators: Sequence[torch.Generator], make) -> torch.Tensor:
    return torch.stack([make(g) for g in generators])


def uniform_init(shape: Sequence[int], bound: float):
    return lambda g: (torch.rand(*shape, generator=g) * 2.0 - 1.0) * bound


def normal_init(shape: Sequence[int], mean: float, std: float):
    return lambda g: torch.randn(*shape, generator=g) * std + mean


class SeedLinear(nn.Module):
    """``x [S, B, in] -> [S, B, out]`` with weight ``[S, in, out]`` and bias ``[S, 1, out]``.

    Default initialisation is PyTorch's ``nn.Linear`` one: U(-1/sqrt(in), 1/sqrt(in)) for both.
    """

    def __init__(self, generators: Sequence[torch.Generator], in_features: int, out_features: int,
                 init_std: float | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        if init_std is None:
            bound = 1.0 / math.sqrt(in_features)
            w = _stack(generators, uniform_init((in_features, out_features), bound))
            b = _stack(generators, uniform_init((1, out_features), bound))
        else:
            w = _stack(generators, normal_init((in_features, out_features), 0.0, init_std))
            b = torch.zeros(len(generators), 1, out_features)
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"seeds={self.weight.shape[0]}, in={self.in_features}, out={self.out_features}"
