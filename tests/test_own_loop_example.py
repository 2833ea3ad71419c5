"""examples/own_loop_ci: a plain PyTorch loop on ring8, three seeds traced with GANTracer, scored
with ``ganeval score --trace --out`` and checked against the committed baseline — green as it is,
red with a broken learning rate and red with a total collapse. The script the CI workflow runs
(ci.sh) is the one run here."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_loop_ci"


def ci(out: Path, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return subprocess.run(["bash", str(EXAMPLE / "ci.sh"), str(out), *options], capture_output=True, text=True,
                          env=env, timeout=3000)


def regressions(result: subprocess.CompletedProcess) -> dict[str, str]:
    lines = [x[len("regression: "):] for x in result.stderr.splitlines() if x.startswith("regression: ")]
    return {line.split(":", 1)[0].rsplit("/", 1)[1]: line for line in lines}


def test_the_workflow_runs_the_example_script():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((ROOT / "examples" / "own-loop-ci.yml").read_text())
    steps = " ".join(str(s.get("run", "")) for s in doc["jobs"]["stability"]["steps"])
    assert "examples/own_loop_ci/ci.sh runs/own-loop" in steps


@pytest.mark.slow
def test_green_as_committed_red_on_a_broken_learning_rate_and_on_a_total_collapse(tmp_path):
    healthy = ci(tmp_path / "healthy")
    assert healthy.returncode == 0, healthy.stderr[-3000:]
    assert "7 tracked metrics: no regression" in healthy.stderr
    assert (tmp_path / "healthy" / "scores" / "ring8" / "my-gan" / "seed-2" / "trace.csv").is_file()

    broken = ci(tmp_path / "lr", "--lr-d", "10")
    assert broken.returncode == 1, broken.stderr[-3000:]
    failed = regressions(broken)
    # D's weights explode and its gradients die: events on every seed of a baseline that had none,
    # enough of them for the exact Poisson test to clear the level of 7 tracked metrics
    assert "n_events" in failed and "0 in 3 seeds (0 per seed) ->" in failed["n_events"]
    assert "exact Poisson rate test p = " in failed["n_events"] and "< 0.0071)" in failed["n_events"]

    collapsed = ci(tmp_path / "collapse", "--bug", "detach")
    assert collapsed.returncode == 1, collapsed.stderr[-3000:]
    failed = regressions(collapsed)
    assert "n_events" in failed  # mode collapse and vanishing G gradients, on every seed
    assert "g_grad_spread" in failed  # G gets no gradient at all: nothing to spread
