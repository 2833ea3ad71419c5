"""Loading user code that registers losses, stabilizers, models, benchmarks, optimizers, executors.

One loader serves every way a plugin arrives: ``--plugin PATH.py|module.name`` on any command, a
spec's ``plugins = [...]`` (paths relative to the spec file), and the ``ganeval.plugins``
entry-point group of installed packages (loaded once per process, before any name is resolved).
A plugin is ordinary Python that calls ``ganeval.register_*`` at import; see the README's "Bring
your own loss, model or benchmark" and ``examples/plugins/``.

A bench records every plugin it loaded (path or module, and the SHA-256 of its file) in its
resolved ``spec.toml``, so ``ganeval bench --spec BENCH/spec.toml`` re-runs it as is, and refuses
a plugin whose file has changed since. Ray workers get the plugin sources with each task
(:func:`shipped` / :func:`load_shipped`), so no shared file system is needed.
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
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganeval.errors import GanevalError
from ganeval.usercode import UserCodeError, user_code

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ganeval.plugins"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class PluginError(GanevalError):
    """A plugin cannot be found, imported, or registers something invalid."""


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin: ``ref`` is a file's absolute path or a module's name; ``sha256`` is that of
    the file it was loaded from ("" where there is none)."""

    ref: str
    kind: str  # "file", "module" or "entry-point"
    sha256: str = ""


_loaded: dict[str, Plugin] = {}  # by file hash (files) or by name (modules, entry points)
_entry_points_loaded = False


def is_file_ref(ref: str) -> bool:
    return ref.endswith(".py") or "/" in ref or "\\" in ref


@contextlib.contextmanager
def _user_code(what: str):
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


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_plugin(ref: str, base: Path | None = None) -> Plugin:
    """Import one plugin (a ``.py`` file, relative to ``base`` if given, or a module name), once."""
    if not isinstance(ref, str) or not ref.strip():
        raise PluginError(f"a plugin must be a .py file or a module name, got {ref!r}")
    ref = ref.strip()
    if is_file_ref(ref):
        return _load_file(Path(base, ref) if base is not None and not Path(ref).is_absolute() else Path(ref))
    if not _MODULE_NAME.match(ref):
        raise PluginError(f"plugin {ref!r} is neither a .py file nor a module name")
    if ref in _loaded:
        return _loaded[ref]
    with _user_code(f"module {ref}"):
        module = importlib.import_module(ref)
    file = getattr(module, "__file__", None)
    plugin = Plugin(ref, "module", _file_sha(Path(file)) if file and Path(file).is_file() else "")
    _loaded[ref] = plugin
    return plugin


def _load_file(path: Path, source: bytes | None = None) -> Plugin:
    path = path.expanduser().absolute()
    if source is None:
        if not path.exists():
            raise PluginError(f"plugin file not found: {path}")
        if not path.is_file():
            raise PluginError(f"plugin {path} is not a regular file")
        try:
            source = path.read_bytes()
        except OSError as exc:
            raise PluginError(f"plugin {path}: cannot read it ({exc.strerror or exc})") from None
    digest = hashlib.sha256(source).hexdigest()
    if digest in _loaded:  # the same code, from here or another copy: its entries are registered
        return Plugin(str(path), "file", digest)
    name = f"ganeval_plugin_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}_{digest[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin {path}: cannot be imported (is it a Python file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _user_code(str(path)):
            code = compile(source, str(path), "exec")
            exec(code, module.__dict__)  # noqa: S102 - the user's own plugin, which they asked to load
    except PluginError:
        sys.modules.pop(name, None)
        raise
    plugin = Plugin(str(path), "file", digest)
    _loaded[digest] = plugin
    return plugin


def load_plugins(refs: list[str] | tuple[str, ...], base: Path | None = None) -> list[Plugin]:
    load_entry_points()
    return [load_plugin(r, base) for r in refs]


def load_entry_points() -> list[Plugin]:
    """Every installed package's ``ganeval.plugins`` entry point, once per process. An entry point
    names a module (importing it registers) or a callable (called with no arguments)."""
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
        plugin = Plugin(f"{ep.name} = {ep.value}", "entry-point")
        _loaded[f"entry-point {plugin.ref}"] = plugin
        out.append(plugin)
    return out


def loaded_plugins() -> list[Plugin]:
    return list(_loaded.values())


def check_recorded(ref: str, recorded_sha: str, where: str) -> None:
    """A plugin a spec recorded must still be the same code (a re-run must not train other code
    into the same folders)."""
    path = Path(ref)
    if not is_file_ref(ref) or not recorded_sha or not path.is_file():
        return
    now = _file_sha(path)
    if now != recorded_sha:
        raise PluginError(f"{where}: plugin {ref} has changed since the bench recorded it (sha256 "
                          f"{recorded_sha[:12]}… then, {now[:12]}… now); restore it, or run a new bench with --plugin")


# --- plugins on other machines (Ray workers) ------------------------------------------------------
def shipped(refs: list[str], benchmarks: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """What a worker needs to load ``refs`` (files: their source travels with the task), and the
    mixtures among ``benchmarks`` that are data (a spec's ``[benchmark.NAME.mixture]``, or a
    ``GaussianMixture`` registered in the driver): their tables travel too."""
    from ganeval.benchmarks.base import MIXTURES

    out = []
    for ref in refs:
        if is_file_ref(ref):
            out.append({"ref": ref, "kind": "file", "source": Path(ref).read_bytes()})
        else:
            out.append({"ref": ref, "kind": "module"})
    out += [{"ref": name, "kind": "mixture", "table": MIXTURES[name].to_table()} for name in benchmarks
            if name in MIXTURES]
    return out


def load_shipped(items: list[dict[str, Any]]) -> None:
    """In a worker: load the plugins a driver shipped (entry points too, from the worker's packages)."""
    load_entry_points()
    for item in items:
        if item["kind"] == "module":
            load_plugin(item["ref"])
            continue
        if item["kind"] == "mixture":
            from ganeval.benchmarks.mog import register_mixture_table

            register_mixture_table(item["ref"], item["table"], f"mixture {item['ref']} shipped by the driver")
            continue
        digest = hashlib.sha256(item["source"]).hexdigest()
        if digest in _loaded:
            continue
        with tempfile.TemporaryDirectory(prefix="ganeval-plugin-") as tmp:
            copy = Path(tmp) / Path(item["ref"]).name
            copy.write_bytes(item["source"])
            _load_file(copy, item["source"])
