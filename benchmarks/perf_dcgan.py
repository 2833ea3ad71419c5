"""Speed of the seed-batched DCGAN (3x28x28, batch 64) against a plain eager PyTorch loop, and
grouped convolutions against torch.func's vmap as the way to batch seeds.

    python benchmarks/perf_dcgan.py [--device cuda] [--seeds 1,8,32,64] [--write reports/perf.md]

Rows, all in one process on one device:
* baseline: the textbook loop, one seed, nn.Conv2d / nn.ConvTranspose2d / nn.BatchNorm2d;
* ganeval: the trainer's step (grouped convolutions), eager and, on CUDA, from a CUDA graph;
* vmap: the same plain modules batched over seeds with torch.func.functional_call + vmap + grad
  (batch norm without running statistics, which vmap cannot update in place).
The data are random images in [-1, 1] (the speed does not depend on them; no MNIST needed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import (describe, interleaved, mb, memory_note, new_trainer, peak_memory_mb, reset_peak, table,  # noqa: E402
                         publish, trainer_step)

from ganeval import rng  # noqa: E402
from ganeval.benchmarks.base import BENCHMARKS, Benchmark, register_benchmark  # noqa: E402
from ganeval.spec import BenchSpec  # noqa: E402

B, Z, BASE = 64, 100, 64


class RandomImages(Benchmark):
    name = "perf-random-images"
    description = "random 3x28x28 images (speed measurements only)"
    n_modes, data_shape = 1, (3, 28, 28)
    images = False

    def __init__(self):
        from ganeval.benchmarks.stacked_mnist import STACKED_TRAIN_DEFAULTS

        self.train_defaults = {k: v for k, v in STACKED_TRAIN_DEFAULTS.items() if k not in ("fidelity", "pool_size")}

    def sample(self, n, generator=None):
        return torch.rand(n, 3, 28, 28, generator=generator) * 2 - 1

    def batch(self, streams, step, substep, batch_size):
        return streams.uniform(rng.DATA, step, substep, (batch_size, 3, 28, 28)) * 2 - 1

    def evaluate_with_counts(self, samples, **_):
        return {}, torch.zeros(1)

    def save_samples_figure(self, *a, **k):
        pass

    def save_comparison_figure(self, *a, **k):
        pass


if RandomImages.name not in BENCHMARKS:
    register_benchmark(RandomImages.name, RandomImages)


class G(nn.Module):
    def __init__(self, track=True):
        super().__init__()
        self.fc = nn.Linear(Z, 2 * BASE * 49, bias=False)
        self.bn0 = nn.BatchNorm2d(2 * BASE, track_running_stats=track)
        self.up1 = nn.ConvTranspose2d(2 * BASE, BASE, 4, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(BASE, track_running_stats=track)
        self.up2 = nn.ConvTranspose2d(BASE, 3, 4, 2, 1)

    def forward(self, z):
        x = torch.relu(self.bn0(self.fc(z).view(-1, 2 * BASE, 7, 7)))
        return torch.tanh(self.up2(torch.relu(self.bn1(self.up1(x)))))


class D(nn.Module):
    def __init__(self, track=True):
        super().__init__()
        self.c1 = nn.Conv2d(3, BASE, 4, 2, 1)
        self.c2 = nn.Conv2d(BASE, 2 * BASE, 4, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(2 * BASE, track_running_stats=track)
        self.fc = nn.Linear(2 * BASE * 49, 1)

    def forward(self, x):
        h = F.leaky_relu(self.bn(self.c2(F.leaky_relu(self.c1(x), 0.2))), 0.2)
        return self.fc(h.flatten(1)).squeeze(1)


def plain_loop(device):
    g, d = G().to(device), D().to(device)
    og = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))

    def step():
        real = torch.rand(B, 3, 28, 28, device=device) * 2 - 1
        fake = g(torch.rand(B, Z, device=device) * 2 - 1)
        loss = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()
        od.zero_grad()
        loss.backward()
        od.step()
        loss = F.softplus(-d(fake)).mean()
        og.zero_grad()
        loss.backward()
        og.step()
    return step


def vmap_loop(seeds, device):
    from torch.func import functional_call, grad, stack_module_state, vmap

    gs = [G(track=False).to(device) for _ in range(seeds)]
    ds = [D(track=False).to(device) for _ in range(seeds)]
    g_params, _ = stack_module_state(gs)
    d_params, _ = stack_module_state(ds)
    g0, d0 = gs[0], ds[0]
    g_list, d_list = list(g_params.values()), list(d_params.values())
    for p in g_list + d_list:
        p.requires_grad_(True)
    og = torch.optim.Adam(g_list, 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d_list, 2e-4, betas=(0.5, 0.999))

    def d_loss(dp, gp, real, z):
        fake = functional_call(g0, gp, (z,)).detach()
        return F.softplus(-functional_call(d0, dp, (real,))).mean() + F.softplus(functional_call(d0, dp, (fake,))).mean()

    def g_loss(gp, dp, z):
        return F.softplus(-functional_call(d0, dp, (functional_call(g0, gp, (z,)),))).mean()

    d_grad, g_grad = vmap(grad(d_loss)), vmap(grad(g_loss))

    def step():
        real = torch.rand(seeds, B, 3, 28, 28, device=device) * 2 - 1
        z = torch.rand(seeds, B, Z, device=device) * 2 - 1
        grads = d_grad(d_params, g_params, real, z)
        for k, p in d_params.items():
            p.grad = grads[k]
        od.step()
        grads = g_grad(g_params, d_params, torch.rand(seeds, B, Z, device=device) * 2 - 1)
        for k, p in g_params.items():
            p.grad = grads[k]
        og.step()
    return step


def ganeval_step(seeds, device, graph):
    run = BenchSpec(benchmarks=[RandomImages.name], losses=["bce"]).resolve(RandomImages.name, "bce")
    return trainer_step(new_trainer(run, seeds, device, graph), graph, run.trace_every)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seeds", default=None, help="seed counts (default 1,8,32,64 on CUDA; 1,2,4 on CPU)")
    parser.add_argument("--min-time", type=float, default=None)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    counts = [int(s) for s in (args.seeds or ("1,8,32,64" if cuda else "1,2,4")).split(",")]
    min_time = args.min_time or (2.0 if cuda else 4.0)
    paths = [("ganeval, grouped conv, eager", lambda s: ganeval_step(s, device, False)),
             ("torch.func vmap, eager", lambda s: vmap_loop(s, device))]
    if cuda:
        paths.insert(1, ("ganeval, grouped conv, CUDA graph", lambda s: ganeval_step(s, device, True)))
    reset_peak(device)
    baseline = plain_loop(device)
    baseline()
    configs = {("plain eager loop (baseline)", 1): baseline}
    memory = {("plain eager loop (baseline)", 1): peak_memory_mb(device)}
    for label, make in paths:
        for s in counts:
            reset_peak(device)
            try:
                fn = make(s)
                fn()
                memory[(label, s)] = peak_memory_mb(device)
                configs[(label, s)] = fn
            except Exception as exc:  # noqa: BLE001 - report, keep measuring the others
                print(f"{label} x{s}: {type(exc).__name__}: {exc}", file=sys.stderr)
    best = interleaved(configs, device, min_time, rounds=2)
    base = 1.0 / best[("plain eager loop (baseline)", 1)]
    per_seed = {label: 1.0 / best[(label, 1)] for label, _ in paths if (label, 1) in best}
    rows = []
    for (label, s), per_call in best.items():
        rate = s / per_call
        vs_own = f"{rate / per_seed[label]:.2f}×" if label in per_seed else "–"
        rows.append([label, str(s), f"{rate:,.1f}", f"{rate / base:.2f}×", vs_own,
                     mb(memory.get((label, s)))])
    body = (f"Device: {describe(device)}. DCGAN (64 base filters) on 3×28×28, batch 64, bce; random images. "
            "ganeval's eager step computes trace statistics every 5th step (its default); the graph step every step. "
            + memory_note(device) + " Best of 2 interleaved rounds per configuration. 'vs same path, 1 seed' is the gain of batching seeds over "
            "running them one after another.\n\n"
            + table(["path", "seeds", "seed-steps/s", "vs baseline", "vs same path, 1 seed", "peak MB"], rows))
    publish(body, args.write, "DCGAN trainer", device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
