"""Gradient-norm tracing for any pair of G and D modules — ganeval's own trainer uses the same code.

Your loop::

    from ganeval.diagnostics import GANTracer

    with GANTracer(G, D, "runs/my-gan") as tracer:       # trace.csv, layers.json, events.json
        for step in range(steps):                          # a global step, not a per-epoch index
            for _ in range(n_critic):                      # 1 for a plain GAN
                d_loss, real_logits, fake_logits = ...     # your D loss (with any penalty) and outputs
                opt_d.zero_grad(); d_loss.backward()
                tracer.d_step(d_loss, real_logits, fake_logits, penalty=gp)  # every critic update
                opt_d.step()
            g_loss = ...
            opt_g.zero_grad(); g_loss.backward()
            tracer.g_step(g_loss)                          # reads G's gradients now
            opt_g.step()
            tracer.step(step, opt_d, opt_g)                # one trace row (every `trace_every` steps)

then ``ganeval report runs/my-gan``. Leaving the ``with`` block, normally or by an exception,
writes trace.csv and events.json (without ``with``, call ``tracer.close()``). Nothing is read back
to the host per step, so on a GPU the tracer adds no synchronisation; rows are copied out and
trace.csv is rewritten atomically every ``flush_seconds`` (10 s) and every ``flush_every`` rows,
so a killed loop leaves a readable trace up to its last flush (no events.json then: ``ganeval
report`` detects the events from the trace). layers.json, written at the start, lists each
network's layers in model order with their type (``{"D": [[name, type], ...], "G": [...]}``).

Step numbers must increase. If they go backwards (a per-epoch index passed as ``step``), the
tracer warns once and from then on numbers the rows itself, continuing from the last step, so
the trace stays one increasing series (its steps are then the tracer's count, not yours).

Logits, not probabilities: pass D's pre-sigmoid outputs to ``d_step`` (for ``nn.BCELoss`` after
a sigmoid, the input of that sigmoid). Given probabilities, ``r_t`` is always 1 and saturated
outputs are exactly 1.0 (or 0.0) for real and fake alike: they tie, so ``d_real_above_fake``
falls to 0 where logits would still rank real above fake, and the discriminator_saturation event
fires (correctly: such a D gives no gradient). When D's last module is an ``nn.Sigmoid`` and the
outputs given to the first ``d_step`` are that module's own outputs (the same memory, e.g.
``D(x).view(-1)``), the tracer warns once; logits taken before the sigmoid get no warning.

What it costs: on a step that gets no row (``trace_every`` > 1) ``d_step`` and ``g_step`` copy and
measure nothing. Which steps get a row is decided from the step numbers seen so far (the next step
is expected one increment after the last), so the gradients of the steps that will be recorded are
copied when they are read. A loop whose step numbers jump irregularly onto a recorded step loses
that row, with a warning; after two such rows the tracer copies every step, as trace_every=1 does.

Columns of trace.csv (one row per logged step; "D outputs" are what ``d_step`` was given):

- ``step``; ``wall_time``: seconds since the tracer (or the run) started.
- ``d_loss``, ``g_loss``: the losses as given; ``penalty``: D's gradient penalty term (0 if none).
- ``d_real``, ``d_fake``: mean D output on the real and on the fake batch.
- ``d_real_above_fake``: fraction of the batch where D's output on real sample i exceeds its
  output on fake sample i (0.5: no separation; 1: D separates every pair).
- ``d_tied``: fraction of the batch where the two outputs are exactly equal (0 for any working D).
- ``d_out_std``: standard deviation of D's outputs over real and fake together, in output units
  (0: D outputs a constant).
- ``r_t``: mean sign of D's output on real (the ADA overfitting heuristic; needs logits).
- ``d_grad_norm``, ``g_grad_norm``: L2 norm of all of D's / G's parameter gradients (as applied,
  after any clipping in ganeval's trainer); ``d_grad_norm.<layer>``, ``g_grad_norm.<layer>``: the
  same per layer (layers as in layers.json).
- ``sample_diversity``: mean pairwise L2 distance of up to 64 fake samples over that of real ones
  (NaN when ``d_step`` got no samples); near 0 means G's samples collapsed onto each other.
- ``d_param_norm``, ``g_param_norm``: L2 norm of all of D's / G's parameters before the step's
  first update (D's at the step's first ``d_step``, also in a multi-critic loop; G's at
  ``g_step``), so the first row is the initial weights.
- ``lr_d``, ``lr_g``: learning rate of each optimizer's first parameter group.
- ``d_sigma.<layer>``: largest singular value of D's weight, flattened to ``[out, in*k*k]``, by
  power iteration converged at the first row (within 2% of the exact value on DCGAN layers),
  re-estimated every ``spectral_every`` rows and held in between.
"""

