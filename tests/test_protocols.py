"""Each shipped protocol resolves to the settings its paper and the authors' code give (cited in the
spec's comments); a change to ganeval's defaults cannot silently change a published protocol."""

import pytest

from ganeval.cli import main
from ganeval.models import build_models
from ganeval.protocols import protocol_names, protocol_path, protocol_summary
from ganeval.spec import load_spec

# The cited values, written out independently of the spec files.
PACGAN_2D = dict(model="mlp", z_dim=2, z_dist="normal", hidden=400, depth=4, g_batchnorm=True, d_hidden=200,
                 d_depth=3, maxout=5, d_batchnorm=False, optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=[0.8, 0.999],
                 n_critic=1, steps=400_000, eval_samples=2500, hq_sigmas=3.0, cover_threshold=1, loss="bce")
VEEGAN_2D = dict(model="mlp", z_dim=255, z_dist="normal", hidden=128, depth=2, d_hidden=128, d_depth=1,
                 g_batchnorm=False, d_batchnorm=False, lr_g=1e-3, lr_d=1e-3, betas=[0.5, 0.999], batch_size=500,
                 steps=100_000, eval_samples=2500, hq_sigmas=3.0, cover_threshold=1, loss="bce", pack=1)
UNROLLED_RING = dict(model="mlp", z_dim=256, z_dist="normal", hidden=128, depth=2, d_hidden=128, d_depth=1,
                     d_input_scale=0.25, lr_g=1e-4, lr_d=1e-4, betas=[0.5, 0.999], batch_size=512, steps=25_000,
                     n_critic=1, loss="bce", pack=1)


PACGAN_STACKED = dict(model="dcgan5x5", base_filters=64, z_dim=100, z_dist="uniform", g_batchnorm=True,
                      d_batchnorm=True, lr_g=2e-4, lr_d=2e-4, betas=[0.5, 0.999], n_critic=1, g_steps=2,
                      steps=100_000, pool_size=128_000, eval_samples=26_000, loss="bce")


def cells(name):
    return load_spec(protocol_path(name)).cells()


def check(run, expected):
    for key, value in expected.items():
        assert getattr(run, key) == value, f"{run.cell_key}: {key}"


def test_pacgan_2d_is_the_papers_grid_with_100_packs_per_step():
    runs = cells("pacgan-2d")
    assert {r.cell_key for r in runs} == {f"{b}/bce{v}" for b in ("ring8-unit", "grid25")
                                          for v in ("", "/pac2", "/pac3", "/pac4")}
    assert load_spec(protocol_path("pacgan-2d")).seeds == list(range(10))
    for run in runs:
        check(run, PACGAN_2D)
        assert run.batch_size == 100 * run.pack  # 100 packs of m samples (config L25)


def test_pacgan_2d_networks_have_the_published_shapes():
    run = next(r for r in cells("pacgan-2d") if r.pack == 4)
    G, D = build_models(run, [0], (2,))
    g = [m.weight.shape[1:] for m in G.modules() if hasattr(m, "in_features")]
    d = [m.weight.shape[1:] for m in D.modules() if hasattr(m, "in_features")]
    assert [tuple(s) for s in g] == [(2, 400), (400, 400), (400, 400), (400, 400), (400, 2)]
    assert [tuple(s) for s in d] == [(8, 1000), (200, 1000), (200, 1000), (200, 1)]  # maxout 5 x 200, 4 packed points


def test_veegan_2d_and_unrolled_ring():
    runs = cells("veegan-2d")
    assert [r.benchmark for r in runs] == ["ring8-unit", "grid25"]
    for run in runs:
        check(run, VEEGAN_2D)
    (run,) = cells("unrolled-ring")
    assert run.benchmark == "ring8"
    check(run, UNROLLED_RING)


def test_pacgan_stacked_mnist_uses_the_larger_dcgan_two_g_steps_and_64_packs():
    runs = cells("pacgan-stacked-mnist")
    assert [r.pack for r in runs] == [1, 2, 3, 4]
    for run in runs:
        check(run, PACGAN_STACKED)
        assert run.batch_size == 64 * run.pack


def test_published_geometries():
    from ganeval.benchmarks import get_benchmark

    ring = get_benchmark("ring8-unit")
    assert ring.std == 0.01 and ring.centers.norm(dim=1).allclose(ring.centers.new_ones(8))
    assert get_benchmark("ring8").std == 0.02 and get_benchmark("grid25").std == 0.05


@pytest.mark.parametrize("name", ["pacgan-2d", "veegan-2d", "unrolled-ring", "pacgan-stacked-mnist"])
def test_every_protocol_is_listed_with_what_it_reproduces(name, capsys):
    assert name in protocol_names()
    assert protocol_summary(name)
    assert main(["list"]) == 0
    assert name in capsys.readouterr().out


def test_bad_protocol_requests_are_one_line(capsys):
    assert main(["bench", "--protocol", "pacgan2d"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown protocol 'pacgan2d'" in err and "did you mean 'pacgan-2d'" in err and "\n" not in err
    assert main(["bench", "--protocol", "pacgan-2d", "--spec", "x.toml"]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_protocol_runs_from_one_command_with_a_smaller_budget(tmp_path):
    out = tmp_path / "b"
    assert main(["bench", "--protocol", "unrolled-ring", "--seeds", "2", "--steps", "20", "--set", "ckpt_every=10",
                 "--set", "batch_size=64", "--out", str(out)]) == 0
    assert (out / "results.csv").is_file() and (out / "ring8" / "bce" / "seed-1" / "eval" / "step-10.json").is_file()


def test_the_shipped_lr_study_is_ten_batched_cells_of_fifteen_members(tmp_path):
    from ganeval.runner import jobs_for
    from ganeval.spec import build_spec

    spec = build_spec(protocol="lr-study-2d")
    lrs = [1e-4, 3.16e-4, 1e-3, 3.16e-3, 1e-2]
    assert spec.sweep == {"lr_d+lr_g": lrs} and spec.seeds == [0, 1, 2]
    runs = spec.runs()
    assert len(runs) == 2 * 5 * 5 and {(r.lr_d, r.lr_g) for r in runs} == {(lr, lr) for lr in lrs}
    jobs = jobs_for(spec, tmp_path, True)
    assert len(jobs) == 10 and all(len(job.members) == 15 for job in jobs)
    steps = {r.loss: (r.steps, r.n_critic) for r in runs}
    assert steps["wgan-gp"] == (600, 5) and steps["bce"] == (3000, 1)  # the same 3,000 D updates
    assert spec.success["grid25"] == {"modes_covered": ">= 20", "hq_rate": ">= 0.5"}
