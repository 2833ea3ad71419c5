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
                 init_std: float | None = None, bias: bool = True):
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
        self.bias = nn.Parameter(b) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"seeds={self.weight.shape[0]}, in={self.in_features}, out={self.out_features}"


def to_grouped(x: torch.Tensor) -> torch.Tensor:
    """``[S, B, C, H, W] -> [B, S*C, H, W]``: seeds become channel groups of one convolution."""
    S, B, C, H, W = x.shape
    return x.transpose(0, 1).reshape(B, S * C, H, W)


def from_grouped(x: torch.Tensor, seeds: int) -> torch.Tensor:
    """``[B, S*C, H, W] -> [S, B, C, H, W]``."""
    B, SC, H, W = x.shape
    return x.view(B, seeds, SC // seeds, H, W).transpose(0, 1)


class SeedConv2d(nn.Module):
    """Per-seed convolution as one grouped convolution on ``[B, S*in, H, W]`` -> ``[B, S*out, H', W']``.

    Weight ``[S, out, in, k, k]``, bias ``[S, out]``; seed s reads and writes only its channel group.
    """

    def __init__(self, generators, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 init_std: float = 0.02, bias: bool = True):
        super().__init__()
        self.seeds, self.in_ch, self.out_ch = len(generators), in_ch, out_ch
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(_stack(generators, normal_init((out_ch, in_ch, kernel, kernel), 0.0, init_std)))
        self.bias = nn.Parameter(torch.zeros(self.seeds, out_ch)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(self.seeds * self.out_ch, *self.weight.shape[2:])
        b = self.bias.reshape(-1) if self.bias is not None else None
        return torch.nn.functional.conv2d(x, w, b, self.stride, self.padding, groups=self.seeds)


class SeedConvTranspose2d(nn.Module):
    """Per-seed transposed convolution, grouped: weight ``[S, in, out, k, k]``, bias ``[S, out]``."""

    def __init__(self, generators, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 init_std: float = 0.02, bias: bool = True):
        super().__init__()
        self.seeds, self.in_ch, self.out_ch = len(generators), in_ch, out_ch
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(_stack(generators, normal_init((in_ch, out_ch, kernel, kernel), 0.0, init_std)))
        self.bias = nn.Parameter(torch.zeros(self.seeds, out_ch)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(self.seeds * self.in_ch, *self.weight.shape[2:])
        b = self.bias.reshape(-1) if self.bias is not None else None
        return torch.nn.functional.conv_transpose2d(x, w, b, self.stride, self.padding, groups=self.seeds)


class SeedBatchNorm2d(nn.Module):
    """Batch norm of ``[B, S*C, H, W]`` with statistics, affine parameters and running estimates
    per (seed, channel); every parameter and buffer has the seed dimension first."""

    uses_batch_statistics = True

    def __init__(self, generators, channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        S = len(generators)
        self.seeds, self.channels, self.momentum, self.eps = S, channels, momentum, eps
        self.weight = nn.Parameter(_stack(generators, normal_init((channels,), 1.0, 0.02)))
        self.bias = nn.Parameter(torch.zeros(S, channels))
        self.register_buffer("running_mean", torch.zeros(S, channels))
        self.register_buffer("running_var", torch.ones(S, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.batch_norm(
            x, self.running_mean.view(-1), self.running_var.view(-1), self.weight.reshape(-1), self.bias.reshape(-1),
            self.training, self.momentum, self.eps)
