"""Loading user code that registers losses, stabilizers, models, benchmarks, optimizers, executors.

One loader serves every way a plugin arrives: ``--plugin PATH.py|module.name`` on any command, a
spec's ``plugins = [...]`` (paths relative to the spec file), and the ``ganeval.plugins``
entry-point group of installed packages (loaded once per process, before any name is resolved).
A plugin is ordinary Python that calls ``ganeval.register_*`` at import; see the README's "Bring
your own loss, model or benchmark" and ``examples/plugins/``.

Who decides that code runs: only the user. ``--plugin`` (or ``plugins=`` in the API) names code to
run; a file that ganeval *reads* never does. A bench's ``spec.toml`` records every plugin it loaded
(path or module, and the SHA-256 of the bytes that ran); commands that read a folder (``report``,
``check``, ``baseline``, ``eval``, ``score``) treat those names as data and never import them, and
``bench --spec FILE`` imports a spec's plugins only with ``--load-spec-plugins``. Whenever a
recorded hash is known, it is compared with the bytes about to run *before* they run, and those
same bytes are what is executed (never a second read of the file), so a changed plugin is refused
without any of its code having run.

Ray workers get the exact bytes the driver ran, with their hash (:func:`shipped` /
:func:`load_shipped`), so no shared file system is needed and a worker never runs other code than
the driver; a module plugin is re-imported there only if its file has the driver's hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import re
import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganeval.errors import DataError, GanevalError, arg
from ganeval.usercode import UserCodeError, user_code

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ganeval.plugins"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
#: The largest plugin file ganeval reads (a plugin is source code, not data).
MAX_PLUGIN_BYTES = 16 << 20


class PluginError(GanevalError):
    """A plugin cannot be found, imported, or registers something invalid, or is not the code a
    bench recorded."""


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin: ``ref`` is a file's absolute path or a module's name; ``sha256`` is that of
    the bytes that ran ("" where there is no source file)."""

    ref: str
    kind: str  # "file", "module" or "entry-point"
    sha256: str = ""
    version: str = ""  # an entry point's package and version ("my-package 1.2")


_loaded: dict[str, Plugin] = {}  # by file hash (files) or by name (modules, entry points)
_by_ref: dict[str, Plugin] = {}  # every file path and module name loaded in this process
_sources: dict[str, bytes] = {}  # the bytes that ran, by their hash (shipped to Ray workers)
_entry_points_loaded = False


def is_file_ref(ref: str) -> bool:
    return ref.endswith(".py") or "/" in ref or "\\" in ref


@contextlib.contextmanager
def _user_code(what: str) -> Iterator[None]:
    """Run a plugin's import as user code (:func:`ganeval.usercode.user_code`): its prints go to
    stderr (never into ganeval's --json output), and any exception or sys.exit is one line naming
    the plugin; a ganeval error its registrations raise is named the same way."""
    try:
        with user_code(f"plugin {what}"):
            yield
    except UserCodeError:
        raise
    except GanevalError as exc:
        raise PluginError(f"plugin {what}: {exc}") from None


def as_refs(plugins: Any, what: str = "plugins") -> list[str]:
    """``plugins`` as a list of references: one ``str``/``Path`` is one plugin (never its
    characters), a list or tuple of them several; anything else is a PluginError."""
    if plugins is None:
        return []
    if isinstance(plugins, (str, Path)):
        plugins = [plugins]
    if not isinstance(plugins, (list, tuple)) or not all(isinstance(p, (str, Path)) for p in plugins):
        raise PluginError(f"{what} must be a .py file or module name, or a list of them, got {plugins!r:.100}")
    return [str(p) for p in plugins]


def _file_path(ref: str, base: Path | None) -> Path:
    path = Path(ref).expanduser()
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    path = path.absolute()
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # it could not be recorded in spec.toml, nor read back from it
        raise PluginError(f"plugin path {ascii(str(path))} is not valid UTF-8; rename the file") from None
    return path


def _mismatch(where: str, what: str, recorded: str, now: str) -> PluginError:
    return PluginError(f"{where}plugin {what} is not the code the bench recorded (sha256 {recorded} then, "
                       f"{now} now); none of it was run: restore that file, or train a new bench with {arg('plugins')}")


