"""Can this bench run here? Checked before any work starts, so an absurd setting is one line, not a
crash an hour in: the model family accepts the benchmark's data, the memory a cell needs fits the
machine, and a large grid prints how long it will take.

Memory is estimated without allocating: G and D are built and run on PyTorch's ``meta`` device
(shapes only) to count parameters and the activations of one training step; optimizer state,
gradients and the evaluation's samples are added per seed. It is an estimate (allocator overhead
and temporary buffers are not counted), used with a margin: above 90 % of what the device has
free the cell is refused, above 50 % a warning is logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ganeval.benchmarks import get_benchmark
from ganeval.errors import SpecError
from ganeval.models import MODELS

log = logging.getLogger(__name__)

GIB = 1024 ** 3
REFUSE_ABOVE = 0.9
WARN_ABOVE = 0.5
#: A grid larger than this many seed-steps gets a measured time estimate before it starts.
LARGE_GRID = 200_000


def check_model(run) -> None:
    """The run's model family must accept its benchmark's data (e.g. DCGAN needs 28x28 images)."""
    shape = tuple(get_benchmark(run.benchmark).data_shape)
    problem = MODELS.get(run.model).rejects(shape)
    if problem:
        raise SpecError(f"{run.cell_key}: model {run.model} {problem}; {run.benchmark} samples have shape "
                        f"[{', '.join(map(str, shape))}]")
    if run.simultaneous and run.n_critic != 1:
        raise SpecError(f"{run.cell_key}: simultaneous updates take one D and one G gradient at the same point; "
                        f"n_critic must be 1, got {run.n_critic}")
    if run.batch_size % run.pack:
        raise SpecError(f"{run.cell_key}: batch_size {run.batch_size} is not a multiple of pack {run.pack} "
                        "(a packed D judges pack samples at once)")


@dataclass(frozen=True)
class MemoryEstimate:
    train_bytes: int
    eval_bytes: int
    parameters: int

    @property
    def peak(self) -> int:
        return max(self.train_bytes, self.eval_bytes)

    def describe(self) -> str:
        which = "training" if self.train_bytes >= self.eval_bytes else "evaluation"
        return (f"about {self.peak / GIB:.1f} GiB at its peak ({which}; {self.parameters:,} parameters over all "
                f"seeds, training {self.train_bytes / GIB:.2f} GiB, evaluation {self.eval_bytes / GIB:.2f} GiB)")


def _activation_numel(module: torch.nn.Module, *inputs: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Output of ``module(*inputs)`` on the meta device and the elements every submodule produced
    (what autograd keeps for the backward pass, to first order)."""
    total = 0

    def hook(_, __, out):
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel()

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        out = module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return out, total


def estimate_memory(run, n_seeds: int) -> MemoryEstimate:
    """Bytes one cell of ``n_seeds`` seeds needs for a training step and for its evaluation."""
    from ganeval.models import build_models

    bench = get_benchmark(run.benchmark)
    shape = tuple(bench.data_shape)
    with torch.device("meta"):  # one seed: every tensor of a seed-batched model scales with the seeds
        G, D = build_models(run, [0], shape)
        z = torch.zeros(1, run.batch_size, run.z_dim)
        fake, g_act = _activation_numel(G, z)
        _, d_act = _activation_numel(D, fake)
    params = n_seeds * sum(p.numel() for p in (*G.parameters(), *D.parameters()))
    g_params = n_seeds * sum(p.numel() for p in G.parameters())
    g_act, d_act = n_seeds * g_act, n_seeds * d_act
    # weights, gradients, two Adam moments, the EMA copy of G; activations of G and of D on real and
    # fake (and a gradient penalty's extra pass), kept for backward and matched by their gradients.
    state = params * 4 + g_params * (1 if run.ema_beta > 0 else 0)
    passes = 3 + (1 if (run.gp_weight > 0 or run.r1_gamma > 0) else 0)
    activations = 2 * (g_act + passes * d_act)
    train = 4 * (state + activations + 2 * n_seeds * run.batch_size * math.prod(shape))
    n_eval = max(run.eval_samples, run.fidelity_samples if run.fidelity else 0)
    # generated samples for every seed (float while generated, a working copy while scored), and
    # the assignment of each sample to the modes
    eval_ = 4 * (3 * n_seeds * n_eval * math.prod(shape) + 2 * n_eval * bench.n_modes)
    return MemoryEstimate(int(train), int(eval_), int(params))


def available_bytes(device: torch.device) -> tuple[int, str] | None:
    """Free memory of ``device`` and how it was read; None when it cannot be read."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free), f"free on {torch.cuda.get_device_name(device)}"
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available RAM"
    except OSError:
        return None
    return None


def check_memory(run, n_seeds: int, device: torch.device) -> MemoryEstimate:
    """Refuse a cell whose estimate exceeds 90 % of the device's free memory; warn above 50 %."""
    estimate = estimate_memory(run, n_seeds)
    free = available_bytes(device)
    if free is None:
        return estimate
    limit, where = free
    if estimate.peak > REFUSE_ABOVE * limit:
        raise SpecError(f"{run.cell_key} with {n_seeds} seed(s) needs {estimate.describe()}; this machine has "
                        f"{limit / GIB:.1f} GiB {where}. Lower batch_size, hidden, z_dim, eval_samples or the seeds")
    if estimate.peak > WARN_ABOVE * limit:
        log.warning("%s with %d seed(s) needs %s, more than half of the %.1f GiB %s", run.cell_key, n_seeds,
                    estimate.describe(), limit / GIB, where)
    return estimate


def seconds_per_step(run, n_seeds: int, device: torch.device, steps: int = 3) -> float:
    """Measured wall time of one training step of ``n_seeds`` seeds (after one warm-up step)."""
    import tempfile
    from pathlib import Path

    from ganeval.train.trainer import CellTrainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = CellTrainer(run, list(range(n_seeds)), [Path(tmp) / str(k) for k in range(n_seeds)], device,
                              cuda_graph=False)
        trainer.train_step(0, record=False)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for step in range(1, steps + 1):
            trainer.train_step(step, record=False)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - t0) / steps


def estimate_time(cells: Sequence[tuple[object, int]], device: torch.device, probe_seeds: int = 2) -> float:
    """Seconds to train ``cells`` ((RunSpec, pending members) each; a member is a seed, or a study's
    (setting, seed) pair): each distinct cell structure is timed on ``probe_seeds`` members for a
    few steps and scaled linearly to its member count (batched steps grow at most linearly in
    members on a CPU; on a GPU this over-estimates)."""
    from ganeval.train.members import structure

    measured: dict[str, float] = {}
    total = 0.0
    for run, n_seeds in cells:
        if n_seeds == 0:
            continue
        key = structure(run)  # a study's members differing in batchable settings time alike
        k = min(probe_seeds, n_seeds)
        if key not in measured:
            measured[key] = seconds_per_step(run, k, device) / k
        total += measured[key] * n_seeds * run.steps
    return total


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
