"""Stabilizer variants: each does what its paper says, per seed, and refuses what makes no sense."""

import pytest
import torch

from ganeval.diagnostics.trace import read_trace
from ganeval.errors import SpecError, UnknownNameError
from ganeval.losses import r1_penalty
from ganeval.models import build_models
from ganeval.spec import BenchSpec
from ganeval.train.trainer import CellTrainer
from ganeval.variants import VARIANTS, Variant, parse_variant, register_variant

SMALL = {"hidden": 32, "batch_size": 64, "ckpt_every": 100, "trace_every": 1}


def trainer(tmp_path, variant, seeds, name, loss="bce", benchmark="ring8", **over):
    spec = BenchSpec(benchmarks=[benchmark], losses=[loss], variants=[variant], seeds=list(seeds))
    spec.run.update({**SMALL, **over})
    run = spec.validate().resolve(benchmark, loss, variant)
    return CellTrainer(run, list(seeds), [tmp_path / name / str(s) for s in seeds], torch.device("cpu"))


@pytest.mark.parametrize("benchmark", ["ring8", "stacked-mnist"])
def test_spectral_norm_makes_every_d_layer_1_lipschitz_per_seed(benchmark):
    spec = BenchSpec(benchmarks=[benchmark], variants=["sn"])
    run = spec.resolve(benchmark, "hinge", "sn")
    _, D = build_models(run, [0, 1, 2], (2,) if benchmark == "ring8" else (3, 28, 28))
    layers = [m for m in D.modules() if hasattr(m, "parametrizations")]
    assert len(layers) >= 2
    for layer in layers:
        for _ in range(50):  # one power iteration per training forward: as after 50 steps of unchanged weights
            w = layer.weight.detach()
        sigma = torch.linalg.matrix_norm(w.reshape(3, w.shape[1], -1), 2)
        assert torch.allclose(sigma, torch.ones(3), atol=0.01), sigma
        original = layer.parametrizations.weight.original.detach()
        assert not torch.allclose(torch.linalg.matrix_norm(original.reshape(3, w.shape[1], -1), 2), torch.ones(3), atol=0.05)


def test_r1_equals_a_hand_computation_on_a_linear_critic():
    w = torch.tensor([[0.6, -0.8, 2.0]])

    def critic(x):  # [S, B, 3] -> [S, B], gradient w everywhere
        return (x * w[:, None, :]).sum(-1)

    assert torch.allclose(r1_penalty(critic, torch.randn(1, 5, 3), batch_dims=2), (w**2).sum(1))


def test_ema_weights_equal_a_manual_running_average(tmp_path):
    t = trainer(tmp_path, "ema", [0, 1], "ema", ema_beta=0.9, steps=8)
    manual = [p.detach().clone() for p in t.G.parameters()]
    for step in range(8):
        t.train_step(step, record=False)
        for m, p in zip(manual, t.G.parameters()):
            m.mul_(0.9).add_(p.detach(), alpha=0.1)
    for m, e in zip(manual, t.G_ema.parameters()):
        assert torch.allclose(m, e, atol=1e-6)
    assert not torch.allclose(manual[0], list(t.G.parameters())[0])


def test_clipped_gradient_norms_in_the_trace_never_exceed_the_threshold(tmp_path):
    t = trainer(tmp_path, "clip-grad", [0, 1, 2], "clip", clip_grad=0.05, steps=40)
    t.train()
    norms = [r[k] for d in t.run_dirs for r in read_trace(d / "trace.csv") for k in ("d_grad_norm", "g_grad_norm")]
    assert max(norms) <= 0.05 * (1 + 1e-5)
    assert max(norms) > 0.04  # the clip was active, not trivially satisfied
    free = trainer(tmp_path, "none", [0], "free", steps=5)
    free.train()
    assert max(r["d_grad_norm"] for r in read_trace(free.run_dirs[0] / "trace.csv")) > 0.05


@pytest.mark.parametrize("variant", ["sn", "r1", "clip-grad", "bn", "ttur", "ema", "sn+ttur", "r1+ema", "lecam"])
def test_a_batched_seed_with_a_variant_matches_the_seed_alone(tmp_path, variant, same_as_alone):
    steps = 15
    batch = trainer(tmp_path, variant, [4, 7, 9], "batch", steps=steps, r1_every=2 if "r1" in variant else 1)
    alone = trainer(tmp_path, variant, [7], "alone", steps=steps, r1_every=2 if "r1" in variant else 1)
    batch.train()
    alone.train()
    same_as_alone(batch, 1, alone, variant)


