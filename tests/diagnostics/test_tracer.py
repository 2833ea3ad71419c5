"""GANTracer on a user's own plain training loop, exactly as docs/trace.md shows it."""

import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch
from conftest import user_loop
from torch import nn

from ganeval import rundir
from ganeval.diagnostics import GANTracer, StepStatistics
from ganeval.diagnostics.trace import read_trace
from ganeval.diagnostics.tracer import detect_and_write_events


def test_a_user_loop_gets_a_trace_and_events(tmp_path):
    events, by_hand = user_loop(tmp_path / "mine", check_norms_at=40)
    rows = read_trace(tmp_path / "mine" / "trace.csv")
    assert [r["step"] for r in rows] == list(range(60))
    row = rows[40]
    assert math.isclose(row["d_grad_norm"], by_hand["d"], rel_tol=1e-5)
    assert math.isclose(row["d_grad_norm.0"], by_hand["d0"], rel_tol=1e-5)
    assert math.isclose(row["g_grad_norm.2"], by_hand["g2"], rel_tol=1e-5)
    assert row["lr_d"] == 1e-3 and 0 <= row["d_real_above_fake"] <= 1 and -1 <= row["r_t"] <= 1
    assert row["d_sigma.0"] > 0 and row["sample_diversity"] > 0
    doc = json.loads((tmp_path / "mine" / "events.json").read_text())
    assert doc["events"] == events == [] and "explode_factor" in doc["thresholds"]  # a healthy loop


def test_trace_every_thins_the_rows(tmp_path):
    user_loop(tmp_path / "thin", steps=30, trace_every=10)
    assert [r["step"] for r in read_trace(tmp_path / "thin" / "trace.csv")] == [0, 10, 20]


def test_an_absurd_learning_rate_gives_a_divergence_event(tmp_path):
    events, _ = user_loop(tmp_path / "boom", steps=60, lr=1e9)
    rows = read_trace(tmp_path / "boom" / "trace.csv")
    nan_at = next(r["step"] for r in rows if not math.isfinite(r["d_loss"]))
    assert [e["step"] for e in events if e["kind"] == "divergence"] == [nan_at]
    # one update at lr 1e9 multiplies D's weights, and its gradient passes the ceiling, before
    # anything is NaN: those come first, dated at the first row that shows them (no history needed)
    first = [e for e in events if e["step"] == 1]
    weights = next(e for e in first if e["kind"] == "exploding_weights")
    assert 1 < nan_at and min(e["step"] for e in events) == 1
    assert weights["evidence"]["norm"] == rows[1]["d_param_norm"] > 10 * rows[0]["d_param_norm"]
    gross = next(e for e in first if e["kind"] == "exploding_gradients" and e["evidence"]["network"] == "D")
    assert gross["evidence"]["norm"] == rows[1]["d_grad_norm"] >= gross["thresholds"]["explode_ceiling"]
    # D's weights never come back: the event is still open at the run's end, its interval says so
    assert weights["open"] and weights["end"] == rows[-1]["step"]
    divergence = next(e for e in events if e["kind"] == "divergence")
    assert divergence["open"] and divergence["episodes"] == [[nan_at, rows[-1]["step"]]]


# --- crash safety, the with form, step numbers, layers.json, the new columns -------------------------


TINY_LOOP = """
import sys, time, torch
from torch import nn
from ganeval.diagnostics import GANTracer
torch.manual_seed(0)
G, D = nn.Linear(2, 2), nn.Linear(2, 1)
tracer = GANTracer(G, D, sys.argv[1], flush_seconds=0.2)
step = 0
while True:
    x = torch.randn(8, 2)
    real, fake = D(x).squeeze(1), D(G(x).detach()).squeeze(1)
    loss = (fake - real).mean()
    D.zero_grad(); loss.backward(); tracer.d_step(loss, real, fake)
    g_loss = -D(G(x)).mean()
    G.zero_grad(); g_loss.backward(); tracer.g_step(g_loss)
    tracer.step(step)
    print(step, flush=True)
    step += 1
    time.sleep(0.002)
"""


