"""False alarms, misses and dating error of the training events on two public GAN loops, traced
with ``GANTracer`` exactly as the README shows, healthy and sabotaged.

The loops (neither is vendored; run ``fetch`` of the search tool, or ``git clone``, to get them):

- **DCGAN**: pytorch/examples ``dcgan/main.py``. Its ``weights_init``, ``Generator`` and
  ``Discriminator`` are read from the file named by ``--dcgan-main`` (the definitions only, run as
  written, with the file's globals ``nz``, ``ngf``, ``ndf``, ``nc`` set to this script's
  options); the training loop is the file's, restated here in a few lines (BCELoss on D's
  sigmoid outputs, real then fake backward, Adam(lr 2e-4, betas 0.5/0.999) for both, G's
  non-saturating loss on the same fakes) with the tracer's three calls added. Data: MNIST from
  ganeval's cache, resized to 64x64 and scaled to [-1, 1] as the example's transforms do.
- **WGAN-GP toy**: the 8-Gaussians script of Gulrajani et al. (igul222/improved_wgan_training
  ``gan_toy.py``; its PyTorch port caogang/wgan-gp ``gan_toy.py`` is Python 2), re-implemented
  here in our own words with its settings: ReLU MLPs of width ``--toy-dim`` (the original: 512)
  and depth 3, weights N(0, 0.02) and zero biases (the port's ``weights_init``), 5 critic
  updates per G update, gradient penalty lambda 0.1, Adam(1e-4, betas 0.5/0.9), batch 256,
  8 Gaussians of std 0.02 on a radius-2 circle divided by 1.414.

Conditions (each over ``--seeds``): ``healthy``; ``d_lr`` (D's learning rate x1000 from step 0);
``g_lr`` (G's x1000 from the middle step, a schedule bug); ``nan`` (one real batch holding a NaN
at the middle step, a data bug); ``collapse`` (from the middle step G is fed the same z for every
sample: its output collapses to one sample); ``frozen_g`` (``opt_g.step()`` forgotten: G stays at
its initial weights). Each sabotage names, in advance, the event kinds that *are* its failure
(``EXPECTED``), and its onset step.

Scored per event kind: a **false alarm** is an event in a healthy run, or one that starts before
the sabotage's onset; a **miss** is a sabotaged run where an expected kind did not fire; the
**dating error** is the event's start minus the onset, over the expected events that fired. The
per-condition table gives the same per run, and whether any event is still open at the end
(the healthy toy run must have none). Usage::

    python benchmarks/false_alarms_real_loops.py --dcgan-main /path/to/examples/dcgan/main.py \\
        [--seeds 0,1,2] [--dcgan-steps 300] [--toy-steps 400] [--out DIR] [--report reports/false_alarms_real_loops.md]
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganeval import fileio, rundir
from ganeval.diagnostics import GANTracer
from ganeval.diagnostics import events as ev

log = logging.getLogger(__name__)

CONDITIONS = ("healthy", "d_lr", "g_lr", "nan", "collapse", "frozen_g")
#: The failure each sabotage causes, as event kinds: any of them firing at or after the onset is a
#: detection. Decided from what the sabotage does, before looking at a trace: Adam moves every
#: weight by about lr a step, so lr x1000 grows that network's weights; a NaN in the data is a
#: non-finite loss; one z for all samples is one sample (low diversity); a G that never steps
#: leaves D to separate a fixed fake batch perfectly.
EXPECTED = {
    "d_lr": {ev.WEIGHTS + ":D"},
    "g_lr": {ev.WEIGHTS + ":G"},
    "nan": {ev.DIVERGENCE},
    "collapse": {ev.MODE_COLLAPSE},
    "frozen_g": {ev.OVERPOWERING},
}


def onset(condition: str, steps: int) -> int | None:
    return {"healthy": None, "d_lr": 0, "frozen_g": 0}.get(condition, steps // 2)


def event_key(event: dict) -> str:
    network = event["evidence"].get("network")
    return event["kind"] + (f":{network}" if network else "")


# --- pytorch/examples DCGAN ------------------------------------------------------------------------
def load_dcgan_definitions(main_py: Path, nz: int, ngf: int, ndf: int, nc: int) -> dict:
    """``weights_init``, ``Generator``, ``Discriminator`` from the example's own file, as written."""
    tree = ast.parse(Path(main_py).read_text(encoding="utf-8"))
    wanted = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
              and n.name in ("weights_init", "Generator", "Discriminator")]
    if len(wanted) != 3:
        raise SystemExit(f"{main_py}: expected weights_init, Generator and Discriminator, found "
                         f"{[n.name for n in wanted]}")
    namespace = {"torch": torch, "nn": nn, "nz": nz, "ngf": ngf, "ndf": ndf, "nc": nc}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(main_py), "exec"), namespace)  # noqa: S102
    return namespace