from __future__ import annotations

import time
import warnings
import weakref
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganeval import rundir
from ganeval.diagnostics.events import Thresholds, detect, events_markdown
from ganeval.diagnostics.gradnorm import grad_norms, layer_groups, layer_types
from ganeval.diagnostics.spectral import SpectralMonitor, spectral_weights
from ganeval.diagnostics.trace import TraceLog, read_trace, tensorboard_writer

_DIVERSITY_SAMPLES = 64


def batch_spread(x: torch.Tensor) -> torch.Tensor:
    """``x [S, B, ...]`` -> ``[S]``: mean L2 distance between distinct pairs of (up to 64) samples of
    each seed's batch, the diversity signal of the collapse detector (raw values, no features)."""
    flat = x[:, :_DIVERSITY_SAMPLES].detach().flatten(2).float()
    n = flat.shape[1]
    return torch.cdist(flat, flat).sum(dim=(1, 2)) / max(n * (n - 1), 1)


#: The per-step columns, in trace.csv order (per-layer columns follow; see the module docstring).
SCALAR_COLUMNS = ("d_loss", "g_loss", "penalty", "d_real", "d_fake", "d_real_above_fake", "d_tied", "d_out_std",
                  "r_t", "d_grad_norm", "g_grad_norm", "sample_diversity", "d_param_norm", "g_param_norm",
                  "lr_d", "lr_g")


def _per_seed_value(value: float | torch.Tensor, S: int, dev: torch.device) -> torch.Tensor:
    """``[S]`` float32: a shared value (a float) or one value per member (a study's learning rates)."""
    if isinstance(value, torch.Tensor):
        return value.detach().float().to(dev).expand(S)
    return torch.full((S,), float(value), device=dev)


def _param_norm(params: Sequence[torch.Tensor], seeds: int | None) -> torch.Tensor:
    sq = [p.detach().float().square().reshape(seeds, -1).sum(1) if seeds else p.detach().float().square().sum().view(1)
          for p in params]
    return torch.stack(sq).sum(0).sqrt()


