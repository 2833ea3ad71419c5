"""Speed of ganeval's trainer on the ring-of-8 MLP GAN against a plain eager PyTorch loop.

    python benchmarks/perf_mog.py [--device cuda] [--seeds 1,16,64,256] [--write reports/perf.md]

Baseline: the textbook loop, one seed, ``nn.Sequential`` MLPs of the same sizes, ``torch.randn``
data — what a user would write. ganeval: the seed-batched trainer step at several seed counts,
eager, and (on CUDA) replayed from a CUDA graph; tracing overhead is the same path with and
without the per-step statistics. All rows are measured in one process on one device.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import (describe, interleaved, mb, memory_note, new_trainer, peak_memory_mb, reset_peak, table,  # noqa: E402
                         publish, trainer_step)

from ganeval.losses import get_loss, gradient_penalty  # noqa: E402
from ganeval.spec import BenchSpec  # noqa: E402


def plain_loop(run, device: torch.device):
    """One seed, written the usual way: nn.Linear MLPs, torch.randn, Adam, loss.backward()."""
    torch.manual_seed(0)

    def mlp(i, o):
        layers, d = [], i
        for _ in range(run.depth):
            layers += [nn.Linear(d, run.hidden), nn.ReLU()]
            d = run.hidden
        return nn.Sequential(*layers, nn.Linear(d, o)).to(device)

    G, D = mlp(run.z_dim, 2), mlp(2, 1)
    opt_g = torch.optim.Adam(G.parameters(), run.lr_g, betas=tuple(run.betas))
    opt_d = torch.optim.Adam(D.parameters(), run.lr_d, betas=tuple(run.betas))
    loss = get_loss(run.loss)
    angles = torch.arange(8, device=device) * (2 * math.pi / 8)
    centers = torch.stack([2 * angles.cos(), 2 * angles.sin()], 1)
    B = run.batch_size

    def step():
        for _ in range(run.n_critic):
            real = centers[torch.randint(0, 8, (B,), device=device)] + 0.02 * torch.randn(B, 2, device=device)
            fake = G(torch.randn(B, run.z_dim, device=device)).detach()
            d = loss.d_loss(D(real).squeeze(-1), D(fake).squeeze(-1))
            if run.gp_weight > 0:
                d = d + run.gp_weight * gradient_penalty(lambda x: D(x).squeeze(-1), real, fake,
                                                         torch.rand(B, device=device))
            opt_d.zero_grad()
            d.backward()
            opt_d.step()
        g = loss.g_loss(D(G(torch.randn(B, run.z_dim, device=device))).squeeze(-1))
        opt_g.zero_grad()
        g.backward()
        opt_g.step()

    return step


def ganeval_step(run, seeds: int, device: torch.device, graph: bool, record_every: int):
    """ganeval's step; statistics every ``record_every`` steps (0: never)."""
    return trainer_step(new_trainer(run, seeds, device, graph), graph, record_every)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seeds", default=None, help="seed counts (default 1,16,64,256 on CUDA; 1,4,16 on CPU)")
    parser.add_argument("--losses", default="bce,hinge,wgan-gp")
    parser.add_argument("--min-time", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--write", type=Path, default=None, help="update this markdown file's MoG section")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    counts = [int(s) for s in (args.seeds or ("1,16,64,256" if cuda else "1,4,16")).split(",")]
    min_time = args.min_time or (1.0 if cuda else 2.0)
    rows = []
    for loss in args.losses.split(","):
        run = BenchSpec().resolve("ring8", loss)
        modes = [("batched eager", False)] + ([("batched + CUDA graph", True)] if cuda else [])
        reset_peak(device)
        baseline = plain_loop(run, device)
        baseline()
        configs = {("plain eager loop (baseline)", 1, 1): baseline}
        memory = {("plain eager loop (baseline)", 1, 1): peak_memory_mb(device)}
        for label, graph in modes:
            for s in counts:
                for every in ((1, run.trace_every, 0) if not graph else (1, 0)):
                    reset_peak(device)
                    fn = ganeval_step(run, s, device, graph, every)
                    fn()
                    memory[(label, s, every)] = peak_memory_mb(device)
                    configs[(label, s, every)] = fn
        best = interleaved(configs, device, min_time, rounds=2)
        base = 1.0 / best[("plain eager loop (baseline)", 1, 1)]
        rows.append([loss, "plain eager loop (baseline)", "1", f"{base:,.0f}", "1.00×", "–",
                     mb(memory[("plain eager loop (baseline)", 1, 1)]), "–"])
        for label, graph in modes:
            per_seed = 1.0 / best[(label, 1, 1)]
            for s in counts:
                t_rec, t_off = best[(label, s, 1)], best[(label, s, 0)]
                t_def = best.get((label, s, run.trace_every))
                rate = s / t_rec
                rows.append([loss, label, str(s), f"{rate:,.0f}", f"{rate / base:,.2f}×",
                             f"{rate / per_seed:,.2f}×", mb(memory[(label, s, 1)]),
                             f"{100.0 * (t_rec - t_off) / t_off:+.1f} %"
                             + (f" / {100.0 * (t_def - t_off) / t_off:+.1f} %" if t_def else "")])
        for r in rows[-(1 + len(modes) * len(counts)):]:
            print(r, flush=True)
    headers = ["loss", "path", "seeds", "seed-steps/s (traced every step)", "vs baseline", "vs same path, 1 seed",
               "peak MB", "tracing overhead: every step / every 10th"]
    body = (f"Device: {describe(device)}. Ring of 8, MLP {run.depth}×{run.hidden}, batch {run.batch_size}, "
            f"z {run.z_dim}. wgan-gp counts one generator step (5 critic steps + penalty) as one step. "
            "Tracing overhead: time per step with statistics every step, and every 10th step (the default), over "
            "none; the graph path always computes them. " + memory_note(device) + " "
            "Best of 2 interleaved rounds per configuration; on a shared 2-core machine rounds differ by up to "
            "~20 %, so read small differences (and small or negative overheads) as noise.\n\n"
            + table(headers, rows))
    publish(body, args.write, "MoG trainer", device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
