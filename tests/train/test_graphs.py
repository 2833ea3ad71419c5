"""The CUDA-graph step gives the same training as the eager step (skipped without CUDA)."""

import math

import pytest
import torch

from ganeval.diagnostics.trace import read_trace
from ganeval.spec import BenchSpec
from ganeval.train.trainer import CellTrainer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (CI has none)")


def trainer(tmp_path, name, loss, variant, graph, benchmark="ring8", steps=24):
    spec = BenchSpec(benchmarks=[benchmark], losses=[loss], variants=[variant], seeds=[0, 1, 2])
    spec.run.update({"steps": steps, "trace_every": 4, "ckpt_every": 12, "spectral_every": 1, "r1_every": 2})
    if benchmark == "stacked-mnist":
        spec.run.update({"base_filters": 16, "batch_size": 16})
    run = spec.validate().resolve(benchmark, loss, variant)
    return CellTrainer(run, [0, 1, 2], [tmp_path / name / str(k) for k in range(3)], torch.device("cuda"),
                       cuda_graph=graph)


@cuda
@pytest.mark.parametrize("loss, variant", [("bce", "none"), ("wgan-gp", "none"), ("hinge", "sn+r1+ema"),
                                           ("wgan", "clip-grad"), ("lsgan", "bn+ttur")])
def test_graph_and_eager_steps_agree(tmp_path, loss, variant):
    eager = trainer(tmp_path, "eager", loss, variant, graph=False)
    graphed = trainer(tmp_path, "graph", loss, variant, graph=True)
    eager.train()
    graphed.train()
    for k in range(3):
        a = read_trace(eager.run_dirs[k] / "trace.csv")
        b = read_trace(graphed.run_dirs[k] / "trace.csv")
        assert [r["step"] for r in a] == [r["step"] for r in b]
        for ra, rb in zip(a, b):
            for key in ("d_loss", "g_loss", "penalty", "d_grad_norm", "g_grad_norm"):
                assert math.isclose(ra[key], rb[key], rel_tol=1e-3, abs_tol=1e-5), (key, ra["step"])
    for pa, pb in zip(eager.G.parameters(), graphed.G.parameters()):
        assert torch.allclose(pa, pb, rtol=1e-3, atol=1e-5)


@cuda
def test_graph_step_on_the_dcgan(tmp_path, mnist):
    eager = trainer(tmp_path, "eager", "bce", "none", graph=False, benchmark="stacked-mnist", steps=12)
    graphed = trainer(tmp_path, "graph", "bce", "none", graph=True, benchmark="stacked-mnist", steps=12)
    eager.train()
    graphed.train()
    a = read_trace(eager.run_dirs[0] / "trace.csv")
    b = read_trace(graphed.run_dirs[0] / "trace.csv")
    for ra, rb in zip(a, b):
        assert math.isclose(ra["g_loss"], rb["g_loss"], rel_tol=1e-3, abs_tol=1e-5)


@cuda
def test_graphed_training_resumes_from_a_checkpoint(tmp_path):
    whole = trainer(tmp_path, "whole", "bce", "none", graph=True)
    whole.train()
    part = trainer(tmp_path, "part", "bce", "none", graph=True)
    part.train(stop_at=15)
    again = trainer(tmp_path, "part", "bce", "none", graph=True)
    assert again.resume() == 12
    again.train()
    for pa, pb in zip(whole.G.parameters(), again.G.parameters()):
        assert torch.allclose(pa, pb, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss, variant", [("wgan-gp", "none"), ("hinge", "sn+r1+ema+clip-grad")])
def test_the_step_as_a_tensor_trains_like_the_step_as_an_int(tmp_path, loss, variant):
    """What the graph replays: a step counter that lives in a tensor (here on the CPU) — every
    random draw, the lazy-R1 mask and the statistics take that path."""
    spec = BenchSpec(benchmarks=["ring8"], losses=[loss], variants=[variant], seeds=[0, 1])
    spec.run.update({"hidden": 32, "batch_size": 64, "r1_every": 2})
    run = spec.validate().resolve("ring8", loss, variant)
    a = CellTrainer(run, [0, 1], [tmp_path / "a" / str(k) for k in range(2)], torch.device("cpu"))
    b = CellTrainer(run, [0, 1], [tmp_path / "b" / str(k) for k in range(2)], torch.device("cpu"))
    step_t = torch.tensor(0)
    for step in range(8):
        ra = a.train_step(step, record=True, spectral=True)
        rb = b.train_step(step_t, record=True, spectral=True, r1=a.r1_phase(step) if run.r1_gamma else False)
        step_t += 1
        assert torch.equal(ra, rb), step
    for pa, pb in zip(list(a.G.parameters()) + list(a.D.parameters()), list(b.G.parameters()) + list(b.D.parameters())):
        assert torch.equal(pa, pb)