def mnist_64(n: int) -> torch.Tensor:
    from ganeval.benchmarks.mnist_data import load_mnist

    images = load_mnist(download=False).train_images[:n].float().div(255).unsqueeze(1)
    return F.interpolate(images, size=64, mode="bilinear", align_corners=False).mul(2).sub(1)  # Resize + Normalize


def dcgan_run(defs: dict, data: torch.Tensor, run_dir: Path, condition: str, seed: int, steps: int, batch: int,
              nz: int, lr: float = 2e-4) -> dict:
    torch.manual_seed(seed)
    G, D = defs["Generator"](1), defs["Discriminator"](1)
    G.apply(defs["weights_init"])
    D.apply(defs["weights_init"])
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=lr * (1000 if condition == "d_lr" else 1), betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    at = onset(condition, steps)
    order = torch.randperm(len(data))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="GANTracer: D ends in a Sigmoid")  # the example's D does
        tracer = GANTracer(G, D, run_dir)
    crashed = None
    try:
        with tracer:  # leaving it by an exception still writes the trace and its events
            for step in range(steps):
                crashed = step
                if condition == "g_lr" and step == at:
                    opt_g.param_groups[0]["lr"] = lr * 1000
                idx = order[(step * batch) % (len(data) - batch):][:batch]
                real = data[idx].clone()
                if condition == "nan" and step == at:
                    real[0, 0, 0, 0] = float("nan")
                D.zero_grad()
                out_real = D(real)
                err_real = criterion(out_real, torch.ones(batch))
                err_real.backward()
                noise = torch.randn(batch, nz, 1, 1)
                if condition == "collapse" and step >= at:
                    noise = noise[:1].expand_as(noise)
                fake = G(noise)
                out_fake = D(fake.detach())
                err_fake = criterion(out_fake, torch.zeros(batch))
                err_fake.backward()
                tracer.d_step(err_real + err_fake, out_real, out_fake, real=real, fake=fake.detach())
                opt_d.step()
                G.zero_grad()
                err_g = criterion(D(fake), torch.ones(batch))
                err_g.backward()
                tracer.g_step(err_g)
                if condition != "frozen_g":
                    opt_g.step()
                tracer.step(step, opt_d, opt_g)
            crashed = None
    except RuntimeError as exc:  # nn.BCELoss refuses a NaN input: the example's loop itself stops there
        log.warning("dcgan/%s seed %d: the loop raised at step %s: %s", condition, seed, crashed, exc)
    if crashed is not None:
        return {"events": tracer.close(), "crashed_at": crashed}
    with torch.no_grad():  # what G draws at the end, in train-mode BN as the example draws it
        from torchvision.utils import save_image

        save_image(G(torch.randn(64, nz, 1, 1)), run_dir / "samples.png", nrow=8, normalize=True)
    return {"events": tracer.close()}


