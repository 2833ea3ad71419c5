"""``ganeval report`` on traced folders: one or several side by side, tables in every format, layers in
model order, events read from the trace when a crash left no events.json."""

import json
from pathlib import Path

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


def _traced_folder(folder, events, steps=200):
    """A traced folder written as GANTracer writes it: trace.csv (healthy-looking curves) and the
    given events in events.json."""
    import math

    folder.mkdir(parents=True)
    head = ["step", "wall_time", "d_loss", "g_loss", "d_real", "d_fake", "d_real_above_fake", "d_tied",
            "d_grad_norm", "g_grad_norm", "d_param_norm", "g_param_norm", "sample_diversity", "lr_d", "lr_g"]
    lines = [",".join(head)]
    for s in range(steps):
        lines.append(",".join(str(v) for v in (s, 0.01 * s, 1.2 + 0.1 * math.sin(s), 0.8, 0.4, -0.3, 0.7, 0.0,
                                               1.0, 0.5, 10.0, 10.0, 0.9, 1e-3, 1e-3)))
    rundir.trace_path(folder).write_text("\n".join(lines) + "\n")
    rundir.write_events(folder, {}, events)


def _event(kind, start, end, open_=False):
    return {"step": start, "end": end, "open": open_, "kind": kind, "evidence": {}, "thresholds": {},
            "episodes": [[start, end]]}


def _event_artists(ax):
    """(vertical event lines' steps, shaded spans as (start, end)) drawn on one panel."""
    from matplotlib.patches import Polygon, Rectangle

    lines = {round(line.get_xdata()[0]) for line in ax.lines
             if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]}
    spans = set()
    for patch in ax.patches:
        if isinstance(patch, Rectangle):
            spans.add((round(patch.get_x()), round(patch.get_x() + patch.get_width())))
        elif isinstance(patch, Polygon):
            xs = patch.get_xy()[:, 0]
            spans.add((round(xs.min()), round(xs.max())))
    return lines, spans


def test_side_by_side_each_run_shades_its_own_panels_so_a_one_step_event_stays_visible(tmp_path, monkeypatch):
    """Two traced runs compared: one with an event over nearly the whole run, one with a divergence
    at one step. On shared panels the long event tinted every panel and the one-step line drowned
    in it; now each run has its own row of panels and shades only its own events there."""
    import ganeval.plots as plots
    from ganeval.trace_report import build_trace_report

    _traced_folder(tmp_path / "long", [_event("discriminator_overpowering", 5, 199, open_=True)])
    _traced_folder(tmp_path / "blip", [_event("divergence", 100, 100)])
    drawn = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, dpi=110: drawn.setdefault(Path(path).stem, fig))
    build_trace_report([tmp_path / "long", tmp_path / "blip"])
    for name in ("losses", "health"):
        fig = drawn[name]
        panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
        by_run = {run: [ax for ax in panels if ax.get_title().startswith(f"{run}: ")] for run in ("long", "blip")}
        assert by_run["long"] and len(by_run["long"]) == len(by_run["blip"]) and \
            len(by_run["long"]) + len(by_run["blip"]) == len(panels), name
        for ax in by_run["blip"]:
            lines, spans = _event_artists(ax)
            assert lines == {100} and spans == set(), (name, ax.get_title())  # its own one-step event, nothing else
        for ax in by_run["long"]:
            lines, spans = _event_artists(ax)
            assert lines == {5} and spans == {(5, 199)}, (name, ax.get_title())
        rows = {round(ax.get_position().y0, 3) for ax in by_run["blip"]}
        assert len(rows) == 1 and rows != {round(ax.get_position().y0, 3) for ax in by_run["long"]}  # a row each
        assert all(ax.get_xlim() == by_run["long"][0].get_xlim() for ax in panels)  # one step axis
