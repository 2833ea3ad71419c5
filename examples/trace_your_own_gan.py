"""Trace your own GAN training loop with ganeval, the README's snippet in a real, runnable loop.

    python examples/trace_your_own_gan.py [--out runs/trace-demo] [--steps 2000]
    ganeval report runs/trace-demo/healthy      # gradient curves, events, for any traced folder

Trains the same plain PyTorch GAN (no ganeval model, no ganeval trainer) on the ring of 8 Gaussians
three times: with a sane learning rate, a far too high one (the weights stay finite but training
dies) and an absurd one (the weights overflow), and prints the events the tracer found in each,
side by side. Only the five `tracer.` lines are ganeval.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from ganeval import get_benchmark
from ganeval.diagnostics import GANTracer


def train(run_dir: Path, lr: float, steps: int, seed: int = 0) -> list[dict]:
    torch.manual_seed(seed)
    ring = get_benchmark("ring8")
    G = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
    D = nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(256), torch.zeros(256)

    tracer = GANTracer(G, D, run_dir, trace_every=10)
    for step in range(steps):
        real = ring.sample(256)
        fake = G(torch.randn(256, 16))
        real_logits, fake_logits = D(real).squeeze(1), D(fake.detach()).squeeze(1)
        d_loss = bce(real_logits, ones) + bce(fake_logits, zeros)
        opt_d.zero_grad()
        d_loss.backward()
        tracer.d_step(d_loss, real_logits, fake_logits, real=real, fake=fake)
        opt_d.step()
        g_loss = bce(D(fake).squeeze(1), ones)  # non-saturating generator loss
        opt_g.zero_grad()
        g_loss.backward()
        tracer.g_step(g_loss)
        opt_g.step()
        tracer.step(step, opt_d, opt_g)
    events = tracer.close()
    with torch.no_grad():
        coverage = ring.evaluate(G(torch.randn(2500, 16)))
    print(f"{run_dir}: lr {lr:g}, {steps} steps -> modes covered {coverage['modes_covered']:.0f}/8, "
          f"{len(events)} event(s)")
    return events


def describe(event: dict) -> str:
    evidence = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in event["evidence"].items())
    return f"step {event['step']}: {event['kind']} ({evidence})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/trace-demo"))
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    runs = {"healthy (lr 1e-3)": train(args.out / "healthy", 1e-3, args.steps),
            "dead (lr 1e9)": train(args.out / "dead", 1e9, args.steps),
            "diverging (lr 1e30)": train(args.out / "diverging", 1e30, args.steps)}
    print()
    print("| run | events (first 5) |")
    print("|---|---|")
    for name, events in runs.items():
        shown = "<br>".join(describe(e) for e in events[:5]) or "none"
        more = f"<br>… and {len(events) - 5} more" if len(events) > 5 else ""
        print(f"| {name} | {shown}{more} |")


if __name__ == "__main__":
    main()
