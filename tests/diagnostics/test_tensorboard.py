"""``ganeval bench --tensorboard``: each seed-run folder gets a TensorBoard log of its trace columns
and its events, read back here with TensorBoard's own reader."""

import math

import pytest

from ganeval import rundir
from ganeval.cli import main
from ganeval.diagnostics.trace import read_trace
from ganeval.spec import BenchSpec

pytest.importorskip("tensorboard")


@pytest.mark.slow
def test_bench_tensorboard_writes_every_seed_runs_trace_and_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "bench"
    assert main(["bench", "--benchmarks", "ring8", "--losses", "bce", "--seeds", "2", "--steps", "40",
                 "--set", "trace_every=5", "--set", "ckpt_every=20", "--set", "eval_samples=200",
                 "--tensorboard", "--no-report", "--out", str(out)]) == 0
    for seed in (0, 1):
        run_dir = out / "ring8" / "bce" / f"seed-{seed}"
        assert rundir.read_config(run_dir)[0].tensorboard is True  # the run field, in config.json
        rows = read_trace(rundir.trace_path(run_dir))
        acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        for column in ("d_loss", "g_grad_norm", "d_real_above_fake"):
            read = [(e.step, e.value) for e in acc.Scalars(f"trace/{column}")]
            wanted = [(r["step"], r[column]) for r in rows if math.isfinite(r[column])]
            assert [s for s, _ in read] == [s for s, _ in wanted] == list(range(0, 40, 5)) + [39]
            assert [v for _, v in read] == pytest.approx([v for _, v in wanted], rel=1e-6)
        assert any(t.startswith("layers/d_grad_norm.") for t in acc.Tags()["scalars"])
        text = acc.Tensors("events/text_summary")[-1].tensor_proto.string_val[0].decode()
        assert "No event detected" in text or "|" in text


def test_tensorboard_is_output_only_and_off_by_default():
    spec = BenchSpec().validate()
    run = spec.resolve("ring8", "bce", "none")
    assert run.tensorboard is False and "tensorboard" not in run.train_config()  # a checkpoint resumes either way
