"""A plain PyTorch GAN loop on the ring of 8 Gaussians, traced with GANTracer: the model and loop a
user of ganeval already has (no ganeval model, no ganeval trainer, its own data sampler).

    python examples/own_loop_ci/train_ring.py --seed 0 --out runs/own-loop/seed-0

writes ``OUT/trace/`` (trace.csv, layers.json, events.json: the GANTracer folder) and
``OUT/samples.npy`` (2,500 generated points), which ``ganeval score OUT/samples.npy --benchmark
ring8 --trace OUT/trace --out BENCH --seed K`` files as one seed-run of BENCH for ``ganeval check``
(see ci.sh). Two sabotages, for showing that the check turns red:

* ``--lr-d 10``: a broken discriminator learning rate (the default is 1e-3);
* ``--bug detach``: a classic bug, G's loss computed on detached fakes, so G never learns and
  every seed collapses (its points stay in a blob at the origin, far from every mode).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganeval.diagnostics import GANTracer

BATCH = 256
Z_DIM = 16


def ring8(n: int, generator: torch.Generator) -> torch.Tensor:
    """``[n, 2]`` points of 8 Gaussians (std 0.02) at radius 2, angles k 2 pi / 8."""
    k = torch.randint(0, 8, (n,), generator=generator)
    angle = k.double() * (2 * math.pi / 8)
    centers = torch.stack([2 * angle.cos(), 2 * angle.sin()], dim=1)
    return (centers + 0.02 * torch.randn(n, 2, generator=generator, dtype=torch.float64)).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr-d", type=float, default=1e-3)
    parser.add_argument("--lr-g", type=float, default=1e-3)
    parser.add_argument("--bug", choices=["none", "detach"], default="none")
    args = parser.parse_args()

    torch.set_num_threads(1)  # a model this small runs fastest on one thread (more oversubscribe a CI runner)
    torch.manual_seed(args.seed)
    data = torch.Generator().manual_seed(10_000 + args.seed)
    G = nn.Sequential(nn.Linear(Z_DIM, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
    D = nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))
    opt_g = torch.optim.Adam(G.parameters(), args.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), args.lr_d, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(BATCH), torch.zeros(BATCH)

    with GANTracer(G, D, args.out / "trace", trace_every=5) as tracer:
        for step in range(args.steps):
            real = ring8(BATCH, data)
            fake = G(torch.randn(BATCH, Z_DIM))
            real_logits, fake_logits = D(real).squeeze(1), D(fake.detach()).squeeze(1)
            d_loss = bce(real_logits, ones) + bce(fake_logits, zeros)
            opt_d.zero_grad()
            d_loss.backward()
            tracer.d_step(d_loss, real_logits, fake_logits, real=real, fake=fake)
            opt_d.step()
            g_in = fake.detach() if args.bug == "detach" else fake  # the bug: no gradient reaches G
            g_loss = bce(D(g_in).squeeze(1), ones)  # non-saturating generator loss
            opt_g.zero_grad()
            g_loss.backward()
            tracer.g_step(g_loss)
            opt_g.step()
            tracer.step(step, opt_d, opt_g)
    with torch.no_grad():
        samples = G(torch.randn(2500, Z_DIM))
    np.save(args.out / "samples.npy", samples.numpy())
    print(f"{args.out}: {len(tracer.close())} event(s); samples in {args.out / 'samples.npy'}")


if __name__ == "__main__":
    main()