class StepStatistics:
    """One trace row per seed from a training step's tensors (the columns are listed in the module
    docstring); also the layer list of ``layers.json``.

    ``seeds=None``: plain modules (one model); otherwise seed-batched modules whose parameters
    have a leading seed dimension. All inputs and outputs stay on the training device.
    """

    def __init__(self, G: nn.Module, D: nn.Module, seeds: int | None, spectral_every: int = 1):
        self.seeds = seeds
        self.g_groups = layer_groups(G)
        self.d_groups = layer_groups(D)
        self.g_params = [p for _, ps in self.g_groups for p in ps]
        self.d_params = [p for _, ps in self.d_groups for p in ps]
        self.spectral = SpectralMonitor(spectral_weights(D, seeds), seeds)
        self.spectral_every = spectral_every
        self._layers = {"D": layer_types(D), "G": layer_types(G)}
        self._sigma: torch.Tensor | None = None
        self._calls = 0
        self.columns = [*SCALAR_COLUMNS,
                        *(f"d_grad_norm.{n}" for n, _ in self.d_groups),
                        *(f"g_grad_norm.{n}" for n, _ in self.g_groups),
                        *(f"d_sigma.{n}" for n in self.spectral.names)]

    def layers(self) -> dict[str, list[list[str]]]:
        """``{"D": [[layer, type name], ...], "G": [...]}`` in model order: the ``layers.json``
        document, naming the layers of the per-layer columns."""
        return {k: [list(x) for x in v] for k, v in self._layers.items()}

    def param_norm(self, params: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[S]`` L2 norm of ``params`` (``d_params`` or ``g_params``) now, per seed."""
        return _param_norm(params, self.seeds)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The power-iteration vectors and the last sigma estimate (seed dim first), so a resumed
        run traces exactly what an uninterrupted one would (a saved sigma also means the vectors
        have converged)."""
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
            self.spectral.converged = True

    def row(self, *, d_loss: torch.Tensor, g_loss: torch.Tensor, penalty: torch.Tensor, d_real: torch.Tensor,
            d_fake: torch.Tensor, d_grads: Sequence[torch.Tensor | None] | None = None,
            g_grads: Sequence[torch.Tensor | None] | None = None, real: torch.Tensor | None = None,
            fake: torch.Tensor | None = None, lr_d: float | torch.Tensor = float("nan"),
            lr_g: float | torch.Tensor = float("nan"),
            spectral: bool | None = None, d_param_norm: torch.Tensor | None = None,
            g_param_norm: torch.Tensor | None = None) -> torch.Tensor:
        """``[S, len(columns)]``. Losses ``[S]``; D outputs ``[S, B]``; samples ``[S, B, ...]``;
        parameter norms ``[S]`` (default: the parameters now), measured where the gradients were."""
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
        if d_param_norm is None:
            d_param_norm = self.param_norm(self.d_params)
        if g_param_norm is None:
            g_param_norm = self.param_norm(self.g_params)
        # torch.full, not torch.tensor: a fill kernel is allowed inside a CUDA-graph capture, a
        # host-to-device copy is not.
        lr = torch.stack([_per_seed_value(lr_d, S, dev), _per_seed_value(lr_g, S, dev)], dim=1)
        real_out, fake_out = d_real.detach().float(), d_fake.detach().float()
        both = torch.cat([real_out, fake_out], dim=-1)
        scalars = torch.stack([
            d_loss.detach().float(), g_loss.detach().float(), penalty.detach().float(),
            real_out.mean(-1), fake_out.mean(-1),
            (real_out > fake_out).float().mean(-1), (real_out == fake_out).float().mean(-1),
            both.std(dim=-1, correction=0), torch.sign(real_out).mean(-1),
            d_norms[:, 0], g_norms[:, 0], diversity,
            d_param_norm.detach().float().to(dev), g_param_norm.detach().float().to(dev),
        ], dim=1)
        return torch.cat([scalars, lr, d_norms[:, 1:], g_norms[:, 1:], sigma.to(dev)], dim=1)


def detect_and_write_events(run_dir: Path, thresholds: Thresholds = Thresholds(),
                 checkpoint_metrics: Sequence[tuple[int, dict[str, float]]] = (),
                 tensorboard: bool | Any = False) -> list[dict[str, Any]]:
    """Detect events in ``run_dir/trace.csv`` and write ``events.json``; returns the events.

    ``tensorboard``: also write them as the text ``events`` of the run folder's TensorBoard log
    (True: a writer of its own; or an open ``SummaryWriter`` to use)."""
    rows = read_trace(rundir.trace_path(run_dir))
    found = detect(rows, thresholds, checkpoint_metrics)
    rundir.write_events(run_dir, thresholds.to_dict(), found.events, transients=found.transients)
    if tensorboard is not False and tensorboard is not None:
        writer = tensorboard_writer(Path(run_dir)) if tensorboard is True else tensorboard
        last = int(rows[-1]["step"]) if rows else 0
        writer.add_text("events", events_markdown(found.events, found.transients), global_step=last)
        writer.flush()
        if tensorboard is True:
            writer.close()
    return found.events


class GANTracer:
    """Traces a user's own G and D (plain ``nn.Module`` s); see the module docstring for the loop.

    ``trace_every``: a row every that many steps. ``spectral_every``: D's spectral norms are
    re-estimated every that many rows (held in between). Rows reach ``trace.csv`` at least every
    ``flush_seconds`` seconds of wall time and every ``flush_every`` rows, and at :meth:`close`.
    ``tensorboard``: also write every row as TensorBoard scalars and, at :meth:`close`, the events
    as text, into ``run_dir`` (``tensorboard --logdir runs/``; needs ``pip install tensorboard``).
    """

    def __init__(self, G: nn.Module, D: nn.Module, run_dir: str | Path, trace_every: int = 1,
                 spectral_every: int = 10, flush_every: int = 1000, flush_seconds: float = 10.0,
                 thresholds: Thresholds = Thresholds(), tensorboard: bool = False):
        if trace_every < 1 or spectral_every < 1 or flush_every < 1:
            raise ValueError("trace_every, spectral_every and flush_every must be positive")
        if not flush_seconds > 0:
            raise ValueError(f"flush_seconds must be positive, got {flush_seconds}")
        self.run_dir = Path(run_dir)
        self.stats = StepStatistics(G, D, seeds=None, spectral_every=spectral_every)
        self.trace = TraceLog([rundir.trace_path(self.run_dir)], self.stats.columns, tensorboard=tensorboard)
        if tensorboard:
            self.trace.writers()  # fail now, not at the first flush, when TensorBoard is missing
        self.trace_every, self.flush_every, self.thresholds = trace_every, flush_every, thresholds
        self.flush_seconds = flush_seconds
        self._d: dict[str, Any] | None = None
        self._g: dict[str, Any] | None = None
        self._rows = 0
        self._last_step: int | None = None  # the caller's last step number
        self._offset = 0  # added to the caller's step numbers once they went backwards
        self._warned_backwards = self._closed = False
        self._increment = 1  # how far the caller's step numbers advanced last time
        self._capture: bool | None = None  # whether this step's d_step/g_step copy: decided at the first call
        self._missed = False  # a d_step/g_step of this step was not copied (no row expected)
        self._lost_rows = 0  # recorded steps that arrived without their copies (irregular step numbers)
        self._every_step = trace_every == 1
        self._t0 = time.perf_counter()
        self._last_flush = time.monotonic()
        rundir.ensure_writable(self.run_dir)
        rundir.events_path(self.run_dir).unlink(missing_ok=True)  # an earlier run's events are not this run's
        rundir.write_layers(self.run_dir, self.stats.layers())
        self._sigmoid_outputs: deque = deque(maxlen=16)
        self._sigmoid_hook = self._watch_sigmoid(D)

    @staticmethod
    def _lr(opt) -> float:
        return float(opt.param_groups[0]["lr"]) if opt is not None else float("nan")

    def _watch_sigmoid(self, D: nn.Module):
        """A D that ends in an ``nn.Sigmoid`` module (pytorch/examples' DCGAN, PyTorch-GAN's gan.py)
        gives probabilities, but a user may well pass the logits from before it. So the tracer
        remembers (weakly: nothing is kept alive) the outputs that module produces, and the first
        ``d_step`` warns only if it was given those very tensors (or views of them). (Values prove
        nothing: a fresh D's logits often lie in [0, 1] too.)"""
        leaves = [m for m in D.modules() if next(m.children(), None) is None]
        if not leaves or not isinstance(leaves[-1], nn.Sigmoid):
            return None

        def remember(module, inputs, output):
            if isinstance(output, torch.Tensor):
                self._sigmoid_outputs.append(weakref.ref(output))

        return leaves[-1].register_forward_hook(remember)

    def _check_probabilities(self, *given: torch.Tensor) -> None:
        """At the first ``d_step``: warn once if D's outputs given are its final Sigmoid's outputs,
        then stop watching (the loop passes the same kind of outputs every step)."""
        if self._sigmoid_hook is None:
            return
        produced = {t.untyped_storage().data_ptr() for t in (ref() for ref in self._sigmoid_outputs) if t is not None}
        self._sigmoid_hook.remove()
        self._sigmoid_hook = None
        self._sigmoid_outputs.clear()
        if any(isinstance(x, torch.Tensor) and x.numel() and x.untyped_storage().data_ptr() in produced for x in given):
            warnings.warn("GANTracer: d_step was given the outputs of D's final Sigmoid, i.e. probabilities; pass the "
                          "pre-sigmoid logits if you can. With probabilities r_t is always 1, and outputs that "
                          "saturate at exactly 1.0 (or 0.0) tie, so d_real_above_fake drops to 0 and the "
                          "discriminator_saturation event reports it", stacklevel=3)

    def _next_step(self) -> int | None:
        """The step number the step under way is expected to carry (None before the first step)."""
        return None if self._last_step is None else self._last_step + self._increment

    def _capturing(self) -> bool:
        """Whether the step under way will get a row, so that ``d_step``/``g_step`` must copy its
        gradients and weight norms now (decided once per step, at its first call)."""
        if self._capture is None:
            nxt = self._next_step()
            self._capture = self._every_step or nxt is None or nxt % self.trace_every == 0
        if not self._capture:
            self._missed = True
        return self._capture

    def d_step(self, d_loss: torch.Tensor, real_logits: torch.Tensor, fake_logits: torch.Tensor,
               real: torch.Tensor | None = None, fake: torch.Tensor | None = None,
               penalty: torch.Tensor | None = None) -> None:
        """After D's backward: D's loss and outputs on real and fake ``[B]`` (logits preferred;
        samples optional, for the diversity signal); ``penalty``: the gradient-penalty term already
        inside ``d_loss``, if any. Reads D's gradients now, before your optimizer clears or changes
        them. Call it after every critic update of a multi-critic loop: the row keeps the loss,
        outputs and gradients of the step's last call and the weight norm of its first (the
        weights before the step's first D update). On a step that gets no row it does nothing."""
        self._check_probabilities(real_logits, fake_logits)
        if not self._capturing():
            return
        grads = [p.grad.detach().clone() if p.grad is not None else None for p in self.stats.d_params]
        # The weight norm is the one at the step's *first* critic update: in a multi-critic loop
        # (n_critic d_steps per step) the later calls see weights the step already changed, and a
        # D that blows up inside step 0 must show its initial weights in row 0.
        first = self._d["param_norm"] if self._d is not None else self.stats.param_norm(self.stats.d_params)
        self._d = {"loss": d_loss.detach().reshape(1), "real": real_logits.detach().reshape(1, -1),
                   "fake": fake_logits.detach().reshape(1, -1), "grads": grads,
                   "param_norm": first,
                   "penalty": (penalty.detach().reshape(1) if penalty is not None else torch.zeros(1, device=d_loss.device)),
                   "real_x": real.detach().unsqueeze(0) if real is not None else None,
                   "fake_x": fake.detach().unsqueeze(0) if fake is not None else None}

    def g_step(self, g_loss: torch.Tensor) -> None:
        """After G's backward: G's loss. Reads G's gradients and weight norm now (on a step that
        gets a row; otherwise it does nothing)."""
        if not self._capturing():
            return
        self._g = {"loss": g_loss.detach().reshape(1), "param_norm": self.stats.param_norm(self.stats.g_params),
                   "grads": [p.grad.detach().clone() if p.grad is not None else None for p in self.stats.g_params]}

    def _logical_step(self, step: int) -> int:
        """The step number the trace records: ``step``, or, once the caller's numbers went backwards
        (a per-epoch counter), the tracer's own count continuing from the last step."""
        step = int(step)
        if self._last_step is not None and step + self._offset <= self._last_step:
            if not self._warned_backwards:
                self._warned_backwards = True
                warnings.warn(f"GANTracer: step went backwards (got {step} after {self._last_step - self._offset}); "
                              "pass a global step counter. The trace continues from step "
                              f"{self._last_step + 1} with its own count.", stacklevel=3)
            self._offset = self._last_step + 1 - step
        if self._last_step is not None:
            self._increment = step + self._offset - self._last_step
        self._last_step = step + self._offset
        return self._last_step

    def step(self, step: int, opt_d=None, opt_g=None) -> None:
        """End of a training step: records a row every ``trace_every`` steps (no host sync), and
        writes trace.csv when ``flush_seconds`` have passed since the last write."""
        step = self._logical_step(step)
        if step % self.trace_every == 0 and (self._d is None or self._g is None) and self._missed:
            self._lost_row(step)
        if step % self.trace_every == 0 and self._d is not None and self._g is not None:
            d, g = self._d, self._g
            row = self.stats.row(d_loss=d["loss"], g_loss=g["loss"], penalty=d["penalty"], d_real=d["real"],
                                 d_fake=d["fake"], d_grads=d["grads"], g_grads=g["grads"], real=d["real_x"],
                                 fake=d["fake_x"], lr_d=self._lr(opt_d), lr_g=self._lr(opt_g),
                                 d_param_norm=d["param_norm"], g_param_norm=g["param_norm"])
            self.trace.record(step, row, time.perf_counter() - self._t0)
            self._rows += 1
            if self._rows % self.flush_every == 0:
                self.flush()
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()
        self._d = self._g = None
        self._capture, self._missed = None, False

    def _lost_row(self, step: int) -> None:
        """A recorded step whose d_step/g_step did not copy: the step numbers jumped onto it. Its
        row is left out (gradients read now would hold later backward passes); the tracer warns
        once, and after a second such row copies on every step."""
        self._lost_rows += 1
        if self._lost_rows == 1:
            warnings.warn(f"GANTracer: step {step} came after step {step - self._increment}, not at the expected "
                          f"step, so its gradients were not copied and its row is left out; pass step numbers that "
                          f"advance evenly (a second such step makes the tracer copy on every step)", stacklevel=3)
        if self._lost_rows >= 2:
            self._every_step = True

    def flush(self) -> None:
        """Write the rows so far to trace.csv now (atomically: a reader never sees half a file)."""
        self.trace.flush()
        self._last_flush = time.monotonic()

    def close(self) -> list[dict[str, Any]]:
        """Write trace.csv and events.json; returns the events. Closing twice is harmless."""
        if not self._closed:
            self.flush()
            self._closed = True
            if self._sigmoid_hook is not None:
                self._sigmoid_hook.remove()
                self._sigmoid_hook = None
            writers = self.trace.writers() if self.trace.tensorboard else None
            self._events = detect_and_write_events(self.run_dir, self.thresholds,
                                                   tensorboard=writers[0] if writers else False)
            self.trace.close()
        return self._events

    def __enter__(self) -> GANTracer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # also when the loop raised: the trace so far and its events are written
