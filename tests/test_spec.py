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
