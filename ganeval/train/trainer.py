"""Seed-batched GAN training: every member of a (benchmark, loss, variant) cell — a seed, or a
(study setting, seed) pair — trains as one batched model, each with its own initialisation, data
stream, optimiser state and batchable settings (``members.py``).

Member k trained among others follows the same computation as member k trained alone (the
equality is tested to float tolerance), and a member that diverges to NaN cannot touch the others:
no operation mixes members. On CUDA the whole step can be captured in a CUDA graph (``graphs.py``).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganeval import rng
from ganeval.benchmarks import Benchmark, get_benchmark
from ganeval.diagnostics.gradnorm import squared_sums
from ganeval.diagnostics.trace import TraceLog
from ganeval.diagnostics.tracer import StepStatistics
from ganeval.errors import IntegrityError, SpecError
from ganeval.generator import Generators, latent
from ganeval.losses import get_loss, gradient_penalty, r1_penalty
from ganeval.models import build_models
from ganeval.optimizers import make_member_optimizer, make_optimizer
from ganeval.rundir import checkpoint_steps, load_checkpoint, save_checkpoint, trace_path, write_layers
from ganeval.spec import RunSpec
from ganeval.train.members import MemberRun, MemberValues
from ganeval.variants import StepContext, parse_variant

log = logging.getLogger(__name__)


def clip_per_seed(grads: Sequence[torch.Tensor], max_norm: float | torch.Tensor, seeds: int) -> tuple[torch.Tensor, ...]:
    """Scale each seed's gradients so that their total L2 norm is at most ``max_norm`` (a float, or
    one threshold per member ``[S]``)."""
    norm = squared_sums(grads, seeds).sum(dim=0).sqrt()  # [S]
    scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    return tuple(g * scale.view(seeds, *([1] * (g.dim() - 1))) for g in grads)


def _member_hyperparameter(value: Any, k: int, seeds: int) -> Any:
    """Member k's value of an optimizer hyperparameter: per-member tensors ``[S]`` (a batched
    study's learning rates) become member k's float, as a single-run optimizer holds it."""
    if isinstance(value, torch.Tensor) and value.dim() == 1 and value.shape[0] == seeds:
        return float(value[k])
    if isinstance(value, (tuple, list)):
        return type(value)(_member_hyperparameter(v, k, seeds) for v in value)
    return value


def _slice_state(state: dict[str, Any], k: int, seeds: int) -> dict[str, Any]:
    """Seed k's part of a model or optimiser state dict (tensors with a leading seed dim). A
    member's optimiser ``param_groups`` keep its own hyperparameters only, so its checkpoint is the
    one it would have written training alone."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key == "param_groups" and isinstance(value, list):
            out[key] = [{name: _member_hyperparameter(v, k, seeds) for name, v in group.items()} for group in value]
        elif isinstance(value, dict):
            out[key] = _slice_state(value, k, seeds)
        elif isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == seeds:
            out[key] = value[k:k + 1].detach().to("cpu", copy=True)
        elif isinstance(value, torch.Tensor):
            out[key] = value.detach().to("cpu", copy=True)
        else:
            out[key] = value
    return out


