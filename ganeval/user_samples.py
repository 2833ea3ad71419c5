"""Samples a user already has, read into ganeval's two sample forms: points ``float [N, D]`` and
images ``uint8 [N, C, H, W]``.

Sources: a folder of PNG/JPEG images, an ``.npy`` / ``.npz`` / ``.pt`` tensor file, or a generator
(``module:callable``, ``path/to/file.py:callable`` or a TorchScript file) fed latents drawn from a
named distribution. Every conversion is a stated convention, never a guess:

* image files are read like torch-fidelity reads them (files sorted by path, 8-bit), except that a
  folder of grayscale images stays one channel (a digit is not three stacked digits);
* float pixels are read as ``[-1, 1]`` (a tanh generator's output) unless ``pixel_range="0,1"``;
  values outside the range are refused, not clipped;
* tensors ``[N, H, W]`` are grayscale images, ``[N, H, W, C]`` with C in (1, 3) is channels-last.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import itertools
import os
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganeval import fileio
from ganeval.errors import DataError, GanevalError, SampleError, SpecError, arg, given
from ganeval.usercode import user_code

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg")
TENSOR_EXTENSIONS = (".npy", ".npz", ".pt", ".pth")
PIXEL_RANGES = ("-1,1", "0,1")
LATENT_DISTRIBUTIONS = ("normal", "uniform")
_NPZ_KEYS = ("samples", "images", "x", "arr_0")
#: The most elements one tensor of samples (or one batch of latents) may hold: 2^32, 4 GiB of uint8
#: images (16 GiB as floats). More is refused before it is allocated.
MAX_ELEMENTS = 2**32


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def plain_tensor(x: Any, what: str) -> torch.Tensor:
    """``x`` if it is an ordinary tensor ganeval can read: dense (strided), on a real device (not
    ``meta``), real-valued, with at least one dimension and at most :data:`MAX_ELEMENTS` elements."""
    if not isinstance(x, torch.Tensor):
        raise SampleError(f"{what}: expected a tensor, got {type(x).__name__}")
    if x.layout != torch.strided:
        raise SampleError(f"{what}: a {str(x.layout).removeprefix('torch.')} tensor; give a dense tensor (x.to_dense())")
    if x.device.type == "meta":
        raise SampleError(f"{what}: a tensor on the meta device holds no values")
    if x.dim() == 0:
        raise SampleError(f"{what}: a 0-d tensor (one number), expected points [N, D] or images [N, C, H, W]")
    if x.is_complex() or x.dtype == torch.bool or x.is_quantized:
        raise SampleError(f"{what}: tensors of {x.dtype} are not samples")
    if x.numel() > MAX_ELEMENTS:
        raise SampleError(f"{what}: {x.numel():,} values, more than the {MAX_ELEMENTS:,} ganeval scores at once")
    return x


@dataclass
class Samples:
    """Samples in ganeval's form and where they came from (recorded with every score)."""

    data: torch.Tensor
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def images(self) -> bool:
        return self.data.dim() == 4


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by resolved path as torch-fidelity sorts them."""
    files = [Path(os.path.realpath(p)) for p in Path(folder).iterdir()
             if p.is_file() and p.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS]
    return sorted(files, key=str)


def read_image_folder(folder: Path) -> torch.Tensor:
    """uint8 ``[N, C, H, W]``: C = 1 when every file is grayscale, else 3 (RGB)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    files = image_files(folder)
    if not files:
        raise SampleError(f"{folder}: no {'/'.join(IMAGE_EXTENSIONS)} images in this folder")
    images, sizes, gray = [], set(), True
    for path in files:
        try:
            with warnings.catch_warnings():  # an image claiming over PIL's MAX_IMAGE_PIXELS is refused unread
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    img.load()
                    gray &= img.mode in ("L", "1", "I;16", "I")
                    images.append(img.copy())
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError,
                Image.DecompressionBombWarning, MemoryError,
                SyntaxError, EOFError, struct.error, zlib.error) as exc:  # PIL raises all of these on bad files
            raise SampleError(f"{path}: not a readable image ({_first_line(exc)})") from None
        sizes.add(images[-1].size)
        if len(sizes) > 1:
            (w1, h1), (w2, h2) = sorted(sizes)[:2]
            raise SampleError(f"{folder}: images of different sizes ({w1}x{h1} and {w2}x{h2}); "
                              "resize them to one size first")
    mode = "L" if gray else "RGB"
    arrays = [torch.frombuffer(bytearray(img.convert(mode).tobytes()), dtype=torch.uint8) for img in images]
    w, h = images[0].size
    channels = 1 if gray else 3
    return torch.stack(arrays).view(len(arrays), h, w, channels).permute(0, 3, 1, 2).contiguous()


