"""Reports and tables read from disk: every section present, every linked figure exists."""

import json
import re

import pandas as pd
import pytest

from ganeval.cli import main

SPEC = """benchmarks = ["ring8", "grid25"]
losses = ["bce", "hinge"]
seeds = 2
steps = 40
hidden = 16
batch_size = 32
eval_samples = 500
ckpt_every = 20
eval_checkpoints = true

[cell."grid25/hinge"]
lr_d = 1e30
lr_g = 1e30
"""


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    (root / "spec.toml").write_text(SPEC)
    assert main(["bench", "--spec", str(root / "spec.toml"), "--out", str(root / "b")]) == 0
    return root / "b"


def linked_files(report_path):
    return re.findall(r"\]\(([^)]+\.png)\)", report_path.read_text())


def test_the_report_has_every_section_and_its_figures_exist(bench):
    text = (bench / "report.md").read_text()
    for section in ("# ganeval report", "- **what**", "- **where**", "- **when**", "## ring8", "## grid25",
                    "### Quality", "### Stability", "### Figures", "## Settings", "## Definitions"):
        assert section in text, section
    assert text.index("## ring8") < text.index("## grid25")  # the spec's order
    figures = linked_files(bench / "report.md")
    for name in ("ring8-samples", "ring8-gradients", "ring8-training", "ring8-modes", "grid25-events"):
        assert f"figures/{name}.png" in figures, name
    for rel in figures:
        assert (bench / rel).stat().st_size > 2000, rel
    assert "| hinge | 2 (2) |" in text  # the diverged cell: 2 seeds, both diverged
    assert "<br><sub>" in text  # 95 % intervals


def test_tables_in_every_format(bench, capsys):
    for fmt in ("md", "csv", "json", "latex"):
        assert main(["report", str(bench), "--format", fmt]) == 0
        out = capsys.readouterr().out
        if fmt == "csv":
            from io import StringIO

            frame = pd.read_csv(StringIO(out))
            assert {"benchmark", "loss", "modes_covered.mean", "modes_covered.ci_low", "runs.n"} <= set(frame.columns)
            assert len(frame) == 4
        elif fmt == "json":
            rows = json.loads(out)
            assert rows[0]["runs.n"] == 2 and "kl.std" in rows[0]
        elif fmt == "latex":
            assert r"\begin{tabular}" in out and r"$\pm$" in out and r"modes\_covered $\uparrow$" in out
        else:
            assert "| loss | seeds (diverged) | modes_covered ↑" in out


def test_two_benches_side_by_side(bench, tmp_path, capsys, monkeypatch):
    other = tmp_path / "other"
    assert main(["bench", "--spec", str(bench / "spec.toml"), "--benchmarks", "ring8", "--seeds", "3,4",
                 "--out", str(other), "--no-report"]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(bench), str(other)]) == 0
    written = bench.resolve().parent / "comparison.md"  # next to the first folder, not in the current one
    assert not (tmp_path / "comparison.md").exists() or bench.resolve().parent == tmp_path.resolve()
    text = written.read_text()
    assert "vs" in text.splitlines()[0]
    assert f"| {bench.name} | bce |" in text and "| other | bce |" in text
    for rel in linked_files(written):
        assert (written.parent / rel).exists(), rel


def test_the_report_reads_files_only(bench):
    """No trainer is imported, and the samples figure comes from what evaluation kept (samples.pt)."""
    import subprocess
    import sys

    code = ("import sys; from ganeval.bench_report import build_report; build_report(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.startswith('ganeval.train')))")
    out = subprocess.run([sys.executable, "-c", code, str(bench)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert "figures/ring8-samples.png" in (bench / "report.md").read_text()


def test_the_trace_report_of_a_users_own_loop(tmp_path, capsys):
    from conftest import user_loop

    events, _ = user_loop(tmp_path / "mine", steps=40, lr=1e30)  # diverges at once
    assert main(["report", str(tmp_path / "mine")]) == 0
    text = (tmp_path / "mine" / "report.md").read_text()
    assert "40 logged steps (0–39)" in text
    assert f"{len(events)} event(s)" in text and "| 0 | still open | divergence |" in text
    figures = linked_files(tmp_path / "mine" / "report.md")
    assert {"figures/d-grad-norms.png", "figures/g-grad-norms.png", "figures/losses.png"} <= set(figures)
    for rel in figures:
        assert (tmp_path / "mine" / rel).is_file(), rel


def test_a_bench_whose_runs_all_died_reports_them_with_their_events(tmp_path):
    """The issue's own command (shortened): every run dies; the report is exactly what a user needs."""
    import pandas as pd

    from ganeval import rundir
    from ganeval.cli import main

    out = tmp_path / "dead"
    code = main(["bench", "--benchmarks", "ring8", "--losses", "bce,wgan-gp", "--seeds", "2", "--steps", "100",
                 "--set", "lr_d=1e9", "--set", "lr_g=1e9", "--set", "hidden=32", "--set", "ckpt_every=50",
                 "--set", "eval_samples=500", "--out", str(out)])
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 4 and (results["modes_covered"].fillna(0) <= 1).all()
    text = (out / "report.md").read_text()
    events = [e for d in rundir.find_run_dirs(out) for e in rundir.read_events(d)]
    assert events and all(e["step"] <= 10 for e in events[:1])
    assert "figures/ring8-events.png" in text and (out / "figures" / "ring8-events.png").stat().st_size > 0
    assert "figures/ring8-gradients.png" in text
    assert "| bce | 2" in text and "| wgan-gp | 2" in text
