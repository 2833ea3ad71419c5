"""Evaluation loads generators without the trainer, and draws what the trainer would have drawn."""

import pytest
import torch

from ganeval import rundir
from ganeval.errors import RunFolderError
from ganeval.generator import load_generators
from ganeval.spec import BenchSpec
from ganeval.train.trainer import CellTrainer


@pytest.mark.parametrize("variant", ["none", "ema"])
def test_a_loaded_generator_samples_what_the_trainer_samples(tmp_path, variant):
    spec = BenchSpec(benchmarks=["ring8"], losses=["bce"], variants=[variant], seeds=[0, 3])
    spec.run.update({"steps": 20, "hidden": 16, "batch_size": 32, "ckpt_every": 10})
    run = spec.validate().cells()[0]
    dirs = [tmp_path / f"seed-{s}" for s in spec.seeds]
    for s, d in zip(spec.seeds, dirs):
        rundir.write_config(d, run, s)
    trainer = CellTrainer(run, spec.seeds, dirs, torch.device("cpu"))
    trainer.train()
    live = trainer.generators()
    for k, d in enumerate(dirs):
        loaded = load_generators(d)
        assert loaded.step == 20 and loaded.seeds == [spec.seeds[k]]
        assert torch.equal(loaded.sample(300)[0], live.sample(300)[k])
        if variant == "ema":  # the weight average is what gets evaluated; the raw G is kept beside it
            assert torch.equal(loaded.sample(300, raw=True)[0], live.sample(300, raw=True)[k])
            assert not torch.equal(loaded.sample(300)[0], loaded.sample(300, raw=True)[0])
    with pytest.raises(RunFolderError, match=r"no checkpoint at step 15 \(it has: 10, 20\)"):
        load_generators(dirs[0], step=15)
    assert load_generators(dirs[0], step=10).step == 10