def read_tensor_file(path: Path) -> torch.Tensor:
    """The one array of an ``.npy`` / ``.npz`` / ``.pt`` file, loaded without running any code."""
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        import numpy as np

        fd = fileio.open_regular(path, "a samples file")
        try:
            with os.fdopen(fd, "rb") as fh:
                loaded = _read_numpy(np, fh, path, suffix)
        except (SampleError, DataError):
            raise
        except Exception as exc:  # numpy, zipfile and zlib raise a dozen types on a damaged file; none runs code
            raise SampleError(f"{path}: not a readable {suffix} file ({_first_line(exc)})") from None
        if not isinstance(loaded, np.ndarray) or loaded.dtype.kind not in "fiub" or loaded.dtype.kind == "b":
            kind = loaded.dtype if isinstance(loaded, np.ndarray) else type(loaded).__name__
            raise SampleError(f"{path}: arrays of {kind} are not samples")
        return plain_tensor(torch.from_numpy(np.ascontiguousarray(loaded)), str(path))
    check_fits(path.stat().st_size, f"{path}: a tensor file of {path.stat().st_size:,} bytes")
    obj, _ = fileio.load_user_tensors(path)
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        key = next(iter(tensors)) if len(tensors) == 1 else next((k for k in _NPZ_KEYS if k in tensors), None)
        if key is None:
            raise SampleError(f"{path}: expected one tensor (or a dict with one of {', '.join(_NPZ_KEYS)})")
        obj = tensors[key]
    if not isinstance(obj, torch.Tensor):
        raise SampleError(f"{path}: holds a {type(obj).__name__}, not a tensor of samples")
    return plain_tensor(obj, str(path))


def _read_numpy(np, fh, path: Path, suffix: str):
    """The samples array of an open ``.npy`` / ``.npz`` file, its size checked from the header
    before the data are read (a header may claim any shape); never unpickles."""
    if suffix == ".npy":
        _check_npy_header(np, fh, path)
        fh.seek(0)
        return np.load(fh, allow_pickle=False)
    with np.load(fh, allow_pickle=False) as npz:
        members = {name.removesuffix(".npy"): name for name in npz.zip.namelist()}
        odd = [name for name in members.values() if not name.endswith(".npy")]
        if odd:
            raise SampleError(f"{path}: holds {odd[0]!r}, not an .npy array; an .npz holds arrays only")
        keys = list(members)
        key = keys[0] if len(keys) == 1 else next((k for k in _NPZ_KEYS if k in keys), None)
        if key is None:
            raise SampleError(f"{path}: several arrays ({', '.join(keys) or 'none'}); name the samples one of "
                              f"{', '.join(_NPZ_KEYS)}")
        with npz.zip.open(members[key]) as member:
            _check_npy_header(np, member, path)
        return npz[key]


def _check_npy_header(np, fh, path: Path) -> None:
    version = np.lib.format.read_magic(fh)
    fmt = np.lib.format
    shape, _, dtype = (fmt.read_array_header_1_0(fh) if version == (1, 0) else fmt.read_array_header_2_0(fh)
                       if version == (2, 0) else fmt._read_array_header(fh, version))
    if dtype.hasobject:
        raise SampleError(f"{path}: arrays of {dtype} (Python objects) are not samples")
    n = 1
    for d in shape:
        n *= int(d)
    if n > MAX_ELEMENTS:
        raise SampleError(f"{path}: an array of shape {list(shape)} ({n:,} values), more than the "
                          f"{MAX_ELEMENTS:,} ganeval scores at once")
    check_fits(n * dtype.itemsize, f"{path}: an array of shape {list(shape)}")


#: Bytes scoring needs per byte of the array read: the array, and a float64 working copy of points
#: (8 bytes for each value of at least 1 byte) - an estimate with the same margin as the bench's.
WORKING_FACTOR = 9


