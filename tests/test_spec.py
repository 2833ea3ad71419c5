"""Where a run setting comes from: defaults < protocol < paper < spec tables (most specific wins) < flags."""

import re

import pytest

from ganeval.spec import BenchSpec, build_spec, load_spec, parse_sets

SPEC = """
benchmarks = ["ring8", "grid25"]
losses = ["bce", "wgan-gp"]
steps = 100
[benchmark.ring8]
steps = 200
[loss.bce]
lr_d = 0.01
[cell."ring8/bce"]
batch_size = 64
steps = 300
"""


def cells(spec):
    return {run.cell_key: run for run in spec.cells()}


def test_the_most_specific_table_wins(tmp_path):
    (tmp_path / "s.toml").write_text(SPEC)
    c = cells(load_spec(tmp_path / "s.toml"))
    assert (c["ring8/bce"].steps, c["ring8/bce"].batch_size, c["ring8/bce"].lr_d) == (300, 64, 0.01)
    assert (c["ring8/wgan-gp"].steps, c["grid25/bce"].steps, c["grid25/wgan-gp"].steps) == (200, 100, 100)
    assert c["grid25/bce"].lr_d == 0.01 and c["grid25/wgan-gp"].lr_d == BenchSpec().resolve("grid25", "wgan-gp").lr_d
    assert c["ring8/wgan-gp"].n_critic == 5  # the paper's default, untouched by the spec


def test_flags_beat_every_table_of_the_spec(tmp_path):
    (tmp_path / "s.toml").write_text(SPEC)
    spec = build_spec(spec_file=tmp_path / "s.toml", steps=7, batch_size=16, sets=parse_sets(("lr_d=0.5",)))
    for key, run in cells(spec).items():
        assert (run.steps, run.batch_size, run.lr_d) == (7, 16, 0.5), key
    # and the resolved spec, re-read, pins the same values
    (tmp_path / "resolved.toml").write_text(spec.to_toml())
    assert {k: (r.steps, r.batch_size, r.lr_d) for k, r in cells(load_spec(tmp_path / "resolved.toml")).items()} == \
        {k: (7, 16, 0.5) for k in cells(spec)}


def test_one_is_split_count_everywhere():
    """The bench, `ganeval score` and fidelity_metrics use the same IS split count (the same real images
    scored IS 549 over 10 splits and 905 over one: two defaults made two incomparable figures)."""
    import inspect

    from ganeval.metrics.catalog import IS_SPLITS
    from ganeval.metrics.fidelity import fidelity_metrics
    from ganeval.user_score import score

    assert IS_SPLITS == 10
    spec = BenchSpec(benchmarks=["stacked-mnist", "ring8"], losses=["bce"])
    assert {run.is_splits for run in spec.cells()} == {IS_SPLITS}
    for fn in (fidelity_metrics, score):
        assert inspect.signature(fn).parameters["is_splits"].default == IS_SPLITS


@pytest.mark.parametrize("pair, value", [
    ("lr_d=1e-3", ("lr_d", 1e-3)), ("lr_d = 2", ("lr_d", 2.0)), ("steps=1000", ("steps", 1000)),
    ("spectral_norm=true", ("spectral_norm", True)), ("betas=[0.5, 0.9]", ("betas", [0.5, 0.9])),
    ("betas=0,0.99", ("betas", [0.0, 0.99])), ("fidelity=['fid', 'kid']", ("fidelity", ["fid", "kid"])),
    ("fidelity=fid,is", ("fidelity", ["fid", "is"])), ("optimizer='rmsprop'", ("optimizer", "rmsprop")),
    ("extractor_weights=/w/x=1.pth", ("extractor_weights", "/w/x=1.pth")),
])
def test_parse_set_reads_one_value_of_the_keys_type(pair, value):
    from ganeval.spec import parse_set

    assert parse_set(pair) == value


@pytest.mark.parametrize("pair, message", [
    ("lr_d=1e-3\nsteps=5", "one value on one line"), ("lr_d=0x10", "must be a number"), ("lr_d=inf", "must be a number"),
    ("steps=1e3", "must be an integer"), ("steps=" + "9" * 5000, "must be an integer"),
    (f"steps={2**63}", "at most 1,000,000,000"), (f"hidden={2**32}", "at most 1,048,576"),
    ("spectral_norm=yes", "true or false"), ("lr_d=1e308", "at most 1e.30"),
    # ASCII decimal digits only (issue 35): Python's int() would read both
    ("steps=1_000", "must be an integer"), ("steps=１０", "must be an integer"), ("lr_d=1_0", "must be a number"),
])
def test_parse_set_refuses_anything_else(pair, message):
    from ganeval.errors import SpecError
    from ganeval.spec import parse_set

    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        parse_set(pair)


