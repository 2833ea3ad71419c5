"""Where a run setting comes from: defaults < protocol < paper < spec tables (most specific wins) < flags."""

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
    ("lr_d=1e-3", ("lr_d", 1e-3)), ("lr_d = 2", ("lr_d", 2.0)), ("steps=1_000", ("steps", 1000)),
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
])
def test_parse_set_refuses_anything_else(pair, message):
    from ganeval.errors import SpecError
    from ganeval.spec import parse_set

    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        parse_set(pair)


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
