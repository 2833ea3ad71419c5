"""A learning-rate sweep as one batched cell against one cell per learning rate, same process.

    python benchmarks/perf_sweep.py [--lrs 1e-4,3e-4,1e-3,3e-3,1e-2] [--seeds 3] [--threads 2] \
        [--write reports/perf.md]

ring8 bce at the default settings, the sweep ``lr_d+lr_g`` over ``--lrs``. "one cell": what
``ganeval bench --sweep lr_d+lr_g=...`` trains, the cell the bench builds from the spec (one model of
len(lrs) x seeds members, per-member learning rates inside ``MemberAdam``); "separate cells": one
trainer of ``seeds`` seeds per learning rate (torch's Adam), stepped one after the other, as one
bench per value would. Also the same batched cell with one shared rate (torch's Adam), which
isolates the per-member optimizer's cost. Every configuration runs in interleaved rounds in one
process; times are the best round.

"Fraction of peak": the step's matrix-multiply FLOPs (forward and backward, counted by
``torch.utils.flop_counter`` on one step) per second, over this machine's own float32 matmul rate
(a 2048 x 2048 product, timed in the same run with the same threads): how close the cell is to the
arithmetic limit of the machine; the rest of the step is per-operation overhead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import describe, interleaved, publish, table  # noqa: E402

from ganeval.spec import BenchSpec  # noqa: E402
from ganeval.train.members import group_runs  # noqa: E402
from ganeval.train.trainer import CellTrainer  # noqa: E402

NO_IO = {"ckpt_every": 10 ** 6, "trace_every": 10 ** 6}


def study_cells(lrs: list[float], seeds: list[int]) -> tuple[CellTrainer, list[CellTrainer]]:
    """(the bench's batched cell of the sweep, one cell per learning rate)."""
    spec = BenchSpec(benchmarks=["ring8"], losses=["bce"], seeds=seeds, sweep={"lr_d+lr_g": lrs})
    spec.run.update(NO_IO)
    runs = spec.validate().runs()
    assert group_runs(runs) == [list(range(len(runs)))], "the sweep must be one batched cell"
    tmp = Path(tempfile.mkdtemp())
    member_runs = [r for r in runs for _ in seeds]
    one = CellTrainer(member_runs, seeds * len(runs), [tmp / f"m{k}" for k in range(len(member_runs))],
                      torch.device("cpu"))
    separate = [CellTrainer(r, seeds, [tmp / f"r{i}s{s}" for s in seeds], torch.device("cpu"))
                for i, r in enumerate(runs)]
    return one, separate


def shared_rate_cell(lr: float, members: int) -> CellTrainer:
    spec = BenchSpec(benchmarks=["ring8"], losses=["bce"], seeds=[0])
    spec.run.update({**NO_IO, "lr_d": lr, "lr_g": lr})
    tmp = Path(tempfile.mkdtemp())
    seeds = [k % 3 for k in range(members)]
    return CellTrainer(spec.validate().resolve("ring8", "bce"), seeds, [tmp / f"m{k}" for k in range(members)],
                       torch.device("cpu"))


def stepper(trainers: list[CellTrainer]):
    def step() -> None:
        for t in trainers:
            t.train_step(t.step, record=False)
            t.step += 1
    return step


def step_flops(trainers: list[CellTrainer]) -> int:
    """Matrix-multiply FLOPs of one step of every trainer (forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        for t in trainers:
            t.train_step(t.step, record=False)
            t.step += 1
    return counter.get_total_flops()


def matmul_rate(n: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matmul rate (FLOP/s), best of ``repeats`` products of n x n."""
    import time

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lrs", default="1e-4,3e-4,1e-3,3e-3,1e-2")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--write", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lrs = [float(x) for x in args.lrs.split(",")]
    seeds = list(range(args.seeds))
    one, separate = study_cells(lrs, seeds)
    n = one.S
    shared = shared_rate_cell(lrs[0], n)
    flops = {"one": step_flops([one]), "separate": step_flops(separate), "shared": step_flops([shared])}
    peak = matmul_rate()
    best = interleaved({"one": stepper([one]), "separate": stepper(separate), "shared": stepper([shared])},
                       torch.device("cpu"), args.min_time, rounds=args.rounds)
    peak = max(peak, matmul_rate())  # after the rounds too: the better of the two readings

    def row(label: str, key: str, speedup: str) -> list[str]:
        return [label, f"{1e3 * best[key]:.1f}", f"{n / best[key]:,.0f}", speedup,
                f"{flops[key] / best[key] / 1e9:.1f}", f"{100 * flops[key] / best[key] / peak:.0f} %"]

    gain = best["separate"] / best["one"]
    rows = [row(f"one batched cell of {n} members (per-member lr, MemberAdam)", "one", f"{gain:.2f}x"),
            row(f"{len(lrs)} separate cells of {len(seeds)} seeds (torch Adam)", "separate", "1.00x"),
            row(f"one cell of {n}, one shared lr, torch Adam (optimizer reference)", "shared",
                f"{best['separate'] / best['shared']:.2f}x")]
    body = "\n".join([
        f"ring8 bce, default settings (MLP 2x128, batch 256); sweep lr_d = lr_g over {', '.join(args.lrs.split(','))} "
        f"x {len(seeds)} seeds = {n} members; {describe(torch.device('cpu')).split(' (')[0]}, {args.threads} "
        f"thread(s); best of {args.rounds} interleaved rounds of {args.min_time:g} s, alone on the machine. Matmul "
        f"FLOPs per step counted by torch.utils.flop_counter (forward and backward); the machine's float32 matmul "
        f"rate measured in the same run: {peak / 1e9:.0f} GFLOP/s (2048 x 2048).", "",
        table(["configuration", "ms per step (all members)", "member-steps/s", "speed-up over separate cells",
               "matmul GFLOP/s", "fraction of peak"], rows), "",
        f"Goal: one cell >= 1.5x separate cells on a 2-core CPU: {'met' if gain >= 1.5 else 'not met'} "
        f"({gain:.2f}x). Per-member optimizer cost: "
        f"the batched step with MemberAdam / with torch Adam = {best['one'] / best['shared']:.3f}.",
    ])
    publish(body, args.write, "Learning-rate sweep: one batched cell against separate cells")


if __name__ == "__main__":
    main()