# --- studies: [sweep] / [search], --sweep / --search ------------------------------------------------
def study_runs(**kw):
    spec = build_spec(benchmarks=["ring8"], losses=kw.pop("losses", ["bce"]), seeds=[0], **kw)
    return [(f"{run.benchmark}/{run.loss}", run.setting) for run in spec.runs()], spec


def test_a_sweep_trains_every_value_in_every_cell_the_setting_last():
    runs, _ = study_runs(losses=["bce", "hinge"], sweep=["lr_d=1e-4,1e-3"], set_pairs=["lr_d=5e-3"])
    assert runs == [("ring8/bce", {"lr_d": 1e-4}), ("ring8/bce", {"lr_d": 1e-3}),
                    ("ring8/hinge", {"lr_d": 1e-4}), ("ring8/hinge", {"lr_d": 1e-3})]


def test_tied_keys_take_one_value_and_items_cross():
    runs, spec = study_runs(sweep=["lr_d+lr_g=1e-4,1e-3", "n_critic=1,2"])
    assert [s for _, s in runs] == [
        {"lr_d": 1e-4, "lr_g": 1e-4, "n_critic": 1}, {"lr_d": 1e-4, "lr_g": 1e-4, "n_critic": 2},
        {"lr_d": 1e-3, "lr_g": 1e-3, "n_critic": 1}, {"lr_d": 1e-3, "lr_g": 1e-3, "n_critic": 2}]
    assert all(r.lr_g == r.lr_d for r in spec.runs())


def test_swept_values_are_read_as_set_reads_them():
    runs, _ = study_runs(sweep=["betas=[0.5,0.999],[0.0,0.9]", "z_dist=normal,uniform"])
    assert [s["betas"] for _, s in runs][::2] == [[0.5, 0.999], [0.0, 0.9]]
    assert {s["z_dist"] for _, s in runs} == {"normal", "uniform"}


def test_a_search_inside_each_grid_point_is_reproducible_and_extends():
    a, _ = study_runs(sweep=["n_critic=1,2"], search=["lr_d=1e-5:1e-2:log"], trials=3, search_seed=7)
    b, _ = study_runs(sweep=["n_critic=1,2"], search=["lr_d=1e-5:1e-2:log"], trials=3, search_seed=7)
    assert a == b
    values = [s["lr_d"] for _, s in a]
    assert values[:3] == values[3:] and len(set(values)) == 3 and all(1e-5 <= v <= 1e-2 for v in values)
    more, _ = study_runs(search=["lr_d=1e-5:1e-2:log"], trials=5, search_seed=7)
    assert [s["lr_d"] for _, s in more][:3] == values[:3]
    other, _ = study_runs(search=["lr_d=1e-5:1e-2:log"], trials=3, search_seed=8)
    assert [s["lr_d"] for _, s in other] != values[:3]


def test_the_resolved_spec_re_runs_the_same_study(tmp_path):
    _, spec = study_runs(losses=["bce", "hinge"], sweep=["lr_d+lr_g=1e-4,1e-3"], search=["gp_weight=0.1:10:log"],
                         trials=2, search_seed=3)
    (tmp_path / "spec.toml").write_text(spec.to_toml())
    again = load_spec(tmp_path / "spec.toml")
    assert [r.to_dict() for r in again.runs()] == [r.to_dict() for r in spec.runs()]
    assert again.sweep == {"lr_d+lr_g": [1e-4, 1e-3]}
    assert again.search == {"trials": 2, "seed": 3, "gp_weight": "0.1:10:log"}


def test_a_spec_file_and_a_protocol_take_a_sweep(tmp_path):
    (tmp_path / "s.toml").write_text('losses = ["bce"]\nbenchmarks = ["ring8"]\n[sweep]\n"lr_d+lr_g" = [1e-4, 2e-4]\n')
    assert [r.lr_g for r in load_spec(tmp_path / "s.toml").runs()] == [1e-4, 2e-4]
    spec = build_spec(spec_file=tmp_path / "s.toml", sweep=["lr_d=3e-4"])  # a flag replaces the table
    assert [r.setting for r in spec.runs()] == [{"lr_d": 3e-4}]
    spec = build_spec(protocol="veegan-2d", sweep=["lr_d=1e-4,1e-3"])
    assert {r.lr_d for r in spec.runs()} == {1e-4, 1e-3} and len(spec.runs()) == 2 * len(spec.cells())


