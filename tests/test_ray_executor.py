"""The Ray executor on a local Ray (2 CPUs, no dashboard): same results as the local executor, a
worker that dies mid-cell is retried, and a finished bench resumes to nothing."""

import os
import sys

import pandas as pd
import pytest

from ganeval.bench import run_bench
from ganeval.cli import main
from ganeval.spec import BenchSpec

ray = pytest.importorskip("ray", reason="the Ray extra is not installed (pip install 'ganeval[ray]')")

SETTINGS = {"steps": 60, "hidden": 16, "batch_size": 32, "eval_samples": 500, "ckpt_every": 20}


def spec():
    s = BenchSpec(benchmarks=["ring8"], losses=["bce", "hinge", "lsgan"], seeds=[0, 1])
    s.run.update(SETTINGS)
    return s.validate()


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    marker = tmp_path_factory.mktemp("chaos") / "died"
    os.environ["GANEVAL_RAY_CHAOS_MARKER"] = str(marker)  # workers inherit it: the first task dies once
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield marker
    ray.shutdown()
    os.environ.pop("GANEVAL_RAY_CHAOS_MARKER", None)


def results(folder):
    return pd.read_csv(folder / "results.csv").drop(columns=["train_time_s"])


def test_ray_equals_local_and_survives_a_dying_worker(local_ray, tmp_path):
    out_ray, out_local = tmp_path / "ray", tmp_path / "local"
    outcome = run_bench(spec(), out_ray, executor="ray")
    assert local_ray.exists(), "the chaos hook should have killed one worker"
    assert outcome.failures == [] and outcome.trained == 6
    run_bench(spec(), out_local, executor="local")
    pd.testing.assert_frame_equal(results(out_ray), results(out_local))
    for rel in ("ring8/hinge/seed-1/checkpoints/step-40.pt", "ring8/lsgan/seed-0/trace.csv",
                "ring8/bce/seed-0/events.json", "ring8/bce/seed-1/samples.png"):
        assert (out_ray / rel).exists(), rel
    again = run_bench(spec(), out_ray, executor="ray")
    assert again.trained == 0 and again.skipped == 6


def test_a_local_bench_resumes_under_ray(local_ray, tmp_path):
    from ganeval.train import checkpoint

    out = tmp_path / "mixed"
    s = spec()
    # a "killed" local bench: only the bce cell started, up to its step-40 checkpoint
    from ganeval.bench import run_dir_for
    from ganeval.evaluate import write_config
    from ganeval.train.trainer import CellTrainer
    import torch

    run = s.resolve("ring8", "bce")
    dirs = [run_dir_for(out, run, seed) for seed in s.seeds]
    for seed, d in zip(s.seeds, dirs):
        write_config(d, run, seed)
    CellTrainer(run, s.seeds, dirs, torch.device("cpu")).train(stop_at=45)
    assert checkpoint.list_steps(dirs[0]) == [20, 40]
    run_bench(s, out, executor="ray")
    whole = tmp_path / "whole"
    run_bench(spec(), whole, executor="local")
    pd.testing.assert_frame_equal(results(out), results(whole))


def test_without_ray_the_flag_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    assert main(["bench", "--executor", "ray", "--out", str(tmp_path / "b")]) == 2
    assert "pip install 'ganeval[ray]'" in capsys.readouterr().err