def load_plugin(ref: str | Path, base: Path | None = None, *, expected_sha256: str = "", where: str = "") -> Plugin:
    """Import one plugin (a ``.py`` file, relative to ``base`` if given, or a module name), once per
    process. ``expected_sha256``: the hash a bench recorded; other bytes are refused before any of
    them runs. ``where`` prefixes messages (the spec file that named the plugin)."""
    if isinstance(ref, Path):
        ref = str(ref)
    if not isinstance(ref, str) or not ref.strip():
        raise PluginError(f"a plugin must be a .py file or a module name, got {ref!r}")
    ref = ref.strip()
    where = f"{where}: " if where else ""
    if is_file_ref(ref):
        return _load_file(_file_path(ref, base), expected_sha256, where)
    if not _MODULE_NAME.match(ref):
        raise PluginError(f"{where}plugin {ref!r} is neither a .py file nor a module name")
    return _load_module(ref, expected_sha256, where)


def _load_file(path: Path, expected: str, where: str) -> Plugin:
    from ganeval import fileio

    key = str(path)
    if key in _by_ref:  # loaded already: the bytes that ran are what counts, not the file now
        plugin = _by_ref[key]
        if expected and plugin.sha256 != expected:
            raise _mismatch(where, str(path), expected, plugin.sha256)
        return plugin
    try:
        source = fileio.read_bytes(path, MAX_PLUGIN_BYTES, "a plugin")
    except FileNotFoundError:
        raise PluginError(f"{where}plugin file not found: {path}") from None
    except IsADirectoryError:
        raise PluginError(f"{where}plugin {path} is not a regular file") from None
    except DataError as exc:
        raise PluginError(f"{where}plugin {exc}") from None
    except OSError as exc:
        raise PluginError(f"{where}plugin {path}: cannot read it ({exc.strerror or exc})") from None
    digest = hashlib.sha256(source).hexdigest()
    if expected and digest != expected:
        raise _mismatch(where, str(path), expected, digest)
    plugin = Plugin(key, "file", digest)
    if digest not in _loaded:  # the same code from another copy is registered already
        _exec_source(path, source, digest)
        _loaded[digest] = plugin
    _by_ref[key] = plugin
    return plugin


def _exec_source(path: Path, source: bytes, digest: str) -> None:
    """Run ``source`` (the bytes whose hash is ``digest``) as the module of the plugin file ``path``."""
    name = f"ganeval_plugin_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}_{digest[:12]}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        with _user_code(str(path)):
            exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - code the user asked to run
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _sources[digest] = source


def _load_module(ref: str, expected: str, where: str) -> Plugin:
    """A module plugin: imported by name; its own source file is hashed first and exactly those
    bytes are executed (its parent packages are imported as usual), so with ``expected`` other
    code is refused before it runs."""
    if ref in _by_ref:
        plugin = _by_ref[ref]
        if expected and plugin.sha256 != expected:
            raise _mismatch(where, f"module {ref}", expected, plugin.sha256 or "none (no source file)")
        return plugin
    imported = ref in sys.modules  # a standard module, ganeval itself: its code ran already
    if imported:
        spec = getattr(sys.modules[ref], "__spec__", None)
    else:
        with _user_code(f"module {ref}"):
            spec = importlib.util.find_spec(ref)  # imports the parent packages, not the module itself
        if spec is None:
            raise PluginError(f"{where}plugin module {ref!r} not found (is it installed, or on PYTHONPATH?)")
    try:
        source = _module_source(spec)
    except (OSError, DataError) as exc:
        raise PluginError(f"{where}plugin module {ref}: cannot read {spec.origin} ({exc})") from None
    digest = hashlib.sha256(source).hexdigest() if source is not None else ""
    if expected and digest != expected:
        raise _mismatch(where, f"module {ref}", expected, digest or "none (no source file)")
    if not imported:
        with _user_code(f"module {ref}"):
            if source is not None:
                _exec_module(ref, spec, source)
            else:
                importlib.import_module(ref)
    plugin = Plugin(ref, "module", digest)
    if source is not None:
        _sources[digest] = source
    _loaded[ref] = _by_ref[ref] = plugin
    return plugin


