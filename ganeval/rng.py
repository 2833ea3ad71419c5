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

import numpy as np
import torch

_MASK = 0xFFFFFFFF
_MUL = 0x45D9F3B
_GOLDEN = 0x9E3779B9

# Stream identifiers: one per independent use of randomness in training and evaluation.
DATA = 1
NOISE = 2
PENALTY = 3
EVAL = 4
#: Purposes from here up are free for plugins (a stabilizer's own noise: ``ctx.streams.uniform(
#: PLUGIN + 1, step, critic_step, (batch,))``); ganeval's own stay below.
PLUGIN = 1000


def mix32(x: torch.Tensor) -> torch.Tensor:
    """Bijective 32-bit integer hash on int64 tensors holding values in [0, 2**32).

    Written with in-place ops on one fresh tensor: on small CPU tensors the cost is per op.
    """
    y = x >> 16
    y.bitwise_xor_(x).mul_(_MUL).bitwise_and_(_MASK)
    y.bitwise_xor_(y >> 16).mul_(_MUL).bitwise_and_(_MASK)
    return y.bitwise_xor_(y >> 16)


def mix32_np(x: np.ndarray) -> np.ndarray:
    """The same hash on numpy uint32 arrays (which wrap modulo 2**32 by themselves)."""
    y = x ^ (x >> np.uint32(16))
    y *= np.uint32(_MUL)
    y ^= y >> np.uint32(16)
    y *= np.uint32(_MUL)
    y ^= y >> np.uint32(16)
    return y


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
        self._base_int = [derive_seed(s, 0) for s in self.seeds]
        self._base = torch.tensor(self._base_int, dtype=torch.int64).to(self.device)
        self._index: dict[int, torch.Tensor] = {}
        self._device_keys: dict[tuple[int, int], torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.seeds)

    def _stream_key(self, stream: int, substep: int) -> list[int]:
        tag = mix32_int(stream) ^ (substep * 0x27D4EB2F & _MASK)
        return [mix32_int(b ^ tag) for b in self._base_int]

    def _keys(self, stream: int, step: int | torch.Tensor, substep: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Two 32-bit key words per seed, ``[S, 1]`` each, for one (stream, step, sub-step)."""
        if isinstance(step, torch.Tensor):  # graph-capturable path: stays on the device
            k = self._device_keys.get((stream, substep))
            if k is None:  # first use happens before any capture (a host-to-device copy)
                k = torch.tensor(self._stream_key(stream, substep), dtype=torch.int64).to(self.device)
                self._device_keys[(stream, substep)] = k
            k_lo = mix32(k ^ (step & _MASK))
            k_hi = mix32(k_lo ^ mix32((step >> 32) + _GOLDEN & _MASK) ^ _GOLDEN)
            return k_lo.view(-1, 1), k_hi.view(-1, 1)
        keys = torch.tensor(self._host_keys(stream, int(step), substep), dtype=torch.int64).to(self.device)
        return keys[0].view(-1, 1), keys[1].view(-1, 1)

    def _host_keys(self, stream: int, step: int, substep: int) -> list[list[int]]:
        # A handful of seeds is far cheaper to key in Python than with tiny tensor ops.
        hi_tag = mix32_int((step >> 32) + _GOLDEN & _MASK) ^ _GOLDEN
        lo = [mix32_int(k ^ (step & _MASK)) for k in self._stream_key(stream, substep)]
        return [lo, [mix32_int(k ^ hi_tag) for k in lo]]

    def _arange(self, n: int) -> torch.Tensor:
        if n not in self._index:
            self._index[n] = torch.arange(n, dtype=torch.int64, device=self.device).view(1, -1)
        return self._index[n]

    def _host(self, step: int | torch.Tensor) -> bool:
        # Int steps on the CPU take the numpy path: the same integers via numpy's wrapping uint32
        # arithmetic, several times faster than tiny torch ops for the small draws of a CPU step.
        return self.device.type == "cpu" and not isinstance(step, torch.Tensor)

    def _bits_np(self, stream: int, step: int, substep: int, n: int) -> np.ndarray:
        lo, hi = (np.asarray(k, dtype=np.uint32)[:, None] for k in self._host_keys(stream, step, substep))
        return mix32_np(mix32_np(np.arange(n, dtype=np.uint32)[None, :] ^ lo) ^ hi)

    def bits(self, stream: int, step: int | torch.Tensor, substep: int, n: int) -> torch.Tensor:
        """``[S, n]`` int64 values, uniform on [0, 2**32)."""
        if self._host(step):
            return torch.from_numpy(self._bits_np(stream, int(step), substep, n).astype(np.int64))
        k_lo, k_hi = self._keys(stream, step, substep)
        return mix32(mix32(self._arange(n) ^ k_lo) ^ k_hi)

    def _uniform_flat(self, stream: int, step, substep: int, n: int) -> torch.Tensor:
        # The float transforms are torch ops on both paths, so a host (int) step and a device
        # (tensor) step give bit-identical numbers on the same device.
        return ((self.bits(stream, step, substep, n) >> 8).to(torch.float32) + 0.5) * (1.0 / 16777216.0)

    def uniform(self, stream: int, step: int | torch.Tensor, substep: int, shape: Sequence[int]) -> torch.Tensor:
        """``[S, *shape]`` float32 on the open interval (0, 1), 24-bit resolution."""
        return self._uniform_flat(stream, step, substep, math.prod(shape)).view(len(self.seeds), *shape)

    def normal(self, stream: int, step: int | torch.Tensor, substep: int, shape: Sequence[int]) -> torch.Tensor:
        """``[S, *shape]`` standard normals (Box-Muller on two uniforms)."""
        n = math.prod(shape)
        half = (n + 1) // 2
        u = self._uniform_flat(stream, step, substep, 2 * half)
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