# --- the WGAN-GP toy (our own port) ----------------------------------------------------------------
def eight_gaussians(n: int) -> torch.Tensor:
    angles = torch.arange(8) * (math.pi / 4)
    centers = torch.stack([angles.cos(), angles.sin()], 1) * 2.0
    return (centers[torch.randint(8, (n,))] + 0.02 * torch.randn(n, 2)) / 1.414


def toy_mlp(dim: int, out: int) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(),
                        nn.Linear(dim, out))
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
    return net


def modes_covered(samples: torch.Tensor) -> int:
    """Modes holding at least 2% of the samples within 0.25 of their centre (a coarse check that the
    healthy toy run learned the mixture, not a metric of this benchmark)."""
    angles = torch.arange(8) * (math.pi / 4)
    centers = torch.stack([angles.cos(), angles.sin()], 1) * 2.0 / 1.414
    samples = samples[torch.isfinite(samples).all(1)]
    if not len(samples):
        return 0
    dist, nearest = torch.cdist(samples, centers).min(1)
    close = nearest[dist < 0.25]  # a quarter of the spacing of neighbouring modes (1.08)
    return int((torch.bincount(close, minlength=8) >= 0.02 * len(samples)).sum())  # 2% of the samples


def toy_run(run_dir: Path, condition: str, seed: int, steps: int, dim: int, batch: int = 256, n_critic: int = 5,
            lam: float = 0.1, lr: float = 1e-4) -> dict:
    torch.manual_seed(seed)
    G, D = toy_mlp(dim, 2), toy_mlp(dim, 1)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr * (1000 if condition == "d_lr" else 1), betas=(0.5, 0.9))
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.9))
    at = onset(condition, steps)

    def sample_z(step: int) -> torch.Tensor:
        z = torch.randn(batch, 2)
        return z[:1].expand_as(z) if condition == "collapse" and step >= at else z

    with GANTracer(G, D, run_dir) as tracer:
        for step in range(steps):
            if condition == "g_lr" and step == at:
                opt_g.param_groups[0]["lr"] = lr * 1000
            for _ in range(n_critic):
                real = eight_gaussians(batch)
                if condition == "nan" and step == at:
                    real[0, 0] = float("nan")
                with torch.no_grad():
                    fake = G(sample_z(step))
                d_real, d_fake = D(real).view(-1), D(fake).view(-1)
                alpha = torch.rand(batch, 1)
                mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
                grad, = torch.autograd.grad(D(mixed).sum(), mixed, create_graph=True)
                penalty = lam * ((grad.norm(2, dim=1) - 1) ** 2).mean()
                d_loss = d_fake.mean() - d_real.mean() + penalty
                opt_d.zero_grad()
                d_loss.backward()
                tracer.d_step(d_loss, d_real, d_fake, real=real, fake=fake, penalty=penalty)
                opt_d.step()
            g_loss = -D(G(sample_z(step))).mean()
            opt_g.zero_grad()
            g_loss.backward()
            tracer.g_step(g_loss)
            if condition != "frozen_g":
                opt_g.step()
            tracer.step(step, opt_d, opt_g)
    with torch.no_grad():
        covered = modes_covered(G(torch.randn(2500, 2)))
    return {"events": tracer.close(), "modes_covered": covered}


