"""Healthy default-bench runs raise no training event: train ``ganeval bench``'s default cells
(ring8, grid25 x bce, wgan-gp, hinge; default settings) on a few seeds, detect events in each
seed's trace, and print them with each network's weight-norm growth (the exploding-weights
threshold's margin). Training only (no evaluation). Usage::

    python benchmarks/false_alarms.py [--seeds 0,1,2] [--steps N] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

from ganeval import rundir
from ganeval.diagnostics.events import detect_events
from ganeval.diagnostics.trace import read_trace
from ganeval.spec import DEFAULT_BENCHMARKS, DEFAULT_LOSSES, BenchSpec
from ganeval.train.trainer import CellTrainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=None, help="default: the spec's default")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out or tempfile.mkdtemp(prefix="false-alarms-"))
    spec = BenchSpec(seeds=seeds)
    if args.steps:
        spec.run.update({"steps": args.steps})
    spec = spec.validate()
    total = 0
    for benchmark in DEFAULT_BENCHMARKS:
        for loss in DEFAULT_LOSSES:
            run = spec.resolve(benchmark, loss, "none")
            dirs = [out / benchmark / loss / f"seed-{s}" for s in seeds]
            t0 = time.perf_counter()
            CellTrainer(run, seeds, dirs, torch.device("cpu")).train()
            for seed, d in zip(seeds, dirs):
                rows = read_trace(rundir.trace_path(d))
                events = detect_events(rows)
                total += len(events)
                growth = {k: max(r[k] for r in rows if math.isfinite(r[k])) / rows[0][k]
                          for k in ("d_param_norm", "g_param_norm")}
                print(f"{benchmark}/{loss} seed {seed}: {len(rows)} rows to step {rows[-1]['step']}, "
                      f"weight growth D x{growth['d_param_norm']:.2f} G x{growth['g_param_norm']:.2f}, "
                      f"min d_out_std {min(r['d_out_std'] for r in rows):.3g}, "
                      f"max d_tied {max(r['d_tied'] for r in rows):.3g}, "
                      f"min grad norms D {min(r['d_grad_norm'] for r in rows):.3g} "
                      f"G {min(r['g_grad_norm'] for r in rows):.3g}, "
                      f"events {[(e['kind'], e['step']) for e in events]}", flush=True)
            print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"{total} events in all; traces under {out}")


if __name__ == "__main__":
    main()