def test_a_loop_killed_with_sigkill_leaves_its_trace_up_to_the_last_flush(tmp_path):
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", TINY_LOOP, str(run_dir)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    seen = []  # (time the parent read it, step)
    try:
        for line in proc.stdout:
            seen.append((time.monotonic(), int(line)))
            if seen[-1][0] - seen[0][0] > 1.5:  # many flush intervals of 0.2 s
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = time.monotonic()
    rows = read_trace(run_dir / "trace.csv")
    assert rows, "no trace after 1.5 s of a 0.2 s flush interval"
    assert [r["step"] for r in rows] == list(range(len(rows)))  # complete rows, none torn
    # every step printed well before the kill (more than a flush interval plus slack) is on disk
    flushed_by = max(step for t, step in seen if t < killed_at - 0.7)
    assert rows[-1]["step"] >= flushed_by
    assert not rundir.events_path(run_dir).exists()  # close() never ran ...
    assert detect_and_write_events(run_dir) == []  # ... and the events are found from the trace, as `ganeval report` does


def tiny_gan():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)), nn.Sequential(nn.Linear(2, 8), nn.Tanh(),
                                                                                    nn.Linear(8, 1))


def tiny_step(tracer, G, D, step):
    x = torch.randn(16, 2)
    real, fake = D(x).squeeze(1), D(G(x).detach()).squeeze(1)
    loss = (fake - real).mean()
    D.zero_grad()
    loss.backward()
    tracer.d_step(loss, real, fake)
    g_loss = -D(G(x)).mean()
    G.zero_grad()
    g_loss.backward()
    tracer.g_step(g_loss)
    tracer.step(step)


def test_the_with_form_writes_trace_and_events_even_when_the_loop_raises(tmp_path):
    G, D = tiny_gan()
    with pytest.raises(RuntimeError, match="user bug"):
        with GANTracer(G, D, tmp_path / "w") as tracer:
            for step in range(5):
                tiny_step(tracer, G, D, step)
            raise RuntimeError("user bug")
    assert [r["step"] for r in read_trace(tmp_path / "w" / "trace.csv")] == [0, 1, 2, 3, 4]
    assert rundir.read_events(tmp_path / "w") == []
    assert tracer.close() == []  # closing again is harmless


def test_a_per_epoch_step_warns_once_and_the_trace_keeps_counting(tmp_path):
    G, D = tiny_gan()
    with pytest.warns(UserWarning, match="step went backwards") as caught:
        with GANTracer(G, D, tmp_path / "e") as tracer:
            for _epoch in range(3):
                for i in range(4):
                    tiny_step(tracer, G, D, i)
    assert len([w for w in caught if "backwards" in str(w.message)]) == 1
    assert [r["step"] for r in read_trace(tmp_path / "e" / "trace.csv")] == list(range(12))


def test_increasing_steps_give_no_warning(tmp_path):
    G, D = tiny_gan()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with GANTracer(G, D, tmp_path / "ok", trace_every=2) as tracer:
            for step in range(0, 20, 3):
                tiny_step(tracer, G, D, step)
    assert [r["step"] for r in read_trace(tmp_path / "ok" / "trace.csv")] == [0, 6, 12, 18]


def test_layers_json_lists_each_network_in_model_order_with_the_traced_names(tmp_path):
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    D = nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Linear(2, 8)), nn.LeakyReLU(),
                      nn.Sequential(nn.Linear(8, 8), nn.ReLU()), nn.Linear(8, 1))
    tracer = GANTracer(G, D, tmp_path / "l")
    layers = rundir.read_layers(tmp_path / "l")
    assert layers == {"D": [["0", "Linear"], ["2.0", "Linear"], ["3", "Linear"]],
                      "G": [["0", "Linear"], ["1", "BatchNorm1d"], ["3", "Linear"]]}
    columns = tracer.stats.columns
    assert [c.split(".", 1)[1] for c in columns if c.startswith("d_grad_norm.")] == [n for n, _ in layers["D"]]
    assert [c.split(".", 1)[1] for c in columns if c.startswith("g_grad_norm.")] == [n for n, _ in layers["G"]]
    assert [c.split(".", 1)[1] for c in columns if c.startswith("d_sigma.")] == ["0", "2.0", "3"]
    assert rundir.read_layers(tmp_path / "nothing-here") == {}


