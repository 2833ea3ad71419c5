"""The command line end to end: a tiny bench, its resolved spec, report, eval, train and list."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY

from ganeval.cli import main


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "b"
    code = main(["bench", "--benchmarks", "ring8,grid25", "--losses", "bce,wgan-gp,hinge", "--seeds", "2",
                 *TINY, "--out", str(out)])
    return code, out


def test_tiny_bench_runs_end_to_end(tiny_bench):
    code, out = tiny_bench
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2 * 3 * 2
    assert set(results["loss"]) == {"bce", "wgan-gp", "hinge"}
    assert set(results["benchmark"]) == {"ring8", "grid25"}
    for col in ("modes_covered", "hq_rate", "kl", "seed", "status", "train_time_s"):
        assert col in results.columns
    assert results["n_samples"].eq(500).all()
    report = (out / "report.md").read_text()
    assert "## ring8" in report and "## grid25" in report
    assert "| wgan-gp | 2 (0) |" in report
    for link in ("figures/ring8-samples.png", "figures/grid25-samples.png"):
        assert f"]({link})" in report and (out / link).stat().st_size > 1000
    for run in results["run_dir"]:
        for name in ("config.json", "metrics.json", "trace.csv", "samples.png", "checkpoints/step-30.pt",
                     "checkpoints/step-30.pt.sha256"):
            assert (out / run / name).exists(), f"{run}/{name}"
    assert "[cell.\"ring8/wgan-gp\"]" in (out / "spec.toml").read_text()


def test_rerunning_the_same_bench_skips_finished_runs(tiny_bench, capsys):
    code, out = tiny_bench
    before = snapshot(out)
    assert main(["bench", "--benchmarks", "ring8,grid25", "--losses", "bce,wgan-gp,hinge", "--seeds", "2",
                 *TINY, "--out", str(out), "--no-report"]) == 0
    assert "0 seed-runs trained, 12 already done" in capsys.readouterr().out
    after = snapshot(out)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed <= {"env.json", "results.csv"}


def test_the_resolved_spec_reruns_as_is(tiny_bench, tmp_path, capsys):
    _, out = tiny_bench
    again = tmp_path / "again"
    assert main(["bench", "--spec", str(out / "spec.toml"), "--benchmarks", "ring8", "--losses", "bce",
                 "--out", str(again), "--no-report"]) == 0
    a = pd.read_csv(out / "results.csv").query("benchmark == 'ring8' and loss == 'bce'").reset_index(drop=True)
    b = pd.read_csv(again / "results.csv")
    pd.testing.assert_frame_equal(a[["seed", "modes_covered", "hq_rate", "kl"]], b[["seed", "modes_covered", "hq_rate", "kl"]],
                                  check_dtype=False)


def test_report_rebuilds_from_disk(tiny_bench, tmp_path, capsys):
    _, out = tiny_bench
    target = tmp_path / "r" / "report.md"
    assert main(["report", str(out), "-o", str(target)]) == 0
    assert "## grid25" in target.read_text()
    assert (target.parent / "figures" / "grid25-samples.png").exists()


def test_eval_re_evaluates_a_run(tiny_bench, capsys):
    _, out = tiny_bench
    run = out / "ring8" / "bce" / "seed-0"
    before = (run / "metrics.json").read_text()
    assert main(["eval", str(run)]) == 0
    assert "modes_covered" in capsys.readouterr().out
    assert main(["eval", str(run), "--step", "10"]) == 0
    assert (run / "eval" / "step-10.json").exists()
    import json

    assert json.loads((run / "metrics.json").read_text())["metrics"] == json.loads(before)["metrics"]


def test_train_one_run(tmp_path, capsys):
    out = tmp_path / "one"
    assert main(["train", "--benchmark", "grid25", "--loss", "lsgan", "--seed", "3", *TINY, "--out", str(out)]) == 0
    assert (out / "metrics.json").exists()
    assert '"seed": 3' in (out / "config.json").read_text()


def test_list_names_everything(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in ("bce", "wgan-gp", "hinge", "wgan", "lsgan", "ring8", "grid25", "modes_covered", "kl"):
        assert name in text


def test_help_on_every_command(capsys):
    for cmd in ([], ["bench"], ["train"], ["eval"], ["report"], ["list"]):
        assert main([*cmd, "--help"]) == 0
        assert "Usage:" in capsys.readouterr().out


def test_console_script_prints_no_traceback(tmp_path):
    res = subprocess.run([sys.executable, "-m", "ganeval", "bench", "--losses", "nope", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert "Traceback" not in res.stderr


def test_a_diverging_cell_is_recorded_and_the_bench_goes_on(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('benchmarks = ["ring8"]\nlosses = ["bce", "hinge"]\nseeds = 2\n[loss.bce]\nlr_d = 1e30\nlr_g = 1e30\n')
    out = tmp_path / "b"
    assert main(["bench", "--spec", str(spec), *TINY, "--out", str(out)]) == 0
    results = pd.read_csv(out / "results.csv")
    bce, hinge = results[results["loss"] == "bce"], results[results["loss"] == "hinge"]
    assert (bce["status"] == "diverged").all() and bce["diverged"].eq(1).all()
    assert bce["modes_covered"].isna().all() and bce["diverged_step"].notna().all()
    assert (hinge["status"] == "ok").all() and hinge["modes_covered"].notna().all()
    import json

    events = json.loads((out / "ring8" / "bce" / "seed-0" / "events.json").read_text())["events"]
    assert events[0]["kind"] == "divergence"
    assert "| bce | 2 (2) |" in (out / "report.md").read_text()


@pytest.mark.slow
def test_a_tiny_stacked_mnist_bench_reports_fidelity_with_its_extractor(mnist, shipped, tmp_path, monkeypatch, capsys):
    """Full data (skipped without MNIST): the image path from the CLI, FID/IS/KID named by their
    extractor in results and report, then `ganeval eval` adding LPIPS from local weights."""
    import json

    import torch
    from torchvision.models import alexnet

    from ganeval.metrics import fidelity as fd
    from ganeval.metrics.lpips import BACKBONE_FILE, CHANNELS, LINEAR_FILE

    monkeypatch.setattr(fd, "_cache_root", lambda: tmp_path / "fidelity")
    out = tmp_path / "sm"
    assert main(["bench", "--benchmarks", "stacked-mnist", "--losses", "hinge", "--seeds", "1", "--steps", "4",
                 "--set", "base_filters=8", "--set", "pool_size=1000", "--set", "eval_samples=1000",
                 "--set", "fidelity_samples=500", "--set", "ckpt_every=2", "--out", str(out)]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["extractor"] == "ganeval-mnist" and row["n_modes"] == 1000
    assert all(pd.notna(row[k]) for k in ("fid", "is_mean", "kid_mean", "precision", "recall", "diversity"))
    assert "feature extractor** (FID / IS / KID / precision / recall): ganeval-mnist" in (out / "report.md").read_text()

    weights = tmp_path / "lpips"  # random-init files of the right shapes: the real ones cannot be downloaded here
    weights.mkdir()
    torch.save(alexnet(weights=None).state_dict(), weights / BACKBONE_FILE)
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(CHANNELS)}, weights / LINEAR_FILE)
    run = out / "stacked-mnist" / "hinge" / "seed-0"
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "modes", "--lpips-weights", str(weights)]) == 0
    assert "lpips_diversity" in capsys.readouterr().out
    doc = json.loads((run / "eval" / "step-4.json").read_text())
    assert doc["metrics"]["lpips_diversity"] > 0 and doc["metrics"]["lpips_real"] > 0


@pytest.mark.parametrize("flags,message", [
    (["--sweep", "lr_dd=1e-4"], "unknown key 'lr_dd'"),
    (["--sweep", "lr_d="], "empty value"),
    (["--sweep", "lr_d=1e-4,1e-4"], "the same value twice"),
    (["--search", "lr_d=1e-2:1e-4", "--trials", "2"], "LOW < HIGH"),
    (["--search", "lr_d=0:1e-2:log", "--trials", "2"], "log scale needs LOW > 0"),
    (["--search", "lr_d=1e-5:1e-2", "--trials", "20000"], "at most 10,000 trials"),
    (["--trials", "3"], "go with --search"),
])
def test_a_bad_study_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, flags, message):
    out = tmp_path / "b"
    assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", *TINY, *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_a_large_study_prints_its_time_first_counting_members(tmp_path, monkeypatch, caplog):
    import logging

    from ganeval import feasibility

    monkeypatch.setattr(feasibility, "LARGE_GRID", 10)
    with caplog.at_level(logging.WARNING):
        assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", *TINY, "--no-report",
                     "--search", "lr_d=1e-4:1e-2:log", "--trials", "3", "--out", str(tmp_path / "b")]) == 0
    assert "large grid: 180 member-steps (6 members: settings x seeds) in 1 cells; estimated training time" in caplog.text
