"""What D's spectral norms cost and how accurate they are, on pytorch/examples' DCGAN (64x64).

1. Accuracy at the first logged step: each layer's traced sigma against the exact
   ``torch.linalg.matrix_norm(W.flatten(1), 2)``.
2. Cost: the per-step time of a plain training step (no tracing) and of the same step traced by
   GANTracer (trace_every=1; spectral_every 1 and 10), measured in the same process, interleaved;
   reported as traced / plain.

Run it against another checkout to compare (e.g. the code before a change)::

    python benchmarks/spectral_cost.py                       # this checkout
    PYTHONPATH=/path/to/old/checkout python benchmarks/spectral_cost.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings

import torch
from torch import nn

import ganeval
from ganeval.diagnostics import GANTracer


def dcgan(nz=100, ngf=64, ndf=64, nc=3):
    G = nn.Sequential(nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))  # logits: BCEWithLogits below
    for m in list(G.modules()) + list(D.modules()):
        if "Conv" in type(m).__name__:
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif "BatchNorm" in type(m).__name__:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return G, D


def make_step(G, D, B, nz=100):
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits

    def step(i, tracer=None):
        real = torch.rand(B, 3, 64, 64) * 2 - 1
        fake = G(torch.randn(B, nz, 1, 1))
        r, f = D(real).view(-1), D(fake.detach()).view(-1)
        d_loss = bce(r, torch.ones(B)) + bce(f, torch.zeros(B))
        opt_d.zero_grad()
        d_loss.backward()
        if tracer is not None:
            tracer.d_step(d_loss, r, f)
        opt_d.step()
        g_loss = bce(D(fake).view(-1), torch.ones(B))
        opt_g.zero_grad()
        g_loss.backward()
        if tracer is not None:
            tracer.g_step(g_loss)
        opt_g.step()
        if tracer is not None:
            tracer.step(i, opt_d, opt_g)

    return step


def accuracy(out_dir) -> None:
    torch.manual_seed(0)
    G, D = dcgan()
    tracer = GANTracer(G, D, out_dir, spectral_every=1)
    make_step(G, D, 8)(0, tracer)
    tracer.close()
    from ganeval.diagnostics.trace import read_trace

    row = read_trace(f"{out_dir}/trace.csv")[0]
    print("first-row sigma vs exact (weights after step 0's update):")
    for name, m in D.named_modules():
        if isinstance(m, nn.Conv2d):
            exact = float(torch.linalg.matrix_norm(m.weight.detach().flatten(1), 2))
            est = row[f"d_sigma.{name}"]
            print(f"  layer {name} {tuple(m.weight.shape)}: traced {est:.4f}, exact {exact:.4f}, "
                  f"error {100 * (est / exact - 1):+.2f}%")


def cost(batch: int, rounds: int, steps: int) -> None:
    torch.manual_seed(0)
    G, D = dcgan()
    step = make_step(G, D, batch)
    tracers = {f"spectral_every={k}": GANTracer(G, D, tempfile.mkdtemp(), spectral_every=k) for k in (1, 10)}
    for i in range(3):  # warm-up; the tracers' first estimate (convergence) is not timed
        step(i)
        for t in tracers.values():
            step(i, t)
    times = {"plain": [], **{k: [] for k in tracers}}
    i = 3
    for _ in range(rounds):  # interleaved, so machine load affects every variant alike
        for name in times:
            t0 = time.perf_counter()
            for _ in range(steps):
                step(i, tracers.get(name))
                i += 1
            times[name].append((time.perf_counter() - t0) / steps)
    plain = statistics.median(times["plain"])
    print(f"per-step time, batch {batch}, median of {rounds} rounds of {steps} steps:")
    for name, ts in times.items():
        print(f"  {name}: {1000 * statistics.median(ts):.1f} ms ({statistics.median(ts) / plain:.3f}x plain)")
    for t in tracers.values():
        t.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    print(f"ganeval from {ganeval.__file__}; torch {torch.__version__}, {args.threads} threads, CPU")
    with tempfile.TemporaryDirectory() as d:
        accuracy(d)
    cost(args.batch, args.rounds, args.steps)


if __name__ == "__main__":
    main()