def test_more_trials_extend_the_same_default_folder():
    from ganeval.runner import default_out_dir

    def folder(**kw):
        return default_out_dir(build_spec(benchmarks=["ring8"], losses=["bce"], search=["lr_d=1e-5:1e-2:log"], **kw))

    assert folder(trials=3) == folder(trials=5)
    assert folder(trials=3) != folder(trials=3, search_seed=1)


def test_a_plugin_setting_applies_to_the_cells_whose_entries_own_it():
    from ganeval.plugins import load_plugins

    load_plugins(["examples/plugins/my_gan_tricks.py"])
    spec = build_spec(benchmarks=["ring8"], losses=["bce", "bce-smooth"], seeds=[0], sweep=["smooth=0.8,0.9"])
    assert [r.cell_key for r in spec.runs()] == [
        "ring8/bce", "ring8/bce-smooth [smooth=0.8]", "ring8/bce-smooth [smooth=0.9]"]


@pytest.mark.parametrize("kw,message", [
    (dict(sweep=["lr_dd=1e-4"]), "unknown key 'lr_dd'"),
    (dict(sweep=["lr_d=1e-4,fast"]), "sweep: 'lr_d' must be a number"),
    (dict(sweep=["lr_d=-1"]), "'lr_d' must be positive"),
    (dict(sweep=["lr_d="]), "empty value"),
    (dict(sweep=["lr_d=1e-4,0.0001"]), "the same value twice"),
    (dict(sweep=["lr_d=1e-4", "lr_d=1e-3"]), "swept twice"),
    (dict(sweep={"lr_d": []}), "has no values"),
    (dict(search=["lr_d=1e-2:1e-5"], trials=3), "LOW < HIGH"),
    (dict(search=["lr_d=0:1e-2:log"], trials=3), "log scale needs LOW > 0"),
    (dict(search=["gp_weight=-1:1:log"], trials=3), "log scale needs LOW > 0"),
    (dict(search=["lr_d=1e-5:1e-2"], trials=10_001), "at most 10,000 trials"),
    (dict(search=["lr_d=1e-5:1e-2"]), "search needs trials"),
    (dict(trials=3), "trials and search_seed go with search"),
    (dict(sweep=["lr_d=1e-4"], search=["lr_d=1e-5:1e-2"], trials=2), "both swept and searched"),
    (dict(search=["ema_beta=0.5:1.5"], trials=4), "'ema_beta' must be a number in [0, 1)"),
    (dict(sweep=["r2_gamma=1,2"]), "not a setting of any cell"),
    (dict(sweep="lr_d=1e-4"), "not one string"),
])
def test_bad_studies_are_refused_in_one_line_before_any_work(kw, message):
    from ganeval.errors import SpecError
    from ganeval.plugins import load_plugins

    load_plugins(["examples/plugins/my_gan_tricks.py"])  # r2_gamma exists, but no cell uses variant r2
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        build_spec(benchmarks=["ring8"], losses=["bce"], **kw)
    assert "\n" not in str(info.value)


def test_a_success_table_is_checked_and_written_back(tmp_path):
    from ganeval.errors import SpecError

    (tmp_path / "s.toml").write_text('losses = ["bce"]\nbenchmarks = ["ring8"]\n[sweep]\nlr_d = [1e-4, 1e-3]\n'
                                     '[success.ring8]\nmodes_covered = ">= 6"\nhq_rate = 0.3\n')
    spec = load_spec(tmp_path / "s.toml")
    (tmp_path / "again.toml").write_text(spec.to_toml())
    assert load_spec(tmp_path / "again.toml").success == {"ring8": {"modes_covered": ">= 6", "hq_rate": 0.3}}
    (tmp_path / "bad.toml").write_text('[success.ring8]\nmodes_coverd = ">= 6"\n')
    with pytest.raises(SpecError, match="'modes_coverd' is not a metric"):
        load_spec(tmp_path / "bad.toml")
    with pytest.raises(SpecError, match="must be a number or a comparison"):
        build_spec(success={"ring8": {"modes_covered": "most"}})


# --- a mixture benchmark declared as data: [benchmark.NAME.mixture] ----------------------------------
MIXTURE_SPEC = """
benchmarks = ["{name}"]
losses = ["bce"]
seeds = 2
[benchmark.{name}]          # run settings of this benchmark's cells, as for any benchmark
batch_size = 48
[benchmark.{name}.mixture]  # declares {name}
centers = [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]]
weights = [6, 3, 1]
std = 0.05
"""


