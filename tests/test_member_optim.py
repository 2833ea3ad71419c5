"""Per-member optimizers: member k with hyperparameter h_k steps exactly like torch.optim with h_k
on that member alone; all members equal reproduces torch.optim bit for bit; torch's state layout."""

import copy

import pytest
import torch

from ganeval.member_optim import MemberAdam, MemberRMSprop, member_values

SHAPES = [(4, 7, 5), (4, 1, 5), (4, 3)]  # [S, in, out] weight, [S, 1, out] bias, [S, F]
S = 4
STEPS = 50


def make_params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g).requires_grad_() for s in SHAPES]


def gradient(p, t):
    """A parameter-dependent gradient that is elementwise (so member k's value does not depend on
    what else is in the batch): d/dp of a non-quadratic loss plus a step-dependent drift."""
    drift = torch.sin(torch.arange(p[0].numel(), dtype=p.dtype) * 0.37 + t).view(p.shape[1:])
    return torch.tanh(p) + 0.3 * p ** 3 + drift


def run_batched(opt_cls, params, steps, **hp):
    opt = opt_cls(params, **hp)
    history = []
    for t in range(steps):
        for p in params:
            p.grad = gradient(p.detach(), t)
        opt.step()
        history.append([p.detach().clone() for p in params])
    return opt, history


def assert_continues_alike(opt, params, resumed, clone, steps=range(5, 10)):
    """The resumed optimizer on its copies of the parameters steps exactly like the original."""
    for t in steps:
        for p, q in zip(params, clone):
            p.grad = gradient(p.detach(), t)
            q.grad = gradient(q.detach(), t)
        opt.step()
        resumed.step()
    for p, q in zip(params, clone):
        assert torch.equal(p, q)


def run_alone(torch_cls, params, k, steps, **hp):
    member = [p.detach()[k:k + 1].clone().requires_grad_() for p in params]
    opt = torch_cls(member, **hp)
    history = []
    for t in range(steps):
        for p in member:
            p.grad = gradient(p.detach(), t)
        opt.step()
        history.append([p.detach().clone() for p in member])
    return history


LRS = [1e-4, 3e-3, 1e-2, 5e-2]
# (batched class, torch class, batched values, member k's values, tolerance). Float tolerance
# rtol 1e-6 / atol 1e-7 over 50 steps; one exception: with momentum per member, a member with
# momentum 0 goes through the momentum buffer (lr * (g / avg) instead of torch's (lr * g) / avg),
# one rounding apart per step.
TIGHT, LOOSE = dict(rtol=1e-6, atol=1e-7), dict(rtol=1e-5, atol=1e-6)
CASES = [
    (MemberAdam, torch.optim.Adam, dict(lr=LRS), lambda k: dict(lr=LRS[k]), TIGHT),
    (MemberAdam, torch.optim.Adam, dict(lr=LRS, betas=([0.0, 0.5, 0.9, 0.5], [0.9, 0.999, 0.99, 0.95])),
     lambda k: dict(lr=LRS[k], betas=([0.0, 0.5, 0.9, 0.5][k], [0.9, 0.999, 0.99, 0.95][k])), TIGHT),
    (MemberAdam, torch.optim.Adam, dict(lr=LRS, eps=[1e-8, 1e-6, 1e-3, 1e-8], weight_decay=[0, 1e-2, 0, 0.1]),
     lambda k: dict(lr=LRS[k], eps=[1e-8, 1e-6, 1e-3, 1e-8][k], weight_decay=[0, 1e-2, 0, 0.1][k]), TIGHT),
    (MemberAdam, torch.optim.Adam, dict(lr=LRS, amsgrad=True), lambda k: dict(lr=LRS[k], amsgrad=True), TIGHT),
    (MemberRMSprop, torch.optim.RMSprop, dict(lr=LRS), lambda k: dict(lr=LRS[k]), TIGHT),
    (MemberRMSprop, torch.optim.RMSprop, dict(lr=LRS, alpha=[0.9, 0.99, 0.5, 0.99], momentum=[0.0, 0.9, 0.5, 0.0]),
     lambda k: dict(lr=LRS[k], alpha=[0.9, 0.99, 0.5, 0.99][k], momentum=[0.0, 0.9, 0.5, 0.0][k]), LOOSE),
    (MemberRMSprop, torch.optim.RMSprop, dict(lr=LRS, centered=True, weight_decay=[0, 0.1, 0, 0]),
     lambda k: dict(lr=LRS[k], centered=True, weight_decay=[0, 0.1, 0, 0][k]), TIGHT),
]


