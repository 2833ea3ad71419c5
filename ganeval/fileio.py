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

from ganeval.errors import DataError, IntegrityError, RunFolderError, StorageError


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
    """UTF-8 text; a path that is not UTF-8 (Python holds its bytes as surrogates) is written as
    ``\\udcff`` escapes, so every file ganeval writes is valid UTF-8."""
    write_bytes(path, text.encode("utf-8", errors="backslashreplace"))


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
    """``obj`` as JSON (NaN and infinity as null), refused with a DataError naming the value if
    :func:`read_json` would refuse it back (a number beyond :data:`MAX_NUMBER`, an integer outside
    int64, nesting deeper than :data:`MAX_DEPTH`): ganeval never writes what it cannot read."""
    doc = json_safe(obj)
    text = json.dumps(doc, indent=2, sort_keys=False, default=_json_default)
    try:
        loads_json(text, str(path))
    except ValueError as exc:
        raise DataError(f"refusing to write {path}: {exc}; ganeval would not read it back") from None
    write_text(path, text + "\n")


# --- reading: regular files only, bounded ----------------------------------------------------------
#: The most bytes a reader takes from one document (JSON, TOML, CSV, a sidecar); tensors and images
#: have their own checks. A bigger file is refused, never read into memory.
MAX_DOCUMENT_BYTES = 256 << 20
#: The deepest nesting of tables and lists any document may have (ganeval writes at most 4).
MAX_DEPTH = 32
#: The largest magnitude of a number read from a document: beyond it a square or a sum of squares
#: (a standard deviation, a t-test) would overflow a float. Integers stay within int64.
MAX_NUMBER = 1e150
_INT64 = 2**63


def open_regular(path: Path, what: str = "") -> int:
    """A read-only file descriptor of ``path``, which must be (or link to) a regular file.

    Opened non-blocking, so a FIFO is refused at once instead of waiting for a writer, and checked
    with ``fstat`` on the opened file (no race between the check and the read): a FIFO, a device
    (``/dev/zero``), a socket or a symlink to one is a :class:`DataError`, one line. A missing file
    is ``FileNotFoundError`` and other OS failures ``OSError``, as from :func:`open`.
    """
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise DataError(f"{path} is {kind}, not a regular file; ganeval reads {what or 'a file'} from "
                            "regular files only")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, limit: int | None = MAX_DOCUMENT_BYTES, what: str = "") -> bytes:
    """The bytes of a regular file (see :func:`open_regular`), at most ``limit`` of them (None: no
    limit): a bigger file is a :class:`DataError` before anything is read."""
    fd = open_regular(path, what)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if limit is not None and size > limit:
            raise DataError(f"{path}: {size:,} bytes, more than the {limit:,} ganeval reads from "
                            f"{what or 'such a file'}")
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:  # grew while we read it
        raise DataError(f"{path}: more than the {limit:,} bytes ganeval reads from {what or 'such a file'}")
    return data


def read_text(path: Path, limit: int | None = MAX_DOCUMENT_BYTES, what: str = "") -> str:
    """UTF-8 text of a regular, bounded file; bytes that are not UTF-8 raise ``UnicodeDecodeError``
    (a ``ValueError``, as a parse error is)."""
    return read_bytes(path, limit, what).decode("utf-8")


