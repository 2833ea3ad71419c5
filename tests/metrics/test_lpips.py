"""LPIPS diversity. The real LPIPS-alex weights (ImageNet AlexNet + the lpips package's linear
layers) cannot be downloaded here, so these tests make weight files of the right shapes with a
random initialisation, and compare with the reference ``lpips`` package on the same weights: they
test the plumbing and the arithmetic, not the published numbers."""

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import alexnet

from ganeval.errors import DataError, IntegrityError, SampleError
from ganeval.metrics.lpips import BACKBONE_FILE, CHANNELS, LINEAR_FILE, LPIPS, lpips_diversity, mean_pairwise_lpips


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lpips")
    torch.manual_seed(0)
    torch.save(alexnet(weights=None).state_dict(), folder / BACKBONE_FILE)
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(CHANNELS)},
               folder / LINEAR_FILE)
    return folder


def by_hand(folder, a, b):
    """LPIPS as the lpips package computes it: AlexNet sliced at relu1..relu5, unit-normalised
    channels, squared difference, 1x1 linear layer, spatial mean, summed over layers."""
    net = alexnet(weights=None)
    net.load_state_dict(torch.load(folder / BACKBONE_FILE, weights_only=True))
    lins = torch.load(folder / LINEAR_FILE, weights_only=True)
    slices = [net.features[0:2], net.features[2:5], net.features[5:8], net.features[8:10], net.features[10:12]]
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    ha, hb = (a - shift) / scale, (b - shift) / scale
    total = 0
    with torch.no_grad():
        for k, sl in enumerate(slices):
            ha, hb = sl(ha), sl(hb)
            na = ha / (ha.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            nb = hb / (hb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + F.conv2d((na - nb) ** 2, lins[f"lin{k}.model.1.weight"]).mean((2, 3)).squeeze(1)
    return total


def test_distance_equals_the_lpips_recipe_computed_by_hand(weights):
    torch.manual_seed(1)
    a, b = torch.rand(4, 3, 64, 64) * 2 - 1, torch.rand(4, 3, 64, 64) * 2 - 1
    model = LPIPS(weights)
    torch.testing.assert_close(model(a, b), by_hand(weights, a, b), rtol=1e-5, atol=1e-7)
    assert torch.all(model(a, a) == 0)
    torch.testing.assert_close(model(a, b), model(b, a))


def test_a_one_image_generator_has_no_diversity_and_real_data_has_its_own(weights):
    torch.manual_seed(2)
    real = (torch.rand(400, 3, 28, 28) * 255).to(torch.uint8)
    more_real = (torch.rand(400, 3, 28, 28) * 255).to(torch.uint8)
    one = real[:1].repeat(400, 1, 1, 1)
    assert lpips_diversity(one, real, weights, pairs=200)["lpips_diversity"] == 0
    same = lpips_diversity(more_real, real, weights, pairs=200)
    assert same["lpips_generated"] > 0 and abs(same["lpips_diversity"] - 1) < 0.05


def test_pairs_never_compare_an_image_with_itself(weights):
    two = torch.stack([torch.zeros(3, 28, 28), torch.ones(3, 28, 28)])  # two distinct images only
    assert mean_pairwise_lpips(LPIPS(weights), two, pairs=50) == pytest.approx(float(LPIPS(weights)(two[:1], two[1:])))


def test_missing_or_wrong_weights_are_clear_errors(weights, tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        LPIPS(tmp_path / "nope")
    with pytest.raises(DataError, match=f"{BACKBONE_FILE} is missing"):
        LPIPS(tmp_path)
    (tmp_path / BACKBONE_FILE).write_bytes((weights / BACKBONE_FILE).read_bytes())
    torch.save({"lin0.model.1.weight": torch.rand(1, 3, 1, 1)}, tmp_path / LINEAR_FILE)
    with pytest.raises(IntegrityError, match="not LPIPS-alex linear weights"):
        LPIPS(tmp_path)
    with pytest.raises(SampleError):
        mean_pairwise_lpips(LPIPS(weights), torch.zeros(1, 3, 28, 28))


def test_distance_equals_the_reference_lpips_package(tmp_path):
    """The ``lpips`` package itself (a dev dependency), with its own shipped linear weights; only the
    AlexNet backbone is randomly initialised there, since ImageNet weights cannot be downloaded here."""
    lpips = pytest.importorskip("lpips", reason="the reference implementation (pip install lpips) is not installed")
    import warnings
    from pathlib import Path

    torch.manual_seed(1)
    with warnings.catch_warnings():  # lpips 0.1.4 still passes torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore")
        reference = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False).eval()
    backbone = {f"features.{k}": v for k, v in
                torch.nn.Sequential(*[m for s in (reference.net.slice1, reference.net.slice2, reference.net.slice3,
                                                  reference.net.slice4, reference.net.slice5) for m in s]).state_dict().items()}
    torch.save(backbone, tmp_path / BACKBONE_FILE)
    (tmp_path / LINEAR_FILE).write_bytes((Path(lpips.__file__).parent / "weights/v0.1/alex.pth").read_bytes())
    ours = LPIPS(tmp_path)
    a, b = torch.rand(6, 3, 64, 64) * 2 - 1, torch.rand(6, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        expected = reference(a, b).flatten()
    assert torch.allclose(ours(a, b), expected, rtol=1e-5, atol=1e-7)
    assert float(expected.min()) > 0
