"""The Python API: every command as a function a notebook calls, returning what the CLI prints."""

import math

import pandas as pd
import pytest
import torch

import ganeval
from ganeval import baseline, bench, check, evaluate, get_benchmark, report, score
from ganeval.errors import SpecError, UnknownNameError

SMALL = {"hidden": 16, "batch_size": 32, "eval_samples": 500, "ckpt_every": 10}


@pytest.fixture(scope="module")
def small_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "bench"
    return bench("bce,hinge", "ring8", seeds=2, steps=20, sets=SMALL, out=out)


def test_bench_returns_what_it_wrote(small_bench):
    assert (small_bench.trained, small_bench.skipped, small_bench.failures) == (4, 0, [])
    on_disk = pd.read_csv(small_bench.out_dir / "results.csv")
    assert list(on_disk["loss"]) == list(small_bench.results["loss"]) == ["bce", "bce", "hinge", "hinge"]
    assert on_disk["modes_covered"].tolist() == small_bench.results["modes_covered"].tolist()
    assert small_bench.report == small_bench.out_dir / "report.md" and small_bench.report.is_file()


def test_a_second_call_resumes(small_bench):
    again = bench("bce,hinge", "ring8", seeds=2, steps=20, sets=SMALL, out=small_bench.out_dir, report=False)
    assert (again.trained, again.skipped, again.report) == (0, 4, None)


def test_report_and_check_take_the_folder(small_bench, tmp_path):
    from ganeval.regression import init_baseline

    table = report(small_bench.out_dir, fmt="csv")
    assert table.path is None and table.table.splitlines()[0].startswith("benchmark,loss")
    init_baseline(small_bench.out_dir, tmp_path / "base.json")
    result = check(small_bench.out_dir, baseline=tmp_path / "base.json")
    assert result.failed == [] and {v.key.rsplit("/", 1)[1] for v in result.verdicts} >= {"modes_covered", "kl"}


def test_check_says_when_the_bench_was_trained_otherwise_than_its_baseline(small_bench, tmp_path):
    """Found by a new user: a 30-step bench passed against a 200-step baseline without a word."""
    from ganeval.regression import init_baseline

    doc = init_baseline(small_bench.out_dir, tmp_path / "base.json")
    assert doc["settings"]["ring8/bce"]["steps"] == 20
    other = bench("bce,hinge", "ring8", seeds=2, steps=10, sets=SMALL, out=tmp_path / "shorter", report=False)
    warnings = check(other.out_dir, baseline=tmp_path / "base.json").warnings
    assert any(w.startswith("ring8/bce was trained with other settings") and "steps 20 -> 10" in w for w in warnings)
    same = check(small_bench.out_dir, baseline=tmp_path / "base.json").warnings
    # the same bench: no settings warning; at 2 seeds the check names what it cannot guard
    assert same and all(" cannot be guarded with 2 seeds: " in w for w in same)


def test_score_takes_a_tensor():
    ring = get_benchmark("ring8")
    perfect = score(ring.sample(2000, torch.Generator().manual_seed(0)), benchmark="ring8")
    assert perfect.doc["metrics"]["modes_covered"] == 8 and perfect.filed is None
    one_point = score(torch.tensor([[2.0, 0.0]]).repeat(500, 1), benchmark="ring8")
    assert one_point.doc["metrics"]["modes_covered"] == 1


def test_bad_arguments_are_ganeval_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown loss 'nope'"):
        bench("nope", out=tmp_path / "x")
    with pytest.raises(SpecError, match="not both"):
        score(tmp_path / "a.npy", generator="m:G", benchmark="ring8")
    assert not (tmp_path / "x").exists()


def test_the_top_level_names_are_the_api():
    import ganeval.evaluate  # noqa: F401 - a module of the same name must not shadow the API function
    import ganeval.train.trainer  # noqa: F401 - a subpackage import must not shadow an API function

    for name in ("bench", "score", "report", "check", "evaluate", "baseline", "registries", "register_loss", "register_variant",
                 "register_model", "register_benchmark", "register_optimizer", "register_executor"):
        assert callable(getattr(ganeval, name)), name


def test_the_tracer_is_importable_from_the_top():
    from ganeval import GANTracer
    from ganeval.diagnostics.tracer import GANTracer as where_it_lives

    assert GANTracer is where_it_lives and "GANTracer" in ganeval.__all__


