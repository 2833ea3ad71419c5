"""A study's members in one batched model: which runs may share a cell, and member k trained among
others equals that setting trained alone, per step, for every batchable key."""

import dataclasses

import pytest
import torch

import ganeval
from ganeval.errors import SpecError
from ganeval.spec import BenchSpec
from ganeval.train.members import MemberValues, group_runs, structure
from ganeval.train.trainer import CellTrainer, _slice_state

SMALL = {"hidden": 24, "batch_size": 32, "ckpt_every": 5, "trace_every": 1, "steps": 12}


def study(loss, sweep, seeds=(3,), **over):
    spec = BenchSpec(benchmarks=["ring8"], losses=[loss], seeds=list(seeds), sweep=sweep)
    spec.run.update({**SMALL, **over})
    return spec.validate().runs()


def members_of(runs, seeds):
    return [r for r in runs for _ in seeds], [s for _ in runs for s in seeds]


# --- which runs share a cell -------------------------------------------------------------------
def test_a_learning_rate_sweep_is_one_cell_and_structural_keys_are_not():
    assert group_runs(study("bce", {"lr_d+lr_g": [1e-4, 1e-3, 1e-2]})) == [[0, 1, 2]]
    assert group_runs(study("bce", {"n_critic": [1, 2]})) == [[0], [1]]
    assert group_runs(study("bce", {"batch_size": [16, 32]})) == [[0], [1]]
    crossed = study("bce", {"n_critic": [1, 2], "lr_d": [1e-4, 1e-3]})
    assert [[crossed[i].n_critic for i in g] for g in group_runs(crossed)] == [[1, 1], [2, 2]]


def test_switching_a_penalty_on_is_structural_its_weight_is_not():
    assert group_runs(study("wgan-gp", {"gp_weight": [1.0, 10.0]})) == [[0, 1]]
    assert group_runs(study("wgan-gp", {"gp_weight": [0.0, 10.0]})) == [[0], [1]]
    assert group_runs(study("bce", {"ema_beta": [0.0, 0.99, 0.999]})) == [[0], [1, 2]]


def test_an_optimizer_without_a_per_member_form_trains_each_rate_alone():
    from ganeval.optimizers import OPTIMIZERS, Optimizer, register_optimizer

    name = "plain-sgd-test"
    if name not in OPTIMIZERS:
        register_optimizer(Optimizer(name, "SGD", lambda params, lr, run, capturable: torch.optim.SGD(params, lr=lr)))
    runs = study("bce", {"lr_d": [1e-4, 1e-3]}, optimizer=name)
    assert group_runs(runs) == [[0], [1]]
    with pytest.raises(SpecError, match="lr_d"):
        MemberValues(runs, torch.device("cpu"))


def test_a_plugin_setting_is_batchable_only_where_its_author_says():
    ganeval.register_variant(ganeval.Variant(
        "members-test-r2", "R2 with a batchable weight", settings=(
            ganeval.Setting("mt_gamma", float, 1.0, batchable=True), ganeval.Setting("mt_every", float, 1.0)),
        d_penalty=lambda ctx: ctx.run.mt_gamma * ctx.run.mt_every * ctx.d_fake.square().mean(-1)))
    spec = BenchSpec(benchmarks=["ring8"], losses=["bce"], variants=["members-test-r2"], seeds=[0],
                     sweep={"mt_gamma": [0.5, 2.0]})
    assert group_runs(spec.validate().runs()) == [[0, 1]]
    spec.sweep = {"mt_every": [0.5, 2.0]}
    assert group_runs(spec.validate().runs()) == [[0], [1]]
    with pytest.raises(TypeError, match="batchable"):
        ganeval.register_variant(ganeval.Variant("members-test-bad", "x", settings=(
            ganeval.Setting("mt_bad", int, 1, batchable=True),)))


def test_structure_ignores_exactly_the_batchable_values():
    a, b = study("bce", {"lr_d": [1e-4, 1e-3]})
    assert structure(a) == structure(b)
    assert structure(a) != structure(dataclasses.replace(a, hidden=8))