def test_lazy_r1_is_applied_every_k_steps_only(tmp_path):
    t = trainer(tmp_path, "r1", [0], "lazy", r1_every=4, steps=12)
    t.train()
    rows = read_trace(t.run_dirs[0] / "trace.csv")
    assert [r["step"] for r in rows if r["penalty"] > 0] == [0, 4, 8]


def test_variant_names_and_combinations_are_checked():
    assert [v.name for v in parse_variant("sn+ttur")] == ["sn", "ttur"]
    with pytest.raises(UnknownNameError, match="did you mean 'sn'"):
        parse_variant("sm")
    with pytest.raises(SpecError, match="cannot be combined"):
        parse_variant("bn+no-bn")
    with pytest.raises(SpecError, match="refused"):
        parse_variant("sn", loss="wgan")
    with pytest.raises(SpecError, match="twice"):
        parse_variant("sn+sn")


def test_variant_settings_in_a_spec_file_and_the_resolved_spec(tmp_path):
    spec_file = tmp_path / "s.toml"
    spec_file.write_text('variants = ["none", "r1"]\n[variant.r1]\nr1_gamma = 3.0\n')
    from ganeval.spec import load_spec

    spec = load_spec(spec_file)
    cells = {c.cell_key: c for c in spec.cells()}
    assert cells["ring8/bce/r1"].r1_gamma == 3.0 and cells["ring8/bce"].r1_gamma == 0.0
    assert 'r1_gamma = 3.0' in spec.to_toml()


# --- stabilizers with behaviour (the plugin interface) -------------------------------------------
def _register_once(variant):
    if variant.name not in VARIANTS:
        register_variant(variant)


def _trainer(tmp_path, variant, name, steps=5):
    spec = BenchSpec(seeds=[0, 3], variants=[variant])
    spec.run.update({"hidden": 16, "batch_size": 32, "steps": steps, "ckpt_every": 100})
    run = spec.resolve("ring8", "bce", variant)
    return CellTrainer(run, [0, 3], [tmp_path / name / f"s{k}" for k in (0, 3)], torch.device("cpu"))


def test_a_penalty_hook_trains_exactly_like_the_builtin_it_reimplements(tmp_path):
    """R1 written as a plugin's d_penalty (gamma/2 E||grad D(x_real)||^2) = the built-in r1 variant."""
    _register_once(Variant("r1-as-plugin", "R1 through the hook", d_penalty=lambda ctx: 5.0 * r1_penalty(
        ctx.D, ctx.real, batch_dims=2)))
    hooked, builtin = _trainer(tmp_path, "r1-as-plugin", "a"), _trainer(tmp_path, "r1", "b")
    hooked.train()
    builtin.train()
    for a, b in zip(list(hooked.D.parameters()) + list(hooked.G.parameters()),
                    list(builtin.D.parameters()) + list(builtin.G.parameters())):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_gradient_hook_changes_only_its_players_update(tmp_path):
    """d_grads returning zeros: Adam then moves no D weight, while G still learns."""
    import copy

    _register_once(Variant("freeze-d", "D's gradients zeroed", d_grads=lambda ctx, grads: tuple(
        torch.zeros_like(g) for g in grads)))
    t = _trainer(tmp_path, "freeze-d", "c")
    d0, g0 = copy.deepcopy(t.D.state_dict()), copy.deepcopy(t.G.state_dict())
    t.train()
    assert all(torch.equal(v, d0[k]) for k, v in t.D.state_dict().items())
    assert not all(torch.equal(v, g0[k]) for k, v in t.G.state_dict().items())


# --- LeCam: a stabilizer with state -----------------------------------------------------------------
def lecam_by_hand(d_real, d_fake, steps, weight=0.3, decay=0.99, start=1000):
    """The authors' definition (google/lecam-gan ``lecam_reg``, ``ema_losses``) for one seed, in numpy:
    per critic step, the averages take the batch means (decay 0 before ``start``), then the penalty."""
    import numpy as np

    ema_r = ema_f = 0.0
    out = []
    for step, real, fake in zip(steps, d_real, d_fake):
        d = 0.0 if step < start else decay
        ema_r = ema_r * d + float(np.mean(real)) * (1 - d)
        ema_f = ema_f * d + float(np.mean(fake)) * (1 - d)
        out.append(weight * (np.mean(np.maximum(real - ema_f, 0) ** 2) + np.mean(np.maximum(ema_r - fake, 0) ** 2)))
    return out