def check_fits(array_bytes: int, what: str) -> None:
    """Refuse, before anything is read, an array whose scoring would need more than 90 % of the
    available RAM (about :data:`WORKING_FACTOR` times its bytes), as ``bench`` refuses a cell its
    memory estimate does not fit: a header or a file size may claim any size, even of a sparse file."""
    from ganeval.feasibility import GIB, REFUSE_ABOVE, available_bytes

    need = array_bytes * WORKING_FACTOR
    free = available_bytes(torch.device("cpu"))
    if free is not None and need > REFUSE_ABOVE * free[0]:
        raise SampleError(f"{what} needs about {need / GIB:.1f} GiB to score (the array and a float64 working "
                          f"copy); this machine has {free[0] / GIB:.1f} GiB {free[1]}: score a subset")


def to_uint8(x: torch.Tensor, pixel_range: str, what: str) -> torch.Tensor:
    """Float pixels in ``pixel_range`` (``-1,1`` or ``0,1``) -> uint8, rounded as an image writer would."""
    if pixel_range not in PIXEL_RANGES:
        raise SpecError(f"pixel range must be one of {', '.join(PIXEL_RANGES)}, got {pixel_range!r}")
    x = x.float()
    if not torch.isfinite(x).all():
        raise SampleError(f"{what}: images contain NaN or infinite pixels")
    lo = -1.0 if pixel_range == "-1,1" else 0.0
    if x.numel() and (float(x.min()) < lo - 1e-3 or float(x.max()) > 1.0 + 1e-3):
        raise SampleError(f"{what}: pixels span [{float(x.min()):.3g}, {float(x.max()):.3g}], outside the "
                          f"pixel range [{pixel_range}]; pass {given('pixel_range', '0,1' if pixel_range == '-1,1' else '-1,1')} "
                          "or uint8 images")
    unit = x.add(1).div(2) if pixel_range == "-1,1" else x
    return unit.clamp(0, 1).mul(255).round().to(torch.uint8)


def as_samples(x: torch.Tensor, pixel_range: str, what: str, allow_nonfinite: bool = False) -> torch.Tensor:
    """Points ``float [N, D]`` or images ``uint8 [N, C, H, W]`` from a tensor of any usual layout.
    ``allow_nonfinite``: keep NaN/inf points (a diverged run's, scored with its trace)."""
    x = plain_tensor(x, what)
    if x.dim() < 2:
        raise SampleError(f"{what}: expected points [N, D] or images [N, C, H, W], got shape "
                          f"{list(getattr(x, 'shape', []))}")
    if len(x) == 0:
        raise SampleError(f"{what}: no samples")
    if x.dim() == 2:
        if x.dtype == torch.uint8:
            raise SampleError(f"{what}: uint8 values of shape {list(x.shape)} are neither points nor images")
        x = x.float()
        if not allow_nonfinite and not torch.isfinite(x).all():
            raise SampleError(f"{what}: points contain NaN or infinite values")
        return x
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4:
        raise SampleError(f"{what}: expected points [N, D] or images [N, C, H, W], got shape {list(x.shape)}")
    if x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] not in (1, 3):
        raise SampleError(f"{what}: images need 1 or 3 channels, got shape {list(x.shape)}")
    if x.dtype == torch.uint8:
        return x.contiguous()
    if not x.is_floating_point():
        raise SampleError(f"{what}: images must be uint8 or floats, got {x.dtype}")
    return to_uint8(x, pixel_range, what).contiguous()


def load_samples(path: Path, pixel_range: str = "-1,1", allow_nonfinite: bool = False) -> Samples:
    """Samples from a folder of images or a tensor file (``allow_nonfinite``: see :func:`as_samples`)."""
    path = Path(path)
    if path.is_dir():
        data = read_image_folder(path)
        return Samples(data, {"kind": "image folder", "path": str(path), "n_files": len(data)})
    if not path.exists():
        raise SampleError(f"samples not found: {path}")
    if path.suffix.lower() not in TENSOR_EXTENSIONS:
        raise SampleError(f"{path}: give a folder of images or a {'/'.join(TENSOR_EXTENSIONS)} tensor file")
    data = as_samples(read_tensor_file(path), pixel_range, str(path), allow_nonfinite)
    return Samples(data, {"kind": "tensor file", "path": str(path), "sha256": fileio.sha256_file(path)})


CENTER_EXTENSIONS = (*TENSOR_EXTENSIONS, ".csv", ".txt")
#: The most centres a user's mixture may have (stacked MNIST has 1,000 modes).
MAX_CENTERS = 100_000


