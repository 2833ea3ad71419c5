"""Atomic files: every file ganeval writes goes to a temporary name, is fsynced, then renamed.

A reader therefore sees either the old complete file or the new complete file, never a torn one,
and a run killed at any moment leaves nothing half-written under a final name.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import torch

from ganeval.errors import IntegrityError, RunFolderError, StorageError


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600


#: errno values that mean the disk, not the path, refused the write
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    mode = _FILE_MODE
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        pass
    else:
        if path.is_file() and not mode & 0o222:  # even root: a file made read-only is not to be replaced
            raise RunFolderError(f"{path} is read-only; make it writable (chmod u+w) to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RunFolderError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # a replaced file keeps its mode
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:  # one line; the old file is untouched
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}; the previous version is kept, "
                               "free space and re-run to resume") from None
        if isinstance(exc, OSError):  # e.g. the path names a folder
            raise RunFolderError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    _fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_safe(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null so every reader can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, obj: Any) -> None:
    text = json.dumps(json_safe(obj), indent=2, sort_keys=False, default=_json_default)
    write_text(path, text + "\n")


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar(path: Path) -> Path:
    return Path(str(path) + ".sha256")


def save_tensors(path: Path, obj: Any) -> str:
    """Save a state dict atomically with a ``.sha256`` sidecar; returns the digest.

    The payload is written first and the sidecar last, so a sidecar always describes a complete
    payload; a payload without a valid sidecar is treated as unfinished by :func:`load_tensors`.
    """
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    digest = sha256_bytes(data)
    write_bytes(path, data)
    write_text(sidecar(path), f"{digest}  {Path(path).name}\n")
    return digest


def load_tensors(path: Path, expected_sha256: str | None = None, map_location: Any = "cpu") -> Any:
    """Load a file written by :func:`save_tensors` after checking its hash; ``weights_only`` always.

    Raises :class:`IntegrityError` when the sidecar is missing or the content does not match, and
    when the file holds anything but tensors and plain containers (a pickle with code is refused).
    """
    path = Path(path)
    if expected_sha256 is None:
        try:
            expected_sha256 = sidecar(path).read_text().split()[0]
        except (OSError, IndexError):
            raise IntegrityError(f"{path}: no checksum sidecar ({sidecar(path).name})") from None
    data = _read_for_load(path)
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise IntegrityError(f"{path}: SHA-256 mismatch (expected {expected_sha256[:12]}…, got {actual[:12]}…)")
    return _parse_tensors(path, data, map_location)


def load_user_tensors(path: Path, map_location: Any = "cpu") -> tuple[Any, str]:
    """Tensors from a file with no recorded hash (weights a user points at), read once and parsed with
    ``weights_only``; returns (object, its SHA-256). Same refusals as :func:`load_tensors`."""
    path = Path(path)
    data = _read_for_load(path)
    return _parse_tensors(path, data, map_location), sha256_bytes(data)


def _read_for_load(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _parse_tensors(path: Path, data: bytes, map_location: Any) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError/RuntimeError for unsafe or corrupt payloads
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IntegrityError(f"{path}: refused to load (only tensors are accepted): {first}") from None


def ganeval_home() -> Path:
    """``$GANEVAL_HOME``, else ``$XDG_CACHE_HOME/ganeval``, else ``~/.cache/ganeval``."""
    if os.environ.get("GANEVAL_HOME"):
        return Path(os.environ["GANEVAL_HOME"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ganeval"
