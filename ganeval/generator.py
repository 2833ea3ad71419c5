"""Trained generators and their fixed evaluation samples, shared by the trainer and evaluation.

Evaluation never builds a trainer: :func:`load_generators` rebuilds only G (and its weight
average) from a run folder's checkpoint. The trainer hands its live modules over as the same
:class:`Generators`, so both draw the same samples from the same latent codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ganeval import rng
from ganeval.benchmarks import get_benchmark
from ganeval.errors import RunFolderError


def latent(streams: rng.SeedStreams, run, step, substep: int, n: int, stream: int = rng.NOISE) -> torch.Tensor:
    """``[S, n, z_dim]`` latent codes: N(0, I) or U(-1, 1) as the run's ``z_dist`` says."""
    shape = (n, run.z_dim)
    if run.z_dist == "uniform":
        return streams.uniform(stream, step, substep, shape) * 2.0 - 1.0
    return streams.normal(stream, step, substep, shape)


@dataclass
class Generators:
    """The seed-batched generator of one cell's ``seeds`` at ``step`` (``G_ema``: its weight average)."""

    run: object  # RunSpec
    seeds: list[int]
    G: nn.Module
    G_ema: nn.Module | None
    step: int
    elapsed: float
    streams: rng.SeedStreams
    #: each member's own settings where a study's members share the model (their metrics documents
    #: name their setting); None: every member is ``run``
    member_runs: list | None = None

    def member_run(self, k: int):
        return self.member_runs[k] if self.member_runs is not None else self.run

    @property
    def device(self) -> torch.device:
        return self.streams.device

    @torch.no_grad()
    def sample(self, n: int, raw: bool = False, chunk: int = 4096) -> torch.Tensor:
        """``[S, n, *data_shape]`` samples from each seed's generator on the fixed evaluation noise,
        in the benchmark's kept form (images as uint8): the weight average when the run keeps one,
        unless ``raw``."""
        G = self.G_ema if self.G_ema is not None and not raw else self.G
        bench = get_benchmark(self.run.benchmark)
        was_training = G.training
        G.eval()
        out = []
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            z = latent(self.streams, self.run, 0, start // chunk, m, stream=rng.EVAL)
            out.append(bench.compact(G(z).float()).cpu())
        G.train(was_training)
        return torch.cat(out, dim=1)


def build_generator(run, seeds: Sequence[int]) -> nn.Module:
    """G of ``run`` for ``seeds``, initialised exactly as the trainer initialises it."""
    from ganeval.models import build_models

    return build_models(run, seeds, get_benchmark(run.benchmark).data_shape)[0]


def _load(G: nn.Module, state: dict[str, torch.Tensor], run_dir: Path, step: int) -> nn.Module:
    """``state`` into ``G``; weights that do not fit the run's own architecture are a corrupt file."""
    try:
        G.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as exc:
        from ganeval.errors import IntegrityError
        from ganeval.rundir import checkpoint_path

        first = str(exc).strip().splitlines()[-1].strip()
        raise IntegrityError(f"{checkpoint_path(run_dir, step)}: generator weights do not fit the run's "
                             f"architecture ({first[:160]})") from None
    return G


def load_generators(run_dir: Path, step: int | None = None, device: torch.device | str = "cpu") -> Generators:
    """The generator of a run folder at checkpoint ``step`` (default: the newest that verifies)."""
    from ganeval.rundir import checkpoint_steps, latest_checkpoint, load_checkpoint, read_config

    run, seed = read_config(run_dir)
    config = run.train_config()
    if step is not None:
        if step not in checkpoint_steps(run_dir):
            steps = ", ".join(map(str, checkpoint_steps(run_dir))) or "none"
            raise RunFolderError(f"{run_dir} has no checkpoint at step {step} (it has: {steps})")
        payload = load_checkpoint(run_dir, step, config)
    else:
        payload = latest_checkpoint(run_dir, config)
    if payload is None:
        raise RunFolderError(f"{run_dir} has no usable checkpoint to evaluate")
    device = torch.device(device)
    G = _load(build_generator(run, [seed]), payload["G"], run_dir, payload["step"])
    G_ema = None
    if "G_ema" in payload:
        G_ema = _load(build_generator(run, [seed]), payload["G_ema"], run_dir, payload["step"])
        G_ema = G_ema.requires_grad_(False).to(device)
    return Generators(run, [seed], G.to(device), G_ema, int(payload["step"]), float(payload["elapsed"]),
                      rng.SeedStreams([seed], device))