def _module_source(spec) -> bytes | None:
    """The source bytes a module spec would execute (a ``.py`` file), or None (an extension module,
    a namespace package)."""
    from ganeval import fileio

    origin = getattr(spec, "origin", None)
    if not origin or not str(origin).endswith(".py") or not Path(origin).is_file():
        return None
    return fileio.read_bytes(Path(origin), MAX_PLUGIN_BYTES, "a plugin")


def _exec_module(ref: str, spec, source: bytes) -> types.ModuleType:
    """Import ``ref`` from ``spec`` by executing ``source`` (as the import system would, but from
    the bytes that were hashed)."""
    module = importlib.util.module_from_spec(spec)
    sys.modules[ref] = module
    try:
        exec(compile(source, spec.origin, "exec"), module.__dict__)  # noqa: S102 - code the user asked to run
    except BaseException:
        sys.modules.pop(ref, None)
        raise
    parent, _, child = ref.rpartition(".")
    if parent and parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


def load_plugins(refs: Any, base: Path | None = None) -> list[Plugin]:
    """The installed entry points, then every plugin of ``refs`` (see :func:`as_refs`)."""
    refs = as_refs(refs)
    load_entry_points()
    return [load_plugin(r, base) for r in refs]


def load_entry_points() -> list[Plugin]:
    """Every installed package's ``ganeval.plugins`` entry point, once per process. An entry point
    names a module (importing it registers) or a callable (called with no arguments). Installed
    packages are the user's own environment, like ganeval itself: loading them needs no flag."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return [p for p in _loaded.values() if p.kind == "entry-point"]
    _entry_points_loaded = True
    out = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        what = f"entry point {ep.name} = {ep.value}" + (f" (package {ep.dist.name})" if ep.dist else "")
        with _user_code(what):
            obj = ep.load()
            if callable(obj) and not isinstance(obj, type(sys)):
                obj()
        version = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ""
        plugin = Plugin(f"{ep.name} = {ep.value}", "entry-point", version=version)
        _loaded[f"entry-point {plugin.ref}"] = plugin
        out.append(plugin)
    return out


def loaded_plugins() -> list[Plugin]:
    return list(_loaded.values())


def loaded(ref: str) -> Plugin | None:
    """The plugin loaded in this process from ``ref`` (an absolute path or a module name), if any."""
    return _by_ref.get(ref)


# --- what a folder's spec.toml names: data, never imported ----------------------------------------
def spec_refs(doc: dict[str, Any], spec_path: Path) -> list[tuple[str, str]]:
    """(reference, recorded SHA-256 or "") of each plugin a spec document names, file paths made
    absolute against the spec's folder, as :func:`load_plugin` would resolve them; nothing is read
    or run. A PluginError when ``plugins`` / ``plugin_sha256`` are not what a spec holds."""
    refs = doc.get("plugins", [])
    if isinstance(refs, str):
        refs = [refs]
    if not isinstance(refs, list) or not all(isinstance(r, str) and r.strip() for r in refs):
        raise PluginError(f"{spec_path}: 'plugins' must be a list of .py files or module names, got {refs!r:.100}")
    recorded = doc.get("plugin_sha256", {})
    if not isinstance(recorded, dict) or not all(isinstance(v, str) for v in recorded.values()):
        raise PluginError(f"{spec_path}: 'plugin_sha256' must be a table of file hashes")
    out = []
    for ref in refs:
        ref = ref.strip()
        resolved = str(_file_path(ref, Path(spec_path).parent)) if is_file_ref(ref) else ref
        if not is_file_ref(ref) and not _MODULE_NAME.match(ref):
            raise PluginError(f"{spec_path}: plugin {ref!r} is neither a .py file nor a module name")
        out.append((resolved, recorded.get(ref) or recorded.get(resolved, "")))
    return out


def describe_refs(refs: Sequence[tuple[str, str]]) -> str:
    """``a.py (sha256 1234abcd…), my.module``: plugins named in one line (one loaded here with other
    code says both hashes)."""
    def one(ref: str, sha: str) -> str:
        here = _by_ref.get(ref)
        if here is not None and sha and here.sha256 != sha:
            return f"{ref} (recorded sha256 {sha[:12]}…, loaded here {here.sha256[:12] or 'none'}…)"
        return ref + (f" (sha256 {sha[:12]}…)" if sha else "")

    return ", ".join(one(ref, sha) for ref, sha in refs)


def not_loaded(refs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of ``refs`` that this process has not loaded as the recorded code (never loaded, or
    loaded with another hash)."""
    return [(ref, sha) for ref, sha in refs
            if (p := _by_ref.get(ref)) is None or (sha and p.sha256 and p.sha256 != sha)]


