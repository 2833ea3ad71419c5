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



def as_matrices(weight: torch.Tensor, seeds: int | None) -> torch.Tensor:
    """``[S, rows, cols]`` view of a weight: plain ``[out, in, ...]`` gets S = 1; seed-batched
    weights keep their seed dim. ganeval's ``SeedLinear`` stores ``[S, in, out]``, which has the
    same singular values as its transpose, so no transpose is needed."""
    if seeds is None:
        return weight.reshape(1, weight.shape[0], -1)
    return weight.reshape(seeds, weight.shape[1], -1)

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
        if self.out_features == 1 and self.weight.shape[0] == 1:
            # One output (D's logit) of one seed: PyTorch sends S = 1 to plain GEMM, which sums the terms
            # in another order than the batched GEMM every S >= 2 gets, so a seed alone would drift from
            # the same seed in a cell (reports/reproducibility.md). Batched as a pair, it sums alike.
            w, b = self.weight.expand(2, -1, -1), None if self.bias is None else self.bias.expand(2, -1, -1)
            pair = x.expand(2, -1, -1)
            y = torch.bmm(pair, w) if b is None else torch.baddbmm(b, pair, w)
            return y[:1]
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"seeds={self.weight.shape[0]}, in={self.in_features}, out={self.out_features}"


#: On CPU a seed-batched convolution whose per-seed input or output channels are not a multiple of
#: this runs as one convolution per seed. oneDNN picks its kernel from the whole problem's shape: a
#: grouped convolution whose groups hold few channels (an image's 3: D's first layer, G's last)
#: runs as im2col + GEMM (``x64:gemm:jit``), the same convolution of one seed as a direct kernel
#: (``jit:avx2`` / ``jit:avx512_core``, ``brgconv_strided``), and the two sum in different orders:
#: seed k in a cell differed from seed k alone in the last bits of outputs and gradients, which Adam
#: amplifies where gradients are tiny (with oneDNN limited to AVX2, ``ONEDNN_MAX_CPU_ISA=AVX2`` as
#: on a CPU without AVX-512, G's weights differed by 3e-3 relative after 6 steps). Direct kernels
#: block channels by the vector width, 8 floats (AVX2) or 16 (AVX-512); where every group is a whole
#: number of blocks the grouped and the single-seed problem run the same kernel, bit for bit
#: (measured at 64 and 128 channels, 1 to 16 threads, AVX2 and AVX-512). ``ONEDNN_VERBOSE=1`` shows
#: the kernels. Per-seed calls cost more than one grouped call with several threads (the 64 -> 3
#: transposed layer alone: up to 3.5x at 2 threads and 4 seeds; the whole DCGAN forward and backward
#: at 4 seeds, 2 threads: 1.1-1.4x in two interleaved runs on a loaded 2-core machine; about the
#: same with 1 thread), so they are used only where needed: on CUDA, and for whole blocks, one
#: grouped launch serves every seed.
CPU_CHANNEL_BLOCK = 16


def to_grouped(x: torch.Tensor) -> torch.Tensor:
    """``[S, B, C, H, W] -> [B, S*C, H, W]``: seeds become channel groups of one convolution."""
    S, B, C, H, W = x.shape
    return x.transpose(0, 1).reshape(B, S * C, H, W)


