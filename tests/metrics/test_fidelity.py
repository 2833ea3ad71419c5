"""FID / IS / KID through torch-fidelity, checked against independent computations and known answers."""

import numpy as np
import pytest
import scipy.linalg
import torch

from ganeval import get_benchmark
from ganeval.errors import DataError
from ganeval.metrics import fidelity as fd

N = 2000


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("stacked-mnist")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    # MNIST itself stays in the shared cache; reference features go to a per-test folder.
    monkeypatch.setattr(fd, "_cache_root", lambda: tmp_path / "fidelity")


def test_fid_equals_an_independent_computation(bench, mnist, shipped):
    gen = bench.real_uint8(N, "train", seed=5)
    out = fd.fidelity_metrics(gen, bench, ("fid",), n_real=N)
    extractor, _ = fd.make_extractor(fd.EXTRACTOR, None, torch.device("cpu"))
    a = fd.extract(extractor, gen, torch.device("cpu"))["features"].double().numpy()
    b = fd.extract(extractor, bench.real_uint8(N, "test"), torch.device("cpu"))["features"].double().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")  # dead ReLU units make the covariances singular
        covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    assert out["fid"] == pytest.approx(expected, rel=1e-3)
    assert out["extractor"] == "ganeval-mnist"


def test_the_registered_extractor_works_through_calculate_metrics(bench, mnist, shipped):
    import torch_fidelity

    gen, real = bench.real_uint8(500, "train", seed=6), bench.real_uint8(500, "test")
    fd.register()
    direct = torch_fidelity.calculate_metrics(input1=fd.ImageTensorDataset(gen), input2=fd.ImageTensorDataset(real),
                                              fid=True, feature_extractor=fd.EXTRACTOR, cuda=False, cache=False,
                                              verbose=False, save_cpu_ram=True)
    ours = fd.fidelity_metrics(gen, bench, ("fid",), n_real=500)
    assert ours["fid"] == pytest.approx(direct["frechet_inception_distance"], rel=1e-6)


@pytest.mark.slow
def test_real_vs_real_is_small_and_one_image_is_large(bench, mnist, shipped):
    real = fd.fidelity_metrics(bench.real_uint8(N, "train", seed=1), bench, ("fid", "is", "kid", "prc"), n_real=N,
                               is_splits=1)
    one = fd.fidelity_metrics(bench.real_uint8(1, "train", seed=2).repeat(N, 1, 1, 1), bench,
                              ("fid", "is", "kid", "prc"), n_real=N, is_splits=1)
    assert 0 < real["fid"] < 50 and one["fid"] > 20 * real["fid"]
    assert real["kid_mean"] < 0.05 < one["kid_mean"]
    assert one["is_mean"] == pytest.approx(1.0, abs=0.05)
    # 2,000 images over 1,000 modes: the effective number of modes seen is ~exp(H) of the sample histogram
    assert real["is_mean"] > 500
    # precision / recall: real data lies on the real manifold both ways; one image covers none of it
    assert real["precision"] > 0.7 and real["recall"] > 0.7 and one["recall"] < 0.01
    assert real["diversity"] == pytest.approx(1.0, abs=0.05) and one["diversity"] == pytest.approx(0, abs=1e-6)


def test_fid_does_not_depend_on_the_batch_size(bench, mnist, shipped):
    gen = bench.real_uint8(600, "train", seed=3)
    extractor, _ = fd.make_extractor(fd.EXTRACTOR, None, torch.device("cpu"))
    small = fd.extract(extractor, gen, torch.device("cpu"), batch_size=7)
    large = fd.extract(extractor, gen, torch.device("cpu"), batch_size=600)
    assert torch.equal(small["features"], large["features"]) and torch.equal(small["logits"], large["logits"])


def test_kid_subset_never_exceeds_the_samples(bench, mnist, shipped):
    out = fd.fidelity_metrics(bench.real_uint8(150, "train", seed=4), bench, ("kid",), n_real=N)
    assert out["kid_subset_size"] == 150


def test_reference_cache_is_keyed_by_the_extractor_weights(bench, mnist, shipped, tmp_path):
    fd.fidelity_metrics(bench.real_uint8(100, "train", seed=4), bench, ("fid",), n_real=300)
    files = sorted(p.name for p in (tmp_path / "fidelity").glob("*.pt"))
    assert files == [f"stacked-mnist-test-ganeval-mnist-{shipped.sha256[:16]}-n300-v{fd.FEATURES_VERSION}.pt"]


def test_unknown_metric_or_extractor_is_a_clear_error(bench):
    with pytest.raises(DataError, match="unknown fidelity metric"):
        fd.fidelity_metrics(torch.zeros(4, 3, 28, 28, dtype=torch.uint8), bench, ("fid", "lpips"))
    with pytest.raises(DataError, match="never downloads"):
        fd.make_extractor(fd.INCEPTION, None, torch.device("cpu"))
    with pytest.raises(DataError, match="not found"):
        fd.make_extractor(fd.INCEPTION, "/no/such/weights.pth", torch.device("cpu"))


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """Inception-v3 weights of the right shapes but random values, made here: the real weights
    cannot be downloaded in this environment. This tests the plumbing, not the numbers."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    orig_url, orig_load = fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict
    fe.load_state_dict_from_url = lambda *a, **k: {}
    fe.FeatureExtractorInceptionV3.load_state_dict = lambda self, sd, *a, **k: None
    try:
        torch.manual_seed(0)
        model = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    finally:
        fe.load_state_dict_from_url, fe.FeatureExtractorInceptionV3.load_state_dict = orig_url, orig_load
    path = tmp_path_factory.mktemp("inception") / "pt_inception-random.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.slow
def test_inception_path_runs_end_to_end_with_local_weights(bench, mnist, random_inception_weights):
    gen = bench.real_uint8(24, "train", seed=8)
    out = fd.fidelity_metrics(gen, bench, ("fid", "is", "kid"), fd.INCEPTION, random_inception_weights, n_real=24)
    assert out["extractor"] == "inception-v3-compat"
    assert np.isfinite(out["fid"]) and out["kid_subset_size"] == 24 and out["is_mean"] >= 1