def test_a_mixture_table_declares_a_benchmark_and_the_rest_of_its_table_stays_run_settings(tmp_path):
    from ganeval import get_benchmark

    (tmp_path / "s.toml").write_text(MIXTURE_SPEC.format(name="skew3"))
    spec = load_spec(tmp_path / "s.toml")
    bench = get_benchmark("skew3")
    assert bench.weights.tolist() == pytest.approx([0.6, 0.3, 0.1]) and bench.std == 0.05
    (run,) = spec.cells()
    assert run.benchmark == "skew3" and run.batch_size == 48 and run.model == "mlp"  # the mixtures' defaults
    assert spec.benchmark_overrides == {"skew3": {"batch_size": 48}}  # the mixture is no run setting
    # the resolved spec records the mixture, so it re-runs (and reports) without the file that declared it
    (tmp_path / "resolved.toml").write_text(spec.to_toml())
    again = load_spec(tmp_path / "resolved.toml")  # the same declaration again: accepted
    assert [r.to_dict() for r in again.cells()] == [r.to_dict() for r in spec.cells()]
    assert "[benchmark.skew3.mixture]" in spec.to_toml()


@pytest.mark.parametrize("table, message", [
    ("centers = [[0.0, 0.0], [1.0, 1.0]]", "'std' is missing"),
    ("centers = [[0.0, 0.0], [1.0, 1.0]]\nstd = 0.1\nweights = [1.0]", "1 weights for 2 centres"),
    ("centers = [[0.0, 0.0], [1.0, 1.0]]\nstd = 0.1\ncolour = 'red'", "unknown key 'colour'"),
    ("centers = [[0.0, 0.0], [0.0, 0.0]]\nstd = 0.1", "coincide"),
])
def test_a_bad_mixture_table_is_one_error_naming_the_table(tmp_path, table, message):
    from ganeval.errors import SpecError

    (tmp_path / "s.toml").write_text(f'benchmarks = ["bad2"]\n[benchmark.bad2.mixture]\n{table}\n')
    with pytest.raises(SpecError, match=rf"\[benchmark\.bad2\.mixture\].*{message}"):
        load_spec(tmp_path / "s.toml")


def test_a_mixture_table_cannot_redefine_a_benchmark(tmp_path):
    from ganeval.errors import SpecError

    (tmp_path / "s.toml").write_text(MIXTURE_SPEC.format(name="ring8"))
    with pytest.raises(SpecError, match=r"\[benchmark\.ring8\.mixture\].*already registered"):
        load_spec(tmp_path / "s.toml")
    (tmp_path / "a.toml").write_text(MIXTURE_SPEC.format(name="skew3b"))
    (tmp_path / "b.toml").write_text(MIXTURE_SPEC.format(name="skew3b").replace("std = 0.05", "std = 0.5"))
    load_spec(tmp_path / "a.toml")
    with pytest.raises(SpecError, match="other centres, std or weights"):
        load_spec(tmp_path / "b.toml")


@pytest.mark.slow
def test_a_mixture_bench_reports_and_evaluates_from_its_files_in_a_fresh_process(tmp_path):
    """Trained from a spec that declares the mixture; then `report` and `eval` in a new process,
    which knows the mixture only from BENCH/spec.toml; the report's figure and KL honour the weights."""
    import json
    import subprocess
    import sys

    from conftest import TINY

    from ganeval.cli import main

    (tmp_path / "s.toml").write_text(MIXTURE_SPEC.format(name="skew3c"))
    out = tmp_path / "bench"
    assert main(["bench", "--spec", str(tmp_path / "s.toml"), *TINY, "--out", str(out)]) == 0
    doc = json.loads((out / "skew3c" / "bce" / "seed-0" / "metrics.json").read_text())
    assert doc["metrics"]["kl_max"] == pytest.approx(-__import__("math").log(0.1))
    script = ("import sys; from ganeval.cli import main; "
              "assert main(['report', sys.argv[1]]) == 0; assert main(['eval', sys.argv[1] + '/skew3c/bce/seed-1']) == 0")
    res = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    report = (out / "report.md").read_text()
    assert "## skew3c" in report and "3 Gaussians, std 0.05, weighted; 3 modes." in report
    assert (out / "figures" / "skew3c-modes.png").stat().st_size > 0
