"""Both executors, same cases: the same results, failures, progress and resume behaviour. Ray runs
on a local Ray (2 CPUs, no dashboard); where Ray is not installed its half of each case skips."""

import os
import sys

import pandas as pd
import pytest
import torch

from ganeval import rundir
from ganeval.runner import jobs_for, run_bench, run_cell
from ganeval.cli import main
from ganeval.executors import EXECUTORS, get_executor
from ganeval.progress import Progress
from ganeval.results import collect
from ganeval.spec import BenchSpec

SETTINGS = {"steps": 60, "hidden": 16, "batch_size": 32, "eval_samples": 500, "ckpt_every": 20}
BOTH = ["local", pytest.param("ray", marks=pytest.mark.slow)]


def spec():
    s = BenchSpec(benchmarks=["ring8"], losses=["bce", "hinge", "lsgan"], seeds=[0, 1])
    s.run.update(SETTINGS)
    return s.validate()


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the Ray extra is not installed (pip install 'ganeval[ray]')")
    # One GPU as far as Ray's scheduler knows: its tasks then ask for it, and resolve the device in
    # the worker (which sees no CUDA here) -- as a CPU head node driving GPU workers does.
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture(params=BOTH)
def executor(request):
    if request.param == "ray":
        request.getfixturevalue("local_ray")
    return request.param


class Recorder(Progress):
    def __init__(self):
        self.started, self.done, self.steps, self.phases = [], [], 0, []

    def cell_started(self, name, seeds):
        self.started.append(name)

    def advance(self, seed_steps):
        self.steps += seed_steps

    def phase(self, text):
        self.phases.append(text)

    def cell_done(self, name, summary=""):
        self.done.append(name)


def run_jobs(name, out, body, resume=True):
    """The executor's own interface: jobs in, one (job, outcome) per cell out."""
    jobs = jobs_for(spec(), out, resume)
    outcomes, progress = {}, Recorder()
    get_executor(name).run(jobs, body, lambda job, o: outcomes.__setitem__(job.cell.key, o), progress)
    return outcomes, progress


def results(folder):
    return collect(folder).drop(columns=["train_time_s"])


def test_both_executors_are_registered():
    assert EXECUTORS.names() == ["local", "ray"]


def test_same_results_progress_and_resume(executor, tmp_path):
    outcomes, progress = run_jobs(executor, tmp_path / "b", run_cell)
    assert {k: (o.trained, o.skipped, o.error) for k, o in outcomes.items()} == \
        {k: (2, 0, None) for k in ("ring8/bce", "ring8/hinge", "ring8/lsgan")}
    assert all(o.device == "cpu" for o in outcomes.values())  # resolved where the cell ran
    # progress: every cell started, every seed-step counted once, evaluation named
    assert sorted(progress.started) == ["ring8/bce", "ring8/hinge", "ring8/lsgan"]
    assert progress.steps == 3 * 2 * SETTINGS["steps"]
    assert sum("evaluating" in p for p in progress.phases) == 3
    again, progress = run_jobs(executor, tmp_path / "b", run_cell)
    assert {o.trained for o in again.values()} == {0} and {o.skipped for o in again.values()} == {2}
    assert progress.steps == 0


