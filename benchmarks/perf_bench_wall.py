"""The default bench's wall time: this code against an earlier commit's, one after the other, alone.

    python benchmarks/perf_bench_wall.py [--baseline-rev d4c49cb] [--write reports/perf.md]

Runs ``ganeval bench --losses bce,wgan-gp,hinge`` (the README's headline, defaults otherwise) twice
into fresh folders: with the code of ``--baseline-rev`` (checked out into a temporary git worktree
and put first on PYTHONPATH, same environment otherwise) and with this checkout's code as a user
runs it (the command line's ``--workers auto``). Reports each bench's wall time (its own clock, as
env.json records it, and the whole command's), and whether the two results.csv are bit-identical
(training time aside). Takes about 15 minutes on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import publish, table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ["bench", "--losses", "bce,wgan-gp,hinge", "--no-report"]


def bench(code: Path, out: Path) -> tuple[float, float]:
    """(the bench's own wall time, the whole command's) running ganeval from ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1"}
    env.pop("GANEVAL_WORKERS", None)
    where = subprocess.run([sys.executable, "-c", "import ganeval; print(ganeval.__file__)"], env=env,
                           cwd=out.parent, capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(str(code)):
        raise SystemExit(f"ganeval imported from {where}, not from {code}")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ganeval", *COMMAND, "--out", str(out)], env=env, text=True,
                          cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    whole = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads((out / "env.json").read_text())["wall_time_s"], whole


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline-rev", default="d4c49cb", help="the commit to compare with (default: the last one "
                    "before issue 34's worker processes)")
    ap.add_argument("--write", default=None)
    args = ap.parse_args(argv)
    rev = subprocess.run(["git", "rev-parse", "--short", args.baseline_rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="ganeval-wall-") as tmp:
        tmp = Path(tmp)
        old_code = tmp / "baseline-code"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old_code), rev], cwd=ROOT, check=True)
        try:
            print(f"baseline {rev} ...", flush=True)
            old = bench(old_code, tmp / "old")
            print(f"  {old[0]:.0f} s; this checkout ({head}) ...", flush=True)
            new = bench(ROOT, tmp / "new")
            print(f"  {new[0]:.0f} s", flush=True)
            a, b = (pd.read_csv(tmp / side / "results.csv").drop(columns=["train_time_s", "run_dir"])
                    for side in ("old", "new"))
            identical = a.shape == b.shape and a.equals(b)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_code)], cwd=ROOT, check=False)
    import platform

    import torch

    rows = [[f"{rev} (before worker processes: cells one after another, {torch.get_num_threads()} threads)",
             f"{old[0]:.0f}", f"{old[1]:.0f}", "1.00x"],
            [f"{head} (`--workers auto`: two worker processes of one thread)", f"{new[0]:.0f}", f"{new[1]:.0f}",
             f"{old[0] / new[0]:.2f}x"]]
    lines = [
        f"`ganeval bench --losses bce,wgan-gp,hinge` (ring8 and grid25, 3 seeds, default settings, no report); "
        f"CPU {platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}; one bench after the other, alone "
        f"on the machine. `python benchmarks/perf_bench_wall.py --baseline-rev {rev}`.", "",
        table(["code", "bench wall time (s)", "whole command (s)", "speed-up"], rows), "",
        "results.csv (training time aside): " + ("bit-identical." if identical else "DIFFERENT."),
        f"Goal (issue 34): at most half the wall time, a 2.00x speed-up: {'met' if old[0] / new[0] >= 2 else 'not met'}.",
    ]
    publish("\n".join(lines), args.write, "The default bench's wall time")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
