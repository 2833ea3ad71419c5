"""Gradient-norm tracing for any pair of G and D modules — ganeval's own trainer uses the same code.

Your loop::

    from ganeval.diagnostics import GANTracer

    tracer = GANTracer(G, D, "runs/my-gan")              # trace.csv + events.json go there
    for step in range(steps):
        d_loss, real_logits, fake_logits = ...           # your D loss and D outputs
        opt_d.zero_grad(); d_loss.backward()
        tracer.d_step(d_loss, real_logits, fake_logits)   # reads D's gradients now
        opt_d.step()
        g_loss = ...
        opt_g.zero_grad(); g_loss.backward()
        tracer.g_step(g_loss)                             # reads G's gradients now
        opt_g.step()
        tracer.step(step, opt_d, opt_g)                   # one trace row (every `trace_every` steps)
    tracer.close()                                        # writes trace.csv and events.json

then ``ganeval report runs/my-gan``. Nothing is read back to the host until a flush, so on a GPU
the tracer adds no synchronisation per step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganeval import rundir
from ganeval.diagnostics.events import Thresholds, detect_events
from ganeval.diagnostics.gradnorm import grad_norms, layer_groups
from ganeval.diagnostics.spectral import SpectralMonitor, spectral_weights
from ganeval.diagnostics.trace import TraceLog, read_trace

_DIVERSITY_SAMPLES = 64


def batch_spread(x: torch.Tensor) -> torch.Tensor:
    """``x [S, B, ...]`` -> ``[S]``: mean L2 distance between distinct pairs of (up to 64) samples of
    each seed's batch, the diversity signal of the collapse detector (raw values, no features)."""
    flat = x[:, :_DIVERSITY_SAMPLES].detach().flatten(2).float()
    n = flat.shape[1]
    return torch.cdist(flat, flat).sum(dim=(1, 2)) / max(n * (n - 1), 1)


def _param_norm(params: Sequence[torch.Tensor], seeds: int | None) -> torch.Tensor:
    sq = [p.detach().float().square().reshape(seeds, -1).sum(1) if seeds else p.detach().float().square().sum().view(1)
          for p in params]
    return torch.stack(sq).sum(0).sqrt()


