"""What GANTracer costs a user's own training loop, at trace_every=1 and 10, against the same loop
without it.

    python benchmarks/perf_tracer.py [--loops ganpy,dcgan] [--rounds 7] [--write reports/perf.md]

Two loops, written here in our own words after the shapes users run:

- **gan.py-style MLP** (the shape of PyTorch-GAN's ``implementations/gan/gan.py``): MNIST 28x28
  flattened; G 100 -> 128 -> 256 -> 512 -> 1024 -> 784 (LeakyReLU 0.2, BatchNorm1d with eps 0.8
  after every hidden layer but the first, Tanh); D 784 -> 512 -> 256 -> 1 (LeakyReLU 0.2) ending
  in a Sigmoid, trained with ``nn.BCELoss`` on its probabilities; Adam 2e-4, betas (0.5, 0.999),
  batch 64; G stepped before D, D on the same fakes detached. The tracer gets D's logits (the
  Sigmoid's input, which the loop computes anyway), as the README asks.
- **DCGAN** (pytorch/examples ``dcgan/main.py``'s networks at 64x64, 3 channels; D on logits with
  BCE-with-logits; D stepped before G): ``spectral_cost.dcgan``.

Images are random (the cost of a step does not depend on pixel values); MNIST is not needed.

Measured in one process on one device: per round, one block of ``--steps`` steps of each variant
(the plain loop, traced every step, traced every 10th step), in a rotated order so no variant
always runs first; a variant's overhead in a round is its block time over the plain block's of
that round, and the table gives the median over rounds with its range. Each variant keeps its own
models and its own step counter, so every tracer sees the consecutive step numbers of a real loop.
Blocks are a multiple of 10 steps, so every trace_every=10 block holds the same number of rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import describe, publish, sync, table  # noqa: E402
from spectral_cost import dcgan  # noqa: E402

from ganeval.diagnostics import GANTracer  # noqa: E402

VARIANTS = ("plain", "trace_every=1", "trace_every=10")
EVERY = {"plain": None, "trace_every=1": 1, "trace_every=10": 10}


def ganpy_models(latent: int = 100, pixels: int = 784) -> tuple[nn.Module, nn.Module]:
    def layer(i: int, o: int, bn: bool) -> list[nn.Module]:
        return [nn.Linear(i, o), *([nn.BatchNorm1d(o, 0.8)] if bn else []), nn.LeakyReLU(0.2, inplace=True)]

    G = nn.Sequential(*layer(latent, 128, False), *layer(128, 256, True), *layer(256, 512, True),
                      *layer(512, 1024, True), nn.Linear(1024, pixels), nn.Tanh())
    D = nn.Sequential(nn.Linear(pixels, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                      nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1), nn.Sigmoid())
    return G, D


def ganpy_step(G: nn.Module, D: nn.Module, batch: int, device: torch.device, latent: int = 100) -> Callable:
    """One step of the gan.py shape; ``step(i, tracer)`` with the tracer's three calls when given."""
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    body, sigmoid = D[:-1], D[-1]
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)

    def step(i: int, tracer: GANTracer | None = None) -> None:
        real = torch.rand(batch, 784, device=device) * 2 - 1
        opt_g.zero_grad()
        fake = G(torch.randn(batch, latent, device=device))
        g_loss = bce(sigmoid(body(fake)), ones)
        g_loss.backward()
        if tracer is not None:
            tracer.g_step(g_loss)
        opt_g.step()
        opt_d.zero_grad()
        real_logits, fake_logits = body(real), body(fake.detach())
        d_loss = (bce(sigmoid(real_logits), ones) + bce(sigmoid(fake_logits), zeros)) / 2
        d_loss.backward()
        if tracer is not None:
            tracer.d_step(d_loss, real_logits.view(-1), fake_logits.view(-1), real=real, fake=fake.detach())
        opt_d.step()
        if tracer is not None:
            tracer.step(i, opt_d, opt_g)

    return step


def dcgan_step(G: nn.Module, D: nn.Module, batch: int, device: torch.device, nz: int = 100) -> Callable:
    """One step of pytorch/examples' DCGAN loop (D on real and fake, then G), on logits."""
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)

    def step(i: int, tracer: GANTracer | None = None) -> None:
        real = torch.rand(batch, 3, 64, 64, device=device) * 2 - 1
        fake = G(torch.randn(batch, nz, 1, 1, device=device))
        r, f = D(real).view(-1), D(fake.detach()).view(-1)
        d_loss = bce(r, ones) + bce(f, zeros)
        opt_d.zero_grad()
        d_loss.backward()
        if tracer is not None:
            tracer.d_step(d_loss, r, f, real=real, fake=fake.detach())
        opt_d.step()
        g_loss = bce(D(fake).view(-1), ones)
        opt_g.zero_grad()
        g_loss.backward()
        if tracer is not None:
            tracer.g_step(g_loss)
        opt_g.step()
        if tracer is not None:
            tracer.step(i, opt_d, opt_g)

    return step