def test_tie_spread_and_weight_columns_against_direct_computation():
    torch.manual_seed(0)
    S, B = 3, 10

    class SeedBatched(nn.Module):  # a seed-batched layer's parameters: seed dim first
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(S, 2, 4))

    stats = StepStatistics(SeedBatched(), SeedBatched(), seeds=S)
    d_real = torch.randn(S, B)
    d_fake = torch.randn(S, B)
    d_fake[1, :7] = d_real[1, :7]  # seed 1: 7 of 10 pairs tie
    d_real[2], d_fake[2] = 1.0, 1.0  # seed 2: pinned, as saturated probabilities are
    zero = torch.zeros(S)
    row = stats.row(d_loss=zero, g_loss=zero, penalty=zero, d_real=d_real, d_fake=d_fake,
                    d_param_norm=torch.tensor([1.0, 2.0, 3.0]), g_param_norm=torch.tensor([4.0, 5.0, 6.0]))
    col = {c: row[:, i] for i, c in enumerate(stats.columns)}
    assert col["d_tied"].tolist() == pytest.approx([0.0, 0.7, 1.0], abs=1e-7)
    both = np.concatenate([d_real.numpy(), d_fake.numpy()], axis=1)
    assert np.allclose(col["d_out_std"].numpy(), both.std(axis=1), rtol=1e-5) and col["d_out_std"][2] == 0
    assert col["d_param_norm"].tolist() == [1.0, 2.0, 3.0] and col["g_param_norm"].tolist() == [4.0, 5.0, 6.0]
    # by default: the norm of the parameters as they are now
    G, D = nn.Linear(2, 2), nn.Linear(2, 1)
    stats = StepStatistics(G, D, seeds=None)
    row = stats.row(d_loss=zero[:1], g_loss=zero[:1], penalty=zero[:1], d_real=d_real[:1], d_fake=d_fake[:1])
    direct = torch.linalg.vector_norm(torch.cat([p.detach().flatten() for p in D.parameters()]))
    assert float(row[0, stats.columns.index("d_param_norm")]) == pytest.approx(float(direct), rel=1e-6)


def test_the_trainer_traces_the_new_columns_and_writes_layers_json(tmp_path):
    from ganeval.spec import BenchSpec
    from ganeval.train.trainer import CellTrainer

    spec = BenchSpec(seeds=[0, 1])
    spec.run.update({"steps": 3, "hidden": 16, "batch_size": 32, "ckpt_every": 3, "trace_every": 1})
    run = spec.resolve("ring8", "bce")
    t = CellTrainer(run, [0, 1], [tmp_path / "s0", tmp_path / "s1"], torch.device("cpu"))
    initial = [torch.linalg.vector_norm(torch.cat([p[k].detach().flatten() for p in t.D.parameters()]))
               for k in range(2)]
    t.train()
    for k in range(2):
        rows = read_trace(tmp_path / f"s{k}" / "trace.csv")
        # the weights step 0's gradients were taken at: the initial ones
        assert rows[0]["d_param_norm"] == pytest.approx(float(initial[k]), rel=1e-5)
        assert rows[0]["d_tied"] == 0.0 and rows[0]["d_out_std"] > 0
        layers = rundir.read_layers(tmp_path / f"s{k}")
        assert [n for n, _ in layers["D"]] == [c.split(".", 1)[1] for c in t.columns if c.startswith("d_grad_norm.")]
        assert all(kind == "SeedLinear" for _, kind in layers["D"] + layers["G"])


# --- multi-critic loops, TensorBoard (issue 26) ----------------------------------------------------
def critic_loop(run_dir, steps=6, n_critic=5, lr_d=1e-3, **tracer_kw):
    """A WGAN-GP-style loop with ``n_critic`` D updates per G update, traced as docs/trace.md shows;
    returns (events, D's weight norm before each step's first critic update, penalties given)."""
    G, D = tiny_gan()
    opt_d, opt_g = torch.optim.Adam(D.parameters(), lr_d), torch.optim.Adam(G.parameters(), 1e-3)
    before, penalties = [], []
    with GANTracer(G, D, run_dir, **tracer_kw) as tracer:
        for step in range(steps):
            before.append(math.sqrt(sum(float(p.detach().square().sum()) for p in D.parameters())))
            for _ in range(n_critic):
                x = torch.randn(16, 2)
                fake = G(torch.randn(16, 2)).detach()
                real_out, fake_out = D(x).squeeze(1), D(fake).squeeze(1)
                penalty = 0.1 * D[0].weight.square().sum()
                d_loss = fake_out.mean() - real_out.mean() + penalty
                opt_d.zero_grad()
                d_loss.backward()
                tracer.d_step(d_loss, real_out, fake_out, real=x, fake=fake, penalty=penalty)
                opt_d.step()
            penalties.append(float(penalty.detach()))
            g_loss = -D(G(torch.randn(16, 2))).mean()
            opt_g.zero_grad()
            g_loss.backward()
            tracer.g_step(g_loss)
            opt_g.step()
            tracer.step(step, opt_d, opt_g)
    return tracer.close(), before, penalties


