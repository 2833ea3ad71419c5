"""Largest singular value of each weight matrix by power iteration, as BigGAN monitors D.

Cheap: one matrix-vector product each way per iteration, warm-started from the previous call's
vectors, so a single iteration per logged step tracks sigma as the weights drift. Convolution
weights are flattened to ``[out, in * k * k]`` (the quantity spectral normalisation controls).
Works on plain weights and on seed-batched ones (one estimate per seed, never mixed).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ganeval.models.layers import as_matrices


def spectral_weights(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Every weight matrix of ``module`` worth monitoring: parameters named ``weight`` (or a
    parametrized ``weight.original``) with at least two dimensions besides a seed dimension."""
    out = []
    for name, p in module.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if name.endswith("parametrizations.weight.original") or (leaf == "weight" and p.dim() >= 2):
            layer = name.replace(".parametrizations.weight.original", "").removesuffix(".weight")
            out.append((layer, p))
    return out


class SpectralMonitor:
    """Power-iteration estimates of the top singular value of each given weight, per seed."""

    def __init__(self, weights: Sequence[tuple[str, torch.Tensor]], seeds: int | None, seed_dim: bool = True):
        self.names = [n for n, _ in weights]
        self.weights = [w for _, w in weights]
        self.seeds = seeds
        gen = torch.Generator().manual_seed(0)
        self._u = []
        for w in self.weights:
            m = as_matrices(w.detach(), seeds)
            u = torch.randn(m.shape[0], m.shape[1], generator=gen).to(w.device, w.dtype)
            self._u.append(u / u.norm(dim=1, keepdim=True))

    @torch.no_grad()
    def estimate(self, iterations: int = 1) -> torch.Tensor:
        """``[S, len(weights)]`` estimates of sigma_max; updates the warm-start vectors in place."""
        sigmas = []
        for i, w in enumerate(self.weights):
            m = as_matrices(w.detach(), self.seeds).float()
            u = self._u[i]
            for _ in range(iterations):
                v = torch.nn.functional.normalize(torch.bmm(u.unsqueeze(1), m).squeeze(1), dim=1, eps=1e-12)
                u_new = torch.nn.functional.normalize(torch.bmm(m, v.unsqueeze(2)).squeeze(2), dim=1, eps=1e-12)
                u.copy_(u_new)
            sigmas.append((u.unsqueeze(1) @ m @ v.unsqueeze(2)).view(-1))
        return torch.stack(sigmas, dim=1)