def test_a_study_through_the_api_returns_its_tables_and_report_rebuilds_them(tmp_path):
    from ganeval.study import study_table

    out = tmp_path / "study"
    result = bench("bce,hinge", "ring8", seeds=2, steps=20, out=out,
                   sets={"hidden": 16, "batch_size": 32, "eval_samples": 300, "ckpt_every": 10},
                   sweep={"lr_d+lr_g": [1e-3, 3e-3]}, success={"ring8": {"modes_covered": ">= 1"}})
    assert len(result.results) == 8 and set(result.results["lr_d"]) == {1e-3, 3e-3}
    assert list(result.study["loss"]) == ["bce", "hinge"] and (result.study["settings"] == 2).all()
    assert (result.study["criterion"] == "modes_covered >= 1").all()  # the API's [success] reached the report
    by_hand = study_table(result.results, ["lr_d", "lr_g"], criteria=None, n_boot=2000, seed=0)
    assert list(by_hand["criterion"]) != list(result.study["criterion"])  # the default criterion differs
    text = (out / "report.md").read_text()
    study_csv = (out / "study.csv").read_text()
    (out / "report.md").unlink()
    (out / "study.csv").unlink()
    again = report(out)  # from the files alone
    assert (out / "study.csv").read_text() == study_csv and (out / "report.md").read_text() == text
    pd.testing.assert_frame_equal(again.study, result.study)