def test_a_multi_critic_loop_logs_the_weights_before_the_first_critic_update(tmp_path):
    _, before, penalties = critic_loop(tmp_path / "critic")
    rows = read_trace(tmp_path / "critic" / "trace.csv")
    assert [r["d_param_norm"] for r in rows] == pytest.approx(before, rel=1e-6)  # not after n_critic updates
    assert [r["penalty"] for r in rows] == pytest.approx(penalties, rel=1e-6)  # the last critic update's


def test_a_critic_that_blows_up_inside_step_0_is_dated_step_0(tmp_path):
    events, before, _ = critic_loop(tmp_path / "blowup", steps=12, lr_d=1e9)
    rows = read_trace(tmp_path / "blowup" / "trace.csv")
    assert rows[0]["d_param_norm"] == pytest.approx(before[0], rel=1e-6)  # row 0: the initial weights
    assert min(e["step"] for e in events) == 0  # five updates at lr 1e9 inside step 0 show in row 0
    assert any(e["kind"] == "exploding_weights" and e["step"] == 1 for e in events)  # seen at step 1's start


def test_tensorboard_gets_every_trace_column_and_the_events(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events, _, _ = critic_loop(tmp_path / "tb", steps=8, lr_d=1e9, tensorboard=True)
    rows = read_trace(tmp_path / "tb" / "trace.csv")
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"trace/d_loss", "trace/g_grad_norm", "trace/d_param_norm", "layers/d_grad_norm.0"} <= tags
    for column in ("d_param_norm", "g_loss", "d_real_above_fake"):
        read = [(e.step, e.value) for e in acc.Scalars(f"trace/{column}")]
        wanted = [(r["step"], r[column]) for r in rows if math.isfinite(r[column])]
        assert [s for s, _ in read] == [s for s, _ in wanted]
        assert [v for _, v in read] == pytest.approx([v for _, v in wanted], rel=1e-6)
    text = acc.Tensors("events/text_summary")[0].tensor_proto.string_val[0].decode()
    assert events and all(e["kind"].replace("_", " ") in text for e in events)


def test_tensorboard_missing_is_one_clear_error(tmp_path, monkeypatch):
    import builtins

    from ganeval.errors import SpecError

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    G, D = tiny_gan()
    with pytest.raises(SpecError, match=r"pip install 'ganeval\[tensorboard\]'"):
        GANTracer(G, D, tmp_path / "no-tb", tensorboard=True)


# --- what tracing costs: nothing on a step without a row ---------------------------------------------
def _traced_tiny_loop(run_dir, steps, trace_every, step_numbers=None, monkeypatch=None):
    """tiny_step over ``step_numbers`` (default 0..steps-1); returns (rows, clones, weight norms
    measured): the gradient copies and the weight-norm computations the tracer made."""
    G, D = tiny_gan()
    counts = {"clone": 0, "norm": 0}
    if monkeypatch is not None:
        clone = torch.Tensor.clone

        def counting_clone(self, *args, **kwargs):
            counts["clone"] += 1
            return clone(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, "clone", counting_clone)
    with GANTracer(G, D, run_dir, trace_every=trace_every) as tracer:
        norm = tracer.stats.param_norm

        def counting_norm(params):
            counts["norm"] += 1
            return norm(params)

        tracer.stats.param_norm = counting_norm
        for step in step_numbers if step_numbers is not None else range(steps):
            tiny_step(tracer, G, D, step)
    if monkeypatch is not None:
        monkeypatch.undo()
    return read_trace(run_dir / "trace.csv"), counts["clone"], counts["norm"]


