"""The Python API: every command as a function a notebook calls, returning what the CLI prints."""

import pandas as pd
import pytest
import torch

import ganeval
from ganeval import bench, check, get_benchmark, report, score
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
    import ganeval.train.trainer  # noqa: F401 - a subpackage import must not shadow an API function

    for name in ("bench", "score", "report", "check", "register_loss", "register_variant",
                 "register_model", "register_benchmark", "register_optimizer", "register_executor"):
        assert callable(getattr(ganeval, name)), name


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
