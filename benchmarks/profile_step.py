"""Where a seed-step's time goes: the ring8 bce cell's eager step, part by part, against its limit.

    python benchmarks/profile_step.py [--seeds 3] [--threads 2] [--write reports/perf.md]

The cell is the default bench's (ring8, bce, MLP 2x128, batch 256). Each part of the step is timed
on its own, in interleaved rounds in one process (best round): the latent codes and real batch from
the counter RNG, D's forward and backward, G's forward and backward, the two optimizer updates, the
per-step statistics (what a recorded step adds), and the whole step with and without a row. The
torch profiler counts the operators one step dispatches (each is a launch with its own overhead)
and ranks them by self time. The limit: the step's matmul FLOPs (forward and backward, counted by
``torch.utils.flop_counter``) at this machine's own float32 matmul rate, measured in the same run.
The plain loop (perf_mog.py's, one seed) is the reference a user would write. Measures only; it
changes nothing in ganeval.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import describe, interleaved, new_trainer, publish, table  # noqa: E402
from perf_mog import plain_loop  # noqa: E402
from perf_sweep import matmul_rate  # noqa: E402

from ganeval.spec import BenchSpec  # noqa: E402

NO_IO = {"ckpt_every": 10 ** 6, "trace_every": 10 ** 6}


def parts(trainer) -> dict[str, callable]:
    """Each part of one critic + one generator update, runnable on its own (same shapes, same code)."""
    run, B = trainer.run, trainer.run.batch_size
    z = trainer.noise(0, run.n_critic, B)
    real = trainer.benchmark.batch(trainer.streams, 0, 0, B, **trainer.batch_options)
    with torch.no_grad():
        fake = trainer.G(trainer.noise(0, 0, B))
    state = {"step": 0}

    def rng():
        state["step"] += 1
        s = state["step"]
        trainer.noise(s, run.n_critic, B)
        trainer.benchmark.batch(trainer.streams, s, 0, B, **trainer.batch_options)
        trainer.noise(s, 0, B)

    def d_pass():
        d_real, d_fake = trainer.D(torch.cat([real, fake], dim=1)).chunk(2, dim=1)
        loss = trainer.loss.d_loss(d_real, d_fake, **trainer.loss_kwargs)
        torch.autograd.grad(loss.sum(), trainer.d_params)

    def g_pass():
        trainer._g_gradients(z, real, 0)

    d_grads = [torch.zeros_like(p) for p in trainer.d_params]
    g_grads = [torch.zeros_like(p) for p in trainer.g_params]

    def optimizers():  # zero gradients: the update's arithmetic and launches, the weights unchanged in scale
        for p, g in zip(trainer.d_params, d_grads):
            p.grad = g
        trainer.opt_d.step()
        for p, g in zip(trainer.g_params, g_grads):
            p.grad = g
        trainer.opt_g.step()

    foreach = {"d": torch.optim.Adam(trainer.d_params, lr=run.lr_d, betas=tuple(run.betas), foreach=True),
               "g": torch.optim.Adam(trainer.g_params, lr=run.lr_g, betas=tuple(run.betas), foreach=True)}

    def optimizers_foreach():  # the lever issue 34 names: torch's multi-tensor Adam (CPU defaults to the loop)
        for p, g in zip(trainer.d_params, d_grads):
            p.grad = g
        foreach["d"].step()
        for p, g in zip(trainer.g_params, g_grads):
            p.grad = g
        foreach["g"].step()

    def statistics():
        trainer.stats.row(d_loss=torch.zeros(trainer.S), g_loss=torch.zeros(trainer.S), penalty=torch.zeros(trainer.S),
                          d_real=real[..., :1].sum(-1), d_fake=real[..., :1].sum(-1), d_grads=tuple(d_grads),
                          g_grads=tuple(g_grads), real=real, fake=fake, lr_d=trainer.lr_d, lr_g=trainer.lr_g,
                          spectral=False, d_param_norm=trainer.stats.param_norm(trainer.d_params),
                          g_param_norm=trainer.stats.param_norm(trainer.g_params))

    return {"rng": rng, "d_pass": d_pass, "g_pass": g_pass, "optimizers": optimizers,
            "optimizers_foreach": optimizers_foreach, "statistics": statistics}


def step_fn(trainer, record: bool):
    def step():
        trainer.train_step(trainer.step, record=record)
        trainer.step += 1
    return step


def op_profile(fn, steps: int = 20) -> tuple[float, list[tuple[str, int, float]]]:
    """(operators dispatched per step, [(name, calls per step, self ms per step)] of the top 10)."""
    for _ in range(3):
        fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            fn()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    leaf = sum(e.count for e in events if e.self_cpu_time_total > 0)
    return leaf / steps, [(e.key, e.count / steps, e.self_cpu_time_total / 1e3 / steps) for e in top]


def flops_of(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--write", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    spec = BenchSpec()
    spec.run.update(NO_IO)
    run = spec.validate().resolve("ring8", "bce")
    trainer = new_trainer(run, args.seeds, device, graph=False)
    plain = plain_loop(run, device)
    fns = {"whole step, no row": step_fn(trainer, False), "whole step, with a row": step_fn(trainer, True),
           **parts(trainer), "plain loop (1 seed)": plain}
    best = interleaved(fns, device, args.min_time, rounds=args.rounds)
    peak = matmul_rate()
    step_flops = flops_of(step_fn(trainer, False))
    plain_flops = flops_of(plain)
    n_ops, top = op_profile(step_fn(trainer, False))
    plain_ops, _ = op_profile(plain)
    peak = max(peak, matmul_rate())

    whole = best["whole step, no row"]
    names = {"rng": "latent codes and real batch (counter RNG)", "d_pass": "D forward + backward",
             "g_pass": "G forward + backward (through D)", "optimizers": "both Adam updates (torch Adam as ganeval builds it)",
             "optimizers_foreach": "both Adam updates, foreach=True (not used by ganeval today)",
             "statistics": "the per-step statistics (a recorded row)"}
    rows = [[f"whole step, {args.seeds} seeds, no row", f"{1e3 * whole:.2f}", "100 %"],
            [f"whole step, {args.seeds} seeds, with a row", f"{1e3 * best['whole step, with a row']:.2f}",
             f"{100 * best['whole step, with a row'] / whole:.0f} %"]]
    rows += [[names[k], f"{1e3 * best[k]:.2f}", f"{100 * best[k] / whole:.0f} %"] for k in names]
    rest = whole - sum(best[k] for k in ("rng", "d_pass", "g_pass", "optimizers"))
    rows.append(["the rest (the fake batch for D, bookkeeping; parts overlap, so this is approximate)",
                 f"{1e3 * rest:.2f}", f"{100 * rest / whole:.0f} %"])
    rows.append(["plain loop, 1 seed (reference)", f"{1e3 * best['plain loop (1 seed)']:.2f}", "–"])
    limit = step_flops / peak
    lines = [
        f"ring8 bce, default settings (MLP 2x128, batch 256), {args.seeds} seeds in one cell; {describe(device)}, "
        f"{args.threads} thread(s); best of {args.rounds} interleaved rounds of {args.min_time} s, alone on the machine. "
        f"`python benchmarks/profile_step.py`.", "",
        table(["part of the step", "ms", "share of the step"], rows), "",
        f"The limit: the step's matmul work is {step_flops / 1e6:.1f} MFLOP (forward and backward, "
        f"torch.utils.flop_counter); at this machine's float32 matmul rate, {peak / 1e9:.0f} GFLOP/s "
        f"(2048 x 2048, same run), it would take {1e3 * limit:.3f} ms: the step runs at "
        f"{100 * limit / whole:.0f} % of that rate, {whole / limit:.0f}x the arithmetic's time. "
        f"The plain loop: {plain_flops / 1e6:.1f} MFLOP in {1e3 * best['plain loop (1 seed)']:.2f} ms "
        f"({100 * plain_flops / peak / best['plain loop (1 seed)']:.0f} % of the rate).", "",
        f"ATen operator calls per step (nested calls included): {n_ops:.0f} in ganeval's {args.seeds}-seed step, "
        f"{plain_ops:.0f} in the plain loop's one seed; {1e6 * whole / n_ops:.0f} µs of step per call. "
        "Top operators by self time:", "",
        table(["operator", "calls per step", "self ms per step"],
              [[name, f"{calls:.0f}", f"{ms:.3f}"] for name, calls, ms in top]),
    ]
    publish("\n".join(lines), args.write, "Where a seed-step's time goes", device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