def from_grouped(x: torch.Tensor, seeds: int) -> torch.Tensor:
    """``[B, S*C, H, W] -> [S, B, C, H, W]``."""
    B, SC, H, W = x.shape
    return x.view(B, seeds, SC // seeds, H, W).transpose(0, 1)


class _SeedGroupedConv(nn.Module):
    """A per-seed (transposed) convolution as one grouped convolution on ``[B, S*in, H, W]``: seed s
    reads and writes only its channel group. Weight ``[S, *layout, k, k]`` in torch's layout for
    the operation, bias ``[S, out]``."""

    transposed = False

    def __init__(self, generators, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 init_std: float = 0.02, bias: bool = True, output_padding: int = 0):
        super().__init__()
        self.seeds, self.in_ch, self.out_ch = len(generators), in_ch, out_ch
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        layout = (in_ch, out_ch) if self.transposed else (out_ch, in_ch)
        self.weight = nn.Parameter(_stack(generators, normal_init((*layout, kernel, kernel), 0.0, init_std)))
        self.bias = nn.Parameter(torch.zeros(self.seeds, out_ch)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight  # [S, *layout, k, k] (through spectral norm's parametrization, if any)
        if x.device.type == "cpu" and (self.in_ch % CPU_CHANNEL_BLOCK or self.out_ch % CPU_CHANNEL_BLOCK):
            return self._per_seed(x, weight)
        w = weight.flatten(0, 1)  # [S*out, in, k, k] (or [S*in, out, k, k] transposed): one group per seed
        b = self.bias.reshape(-1) if self.bias is not None else None
        return self._conv(x, w, b, self.seeds)

    def _conv(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, groups: int) -> torch.Tensor:
        if self.transposed:
            return torch.nn.functional.conv_transpose2d(x, w, b, self.stride, self.padding, self.output_padding,
                                                        groups=groups)
        return torch.nn.functional.conv2d(x, w, b, self.stride, self.padding, groups=groups)

    def _per_seed(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """One call per seed, each exactly the call that seed makes alone, concatenated along the
        channels (see :data:`CPU_CHANNEL_BLOCK` for when and why)."""
        cin = x.shape[1] // self.seeds
        outs = [self._conv(x[:, k * cin:(k + 1) * cin].contiguous(), weight[k],
                           None if self.bias is None else self.bias[k], 1) for k in range(self.seeds)]
        return outs[0] if self.seeds == 1 else torch.cat(outs, 1)


class SeedConv2d(_SeedGroupedConv):
    """Per-seed convolution ``[B, S*in, H, W]`` -> ``[B, S*out, H', W']``; weight ``[S, out, in, k, k]``."""


class SeedConvTranspose2d(_SeedGroupedConv):
    """Per-seed transposed convolution; weight ``[S, in, out, k, k]``."""

    transposed = True


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


class SeedBatchNorm1d(nn.Module):
    """Batch norm of ``[S, B, F]`` features with statistics and parameters per (seed, feature)."""

    uses_batch_statistics = True

    def __init__(self, generators, features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        S = len(generators)
        self.seeds, self.features, self.momentum, self.eps = S, features, momentum, eps
        self.weight = nn.Parameter(torch.ones(S, features))
        self.bias = nn.Parameter(torch.zeros(S, features))
        self.register_buffer("running_mean", torch.zeros(S, features))
        self.register_buffer("running_var", torch.ones(S, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        S, B, F_ = x.shape
        y = torch.nn.functional.batch_norm(
            x.transpose(0, 1).reshape(B, S * F_), self.running_mean.view(-1), self.running_var.view(-1),
            self.weight.reshape(-1), self.bias.reshape(-1), self.training, self.momentum, self.eps)
        return y.view(B, S, F_).transpose(0, 1)


class SeedSpectralNorm(nn.Module):
    """Parametrization ``W -> W / sigma_max(W)`` per seed (Miyato et al. 2018), for
    ``torch.nn.utils.parametrize``: one power iteration per training forward, warm-started, with
    each seed's vectors ``u``, ``v`` kept in buffers (so they are checkpointed and never shared).
    As in PyTorch's ``spectral_norm``, ``u`` and ``v`` are constants for autograd."""

    def __init__(self, weight: torch.Tensor, generators, n_power_iterations: int = 1, eps: float = 1e-12):
        super().__init__()
        self.seeds, self.n_power_iterations, self.eps = weight.shape[0], n_power_iterations, eps
        m = as_matrices(weight.detach(), self.seeds)
        u = torch.stack([torch.randn(m.shape[1], generator=g) for g in generators]).to(weight)
        v = torch.stack([torch.randn(m.shape[2], generator=g) for g in generators]).to(weight)
        self.register_buffer("_u", torch.nn.functional.normalize(u, dim=1, eps=eps))
        self.register_buffer("_v", torch.nn.functional.normalize(v, dim=1, eps=eps))
        self._power_method(m, 15)  # as PyTorch: start from a converged estimate

    @torch.no_grad()
    def _power_method(self, m: torch.Tensor, iterations: int) -> None:
        for _ in range(iterations):
            self._v.copy_(torch.nn.functional.normalize(torch.bmm(self._u.unsqueeze(1), m).squeeze(1), dim=1, eps=self.eps))
            self._u.copy_(torch.nn.functional.normalize(torch.bmm(m, self._v.unsqueeze(2)).squeeze(2), dim=1, eps=self.eps))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        m = weight.reshape(self.seeds, weight.shape[1], -1)
        if self.training:
            self._power_method(m.detach(), self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = torch.bmm(u.unsqueeze(1), torch.bmm(m, v.unsqueeze(2))).view(self.seeds)
        return weight / sigma.view(self.seeds, *([1] * (weight.dim() - 1)))


def apply_spectral_norm(module: nn.Module, generators) -> nn.Module:
    """Spectral-normalize the weight of every seed-batched linear and convolution layer of ``module``."""
    from torch.nn.utils import parametrize

    for layer in [m for m in module.modules() if isinstance(m, (SeedLinear, _SeedGroupedConv))]:
        parametrize.register_parametrization(layer, "weight", SeedSpectralNorm(layer.weight, generators))
    return module