def build(loop: str, batch: int, ngf: int, device: torch.device) -> tuple[nn.Module, nn.Module, Callable]:
    """A fresh, seeded (G, D) of ``loop`` and its step function."""
    torch.manual_seed(0)
    G, D = ganpy_models() if loop == "ganpy" else dcgan(ngf=ngf, ndf=ngf)
    G, D = G.to(device), D.to(device)
    return G, D, (ganpy_step if loop == "ganpy" else dcgan_step)(G, D, batch, device)


def measure(loop: str, batch: int, ngf: int, rounds: int, steps: int, warmup: int, device: torch.device,
            out_dir: Path) -> dict[str, list[float]]:
    """Seconds per step of each variant in each round (see the module docstring)."""
    runs = {}
    for name in VARIANTS:
        G, D, step = build(loop, batch, ngf, device)
        tracer = None if EVERY[name] is None else GANTracer(G, D, out_dir / f"{loop}-{name}",
                                                           trace_every=EVERY[name])
        runs[name] = {"step": step, "tracer": tracer, "i": 0}
    for run in runs.values():  # warm-up; the tracers' first rows (power iteration to convergence) are not timed
        for _ in range(warmup):
            run["step"](run["i"], run["tracer"])
            run["i"] += 1
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for r in range(rounds):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
        for name in order:
            run = runs[name]
            t0 = time.perf_counter()
            for _ in range(steps):
                run["step"](run["i"], run["tracer"])
                run["i"] += 1
            sync(device)
            times[name].append((time.perf_counter() - t0) / steps)
    for run in runs.values():
        if run["tracer"] is not None:
            run["tracer"].close()
    return times


def summary(times: dict[str, list[float]]) -> dict[str, tuple[float, float, float]]:
    """Per traced variant: (median, lowest, highest) over rounds of its block time over the plain
    block's in the same round."""
    out = {}
    for name in VARIANTS[1:]:
        ratios = [t / p for t, p in zip(times[name], times["plain"])]
        out[name] = (statistics.median(ratios), min(ratios), max(ratios))
    return out


LABEL = {"ganpy": "gan.py-style MLP (MNIST shape, batch {batch})",
         "dcgan": "DCGAN 64x64 (ngf = ndf = {ngf}, batch {batch})"}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", default="ganpy,dcgan")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ganpy-steps", type=int, default=100, help="steps per block (a multiple of 10)")
    parser.add_argument("--ganpy-batch", type=int, default=64)
    parser.add_argument("--dcgan-steps", type=int, default=20, help="steps per block (a multiple of 10)")
    parser.add_argument("--dcgan-batch", type=int, default=16)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--write", type=Path, default=None, help="put the section into this markdown file")
    args = parser.parse_args(argv)
    loops = [x.strip() for x in args.loops.split(",") if x.strip()]
    for loop in loops:
        if loop not in LABEL:
            parser.error(f"unknown loop {loop!r}; choose from {', '.join(LABEL)}")
    for option in ("ganpy_steps", "dcgan_steps"):
        if getattr(args, option) % 10:
            parser.error(f"--{option.replace('_', '-')} must be a multiple of 10")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for loop in loops:
            steps, batch = (args.ganpy_steps, args.ganpy_batch) if loop == "ganpy" else (args.dcgan_steps,
                                                                                         args.dcgan_batch)
            times = measure(loop, batch, args.ngf, args.rounds, steps, args.warmup, device, Path(tmp))
            plain = statistics.median(times["plain"])
            rows.append([LABEL[loop].format(batch=batch, ngf=args.ngf), "plain (no tracer)",
                         f"{1000 * plain:.2f}", "1.00×", "–"])
            for name, (mid, lo, hi) in summary(times).items():
                rows.append(["", name, f"{1000 * statistics.median(times[name]):.2f}", f"{mid:.3f}×",
                             f"{lo:.3f}–{hi:.3f}×"])
    body = (f"Device: {describe(device)}. `python benchmarks/perf_tracer.py` (GANTracer with its defaults: "
            f"spectral_every=10 rows, flush every 10 s). {args.rounds} rounds; per round one block of each "
            "variant, in rotated order, each variant with its own models and consecutive step numbers; "
            "'vs plain' is the median over rounds of the block time over the plain block's of the same round, "
            "with its range. Random images (a step's cost does not depend on the pixels).\n\n"
            + table(["loop", "variant", "ms per step (median)", "vs plain", "range over rounds"], rows))
    publish(body, args.write, "Tracer overhead on your own loop", device)
    return body


if __name__ == "__main__":
    main()