def check_depth(doc: Any, where: str = "document", max_depth: int = MAX_DEPTH) -> Any:
    """``doc`` unless its tables and lists nest deeper than ``max_depth`` (ValueError). Iterative, so a
    deep document cannot exhaust the stack here either."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth > max_depth:
                raise ValueError(f"{where} nests deeper than {max_depth} levels")
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return doc


def _bounded_float(text: str) -> float:
    value = float(text)
    if not abs(value) <= MAX_NUMBER:
        raise ValueError(f"number {text[:40]} is out of the range ganeval reads (|x| <= {MAX_NUMBER:g})")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not -_INT64 <= int(text) < _INT64:
        raise ValueError(f"integer {text[:40]}{'…' if len(text) > 40 else ''} is out of the 64-bit range")
    return int(text)


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number (ganeval writes null for NaN and infinity)")


def loads_json(text: str | bytes, where: str = "JSON") -> Any:
    """Strict JSON: numbers within :data:`MAX_NUMBER` and int64, no NaN/Infinity, nesting within
    :data:`MAX_DEPTH`. Every refusal is a ``ValueError`` (as ``json.loads``' own)."""
    try:
        doc = json.loads(text, parse_float=_bounded_float, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"{where} nests deeper than {MAX_DEPTH} levels") from None
    return check_depth(doc, where)


def read_json(path: Path, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """A JSON document from a regular, bounded file (see :func:`read_bytes`, :func:`loads_json`)."""
    return loads_json(read_bytes(path, limit, "a JSON document"), str(path))


def loads_toml(text: str, where: str = "TOML") -> dict[str, Any]:
    """TOML as :mod:`tomllib` parses it, with floats and nesting bounded as in :func:`loads_json`
    (``TOMLDecodeError`` for either, so callers have one exception to catch)."""
    import tomllib

    try:
        doc = tomllib.loads(text, parse_float=_bounded_float)
        return check_depth(doc, where)
    except RecursionError:
        raise tomllib.TOMLDecodeError(f"{where} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        if isinstance(exc, tomllib.TOMLDecodeError):
            raise
        raise tomllib.TOMLDecodeError(str(exc)) from None


# --- names that become paths ----------------------------------------------------------------------
_MAX_NAME = 200


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be one path component that ganeval creates (or None): it must be a
    non-empty string of printable UTF-8 characters, not ``.`` or ``..``, without ``/`` or ``\\``,
    not starting with ``.`` (hidden: lock and temporary files) or ``-``, and at most 200 long."""
    if not isinstance(name, str) or not name:
        return "is empty" if isinstance(name, str) else f"is not a string ({type(name).__name__})"
    if len(name) > _MAX_NAME:
        return f"is longer than {_MAX_NAME} characters"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if name.startswith((".", "-")):
        return f"starts with {name[0]!r}"
    if name != name.strip():
        return "starts or ends with white space"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if not name.isprintable():
        return "contains a control character"
    return None


def safe_name(name: Any, what: str = "name") -> str:
    """``name`` if it is one safe path component (see :func:`name_problem`), else a RunFolderError:
    no name from a flag or a file ever makes ganeval write outside the folder the user named."""
    found = name_problem(name)
    if found:
        shown = ascii(name) if isinstance(name, str) else repr(name)
        raise RunFolderError(f"{what} {shown[:60]} {found}: it must be one plain folder or file name")
    return name


def safe_join(root: Path, *names: str, what: str = "name") -> Path:
    """``root / name / ...`` with every name checked by :func:`safe_name`."""
    path = Path(root)
    for name in names:
        path = path / safe_name(name, what)
    return path


def check_output_file(path: Path) -> Path:
    """A file a command is about to write (``-o``): refused before any work if it names a folder, a
    FIFO or device, or a read-only file, so nothing (figures, a table) is written before refusing."""
    path = Path(path)
    if not str(path).strip():
        raise RunFolderError("the output must name a file")
    try:
        st = path.stat()
    except FileNotFoundError:
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent.exists() and not parent.is_dir():
            raise RunFolderError(f"cannot write {path}: {parent} is not a folder") from None
        return path
    except OSError as exc:
        raise RunFolderError(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise RunFolderError(f"cannot write {path}: Is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise RunFolderError(f"cannot write {path}: not a regular file (a FIFO or a device)")
    if not st.st_mode & 0o222:
        raise RunFolderError(f"{path} is read-only; make it writable (chmod u+w) to replace it")
    return path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as fh:
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
            expected_sha256 = read_bytes(sidecar(path), 4096, "a checksum sidecar").decode("ascii").split()[0]
        except (OSError, IndexError, DataError, UnicodeDecodeError):
            raise IntegrityError(f"{path}: no checksum sidecar ({sidecar(path).name}), or it is unreadable") from None
        if len(expected_sha256) != 64 or any(c not in "0123456789abcdef" for c in expected_sha256):
            raise IntegrityError(f"{path}: its checksum sidecar ({sidecar(path).name}) holds no SHA-256")
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
        return read_bytes(path, None, "a tensor file")
    except DataError as exc:
        raise IntegrityError(str(exc)) from None
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _parse_tensors(path: Path, data: bytes, map_location: Any) -> Any:
    import warnings

    try:
        with warnings.catch_warnings():  # e.g. "validating sparse tensor invariants": the loaded tensor is checked by its reader
            warnings.simplefilter("ignore", UserWarning)
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