def test_steps_that_get_no_row_copy_no_gradient_and_measure_no_weight(tmp_path, monkeypatch):
    """trace_every=10 used to cost what trace_every=1 costs: every d_step/g_step cloned every
    gradient and normed every weight. Now only the recorded steps (0, 10, 20 of 25) do."""
    G, D = tiny_gan()
    n_params = len(list(G.parameters())) + len(list(D.parameters()))
    rows, clones, norms = _traced_tiny_loop(tmp_path / "ten", 25, 10, monkeypatch=monkeypatch)
    assert [r["step"] for r in rows] == [0, 10, 20]
    assert clones == 3 * n_params  # D's and G's gradients, at the three recorded steps only
    assert norms == 3 * 2  # D's weights at the first d_step, G's at g_step: recorded steps only
    every, clones_1, norms_1 = _traced_tiny_loop(tmp_path / "one", 25, 1, monkeypatch=monkeypatch)
    assert clones_1 == 25 * n_params and norms_1 == 25 * 2
    # the rows kept are the rows trace_every=1 writes at those steps (same seeded loop)
    by_step = {r["step"]: r for r in every}
    for row in rows:
        same = by_step[row["step"]]
        assert {k: v for k, v in row.items() if k != "wall_time"} == pytest.approx(
            {k: v for k, v in same.items() if k != "wall_time"}, rel=1e-6, nan_ok=True)


def test_evenly_spaced_step_numbers_lose_no_row_and_an_irregular_jump_says_so(tmp_path):
    rows, _, norms = _traced_tiny_loop(tmp_path / "by3", 0, 2, step_numbers=range(0, 30, 3))
    assert [r["step"] for r in rows] == [0, 6, 12, 18, 24] and norms == 2 * 5  # the increment of 3 is learned
    # 0..8, then 10: step 9 was expected, so step 10's gradients were not copied; the row is left out,
    # never filled with gradients that later backward passes changed
    with pytest.warns(UserWarning, match="step 10 came after step 8") as caught:
        rows, _, _ = _traced_tiny_loop(tmp_path / "jump", 0, 5, step_numbers=[*range(9), *range(10, 21)])
    assert [r["step"] for r in rows] == [0, 5, 15, 20]
    assert len([w for w in caught if "came after" in str(w.message)]) == 1


def test_a_second_irregular_jump_makes_the_tracer_copy_every_step(tmp_path):
    with pytest.warns(UserWarning, match="came after"):
        rows, _, norms = _traced_tiny_loop(tmp_path / "jumps", 0, 5,
                                           step_numbers=[0, 1, 2, 3, 5, 6, 7, 8, 10, 12, 13, 14, 15])
    assert [r["step"] for r in rows] == [0, 15]  # 5 and 10 lost; from then on every step is copied
    assert norms == 2 * (1 + 4)  # step 0, then every step from 12 on (12, 13, 14, 15)


def _sigmoid_gan():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    D = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1), nn.Sigmoid())
    return G, D


def _sigmoid_loop(run_dir, pass_logits: bool, steps=3):
    """A gan.py-style loop: D ends in nn.Sigmoid, trained with BCELoss on its probabilities; the
    tracer is given either the logits (the input of D's Sigmoid) or the probabilities."""
    G, D = _sigmoid_gan()
    bce = nn.BCELoss()
    with GANTracer(G, D, run_dir) as tracer:
        for step in range(steps):
            x = torch.randn(16, 2)
            fake = G(torch.randn(16, 2))
            g_loss = bce(D(fake), torch.ones(16, 1))
            G.zero_grad()
            g_loss.backward()
            tracer.g_step(g_loss)
            real_logits, fake_logits = D[:-1](x), D[:-1](fake.detach())
            real_p, fake_p = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
            if not pass_logits:
                real_p, fake_p = D(x), D(fake.detach())
            d_loss = (bce(real_p, torch.ones(16, 1)) + bce(fake_p, torch.zeros(16, 1))) / 2
            D.zero_grad()
            d_loss.backward()
            given = (real_logits, fake_logits) if pass_logits else (real_p, fake_p)
            tracer.d_step(d_loss, given[0].view(-1), given[1].view(-1), real=x, fake=fake.detach())
            tracer.step(step)


def test_a_sigmoid_d_warns_only_when_probabilities_are_passed(tmp_path):
    G, D = _sigmoid_gan()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GANTracer(G, D, tmp_path / "built").close()  # building the tracer says nothing
        _sigmoid_loop(tmp_path / "logits", pass_logits=True)  # logits from before the Sigmoid: no warning
    with pytest.warns(UserWarning, match="outputs of D's final Sigmoid") as caught:
        _sigmoid_loop(tmp_path / "probs", pass_logits=False)
    assert len([w for w in caught if "Sigmoid" in str(w.message)]) == 1  # once, not every step