@pytest.mark.slow
def test_ray_writes_what_local_writes(local_ray, tmp_path):
    run_jobs("ray", tmp_path / "ray", run_cell)
    run_jobs("local", tmp_path / "local", run_cell)
    pd.testing.assert_frame_equal(results(tmp_path / "ray"), results(tmp_path / "local"), check_exact=True)
    ray_files = {p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*") if p.is_file()}
    local_files = {p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file()}
    assert ray_files == local_files
    for rel in ("ring8/bce/seed-0/events.json", "ring8/bce/seed-1/samples.pt"):  # no timings inside
        assert (tmp_path / "ray" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
    a, b = (rundir.load_checkpoint(tmp_path / side / "ring8/hinge/seed-1", 40) for side in ("ray", "local"))
    for net in ("G", "D"):
        for key, value in a[net].items():
            assert torch.equal(value, b[net][key]), (net, key)


def test_a_failing_cell_is_reported_the_same_way_and_the_others_finish(executor, tmp_path):
    def body(job, progress):  # defined here, so Ray ships it to its workers by value
        if job.run.loss == "hinge":
            raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 20 GiB")
        if job.run.loss == "lsgan":
            raise ValueError("a bug\nin two lines")
        return run_cell(job, progress)

    outcomes, progress = run_jobs(executor, tmp_path / "b", body)
    assert outcomes["ring8/bce"].error is None and outcomes["ring8/bce"].trained == 2
    assert outcomes["ring8/hinge"].error.startswith("out of memory (DefaultCPUAllocator")
    assert outcomes["ring8/lsgan"].error == "ValueError: in two lines (run with -v for the traceback)"
    assert set(collect(tmp_path / "b")["loss"]) == {"bce"}


def test_the_device_is_resolved_where_the_cell_runs(executor, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    jobs = jobs_for(spec(), tmp_path / "b", True)
    for job in jobs:
        job.device = "cuda"
    outcomes = []
    get_executor(executor).run(jobs[:1], run_cell, lambda job, o: outcomes.append(o), Progress())
    assert "no CUDA device" in outcomes[0].error  # raised inside the cell (the task), not by the driver


def test_ray_refuses_cuda_on_a_cluster_without_gpus(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    from ganeval.errors import DeviceError
    from ganeval.executors.ray import RayExecutor

    ex = RayExecutor()
    monkeypatch.setattr(RayExecutor, "connect", lambda self: FakeRay({"CPU": 2.0}))
    jobs = jobs_for(spec(), tmp_path, True)
    jobs[0].device = "cuda"
    with pytest.raises(DeviceError, match="has no GPU"):
        ex.run(jobs, run_cell, lambda job, o: None, Progress())


class FakeRay:
    def __init__(self, resources):
        self.resources = resources

    def cluster_resources(self):
        return self.resources


@pytest.mark.slow
def test_a_ray_worker_that_dies_is_retried(local_ray, tmp_path):
    marker = tmp_path / "died"

    def body(job, progress):
        if job.run.loss == "hinge" and not marker.exists():
            marker.write_text("once")
            os._exit(1)  # the worker process dies mid-cell
        return run_cell(job, progress)

    outcomes, _ = run_jobs("ray", tmp_path / "b", body)
    assert marker.exists()
    assert {k: (o.trained, o.error) for k, o in outcomes.items()} == \
        {k: (2, None) for k in ("ring8/bce", "ring8/hinge", "ring8/lsgan")}
    run_jobs("local", tmp_path / "local", run_cell)
    pd.testing.assert_frame_equal(results(tmp_path / "b"), results(tmp_path / "local"), check_exact=True)


def test_ray_sends_only_what_resuming_needs(tmp_path):
    from ganeval.executors.ray import cell_files
    from ganeval.train.trainer import CellTrainer

    s = spec()
    job = jobs_for(s, tmp_path, True)[0]
    for m in job.members:
        rundir.write_config(m.dir, m.run, m.seed)
    CellTrainer(job.run, s.seeds, job.dirs, torch.device("cpu")).train(stop_at=45)
    files = cell_files(job)
    assert sorted(files) == [f"seed-{k}/{name}" for k in (0, 1) for name in
                             ("checkpoints/step-40.pt", "checkpoints/step-40.pt.sha256", "config.json", "trace.csv")]
    job.resume = False
    assert cell_files(job) == {}


@pytest.mark.slow
def test_a_local_bench_resumes_under_ray(local_ray, tmp_path):
    from ganeval.train.trainer import CellTrainer

    out, s = tmp_path / "mixed", spec()
    job = jobs_for(s, out, True)[0]  # a "killed" local bench: only the bce cell started, up to step 40
    for m in job.members:
        rundir.write_config(m.dir, m.run, m.seed)
    CellTrainer(job.run, s.seeds, job.dirs, torch.device("cpu")).train(stop_at=45)
    assert rundir.checkpoint_steps(job.dirs[0]) == [20, 40]
    outcome = run_bench(s, out, executor="ray")
    assert outcome.failures == [] and outcome.trained == 6
    assert rundir.read_env(out)["cell_devices"] == ["cpu"]
    run_bench(spec(), tmp_path / "whole", executor="local")
    pd.testing.assert_frame_equal(results(out), results(tmp_path / "whole"), check_exact=True)


def test_without_ray_the_flag_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    assert main(["bench", "--executor", "ray", "--out", str(tmp_path / "b")]) == 2
    assert "pip install 'ganeval[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_ray_trains_a_study_as_local_does(local_ray, tmp_path):
    """A study's batched cells (members in several setting folders) travel to a Ray worker and back."""
    def study(out):
        s = BenchSpec(benchmarks=["ring8"], losses=["bce", "wgan-gp"], seeds=[0, 1],
                      sweep={"lr_d+lr_g": [1e-4, 1e-3]}, search={"trials": 2, "seed": 5, "gp_weight": "1:10:log"})
        s.run.update({**SETTINGS, "n_critic": 1})
        return run_bench(s.validate(), out, executor=executor_name)

    for executor_name in ("ray", "local"):
        outcome = study(tmp_path / executor_name)
        assert outcome.failures == [] and outcome.trained == 2 * 2 * 2 * 2
    pd.testing.assert_frame_equal(results(tmp_path / "ray"), results(tmp_path / "local"), check_exact=True)
    folders = {p.parent.parent.name for p in (tmp_path / "ray").rglob("metrics.json")}
    assert len(folders) == 8 and all("@" in f for f in folders)


def test_a_cell_that_exits_or_ends_without_metrics_failed(tmp_path):
    """Issue 35, finding 4: sys.exit(0) in a cell's code ended the bench with status 0, and a
    seed-run left without metrics.json was never reported."""
    def body(job, progress):
        if job.run.loss == "bce":
            raise SystemExit(0)
        if job.run.loss == "hinge":
            return rundir_outcome(job)  # says it trained, wrote nothing
        return run_cell(job, progress)

    def rundir_outcome(job):
        from ganeval.executors import CellOutcome

        return CellOutcome(trained=len(job.dirs))

    outcomes, _ = run_jobs("local", tmp_path / "b", body)
    assert outcomes["ring8/bce"].error == "user code called sys.exit(0) during the cell"
    assert outcomes["ring8/hinge"].error.startswith("seed-run ") and "ended without metrics.json" in outcomes["ring8/hinge"].error
    assert outcomes["ring8/lsgan"].error is None
