"""Progress lines for logs: what a CI log shows while a bench runs."""

import io

from ganeval.progress import LineProgress, default_progress


def test_line_progress_reports_steps_cells_and_phases():
    out = io.StringIO()
    p = LineProgress(out, interval=0.0)
    p.start(total_seed_steps=200, total_cells=2)
    p.cell_started("ring8/bce", 2)
    p.advance(100)
    p.phase("evaluating ring8/bce (seed 0, 1)")
    p.cell_done("ring8/bce", "modes_covered 8")
    lines = out.getvalue().splitlines()
    assert "50.0% cells 0/2 (ring8/bce)" in lines[0]
    assert lines[1].endswith("evaluating ring8/bce (seed 0, 1)")
    assert "cell 1/2 done: ring8/bce — modes_covered 8" in lines[2]


def test_line_progress_throttles_step_lines():
    out = io.StringIO()
    p = LineProgress(out, interval=3600.0)
    p.start(total_seed_steps=1000, total_cells=1)
    for _ in range(100):
        p.advance(10)
    assert out.getvalue() == ""


def test_header_is_printed_when_work_starts_not_before():
    out = io.StringIO()  # not a terminal: plain lines
    p = default_progress(out, header="bench folder: runs/x")
    assert out.getvalue() == ""
    p.start(10, 1)
    p.phase("evaluating")
    assert out.getvalue().splitlines()[0] == "bench folder: runs/x"
    assert out.getvalue().splitlines()[1].endswith("evaluating")


def test_the_default_stream_is_the_stderr_of_now_not_of_import_time(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    p = default_progress(header="bench folder: runs/y")
    p.start(1, 1)
    assert out.getvalue().startswith("bench folder: runs/y")
