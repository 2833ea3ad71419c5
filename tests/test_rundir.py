"""The run-folder contract: one module spells every name, one identity per cell, one writer per
folder, and the completion mark goes last."""

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ganeval
from ganeval import fileio, rundir
from ganeval.errors import RunFolderError
from ganeval.spec import BenchSpec, CellId

CONTRACT_NAMES = {rundir.SPEC_FILE, rundir.ENV_FILE, rundir.RESULTS_FILE, rundir.REPORT_FILE, rundir.FIGURES_DIR,
                  rundir.LOCK_FILE, rundir.CONFIG_FILE, rundir.TRACE_FILE, rundir.EVENTS_FILE, rundir.METRICS_FILE,
                  rundir.SAMPLES_FIGURE, rundir.SAMPLES_FILE, rundir.CHECKPOINT_DIR, rundir.LAYERS_FILE}  # "eval": a command too


def _code_strings(path: Path) -> list[str]:
    """String constants of a module's code (docstrings left out: they may mention any file)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_every_run_folder_name_is_spelled_in_one_module():
    package = Path(ganeval.__file__).parent
    offenders = {}
    for path in package.rglob("*.py"):
        if path.name == "rundir.py":
            continue
        found = [s for s in _code_strings(path)
                 if s in CONTRACT_NAMES or "step-" in s or any(s.endswith("/" + n) for n in CONTRACT_NAMES)
                 or s.endswith("seed-")]  # the piece of an f-string f"seed-{k}" / f"{cell}/seed-{k}"
        if found:
            offenders[str(path.relative_to(package))] = found
    assert offenders == {}


@pytest.mark.parametrize("cell, key, folder, label", [
    (CellId("ring8", "bce"), "ring8/bce", "ring8/bce", "bce"),
    (CellId("grid25", "wgan-gp", "sn+ttur"), "grid25/wgan-gp/sn+ttur", "grid25/wgan-gp-sn+ttur", "wgan-gp + sn+ttur"),
])
def test_one_identity_many_spellings(cell, key, folder, label):
    assert (cell.key, str(cell.folder), cell.label) == (key, folder, label)
    assert CellId.from_key(key) == cell
    run = BenchSpec().resolve(cell.benchmark, cell.loss, cell.variant)
    assert CellId.of(run) == cell and (run.cell_key, run.cell_name) == (key, Path(folder).name)
    assert CellId.of({"benchmark": cell.benchmark, "loss": cell.loss, "variant": cell.variant}) == cell
    assert rundir.run_dir(Path("b"), cell, 3) == Path("b") / folder / "seed-3"


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    with rundir.folder_lock(tmp_path):
        with pytest.raises(RunFolderError, match=f"in use by another ganeval \\(pid {os.getpid()}"):
            with rundir.folder_lock(tmp_path):
                pass
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # released: nothing left behind
    with rundir.folder_lock(tmp_path):
        pass


def test_a_killed_holder_blocks_nobody(tmp_path):
    code = ("import sys, time; from ganeval.rundir import folder_lock\n"
            "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderError, match=f"pid {proc.pid}"):
            with rundir.folder_lock(tmp_path):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (tmp_path / rundir.LOCK_FILE).exists()  # the file stays, the OS lock died with its process
    deadline = time.monotonic() + 5
    with rundir.folder_lock(tmp_path):
        assert time.monotonic() < deadline


def test_the_completion_mark_is_written_last(tmp_path, monkeypatch):
    order = []
    real = fileio.write_bytes
    monkeypatch.setattr(fileio, "write_bytes", lambda path, data: (order.append(Path(path).name), real(path, data)))
    rundir.write_tree(tmp_path, {"seed-0/metrics.json": b"{}", "seed-0/trace.csv": b"", "seed-1/metrics.json": b"{}",
                                 "seed-1/checkpoints/step-10.pt": b"", "seed-1/zz.json": b""})
    assert order[-2:] == ["metrics.json", "metrics.json"]
    assert rundir.read_tree(tmp_path).keys() == {"seed-0/metrics.json", "seed-0/trace.csv", "seed-1/metrics.json",
                                                 "seed-1/checkpoints/step-10.pt", "seed-1/zz.json"}


def _doc(step, eval_config):
    return {"format": rundir.RESULT_FORMAT, "benchmark": "ring8", "loss": "bce", "variant": "none", "seed": 0,
            "step": step, "status": "ok", "eval_config": eval_config, "metrics": {"kl": None, "x": 1.0}}


@pytest.mark.parametrize("field, value, message", [
    ("seed", "zero", "'seed' must be an integer, got 'zero'"),
    ("seed", True, "'seed' must be an integer, got True"),
    ("metrics", [1], "'metrics' must be a table"),
    ("metrics", {"kl": "abc"}, "'metrics.kl' must be a number or null, got 'abc'"),
    ("step", 1.5, "'step' must be an integer"),
    ("status", None, "'status' must be a string"),
    ("format", 99, "format 99"),
])
def test_a_metrics_file_of_the_wrong_shape_is_unreadable_and_says_why(tmp_path, field, value, message):
    doc = _doc(10, {})
    doc[field] = value
    rundir.write_metrics(tmp_path, doc)
    assert rundir.read_metrics(tmp_path) is None
    assert message in rundir.unreadable_metrics(tmp_path)
    rundir.write_metrics(tmp_path, _doc(10, {}))
    assert rundir.read_metrics(tmp_path) is not None and rundir.unreadable_metrics(tmp_path) is None


def test_events_of_the_wrong_shape_read_as_missing(tmp_path):
    rundir.write_events(tmp_path, {}, [{"step": 3, "kind": "divergence", "evidence": {}}])
    assert rundir.read_events(tmp_path)[0]["step"] == 3
    for bad in ([1, 2], [{"step": "3", "kind": "divergence", "evidence": {}}], [{"kind": "divergence"}]):
        rundir.write_events(tmp_path, {}, bad)
        assert rundir.read_events(tmp_path) is None


def test_metrics_count_only_under_the_settings_they_were_made_with(tmp_path):
    mine, other = {"eval_samples": 10}, {"eval_samples": 20}
    rundir.write_eval(tmp_path, 20, _doc(20, mine))
    rundir.write_eval(tmp_path, 10, _doc(10, mine))
    rundir.write_eval(tmp_path, 30, _doc(30, other))
    (tmp_path / rundir.EVAL_DIR / "step-40.json").write_text("{ torn")
    evals = rundir.read_evals(tmp_path, mine)
    assert [s for s, _ in evals] == [10, 20]
    assert evals[0][1]["x"] == 1.0 and evals[0][1]["kl"] != evals[0][1]["kl"]  # null reads back as NaN
    assert not rundir.is_complete(tmp_path)
    rundir.write_metrics(tmp_path, _doc(50, mine))
    assert rundir.is_complete(tmp_path, mine) and not rundir.is_complete(tmp_path, other)


def test_clearing_a_run_removes_everything_it_wrote(tmp_path):
    names = [rundir.CONFIG_FILE, rundir.TRACE_FILE, rundir.EVENTS_FILE, rundir.METRICS_FILE, rundir.SAMPLES_FIGURE,
             f"{rundir.CHECKPOINT_DIR}/step-10.pt", f"{rundir.EVAL_DIR}/step-10.json"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    import torch

    rundir.write_samples(tmp_path, torch.zeros(4, 2))
    assert torch.equal(rundir.read_samples(tmp_path), torch.zeros(4, 2))
    (tmp_path / "notes.txt").write_text("the user's own file")
    rundir.clear_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_spec_that_would_not_read_back_is_never_written(tmp_path):
    """Issue 35, finding 5: a resolved spec naming a plugin path that is not UTF-8 was written, and
    `bench --spec` then refused it."""
    from ganeval.errors import SpecError

    bad = BenchSpec(benchmarks=["ring8"], losses=["bce"]).to_toml().replace('spec_version = 1', 'spec_version = "one"')
    with pytest.raises(SpecError, match="refusing to write .*spec.toml: it would not read back"):
        rundir.write_spec(tmp_path, bad)
    with pytest.raises(SpecError, match="would not read back"):  # a surrogate is written as an invalid escape
        rundir.write_spec(tmp_path, 'spec_version = 1\nplugins = ["/x/\udcff.py"]\n')
    assert list(tmp_path.iterdir()) == []


def test_outputs_never_land_in_a_run_folder_or_on_a_file_they_did_not_write(tmp_path):
    """Issue 35, finding 3: `report -o BENCH/ring8/bce/seed-0/metrics.json` replaced a finished run's
    result with report text."""
    bench = tmp_path / "bench"
    run = bench / "ring8" / "bce" / "seed-0"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"benchmark": "ring8", "loss": "bce", "seed": 0}')
    (bench / "spec.toml").write_text("spec_version = 1\n")
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')  # another program's: not a run folder
    (tmp_path / "notes.md").write_text("mine\n")
    (tmp_path / "old.md").write_text("# ganeval report: `bench`\n")
    for path, message in ((run / "config.json", "lies inside the run folder"), (run / "new.md", "lies inside"),
                          (run / "eval" / "x.md", "lies inside"), (bench / "spec.toml", "is a file of the bench"),
                          (bench / "results.csv", "is a file of the bench"),
                          (tmp_path / "notes.md", "is not a report ganeval wrote")):
        with pytest.raises(RunFolderError, match=message):
            rundir.check_output(path, replaceable=rundir.is_report)
    assert rundir.check_output(tmp_path / "old.md", replaceable=rundir.is_report) == tmp_path / "old.md"
    assert rundir.check_output(run / "report.md", default=run / "report.md") == run / "report.md"  # its own default
    with pytest.raises(RunFolderError, match="is the run folder"):
        rundir.refuse_inside_run(run, "--out")
    rundir.refuse_inside_run(run, "--out", allow_run=True)  # train --out names the run folder itself
    rundir.refuse_inside_run(tmp_path / "runs" / "new", "--out")  # below a project's own config.json: fine
    with pytest.raises(RunFolderError, match="lies inside the run folder"):
        rundir.refuse_inside_run(run / "deeper", "--out", allow_run=True)