def load_centers(path: Path) -> Samples:
    """The centres ``float64 [K, D]`` of a user's own Gaussian mixture: an ``.npy``/``.npz``/``.pt``
    array or a text table (``.csv``, ``.txt``: one centre per row, comma or whitespace separated).
    Two coinciding centres are refused: that is the classic ``linspace(0, 2 pi, K)`` ring bug, and
    it makes one mode impossible to cover."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise SampleError(f"centres file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in CENTER_EXTENSIONS:
        raise SampleError(f"{path}: give the centres as {'/'.join(CENTER_EXTENSIONS)}")
    if suffix in (".csv", ".txt"):
        try:
            text = fileio.read_text(path, what="a table of centres")
            if text.count("\n") > MAX_CENTERS:
                raise SampleError(f"{path}: more than {MAX_CENTERS:,} rows; a mixture has at most {MAX_CENTERS:,} "
                                  "centres")
            arr = np.loadtxt(io.StringIO(text.replace(",", " ")), ndmin=2, dtype=np.float64)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise SampleError(f"{path}: not a table of numbers ({str(exc).splitlines()[0]})") from None
        centers = torch.from_numpy(arr)
    else:
        centers = read_tensor_file(path)
    if centers.dim() != 2 or len(centers) == 0 or centers.shape[1] == 0:
        raise SampleError(f"{path}: centres must be [K, D] (one centre per row), got shape {list(centers.shape)}")
    if len(centers) > MAX_CENTERS:
        raise SampleError(f"{path}: {len(centers):,} centres, more than the {MAX_CENTERS:,} a mixture may have "
                          "(every sample is compared with every centre)")
    if centers.dtype == torch.bool or centers.is_complex():
        raise SampleError(f"{path}: centres must be numbers, got {centers.dtype}")
    centers = centers.to(torch.float64)
    if not torch.isfinite(centers).all():
        raise SampleError(f"{path}: centres contain NaN or infinite values")
    _, inverse, counts = torch.unique(centers, dim=0, return_inverse=True, return_counts=True)
    if bool((counts > 1).any()):  # found by sorting: no K x K distance matrix
        same = (inverse == inverse[(counts[inverse] > 1).nonzero()[0, 0]]).nonzero().flatten()
        i, j = int(same[0]), int(same[1])
        raise SampleError(f"{path}: centres {i} and {j} coincide ({centers[i].tolist()}); each mode needs its "
                          "own centre")
    return Samples(centers, {"path": str(path), "sha256": fileio.sha256_file(path), "n_modes": len(centers)})


# --- generators ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Latent:
    """A latent distribution and shape, written ``normal:100`` or ``uniform:100x1x1``."""

    distribution: str
    shape: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Latent:
        if not isinstance(text, str):
            raise SpecError(f"{arg('latent')} must be DIST:SIZE, got {text!r:.60}")
        dist, _, dims = text.partition(":")
        parts = dims.lower().split("x")
        # ASCII decimal digits only (int() would also read '１００' and '1_0')
        shape = tuple(int(d) for d in parts) if all(d.isascii() and d.isdigit() and len(d) <= 12 for d in parts) else ()
        if dist not in LATENT_DISTRIBUTIONS or not shape or min(shape) < 1 or len(shape) > 8:
            raise SpecError(f"{arg('latent')} must be DIST:SIZE (DIST one of {', '.join(LATENT_DISTRIBUTIONS)}; "
                            f"SIZE like 100 or 100x1x1), got {text!r}")
        size = 1
        for d in shape:
            size *= d
        if size > MAX_LATENT:
            raise SpecError(f"{arg('latent')} {text}: {size:,} values per latent, more than the {MAX_LATENT:,} ganeval draws")
        return cls(dist, shape)

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.distribution == "normal":
            return torch.randn(n, *self.shape, generator=generator)
        return torch.rand(n, *self.shape, generator=generator).mul(2).sub(1)  # U(-1, 1)

    def __str__(self) -> str:
        return f"{self.distribution}:{'x'.join(map(str, self.shape))}"


#: The most values one latent may have (a 1024x1024 latent image).
MAX_LATENT = 2**20


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any("/code/" in name or name.startswith("code/") for name in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def load_generator(spec: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable mapping latents to samples: ``module:name`` or ``file.py:name`` (an ``nn.Module``
    or any callable, imported — this runs the user's own code) or a TorchScript file."""
    path = Path(spec)
    if path.suffix.lower() in (".pt", ".pth", ".ts") and ":" not in spec:
        if not path.is_file():
            raise SampleError(f"generator not found: {path}")
        os.close(fileio.open_regular(path, "a TorchScript file"))  # a FIFO or device: refused, not read
        if not _is_torchscript(path):
            raise SampleError(f"{path}: not a TorchScript file (torch.jit.save); a plain state dict needs its "
                              "model code: pass module:callable instead")
        try:
            model = torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, OSError) as exc:
            raise SampleError(f"{path}: cannot load TorchScript ({str(exc).splitlines()[0]})") from None
        return model.eval()
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise SpecError(f"{arg('generator')} must be MODULE:NAME, FILE.py:NAME or a TorchScript file, got {spec!r}")
    with user_code(f"generator {spec}"):  # importing runs the user's code: its exit, errors and prints are contained
        return _import_generator(target, name)


