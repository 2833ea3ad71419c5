"""Reliability of `ganeval bench`: killed at several points it resumes to the same results; one
writer per folder; a cell that fails is reported and the bench goes on."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import TINY

from ganeval.cli import main


def bench_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "ganeval", "bench", "--benchmarks", "ring8", "--losses", "bce,hinge", "--seeds", "2",
            "--steps", "400", "--set", "hidden=16", "--set", "batch_size=32", "--set", "eval_samples=500",
            "--set", "ckpt_every=100", "--out", str(out), "--no-report"]


ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def like_a_terminal() -> None:
    """In the child: take Ctrl-C as a command started from a terminal does, even when this test run
    itself was started with SIGINT ignored (nohup, a background job), which children inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_until(out: Path, trigger: Path, timeout: float = 120, cmd=bench_cmd, sig: int = signal.SIGKILL) -> None:
    """Start the bench ``cmd(out)`` and, as soon as ``trigger`` exists, SIGKILL it with its process
    group (or send it ``sig``: SIGINT is Ctrl-C)."""
    proc = subprocess.Popen(cmd(out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=like_a_terminal)
    deadline = time.monotonic() + timeout
    while not trigger.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is None:
        os.killpg(proc.pid, sig) if sig == signal.SIGKILL else proc.send_signal(sig)
    proc.wait(timeout=120)
    assert trigger.exists(), proc.stderr.read().decode()[-2000:]


def finish_like_an_uninterrupted_bench(cmd, killed: Path, whole: Path, trace: str) -> None:
    """Resume ``killed``, run ``whole`` without a stop: the same results.csv and ``trace`` rows."""
    for out in (killed, whole):
        done = subprocess.run(cmd(out), env=ENV, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(measured(killed), measured(whole), check_exact=True)  # bit-identical on CPU
    rows_a, rows_b = ((root / trace).read_text().splitlines() for root in (killed, whole))
    assert [r.rsplit(",", 1)[0] for r in rows_a] == [r.rsplit(",", 1)[0] for r in rows_b]  # but wall time


@pytest.mark.slow
def test_killed_at_several_points_it_resumes_to_the_uninterrupted_results(tmp_path):
    killed = tmp_path / "killed"
    bce, hinge = killed / "ring8" / "bce", killed / "ring8" / "hinge"
    run_until(killed, bce / "seed-1" / "checkpoints" / "step-100.pt.sha256")   # mid-cell, after a checkpoint
    assert not (bce / "seed-0" / "metrics.json").exists()
    run_until(killed, bce / "seed-1" / "metrics.json")                         # between cells
    run_until(killed, hinge / "seed-1" / "checkpoints" / "step-200.pt.sha256")  # mid second cell
    assert (killed / ".ganeval.lock").exists()  # the dead bench's lock file is still there, but the OS
    again = subprocess.run(bench_cmd(killed), env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr  # released its lock when the process died
    whole = subprocess.run(bench_cmd(tmp_path / "whole"), env=ENV, capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    a = pd.read_csv(killed / "results.csv").drop(columns=["train_time_s", "run_dir"])
    b = pd.read_csv(tmp_path / "whole" / "results.csv").drop(columns=["train_time_s", "run_dir"])
    pd.testing.assert_frame_equal(a, b, check_exact=True)  # bit-identical metrics on CPU
    for seed in (0, 1):
        rows_a = (killed / "ring8" / "hinge" / f"seed-{seed}" / "trace.csv").read_text().splitlines()
        rows_b = (tmp_path / "whole" / "ring8" / "hinge" / f"seed-{seed}" / "trace.csv").read_text().splitlines()
        def strip(r):  # the wall-time column differs
            return r.rsplit(",", 1)[0]
        assert [strip(r) for r in rows_a] == [strip(r) for r in rows_b]


HELD_LOSS = """
import time
from pathlib import Path

import torch.nn.functional as F
import ganeval

HELD = Path(__file__).with_name("held")


def d_loss(real, fake):
    HELD.touch()  # the bench holds its folder's lock and is training: it stays here until killed
    while True:
        time.sleep(0.05)


def g_loss(fake, real):
    return F.softplus(-fake).mean(-1)


ganeval.register_loss(ganeval.Loss("held", "bce that never finishes its first step (a test's)", "-", d_loss, g_loss))
"""


@pytest.mark.slow
def test_a_second_bench_on_the_same_folder_is_refused(tmp_path):
    """The first bench is held inside its first training step (a plugin loss that never returns), so
    it holds the folder's lock for as long as the test needs: no race with how fast either starts."""
    out = tmp_path / "b"
    plugin = tmp_path / "held_loss.py"
    plugin.write_text(HELD_LOSS)
    cmd = ["held" if a == "bce,hinge" else a for a in bench_cmd(out)] + ["--plugin", str(plugin)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        while not (tmp_path / "held").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        assert (out / ".ganeval.lock.owner").exists()
        second = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
        assert proc.poll() is None  # still held: the refusal below is the lock's doing
        assert second.returncode == 2
        assert f"in use by another ganeval (pid {proc.pid}" in second.stderr
        assert second.stderr.count("\n") == 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_cell_out_of_memory_is_reported_and_the_bench_goes_on(tmp_path, monkeypatch, capsys):
    from ganeval.train.trainer import CellTrainer

    real_train = CellTrainer.train

    def train(self, *args, **kwargs):
        if self.run.loss == "hinge":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real_train(self, *args, **kwargs)

    monkeypatch.setattr(CellTrainer, "train", train)
    out = tmp_path / "oom"
    code = main(["bench", "--benchmarks", "ring8", "--losses", "bce,hinge,lsgan", "--seeds", "2", *TINY,
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "failed: ring8/hinge: out of memory" in err
    results = pd.read_csv(out / "results.csv")
    assert sorted(set(results["loss"])) == ["bce", "lsgan"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_like_ctrl_c_and_the_bench_resumes(tmp_path, sig):
    out = tmp_path / "b"
    trigger = out / "ring8" / "bce" / "seed-1" / "checkpoints" / "step-100.pt.sha256"
    proc = subprocess.Popen(bench_cmd(out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, text=True)
    deadline = time.monotonic() + 120
    while not trigger.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + sig, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith(f"ganeval: terminated by {signal.Signals(sig).name}; ") and "re-run" in lines[-1]
    assert "Traceback" not in err
    assert not (out / ".ganeval.lock").exists() and not (out / ".ganeval.lock.owner").exists()  # released
    assert not list(out.rglob("*.tmp"))
    again = subprocess.run(bench_cmd(out), env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len(pd.read_csv(out / "results.csv")) == 4  # 2 losses x 2 seeds, the interrupted cell resumed


def test_stray_temporary_files_are_removed_on_the_next_start(tmp_path):
    out = tmp_path / "b"
    args = ["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "1", *TINY, "--out", str(out), "--no-report"]
    assert main(args) == 0
    run_dir = out / "ring8" / "bce" / "seed-0"
    stray = [run_dir / ".metrics.json.k2j3h4.tmp", out / ".results.csv.x1.tmp"]
    for path in stray:
        path.write_text("half a file")
    done = (run_dir / "metrics.json").read_bytes()
    assert main(args) == 0
    assert not any(p.exists() for p in stray)
    assert (run_dir / "metrics.json").read_bytes() == done  # finished files untouched


def test_an_evaluation_lost_between_a_checkpoint_and_its_evaluation_is_recomputed_on_resume(tmp_path):
    args = ["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", *TINY, "--set", "eval_checkpoints=true",
            "--no-report"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    killed = tmp_path / "killed"
    assert main([*args, "--out", str(killed)]) == 0
    for seed in (0, 1):  # as if killed right after the step-20 checkpoint: its evaluation (and all after) lost
        run_dir = killed / "ring8" / "bce" / f"seed-{seed}"
        for name in ("eval/step-20.json", "checkpoints/step-30.pt", "checkpoints/step-30.pt.sha256", "metrics.json"):
            (run_dir / name).unlink()
    (killed / "ring8" / "bce" / "seed-1" / "eval" / "step-10.json").unlink()  # one seed lost an earlier one too
    assert main([*args, "--out", str(killed)]) == 0
    for seed in (0, 1):
        for step in (10, 20):
            rel = f"ring8/bce/seed-{seed}/eval/step-{step}.json"
            a, b = (json.loads((root / rel).read_text()) for root in (killed, tmp_path / "whole"))
            for doc in (a, b):  # wall times differ; everything measured must not
                doc.pop("eval_time_s"), doc.pop("train_time_s")
            assert a == b, rel
    a = pd.read_csv(killed / "results.csv").drop(columns=["train_time_s", "run_dir"])
    b = pd.read_csv(tmp_path / "whole" / "results.csv").drop(columns=["train_time_s", "run_dir"])
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_run_folder_written_before_a_setting_existed_still_resumes(tmp_path):
    """A field added to RunSpec later (g_steps, pack, maxout, ...) defaults to the old behaviour, so
    config.json and checkpoints that lack it are the same configuration: the bench resumes them."""
    out = tmp_path / "b"
    args = ["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "1", "--set", "hidden=16",
            "--set", "batch_size=32", "--set", "eval_samples=200", "--set", "ckpt_every=10", "--out", str(out),
            "--no-report"]
    assert main([*args, "--steps", "10"]) == 0
    run_dir = out / "ring8" / "bce" / "seed-0"
    config = json.loads((run_dir / "config.json").read_text())
    for key in ("g_steps", "pack", "maxout", "d_hidden"):
        del config[key]
    (run_dir / "config.json").write_text(json.dumps(config))
    from ganeval import fileio, rundir

    path = rundir.checkpoint_path(run_dir, 10)
    payload = fileio.load_tensors(path)
    for key in ("g_steps", "pack", "maxout", "d_hidden"):
        del payload["config"][key]
    fileio.save_tensors(path, payload)
    assert main([*args, "--steps", "10"]) == 0  # before: "a different configuration (d_hidden, g_steps, ...)"
    assert rundir.load_checkpoint(run_dir, 10, rundir.read_config(run_dir)[0].train_config())["step"] == 10


def test_the_live_cell_line_shows_the_tables_means_and_says_which_seed_was_counted_as_worst(monkeypatch):
    """A seed with no sample on a mode leaves KL undefined; the table counts it as ln(modes). The
    live line must show the same mean (not the mean of the other seeds) and say so."""
    import math

    from ganeval import runner as bench_mod
    from ganeval.results import summarize

    metrics = {"a": {"modes_covered": 8.0, "hq_rate": 0.05, "kl": 0.5, "n_modes": 8.0},
               "b": {"modes_covered": 4.0, "hq_rate": 0.016, "kl": 0.682, "n_modes": 8.0},
               "c": {"modes_covered": 0.0, "hq_rate": 0.0, "kl": None, "n_modes": 8.0}}
    docs = {k: {"benchmark": "ring8", "loss": "wgan-gp", "variant": "", "seed": i, "status": "ok", "metrics": m}
            for i, (k, m) in enumerate(metrics.items())}
    monkeypatch.setattr(bench_mod.rundir, "read_metrics", lambda d: docs[d])
    line = bench_mod._means_text(["a", "b", "c"])
    frame = pd.DataFrame([{**{k: d[k] for k in ("benchmark", "loss", "variant", "seed", "status")},
                           **{k: (math.nan if v is None else v) for k, v in d["metrics"].items()}} for d in docs.values()])
    table_kl = float(summarize(frame)[("kl", "mean")].iloc[0])
    assert table_kl == pytest.approx((0.5 + 0.682 + math.log(8)) / 3)
    assert f"kl {table_kl:.3g} (1 of 3 seeds undefined, counted as the worst, {math.log(8):.3g})" in line
    assert "modes_covered 4," in line and "hq_rate 0.022" in line


# --- studies: --sweep / --search ------------------------------------------------------------------
PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "plugins" / "my_gan_tricks.py"


def measured(folder: Path) -> pd.DataFrame:
    """results.csv without what wall time and folder layout change."""
    return pd.read_csv(folder / "results.csv").drop(columns=["train_time_s", "run_dir"])


@pytest.mark.slow
def test_a_sweep_trains_every_setting_over_the_seeds_and_another_folder_gets_the_same_numbers(tmp_path, capsys):
    args = ["bench", "--benchmarks", "ring8", "--losses", "bce,hinge", "--seeds", "2", *TINY, "--sweep", "lr_d=1e-4,1e-3"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    frame = pd.read_csv(tmp_path / "a" / "results.csv")
    assert len(frame) == 8 and list(frame.columns[:5]) == ["benchmark", "loss", "variant", "lr_d", "seed"]
    assert {(loss, lr) for loss, lr in zip(frame["loss"], frame["lr_d"])} == {
        (loss, lr) for loss in ("bce", "hinge") for lr in (1e-4, 1e-3)}
    for _, row in frame.iterrows():  # each member's own values, in its own folder
        config = json.loads((tmp_path / "a" / row["run_dir"] / "config.json").read_text())
        assert config["lr_d"] == row["lr_d"] and config["swept"] == ["lr_d"] and "@lr_d-" in row["run_dir"]
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    pd.testing.assert_frame_equal(measured(tmp_path / "a"), measured(tmp_path / "b"), check_exact=True)
    capsys.readouterr()
    # the report's rows say which value each has; --format csv/json: one column per swept key
    assert main(["report", str(tmp_path / "a"), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert "lr_d" in table.columns and sorted(set(table["lr_d"])) == [1e-4, 1e-3] and len(table) == 4
    assert main(["report", str(tmp_path / "a"), "--format", "json"]) == 0
    assert {r["lr_d"] for r in json.loads(capsys.readouterr().out)} == {1e-4, 1e-3}
    report = (tmp_path / "a" / "report.md").read_text()
    assert "| hinge (lr_d=1e-04) |" in report and "- **study**: lr_d in {1e-04, 1e-03}" in report
    # the resolved spec re-runs the same study into the same folder: nothing retrained
    assert main(["bench", "--spec", str(tmp_path / "a" / "spec.toml"), "--no-report"]) == 0
    assert "(0 seed-runs trained, 8 already done" in capsys.readouterr().out


@pytest.mark.slow
def test_a_search_draws_distinct_values_in_range_repeatably_and_more_trials_keep_the_first(tmp_path, capsys):
    args = ["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "1", *TINY, "--no-report",
            "--search", "lr_d=1e-5:1e-2:log", "--search-seed", "7"]
    assert main([*args, "--trials", "3", "--out", str(tmp_path / "a")]) == 0
    values = pd.read_csv(tmp_path / "a" / "results.csv")["lr_d"]
    assert values.nunique() == 3 and values.between(1e-5, 1e-2).all()
    assert main([*args, "--trials", "3", "--out", str(tmp_path / "b")]) == 0
    pd.testing.assert_frame_equal(measured(tmp_path / "a"), measured(tmp_path / "b"), check_exact=True)
    capsys.readouterr()
    assert main([*args, "--trials", "4", "--out", str(tmp_path / "a")]) == 0
    assert "(1 seed-runs trained, 3 already done" in capsys.readouterr().out
    longer = pd.read_csv(tmp_path / "a" / "results.csv")["lr_d"]
    assert set(values) < set(longer) and len(longer) == 4


@pytest.mark.slow
def test_tied_keys_and_a_plugins_own_setting_sweep_the_same_way(tmp_path):
    out = tmp_path / "b"
    assert main(["bench", "--plugin", str(PLUGIN), "--benchmarks", "ring8", "--losses", "bce", "--variants", "r2",
                 "--seeds", "2", *TINY, "--sweep", "lr_d+lr_g=1e-4,1e-3", "--sweep", "r2_gamma=1,10", "--out", str(out),
                 "--no-report"]) == 0
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == 8 and (frame["lr_d"] == frame["lr_g"]).all()
    assert sorted(set(zip(frame["lr_d"], frame["r2_gamma"]))) == [(1e-4, 1.0), (1e-4, 10.0), (1e-3, 1.0), (1e-3, 10.0)]
    assert frame.groupby(["lr_d", "r2_gamma"])["modes_covered"].size().eq(2).all()


def study_cmd(out: Path) -> list[str]:
    return [*bench_cmd(out)[:7], "bce", *bench_cmd(out)[8:], "--sweep", "lr_d=1e-4,1e-3",
            "--sweep", "n_critic=1,2"]


@pytest.mark.slow
def test_a_study_killed_or_interrupted_mid_way_resumes_to_the_uninterrupted_results(tmp_path):
    killed = tmp_path / "killed"
    first = killed / "ring8" / "bce@lr_d-1e-03__n_critic-1"  # the first batched cell: n_critic 1, both rates
    second = killed / "ring8" / "bce@lr_d-1e-03__n_critic-2"
    run_until(killed, first / "seed-1" / "checkpoints" / "step-100.pt.sha256", 300, study_cmd)  # mid batched cell
    assert not (first / "seed-0" / "metrics.json").exists()
    run_until(killed, second / "seed-0" / "checkpoints" / "step-200.pt.sha256", 300, study_cmd, signal.SIGINT)
    finish_like_an_uninterrupted_bench(study_cmd, killed, tmp_path / "whole",
                                       "ring8/bce@lr_d-1e-04__n_critic-2/seed-1/trace.csv")
    assert len(measured(killed)) == 8


def test_the_progress_counts_members_and_the_memory_check_sees_them(tmp_path, monkeypatch):
    from ganeval import feasibility
    from ganeval.progress import Progress
    from ganeval.runner import run_bench
    from ganeval.spec import build_spec

    class Totals(Progress):
        def start(self, total_seed_steps, total_cells):
            self.total, self.cells = total_seed_steps, total_cells

        def cell_started(self, name, seeds):
            self.started = [*getattr(self, "started", []), (name, seeds)]

    seen = []
    real = feasibility.check_memory
    monkeypatch.setattr(feasibility, "check_memory", lambda run, n, device: seen.append(n) or real(run, n, device))
    spec = build_spec(benchmarks=["ring8"], losses=["bce"], seeds=[0, 1, 2], sweep=["lr_d=1e-4,1e-3", "n_critic=1,2"],
                      set_pairs=["hidden=8", "batch_size=16", "eval_samples=100"], steps=4)
    progress = Totals()
    run_bench(spec, tmp_path / "b", progress=progress)
    assert progress.total == 4 * 2 * 2 * 3 and progress.cells == 2  # steps x settings x seeds, in 2 batched cells
    assert progress.started == [("ring8/bce (2 settings)", 6), ("ring8/bce (2 settings)", 6)]
    assert seen == [6, 6]


@pytest.mark.slow
def test_a_stateful_stabilizer_killed_or_interrupted_resumes_to_the_uninterrupted_results(tmp_path):
    """LeCam keeps moving averages across steps: after kill -9 and after Ctrl-C the bench resumes
    them from the checkpoint, and the numbers are those of an uninterrupted bench, bit for bit."""
    def cmd(out):
        return [*bench_cmd(out)[:7], "hinge", *bench_cmd(out)[8:], "--variants", "lecam", "--set", "lecam_start=50"]

    killed = tmp_path / "killed"
    run_dir = killed / "ring8" / "hinge-lecam"
    run_until(killed, run_dir / "seed-1" / "checkpoints" / "step-100.pt.sha256", 300, cmd)
    run_until(killed, run_dir / "seed-1" / "checkpoints" / "step-300.pt.sha256", 300, cmd, signal.SIGINT)
    assert not (run_dir / "seed-0" / "metrics.json").exists()
    finish_like_an_uninterrupted_bench(cmd, killed, tmp_path / "whole", "ring8/hinge-lecam/seed-0/trace.csv")


def test_the_live_cell_line_flags_a_cell_whose_samples_mostly_miss_the_modes(monkeypatch):
    """As the table's †: a cell at 1 % high quality reads 7 modes and a small KL, from the 1 %."""
    from ganeval import runner as bench_mod

    def line(hq):
        metrics = [{"modes_covered": 7.0, "hq_rate": hq, "kl": 0.284, "n_modes": 8.0}] * 3
        docs = {k: {"benchmark": "ring8", "loss": "bce", "variant": "", "seed": k, "status": "ok", "metrics": m}
                for k, m in enumerate(metrics)}
        monkeypatch.setattr(bench_mod.rundir, "read_metrics", lambda d: docs[d])
        return bench_mod._means_text([0, 1, 2])

    assert line(0.010).endswith("† most samples miss every mode (high-quality rate below 0.5): modes covered and KL "
                                "describe only the samples near a mode")
    assert "†" not in line(0.876)
