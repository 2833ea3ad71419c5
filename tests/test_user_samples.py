"""Reading samples a user has: each layout convention, checked on a known answer."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganeval.errors import SampleError
from ganeval.user_samples import Latent, as_samples, load_samples, read_image_folder


def test_a_grayscale_folder_stays_one_channel_and_rgb_stays_three(tmp_path):
    gray = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    (tmp_path / "g").mkdir()
    for i, im in enumerate(gray):
        Image.fromarray(im.numpy()).save(tmp_path / "g" / f"{i}.png")
    got = read_image_folder(tmp_path / "g")
    assert got.shape == (3, 1, 28, 28) and torch.equal(got[:, 0], gray)  # PNG is lossless
    rgb = torch.randint(0, 256, (2, 5, 7, 3), dtype=torch.uint8)
    (tmp_path / "c").mkdir()
    for i, im in enumerate(rgb):
        Image.fromarray(im.numpy()).save(tmp_path / "c" / f"{i}.png")
    got = read_image_folder(tmp_path / "c")
    assert got.shape == (2, 3, 5, 7) and torch.equal(got, rgb.permute(0, 3, 1, 2))


def test_files_are_read_in_torch_fidelitys_order(tmp_path):
    for name, value in (("b.png", 2), ("a.png", 1), ("c.jpg", 3), ("notes.txt", None)):
        if value is None:
            (tmp_path / name).write_text("not an image")
        else:
            Image.fromarray(np.full((4, 4), value * 60, dtype=np.uint8)).save(tmp_path / name, quality=100)
    got = read_image_folder(tmp_path)
    assert got.shape[0] == 3 and [int(v) for v in got[:, 0, 0, 0]][:2] == [60, 120]


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "nhw"])
def test_tensor_layouts_and_the_pixel_range(layout):
    x = torch.linspace(-1, 1, 2 * 28 * 28).reshape(2, 1, 28, 28)
    given = {"nchw": x, "nhwc": x.permute(0, 2, 3, 1), "nhw": x[:, 0]}[layout]
    got = as_samples(given, "-1,1", "t")
    assert got.dtype == torch.uint8 and got.shape == (2, 1, 28, 28)
    assert int(got.min()) == 0 and int(got.max()) == 255
    unit = as_samples((given + 1) / 2, "0,1", "t")
    assert torch.equal(unit, got)  # the same pixels, said in the other range
    with pytest.raises(SampleError, match="outside the pixel range"):
        as_samples(given * 3, "-1,1", "t")


def test_points_and_npz_and_pt_files(tmp_path):
    pts = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    np.savez(tmp_path / "s.npz", samples=pts, labels=np.zeros(50))
    torch.save({"samples": torch.from_numpy(pts)}, tmp_path / "s.pt")
    for name in ("s.npz", "s.pt"):
        got = load_samples(tmp_path / name)
        assert not got.images and torch.equal(got.data, torch.from_numpy(pts))
        assert len(got.source["sha256"]) == 64


def test_latents_are_seeded_and_shaped():
    lat = Latent.parse("uniform:100x1x1")
    a, b = (lat.draw(5, torch.Generator().manual_seed(3)) for _ in range(2))
    assert a.shape == (5, 100, 1, 1) and torch.equal(a, b) and float(a.min()) >= -1 and float(a.max()) <= 1
    assert str(lat) == "uniform:100x1x1"


def test_evaluating_restores_every_submodules_own_mode():
    from ganeval.user_samples import evaluating, module_device

    G = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(2))
    G[1].eval()  # a mixed model: one submodule already in eval mode
    with evaluating(G):
        assert not any(m.training for m in G.modules())
    assert [m.training for m in G.modules()] == [True, True, False, True]
    assert module_device(G) == torch.device("cpu") and module_device(torch.nn.ReLU()) == torch.device("cpu")
    assert module_device(lambda z: z) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_module_on_the_gpu_is_fed_there_and_stays_there():
    import ganeval

    G = torch.nn.Linear(2, 2).cuda()
    result = ganeval.score(generator=G, latent=2, n=64, benchmark="ring8")
    assert result.metrics["n_samples"] == 64 and next(G.parameters()).is_cuda
