"""Plugins: a researcher's loss and stabilizer, in a file outside the package, run through every
command like built-ins, re-run from the resolved spec in a fresh process, and break in one line."""

import json
import subprocess
import sys
import textwrap

import pytest

from ganeval.cli import main

PLUGIN = textwrap.dedent('''
    """A loss and a stabilizer of a user's own, in their own folder."""
    import torch.nn.functional as F

    import ganeval

    def shifted_d(real, fake, margin):
        return F.softplus(margin - real).mean(-1) + F.softplus(fake).mean(-1)

    def shifted_g(fake, real, margin):
        return F.softplus(-fake).mean(-1)

    ganeval.register_loss(ganeval.Loss(
        "shifted-bce", "bce with a margin on real logits", "a test", shifted_d, shifted_g,
        defaults={"n_critic": 1}, settings=(ganeval.Setting("margin", float, 0.5,
                                                            check=lambda v: None if v >= 0 else "must be >= 0"),)))

    def weight_decay_on_d(ctx):
        return ctx.run.decay * sum(p.square().flatten(1).sum(1) for p in ctx.D.parameters())

    ganeval.register_variant(ganeval.Variant(
        "decay", "L2 weight penalty on D", settings=(ganeval.Setting("decay", float, 1e-3),),
        d_penalty=weight_decay_on_d))
''')

TINY = ["--steps", "20", "--set", "hidden=16", "--set", "batch_size=32", "--set", "eval_samples=300",
        "--set", "ckpt_every=10", "--benchmarks", "ring8", "--seeds", "2"]


@pytest.fixture
def plugin(tmp_path_factory):
    path = tmp_path_factory.mktemp("user_code") / "my_losses.py"
    path.write_text(PLUGIN)
    return path


