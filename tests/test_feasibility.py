"""Settings checked before work starts: model/benchmark compatibility, memory against the machine,
and a measured time estimate for large grids; a refused command leaves no folder behind."""

import logging

import pytest
import torch
from conftest import TINY

from ganeval import feasibility
from ganeval.cli import main
from ganeval.spec import RunSpec


def test_a_model_that_cannot_model_the_data_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", *TINY, "--set", "model=dcgan",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ring8/bce: model dcgan needs images of shape Cx28x28; ring8 samples have shape [2]" in err
    assert err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("setting", [["--set", "hidden=100000"], ["--batch-size", "10000000"],
                                     ["--set", "eval_samples=1000000000"], ["--set", "z_dim=100000000"]])
def test_a_cell_that_cannot_fit_in_memory_is_refused_with_its_estimate(tmp_path, capsys, setting):
    out = tmp_path / "b"
    assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", "--steps", "5",
                 *setting, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ring8/bce with 2 seed(s) needs about" in err and "GiB available RAM" in err, err
    assert err.count("\n") == 1 and not out.exists()
    assert main(["train", "--benchmark", "ring8", "--loss", "bce", "--steps", "5", *setting,
                 "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()


def test_the_memory_estimate_counts_the_real_models_parameters():
    from ganeval.benchmarks import get_benchmark
    from ganeval.models import build_models

    for run in (RunSpec(benchmark="ring8", loss="bce", hidden=64),
                RunSpec(benchmark="stacked-mnist", loss="bce", model="dcgan", z_dim=100, base_filters=16)):
        G, D = build_models(run, [0, 1, 2], get_benchmark(run.benchmark).data_shape)
        real = sum(p.numel() for p in (*G.parameters(), *D.parameters()))
        assert feasibility.estimate_memory(run, 3).parameters == real
        # seed-batched: every tensor scales with the seeds
        assert feasibility.estimate_memory(run, 300).parameters == 100 * real


def test_memory_that_fits_passes_and_more_than_half_warns(monkeypatch, caplog):
    run = RunSpec(benchmark="ring8", loss="bce", hidden=64)
    need = feasibility.estimate_memory(run, 3).peak
    monkeypatch.setattr(feasibility, "available_bytes", lambda device: (int(need * 10), "available RAM"))
    with caplog.at_level(logging.WARNING):
        feasibility.check_memory(run, 3, torch.device("cpu"))
    assert not caplog.records
    monkeypatch.setattr(feasibility, "available_bytes", lambda device: (int(need * 1.5), "available RAM"))
    with caplog.at_level(logging.WARNING):
        feasibility.check_memory(run, 3, torch.device("cpu"))
    assert "more than half" in caplog.text


def test_a_large_grid_prints_a_measured_time_estimate(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setattr(feasibility, "LARGE_GRID", 10)
    with caplog.at_level(logging.WARNING):
        assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", *TINY,
                     "--out", str(tmp_path / "b"), "--no-report"]) == 0
    assert "large grid: 60 seed-steps in 1 cells; estimated training time on CPU" in caplog.text


def test_the_time_estimate_is_the_measured_step_time_times_the_steps(monkeypatch):
    run = RunSpec(benchmark="ring8", loss="bce", hidden=16, steps=1000)
    calls = []

    def fake(run, k, device, steps=3):
        calls.append(k)
        return 0.01 * k  # 10 ms per seed per step

    monkeypatch.setattr(feasibility, "seconds_per_step", fake)
    seconds = feasibility.estimate_time([(run, 8), (run, 4), (run, 0)], torch.device("cpu"))
    assert seconds == pytest.approx(0.01 * 12 * 1000) and calls == [2]  # one probe per distinct setting
