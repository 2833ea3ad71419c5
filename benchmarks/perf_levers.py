"""The CPU levers on the seed-batched step, each measured against the plain loop in one run.

    python benchmarks/perf_levers.py [--write reports/perf.md]

The cell is the default bench's ring8 bce (MLP 2x128, batch 256, statistics every 10th step as
the bench records them). In this process, interleaved (best of rounds): the plain one-seed loop a
user writes (the reference, on every thread), ganeval's cell at 1, 3 and 16 seeds, and the 3-seed
cell on one thread, with G and D under ``torch.compile`` (cold compile time stated), with torch's
fused Adam, and with no statistics rows at all.
Then, in fresh processes started together (spawn, one thread each, a fixed window): two 3-seed
cells side by side, which is what the local executor's ``--workers auto`` does on two cores, and
two plain loops side by side, so the workers' gain is not credited to ganeval's step. The limit:
the 16-seed step's matmul FLOPs (forward and backward, ``torch.utils.flop_counter``) at the
machine's own float32 matmul rate, measured in the same run. Measures only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import describe, interleaved, new_trainer, publish, table, trainer_step  # noqa: E402
from perf_mog import plain_loop  # noqa: E402
from perf_sweep import matmul_rate  # noqa: E402
from profile_step import flops_of  # noqa: E402

from ganeval.spec import BenchSpec  # noqa: E402

RECORD_EVERY = 10  # the bench's trace_every


def the_run():
    return BenchSpec().validate().resolve("ring8", "bce")


def cell_step(seeds: int, compiled: bool = False, fused_adam: bool = False, record_every: int = RECORD_EVERY):
    trainer = new_trainer(the_run(), seeds, torch.device("cpu"), graph=False)
    if compiled:
        trainer.G, trainer.D = torch.compile(trainer.G), torch.compile(trainer.D)
    if fused_adam:  # torch's one-kernel-per-tensor Adam (CPU support since torch 2.4) in place of ganeval's
        run = trainer.run
        trainer.opt_d = torch.optim.Adam(trainer.d_params, lr=run.lr_d, betas=tuple(run.betas), fused=True)
        trainer.opt_g = torch.optim.Adam(trainer.g_params, lr=run.lr_g, betas=tuple(run.betas), fused=True)
    return trainer_step(trainer, False, record_every)


def on_threads(fn, threads: int):
    """``fn`` run with ``threads`` torch threads (the others' count restored after each call)."""
    def call():
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            fn()
        finally:
            torch.set_num_threads(before)
    return call


def _side_by_side_worker(kind: str, seeds: int, window: float, ready, go, results) -> None:
    """One process: one thread, warm up, wait for the others, step for ``window`` seconds."""
    torch.set_num_threads(1)
    step = plain_loop(the_run(), torch.device("cpu")) if kind == "plain" else cell_step(seeds)
    for _ in range(20):
        step()
    ready.put(1)
    go.wait()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < window:
        step()
        n += 1
    results.put(n * seeds / (time.perf_counter() - t0))


def side_by_side(kind: str, seeds: int, processes: int, window: float) -> float:
    """Seed-steps/s of ``processes`` single-threaded processes stepping at the same time, summed."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_side_by_side_worker, args=(kind, seeds, window, ready, go, results))
             for _ in range(processes)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    go.set()
    total = sum(results.get(timeout=300) for _ in procs)
    for p in procs:
        p.join()
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the in-process rows (the machine's cores)")
    ap.add_argument("--min-time", type=float, default=1.5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=8.0, help="seconds each side-by-side measurement steps")
    ap.add_argument("--write", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    import os
    import tempfile

    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")  # a cold compile, as a new cell's
    t0 = time.perf_counter()
    compiled = cell_step(3, compiled=True)
    for _ in range(3):
        compiled()
    compile_s = time.perf_counter() - t0
    fns = {"plain": plain_loop(the_run(), device), "cell1": cell_step(1), "cell3": cell_step(3),
           "cell16": cell_step(16), "cell3_1thread": on_threads(cell_step(3), 1), "cell3_compiled": compiled,
           "cell3_fused": cell_step(3, fused_adam=True), "cell3_norows": cell_step(3, record_every=0)}
    best = interleaved(fns, device, args.min_time, rounds=args.rounds)
    two_cells = side_by_side("cell", 3, 2, args.window)
    two_plain = side_by_side("plain", 1, 2, args.window)
    best_again = interleaved({"plain": fns["plain"]}, device, args.min_time, rounds=args.rounds)  # drift check
    peak = max(matmul_rate(), matmul_rate())
    flops16 = flops_of(cell_step(16))

    plain = 1 / best["plain"]
    seeds = {"cell1": 1, "cell3": 3, "cell16": 16, "cell3_1thread": 3, "cell3_compiled": 3, "cell3_fused": 3,
             "cell3_norows": 3}
    rate = {k: seeds[k] / best[k] for k in seeds}
    rows = [["plain loop, 1 seed (reference)", f"{args.threads}", f"{1e3 * best['plain']:.2f}", f"{plain:,.0f}", "1.00x"]]
    names = {"cell1": "ganeval cell, 1 seed", "cell3": "ganeval cell, 3 seeds (the default)",
             "cell16": "ganeval cell, 16 seeds", "cell3_1thread": "ganeval cell, 3 seeds, one thread",
             "cell3_compiled": f"ganeval cell, 3 seeds, G and D under torch.compile (compiled in {compile_s:.0f} s)",
             "cell3_fused": "ganeval cell, 3 seeds, torch's fused Adam (fused=True)",
             "cell3_norows": "ganeval cell, 3 seeds, no statistics rows at all (the floor of 'statistics only when recorded')"}
    threads = {"cell3_1thread": "1"}
    rows += [[names[k], threads.get(k, str(args.threads)), f"{1e3 * best[k]:.2f}", f"{rate[k]:,.0f}",
              f"{rate[k] / plain:.2f}x"] for k in names]
    rows += [["two 3-seed cells side by side in two processes (`--workers auto`)", "1 + 1", "–", f"{two_cells:,.0f}",
              f"{two_cells / plain:.2f}x"],
             ["two plain loops side by side in two processes (the same lever, without ganeval)", "1 + 1", "–",
              f"{two_plain:,.0f}", f"{two_plain / plain:.2f}x"]]
    frac16 = flops16 / best["cell16"] / peak
    compile_gain = best["cell3"] / best["cell3_compiled"]
    breakeven = compile_s / max(best["cell3"] - best["cell3_compiled"], 1e-9)

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    goals = [
        ["3-seed cell >= 2x the plain loop's seed-steps/s", f"{rate['cell3'] / plain:.2f}x in one process; "
         f"{two_cells / plain:.2f}x as two cells on two workers", verdict(rate["cell3"] / plain >= 2)
         + (" (met per machine with workers)" if two_cells / plain >= 2 else "")],
        ["one seed alone >= 1.0x", f"{rate['cell1'] / plain:.2f}x", verdict(rate["cell1"] / plain >= 1.0)],
        ["16 seeds >= 40 % of the machine's matmul rate", f"{100 * frac16:.0f} % ({flops16 / 1e6:.0f} MFLOP a step "
         f"in {1e3 * best['cell16']:.1f} ms at {peak / 1e9:.0f} GFLOP/s)", verdict(frac16 >= 0.40)],
    ]
    lines = [
        f"ring8 bce, default settings (MLP 2x128, batch 256, a statistics row every {RECORD_EVERY}th step); "
        f"{describe(device)}; in-process rows: best of {args.rounds} interleaved rounds of {args.min_time} s "
        f"(the plain loop again at the end: {1e3 * best_again['plain']:.2f} ms); side-by-side rows: "
        f"{args.window:.0f} s windows started together; alone on the machine. `python benchmarks/perf_levers.py`.", "",
        table(["path", "torch threads", "ms per step", "seed-steps/s", "vs plain loop"], rows), "",
        f"torch.compile of G and D (inductor, cold cache): {compile_gain:.2f}x on the 3-seed step after "
        f"{compile_s:.0f} s of compiling one cell; "
        + (f"that pays back after {breakeven:,.0f} steps, and the default bench's bce and hinge cells train 10,000 steps "
           "each, every cell compiling again" if compile_gain > 1 else "the compiled step is not faster")
        + ", so it is measured here, not switched on.", "",
        table(["goal (issue 34)", "measured", ""], goals),
    ]
    publish("\n".join(lines), args.write, "Levers on the seed-batched step", device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
