"""``ganeval score``: samples a user already has, scored with known answers and against
torch-fidelity's own command line on the same two folders."""

import json
import math
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

from ganeval.benchmarks import get_benchmark
from ganeval.cli import main

RTOL = 1e-3
#: torch-fidelity's JSON keys -> ganeval's metric names
TF_KEYS = {"frechet_inception_distance": "fid", "inception_score_mean": "is_mean", "inception_score_std": "is_std",
           "kernel_inception_distance_mean": "kid_mean", "kernel_inception_distance_std": "kid_std",
           "precision": "precision", "recall": "recall"}


def save_png_folder(folder: Path, images: torch.Tensor) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        arr = im.permute(1, 2, 0).numpy()
        Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(folder / f"{i:04d}.png")
    return folder


def score_json(capsys, *args) -> dict:
    capsys.readouterr()
    assert main(["score", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def torch_fidelity_cli(*args) -> dict:
    """torch-fidelity's own command line (its ``main``), with ganeval-mnist in its registry."""
    code = ("import sys; from ganeval.metrics.fidelity import register; register(); "
            "from torch_fidelity.fidelity import main; sys.argv = ['fidelity'] + sys.argv[1:]; main()")
    out = subprocess.run([sys.executable, "-c", code, "--cpu", "--json", "--silent", *map(str, args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout[out.stdout.index("{"):])


# --- known answers -------------------------------------------------------------------------------
def test_perfect_sampler_covers_every_ring_mode_and_one_point_covers_one(tmp_path, capsys):
    bench = get_benchmark("ring8")
    np.save(tmp_path / "perfect.npy", bench.sample(4000, torch.Generator().manual_seed(3)).numpy())
    np.save(tmp_path / "one.npy", bench.centers[[5]].repeat(4000, 1).numpy())
    perfect = score_json(capsys, str(tmp_path / "perfect.npy"), "--benchmark", "ring8")["metrics"]
    one = score_json(capsys, str(tmp_path / "one.npy"), "--benchmark", "ring8")["metrics"]
    assert perfect["modes_covered"] == 8 and perfect["hq_rate"] > 0.98 and perfect["kl"] < 0.01
    assert one["modes_covered"] == 1 and one["hq_rate"] == 1.0 and one["kl"] == pytest.approx(math.log(8))


def test_stacked_mnist_folder_gets_the_same_mode_metrics_as_the_tensor(tmp_path, capsys, mnist):
    bench = get_benchmark("stacked-mnist")
    images = bench.real_uint8(600, "test", seed=5)
    folder = save_png_folder(tmp_path / "real", images)
    doc = score_json(capsys, str(folder), "--benchmark", "stacked-mnist", "--metrics", "modes")
    expected = bench.evaluate(images)
    for key in ("modes_covered", "kl", "mean_confidence"):
        assert doc["metrics"][key] == pytest.approx(expected[key], rel=1e-9)
    assert sum(doc["mode_counts"]) == 600 and doc["source"]["kind"] == "image folder"


# --- against torch-fidelity's own command line ---------------------------------------------------
@pytest.fixture(scope="module")
def two_folders(tmp_path_factory, mnist):
    """Two folders of 300 real stacked-MNIST PNGs (RGB), drawn with different seeds."""
    root = tmp_path_factory.mktemp("folders")
    bench = get_benchmark("stacked-mnist")
    a = save_png_folder(root / "a", bench.real_uint8(300, "test", seed=1))
    b = save_png_folder(root / "b", bench.real_uint8(300, "test", seed=2))
    return a, b


def test_two_folders_equal_torch_fidelity_cli(two_folders, capsys):
    a, b = two_folders
    ours = score_json(capsys, str(a), "--real", str(b), "--kid-subset-size", "100")
    theirs = torch_fidelity_cli("--input1", a, "--input2", b, "--fid", "--isc", "--kid", "--prc",
                                "--feature-extractor", "ganeval-mnist", "--kid-subset-size", "100")
    assert ours["fidelity"]["extractor"] == "ganeval-mnist" and ours["fidelity"]["is_splits"] == 10
    for key, name in TF_KEYS.items():
        assert ours["metrics"][name] == pytest.approx(theirs[key], rel=RTOL), name


def test_fid_equals_an_independent_computation_on_the_same_features(two_folders, capsys):
    from scipy import linalg

    from ganeval.metrics.fidelity import EXTRACTOR, extract, make_extractor
    from ganeval.user_samples import read_image_folder

    a, b = two_folders
    ours = score_json(capsys, str(a), "--real", str(b), "--metrics", "fid")["metrics"]["fid"]
    extractor, _ = make_extractor(EXTRACTOR, None, torch.device("cpu"))
    fa, fb = (extract(extractor, read_image_folder(f), torch.device("cpu"))["features"].double().numpy() for f in (a, b))
    mu1, mu2 = fa.mean(0), fb.mean(0)
    s1, s2 = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    fid = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    assert ours == pytest.approx(fid, rel=RTOL)


def test_reference_features_are_cached_by_content(two_folders, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GANEVAL_HOME", str(tmp_path / "home"))
    a, b = two_folders
    first = score_json(capsys, str(a), "--real", str(b), "--metrics", "fid")["metrics"]["fid"]
    cached = sorted((tmp_path / "home" / "fidelity").glob("custom-*.pt"))
    assert len(cached) == 1
    assert score_json(capsys, str(a), "--real", str(b), "--metrics", "fid")["metrics"]["fid"] == first
    # another reference set is another entry, never the cached one
    score_json(capsys, str(b), "--real", str(a), "--metrics", "fid")
    assert len(sorted((tmp_path / "home" / "fidelity").glob("custom-*.pt"))) == 2


def random_inception_weights(path: Path) -> Path:
    """torch-fidelity's Inception-v3 with random weights (its BatchNorm statistics taken from one
    random batch so features do not vanish): the real architecture, no download."""
    import torch_fidelity.feature_extractor_inceptionv3 as inc

    torch.manual_seed(0)
    with mock.patch.object(inc, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(inc.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None):
        net = inc.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None
            mod.reset_running_stats()
    net.train()
    with torch.no_grad():
        net(torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8))
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.slow
def test_inception_from_a_local_weights_file_equals_torch_fidelity_cli(tmp_path, capsys):
    weights = random_inception_weights(tmp_path / "inception.pth")
    gen = torch.Generator().manual_seed(0)
    a = save_png_folder(tmp_path / "a", torch.randint(0, 200, (8, 3, 64, 64), generator=gen, dtype=torch.uint8))
    b = save_png_folder(tmp_path / "b", torch.randint(40, 255, (8, 3, 64, 64), generator=gen, dtype=torch.uint8))
    ours = score_json(capsys, str(a), "--real", str(b), "--inception-weights", str(weights),
                      "--kid-subset-size", "4", "--is-splits", "1", "--metrics", "fid,kid,prc")
    theirs = torch_fidelity_cli("--input1", a, "--input2", b, "--fid", "--kid", "--prc",
                                "--feature-extractor", "inception-v3-compat",
                                "--feature-extractor-weights-path", weights, "--kid-subset-size", "4")
    assert ours["fidelity"]["extractor"] == "inception-v3-compat"
    for key in ("frechet_inception_distance", "kernel_inception_distance_mean", "precision", "recall"):
        assert ours["metrics"][TF_KEYS[key]] == pytest.approx(theirs[key], rel=RTOL), key
    assert ours["metrics"]["fid"] > 0


# --- generators ----------------------------------------------------------------------------------
GENERATOR_FILE = '''
import torch

class Ring(torch.nn.Module):
    """Maps z to one of the ring's 8 centres by the sign pattern of z: a perfect mode sampler."""
    def forward(self, z):
        k = (z[:, 0] > 0).long() * 4 + (z[:, 1] > 0).long() * 2 + (z[:, 2] > 0).long()
        angle = k.float() * (2 * torch.pi / 8)
        return 2.0 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)

G = Ring()
'''


def test_generator_from_a_file_and_as_torchscript_score_alike(tmp_path, capsys):
    (tmp_path / "my_gan.py").write_text(GENERATOR_FILE)
    spec = f"{tmp_path / 'my_gan.py'}:G"
    doc = score_json(capsys, "--generator", spec, "--latent", "normal:4", "-n", "2000", "--benchmark", "ring8")
    assert doc["metrics"]["modes_covered"] == 8 and doc["source"]["latent"] == "normal:4"
    from ganeval.user_samples import load_generator

    torch.jit.script(load_generator(spec)).save(str(tmp_path / "g.pt"))
    scripted = score_json(capsys, "--generator", str(tmp_path / "g.pt"), "--latent", "normal:4", "-n", "2000",
                          "--benchmark", "ring8")
    assert scripted["mode_counts"] == doc["mode_counts"]


# --- filed as a run: report and check read it ----------------------------------------------------
def test_scores_filed_with_out_are_reported_and_guarded_by_check(tmp_path, capsys):
    bench = get_benchmark("ring8")
    good, bad = tmp_path / "good", tmp_path / "bad"
    for seed in range(3):
        np.save(tmp_path / f"good{seed}.npy", bench.sample(2000, torch.Generator().manual_seed(seed)).numpy())
        np.save(tmp_path / f"bad{seed}.npy", bench.centers[[seed, seed + 1]].repeat(1000, 1).numpy())
        for out, prefix in ((good, "good"), (bad, "bad")):
            assert main(["score", str(tmp_path / f"{prefix}{seed}.npy"), "--benchmark", "ring8", "--out", str(out),
                         "--name", "mygan", "--seed", str(seed)]) == 0
    assert main(["report", str(good)]) == 0
    report = (good / "report.md").read_text()
    assert "| mygan | 3 (0) |" in report and "samples scored by `ganeval score`" in report
    assert main(["baseline", "init", str(good), "-o", str(tmp_path / "baseline.json")]) == 0
    assert main(["check", str(good), "--baseline", str(tmp_path / "baseline.json")]) == 0
    capsys.readouterr()
    assert main(["check", str(bad), "--baseline", str(tmp_path / "baseline.json")]) == 1
    assert "ring8/mygan/modes_covered" in capsys.readouterr().err
    assert main(["eval", str(good / "ring8" / "mygan" / "seed-0")]) == 2


# --- points against your own data ----------------------------------------------------------------
def test_points_against_your_own_real_points_equal_an_independent_computation(tmp_path, capsys):
    from scipy.spatial.distance import cdist, pdist

    bench = get_benchmark("ring8")
    real = bench.sample(400, torch.Generator().manual_seed(1)).double().numpy()
    gen = bench.sample(300, torch.Generator().manual_seed(2)).double().numpy()
    gen[:150] = gen[:150] * 0.5  # half of it off the ring: neither identical nor disjoint
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "gen.npy", gen)
    doc = score_json(capsys, str(tmp_path / "gen.npy"), "--real", str(tmp_path / "real.npy"))
    m = doc["metrics"]
    sigma = float(np.median(pdist(real)))
    k = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2 * sigma**2))  # noqa: E731
    kxx, kyy = k(gen, gen), k(real, real)
    mmd2 = ((kxx.sum() - 300) / (300 * 299) + (kyy.sum() - 400) / (400 * 399) - 2 * k(gen, real).mean())
    radius = lambda a: np.sort(cdist(a, a), axis=1)[:, 3]  # noqa: E731  (k = 3; column 0 is the point itself)
    precision = (cdist(gen, real) <= radius(real)[None]).any(axis=1).mean()
    recall = (cdist(real, gen) <= radius(gen)[None]).any(axis=1).mean()
    assert m["mmd_bandwidth"] == pytest.approx(sigma, rel=1e-9)
    assert m["mmd2"] == pytest.approx(mmd2, rel=1e-6)
    assert (m["precision"], m["recall"]) == pytest.approx((precision, recall), abs=1e-6)
    assert 0.3 < precision < 0.9 and m["mmd2"] > 0.01
    assert doc["benchmark"] == "custom" and doc["fidelity"]["extractor"] == "raw-points"
    assert "median pairwise distance of the real points" in doc["fidelity"]["kernel"]
    # identical sets: precision = recall = 1; the unbiased MMD^2 of a set with itself is exactly
    # -(2/n)(1 - mean off-diagonal kernel) (the cross term keeps its diagonal), about 0
    same = score_json(capsys, str(tmp_path / "real.npy"), "--real", str(tmp_path / "real.npy"))["metrics"]
    assert same["precision"] == same["recall"] == 1.0
    assert same["mmd2"] == pytest.approx(-(2 / 400) * (1 - (kyy.sum() - 400) / (400 * 399)), rel=1e-6)
    capsys.readouterr()
    assert main(["score", str(tmp_path / "gen.npy"), "--real", str(tmp_path / "real.npy")]) == 0
    out = capsys.readouterr().out
    assert "MMD² unbiased, gaussian rbf" in out and "| mmd2 ↓ |" in out and "| recall ↑ |" in out


def test_your_own_mixture_scores_like_the_built_in_benchmark(tmp_path, capsys):
    bench = get_benchmark("ring8")
    points = bench.sample(2000, torch.Generator().manual_seed(5))
    points[:600] = bench.centers[[0, 1]].repeat(300, 1) + 0.5  # some samples off every mode
    np.save(tmp_path / "gen.npy", points.numpy())
    np.save(tmp_path / "real.npy", bench.sample(3000, torch.Generator().manual_seed(6)).numpy())
    np.savetxt(tmp_path / "centers.csv", bench.centers.numpy(), delimiter=",")
    built_in = score_json(capsys, str(tmp_path / "gen.npy"), "--benchmark", "ring8")
    own = score_json(capsys, str(tmp_path / "gen.npy"), "--centers", str(tmp_path / "centers.csv"),
                     "--std", str(bench.std))
    assert own["mode_counts"] == built_in["mode_counts"]
    for name in ("modes_covered", "hq_rate", "kl", "n_modes"):
        assert own["metrics"][name] == pytest.approx(built_in["metrics"][name], rel=1e-6)
    assert own["eval_options"]["std"] == bench.std and own["eval_options"]["hq_sigmas"] == 3.0
    # the std, estimated from real points of the same mixture, is the ring's 0.02 (to 5 %)
    est = score_json(capsys, str(tmp_path / "gen.npy"), "--centers", str(tmp_path / "centers.csv"),
                     "--real", str(tmp_path / "real.npy"))
    assert est["eval_options"]["std"] == pytest.approx(bench.std, rel=0.05)
    assert "estimated from --real" in est["reference"]["centers"]["std_from"]
    assert "mmd2" in est["metrics"] and "modes_covered" in est["metrics"]


# --- --trace: the run's own trace, filed with its score ------------------------------------------
def traced_loop(folder: Path, lr: float, steps: int = 40, seed: int = 0) -> np.ndarray:
    """A plain PyTorch GAN loop on ring8 points, traced with GANTracer; returns 500 generated points."""
    from ganeval.diagnostics import GANTracer

    torch.manual_seed(seed)
    ring = get_benchmark("ring8")
    G = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    D = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr), torch.optim.SGD(D.parameters(), lr)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    with GANTracer(G, D, folder) as tracer:
        for step in range(steps):
            real, fake = ring.sample(64), G(torch.randn(64, 4))
            r, f = D(real).squeeze(1), D(fake.detach()).squeeze(1)
            d_loss = bce(r, torch.ones(64)) + bce(f, torch.zeros(64))
            opt_d.zero_grad()
            d_loss.backward()
            tracer.d_step(d_loss, r, f, real=real, fake=fake)
            opt_d.step()
            g_loss = bce(D(fake).squeeze(1), torch.ones(64))
            opt_g.zero_grad()
            g_loss.backward()
            tracer.g_step(g_loss)
            opt_g.step()
            tracer.step(step, opt_d, opt_g)
    with torch.no_grad():
        return G(torch.randn(500, 4)).numpy()


def test_trace_files_the_runs_events_and_stability_with_its_score(tmp_path, capsys):
    from ganeval import rundir
    from ganeval.diagnostics.stability import stability_summary
    from ganeval.diagnostics.trace import read_trace

    np.save(tmp_path / "s.npy", traced_loop(tmp_path / "trace", lr=0.01))
    doc = score_json(capsys, str(tmp_path / "s.npy"), "--benchmark", "ring8", "--trace", str(tmp_path / "trace"),
                     "--out", str(tmp_path / "bench"), "--name", "mine")
    events = json.loads((tmp_path / "trace" / "events.json").read_text())["events"]
    expected = stability_summary(read_trace(tmp_path / "trace" / "trace.csv"), events, [], None)
    for name in ("n_events", "diverged", "d_grad_spread", "g_grad_spread"):
        assert doc["metrics"][name] == pytest.approx(expected[name], nan_ok=True), name
    assert doc["trace"]["rows"] == 40 and doc["step"] == 39 and doc["events"] == events
    run = tmp_path / "bench" / "ring8" / "mine" / "seed-0"
    for name in ("trace.csv", "layers.json"):
        assert (run / name).read_bytes() == (tmp_path / "trace" / name).read_bytes()
    assert rundir.read_events(run) == events
    # the stability metrics are tracked when asked for by name ...
    assert main(["baseline", "init", str(tmp_path / "bench"), "-o", str(tmp_path / "b.json"),
                 "--metrics", "modes_covered,kl,n_events,diverged,d_grad_spread"]) == 0
    tracked = json.loads((tmp_path / "b.json").read_text())["metrics"]
    assert set(tracked) == {f"ring8/mine/{m}" for m in ("modes_covered", "kl", "n_events", "diverged", "d_grad_spread")}
    # ... and by default
    assert main(["baseline", "init", str(tmp_path / "bench"), "-o", str(tmp_path / "d.json")]) == 0
    assert {"ring8/mine/n_events", "ring8/mine/diverged", "ring8/mine/g_grad_spread"} <= set(
        json.loads((tmp_path / "d.json").read_text())["metrics"])
    # without --trace they cannot be tracked, and asking for them says so instead of dropping them
    assert main(["score", str(tmp_path / "s.npy"), "--benchmark", "ring8", "--out", str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain" / "ring8" / "s" / "seed-0" / "trace.csv").exists()
    capsys.readouterr()
    assert main(["baseline", "init", str(tmp_path / "plain"), "-o", str(tmp_path / "p.json"),
                 "--metrics", "modes_covered,kl,n_events,diverged"]) == 2
    err = capsys.readouterr().err
    assert "cannot track n_events: no seed-run of ring8/s has a value for it" in err and "--trace" in err
    assert not (tmp_path / "p.json").exists()


def test_a_diverged_trace_blanks_the_quality_metrics_and_nan_points_need_it(tmp_path, capsys):
    points = traced_loop(tmp_path / "trace", lr=1e30, steps=20)
    assert not np.isfinite(points).all()
    np.save(tmp_path / "s.npy", points)
    doc = score_json(capsys, str(tmp_path / "s.npy"), "--benchmark", "ring8", "--trace", str(tmp_path / "trace"))
    assert doc["status"] == "diverged" and doc["metrics"]["diverged"] == 1.0
    assert doc["diverged_step"] == min(e["step"] for e in doc["events"] if e["kind"] == "divergence")
    assert doc["metrics"]["modes_covered"] is None and doc["metrics"]["n_modes"] == 8  # NaN: JSON null
    # NaN points without a trace, or with a trace that shows no divergence, are refused
    assert main(["score", str(tmp_path / "s.npy"), "--benchmark", "ring8"]) == 2
    traced_loop(tmp_path / "healthy", lr=0.01, steps=20)
    capsys.readouterr()
    assert main(["score", str(tmp_path / "s.npy"), "--benchmark", "ring8", "--trace", str(tmp_path / "healthy")]) == 2
    assert "the trace shows no divergence" in capsys.readouterr().err


# --- what it refuses -----------------------------------------------------------------------------
def test_other_image_sizes_are_refused_unless_resized(tmp_path, capsys, mnist):
    bench = get_benchmark("stacked-mnist")
    real = bench.real_uint8(500, "test")
    big = torch.nn.functional.interpolate(real.float(), size=(64, 64), mode="bilinear",
                                          antialias=True).round().to(torch.uint8)
    torch.save(big, tmp_path / "big.pt")
    capsys.readouterr()
    assert main(["score", str(tmp_path / "big.pt"), "--benchmark", "stacked-mnist"]) == 2
    err = capsys.readouterr().err
    assert "3x28x28, got 3x64x64" in err and "--resize" in err and len(err.strip().splitlines()) == 1
    doc = score_json(capsys, str(tmp_path / "big.pt"), "--benchmark", "stacked-mnist", "--resize", "--metrics", "modes")
    # a 64x64 upscale of real triples, resized back, reads as the same triples (measured: 2 % of
    # 2,000 triples change their mode, mean confidence 0.996 -> 0.990)
    direct = bench.evaluate(real)
    assert doc["source"]["resized_from"] == "3x64x64"
    assert abs(doc["metrics"]["modes_covered"] - direct["modes_covered"]) <= 0.03 * direct["modes_covered"]
    assert doc["metrics"]["mean_confidence"] > 0.98
    # the offline extractor reads digits only; against one's own 64x64 images it says what would work
    assert main(["score", str(tmp_path / "big.pt"), "--real", str(tmp_path / "big.pt")]) == 2
    assert "--inception-weights" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    ([], "give SAMPLES"),
    (["{d}/ok.npy"], "--benchmark NAME, --real PATH"),
    (["{d}/ok.npy", "--benchmark", "ring9"], "ring9"),
    (["{d}/ok.npy", "--benchmark", "ring8", "--metrics", "fid"], "cannot compute fid"),
    (["{d}/ok.npy", "--benchmark", "grid25", "--metrics", "modes,bogus"], "unknown metric"),
    (["{d}/float_images.npy", "--real", "{d}/float_images.npy"], "outside the pixel range"),
    (["{d}/ok.npy", "--benchmark", "stacked-mnist"], "samples are images"),
    (["{d}/missing.npy", "--benchmark", "ring8"], "not found"),
    (["{d}/notes.txt", "--benchmark", "ring8"], "tensor file"),
    (["{d}/empty", "--benchmark", "ring8"], "no png/jpg/jpeg images"),
    (["{d}/mixed", "--real", "{d}/mixed"], "different sizes"),
    (["{d}/ok.npy", "--generator", "x:G", "--benchmark", "ring8"], "not both"),
    (["--generator", "no_such_module_xyz:G", "--benchmark", "ring8"], "cannot import"),
    (["--generator", "{d}/ok.npy", "--benchmark", "ring8"], "MODULE:NAME"),
    (["--generator", "math:pi", "--benchmark", "ring8"], "no callable"),
    (["--generator", "math:sqrt", "--benchmark", "ring8"], "generator failed"),
    (["--generator", "torch:zeros", "--latent", "cauchy:3", "--benchmark", "ring8"], "--latent"),
    (["{d}/ok.npy", "--benchmark", "ring8", "-n", "5"], "draws from --generator"),
    # points against your own data
    (["{d}/ok.npy", "--real", "{d}/images.npy"], "score like with like"),
    (["{d}/ok.npy", "--real", "{d}/pts3.npy"], "2-D points, the real ones 3-D"),
    (["{d}/ok.npy", "--real", "{d}/ok.npy", "--metrics", "kid"], "points get mmd and prc"),
    (["{d}/ok.npy", "--benchmark", "ring8", "--metrics", "mmd"], "cannot compute mmd"),
    (["{d}/ok.npy", "--centers", "{d}/centers.csv"], "--centers needs --std"),
    (["{d}/ok.npy", "--centers", "{d}/centers.csv", "--std", "-1"], "--std must be a positive"),
    (["{d}/ok.npy", "--benchmark", "ring8", "--std", "0.1"], "--std is the std of the mixture"),
    (["{d}/ok.npy", "--centers", "{d}/twin.csv", "--std", "0.1"], "centres 0 and 2 coincide"),
    (["{d}/ok.npy", "--centers", "{d}/notes.txt", "--std", "0.1"], "not a table of numbers"),
    (["{d}/ok.npy", "--centers", "{d}/pts3.npy", "--std", "0.1"], "the centres 3-D"),
    (["{d}/ok.npy", "--centers", "{d}/centers.csv", "--std", "0.1", "--benchmark", "ring8"], "not both"),
    (["{d}/images.npy", "--centers", "{d}/centers.csv", "--std", "0.1", "--real", "{d}/images.npy"],
     "these samples are images"),
    (["{d}/nan.npy", "--real", "{d}/ok.npy"], "NaN or infinite"),
    # --trace takes a GANTracer folder
    (["{d}/ok.npy", "--benchmark", "ring8", "--trace", "{d}/no_such_dir"], "not a folder"),
    (["{d}/ok.npy", "--benchmark", "ring8", "--trace", "{d}/empty"], "no trace.csv"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    np.save(tmp_path / "ok.npy", np.zeros((10, 2), dtype=np.float32))
    np.save(tmp_path / "float_images.npy", np.full((4, 1, 28, 28), 3.0, dtype=np.float32))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    save_png_folder(tmp_path / "mixed", torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(tmp_path / "mixed" / "z.png")
    np.save(tmp_path / "pts3.npy", np.arange(30, dtype=np.float32).reshape(10, 3))
    np.save(tmp_path / "images.npy", np.zeros((4, 1, 28, 28), dtype=np.uint8))
    np.save(tmp_path / "nan.npy", np.full((10, 2), np.nan, dtype=np.float32))
    (tmp_path / "centers.csv").write_text("0,0\n1,1\n")
    (tmp_path / "twin.csv").write_text("1 0\n0 1\n1.0 0.0\n")
    capsys.readouterr()
    assert main(["score", *[a.format(d=tmp_path) for a in args]]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.strip().splitlines() if not line.startswith("... ")]  # (progress lines)
    assert message in err and "Traceback" not in err and len(errors) == 1, err
