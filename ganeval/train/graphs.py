"""The training step captured in a CUDA graph.

Small GANs are launch-bound: a step is hundreds of tiny kernels, and the host cannot issue them
fast enough to keep a GPU busy. Capturing the whole step (critic steps, generator step, optimiser
updates, gradient-norm tracing) once and replaying it removes that cost. Everything the step reads
lives on the device: the step counter that keys the random streams, the parameters and optimiser
states (``capturable=True``), and a ring buffer that receives each step's statistics, copied to
the host only when the trace is flushed (no host synchronisation per step).
"""

from __future__ import annotations

import torch

from ganeval.diagnostics.trace import TraceLog

WARMUP_STEPS = 3


class GraphedSteps:
    """Runs ``trainer.train_step`` for consecutive steps, eagerly for a few warm-up steps (which are
    real training steps) and then by replaying a captured graph. A step whose body differs (the
    steps that take a lazy R1 penalty) has its own graph, warmed up and captured the same way."""

    def __init__(self, trainer, capacity: int = 1024, record: bool = True):
        self.trainer = trainer
        self.capacity = capacity
        self.record = record
        device = trainer.device
        self.step_t = torch.tensor(trainer.step, dtype=torch.int64, device=device)
        self.buffer = torch.full((capacity, trainer.S, len(trainer.columns)), float("nan"), device=device)
        self.graphs: dict[bool, torch.cuda.CUDAGraph] = {}
        self.warmed: dict[bool, int] = {True: 0, False: 0}
        self.steps: list[int] = []
        self.walls: list[float] = []

    def _body(self, r1: bool) -> None:
        stats = self.trainer.train_step(self.step_t, record=self.record, spectral=True, r1=r1)
        if stats is not None:
            slot = torch.remainder(self.step_t, self.capacity).view(1)
            self.buffer.index_copy_(0, slot, stats.unsqueeze(0))
        self.step_t += 1

    def run(self, step: int, wall: float) -> None:
        """Advance one training step (``step`` is the host's copy of the step counter)."""
        run = self.trainer.run
        phase = run.r1_gamma > 0 and (run.r1_every == 1 or self.trainer.r1_phase(step))
        if phase not in self.graphs and self.warmed[phase] < WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self._body(phase)
            torch.cuda.current_stream().wait_stream(side)
            self.warmed[phase] += 1
        else:
            if phase not in self.graphs:
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    self._body(phase)  # recorded, not executed
                self.graphs[phase] = graph
            self.graphs[phase].replay()
        self.steps.append(step)
        self.walls.append(wall)

    @property
    def full(self) -> bool:
        return len(self.steps) >= self.capacity

    def drain(self, trace: TraceLog, trace_every: int, last_step: int) -> None:
        """Move the buffered statistics of the logged steps into ``trace`` (one device copy)."""
        keep = [i for i, s in enumerate(self.steps) if s % trace_every == 0 or s == last_step]
        if keep:
            slots = torch.tensor([self.steps[i] % self.capacity for i in keep], device=self.buffer.device)
            trace.record_many([self.steps[i] for i in keep], self.buffer.index_select(0, slots),
                              [self.walls[i] for i in keep])
        self.steps.clear()
        self.walls.clear()
