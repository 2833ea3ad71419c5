"""Shared helpers of the speed benchmarks: timing, memory, device description, report tables."""

from __future__ import annotations

import platform
import resource
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], None], device: torch.device, min_time: float, warmup: int) -> tuple[float, int]:
    """Seconds per call of ``fn`` after ``warmup`` calls, over at least ``min_time`` seconds."""
    for _ in range(warmup):
        fn()
    sync(device)
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        if n % 5 == 0:
            sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                return elapsed / n, n


def interleaved(fns: dict[str, Callable[[], None]], device: torch.device, min_time: float, rounds: int = 3,
                warmup: int = 3) -> dict[str, float]:
    """Best seconds per call of each function over ``rounds`` interleaved rounds: on a shared,
    noisy machine the best of interleaved rounds compares configurations fairly."""
    best = {k: float("inf") for k in fns}
    for k, fn in fns.items():
        for _ in range(warmup):
            fn()
    sync(device)
    for _ in range(rounds):
        for k, fn in fns.items():
            per_call, _ = timed(fn, device, min_time, warmup=0)
            best[k] = min(best[k], per_call)
    return best


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float | None:
    """CUDA: peak allocated by torch since the last reset. CPU: None — the process's peak RSS only
    grows, so it cannot be told apart per configuration measured in one process."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def process_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mb(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def memory_note(device: torch.device) -> str:
    if device.type == "cuda":
        return "Peak MB: CUDA allocator peak of each configuration."
    return (f"Peak MB: not per configuration on CPU (one process); the whole process peaked at "
            f"{process_peak_rss_mb():,.0f} MB resident.")


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU {platform.machine()} ({torch.get_num_threads()} threads)"
    return (f"{name}; torch {torch.__version__}; CUDA {torch.version.cuda or '-'}; "
            f"python {platform.python_version()}")


def table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def write_section(path, title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of a markdown file, keeping the others."""
    from pathlib import Path

    path = Path(path)
    text = path.read_text() if path.exists() else "# ganeval speed figures\n\nWritten by `benchmarks/perf_*.py`.\n"
    marker = f"\n## {title}\n"
    if marker in text:
        head, rest = text.split(marker, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else ""
        text = head + marker + body.rstrip() + "\n" + tail
    else:
        text = text.rstrip() + "\n" + marker + body.rstrip() + "\n"
    path.write_text(text)


def publish(body: str, write_to, title: str, device: torch.device | None = None) -> None:
    """Print a measured section and, with ``--write``, put it in that markdown file under
    ``## title (CUDA|CPU)`` (the device suffix when ``device`` is given)."""
    print(body)
    if write_to:
        suffix = f" ({'CUDA' if device.type == 'cuda' else 'CPU'})" if device is not None else ""
        write_section(write_to, title + suffix, body)


def trainer_step(trainer, graph: bool, record_every: int) -> Callable[[], None]:
    """One training step of a ganeval CellTrainer per call, eager or from its CUDA graph, with
    statistics every ``record_every`` steps (0: never; the graph path records every step if > 0)."""
    if graph:
        from ganeval.train.graphs import GraphedSteps

        steps = GraphedSteps(trainer, record=record_every > 0)

        def step() -> None:
            steps.run(trainer.step, 0.0)
            trainer.step += 1
            if steps.full:  # nobody reads the statistics here: drop them
                steps.steps.clear()
                steps.walls.clear()
        return step

    def step() -> None:
        trainer.train_step(trainer.step, record_every > 0 and trainer.step % record_every == 0)
        trainer.step += 1
    return step


def new_trainer(run, seeds: int, device: torch.device, graph: bool):
    import tempfile
    from pathlib import Path

    from ganeval.train.trainer import CellTrainer

    tmp = Path(tempfile.mkdtemp())
    return CellTrainer(run, list(range(seeds)), [tmp / str(k) for k in range(seeds)], device, cuda_graph=graph)
