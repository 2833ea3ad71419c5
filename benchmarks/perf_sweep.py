"""A learning-rate sweep as one batched cell against one cell per learning rate, same process.

    python benchmarks/perf_sweep.py [--lrs 1e-4,3e-4,1e-3,3e-3,1e-2] [--seeds 3] [--threads 1]

ring8 bce at the default settings. "one cell": the seed-batched trainer with
len(lrs) x seeds members (seed s repeated for each learning rate) whose optimizers are
``ganeval.member_optim.MemberAdam`` with each member's rate; "separate cells": one trainer
of ``seeds`` members per learning rate with ``torch.optim.Adam``, stepped one after the other.
Also: the per-member optimizer's own cost, the same 15-member cell with torch's Adam (one shared
rate) against MemberAdam (per-member rates). Times are the best of interleaved rounds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import describe, interleaved, publish, table  # noqa: E402

from ganeval.spec import BenchSpec  # noqa: E402
from ganeval.member_optim import MemberAdam  # noqa: E402
from ganeval.train.trainer import CellTrainer  # noqa: E402


def make(seeds, lr):
    spec = BenchSpec(seeds=sorted(set(seeds)))
    spec.run.update({"lr_d": lr, "lr_g": lr, "ckpt_every": 10 ** 6, "trace_every": 10 ** 6})
    run = spec.resolve("ring8", "bce")
    tmp = Path(tempfile.mkdtemp())
    return CellTrainer(run, list(seeds), [tmp / f"m{k}" for k in range(len(seeds))], torch.device("cpu"))


def stepper(trainers):
    def step():
        for t in trainers:
            t.train_step(t.step, record=False)
            t.step += 1
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lrs", default="1e-4,3e-4,1e-3,3e-3,1e-2")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--write", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lrs = [float(x) for x in args.lrs.split(",")]
    seeds = list(range(args.seeds))
    members = [s for _ in lrs for s in seeds]
    member_lrs = [lr for lr in lrs for _ in seeds]

    one = make(members, lrs[0])
    one.opt_d = MemberAdam(one.d_params, lr=member_lrs, betas=tuple(one.run.betas))
    one.opt_g = MemberAdam(one.g_params, lr=member_lrs, betas=tuple(one.run.betas))
    shared = make(members, lrs[0])  # same cell, torch's Adam, one rate for all
    separate = [make(seeds, lr) for lr in lrs]
    best = interleaved({"one": stepper([one]), "separate": stepper(separate), "shared": stepper([shared])},
                       torch.device("cpu"), args.min_time, rounds=args.rounds)
    # the optimizer step alone, on the cell's parameters with fixed gradients
    params = [p.detach().clone().requires_grad_() for p in one.g_params + one.d_params]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-2
    opts = {"torch": torch.optim.Adam(params, lr=lrs[0], betas=tuple(one.run.betas)),
            "member": MemberAdam(params, lr=member_lrs, betas=tuple(one.run.betas))}
    opt_best = interleaved({k: o.step for k, o in opts.items()}, torch.device("cpu"), args.min_time / 2,
                           rounds=args.rounds)
    n = len(members)
    rows = [[f"one cell of {n} members (MemberAdam, per-member lr)", f"{1e3 * best['one']:.1f}",
             f"{best['separate'] / best['one']:.2f}x"],
            [f"{len(lrs)} separate cells of {len(seeds)} (torch Adam)", f"{1e3 * best['separate']:.1f}", "1.00x"],
            [f"one cell of {n}, torch Adam, shared lr (optimizer reference)", f"{1e3 * best['shared']:.1f}",
             f"{best['separate'] / best['shared']:.2f}x"]]
    body = "\n".join([
        f"ring8 bce, default settings; sweep lr_d = lr_g over {', '.join(args.lrs.split(','))} x {len(seeds)} seeds; "
        f"{describe(torch.device('cpu')).split(' (')[0]}, {args.threads} thread(s); best of {args.rounds} "
        f"interleaved rounds of {args.min_time:g} s.", "",
        table(["configuration", "ms per sweep step (all members)", "speed-up over separate cells"], rows), "",
        f"Per-member optimizer cost: whole step with MemberAdam / with torch Adam on the same {n}-member "
        f"cell = {best['one'] / best['shared']:.3f}; the optimizer step alone (G and D parameters): "
        f"MemberAdam {1e3 * opt_best['member']:.2f} ms, torch Adam {1e3 * opt_best['torch']:.2f} ms "
        f"({opt_best['member'] / opt_best['torch']:.2f}x).",
    ])
    publish(body, args.write, "Learning-rate sweep: one batched cell against separate cells")


if __name__ == "__main__":
    main()
