"""Why a seed trained beside others drifts from the same seed trained alone on CPU, and what a
batch-size-independent final layer costs.

    python benchmarks/repro_batch_position.py [--steps 300] [--write reports/reproducibility.md]

1. Kernels: for every seed-batched linear layer of the default ring8 MLP GAN (its real shapes),
   is member k's ``torch.baddbmm`` result bit-identical whether computed with S = 1, 3 or 16
   members? And which single-matrix kernel does the S = 1 result equal?
2. Trajectories: seeds 0, 1, 2 trained as one cell against each trained alone, largest
   parameter difference after 1, 10, 100 and ``--steps`` steps, with the stock layers and with
   the final (one-output) layer computed S-independently.
3. Every registered loss with the fix: still bit-identical after ``--loss-steps`` steps?
4. Cost: seconds per training step with the fix over without, at S = 1, 3 and 15.
5. Threads: the same cell trained with 1 and with 2 intra-op threads, compared.

Sections 2-4 run with ``--threads`` (default 1): on a machine shared by more processes than cores,
two OpenMP threads that wait for each other can make a step 70x slower, which no ratio survives.

The fix is applied by replacing ``SeedLinear.forward`` in this process only; nothing in the
package is changed. ``--cli ARGS...`` instead runs ``ganeval ARGS...`` in this process with the
fix applied (e.g. ``--cli bench --benchmarks ring8 --losses bce --seeds 2 --steps 300``), to
compare a bench's results with and without it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import describe, interleaved, publish, table  # noqa: E402

from ganeval.losses import LOSSES  # noqa: E402
from ganeval.models import build_models, layers  # noqa: E402
from ganeval.spec import BenchSpec  # noqa: E402
from ganeval.train.trainer import CellTrainer  # noqa: E402

STOCK = layers.SeedLinear.forward


def forward_mulsum(self, x: torch.Tensor) -> torch.Tensor:
    """A one-output layer as an elementwise product and a sum over the input features: each output
    is reduced over the same contiguous row whatever S is. Other layers unchanged."""
    if self.out_features == 1:
        y = (x * self.weight.transpose(1, 2)).sum(-1, keepdim=True)
        return y if self.bias is None else y + self.bias
    return STOCK(self, x)


def forward_loop(self, x: torch.Tensor) -> torch.Tensor:
    """A one-output layer as one ``addmm`` per member (the kernel S = 1 uses). Others unchanged."""
    if self.out_features == 1:
        rows = [torch.addmm(self.bias[k], x[k], self.weight[k]) if self.bias is not None else x[k] @ self.weight[k]
                for k in range(x.shape[0])]
        return torch.stack(rows)
    return STOCK(self, x)


MODES = {"stock": STOCK, "mul-sum final layer": forward_mulsum, "per-member addmm final layer": forward_loop}


def run_spec(loss: str = "bce", steps: int = 300):
    spec = BenchSpec(seeds=[0])
    spec.run.update({"steps": steps, "ckpt_every": 10 ** 6, "trace_every": 10 ** 6})
    return spec.resolve("ring8", loss)


def trainer(run, seeds):
    tmp = Path(tempfile.mkdtemp())
    return CellTrainer(run, list(seeds), [tmp / f"seed-{s}" for s in seeds], torch.device("cpu"))


def params(t, k):
    return [p.detach()[k] for p in list(t.G.parameters()) + list(t.D.parameters())]


def max_diff(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def kernel_table() -> str:
    run = run_spec()
    G, D = build_models(run, [0], (2,))
    shapes = [("G", m, run.batch_size) for m in G.modules() if isinstance(m, layers.SeedLinear)]
    shapes += [("D", m, 2 * run.batch_size) for m in D.modules() if isinstance(m, layers.SeedLinear)]
    g = torch.Generator().manual_seed(0)
    rows = []
    for net, m, B in shapes:
        i, o = m.in_features, m.out_features
        x, w, b = (torch.randn(16, B, i, generator=g), torch.randn(16, i, o, generator=g),
                   torch.randn(16, 1, o, generator=g))
        out = {S: torch.baddbmm(b[:S], x[:S], w[:S]) for S in (1, 2, 3, 16)}
        alone = [torch.baddbmm(b[k:k + 1], x[k:k + 1], w[k:k + 1])[0] for k in range(3)]
        differ_alone = sum(int((out[3][k] != alone[k]).sum()) for k in range(3))
        differ_2_16 = int((out[2][:2] != out[16][:2]).sum()) + int((out[3] != out[16][:3]).sum())
        addmm = torch.equal(alone[0], torch.addmm(b[0], x[0], w[0]))
        mv = o == 1 and torch.equal(alone[0][:, 0], torch.mv(x[0], w[0, :, 0]) + b[0, 0])
        batched_addmm = torch.equal(out[3][1], torch.addmm(b[1], x[1], w[1]))
        rows.append([net, f"[S, {B}, {i}] @ [S, {i}, {o}]", f"{differ_alone} of {3 * B * o}",
                     str(differ_2_16), "yes" if addmm else "no", "yes" if mv else ("–" if o != 1 else "no"),
                     "yes" if batched_addmm else "no"])
    return table(["net", "baddbmm", "elements of members 0-2 (S = 3) differing from each alone (S = 1)",
                  "differing, S = 2 or 3 vs S = 16", "S = 1 == addmm", "S = 1 == mv + b", "S = 3 member 1 == addmm"],
                 rows)


def trajectories(steps: int) -> tuple[str, dict[str, bool]]:
    checkpoints = sorted(s for s in {1, 10, 100, steps} if s <= steps)
    rows, identical = [], {}
    for name, fwd in MODES.items():
        layers.SeedLinear.forward = fwd
        try:
            run = run_spec(steps=steps)
            cell, alone = trainer(run, [0, 1, 2]), [trainer(run, [s]) for s in (0, 1, 2)]
            pair = trainer(run, [0, 1])  # S = 2 against S = 3: members 0 and 1
            found = {}
            for step in range(steps):
                for t in (cell, pair, *alone):
                    t.train_step(step, record=False)
                if step + 1 in checkpoints:
                    found[step + 1] = ([max_diff(params(cell, k), params(alone[k], 0)) for k in range(3)],
                                       max(max_diff(params(cell, k), params(pair, k)) for k in range(2)))
            for s in checkpoints:
                d, d2 = found[s]
                rows.append([name, str(s)] + [f"{v:.2e}" if v else "0 (bit-identical)" for v in d]
                            + [f"{d2:.2e}" if d2 else "0"])
            identical[name] = all(v == 0 for d, _ in found.values() for v in d)
        finally:
            layers.SeedLinear.forward = STOCK
    return table(["forward", "step", "seed 0: in cell vs alone", "seed 1", "seed 2",
                  "seeds 0-1: cell of 2 vs cell of 3"], rows), identical


def all_losses(steps: int) -> str:
    rows = []
    layers.SeedLinear.forward = forward_mulsum
    try:
        for loss in LOSSES.names():
            run = run_spec(loss, steps)
            cell, alone = trainer(run, [0, 1, 2]), trainer(run, [1])
            for step in range(steps):
                cell.train_step(step, record=False)
                alone.train_step(step, record=False)
            d = max_diff(params(cell, 1), params(alone, 0))
            rows.append([loss, str(steps), "0 (bit-identical)" if d == 0 else f"{d:.2e}"])
    finally:
        layers.SeedLinear.forward = STOCK
    return table(["loss", "steps", "seed 1: cell of 3 vs alone (mul-sum final layer)"], rows)


def cost(min_time: float, rounds: int, seeds: list[int], losses: list[str]) -> str:
    rows = []
    for loss in losses:
        for S in seeds:
            run = run_spec(loss)
            fns = {}
            for name, fwd in MODES.items():
                t = trainer(run, list(range(S)))

                def step(t=t, fwd=fwd):
                    layers.SeedLinear.forward = fwd
                    t.train_step(t.step, record=False)
                    t.step += 1
                    layers.SeedLinear.forward = STOCK
                fns[name] = step
            best = interleaved(fns, torch.device("cpu"), min_time, rounds=rounds)
            base = best["stock"]
            rows.append([loss, str(S), f"{1e3 * base:.2f}"]
                        + [f"{1e3 * best[n]:.2f} ({best[n] / base:.3f}x)" for n in MODES if n != "stock"])
    return table(["loss", "seeds S", "stock ms/step"] + [f"{n} ms/step (ratio)" for n in MODES if n != "stock"], rows)


def thread_check(steps: int) -> str:
    rows = []
    before = torch.get_num_threads()
    try:
        for name in ("stock", "mul-sum final layer"):
            layers.SeedLinear.forward = MODES[name]
            trained = {}
            for threads in (1, 2):
                torch.set_num_threads(threads)
                t = trainer(run_spec(steps=steps), [0, 1, 2])
                for step in range(steps):
                    t.train_step(step, record=False)
                trained[threads] = t
            d = max(max_diff(params(trained[1], k), params(trained[2], k)) for k in range(3))
            rows.append([name, str(steps), "0 (bit-identical)" if d == 0 else f"{d:.2e}"])
    finally:
        layers.SeedLinear.forward = STOCK
        torch.set_num_threads(before)
    return table(["forward", "steps", "seeds 0-2, one cell: 1 thread vs 2 threads"], rows)


def main() -> None:
    if "--cli" in sys.argv:  # ganeval's CLI with the S-independent final layer
        layers.SeedLinear.forward = forward_mulsum
        from ganeval.cli import entry_point

        sys.argv = ["ganeval"] + sys.argv[sys.argv.index("--cli") + 1:]
        entry_point()
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--loss-steps", type=int, default=50)
    ap.add_argument("--seeds", default="1,3,15")
    ap.add_argument("--cost-losses", default="bce,wgan-gp")
    ap.add_argument("--min-time", type=float, default=1.5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--thread-steps", type=int, default=10)
    ap.add_argument("--write", default=None)
    ap.add_argument("--sections", default="1,2,3,4,5", help="which sections to run, e.g. 4")
    args = ap.parse_args()
    want = {int(x) for x in args.sections.split(",")}
    parts = []
    if 1 in want:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            parts += [f"### 1. Kernels: member k's `baddbmm` against the number of members ({threads} thread"
                      f"{'s' if threads > 1 else ''})", "", kernel_table(), ""]
    if 5 in want:
        parts += ["### 5. Thread count", "", thread_check(args.thread_steps), ""]
    torch.set_num_threads(args.threads)
    parts.insert(0, f"Measured on {describe(torch.device('cpu')).split(' (')[0]}; torch {torch.__version__}; "
                    f"sections 2-4 with {args.threads} thread(s).\n")
    if 2 in want:
        body, _ = trajectories(args.steps)
        parts += [f"### 2. ring8 bce, seeds 0-2 in one cell against each alone (default settings, {args.steps} steps)",
                  "", body, ""]
    if 3 in want:
        parts += ["### 3. Every loss, mul-sum final layer", "", all_losses(args.loss_steps), ""]
    if 4 in want:
        parts += ["### 4. Cost (best of interleaved rounds; ratio = with the change / stock)", "",
                  cost(args.min_time, args.rounds, [int(s) for s in args.seeds.split(",")],
                       args.cost_losses.split(",")), ""]
    publish("\n".join(parts), args.write, "Measurements (benchmarks/repro_batch_position.py)")


if __name__ == "__main__":
    main()