class StepStatistics:
    """One trace row per seed from a training step's tensors.

    ``seeds=None``: plain modules (one model); otherwise seed-batched modules whose parameters
    have a leading seed dimension. All inputs and outputs stay on the training device.
    """

    def __init__(self, G: nn.Module, D: nn.Module, seeds: int | None, spectral_every: int = 1):
        self.seeds = seeds
        self.g_groups = layer_groups(G)
        self.d_groups = layer_groups(D)
        self.g_params = [p for _, ps in self.g_groups for p in ps]
        self.d_params = [p for _, ps in self.d_groups for p in ps]
        self.spectral = SpectralMonitor(spectral_weights(D), seeds)
        self.spectral_every = spectral_every
        self._sigma: torch.Tensor | None = None
        self._calls = 0
        self.columns = ["d_loss", "g_loss", "penalty", "d_real", "d_fake", "d_real_above_fake", "r_t",
                        "d_grad_norm", "g_grad_norm", "sample_diversity", "d_param_norm", "g_param_norm",
                        "lr_d", "lr_g",
                        *(f"d_grad_norm.{n}" for n, _ in self.d_groups),
                        *(f"g_grad_norm.{n}" for n, _ in self.g_groups),
                        *(f"d_sigma.{n}" for n in self.spectral.names)]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The power-iteration vectors and the last sigma estimate (seed dim first), so a resumed
        run traces exactly what an uninterrupted one would."""
        state = {f"u{i}": u for i, u in enumerate(self.spectral._u)}
        if self._sigma is not None:
            state["sigma"] = self._sigma
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for i, u in enumerate(self.spectral._u):
            if f"u{i}" in state:
                u.copy_(state[f"u{i}"].to(u.device, u.dtype))
        if "sigma" in state:
            self._sigma = state["sigma"].to(self.spectral._u[0].device if self.spectral._u else "cpu")

    def row(self, *, d_loss: torch.Tensor, g_loss: torch.Tensor, penalty: torch.Tensor, d_real: torch.Tensor,
            d_fake: torch.Tensor, d_grads: Sequence[torch.Tensor | None] | None = None,
            g_grads: Sequence[torch.Tensor | None] | None = None, real: torch.Tensor | None = None,
            fake: torch.Tensor | None = None, lr_d: float = float("nan"), lr_g: float = float("nan"),
            spectral: bool | None = None) -> torch.Tensor:
        """``[S, len(columns)]``. Losses ``[S]``; D outputs ``[S, B]``; samples ``[S, B, ...]``."""
        S = d_loss.shape[0]
        dev = d_loss.device
        d_norms = grad_norms(self.d_groups, self.seeds, d_grads)
        g_norms = grad_norms(self.g_groups, self.seeds, g_grads)
        if real is not None and fake is not None:
            diversity = batch_spread(fake) / batch_spread(real).clamp_min(1e-12)
        else:
            diversity = torch.full((S,), float("nan"), device=dev)
        if spectral is None:  # plain tracer: count rows; the trainer decides by step
            spectral = self._calls % self.spectral_every == 0
        self._calls += 1
        if self.spectral.names and (spectral or self._sigma is None):
            self._sigma = self.spectral.estimate()
        sigma = self._sigma if self._sigma is not None else torch.zeros(S, 0, device=dev)
        # torch.full, not torch.tensor: a fill kernel is allowed inside a CUDA-graph capture, a
        # host-to-device copy is not.
        lr = torch.stack([torch.full((S,), float(lr_d), device=dev), torch.full((S,), float(lr_g), device=dev)], dim=1)
        scalars = torch.stack([
            d_loss.detach().float(), g_loss.detach().float(), penalty.detach().float(),
            d_real.detach().float().mean(-1), d_fake.detach().float().mean(-1),
            (d_real.detach() > d_fake.detach()).float().mean(-1), torch.sign(d_real.detach()).float().mean(-1),
            d_norms[:, 0], g_norms[:, 0], diversity,
            _param_norm(self.d_params, self.seeds), _param_norm(self.g_params, self.seeds),
        ], dim=1)
        return torch.cat([scalars, lr, d_norms[:, 1:], g_norms[:, 1:], sigma.to(dev)], dim=1)


def write_events(run_dir: Path, thresholds: Thresholds = Thresholds(),
                 checkpoint_metrics: Sequence[tuple[int, dict[str, float]]] = ()) -> list[dict[str, Any]]:
    """Detect events in ``run_dir/trace.csv`` and write ``events.json``; returns the events."""
    rows = read_trace(rundir.trace_path(run_dir))
    events = detect_events(rows, thresholds, checkpoint_metrics)
    rundir.write_events(run_dir, thresholds.to_dict(), events)
    return events


class GANTracer:
    """Traces a user's own G and D (plain ``nn.Module`` s); see the module docstring for the loop."""

    def __init__(self, G: nn.Module, D: nn.Module, run_dir: str | Path, trace_every: int = 1,
                 spectral_every: int = 10, flush_every: int = 1000, thresholds: Thresholds = Thresholds()):
        if trace_every < 1 or spectral_every < 1 or flush_every < 1:
            raise ValueError("trace_every, spectral_every and flush_every must be positive")
        self.run_dir = Path(run_dir)
        self.stats = StepStatistics(G, D, seeds=None, spectral_every=spectral_every)
        self.trace = TraceLog([rundir.trace_path(self.run_dir)], self.stats.columns)
        self.trace_every, self.flush_every, self.thresholds = trace_every, flush_every, thresholds
        self._d: dict[str, Any] | None = None
        self._g: dict[str, Any] | None = None
        self._rows = 0
        self._t0 = time.perf_counter()

    @staticmethod
    def _lr(opt) -> float:
        return float(opt.param_groups[0]["lr"]) if opt is not None else float("nan")

    def d_step(self, d_loss: torch.Tensor, real_logits: torch.Tensor, fake_logits: torch.Tensor,
               real: torch.Tensor | None = None, fake: torch.Tensor | None = None,
               penalty: torch.Tensor | None = None) -> None:
        """After D's backward: D's loss and outputs on real and fake ``[B]`` (samples optional, for
        the diversity signal). Reads D's gradients now, before your optimizer clears them."""
        grads = [p.grad.detach().clone() if p.grad is not None else None for p in self.stats.d_params]
        self._d = {"loss": d_loss.detach().reshape(1), "real": real_logits.detach().reshape(1, -1),
                   "fake": fake_logits.detach().reshape(1, -1), "grads": grads,
                   "penalty": (penalty.detach().reshape(1) if penalty is not None else torch.zeros(1, device=d_loss.device)),
                   "real_x": real.detach().unsqueeze(0) if real is not None else None,
                   "fake_x": fake.detach().unsqueeze(0) if fake is not None else None}

    def g_step(self, g_loss: torch.Tensor) -> None:
        """After G's backward: G's loss. Reads G's gradients now."""
        self._g = {"loss": g_loss.detach().reshape(1),
                   "grads": [p.grad.detach().clone() if p.grad is not None else None for p in self.stats.g_params]}

    def step(self, step: int, opt_d=None, opt_g=None) -> None:
        """End of a training step: records a row every ``trace_every`` steps (no host sync)."""
        if step % self.trace_every == 0 and self._d is not None and self._g is not None:
            d, g = self._d, self._g
            row = self.stats.row(d_loss=d["loss"], g_loss=g["loss"], penalty=d["penalty"], d_real=d["real"],
                                 d_fake=d["fake"], d_grads=d["grads"], g_grads=g["grads"], real=d["real_x"],
                                 fake=d["fake_x"], lr_d=self._lr(opt_d), lr_g=self._lr(opt_g))
            self.trace.record(step, row, time.perf_counter() - self._t0)
            self._rows += 1
            if self._rows % self.flush_every == 0:
                self.trace.flush()
        self._d = self._g = None

    def close(self) -> list[dict[str, Any]]:
        """Write trace.csv and events.json; returns the events."""
        self.trace.flush()
        return write_events(self.run_dir, self.thresholds)

    def __enter__(self) -> GANTracer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