def test_lecam_equals_the_authors_definition_across_its_start_step():
    from ganeval.spec import RunSpec
    from ganeval.variants import StepContext, lecam_penalty

    gen = torch.Generator().manual_seed(0)
    steps = [0, 1, 2, 3, 4, 5]
    d_real = [torch.randn(2, 16, generator=gen) + 1 for _ in steps]
    d_fake = [torch.randn(2, 16, generator=gen) - 1 for _ in steps]
    run = RunSpec.of({"benchmark": "ring8", "loss": "bce", "variant": "lecam", "lecam_weight": 0.3,
                      "lecam_decay": 0.9, "lecam_start": 3})
    state = {"ema_real": torch.zeros(2), "ema_fake": torch.zeros(2)}
    ours = []
    for step, real, fake in zip(steps, d_real, d_fake):
        ctx = StepContext(run, step, 0, None, None, None, None, real, fake, None, state=state)
        ours.append(lecam_penalty(ctx))
    for seed in (0, 1):
        expected = lecam_by_hand([r[seed].numpy() for r in d_real], [f[seed].numpy() for f in d_fake], steps,
                                 0.3, 0.9, 3)
        assert [float(o[seed]) for o in ours] == pytest.approx(expected, rel=1e-5)
    assert VARIANTS.get("lecam").state == {"ema_real": 0.0, "ema_fake": 0.0}


@pytest.mark.parametrize("stop", [25, 31])
def test_a_stabilizer_with_state_resumes_bit_identically(tmp_path, stop):
    """The state lives in the checkpoint: killed after the step-20 (or -30) checkpoint and resumed,
    LeCam's averages continue as if nothing happened (they would restart at 0 if they were lost)."""
    from ganeval.rundir import load_checkpoint

    over = dict(steps=40, ckpt_every=10, lecam_start=5, lecam_decay=0.9)
    full = trainer(tmp_path, "lecam", [0, 1], "full", **over)
    full.train()
    killed = trainer(tmp_path, "lecam", [0, 1], "resumed", **over)
    killed.train(stop_at=stop)
    resumed = trainer(tmp_path, "lecam", [0, 1], "resumed", **over)
    assert resumed.resume() == stop // 10 * 10
    assert not torch.equal(resumed.plugin_state["variant lecam"]["ema_real"], torch.zeros(2))
    resumed.train()
    for k in range(2):
        a, b = (load_checkpoint(t.run_dirs[k], 40) for t in (full, resumed))
        assert a["plugin_state"]["variant lecam"]["ema_real"].shape == (1,)
        for net in ("G", "D"):
            for key in a[net]:
                assert torch.equal(a[net][key], b[net][key]), (net, key)
        assert torch.equal(a["plugin_state"]["variant lecam"]["ema_fake"], b["plugin_state"]["variant lecam"]["ema_fake"])
    lost = trainer(tmp_path, "lecam", [0, 1], "lost", **over)  # what losing the state would do: not the same
    lost.train(stop_at=stop)
    lost = trainer(tmp_path, "lecam", [0, 1], "lost", **over)
    lost.resume()
    for tensor in lost.plugin_state["variant lecam"].values():
        tensor.zero_()
    lost.train()
    assert not torch.equal(load_checkpoint(lost.run_dirs[0], 40)["D"]["net.0.weight"],
                           load_checkpoint(full.run_dirs[0], 40)["D"]["net.0.weight"])


def test_a_plugins_own_state_reaches_its_hooks_and_its_loss(tmp_path):
    """A loss and a stabilizer of one's own, each with state, through the public interface only."""
    import ganeval

    seen = {}

    def counting_d(real, fake, state):
        state["calls"].add_(1)
        return torch.nn.functional.softplus(-real).mean(-1) + torch.nn.functional.softplus(fake).mean(-1)

    def counting_g(fake, real, state):
        return torch.nn.functional.softplus(-fake).mean(-1)

    def hook(ctx):
        ctx.state["sum"].add_(ctx.d_fake.detach().mean(-1, keepdim=True))
        seen["shape"] = tuple(ctx.state["sum"].shape)
        return torch.zeros_like(ctx.state["sum"][:, 0])

    if "state-test" not in ganeval.losses.LOSSES:
        ganeval.register_loss(ganeval.Loss("state-test", "bce counting its D calls", "", counting_d, counting_g,
                                           state={"calls": 0.0}))
        register_variant(Variant("state-test", "sums D's fake outputs", state={"sum": torch.zeros(3)},
                                 d_penalty=hook))
    t = trainer(tmp_path, "state-test", [0, 1], "s", loss="state-test", steps=4, n_critic=2)
    t.train()
    assert torch.equal(t.plugin_state["loss"]["calls"], torch.tensor([8.0, 8.0]))
    assert seen["shape"] == (2, 3)
    with pytest.raises(TypeError, match="initial number or tensor"):
        register_variant(Variant("state-test-bad", "x", state={"n": "zero"}, d_penalty=hook))
