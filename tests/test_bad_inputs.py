"""Every bad input the CLI can get: one line on stderr, exit 2, no traceback, nothing changed.

The table is the contract; its length is reported in the closing notes of the work that added it.
"""

import json

import pytest
import torch
from conftest import TINY

from ganeval.cli import main


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small finished bench, a run folder, a baseline and assorted bad files to point commands at."""
    root = tmp_path_factory.mktemp("world")
    assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", *TINY, "--out",
                 str(root / "bench"), "--no-report"]) == 0
    assert main(["baseline", "init", str(root / "bench"), "-o", str(root / "baseline.json")]) == 0
    assert main(["train", "--benchmark", "ring8", "--loss", "hinge", *TINY, "--out", str(root / "run")]) == 0
    (root / "not.json").write_text("{ not json")
    doc = json.loads((root / "baseline.json").read_text())
    doc["metrics"]["ring8/bce/modes_coverd"] = doc["metrics"].pop("ring8/bce/modes_covered")
    (root / "renamed.json").write_text(json.dumps(doc))
    (root / "a_file").write_text("in the way")
    (root / "garbage.pt").write_bytes(b"not a checkpoint")
    (root / "empty").mkdir()
    specs = {
        "bad_toml.toml": "steps = \n",
        "unknown_key.toml": "stepz = 10\n",
        "wrong_type.toml": "[loss.hinge]\nlr_d = 'fast'\n",
        "newer.toml": "spec_version = 99\n",
        "bad_cell.toml": "[cell.\"ring8\"]\nsteps = 3\n",
        "bad_seeds.toml": "seeds = [1, 1]\n",
        "bad_table.toml": "[loss]\nhinge = 3\n",
        "unknown_variant_table.toml": "[variant.spectral]\nspectral_norm = true\n",
    }
    for name, text in specs.items():
        (root / name).write_text(text)
    return root


def W(name):  # a path inside the world, resolved at test time
    return f"{{world}}/{name}"


CASES = [
    # bench: names
    (["bench", "--losses", "bce,foo"], "unknown loss 'foo'"),
    (["bench", "--losses", "hinje"], "did you mean 'hinge'"),
    (["bench", "--benchmarks", "ring9"], "unknown benchmark 'ring9'"),
    (["bench", "--variants", "sm"], "did you mean 'sn'"),
    (["bench", "--variants", "sn,foo"], "unknown variant 'foo'"),
    (["bench", "--variants", "bn+no-bn"], "cannot be combined"),
    (["bench", "--losses", "wgan", "--variants", "sn"], "is refused"),
    (["bench", "--losses", ""], "at least one"),
    # bench: numbers
    (["bench", "--steps", "0"], "must be positive"),
    (["bench", "--steps", "-5"], "must be positive"),
    (["bench", "--steps", "abc"], "is not a valid integer"),
    (["bench", "--seeds", "0"], "must be positive"),
    (["bench", "--seeds", "x"], "expects a count"),
    (["bench", "--seeds", "1,1"], "seed listed twice"),
    (["bench", "--batch-size", "0"], "must be positive"),
    (["bench", "--set", "lr_d=-1"], "'lr_d' must be positive"),
    (["bench", "--set", "stpes=3"], "did you mean 'steps'"),
    (["bench", "--set", "steps=many"], "'steps' must be an integer"),
    (["bench", "--set", "betas=[0.5]"], "'betas' must be two numbers"),
    (["bench", "--set", "ema_beta=1.5"], "'ema_beta' must be a number in [0, 1)"),
    (["bench", "--set", "novalue"], "--set expects KEY=VALUE"),
    (["bench", "--device", "tpu"], "Invalid value for '--device'"),
    (["bench", "--executor", "mars"], "unknown executor 'mars'"),
    (["bench", "--address", "10.0.0.1:6379"], "--address only goes with --executor ray"),
    # bench: files
    (["bench", "--spec", W("missing.toml")], "spec file not found"),
    (["bench", "--spec", W("bad_toml.toml")], "invalid TOML"),
    (["bench", "--spec", W("unknown_key.toml")], "unknown key 'stepz' (did you mean 'steps'?)"),
    (["bench", "--spec", W("wrong_type.toml")], "[loss.hinge]: 'lr_d' must be a number"),
    (["bench", "--spec", W("newer.toml")], "newer than this ganeval"),
    (["bench", "--spec", W("bad_cell.toml")], "cell keys are"),
    (["bench", "--spec", W("bad_seeds.toml")], "seed listed twice"),
    (["bench", "--spec", W("bad_table.toml")], "tables expected under 'loss'"),
    (["bench", "--spec", W("unknown_variant_table.toml")], "unknown variant 'spectral'"),
    (["bench", *TINY, "--out", W("a_file/b")], "cannot write"),
    (["bench", "--benchmarks", "stacked-mnist", "--inception-weights", W("missing.pth")], "Inception weights not found"),
    (["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", *TINY, "--set", "lr_d=0.5",
      "--out", W("bench")], "different configuration (lr_d)"),
    (["bench", "--out", ""], "must name a folder"),
    (["bench", "--out", "  "], "must name a folder"),
    (["bench", "--inception-weights", W("missing.pth")], "Inception weights not found"),  # even where unused
    # train
    (["train", "--loss", "nope"], "unknown loss 'nope'"),
    (["train", "--out", ""], "must name a folder"),
    (["train", "--seed", "-1"], "Invalid value for '--seed'"),
    (["train", "--benchmark", "ring8", "--loss", "hinge", *TINY, "--set", "z_dim=3", "--out", W("run")],
     "different configuration (z_dim)"),
    # eval
    (["eval", W("no/such/run")], "not a ganeval run folder"),
    (["eval", W("bench")], "not a ganeval run folder"),
    (["eval", W("run"), "--step", "999"], "no checkpoint at step 999"),
    (["eval", W("run"), "--metrics", "fid,lpips"], "unknown metric 'lpips'"),
    (["eval", W("run"), "--inception-weights", W("garbage.pt")], "computes no FID/IS/KID"),
    (["eval", W("run"), "--metrics", "fid"], "FID/IS/KID need an image benchmark"),
    (["bench", "--set", "fidelity=['fid']"], "FID/IS/KID need an image benchmark"),
    (["eval", W("run"), "--lpips-weights", W("empty")], "LPIPS needs an image benchmark"),
    (["bench", "--benchmarks", "stacked-mnist", "--set", "lpips_weights=" + W("empty")], "alexnet-owt-7be5be79.pth is missing"),
    (["bench", "--benchmarks", "stacked-mnist", "--set", "lpips_weights=" + W("no/such")], "LPIPS weights folder not found"),
    # report
    (["report", W("no/such/bench")], "bench folder not found"),
    (["report", W("empty")], "not a ganeval bench folder"),
    (["report", W("bench"), "--format", "xml"], "Invalid value for '--format'"),
    # check / baseline
    (["check", W("bench"), "--baseline", W("missing.json")], "baseline file not found"),
    (["check", W("bench"), "--baseline", W("not.json")], "not a JSON baseline"),
    (["check", W("bench"), "--baseline", W("renamed.json")], "does not name a known metric"),
    (["check", W("no/such/bench"), "--baseline", W("baseline.json")], "bench folder not found"),
    (["check", W("bench")], "Missing option '--baseline'"),
    (["check", W("bench"), "--baseline", W("baseline.json"), "--alpha", "nan"], "strictly between 0 and 1"),
    (["check", W("bench"), "--baseline", W("baseline.json"), "--alpha", "1"], "--alpha"),
    (["baseline", "init", W("bench"), "-o", W("baseline.json")], "exists"),
    (["baseline", "init", W("bench"), "-o", W("new.json"), "--metrics", "fidd"], "unknown metric 'fidd'"),
    # data / classifier
    (["data", "fetch", "mnist", "--root", W("no/such/folder"), "--no-download"], "MNIST folder not found"),
    (["data", "fetch", "cifar10"], "Invalid value for '{mnist}'"),
    (["classifier", "verify", "--weights", W("missing.pt")], "classifier weights not found"),
    (["classifier", "verify", "--weights", W("garbage.pt")], "no recorded SHA-256"),
    # the group
    (["bogus"], "No such command 'bogus'"),
]


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input(world, argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a command that would write by default writes here, and must not
    monkeypatch.setenv("GANEVAL_HOME", str(tmp_path / "home"))
    argv = [a.replace("{world}", str(world)) for a in argv]
    if argv[0] == "bench" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    before, here = snapshot(world), snapshot(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err, err
    assert err.startswith("ganeval: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert snapshot(world) == before
    assert snapshot(tmp_path) == here


def test_a_report_that_fails_leaves_results_csv_as_it_was(world, tmp_path, monkeypatch, capsys):
    import shutil

    from ganeval import bench_report as report

    bench = tmp_path / "bench"
    shutil.copytree(world / "bench", bench)
    (bench / "results.csv").write_text("what was there\n")
    monkeypatch.setattr(report, "settings_table", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError):
        report.build_report(bench)
    assert (bench / "results.csv").read_text() == "what was there\n"


def test_a_full_disk_is_one_line_and_the_bench_resumes(tmp_path, capsys, monkeypatch):
    import os

    from ganeval import fileio

    out = tmp_path / "b"
    args = ["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "1", *TINY, "--out", str(out)]
    real_fdopen, writes = os.fdopen, {"n": 0}

    class Full:  # the disk fills up at the 12th file written
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            writes["n"] += 1
            if writes["n"] >= 12:
                raise OSError(28, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    monkeypatch.setattr(fileio.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    assert main(args) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # (above it: the bench's progress lines)
    assert last.startswith("ganeval: error: cannot write") and "No space left on device" in last, err
    assert "Traceback" not in err and "FAILED" not in err  # a machine fault stops the bench, it fails no cell
    assert not list(out.rglob("*.tmp")) and not (out / ".ganeval.lock").exists()
    monkeypatch.setattr(fileio.os, "fdopen", real_fdopen)
    assert main(args) == 0  # space freed: the same command finishes the bench
    assert (out / "ring8" / "bce" / "seed-0" / "metrics.json").exists()


def test_train_into_a_run_folder_of_a_bench_that_is_running_is_refused(world, tmp_path, capsys):
    import shutil

    from ganeval.rundir import folder_lock

    bench = tmp_path / "bench"
    shutil.copytree(world / "bench", bench)
    before = snapshot(bench)
    with folder_lock(bench):  # a bench is writing this folder
        code = main(["train", "--benchmark", "ring8", "--loss", "bce", *TINY, "--out",
                     str(bench / "ring8" / "bce" / "seed-0"), "--no-resume"])
    err = capsys.readouterr().err
    assert code == 2 and "in use by another ganeval" in err, err
    after = snapshot(bench)
    after.pop(".ganeval.lock.owner", None)
    before.pop(".ganeval.lock.owner", None)
    assert after == before


def test_cuda_without_cuda(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["bench", *TINY, "--device", "cuda", "--out", str(tmp_path / "b")]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_the_table_is_long_enough():
    assert len(CASES) >= 50


def test_no_folder_is_left_locked(world):
    from ganeval.rundir import folder_lock

    for folder in (world / "bench", world / "run"):
        with folder_lock(folder):  # would raise "in use by another ganeval" if anything still held it
            pass


# --- corrupt files: every document ganeval reads back ---------------------------------------------
def _json_edit(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def _checkpoint_edit(path, fn):
    from ganeval import fileio

    payload = torch.load(path, weights_only=True)
    fn(payload)
    fileio.save_tensors(path, payload)  # a valid hash: the content itself is wrong


M0 = "bench/ring8/bce/seed-0"
CK = "run/checkpoints/step-30.pt"
CORRUPT = [
    # (what, setup(root), argv, exit code, message on stderr)
    ("metrics.json: a string for a number", lambda r: _json_edit(r / M0 / "metrics.json", lambda d: d["metrics"].update(kl="abc")),
     ["report", "{r}/bench"], 0, "1 unreadable seed-run(s) left out"),
    ("metrics.json: a string seed", lambda r: _json_edit(r / M0 / "metrics.json", lambda d: d.update(seed="zero")),
     ["report", "{r}/bench"], 0, "1 unreadable seed-run(s) left out"),
    ("metrics.json: metrics a list", lambda r: _json_edit(r / M0 / "metrics.json", lambda d: d.update(metrics=[1])),
     ["report", "{r}/bench"], 0, "1 unreadable seed-run(s) left out"),
    ("events.json: wrong shape", lambda r: (r / M0 / "events.json").write_text('{"events": {"a": 1}}'),
     ["report", "{r}/bench"], 0, ""),
    ("events.json: items not events", lambda r: (r / M0 / "events.json").write_text('{"events": [1, 2]}'),
     ["report", "{r}/bench"], 0, "events are re-detected"),
    ("trace.csv: random bytes", lambda r: (r / M0 / "trace.csv").write_bytes(bytes(range(256)) * 8),
     ["report", "{r}/bench"], 0, "unreadable"),
    ("spec.toml: random bytes", lambda r: (r / "bench" / "spec.toml").write_bytes(bytes(range(256)) * 8),
     ["report", "{r}/bench"], 0, ""),
    ("spec.toml: wrong types", lambda r: (r / "bench" / "spec.toml").write_text('benchmarks = 5\nseeds = "x"\n'),
     ["report", "{r}/bench"], 0, "the report leaves the spec out"),
    ("env.json: wrong types", lambda r: (r / "bench" / "env.json").write_text('{"wall_time_s": "x", "git_commit": 5}'),
     ["report", "{r}/bench"], 0, "'git_commit' must be a string"),
    ("env.json: a list", lambda r: (r / "bench" / "env.json").write_text("[1, 2]"), ["report", "{r}/bench"], 0, ""),
    ("a traced folder with a corrupt trace.csv", lambda r: (r / "run" / "trace.csv").write_bytes(bytes(range(256)) * 8),
     ["report", "{r}/run"], 2, "has no readable row"),
    ("report -o naming a folder", lambda r: None, ["report", "{r}/bench", "-o", "{r}/bench/ring8"], 2, "Is a directory"),
    ("report --format -o naming a folder", lambda r: None, ["report", "{r}/bench", "--format", "md", "-o", "{r}/bench"], 2,
     "Is a directory"),
    ("trace report -o naming a folder", lambda r: None, ["report", "{r}/run", "-o", "{r}/run/checkpoints"], 2,
     "Is a directory"),
    ("eval: config.json with a string seed", lambda r: _json_edit(r / "run" / "config.json", lambda d: d.update(seed="one")),
     ["eval", "{r}/run"], 2, "'seed' must be an integer, got 'one'"),
    ("eval: config.json a list", lambda r: (r / "run" / "config.json").write_text("[1]"), ["eval", "{r}/run"], 2,
     "not a ganeval run config"),
    ("eval: a checkpoint without weights", lambda r: _checkpoint_edit(r / CK, lambda p: p.pop("G")),
     ["eval", "{r}/run", "--step", "30"], 2, "'G' missing"),
    ("eval: weights of the wrong shape", lambda r: _checkpoint_edit(
        r / CK, lambda p: p["G"].update({next(iter(p["G"])): torch.zeros(3, 3, 3)})),
     ["eval", "{r}/run", "--step", "30"], 2, "generator weights do not fit the run's architecture"),
    ("eval: a non-numeric elapsed", lambda r: _checkpoint_edit(r / CK, lambda p: p.update(elapsed="soon")),
     ["eval", "{r}/run", "--step", "30"], 2, "'elapsed' must be a number"),
    ("eval: newest checkpoint corrupt, falls back", lambda r: _checkpoint_edit(r / CK, lambda p: p.pop("D")),
     ["eval", "{r}/run"], 0, "skipping corrupt checkpoint"),
    ("check: baseline format a string", lambda r: _json_edit(r / "baseline.json", lambda d: d.update(format="one")),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'format' must be an integer"),
    ("check: baseline values not a list", lambda r: _json_edit(
        r / "baseline.json", lambda d: [m.update(values=5) for m in d["metrics"].values()]),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'values' must be a list"),
    ("check: baseline value a string", lambda r: _json_edit(
        r / "baseline.json", lambda d: [m.update(values=["a"]) for m in d["metrics"].values()]),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'values[0]' must be a number or null"),
    ("check: baseline floor a string", lambda r: _json_edit(
        r / "baseline.json", lambda d: [m["tolerance"].update(floor="x") for m in d["metrics"].values()]),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'floor' must be a number"),
    ("check: baseline tolerance a string", lambda r: _json_edit(
        r / "baseline.json", lambda d: [m.update(tolerance="x") for m in d["metrics"].values()]),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json"], 2, "'tolerance' must be a table"),
    ("check --update on a read-only baseline", lambda r: (r / "baseline.json").chmod(0o444),
     ["check", "{r}/bench", "--baseline", "{r}/baseline.json", "--update"], 2, "is read-only"),
]
#: files a command that succeeds is there to (re)write
OUTPUTS = ("report.md", "results.csv", "figures/", "eval/")


@pytest.mark.parametrize("what, setup, argv, code, message", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_files(world, tmp_path, capsys, caplog, what, setup, argv, code, message):
    import shutil

    for name in ("bench", "run", "baseline.json"):
        (shutil.copytree if (world / name).is_dir() else shutil.copy)(world / name, tmp_path / name)
    setup(tmp_path)
    before = {k: v for k, v in snapshot(tmp_path).items() if not any(o in k for o in OUTPUTS)}
    capsys.readouterr()
    result = main([a.replace("{r}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err + caplog.text
    assert result == code, err
    assert message in err and "Traceback" not in err, err
    if code == 2:
        assert capsys.readouterr().err.count("\n") <= 1
    after = {k: v for k, v in snapshot(tmp_path).items() if not any(o in k for o in OUTPUTS)}
    assert after == before  # nothing it read was changed or removed


def test_the_tables_cover_every_case_named_in_the_hardening_issue():
    assert len(CASES) + len(CORRUPT) >= 90
