"""``ganeval report`` on traced folders: one or several side by side, tables in every format, layers in
model order, events read from the trace when a crash left no events.json."""

import json

import pytest
from conftest import user_loop

from ganeval import rundir
from ganeval.cli import main
from ganeval.trace_report import layer_columns


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    root = tmp_path_factory.mktemp("traces")
    user_loop(root / "calm", steps=40)
    user_loop(root / "wild", steps=40, lr=1.0)  # weights blow up: events to draw
    return root


def test_several_trace_folders_side_by_side(traces, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(traces / "calm"), str(traces / "wild")]) == 0
    assert not (tmp_path / "trace-comparison.md").exists()  # not into the current folder ...
    text = (traces / "trace-comparison.md").read_text()  # ... but next to the first one
    assert "`calm` vs `wild`" in text and "## Events: `calm`" in text and "## Events: `wild`" in text
    wild_events = rundir.read_events(traces / "wild")
    assert wild_events, "lr 1.0 must produce events"
    assert f"| {wild_events[0]['step']} |" in text
    for name in ("d-grad-norms", "g-grad-norms", "losses", "health", "d-spectral-norms"):
        assert (traces / "figures" / f"{name}.png").stat().st_size > 0, name
        assert f"figures/{name}.png" in text


@pytest.mark.parametrize("fmt", ["md", "csv", "json", "latex"])
def test_trace_table_in_every_format(traces, tmp_path, capsys, fmt):
    capsys.readouterr()
    assert main(["report", str(traces / "calm"), str(traces / "wild"), "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "calm" in out and "wild" in out
    if fmt == "json":
        rows = json.loads(out)
        assert [r["trace"] for r in rows] == ["calm", "wild"] and rows[0]["logged steps"] == "40"
    out_file = tmp_path / f"table.{fmt}"
    assert main(["report", str(traces / "calm"), "--format", fmt, "-o", str(out_file)]) == 0
    assert "calm" in out_file.read_text()


def test_bench_and_trace_folders_are_not_mixed(traces, tmp_path, capsys):
    (tmp_path / "bench").mkdir()
    capsys.readouterr()
    assert main(["report", str(traces / "calm"), str(tmp_path / "bench")]) == 2
    err = capsys.readouterr().err
    assert "not a mix" in err and len(err.strip().splitlines()) == 1


def test_a_crashed_trace_without_events_json_is_reported_without_writing_to_it(traces, tmp_path):
    import shutil

    crashed = tmp_path / "crashed"
    shutil.copytree(traces / "wild", crashed)
    (crashed / rundir.EVENTS_FILE).unlink()
    before = sorted(p.name for p in crashed.iterdir())
    assert main(["report", str(crashed), "-o", str(tmp_path / "r.md")]) == 0
    assert sorted(p.name for p in crashed.iterdir()) == before  # the report only reads
    kinds = {e["kind"] for e in rundir.read_events(traces / "wild")}
    text = (tmp_path / "r.md").read_text()
    assert all(k.replace("_", " ") in text for k in kinds)


def test_layers_in_model_order_with_their_type():
    columns = {"d_grad_norm", "d_grad_norm.main.0", "d_grad_norm.main.11", "d_grad_norm.main.2", "d_grad_norm.head"}
    # without layers.json: natural order, so main.2 comes before main.11
    assert [c for _, c in layer_columns(columns, "d_grad_norm", [])] == [
        "d_grad_norm.head", "d_grad_norm.main.0", "d_grad_norm.main.2", "d_grad_norm.main.11"]
    layers = [["main.0", "Conv2d"], ["main.2", "BatchNorm2d"], ["main.11", "Conv2d"], ["head", "Linear"]]
    assert layer_columns(columns, "d_grad_norm", layers) == [
        ("main.0 (Conv2d)", "d_grad_norm.main.0"), ("main.2 (BatchNorm2d)", "d_grad_norm.main.2"),
        ("main.11 (Conv2d)", "d_grad_norm.main.11"), ("head (Linear)", "d_grad_norm.head")]


def test_the_tracer_records_its_layers_in_model_order(traces):
    layers = rundir.read_layers(traces / "calm")
    assert [kind for _, kind in layers["D"]] and all(kind == "Linear" for _, kind in layers["D"])
    names = [name for name, _ in layers["D"]]
    assert names == sorted(names, key=int)