def _stack_states(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of :func:`_slice_state`: concatenate per-seed states along the seed dim."""
    first = states[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = _stack_states([s[key] for s in states])
        elif isinstance(value, torch.Tensor) and value.dim() > 0:
            out[key] = torch.cat([s[key] for s in states], dim=0)
        else:
            out[key] = value
    return out


def _initial_state(value: Any, members: int, device: torch.device) -> torch.Tensor:
    """A declared state's initial value for every member: ``[S]`` from a number, ``[S, *shape]`` from
    a tensor of that shape (float32 unless the tensor says otherwise)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(device).unsqueeze(0).repeat(members, *([1] * value.dim())).contiguous()
    return torch.full((members,), float(value), dtype=torch.float32, device=device)


class CellTrainer:
    """Trains the members of one cell: member k is seed ``seeds[k]`` under settings ``run`` (one
    RunSpec for all) or ``run[k]`` (a study's members, equal but for batchable settings);
    ``run_dirs[k]`` is member k's run folder."""

    def __init__(self, run: RunSpec | Sequence[RunSpec], seeds: Sequence[int], run_dirs: Sequence[Path],
                 device: torch.device, cuda_graph: bool = True):
        self.runs = [run] * len(seeds) if isinstance(run, RunSpec) else list(run)
        if len(self.runs) != len(seeds) or len(run_dirs) != len(seeds):
            raise ValueError("one run, seed and run folder per member")
        run = self.runs[0]
        self.run = run
        self.seeds = list(seeds)
        self.S = len(self.seeds)
        self.run_dirs = [Path(d) for d in run_dirs]
        self.device = torch.device(device)
        self.members = MemberValues(self.runs, self.device)
        self.benchmark: Benchmark = get_benchmark(run.benchmark)
        self.loss = get_loss(run.loss)
        self.streams = rng.SeedStreams(self.seeds, self.device)
        G, D = build_models(run, self.seeds, self.benchmark.data_shape)
        self.G, self.D = G.to(self.device), D.to(self.device)
        capturable = self.device.type == "cuda"
        # The same statistics as GANTracer (one implementation), per seed.
        self.stats = StepStatistics(self.G, self.D, self.S, run.spectral_every)
        self.columns = self.stats.columns
        self.g_params, self.d_params = self.stats.g_params, self.stats.d_params
        if self.members.varying & {"lr_d", "lr_g", "betas"}:  # a study of optimizer settings: per member
            self.opt_g = make_member_optimizer(self.runs, self.g_params, self.members.values("lr_g"), capturable)
            self.opt_d = make_member_optimizer(self.runs, self.d_params, self.members.values("lr_d"), capturable)
        else:
            self.opt_g = make_optimizer(run, self.g_params, run.lr_g, capturable)
            self.opt_d = make_optimizer(run, self.d_params, run.lr_d, capturable)
        # the batchable settings, each a float or one value per member [S]
        self.gp_weight = self.members.get("gp_weight")
        self.r1_weight = self.members.get("r1_gamma", lambda g: g / 2 * run.r1_every)
        self.clip_grad = self.members.get("clip_grad")
        clip_value = self.members.get("clip_value")
        self.clip_bounds = [(-MemberValues.view(clip_value, p), MemberValues.view(clip_value, p)) for p in self.d_params] \
            if isinstance(clip_value, torch.Tensor) else None
        self.lr_d, self.lr_g = self.members.get("lr_d"), self.members.get("lr_g")
        # stabilizers that add behaviour (a plugin's penalty or gradient hook), in the variant's order
        self.hooks = [v for v in parse_variant(run.variant) if v.has_hooks]
        self.ctx_run = MemberRun(run, self.members) if self.members.varying else run
        # state a loss or stabilizer keeps across steps, one tensor [S, ...] per name, by entry
        self.plugin_state = {key: {name: _initial_state(value, self.S, self.device) for name, value in entry.state.items()}
                             for key, entry in (("loss", self.loss), *((f"variant {v.name}", v) for v in self.hooks))
                             if entry.state}
        # a loss's own settings reach its functions as keywords (losses stay pure functions)
        self.loss_kwargs = {s.name: self.members.get(s.name) for s in self.loss.settings}
        if "loss" in self.plugin_state:
            self.loss_kwargs["state"] = self.plugin_state["loss"]
        self.G_ema: nn.Module | None = None
        if run.ema_beta > 0:  # the averaged G starts as a copy of G and is what gets evaluated
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
            self._ema_params = list(self.G_ema.parameters())
            self._raw_params = list(self.G.parameters())
            self._ema_buffers = list(self.G_ema.buffers())
            self._raw_buffers = list(self.G.buffers())
            ema_weight = self.members.get("ema_beta", lambda b: 1.0 - b)
            self._ema_weights = [MemberValues.view(ema_weight, p) for p in self._ema_params] \
                if isinstance(ema_weight, torch.Tensor) else None
        self.step = 0
        self.elapsed = 0.0
        self.configs = [r.train_config() for r in self.runs]
        self.config = self.configs[0]
        self.use_graph = cuda_graph and self.device.type == "cuda"
        self.batch_options = self.benchmark.batch_options(run)
        self.fuse_d = not any(getattr(m, "uses_batch_statistics", False) for m in self.D.modules())

    def noise(self, step, substep: int, n: int) -> torch.Tensor:
        """``[S, n, z_dim]`` training latent codes of ``step``."""
        return latent(self.streams, self.run, step, substep, n)

    # --- one step -----------------------------------------------------------------------------
    def r1_phase(self, step: int) -> bool:
        """Whether generator step ``step`` takes the R1 penalty (on all its critic steps). Lazy R1
        (Karras et al. 2020) every ``r1_every`` generator steps, scaled by ``r1_every``."""
        return self.run.r1_gamma > 0 and step % self.run.r1_every == 0

    def _update(self, params, grads, optimizer) -> tuple[torch.Tensor, ...]:
        """Clip (per seed, if asked), hand the gradients to the optimizer, step. Returns the gradients
        as applied, which is what the trace records."""
        if self.run.clip_grad > 0:
            grads = clip_per_seed(grads, self.clip_grad, self.S)
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()
        return grads

    def train_step(self, step, record: bool, spectral: bool | None = None, r1: bool | None = None) -> torch.Tensor | None:
        """n_critic D updates then g_steps G updates at ``step`` (int or 0-d device tensor); with
        ``simultaneous`` G's first gradient is taken before D's update, as in code that updates both
        players from one minibatch at once (ALI/PacGAN, VEEGAN).

        ``r1``: whether this step takes the R1 penalty (default: :meth:`r1_phase` of an int step;
        a CUDA graph captures one body per phase). Returns ``[S, C]`` statistics when ``record``;
        nothing here reads a value back to the host.
        """
        run, B = self.run, self.run.batch_size
        if r1 is None:
            if isinstance(step, torch.Tensor) and run.r1_gamma > 0 and run.r1_every > 1:
                raise ValueError("a tensor step needs r1= (lazy R1 changes the step's body)")
            r1 = run.r1_gamma > 0 and (run.r1_every == 1 or self.r1_phase(int(step)))
        zero = torch.zeros(self.S, device=self.device)
        penalty = d_norm = zero
        z = self.noise(step, run.n_critic, B)
        g_first = None
        for k in range(run.n_critic):
            real = self.benchmark.batch(self.streams, step, k, B, **self.batch_options)
            with torch.no_grad():
                fake = self.G(self.noise(step, k, B))
            if self.fuse_d:  # one pass over real and fake: same result, fewer launches
                d_real, d_fake = self.D(torch.cat([real, fake], dim=1)).chunk(2, dim=1)
            else:  # batch statistics in D: real and fake stay separate batches, as in DCGAN
                d_real, d_fake = self.D(real), self.D(fake)
            d_loss = self._per_seed(self.loss.d_loss(d_real, d_fake, **self.loss_kwargs), f"loss {run.loss}: d_loss")
            penalty = zero
            if run.gp_weight > 0:
                alpha = self.streams.uniform(rng.PENALTY, step, k, (B,))
                penalty = penalty + self.gp_weight * gradient_penalty(self.D, real, fake, alpha)
            if r1:
                penalty = penalty + self.r1_weight * r1_penalty(self.D, real, batch_dims=2)
            ctx = StepContext(self.ctx_run, step, k, self.G, self.D, real, fake, d_real, d_fake, self.streams) \
                if self.hooks else None
            for v in self.hooks:
                if v.d_penalty is not None:
                    ctx.state = self.plugin_state.get(f"variant {v.name}")
                    penalty = penalty + self._per_seed(v.d_penalty(ctx), f"variant {v.name}: d_penalty")
            grads = torch.autograd.grad((d_loss + penalty).sum(), self.d_params)
            for v in self.hooks:
                if v.d_grads is not None:
                    ctx.state = self.plugin_state.get(f"variant {v.name}")
                    grads = tuple(v.d_grads(ctx, grads))
            if record and k == run.n_critic - 1:  # the weights the traced gradients were taken at
                d_norm = self.stats.param_norm(self.d_params)
            if run.simultaneous:  # G's gradient at the D that D's own was taken at (n_critic is 1)
                g_first = self._g_gradients(z, real, step)
            grads = self._update(self.d_params, grads, self.opt_d)
            if run.clip_value > 0:
                with torch.no_grad():
                    for i, p in enumerate(self.d_params):
                        if self.clip_bounds is None:
                            p.clamp_(-run.clip_value, run.clip_value)
                        else:
                            p.clamp_(*self.clip_bounds[i])
        for i in range(run.g_steps):  # PacGAN's stacked-MNIST code updates G twice on the same z
            g_fake, g_loss, g_grads = g_first if i == 0 and g_first is not None else self._g_gradients(z, real, step)
            g_norm = self.stats.param_norm(self.g_params) if record else None
            g_grads = self._update(self.g_params, g_grads, self.opt_g)
        if self.G_ema is not None:
            self._update_ema()
        if not record:
            return None
        return self.stats.row(d_loss=d_loss, g_loss=g_loss, penalty=penalty, d_real=d_real, d_fake=d_fake,
                              d_grads=grads, g_grads=g_grads, real=real, fake=g_fake, lr_d=self.lr_d, lr_g=self.lr_g,
                              spectral=spectral, d_param_norm=d_norm, g_param_norm=g_norm)

    def _per_seed(self, value, what: str) -> torch.Tensor:
        """A loss or penalty must be one value per seed, ``[S]``: a plugin that also reduced the seed
        dimension (``.mean()``) would mix seeds, so it is refused by name, not by a shape error later."""
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != (self.S,):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise SpecError(f"{what} returned shape {shape}; it must reduce the batch only, giving one value per "
                            f"seed [seeds] = [{self.S}] (use .mean(-1), not .mean())")
        return value

    def _g_gradients(self, z: torch.Tensor, real: torch.Tensor, step) -> tuple[torch.Tensor, torch.Tensor,
                                                                               tuple[torch.Tensor, ...]]:
        """G's fake batch, loss and gradients; ``real`` (the last critic step's batch) reaches the
        loss as D's outputs only for losses that use it (relativistic ones)."""
        g_fake = self.G(z)
        d_fake = self.D(g_fake)
        d_real = None
        if self.loss.g_uses_real:
            with torch.no_grad():  # G's gradient does not flow through D(real)
                d_real = self.D(real)
        g_loss = self._per_seed(self.loss.g_loss(d_fake, d_real, **self.loss_kwargs), f"loss {self.run.loss}: g_loss")
        ctx = StepContext(self.ctx_run, step, 0, self.G, self.D, real, g_fake, d_real, d_fake, self.streams) \
            if self.hooks else None
        total = g_loss
        for v in self.hooks:
            if v.g_penalty is not None:
                ctx.state = self.plugin_state.get(f"variant {v.name}")
                total = total + self._per_seed(v.g_penalty(ctx), f"variant {v.name}: g_penalty")
        grads = torch.autograd.grad(total.sum(), self.g_params)
        for v in self.hooks:
            if v.g_grads is not None:
                ctx.state = self.plugin_state.get(f"variant {v.name}")
                grads = tuple(v.g_grads(ctx, grads))
        return g_fake, g_loss, grads

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema <- beta * ema + (1 - beta) * G, per element (so per seed, with each member's beta);
        buffers are copied."""
        if self._ema_weights is None:
            torch._foreach_lerp_(self._ema_params, self._raw_params, 1.0 - self.run.ema_beta)
        else:
            for e, r, w in zip(self._ema_params, self._raw_params, self._ema_weights):
                e.lerp_(r, w)
        for e, r in zip(self._ema_buffers, self._raw_buffers):
            e.copy_(r)

    # --- checkpoints ---------------------------------------------------------------------------
    def seed_payload(self, k: int) -> dict[str, Any]:
        return {
            "seed": self.seeds[k],
            "elapsed": self.elapsed,
            "config": self.configs[k],
            "G": _slice_state(self.G.state_dict(), k, self.S),
            "D": _slice_state(self.D.state_dict(), k, self.S),
            "opt_G": _slice_state(self.opt_g.state_dict(), k, self.S),
            "opt_D": _slice_state(self.opt_d.state_dict(), k, self.S),
            "trace_state": _slice_state(self.stats.state_dict(), k, self.S),
            **({"plugin_state": _slice_state(self.plugin_state, k, self.S)} if self.plugin_state else {}),
            **({"G_ema": _slice_state(self.G_ema.state_dict(), k, self.S)} if self.G_ema is not None else {}),
        }

    def save_checkpoints(self) -> None:
        for k, run_dir in enumerate(self.run_dirs):
            save_checkpoint(run_dir, self.step, self.seed_payload(k))

    def load_payloads(self, payloads: Sequence[dict[str, Any]]) -> None:
        self.G.load_state_dict(_stack_states([p["G"] for p in payloads]))
        self.D.load_state_dict(_stack_states([p["D"] for p in payloads]))
        self.opt_g.load_state_dict(_stack_states([p["opt_G"] for p in payloads]))
        self.opt_d.load_state_dict(_stack_states([p["opt_D"] for p in payloads]))
        self.stats.load_state_dict(_stack_states([p["trace_state"] for p in payloads]))
        if self.G_ema is not None:
            self.G_ema.load_state_dict(_stack_states([p["G_ema"] for p in payloads]))
        if self.plugin_state:
            saved = _stack_states([p.get("plugin_state", {}) for p in payloads])
            for key, tensors in self.plugin_state.items():
                for name, tensor in tensors.items():
                    if name not in saved.get(key, {}):
                        raise IntegrityError(f"the checkpoint holds no state {name!r} of {key} (saved by other code?)")
                    tensor.copy_(saved[key][name])  # in place: the step (and a CUDA graph) holds these tensors
        self.step = int(payloads[0]["step"])
        self.elapsed = max(float(p["elapsed"]) for p in payloads)

    def resume(self) -> int:
        """Continue from the newest step that every seed has a good checkpoint of; returns it."""
        common = set(checkpoint_steps(self.run_dirs[0]))
        for d in self.run_dirs[1:]:
            common &= set(checkpoint_steps(d))
        for step in sorted(common, reverse=True):
            try:
                payloads = [load_checkpoint(d, step, c) for d, c in zip(self.run_dirs, self.configs)]
            except IntegrityError as exc:
                log.warning("cannot resume from step %d: %s", step, exc)
                continue
            self.load_payloads(payloads)
            return step
        return 0

    # --- the loop -------------------------------------------------------------------------------
    def train(self, on_steps: Callable[[int], None] | None = None, stop_at: int | None = None,
              on_checkpoint: Callable[[], None] | None = None) -> None:
        """Train from ``self.step`` to ``run.steps``, checkpointing and tracing as configured.

        ``on_steps(n)`` is called after every few steps with how many were done (progress bars).
        ``stop_at`` ends the loop early at that step as if the process had been killed there:
        nothing after the last checkpoint is written. ``on_checkpoint()`` runs after each
        checkpoint but the last (e.g. to evaluate metrics over training).
        """
        run = self.run
        end = run.steps if stop_at is None else min(stop_at, run.steps)
        last = run.steps - 1
        trace = TraceLog([trace_path(d) for d in self.run_dirs], self.columns, tensorboard=run.tensorboard)
        trace.resume(self.step)
        try:
            self._train_loop(trace, end, last, on_steps, on_checkpoint)
        finally:
            trace.close()  # TensorBoard writers, if any

    def _train_loop(self, trace: TraceLog, end: int, last: int, on_steps: Callable[[int], None] | None,
                    on_checkpoint: Callable[[], None] | None) -> None:
        run = self.run
        for run_dir in self.run_dirs:
            write_layers(run_dir, self.stats.layers())
        self.G.train()
        self.D.train()
        graphed = None
        if self.use_graph and self.step < end:
            from ganeval.train.graphs import GraphedSteps

            graphed = GraphedSteps(self)
        start_wall = time.perf_counter() - self.elapsed
        reported = self.step
        while self.step < end:
            wall = time.perf_counter() - start_wall
            if graphed is not None:
                graphed.run(self.step, wall)
            else:
                record = self.step % run.trace_every == 0 or self.step == last
                spectral = (self.step // run.trace_every) % run.spectral_every == 0
                stats = self.train_step(self.step, record, spectral)
                if stats is not None:
                    trace.record(self.step, stats, wall)
            self.step += 1
            if on_steps is not None and (self.step - reported >= 50 or self.step == run.steps):
                on_steps(self.step - reported)
                reported = self.step
            checkpoint_now = self.step % run.ckpt_every == 0 or self.step == run.steps
            if graphed is not None and (checkpoint_now or graphed.full):
                graphed.drain(trace, run.trace_every, last)
            if checkpoint_now:
                self.elapsed = time.perf_counter() - start_wall
                trace.flush()
                self.save_checkpoints()
                if on_checkpoint is not None and self.step < run.steps:
                    on_checkpoint()
                    self.G.train()

    # --- sampling ---------------------------------------------------------------------------------
    def generators(self) -> Generators:
        """The live generators at the current step, for evaluation (shares the modules)."""
        return Generators(self.run, self.seeds, self.G, self.G_ema, self.step, self.elapsed, self.streams,
                          member_runs=self.runs)