# --- member k == that setting alone -------------------------------------------------------------
def params(trainer, k):
    out = {f"G.{n}": p.detach()[k] for n, p in trainer.G.named_parameters()}
    out.update({f"D.{n}": p.detach()[k] for n, p in trainer.D.named_parameters()})
    if trainer.G_ema is not None:
        out.update({f"G_ema.{n}": p.detach()[k] for n, p in trainer.G_ema.named_parameters()})
    return out


def assert_members_train_alone(tmp_path, runs, seeds=(3, 8), steps=10, rtol=1e-4, atol=1e-5, equal_nan=False):
    member_runs, member_seeds = members_of(runs, seeds)
    cell = CellTrainer(member_runs, member_seeds, [tmp_path / f"cell{k}" for k in range(len(member_runs))],
                       torch.device("cpu"))
    alone = [CellTrainer(r, [s], [tmp_path / f"alone{k}"], torch.device("cpu"))
             for k, (r, s) in enumerate(zip(member_runs, member_seeds))]
    for step in range(steps):
        cell.train_step(step, record=False)
        for k, t in enumerate(alone):
            t.train_step(step, record=False)
            mine, theirs = params(cell, k), params(t, 0)
            for name in mine:  # the tolerance of the seed test: batched matmuls round differently
                torch.testing.assert_close(mine[name], theirs[name], rtol=rtol, atol=atol, equal_nan=equal_nan,
                                           msg=lambda m, k=k, name=name, step=step: f"member {k}, {name}, step {step}: {m}")
    first = params(cell, 0)
    other = params(cell, len(member_runs) - 1)  # the last seed under the last setting
    assert any(not torch.equal(first[n], other[n]) for n in first), "the settings made no difference"
    return cell


BATCHABLE_CASES = [
    ("adam lr_d", "bce", {"lr_d": [1e-4, 1e-3, 5e-3]}, {}),
    ("adam lr_g", "hinge", {"lr_g": [1e-4, 3e-3]}, {}),
    ("adam betas", "bce", {"betas": [[0.5, 0.999], [0.0, 0.9]]}, {}),
    ("rmsprop lr", "wgan", {"lr_d+lr_g": [5e-5, 1e-3]}, {"n_critic": 2}),
    ("gp weight", "wgan-gp", {"gp_weight": [1.0, 10.0]}, {"n_critic": 2}),
    ("r1 gamma", "bce", {"r1_gamma": [0.1, 10.0]}, {}),
    ("clip_grad", "bce", {"clip_grad": [0.01, 1.0]}, {}),
    ("clip_value", "wgan", {"clip_value": [0.005, 0.05]}, {"n_critic": 2}),
    ("ema beta", "bce", {"ema_beta": [0.5, 0.9]}, {}),
]


@pytest.mark.parametrize("name,loss,sweep,over", BATCHABLE_CASES, ids=[c[0] for c in BATCHABLE_CASES])
def test_member_k_of_a_batched_study_trains_like_its_setting_alone(tmp_path, name, loss, sweep, over):
    runs = study(loss, sweep, **over)
    assert group_runs(runs) == [list(range(len(runs)))]  # one batched cell
    cell = assert_members_train_alone(tmp_path, runs)
    key = next(iter(sweep)).split("+")[0]
    assert key in cell.members.varying


def test_a_plugin_settings_batchable_value_reaches_each_member(tmp_path):
    name = "members-test-weighted"
    if name not in ganeval.variants.VARIANTS:
        ganeval.register_variant(ganeval.Variant(
            name, "a penalty on D's fake outputs with a batchable weight",
            settings=(ganeval.Setting("mt_weight", float, 1.0, batchable=True),),
            d_penalty=lambda ctx: ctx.run.mt_weight * ctx.d_fake.square().mean(-1)))
    spec = BenchSpec(benchmarks=["ring8"], losses=["bce"], variants=[name], seeds=[3], sweep={"mt_weight": [0.1, 5.0]})
    spec.run.update(SMALL)
    runs = spec.validate().runs()
    cell = assert_members_train_alone(tmp_path, runs)
    assert "mt_weight" in cell.members.varying and isinstance(cell.ctx_run.mt_weight, torch.Tensor)


