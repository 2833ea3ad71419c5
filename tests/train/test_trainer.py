"""Seed-batched training: seed k in a batch == seed k alone; no cross-seed poisoning; exact resume."""

import math

import pytest
import torch

from ganeval import rundir
from ganeval.diagnostics.trace import read_trace
from ganeval.losses import LOSSES
from ganeval.rundir import checkpoint_path, checkpoint_steps
from ganeval.spec import BenchSpec
from ganeval.train.trainer import CellTrainer

SMALL = {"hidden": 32, "batch_size": 64, "ckpt_every": 10, "trace_every": 1}


def make(tmp_path, loss, seeds, name, **over):
    spec = BenchSpec(seeds=list(seeds))
    spec.run.update({**SMALL, **over})
    run = spec.resolve("ring8", loss)
    dirs = [tmp_path / name / f"seed-{s}" for s in seeds]
    return CellTrainer(run, seeds, dirs, torch.device("cpu"))


def seed_params(trainer, k):
    return [p[k] for p in list(trainer.G.parameters()) + list(trainer.D.parameters())]


@pytest.mark.parametrize("loss", LOSSES.names())
def test_seed_in_a_batch_trains_like_the_seed_alone(tmp_path, loss):
    steps = 25
    batch = make(tmp_path, loss, [4, 7, 9], "batch", steps=steps)
    alone = make(tmp_path, loss, [7], "alone", steps=steps)
    for a, b in zip(seed_params(batch, 1), seed_params(alone, 0)):
        assert torch.equal(a, b)  # identical initialisation
    batch.train()
    alone.train()
    for a, b in zip(seed_params(batch, 1), seed_params(alone, 0)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), float((a - b).abs().max())
    rows_b = read_trace(batch.run_dirs[1] / "trace.csv")
    rows_a = read_trace(alone.run_dirs[0] / "trace.csv")
    assert len(rows_a) == len(rows_b) == steps
    for ra, rb in zip(rows_a, rows_b):
        for key in ("d_loss", "g_loss", "penalty", "d_grad_norm", "g_grad_norm"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-3, abs=1e-5), key


def test_the_seeds_of_a_batch_really_differ(tmp_path):
    t = make(tmp_path, "bce", [0, 1], "b", steps=1)
    w = t.G.net[0].weight
    assert not torch.equal(w[0], w[1])


def test_a_diverging_seed_does_not_poison_the_others(tmp_path):
    clean = make(tmp_path, "wgan-gp", [0, 1, 2], "clean", steps=12)
    poisoned = make(tmp_path, "wgan-gp", [0, 1, 2], "poisoned", steps=12)
    clean.train(stop_at=3)
    poisoned.train(stop_at=3)
    with torch.no_grad():
        poisoned.D.net[0].weight[1].fill_(float("nan"))
        poisoned.G.net[2].bias[1].fill_(float("inf"))
    clean.train()
    poisoned.train()
    for k in (0, 2):
        for a, b in zip(seed_params(clean, k), seed_params(poisoned, k)):
            assert torch.equal(a, b)
    assert not all(torch.isfinite(p).all() for p in seed_params(poisoned, 1))
    rows = read_trace(poisoned.run_dirs[1] / "trace.csv")
    assert any(math.isnan(r["d_loss"]) for r in rows)
    assert all(math.isfinite(r["d_loss"]) for r in read_trace(poisoned.run_dirs[0] / "trace.csv"))


def _payload_tensors(payload):
    out = {}
    for part in ("G", "D"):
        out.update({f"{part}.{k}": v for k, v in payload[part].items()})
    for part in ("opt_G", "opt_D"):
        for idx, state in payload[part]["state"].items():
            out.update({f"{part}.{idx}.{k}": v for k, v in state.items()})
    return out


@pytest.mark.parametrize("loss", ["bce", "wgan-gp"])
def test_a_killed_run_resumes_bit_identically(tmp_path, loss):
    full = make(tmp_path, loss, [0, 1], "full", steps=30)
    full.train()
    killed = make(tmp_path, loss, [0, 1], "resumed", steps=30)
    killed.train(stop_at=25)  # killed after the step-20 checkpoint
    assert checkpoint_steps(killed.run_dirs[0]) == [10, 20]
    resumed = make(tmp_path, loss, [0, 1], "resumed", steps=30)
    assert resumed.resume() == 20
    resumed.train()
    for k in range(2):
        a = _payload_tensors(rundir.load_checkpoint(full.run_dirs[k], 30))
        b = _payload_tensors(rundir.load_checkpoint(resumed.run_dirs[k], 30))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
        ta = read_trace(full.run_dirs[k] / "trace.csv")
        tb = read_trace(resumed.run_dirs[k] / "trace.csv")
        assert [r["step"] for r in tb] == list(range(30))
        for ra, rb in zip(ta, tb):
            assert {c: v for c, v in ra.items() if c != "wall_time"} == {c: v for c, v in rb.items() if c != "wall_time"}


def test_resume_falls_back_past_a_corrupt_checkpoint(tmp_path, caplog):
    t = make(tmp_path, "bce", [0, 1], "c", steps=30)
    t.train()
    path = checkpoint_path(t.run_dirs[1], 30)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    again = make(tmp_path, "bce", [0, 1], "c", steps=30)
    assert again.resume() == 20
    assert "SHA-256 mismatch" in caplog.text


def test_resume_refuses_a_checkpoint_of_another_configuration(tmp_path):
    from ganeval.errors import RunFolderError

    make(tmp_path, "bce", [0], "x", steps=10).train()
    other = make(tmp_path, "bce", [0], "x", steps=10, lr_d=0.5)
    with pytest.raises(RunFolderError, match="different configuration"):
        other.resume()


def test_trace_has_per_layer_norms_that_add_up(tmp_path):
    t = make(tmp_path, "hinge", [0], "t", steps=3)
    t.train()
    row = read_trace(t.run_dirs[0] / "trace.csv")[-1]
    layers = [v for k, v in row.items() if k.startswith("d_grad_norm.")]
    assert len(layers) == 3
    assert math.sqrt(sum(v * v for v in layers)) == pytest.approx(row["d_grad_norm"], rel=1e-5)


@pytest.mark.parametrize("simultaneous", [False, True])
def test_simultaneous_updates_take_gs_gradient_at_ds_old_weights(tmp_path, simultaneous):
    """One step by hand: G's Adam step from the gradient against D before (simultaneous, as the
    ALI/PacGAN and VEEGAN code) or after (alternating, ganeval's default) D's own update."""
    import copy

    t = make(tmp_path, "bce", [0], f"s{simultaneous}", steps=1, simultaneous=simultaneous)
    G, D = copy.deepcopy(t.G), copy.deepcopy(t.D)
    t.train_step(0, record=False)
    if not simultaneous:
        D = t.D  # the updated D
    z = t.noise(0, t.run.n_critic, t.run.batch_size)
    loss = t.loss.g_loss(D(G(z))).sum()
    params = list(G.parameters())
    grads = torch.autograd.grad(loss, params)
    opt = torch.optim.Adam(params, lr=t.run.lr_g, betas=t.run.betas)
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()
    for mine, expected in zip(t.G.parameters(), params):
        assert torch.allclose(mine, expected, atol=1e-6)


def test_simultaneous_updates_need_one_critic_step():
    from ganeval.errors import SpecError
    from ganeval.feasibility import check_model

    spec = BenchSpec()
    spec.run.update({"simultaneous": True, "n_critic": 5})
    with pytest.raises(SpecError, match="n_critic must be 1"):
        check_model(spec.resolve("ring8", "bce"))