@pytest.mark.parametrize("call, message", [
    (lambda t: bench("bce", "ring8", sets=["steps=5"], out=t / "x"), "sets must be a dict"),
    (lambda t: bench("bce", "ring8", steps="5", out=t / "x"), "steps must be a positive integer"),
    (lambda t: bench("bce", "ring8", seeds="3", out=t / "x"), "seeds must be a count"),
    (lambda t: bench(["bce", 3], "ring8", out=t / "x"), "losses must be names"),
    (lambda t: bench("bce", "ring8", resume="no", out=t / "x"), "resume must be True or False"),
    (lambda t: bench("bce", "ring8", plugins=[3], out=t / "x"), "plugins must be"),
    (lambda t: report(t, fmt="xml"), "fmt must be one of md, csv, latex, json"),
    (lambda t: report(3), "folders must be a folder"),
    (lambda t: check(t, baseline=t / "b.json", alpha="0.05"), "alpha must be a number"),
    (lambda t: check(t, baseline=None), "baseline must be a file"),
    (lambda t: score(torch.zeros(10, 2), benchmark="ring8", n_real=0), "n_real must be positive"),
    (lambda t: score(torch.zeros(10, 2), benchmark="ring8", std="wide"), "std must be a number"),
    (lambda t: score(torch.zeros(10, 2), benchmark="ring8", progress="loud"), "progress must be a callable"),
    (lambda t: score([[0.0, 0.0]], benchmark="ring8"), "samples must be a path or a tensor"),
])
def test_wrong_types_are_ganeval_errors_not_bare_type_or_value_errors(tmp_path, call, message):
    """Issue 35, finding 9: `report(..., fmt="xml")` raised a bare ValueError and
    `bench(..., sets=["steps=5"])` an AttributeError; errors.py promises ganeval errors only."""
    with pytest.raises(ganeval.GanevalError, match=message.replace("(", r"\(")):
        call(tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_one_plugin_given_as_a_string_is_one_plugin(tmp_path):
    """Issue 35, finding 9: `plugins="p.py"` was iterated per character (a plugin 'p', '.', ...)."""
    plugin = tmp_path / "api_string_plugin.py"
    plugin.write_text("import ganeval\nganeval.register_variant(ganeval.Variant('api-string-variant', 'nothing'))\n")
    from ganeval.errors import RunFolderError
    from ganeval.variants import VARIANTS

    with pytest.raises(RunFolderError, match="bench folder not found"):  # the plugin is loaded first
        report(tmp_path / "nothing-here", plugins=str(plugin))

    assert "api-string-variant" in VARIANTS


# --- score(generator=...): a generator in memory ---------------------------------------------------
RING8 = torch.tensor([[2 * math.cos(k * math.pi / 4), 2 * math.sin(k * math.pi / 4)] for k in range(8)])


class Centres(torch.nn.Module):
    """Each latent mapped to one of ``centres`` (in turn) plus noise of std 0.001, far inside the
    ring's 3-std high-quality radius (0.06): it covers exactly ``len(centres)`` modes. It records
    what it was called with, and holds a batch norm whose statistics must not move."""

    def __init__(self, centres):
        super().__init__()
        self.register_buffer("centres", centres)
        self.norm = torch.nn.BatchNorm1d(2)
        self.calls = []

    def forward(self, z):
        self.calls.append((len(z), self.training, torch.is_grad_enabled()))
        k = torch.arange(len(z)) % len(self.centres)
        return self.centres[k] + 0.001 * z + 0 * self.norm(z)


def test_a_module_generator_is_scored_in_batches_without_grad_and_left_as_it_was():
    G = Centres(RING8)
    result = score(generator=G, latent=2, n=250, batch_size=100, benchmark="ring8")
    assert result.metrics["modes_covered"] == 8 and result.metrics["n_samples"] == 250
    assert result.metrics["hq_rate"] == 1.0
    assert G.calls == [(100, False, False), (100, False, False), (50, False, False)]
    assert G.training and G.norm.training  # its own mode back
    assert torch.equal(G.norm.running_mean, torch.zeros(2)) and int(G.norm.num_batches_tracked) == 0
    assert result.doc["source"] == {"kind": "generator", "generator": "Centres (in memory)", "latent": "normal:2",
                                    "seed": 0, "n": 250}


def test_a_generator_of_one_centre_covers_one_mode_and_a_seed_repeats_its_latents():
    one = score(generator=Centres(RING8[:1]), latent="uniform:2", n=300, benchmark="ring8")
    assert one.metrics["modes_covered"] == 1 and one.metrics["hq_rate"] == 1.0

    def latents_of(seed):
        seen = []
        score(generator=lambda z: seen.append(z.clone()) or RING8[:1].expand(len(z), 2), latent="uniform:3", n=40,
              batch_size=16, benchmark="ring8", seed=seed)
        return torch.cat(seen)

    first = latents_of(0)
    assert first.shape == (40, 3) and -1 <= float(first.min()) and float(first.max()) <= 1
    assert torch.equal(latents_of(0), first) and not torch.equal(latents_of(1), first)


def test_a_plain_callable_is_a_generator_and_is_filed_under_its_name(tmp_path):
    def two_modes(z):
        return RING8[:2][torch.arange(len(z)) % 2] + 0.001 * z[:, :2]

    result = score(generator=two_modes, latent=16, n=200, benchmark="ring8", out=tmp_path / "scores")
    assert result.metrics["modes_covered"] == 2
    assert result.filed == tmp_path / "scores" / "ring8" / "two_modes" / "seed-0"
    assert score(generator=lambda z: two_modes(z), latent=16, n=10, benchmark="ring8").doc["source"]["generator"] \
        == "generator (in memory)"  # a lambda has no name worth filing under


@pytest.mark.parametrize("generator, message", [
    (3, "generator must be an nn.Module, a callable mapping latents to samples"),
    (lambda z: z.tolist(), "the generator must return one sample per latent as a tensor, got list"),
    (lambda z: z[:1], "the generator must return one sample per latent as a tensor, got Tensor [1, 2] for 50"),
    (lambda z: z * float("nan"), "generator output: points contain NaN or infinite values"),
    (lambda z: torch.cat([z, z[:, :1]], 1), "ring8 samples are points [N, 2], got [N, 3]"),
    (lambda z: z.sum(1), "generator output: expected points [N, D] or images [N, C, H, W], got shape [50]"),
    (lambda z: 1 / 0, "the generator failed on latents [50, 2] (normal:2): raised ZeroDivisionError"),
])
def test_a_bad_generator_is_refused_in_one_line(generator, message):
    with pytest.raises(ganeval.GanevalError) as info:
        score(generator=generator, latent=2, n=100, batch_size=50, benchmark="ring8")
    text = str(info.value)
    assert message in text and "\n" not in text


# --- errors raised from Python name Python's arguments -------------------------------------------
@pytest.mark.parametrize("call, python, cli", [
    (lambda t: score(t / "s.npy", n=5, benchmark="ring8"),
     "n draws from generator; samples are scored as given", "-n/--samples draws from --generator"),
    (lambda t: score(t / "s.npy"), "score against benchmark NAME, real PATH", "--benchmark NAME, --real PATH"),
    (lambda t: score(t / "s.npy", benchmark="ring8", std=0.1), "std is the std of the mixture given by centers",
     "--std is the std of the mixture given by --centers"),
    (lambda t: score(generator=Centres(RING8), latent="gauss:2", benchmark="ring8"), "latent must be DIST:SIZE",
     "--latent must be DIST:SIZE"),
    (lambda t: score(t / "s.npy", benchmark="ring8", trace=t), "trace ", "--trace "),
])
def test_score_errors_speak_python_from_python_and_flags_from_the_command(tmp_path, call, python, cli):
    import numpy as np

    from ganeval.errors import cli_wording

    np.save(tmp_path / "s.npy", np.zeros((10, 2), np.float32))
    with pytest.raises(ganeval.GanevalError) as info:
        call(tmp_path)
    assert str(info.value).startswith(python) or python in str(info.value)
    assert "--" not in str(info.value)
    with cli_wording(), pytest.raises(ganeval.GanevalError) as info:
        call(tmp_path)
    assert cli in str(info.value)


def test_the_command_still_names_its_flags(tmp_path, capsys):
    import numpy as np

    from ganeval.cli import main

    np.save(tmp_path / "s.npy", np.zeros((10, 2), np.float32))
    assert main(["score", str(tmp_path / "s.npy"), "--benchmark", "ring8", "-n", "5"]) == 2
    assert "-n/--samples draws from --generator; SAMPLES are scored as given" in capsys.readouterr().err


# --- typed results -----------------------------------------------------------------------------------
def test_score_metrics_are_a_mapping_with_directions():
    ring = get_benchmark("ring8")
    result = score(ring.sample(500, torch.Generator().manual_seed(0)), benchmark="ring8")
    assert dict(result.metrics) == result.doc["metrics"]  # .doc still holds the whole document
    assert (result.metrics.direction("modes_covered"), result.metrics.direction("kl"),
            result.metrics.direction("n_modes")) == ("higher", "lower", "none")
    assert set(result.metrics.directions) == set(result.metrics)


def test_check_verdicts_are_typed(small_bench, tmp_path):
    import typing

    from ganeval import CheckResult, Verdict, baseline

    assert typing.get_type_hints(CheckResult)["verdicts"] == list[Verdict]
    baseline(small_bench.out_dir, tmp_path / "base.json")
    result = check(small_bench.out_dir, baseline=tmp_path / "base.json")
    assert result.verdicts and all(isinstance(v, Verdict) for v in result.verdicts)
    assert {v.verdict for v in result.verdicts} <= {"ok", "better"}


# --- evaluate, baseline, registries: what the commands do ------------------------------------------
def test_evaluate_gives_what_ganeval_eval_prints(small_bench, capsys):
    from ganeval import text
    from ganeval.cli import main

    run = small_bench.out_dir / "ring8" / "bce" / "seed-0"
    result = evaluate(run, step=10)
    assert result.metrics["n_samples"] == 500 and result.doc["step"] == 10 and result.warnings == []
    assert (run / "eval" / "step-10.json").is_file()
    assert main(["eval", str(run), "--step", "10"]) == 0
    assert capsys.readouterr().out.strip() == text.run_metrics(result.doc).strip()
    with pytest.raises(ganeval.GanevalError, match="step must be a checkpoint step"):
        evaluate(run, step="10")


def test_baseline_writes_what_ganeval_baseline_init_writes(small_bench, tmp_path, capsys):
    import json

    from ganeval import baseline
    from ganeval.cli import main

    result = baseline(small_bench.out_dir, tmp_path / "api.json")
    assert main(["baseline", "init", str(small_bench.out_dir), "-o", str(tmp_path / "cli.json")]) == 0
    by_cli = json.loads((tmp_path / "cli.json").read_text())
    on_disk = json.loads((tmp_path / "api.json").read_text())
    for doc in (by_cli, on_disk):
        doc.pop("created")
    assert on_disk == by_cli and result.path == tmp_path / "api.json"
    assert result.tracked == list(by_cli["metrics"]) and any(k.endswith("/modes_covered") for k in result.tracked)
    assert result.warnings and all(" cannot be guarded with 2 seeds: " in w for w in result.warnings)
    with pytest.raises(ganeval.GanevalError, match=r"exists; use baseline\(\.\.\., update=True\)"):
        baseline(small_bench.out_dir, tmp_path / "api.json")
    updated = baseline(small_bench.out_dir, tmp_path / "api.json", update=True, tolerances=["kl=0.5"])
    assert all(v["tolerance"] == {"kind": "absolute", "value": 0.5, "floor": 0.0}
               for k, v in updated.doc["metrics"].items() if k.endswith("/kl"))


@pytest.mark.parametrize("call, python, cli", [
    (lambda b, t: baseline(b, b / "ring8" / "bce" / "seed-0" / "x.json"), "output ", "-o "),
    (lambda b, t: baseline(b, b / "spec.toml", update=True), "output ", "--baseline "),
    (lambda b, t: baseline(b, t / "x.json", tolerances=["kl"]), "tolerances must be METRIC=VALUE",
     "--tolerance must be METRIC=VALUE"),
    (lambda b, t: baseline(b, t / "x.json", retrack=True), "retrack goes with update", "--retrack goes with --update"),
    (lambda b, t: report(b, output=b / "spec.toml"), "output ", "-o "),
    (lambda b, t: baseline(b, t / "x.json", metrics="missed"),
     "cannot track missed: it is tracked for a study (a bench with sweep or search)",
     "cannot track missed: it is tracked for a study (a bench with --sweep or --search)"),
])
def test_baseline_and_report_errors_name_python_arguments(small_bench, tmp_path, call, python, cli):
    from ganeval.errors import cli_wording

    with pytest.raises(ganeval.GanevalError) as info:
        call(small_bench.out_dir, tmp_path)
    assert str(info.value).startswith(python) and "--" not in str(info.value)
    overrides = {"output": "--baseline"} if "--baseline" in cli else {}
    with cli_wording(**overrides), pytest.raises(ganeval.GanevalError) as info:
        call(small_bench.out_dir, tmp_path)
    assert str(info.value).startswith(cli)
    assert list(tmp_path.iterdir()) == []


def test_registries_hold_what_ganeval_list_prints(tmp_path, capsys):
    from ganeval import registries
    from ganeval.cli import main
    from ganeval.losses import LOSSES

    plugin = tmp_path / "api_listed_plugin.py"
    plugin.write_text("import ganeval\nganeval.register_variant(ganeval.Variant('api-listed-variant', 'listed'))\n")
    found = registries(plugins=[str(plugin)])
    assert list(found.losses) == LOSSES.names() and {"bce", "hinge", "wgan-gp"} <= set(found.losses)
    assert "api-listed-variant" in found.variants and found.benchmarks["ring8"].n_modes == 8
    assert found.metrics["modes_covered"].direction == "higher" and "local" in found.executors
    assert any(p.ref.endswith("api_listed_plugin.py") for p in found.plugins)
    assert main(["list", "--plugin", str(plugin)]) == 0
    printed = capsys.readouterr().out
    for section in (found.losses, found.benchmarks, found.variants, found.models, found.optimizers,
                    found.metrics, found.protocols):
        for name in section:
            assert f"\n  {name} " in printed, name
    assert "api-listed-variant" in printed


@pytest.mark.parametrize("call, python, cli", [
    (lambda t: bench("bce", "ring8", set_pairs=["steps"], out=t / "x"), "set_pairs expects KEY=VALUE",
     "--set expects KEY=VALUE"),
    (lambda t: bench("bce", "ring8", search=["lr_d=1e-5:1e-2"], out=t / "x"), "search needs trials N",
     "--search needs --trials N"),
    (lambda t: bench("bce", "ring8", address="10.0.0.1:6379", steps=1, out=t / "x"),
     "address only goes with executor='ray'", "--address only goes with --executor ray"),
    (lambda t: evaluate(t, metrics="fid,nope"), "metrics: unknown metric 'nope'", "--metrics: unknown metric"),
])
def test_bench_and_evaluate_errors_name_python_arguments(tmp_path, call, python, cli):
    from ganeval.errors import cli_wording

    with pytest.raises(ganeval.GanevalError) as info:
        call(tmp_path)
    assert str(info.value).startswith(python) and "--" not in str(info.value)
    with cli_wording(), pytest.raises(ganeval.GanevalError) as info:
        call(tmp_path)
    assert str(info.value).startswith(cli)
    assert list(tmp_path.iterdir()) == []


def test_a_filed_score_refuses_a_finished_run_in_python_words(tmp_path):
    from ganeval.errors import cli_wording

    points = get_benchmark("ring8").sample(100, torch.Generator().manual_seed(0))
    score(points, benchmark="ring8", out=tmp_path / "o")
    with pytest.raises(ganeval.GanevalError, match="choose another name, seed or out, or remove"):
        score(points, benchmark="ring8", out=tmp_path / "o")
    with cli_wording(), pytest.raises(ganeval.GanevalError, match="choose another --name, --seed or --out, or remove"):
        score(points, benchmark="ring8", out=tmp_path / "o")


def test_the_docs_in_memory_generator_example_runs_as_written(capsys):
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "score.md").read_text(encoding="utf-8")
    after = page.split("From Python, the same with a generator in memory", 1)[1]
    code = after.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/score.md", "exec"), {})
    first, second = capsys.readouterr().out.strip().splitlines()
    modes, direction = first.split()
    assert direction == "higher" and 0 <= float(modes) <= 8
    assert second == ganeval.registries().losses["hinge"].description