def _import_generator(target: str, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        if target.endswith(".py"):
            file = Path(target)
            if not file.is_file():
                raise SampleError(f"generator file not found: {file}")
            module_spec = importlib.util.spec_from_file_location(f"_ganeval_user_{file.stem}", file)
            module = importlib.util.module_from_spec(module_spec)
            sys.path.insert(0, str(file.resolve().parent))
            try:
                module_spec.loader.exec_module(module)
            finally:
                sys.path.pop(0)
        else:
            module = importlib.import_module(target)
    except (ImportError, SyntaxError) as exc:
        raise SampleError(f"cannot import {target}: {exc}") from None
    obj = getattr(module, name, None)
    if obj is None or not callable(obj):
        raise SampleError(f"{target} has no callable {name!r}")
    if isinstance(obj, torch.nn.Module):
        obj.eval()
    return obj


@torch.no_grad()
def generate(G: Callable[[torch.Tensor], torch.Tensor], latent: Latent, n: int, seed: int = 0,
             batch_size: int = 500, pixel_range: str = "-1,1", device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` samples of ``G`` in ganeval's form, from latents drawn with ``seed`` (on the CPU, so a
    seed gives the same latents on any device)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise SpecError(f"{arg('seed')} must be an integer in [0, 2^63), got {seed!r}")
    gen = torch.Generator().manual_seed(seed)
    if isinstance(G, torch.nn.Module):
        with user_code("the generator"):
            G = G.to(device)
    per_latent = 1
    for d in latent.shape:
        per_latent *= d
    batch_size = max(1, min(batch_size, MAX_ELEMENTS // per_latent))  # a batch of latents fits in memory
    parts = []
    for start in range(0, n, batch_size):
        try:
            z = latent.draw(min(batch_size, n - start), gen).to(device)
        except (RuntimeError, MemoryError) as exc:
            raise SampleError(f"cannot draw latents {latent} x {min(batch_size, n - start)}: {_first_line(exc)}") from None
        try:
            with user_code(f"the generator failed on latents {list(z.shape)} ({latent}):"):
                out = G(z)
        except GanevalError as exc:  # the user's code: any failure is theirs to read, in one line
            raise SampleError(str(exc)) from None
        if not isinstance(out, torch.Tensor) or out.dim() == 0 or len(out) != len(z):
            raise SampleError(f"the generator must return one sample per latent as a tensor, got "
                              f"{type(out).__name__} {list(getattr(out, 'shape', []))} for {len(z)} latents")
        out = plain_tensor(out, "generator output")
        parts.append(as_samples(out.detach().cpu(), pixel_range, "generator output"))
    return torch.cat(parts)


def module_device(G: Callable[[torch.Tensor], torch.Tensor]) -> torch.device | None:
    """Where an ``nn.Module`` lives (its first parameter or buffer; CPU if it has neither), so that
    an in-memory generator is fed latents there and never moved; None for a plain callable."""
    if not isinstance(G, torch.nn.Module):
        return None
    for tensor in itertools.chain(G.parameters(), G.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def evaluating(G: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """An ``nn.Module`` in eval mode for the block (dropout off, batch-norm statistics neither used
    per batch nor updated), then every submodule's own mode back: scoring leaves a user's model
    as it found it."""
    if not isinstance(G, torch.nn.Module):
        yield
        return
    modes = [(m, m.training) for m in G.modules()]
    G.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def describe_generator(spec: str, latent: Latent, seed: int) -> dict[str, Any]:
    source: dict[str, Any] = {"kind": "generator", "generator": spec, "latent": str(latent), "seed": seed}
    path = Path(spec.rpartition(":")[0] or spec)
    if path.is_file():
        source["sha256"] = fileio.sha256_file(path)
    return source


def check_reference(real: Samples) -> None:
    if not real.images:
        raise DataError(f"{real.source.get('path')}: the reference set must be images (FID/IS/KID compare images)")