def cli(*args):
    """The CLI in a fresh interpreter: nothing registered there but what the command loads."""
    return subprocess.run([sys.executable, "-m", "ganeval", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_a_plugin_loss_and_stabilizer_run_like_builtins_and_rerun_from_the_resolved_spec(plugin, tmp_path):
    bench = tmp_path / "bench"
    first = cli("bench", "--plugin", plugin, "--losses", "bce,shifted-bce", "--variants", "none,decay",
                "--set", "margin=0.25", *TINY, "--out", bench)
    assert first.returncode == 0, first.stderr
    assert "8 seed-runs trained" in first.stdout
    config = json.loads((bench / "ring8" / "shifted-bce-decay" / "seed-1" / "config.json").read_text())
    assert (config["margin"], config["decay"]) == (0.25, 1e-3)  # the plugin's settings, recorded flat
    spec = (bench / "spec.toml").read_text()
    assert str(plugin) in spec and "plugin_sha256" in spec
    assert "| shifted-bce + decay |" in (bench / "report.md").read_text()
    # baseline and check, in processes that load nothing: the names come from the files
    assert cli("baseline", "init", bench, "-o", tmp_path / "base.json").returncode == 0
    checked = cli("check", bench, "--baseline", tmp_path / "base.json")
    assert checked.returncode == 0 and "ring8/shifted-bce/decay/modes_covered" in checked.stdout
    # the resolved spec re-runs as is in a fresh process, when asked to run its plugin: nothing retrained
    refused = cli("bench", "--spec", bench / "spec.toml", "--out", bench)
    assert refused.returncode == 2 and "--load-spec-plugins" in refused.stderr
    again = cli("bench", "--spec", bench / "spec.toml", "--out", bench, "--load-spec-plugins")
    assert again.returncode == 0, again.stderr
    assert "0 seed-runs trained, 8 already done" in again.stdout


def test_the_plugins_settings_are_checked_like_builtin_ones(plugin, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["bench", "--plugin", str(plugin), "--losses", "shifted-bce", "--set", "margin=-1", "--out", str(out)]) == 2
    assert "'margin' must be >= 0, got -1" in capsys.readouterr().err
    assert main(["bench", "--plugin", str(plugin), "--losses", "shifted-bce", "--set", "margn=1", "--out", str(out)]) == 2
    assert "did you mean 'margin'" in capsys.readouterr().err
    assert not out.exists()


#: appended to the plugin: code that must never run unasked (it leaves a file behind if it does)
def _marked(marker):
    return PLUGIN.replace("0.5", "0.7") + f"\nopen({str(marker)!r}, 'w').write('ran')\n"


def test_a_changed_plugin_is_refused_before_any_of_it_runs(plugin, tmp_path):
    """Issue 35, finding 2: the SHA-256 was checked after the import, so the appended code had run
    already (on `bench --spec --load-spec-plugins` and on `report`)."""
    bench, marker = tmp_path / "bench", tmp_path / "ran"
    assert cli("bench", "--plugin", plugin, "--losses", "shifted-bce", *TINY, "--steps", "10", "--out", bench,
               "--no-report").returncode == 0
    recorded = __import__("hashlib").sha256(plugin.read_bytes()).hexdigest()
    plugin.write_text(_marked(marker))
    now = __import__("hashlib").sha256(plugin.read_bytes()).hexdigest()
    res = cli("bench", "--spec", bench / "spec.toml", "--out", bench, "--load-spec-plugins")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert str(plugin) in res.stderr and recorded in res.stderr and now in res.stderr and "none of it was run" in res.stderr
    assert not marker.exists()
    rep = cli("report", bench)  # a reader never runs it: it names it
    assert rep.returncode == 0, rep.stderr
    warnings = [line for line in rep.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(plugin) in warnings[0] and "not run" in warnings[0], rep.stderr
    assert not marker.exists()


def test_an_edited_plugin_never_reuses_runs_trained_with_the_old_code(plugin, tmp_path):
    """Issue 33, finding 2: the same `bench --plugin` command after an edit said "0 seed-runs
    trained" and recorded the new SHA-256 over results of the old code."""
    bench = tmp_path / "bench"
    args = ["bench", "--plugin", plugin, "--losses", "shifted-bce", *TINY, "--steps", "10", "--out", bench, "--no-report"]
    assert cli(*args).returncode == 0
    recorded = __import__("hashlib").sha256(plugin.read_bytes()).hexdigest()
    spec_before = (bench / "spec.toml").read_bytes()
    plugin.write_text(PLUGIN.replace("0.5", "0.7"))
    now = __import__("hashlib").sha256(plugin.read_bytes()).hexdigest()
    res = cli(*args)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert str(plugin) in res.stderr and recorded in res.stderr and now in res.stderr
    assert (bench / "spec.toml").read_bytes() == spec_before  # the record still names the code that trained
    # --no-resume is the explicit way to retrain with the new code; the record then follows it
    res = cli(*args, "--no-resume")
    assert res.returncode == 0, res.stderr
    assert "2 seed-runs trained" in res.stdout
    assert now in (bench / "spec.toml").read_text() and recorded not in (bench / "spec.toml").read_text()
    assert "0 seed-runs trained, 2 already done" in cli(*args).stdout  # and the same code resumes as before


def test_a_bench_whose_plugin_is_gone_still_reports_and_checks(plugin, tmp_path):
    bench = tmp_path / "bench"
    assert cli("bench", "--plugin", plugin, "--losses", "shifted-bce", *TINY, "--steps", "10", "--out", bench,
               "--no-report").returncode == 0
    plugin.unlink()
    rep = cli("report", bench)
    assert rep.returncode == 0, rep.stderr
    warnings = [line for line in rep.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(plugin) in warnings[0] and "names are read" in warnings[0]
    text = (bench / "report.md").read_text()
    assert "losses shifted-bce" in text and "| shifted-bce |" in text
    assert cli("baseline", "init", bench, "-o", tmp_path / "b.json").returncode == 0
    res = cli("check", bench, "--baseline", tmp_path / "b.json")
    assert res.returncode == 0 and str(plugin) in res.stderr


@pytest.mark.parametrize("code, message", [
    ("def broken(:\n", "raised SyntaxError"),
    ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
    ("import sys\nsys.exit(0)\n", "called sys.exit(0)"),
    ("import ganeval, torch\nganeval.register_loss(ganeval.Loss('bce', 'mine', '', torch.sub, torch.sub))\n",
     "loss 'bce' is already registered"),
    ("import ganeval, torch\nganeval.register_loss(ganeval.Loss('typo-loss', 'd', '', torch.sub, torch.sub, "
     "defaults={'n_critc': 5}))\n", "unknown setting 'n_critc' (did you mean 'n_critic'?)"),
    ("import ganeval\nganeval.register_variant(ganeval.Variant('v', 'd', settings=(ganeval.Setting('steps', int, 3),)))\n",
     "'steps' is already a ganeval setting"),
    ("import ganeval\nganeval.register_variant(ganeval.Variant('v', 'd', settings=(ganeval.Setting('my-knob', int, 3),)))\n",
     "setting names are identifiers"),
])
def test_a_broken_plugin_is_one_line_naming_the_file(tmp_path, code, message):
    bad = tmp_path / "bad_plugin.py"
    bad.write_text(code)
    res = cli("list", "--plugin", bad)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]  # one line, no traceback
    assert str(bad) in res.stderr and message in res.stderr


def test_a_missing_plugin_and_a_bad_name_are_one_line(tmp_path, capsys):
    assert main(["list", "--plugin", str(tmp_path / "nope.py")]) == 2
    assert "plugin file not found" in capsys.readouterr().err
    assert main(["list", "--plugin", "not a module"]) == 2
    assert "neither a .py file nor a module name" in capsys.readouterr().err


def test_a_plugins_prints_go_to_stderr(tmp_path):
    chatty = tmp_path / "chatty.py"
    chatty.write_text("print('hello from the plugin')\n")
    samples = tmp_path / "p.npy"
    import numpy as np

    np.save(samples, np.zeros((50, 2), dtype=np.float32))
    res = cli("score", samples, "--benchmark", "ring8", "--json", "--plugin", chatty)
    assert res.returncode == 0, res.stderr
    json.loads(res.stdout)  # still valid JSON
    assert "hello from the plugin" in res.stderr


def test_an_installed_package_registers_through_its_entry_point(tmp_path):
    """A distribution on the path with a `ganeval.plugins` entry point: no flag needed."""
    site = tmp_path / "site"
    (site / "ganeval_ep_demo-0.1.dist-info").mkdir(parents=True)
    (site / "ganeval_ep_demo-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: ganeval-ep-demo\nVersion: 0.1\n")
    (site / "ganeval_ep_demo-0.1.dist-info" / "entry_points.txt").write_text("[ganeval.plugins]\ndemo = ganeval_ep_demo\n")
    (site / "ganeval_ep_demo.py").write_text(textwrap.dedent('''
        import ganeval
        from ganeval.losses import hinge_d, hinge_g

        ganeval.register_loss(ganeval.Loss("ep-hinge", "hinge, from an installed package", "a test",
                                           lambda real, fake, ep_knob: hinge_d(real, fake),
                                           lambda fake, real, ep_knob: hinge_g(fake),
                                           settings=(ganeval.Setting("ep_knob", int, 3),)))
    '''))
    env = {**__import__("os").environ, "PYTHONPATH": f"{site}:{__import__('os').environ.get('PYTHONPATH', '')}"}
    res = subprocess.run([sys.executable, "-m", "ganeval", "list"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "ep-hinge" in res.stdout and "ep_knob" in res.stdout
    out = tmp_path / "b"
    res = subprocess.run([sys.executable, "-m", "ganeval", "bench", "--losses", "ep-hinge",
                          *TINY, "--steps", "10", "--out", str(out), "--no-report"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "ring8" / "ep-hinge" / "seed-0" / "config.json").read_text())["ep_knob"] == 3


@pytest.fixture
def two_ray_workers():
    ray = pytest.importorskip("ray", reason="the Ray extra is not installed (pip install 'ganeval[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_plugins_reach_ray_workers(plugin, tmp_path, two_ray_workers):
    """A local Ray with 2 workers: they are other processes, which get the plugin with each task
    (the plugin's folder is on no path there), and train what the local executor trains."""
    from ganeval import bench

    options = dict(variants="none,decay", seeds=2, steps=20, plugins=[str(plugin)], report=False,
                   sets={"hidden": 16, "batch_size": 32, "eval_samples": 300, "ckpt_every": 10})
    result = bench("shifted-bce", "ring8", out=tmp_path / "ray", executor="ray", **options)
    assert result.failures == [] and result.trained == 4
    local = bench("shifted-bce", "ring8", out=tmp_path / "local", **options)
    cols = ["seed", "modes_covered", "hq_rate"]
    assert result.results[cols].equals(local.results[cols])  # the same training, wherever it ran


def test_a_plugin_run_is_evaluated_again_and_its_spec_reruns_into_its_folder(plugin, tmp_path, capsys, monkeypatch):
    """Found by a new user: `ganeval eval` refused every run with a plugin setting, and re-running
    BENCH/spec.toml without --out started a new folder."""
    bench = tmp_path / "bench"
    assert main(["bench", "--plugin", str(plugin), "--losses", "shifted-bce", *TINY, "--steps", "10",
                 "--out", str(bench), "--no-report"]) == 0
    run = bench / "ring8" / "shifted-bce" / "seed-0"
    assert main(["eval", str(run), "--plugin", str(plugin)]) == 0
    assert "modes_covered" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)  # a new folder would land in ./runs
    assert main(["bench", "--spec", str(bench / "spec.toml"), "--set", "margin=0.5"]) == 0  # the spec's plugin names it
    assert "0 seed-runs trained, 2 already done" in capsys.readouterr().out
    assert not (tmp_path / "runs").exists()


def test_an_eval_without_the_plugin_says_what_is_missing(plugin, tmp_path):
    bench = tmp_path / "bench"
    assert main(["bench", "--plugin", str(plugin), "--losses", "shifted-bce", *TINY, "--steps", "10",
                 "--out", str(bench), "--no-report"]) == 0
    res = cli("eval", bench / "ring8" / "shifted-bce" / "seed-0")  # a fresh process: the plugin is not loaded
    assert res.returncode == 2 and "load the plugin that declares it with --plugin" in res.stderr


def test_a_loss_that_reduces_the_seeds_fails_its_cell_by_name(tmp_path, capsys):
    bad = tmp_path / "seed_mixer.py"
    bad.write_text(textwrap.dedent('''
        import ganeval
        from ganeval.losses import bce_d, bce_g
        ganeval.register_loss(ganeval.Loss("mean-all", "reduces too much", "", bce_d, lambda fake, real: bce_g(fake).mean()))
    '''))
    assert main(["bench", "--plugin", str(bad), "--losses", "mean-all", *TINY, "--steps", "5", "--out",
                 str(tmp_path / "b"), "--no-report"]) == 1
    err = capsys.readouterr().err
    assert "loss mean-all: g_loss returned shape (); it must reduce the batch only" in err


def test_a_mixture_travels_to_other_processes_with_the_jobs(tmp_path):
    """A Ray worker gets each job's plugins; a mixture that is data (declared in a spec or registered
    in the driver) travels as its table and is registered there."""
    import subprocess
    import sys

    from ganeval import GaussianMixture, register_benchmark
    from ganeval.plugins import load_shipped
    from ganeval.runner import jobs_for
    from ganeval.spec import BenchSpec

    register_benchmark("shipped3", GaussianMixture([[0, 0], [1, 0], [0, 1]], 0.02, [3, 2, 1]))
    spec = BenchSpec(benchmarks=["shipped3", "ring8"], losses=["bce"], seeds=[0])
    items = jobs_for(spec, tmp_path, True, ship_plugins=True)[0].plugins
    assert [i for i in items if i["kind"] == "mixture"] == [
        {"ref": "shipped3", "kind": "mixture", "table": {"centers": [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
                                                          "std": 0.02, "weights": [3.0, 2.0, 1.0]}}]
    load_shipped(items)  # in a process that has it already: the same mixture, accepted
    worker = ("import json, sys; from ganeval.plugins import load_shipped; from ganeval import get_benchmark; "
              "load_shipped(json.loads(sys.argv[1])); print(get_benchmark('shipped3').weights.tolist())")
    import json

    res = subprocess.run([sys.executable, "-c", worker, json.dumps(items)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == pytest.approx([0.5, 1 / 3, 1 / 6])


# --- the loader itself (in this process; each plugin here registers nothing) -------------------------
def _marker_plugin(path, marker, extra=""):
    path.write_text(f"open({str(marker)!r}, 'a').write('ran\\n')\n{extra}")
    return __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_a_file_plugin_of_another_hash_is_refused_before_any_of_it_runs(tmp_path):
    from ganeval.plugins import PluginError, load_plugin

    marker = tmp_path / "ran"
    path = tmp_path / "hashed_plugin.py"
    digest = _marker_plugin(path, marker)
    with pytest.raises(PluginError, match=f"sha256 {'0' * 64} then, {digest} now"):
        load_plugin(path, expected_sha256="0" * 64, where="spec.toml")
    assert not marker.exists()
    assert load_plugin(path, expected_sha256=digest).sha256 == digest and marker.read_text() == "ran\n"
    _marker_plugin(path, marker, "x = 2\n")  # edited after it ran: this process keeps what ran
    assert load_plugin(path).sha256 == digest and marker.read_text() == "ran\n"
    with pytest.raises(PluginError, match="not the code the bench recorded"):
        load_plugin(path, expected_sha256=__import__("hashlib").sha256(path.read_bytes()).hexdigest())


def test_a_module_plugin_is_hashed_before_it_is_imported(tmp_path, monkeypatch):
    from ganeval.plugins import PluginError, load_plugin

    marker = tmp_path / "ran"
    monkeypatch.syspath_prepend(str(tmp_path))
    digest = _marker_plugin(tmp_path / "hashed_module_plugin.py", marker)
    with pytest.raises(PluginError, match="module hashed_module_plugin is not the code the bench recorded"):
        load_plugin("hashed_module_plugin", expected_sha256="f" * 64)
    assert not marker.exists() and "hashed_module_plugin" not in sys.modules
    plugin = load_plugin("hashed_module_plugin", expected_sha256=digest)
    assert (plugin.kind, plugin.sha256) == ("module", digest) and marker.read_text() == "ran\n"


def test_ray_workers_get_the_bytes_that_ran_here_never_a_second_read(tmp_path, monkeypatch):
    from ganeval.plugins import PluginError, load_plugin, load_shipped, shipped

    marker = tmp_path / "ran"
    path = tmp_path / "shipped_plugin.py"
    digest = _marker_plugin(path, marker)
    load_plugin(path)
    path.write_text("raise SystemExit('edited after the driver loaded it')\n")
    item = next(i for i in shipped([str(path)]) if i["kind"] == "file")
    assert item["sha256"] == digest and __import__("hashlib").sha256(item["source"]).hexdigest() == digest
    load_shipped([item])  # already loaded here; a worker would run exactly these bytes
    with pytest.raises(PluginError, match="arrived damaged"):
        load_shipped([{**item, "source": item["source"] + b"#"}])
    with pytest.raises(PluginError, match=r"entry point demo = not_installed_pkg \(pkg 1.0 on the driver\) is not installed"):
        load_shipped([{"ref": "demo = not_installed_pkg", "kind": "entry-point", "version": "pkg 1.0"}])
    with pytest.raises(PluginError, match="not loaded in this process"):
        shipped([str(tmp_path / "never_loaded.py")])
