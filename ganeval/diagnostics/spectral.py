"""Largest singular value of each weight matrix by power iteration, as BigGAN monitors D.

Accurate from the first logged step: the first estimate iterates until sigma stops moving
(relative change below ``tol`` over ``CHECK_EVERY`` iterations, at most ``max_iterations``), then
every later estimate runs ``iterations`` warm-started iterations from the persistent vectors, which
track sigma as the weights drift. One iteration from a random start under-states sigma by about
20% on DCGAN-shaped layers, whose top singular values nearly tie (sigma_2 / sigma_1 > 0.98), so
convergence is slow from scratch and fast from a warm start.

Cost: one matrix-vector product each way per iteration. The first estimate reads a scalar back to
the host once per ``CHECK_EVERY`` iterations (once per run, never inside a CUDA-graph capture,
where it runs ``max_iterations`` without looking); later estimates never synchronise.

Convolution weights are flattened to ``[out, in * k * k]`` (the quantity spectral normalisation
controls, and ``torch.linalg.matrix_norm(W.flatten(1), 2)`` computes exactly). Works on plain
weights and on seed-batched ones (one estimate per seed, never mixed).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.functional import normalize

from ganeval.models.layers import as_matrices

#: iterations between two convergence checks of the first estimate
CHECK_EVERY = 10


def spectral_weights(module: nn.Module, seeds: int | None = None) -> list[tuple[str, nn.Parameter]]:
    """Every weight matrix of ``module`` worth monitoring: parameters named ``weight`` (or a
    parametrized ``weight.original``) with at least two dimensions besides the seed dimension
    that seed-batched modules (``seeds`` not None) put first: a seed-batched norm layer's
    ``[S, C]`` scale is a vector per seed, not a matrix."""
    min_dim = 2 if seeds is None else 3
    out = []
    for name, p in module.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if name.endswith("parametrizations.weight.original") or (leaf == "weight" and p.dim() >= min_dim):
            layer = name.replace(".parametrizations.weight.original", "").removesuffix(".weight")
            out.append((layer, p))
    return out


def _capturing() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


class SpectralMonitor:
    """Power-iteration estimates of the top singular value of each given weight, per seed.

    ``iterations``: warm-started iterations per estimate once converged; ``tol`` and
    ``max_iterations`` bound the first, converging estimate. ``converged`` is part of the state a
    resumed run restores (with the vectors), so it does not converge twice.
    """

    def __init__(self, weights: Sequence[tuple[str, torch.Tensor]], seeds: int | None, iterations: int = 2,
                 tol: float = 1e-4, max_iterations: int = 500):
        self.names = [n for n, _ in weights]
        self.weights = [w for _, w in weights]
        self.seeds = seeds
        self.iterations, self.tol, self.max_iterations = iterations, tol, max_iterations
        self.converged = False
        gen = torch.Generator().manual_seed(0)
        self._u = []
        for w in self.weights:
            m = as_matrices(w.detach(), seeds)
            u = torch.randn(m.shape[0], m.shape[1], generator=gen).to(w.device, torch.float32)
            self._u.append(u / u.norm(dim=1, keepdim=True))

    @staticmethod
    def _iterate(m: torch.Tensor, u: torch.Tensor, n: int) -> torch.Tensor:
        """``n`` power iterations on ``m [S, rows, cols]`` from ``u [S, rows]`` (updated in place);
        returns ``[S]`` sigma = u^T m v = ||m v||."""
        sigma = None
        for _ in range(n):
            v = normalize(torch.bmm(u.unsqueeze(1), m).squeeze(1), dim=1, eps=1e-12)
            mv = torch.bmm(m, v.unsqueeze(2)).squeeze(2)
            sigma = mv.norm(dim=1)
            u.copy_(normalize(mv, dim=1, eps=1e-12))
        return sigma

    def _matrix(self, i: int) -> torch.Tensor:
        m = as_matrices(self.weights[i].detach(), self.seeds).float()
        if self._u[i].device != m.device:  # the module moved after the monitor was built
            self._u[i] = self._u[i].to(m.device)
        return m

    @torch.no_grad()
    def estimate(self, iterations: int | None = None) -> torch.Tensor:
        """``[S, len(weights)]`` estimates of sigma_max; updates the warm-start vectors in place.

        ``iterations`` overrides the warm-start count (the first call still converges)."""
        n = self.iterations if iterations is None else iterations
        sigmas = []
        for i in range(len(self.weights)):
            m = self._matrix(i)
            if self.converged:
                sigmas.append(self._iterate(m, self._u[i], max(n, 1)))
            else:
                sigmas.append(self._converge(m, self._u[i]))
        self.converged = True
        return torch.stack(sigmas, dim=1) if sigmas else torch.zeros(self.seeds or 1, 0)

    def _converge(self, m: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        if _capturing():
            return self._iterate(m, u, self.max_iterations)
        sigma = self._iterate(m, u, CHECK_EVERY)
        done = CHECK_EVERY
        while done < self.max_iterations:
            new = self._iterate(m, u, CHECK_EVERY)
            done += CHECK_EVERY
            change = float(((new - sigma).abs() / sigma.abs().clamp_min(1e-30)).nan_to_num(0.0).max())
            sigma = new
            if change < self.tol:
                break
        return sigma