# --- scoring -------------------------------------------------------------------------------------
def score(results: list[dict]) -> tuple[list[list[str]], list[list[str]]]:
    """(per-kind rows, per-condition rows) from the runs' events."""
    kinds: dict[str, dict] = {}
    for res in results:
        for e in res["events"]:
            kinds.setdefault(event_key(e), {"fa": 0, "expected": 0, "missed": 0, "errors": [], "other": 0})
        for key in EXPECTED.get(res["condition"], ()):
            kinds.setdefault(key, {"fa": 0, "expected": 0, "missed": 0, "errors": [], "other": 0})
    per_condition: dict[tuple[str, str], dict] = {}
    for res in results:
        cond, at = res["condition"], res["onset"]
        expected = EXPECTED.get(cond, set())
        row = per_condition.setdefault((res["loop"], cond), {"runs": 0, "fa": 0, "detected": 0, "errors": [],
                                                             "open": 0, "modes": [], "crashed": 0})
        row["runs"] += 1
        row["crashed"] += res.get("crashed_at") is not None
        row["open"] += any(e.get("open") for e in res["events"])
        if "modes_covered" in res:
            row["modes"].append(res["modes_covered"])
        early = [e for e in res["events"] if at is None or e["step"] < at]
        row["fa"] += bool(early)
        for e in early:
            kinds[event_key(e)]["fa"] += 1
        fired = {}
        for e in res["events"]:
            if at is not None and e["step"] >= at:
                fired.setdefault(event_key(e), e["step"])
        for key in expected:
            kinds[key]["expected"] += 1
            if key in fired:
                kinds[key]["errors"].append(fired[key] - at)
            else:
                kinds[key]["missed"] += 1
        for key in fired:
            if key not in expected:
                kinds[key]["other"] += 1
        hits = [step - at for step in fired.values()]  # any warning at or after the onset
        if hits and cond != "healthy":
            row["detected"] += 1
            row["errors"].append(min(hits))

    def spread(errors: list[int]) -> str:
        if not errors:
            return "–"
        return f"{statistics.median(errors):g} [{min(errors)}, {max(errors)}]"

    kind_rows = [[k, str(v["fa"]), f"{v['missed']} / {v['expected']}" if v["expected"] else "–",
                  spread(v["errors"]), str(v["other"])] for k, v in sorted(kinds.items())]
    cond_rows = []
    for (loop, cond), v in per_condition.items():
        modes = f"{statistics.mean(v['modes']):.1f}" if v["modes"] else "–"
        cond_rows.append([loop, cond, ", ".join(sorted(EXPECTED.get(cond, ()))) or "none", str(v["runs"]), str(v["fa"]),
                          f"{v['runs'] - v['detected']}" if cond != "healthy" else "–", spread(v["errors"]),
                          str(v["open"]), str(v["crashed"]), modes])
    return kind_rows, cond_rows


