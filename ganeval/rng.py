"""Counter-based random streams, one per seed, computed with plain tensor ops.

Why not ``torch.Generator``: a seed-batched trainer needs every seed to draw *its own* numbers,
identical whether it trains alone or among 255 others, and a CUDA-graph step cannot call back to
the host for them. Here a number is a hash of (seed, stream, step, sub-step, index), so

* seed k's numbers do not depend on which other seeds share the batch,
* a resumed run needs no generator state: the step *is* the stream position,
* the step may be a device tensor, so the whole draw can be captured in a CUDA graph,
* the same integer arithmetic runs on CPU and CUDA.

The mixer is the 32-bit "lowbias" integer hash (two multiply-xorshift rounds, constant 0x45d9f3b),
applied twice with two independent key words, so a draw is keyed by 64 bits. All arithmetic stays
below 2**63 in int64, so no signed overflow is ever relied on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

_MASK = 0xFFFFFFFF
_MUL = 0x45D9F3B
_GOLDEN = 0x9E3779B9

# Stream identifiers: one per independent use of randomness in training and evaluation.
DATA = 1
NOISE = 2
PENALTY = 3
EVAL = 4
AUX = 5


def mix32(x: torch.Tensor) -> torch.Tensor:
    """Bijective 32-bit integer hash on int64 tensors holding values in [0, 2**32)."""
    x = ((x >> 16) ^ x) * _MUL & _MASK
    x = ((x >> 16) ^ x) * _MUL & _MASK
    return (x >> 16) ^ x


def mix32_int(x: int) -> int:
    """The same hash on a Python int (used to derive per-purpose seeds)."""
    x &= _MASK
    x = (((x >> 16) ^ x) * _MUL) & _MASK
    x = (((x >> 16) ^ x) * _MUL) & _MASK
    return (x >> 16) ^ x


def derive_seed(seed: int, purpose: int) -> int:
    """A 32-bit seed for one purpose (e.g. initialising G) derived from a run seed."""
    return mix32_int(mix32_int(seed & _MASK) ^ mix32_int((seed >> 32) + _GOLDEN) ^ mix32_int(purpose * 7919 + 17))


class SeedStreams:
    """Independent random streams for ``S`` seeds; every draw returns a tensor ``[S, *shape]``.

    ``step`` may be an int or a 0-d int64 tensor (on the streams' device, for graph capture).
    """

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu"):
        self.seeds = [int(s) for s in seeds]
        self.device = torch.device(device)
        base = torch.tensor([derive_seed(s, 0) for s in self.seeds], dtype=torch.int64)
        self._base = base.to(self.device)

    def __len__(self) -> int:
        return len(self.seeds)

    def to(self, device: torch.device | str) -> SeedStreams:
        return SeedStreams(self.seeds, device)

    def select(self, index: Sequence[int]) -> SeedStreams:
        return SeedStreams([self.seeds[i] for i in index], self.device)

    def _keys(self, stream: int, step: int | torch.Tensor, substep: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(step, torch.Tensor):
            step = torch.tensor(int(step), dtype=torch.int64, device=self.device)
        k = mix32(self._base ^ (mix32_int(stream) ^ substep * 0x27D4EB2F & _MASK))
        k_lo = mix32(k ^ (step & _MASK))
        k_hi = mix32(k_lo ^ mix32((step >> 32) + _GOLDEN & _MASK) ^ _GOLDEN)
        return k_lo.view(-1, 1), k_hi.view(-1, 1)

    def bits(self, stream: int, step: int | torch.Tensor, substep: int, n: int) -> torch.Tensor:
        """``[S, n]`` int64 values, uniform on [0, 2**32)."""
        k_lo, k_hi = self._keys(stream, step, substep)
        idx = torch.arange(n, dtype=torch.int64, device=self.device).view(1, -1)
        return mix32(mix32(idx ^ k_lo) ^ k_hi)

    def uniform(self, stream: int, step: int | torch.Tensor, substep: int, shape: Sequence[int]) -> torch.Tensor:
        """``[S, *shape]`` float32 on the open interval (0, 1), 24-bit resolution."""
        n = math.prod(shape)
        u = ((self.bits(stream, step, substep, n) >> 8).to(torch.float32) + 0.5) * (1.0 / 16777216.0)
        return u.view(len(self.seeds), *shape)

    def normal(self, stream: int, step: int | torch.Tensor, substep: int, shape: Sequence[int]) -> torch.Tensor:
        """``[S, *shape]`` standard normals (Box-Muller on two uniforms)."""
        n = math.prod(shape)
        half = (n + 1) // 2
        u = ((self.bits(stream, step, substep, 2 * half) >> 8).to(torch.float32) + 0.5) * (1.0 / 16777216.0)
        radius = torch.sqrt(-2.0 * torch.log(u[:, :half]))
        angle = (2.0 * math.pi) * u[:, half:]
        z = torch.cat([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)[:, :n]
        return z.reshape(len(self.seeds), *shape)

    def randint(self, stream: int, step: int | torch.Tensor, substep: int, high: int, shape: Sequence[int]) -> torch.Tensor:
        """``[S, *shape]`` int64 uniform on [0, high) (multiply-shift, bias below high / 2**32)."""
        if not 0 < high < 2**31:
            raise ValueError("high must be in (0, 2**31)")
        n = math.prod(shape)
        return ((self.bits(stream, step, substep, n) * high) >> 32).view(len(self.seeds), *shape)