def recorded_changes(old: dict[str, Any], new: dict[str, str]) -> list[tuple[str, str, str]]:
    """(plugin, recorded hash, hash now) for each plugin whose recorded hash in the spec document
    ``old`` (a bench folder's ``spec.toml``, as data) differs from its hash in ``new``
    (``{ref: sha256}`` of the plugins loaded now)."""
    recorded = old.get("plugin_sha256") if isinstance(old, dict) else None
    if not isinstance(recorded, dict):
        return []
    return [(ref, sha, new[ref]) for ref, sha in recorded.items()
            if isinstance(sha, str) and sha and new.get(ref) and new[ref] != sha]


# --- plugins on other machines (Ray workers) ------------------------------------------------------
def shipped(refs: Sequence[str], benchmarks: Sequence[str] = ()) -> list[dict[str, Any]]:
    """What a worker needs to load ``refs``, each loaded in this process: a file's bytes that ran
    here and their hash; a module's name and hash; the installed entry points (name, package
    version), which the worker must have alike; and the mixtures among ``benchmarks`` that are data
    (a spec's ``[benchmark.NAME.mixture]``, or a ``GaussianMixture`` registered in the driver)."""
    from ganeval.benchmarks.base import MIXTURES

    out = []
    for ref in refs:
        plugin = _by_ref.get(ref)
        if plugin is None:
            raise PluginError(f"plugin {ref} is not loaded in this process; nothing to send to the workers")
        item: dict[str, Any] = {"ref": ref, "kind": plugin.kind, "sha256": plugin.sha256}
        if plugin.kind == "file":
            item["source"] = _sources[plugin.sha256]
        out.append(item)
    out += [{"ref": p.ref, "kind": "entry-point", "version": p.version} for p in load_entry_points()]
    out += [{"ref": name, "kind": "mixture", "table": MIXTURES[name].to_table()} for name in benchmarks
            if name in MIXTURES]
    return out


def load_shipped(items: list[dict[str, Any]]) -> None:
    """In a worker: load what a driver shipped, refusing anything that is not the driver's code
    (a module or an installed entry point of another version here)."""
    here = {p.ref: p.version for p in load_entry_points()}
    for item in items:
        if item["kind"] == "entry-point":
            if here.get(item["ref"]) != item["version"]:
                now = f"{here[item['ref']] or 'an unknown version'}" if item["ref"] in here else "not installed"
                raise PluginError(f"entry point {item['ref']} ({item['version'] or 'unknown version'} on the driver) "
                                  f"is {now} on this worker; install the same package on every node")
        elif item["kind"] == "mixture":
            from ganeval.benchmarks.mog import register_mixture_table

            register_mixture_table(item["ref"], item["table"], f"mixture {item['ref']} shipped by the driver")
        elif item["kind"] == "module":
            load_plugin(item["ref"], expected_sha256=item["sha256"], where="on this worker")
        else:
            source = item["source"]
            digest = hashlib.sha256(source).hexdigest()
            if digest != item["sha256"]:
                raise PluginError(f"plugin {item['ref']} arrived damaged (sha256 {digest}, sent {item['sha256']})")
            path = Path(item["ref"])
            if digest not in _loaded:
                _exec_source(path, source, digest)
                _loaded[digest] = Plugin(str(path), "file", digest)
            _by_ref.setdefault(str(path), _loaded[digest])