def markdown(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dcgan-main", type=Path, help="pytorch/examples dcgan/main.py (needed for the dcgan loop)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--loops", default="dcgan,toy")
    ap.add_argument("--dcgan-steps", type=int, default=300)
    ap.add_argument("--dcgan-batch", type=int, default=16)
    ap.add_argument("--ngf", type=int, default=16, help="the example's --ngf/--ndf (its default: 64)")
    ap.add_argument("--nz", type=int, default=100)
    ap.add_argument("--toy-steps", type=int, default=400)
    ap.add_argument("--toy-dim", type=int, default=128, help="the original's DIM is 512")
    ap.add_argument("--toy-batch", type=int, default=256, help="the original's BATCH_SIZE is 256")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="run folders  [default: a temporary folder]")
    ap.add_argument("--report", type=Path, default=None, help="write the tables (markdown) here, the runs' "
                    "events next to it (.json)")
    ap.add_argument("--from-json", type=Path, nargs="*", default=None,
                    help="score the runs of earlier --report .json files instead of training (e.g. one per loop)")
    ap.add_argument("--rescore", action="store_true",
                    help="read the events.json of the run folders under --out instead of training them again")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    conditions = args.conditions.split(",")
    loops = args.loops.split(",")
    out = args.out or Path(tempfile.mkdtemp(prefix="false-alarms-real-"))
    results = [r for f in args.from_json or () for r in json.loads(Path(f).read_text())]
    if args.from_json:
        loops = []
    runners: dict[str, Callable[[Path, str, int], dict]] = {}
    if "dcgan" in loops and not args.rescore:
        if args.dcgan_main is None:
            ap.error("--dcgan-main is required for the dcgan loop")
        defs = load_dcgan_definitions(args.dcgan_main, args.nz, args.ngf, args.ngf, 1)
        data = mnist_64(max(4096, args.dcgan_batch * 64))
        runners["dcgan"] = lambda d, c, s: dcgan_run(defs, data, d, c, s, args.dcgan_steps, args.dcgan_batch, args.nz)
    if args.rescore:
        runners = {loop: None for loop in loops}
    elif "toy" in loops:
        runners["toy"] = lambda d, c, s: toy_run(d, c, s, args.toy_steps, args.toy_dim, args.toy_batch)
    steps = {"dcgan": args.dcgan_steps, "toy": args.toy_steps}
    t_all = time.perf_counter()
    for loop, run in runners.items():
        for condition in conditions:
            for seed in seeds:
                t0 = time.perf_counter()
                folder = out / loop / condition / f"seed-{seed}"
                res = {"events": rundir.read_events(folder) or []} if args.rescore else run(folder, condition, seed)
                res.update(loop=loop, condition=condition, seed=seed, onset=onset(condition, steps[loop]))
                results.append(res)
                shown = [(event_key(e), e["step"], "open" if e.get("open") else e.get("end")) for e in res["events"]]
                print(f"{loop}/{condition} seed {seed} ({time.perf_counter() - t0:.0f} s): "
                      + (f"modes {res['modes_covered']}/8, " if "modes_covered" in res else "") + f"events {shown}",
                      flush=True)
    kind_rows, cond_rows = score(results)
    settings = results[0].get("settings", "") if results else ""
    if not args.from_json:
        settings = {"dcgan": f"DCGAN: pytorch/examples, ngf = ndf = {args.ngf}, nz {args.nz}, batch "
                             f"{args.dcgan_batch}, MNIST 64x64, {args.dcgan_steps} steps, seeds {seeds}.",
                    "toy": f"WGAN-GP toy: width {args.toy_dim}, batch {args.toy_batch}, 5 critic steps, "
                           f"{args.toy_steps} G steps, seeds {seeds}."}
        settings = " ".join(settings[loop] for loop in loops)
        for r in results:
            r["settings"] = settings
    settings = " ".join(dict.fromkeys(r.get("settings", "") for r in results))
    text = "\n".join([
        "## Events on two public GAN loops: false alarms, misses, dating error",
        "",
        f"{settings} Every step traced. Sabotages from step 0 (`d_lr`, `frozen_g`) or the middle "
        "step (`g_lr`, `nan`, `collapse`). Dating error: event start minus onset, median [min, max], in steps.",
        "",
        "Per event kind (`:D`/`:G`: the network). False alarms: events in healthy runs or before the onset; "
        "misses: sabotaged runs whose failure is this kind and where it did not fire; also fired: after the "
        "onset of a sabotage whose failure is another kind (a consequence, not scored).",
        "",
        markdown(["event kind", "false alarms", "misses / expected", "dating error", "also fired"], kind_rows),
        "",
        "Per loop and condition: runs with a false alarm; missed: sabotaged runs where no event of any kind "
        "started at or after the onset (the user got no warning); dating error of the first such event; runs "
        "with an event still open at the end; runs whose loop raised (nn.BCELoss refuses a NaN); toy: modes "
        "covered of 8 at the end (a coarse check, mean over seeds):",
        "",
        markdown(["loop", "condition", "expected", "runs", "false alarm", "missed", "dating error", "open at end",
                  "loop raised", "modes"], cond_rows),
    ] + ([] if args.from_json else [
        "", f"Measured in {time.perf_counter() - t_all:.0f} s (CPU, {torch.get_num_threads()} threads)."]))
    print()
    print(text)
    if args.report:
        fileio.write_text(args.report, text + "\n")
        fileio.write_text(args.report.with_suffix(".json"), json.dumps(
            [{k: v for k, v in r.items()} for r in results], indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