@pytest.mark.parametrize("member_cls,torch_cls,batched_hp,alone_hp,tol", CASES)
def test_member_k_steps_like_torch_with_its_own_values(member_cls, torch_cls, batched_hp, alone_hp, tol):
    params = make_params()
    _, hist = run_batched(member_cls, params, STEPS, **batched_hp)
    init = make_params()
    for k in range(S):
        alone = run_alone(torch_cls, init, k, STEPS, **alone_hp(k))
        for t in range(STEPS):  # per step, not only at the end
            for pb, pa in zip(hist[t], alone[t]):
                torch.testing.assert_close(pb[k:k + 1], pa, **tol)
    # members really moved apart (a sweep that ignored its values would pass the check above only
    # if every value were equal)
    assert not torch.equal(hist[-1][0][0], hist[-1][0][1])


@pytest.mark.parametrize("member_cls,torch_cls,hp", [
    (MemberAdam, torch.optim.Adam, dict(lr=3e-3, betas=(0.5, 0.999))),
    (MemberAdam, torch.optim.Adam, dict(lr=[3e-3] * S, betas=([0.5] * S, [0.999] * S), eps=torch.full((S,), 1e-8))),
    (MemberRMSprop, torch.optim.RMSprop, dict(lr=[5e-3] * S)),
    (MemberRMSprop, torch.optim.RMSprop, dict(lr=5e-3, momentum=0.9, weight_decay=1e-3)),
])
def test_all_members_equal_is_torch_bit_for_bit(member_cls, torch_cls, hp):
    _, mine = run_batched(member_cls, make_params(), STEPS, **hp)
    plain = {k: (v[0] if isinstance(v, list) else float(v[0]) if isinstance(v, torch.Tensor) else v)
             for k, v in hp.items()}
    if "betas" in plain and isinstance(hp["betas"][0], list):
        plain["betas"] = (hp["betas"][0][0], hp["betas"][1][0])
    _, ref = run_batched(torch_cls, make_params(), STEPS, **plain)
    for t in range(STEPS):
        for a, b in zip(mine[t], ref[t]):
            assert torch.equal(a, b), (t, float((a - b).abs().max()))


def test_per_member_path_matches_torch_closely_even_when_values_coincide_except_one():
    """A sweep in which one member differs still gives the others torch's trajectory (1e-7)."""
    lrs = [1e-3, 1e-3, 1e-3, 2e-3]
    _, mine = run_batched(MemberAdam, make_params(), STEPS, lr=lrs)
    _, ref = run_batched(torch.optim.Adam, make_params(), STEPS, lr=1e-3)
    for a, b in zip(mine[-1], ref[-1]):
        torch.testing.assert_close(a[:3], b[:3], rtol=0, atol=1e-7)


@pytest.mark.parametrize("member_cls,torch_cls,hp", [
    (MemberAdam, torch.optim.Adam, dict(lr=LRS, amsgrad=True)),
    (MemberRMSprop, torch.optim.RMSprop, dict(lr=LRS, momentum=0.5, centered=True)),
])
def test_state_dict_has_torchs_layout_and_resumes_exactly(member_cls, torch_cls, hp):
    params = make_params()
    opt, _ = run_batched(member_cls, params, 5, **hp)
    torch_opt, _ = run_batched(torch_cls, make_params(), 5, **{k: v for k, v in hp.items() if k != "lr"})
    mine, theirs = opt.state_dict(), torch_opt.state_dict()
    assert set(mine["state"]) == set(theirs["state"])
    for idx in theirs["state"]:
        assert set(mine["state"][idx]) == set(theirs["state"][idx])
        for key, value in theirs["state"][idx].items():
            assert mine["state"][idx][key].shape == value.shape and mine["state"][idx][key].dtype == value.dtype
            assert mine["state"][idx][key].device == value.device
    assert set(mine["param_groups"][0]) == set(theirs["param_groups"][0])
    # Resume: a fresh optimizer loaded from the state dict continues exactly like the original.
    clone = [p.detach().clone().requires_grad_() for p in params]
    resumed = member_cls(clone, **hp)
    resumed.load_state_dict(copy.deepcopy(mine))  # as a checkpoint would: no shared tensors
    assert_continues_alike(opt, params, resumed, clone)


def test_loading_keeps_the_optimizers_own_member_values():
    """The trainer stacks per-seed payloads and loads payload 0's param_groups: the spec-given
    values of this optimizer must survive that."""
    a = MemberAdam(make_params(), lr=LRS)
    b = MemberAdam(make_params(), lr=[9.0, 8.0, 7.0, 6.0])
    b.load_state_dict(a.state_dict())
    assert b.param_groups[0]["lr"].tolist() == [9.0, 8.0, 7.0, 6.0]


