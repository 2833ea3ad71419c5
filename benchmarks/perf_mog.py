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
import tempfile
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import describe, peak_memory_mb, reset_peak, table, timed, write_section  # noqa: E402

from ganeval.losses import get_loss, gradient_penalty  # noqa: E402
from ganeval.spec import BenchSpec  # noqa: E402
from ganeval.train.trainer import CellTrainer  # noqa: E402


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


def ganeval_step(run, seeds: int, device: torch.device, graph: bool, record: bool):
    tmp = Path(tempfile.mkdtemp())
    trainer = CellTrainer(run, list(range(seeds)), [tmp / str(k) for k in range(seeds)], device, cuda_graph=graph)
    if graph:
        from ganeval.train.graphs import GraphedSteps

        steps = GraphedSteps(trainer, record=record)

        def step():
            steps.run(trainer.step, 0.0)
            trainer.step += 1
            if steps.full:
                steps.steps.clear()
                steps.walls.clear()
        return step

    def step():
        trainer.train_step(trainer.step, record)
        trainer.step += 1
    return step


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
    min_time = args.min_time or (2.0 if cuda else 4.0)
    rows = []
    for loss in args.losses.split(","):
        run = BenchSpec().resolve("ring8", loss)
        reset_peak(device)
        per_call, _ = timed(plain_loop(run, device), device, min_time, warmup=5)
        base = 1.0 / per_call
        rows.append([loss, "plain eager loop (baseline)", "1", f"{base:,.0f}", "1.00×", f"{peak_memory_mb(device):,.0f}", "–"])
        print(rows[-1], flush=True)
        modes = [("batched eager", False)] + ([("batched + CUDA graph", True)] if cuda else [])
        for label, graph in modes:
            for s in counts:
                reset_peak(device)
                t_rec, _ = timed(ganeval_step(run, s, device, graph, record=True), device, min_time, warmup=5)
                mem = peak_memory_mb(device)
                t_off, _ = timed(ganeval_step(run, s, device, graph, record=False), device, min_time, warmup=5)
                rate = s / t_rec
                overhead = 100.0 * (t_rec - t_off) / t_off
                rows.append([loss, label + " (traced every step)", str(s), f"{rate:,.0f}", f"{rate / base:,.2f}×",
                             f"{mem:,.0f}", f"{overhead:+.1f} %"])
                print(rows[-1], flush=True)
    headers = ["loss", "path", "seeds", "seed-steps/s", "vs baseline", "peak MB", "tracing overhead"]
    body = (f"Device: {describe(device)}. Ring of 8, MLP {run.depth}×{run.hidden}, batch {run.batch_size}, "
            f"z {run.z_dim}. wgan-gp counts one generator step (5 critic steps + penalty) as one step. "
            "Tracing overhead: every step traced vs none (ganeval traces every 10th step by default on the eager path; "
            "the graph path always computes the statistics). Peak MB: CUDA allocator peak, or process peak RSS on CPU.\n\n"
            + table(headers, rows))
    print(body)
    if args.write:
        write_section(args.write, f"MoG trainer ({'CUDA' if cuda else 'CPU'})", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
