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


@pytest.mark.parametrize("variant", ["sn", "r1", "clip-grad", "bn", "ttur", "ema", "sn+ttur", "r1+ema"])
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