def test_capturable_path_matches_torch_to_float_tolerance():
    _, mine = run_batched(MemberAdam, make_params(), STEPS, lr=LRS, capturable=True)
    for k in range(S):
        alone = run_alone(torch.optim.Adam, make_params(), k, STEPS, lr=LRS[k])
        for a, b in zip(mine[-1], alone[-1]):
            torch.testing.assert_close(a[k:k + 1], b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hp,message", [
    (dict(lr=[1e-3, 2e-3]), "2 values but a parameter has shape"),
    (dict(lr=[1e-3, -1.0, 1e-3, 1e-3]), "lr must be in"),
    (dict(betas=([0.5] * S, [0.9, 1.0, 0.9, 0.9])), "betas\\[1\\] must be in"),
    (dict(lr=[1e-3, float("nan"), 1e-3, 1e-3]), "finite"),
    (dict(lr=[1e-3, 2e-3, 1e-3, 1e-3], eps=[1e-8, 1e-7, 1e-8]), "different lengths"),
    (dict(lr="fast"), "expected a number"),
])
def test_bad_member_values_are_refused(hp, message):
    with pytest.raises(ValueError, match=message):
        MemberAdam(make_params(), **hp)


def test_member_values_collapse_and_keep():
    assert member_values([0.1, 0.1], "x") == 0.1
    assert member_values(torch.tensor(0.5), "x") == 0.5
    v = member_values([1, 2], "x")
    assert v.dtype == torch.float64 and v.tolist() == [1.0, 2.0]


# --- in the seed-batched trainer ---------------------------------------------------------------
def _cell(tmp_path, name, seeds, lr):
    from ganeval.spec import BenchSpec
    from ganeval.train.trainer import CellTrainer

    spec = BenchSpec(seeds=list(seeds))
    spec.run.update({"hidden": 32, "batch_size": 64, "steps": 20, "lr_d": lr, "lr_g": lr, "betas": [0.5, 0.999]})
    run = spec.resolve("ring8", "bce")
    return CellTrainer(run, seeds, [tmp_path / name / f"m{k}" for k in range(len(seeds))], torch.device("cpu"))


@pytest.mark.slow
def test_a_learning_rate_sweep_trains_as_one_cell_like_each_rate_alone(tmp_path):
    """Members 0-2: the same seed at three learning rates, in one batched model whose optimizers
    are swapped for per-member ones (what the trainer will do for a sweep), against each rate
    trained alone by the stock trainer; per step, for 20 steps."""
    lrs = [1e-4, 1e-3, 5e-3]
    cell = _cell(tmp_path, "cell", [5, 5, 5], 1e-3)
    cell.opt_d = MemberAdam(cell.d_params, lr=lrs, betas=(0.5, 0.999))
    cell.opt_g = MemberAdam(cell.g_params, lr=lrs, betas=(0.5, 0.999))
    alone = [_cell(tmp_path, f"alone{k}", [5], lr) for k, lr in enumerate(lrs)]
    for step in range(20):
        cell.train_step(step, record=False)
        for k, t in enumerate(alone):
            t.train_step(step, record=False)
            for a, b in zip(list(cell.G.parameters()) + list(cell.D.parameters()),
                            list(t.G.parameters()) + list(t.D.parameters())):
                # the tolerance of the seed test (test_trainer.py): batched and single-member
                # matmuls round differently (reports/reproducibility.md)
                torch.testing.assert_close(a.detach()[k], b.detach()[0], rtol=1e-4, atol=1e-5)
    d = [p.detach() for p in cell.G.parameters()]
    assert not torch.equal(d[0][0], d[0][1])  # the rates really gave different models


def test_the_trainers_per_seed_slicing_of_optimizer_state_round_trips():
    """What a checkpoint does: slice the state per member, save, stack back, load, continue."""
    from ganeval.train.trainer import _slice_state, _stack_states

    params = make_params()
    opt, _ = run_batched(MemberAdam, params, 5, lr=LRS, betas=([0.5, 0.9, 0.0, 0.5], 0.999))
    payloads = [copy.deepcopy(_slice_state(opt.state_dict(), k, S)) for k in range(S)]
    for k, p in enumerate(payloads):  # member k's slice has torch.optim.Adam's per-parameter layout
        state = p["state"][0]
        assert state["exp_avg"].shape == (1, *SHAPES[0][1:]) and state["step"].dim() == 0
        torch.testing.assert_close(state["exp_avg_sq"][0], opt.state[params[0]]["exp_avg_sq"][k], rtol=0, atol=0)
    clone = [p.detach().clone().requires_grad_() for p in params]
    resumed = MemberAdam(clone, lr=LRS, betas=([0.5, 0.9, 0.0, 0.5], 0.999))
    resumed.load_state_dict(_stack_states(payloads))
    assert_continues_alike(opt, params, resumed, clone)