def test_a_member_that_diverges_never_touches_the_others(tmp_path):
    runs = study("bce", {"lr_d+lr_g": [1e-3, 1e25]})
    cell = assert_members_train_alone(tmp_path, runs[:1] + runs, seeds=(3,), steps=6, equal_nan=True)
    assert not all(torch.isfinite(p).all() for p in params(cell, 2).values())  # the 1e25 member blew up
    assert all(torch.isfinite(p).all() for p in params(cell, 0).values())


def test_a_members_checkpoint_is_the_one_it_would_write_alone(tmp_path):
    runs = study("bce", {"lr_d": [1e-4, 1e-3]})
    member_runs, seeds = members_of(runs, (3,))
    cell = CellTrainer(member_runs, seeds, [tmp_path / "a", tmp_path / "b"], torch.device("cpu"))
    alone = CellTrainer(member_runs[1], [3], [tmp_path / "c"], torch.device("cpu"))
    for step in range(3):
        cell.train_step(step, record=False)
        alone.train_step(step, record=False)
    mine, theirs = cell.seed_payload(1), alone.seed_payload(0)
    assert mine["config"] == theirs["config"] and mine["config"]["lr_d"] == 1e-3
    for opt in ("opt_D", "opt_G"):
        assert [g["lr"] for g in mine[opt]["param_groups"]] == [g["lr"] for g in theirs[opt]["param_groups"]]
        assert all(isinstance(g["lr"], float) and isinstance(g["betas"][0], float) for g in mine[opt]["param_groups"])
    # and a single-run optimizer takes it: the member resumes alone, with torch's own Adam
    resumed = CellTrainer(member_runs[1], [3], [tmp_path / "d"], torch.device("cpu"))
    resumed.load_payloads([{**cell.seed_payload(1), "step": 3}])
    assert isinstance(resumed.opt_d, torch.optim.Adam) and resumed.opt_d.param_groups[0]["lr"] == 1e-3
    for step in range(3, 6):
        resumed.train_step(step, record=False)
        cell.train_step(step, record=False)
    for name, value in params(resumed, 0).items():
        torch.testing.assert_close(value, params(cell, 1)[name], rtol=1e-4, atol=1e-5)


def test_member_values_are_floats_unless_they_differ():
    runs = study("bce", {"lr_d": [1e-4, 1e-3]})
    values = MemberValues(runs, torch.device("cpu"))
    assert values.varying == {"lr_d"} and values.get("lr_g") == runs[0].lr_g
    assert torch.equal(values.get("lr_d"), torch.tensor([1e-4, 1e-3]))
    assert torch.equal(values.get("lr_d", lambda v: 2 * v), torch.tensor([2e-4, 2e-3]))
    x = torch.zeros(2, 5, 3)
    assert MemberValues.view(values.get("lr_d"), x).shape == (2, 1, 1)
    assert ganeval.per_member(0.5, x) == 0.5


def test_the_slice_of_a_per_member_hyperparameter_is_that_members_float():
    state = {"param_groups": [{"lr": torch.tensor([1e-4, 1e-3], dtype=torch.float64),
                               "betas": (torch.tensor([0.5, 0.0], dtype=torch.float64), 0.999), "eps": 1e-8}],
             "state": {}}
    assert _slice_state(state, 1, 2)["param_groups"] == [{"lr": 1e-3, "betas": (0.0, 0.999), "eps": 1e-8}]


def test_lecam_weights_and_decays_batch_as_members_like_each_alone(tmp_path):
    spec = BenchSpec(benchmarks=["ring8"], losses=["hinge"], variants=["lecam"], seeds=[3],
                     sweep={"lecam_weight": [0.1, 3.0], "lecam_decay": [0.5, 0.99]})
    spec.run.update({**SMALL, "lecam_start": 4})
    runs = spec.validate().runs()
    assert group_runs(runs) == [[0, 1, 2, 3]]
    cell = assert_members_train_alone(tmp_path, runs, seeds=(3,))
    assert {"lecam_weight", "lecam_decay"} <= cell.members.varying
