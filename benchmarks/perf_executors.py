"""Bench wall time with the local executor and with Ray at 1 and 2 local workers.

    python benchmarks/perf_executors.py [--write reports/perf.md]

The same small grid (ring8 and grid25 x bce and hinge, 3 seeds, 1,000 steps: 4 cells) in a fresh
folder each time. Ray's start-up is timed separately. Each Ray worker runs torch on one thread; the
local executor uses all of torch's threads.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import describe, publish, table  # noqa: E402

from ganeval.runner import run_bench  # noqa: E402
from ganeval.spec import BenchSpec  # noqa: E402


def spec() -> BenchSpec:
    s = BenchSpec(benchmarks=["ring8", "grid25"], losses=["bce", "hinge"], seeds=[0, 1, 2])
    s.run.update({"steps": 1000})
    return s.validate()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    import ray

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_bench(spec(), Path(tmp) / "local")
        local = time.perf_counter() - t0
        rows.append(["local executor", str(torch.get_num_threads()), f"{local:.0f}", "1.00×", "–"])
        print(rows[-1], flush=True)
        for workers in (1, 2):
            t0 = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            startup = time.perf_counter() - t0
            t0 = time.perf_counter()
            run_bench(spec(), Path(tmp) / f"ray{workers}", executor="ray")
            wall = time.perf_counter() - t0
            ray.shutdown()
            rows.append([f"Ray, {workers} local worker{'s' if workers > 1 else ''}", f"{workers} × 1",
                         f"{wall:.0f}", f"{local / wall:.2f}×", f"{startup:.1f}"])
            print(rows[-1], flush=True)
    body = (f"Machine: {describe(torch.device('cpu'))}. Grid: ring8 and grid25 × bce and hinge, 3 seeds, 1,000 steps "
            "(4 cells). Speed-up is the local executor's wall time over this row's; Ray start-up not included.\n\n"
            + table(["executor", "torch threads", "bench wall time (s)", "speed-up", "Ray start-up (s)"], rows))
    publish(body, args.write, "Executors: local vs Ray workers (CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
