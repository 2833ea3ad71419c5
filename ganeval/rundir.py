"""The run-folder contract: every file name, layout rule, reader and writer that the stages share.

Stages talk to each other only through these folders (training writes, evaluation reads and
writes, aggregation, report and check read), so this module is the one place that knows::

    BENCH/
      spec.toml  env.json  results.csv  report.md  figures/  .ganeval.lock  [study.csv]
      <benchmark>/<loss>[-<variant>]/seed-<k>/
         config.json  trace.csv  layers.json  events.json  samples.png  samples.pt  metrics.json
         checkpoints/step-<n>.pt (+ .sha256)   eval/step-<n>.json

Rules: every file is written atomically (:mod:`ganeval.fileio`); ``metrics.json`` is written
last, and a valid one with the run's current evaluation settings means the seed-run is complete;
one writer per bench or run folder (an OS lock that dies with its process).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import shutil
import socket
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ganeval import fileio, schema
from ganeval.errors import (
    DataError,
    IntegrityError,
    RunFolderError,
    SpecError,
    arg,
    given,
)
from ganeval.spec import IDENTITY, CellId, RunSpec, check_run_value, with_new_defaults

log = logging.getLogger(__name__)

# --- names ----------------------------------------------------------------------------------------
#: The benchmark name of a score against the user's own real images (``ganeval score --real``).
CUSTOM_BENCHMARK = "custom"
SPEC_FILE = "spec.toml"
ENV_FILE = "env.json"
RESULTS_FILE = "results.csv"
#: a study's statistics (a bench with a sweep or search), one row per benchmark x loss x variant
STUDY_FILE = "study.csv"
REPORT_FILE = "report.md"
FIGURES_DIR = "figures"
LOCK_FILE = ".ganeval.lock"
LOCK_OWNER_FILE = ".ganeval.lock.owner"

CONFIG_FILE = "config.json"
TRACE_FILE = "trace.csv"
EVENTS_FILE = "events.json"
LAYERS_FILE = "layers.json"
METRICS_FILE = "metrics.json"
SAMPLES_FIGURE = "samples.png"
SAMPLES_FILE = "samples.pt"
EVAL_DIR = "eval"
CHECKPOINT_DIR = "checkpoints"

RESULT_FORMAT = 1
_CHECKPOINT_NAME = re.compile(r"^step-(\d+)\.pt$")
_EVAL_NAME = re.compile(r"^step-(\d+)\.json$")


# --- where a cell's seed-runs live ------------------------------------------------------------
def run_dir(bench_dir: Path, cell: CellId, seed: int) -> Path:
    """``BENCH/<benchmark>/<cell>/seed-<k>``; each name is checked to be one plain path component
    (:func:`ganeval.fileio.safe_name`), so no name, from a flag or a file, leads outside ``BENCH``."""
    return seed_dir(fileio.safe_join(Path(bench_dir), cell.benchmark, cell.name, what="run name"), seed)


def seed_dir(cell_dir: Path, seed: int) -> Path:
    """Seed ``seed``'s folder in a cell's folder: the one place ``seed-<k>`` is spelled."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise RunFolderError(f"seed must be an integer in [0, 2^63), got {seed!r}")
    return Path(cell_dir) / f"seed-{seed}"


def find_run_dirs(bench_dir: Path) -> list[Path]:
    """Seed-run folders below a bench folder (``<benchmark>/<cell>/seed-<k>`` with a config); a
    folder whose name is not a plain UTF-8 name (see :func:`ganeval.fileio.name_problem`) is left
    out with a warning: ganeval never wrote it, and its name could not be printed or tabulated."""
    found = []
    for p in sorted(Path(bench_dir).glob(f"*/*/seed-*/{CONFIG_FILE}")):
        parts = p.parent.relative_to(Path(bench_dir)).parts
        if any(fileio.name_problem(part) for part in parts):
            log.warning("%s: a folder name that ganeval does not write; left out", ascii(str(p.parent)))
            continue
        found.append(p.parent)
    return found


def check_bench_dir(bench_dir: Path) -> Path:
    bench_dir = Path(bench_dir)
    if not bench_dir.is_dir():
        raise RunFolderError(f"bench folder not found: {bench_dir}")
    if not (bench_dir / SPEC_FILE).is_file() and not find_run_dirs(bench_dir):
        raise RunFolderError(f"{bench_dir} is not a ganeval bench folder (no {SPEC_FILE}, no run folders)")
    return bench_dir


def enclosing_bench(run_dir: Path) -> Path | None:
    """The bench folder (one with a ``spec.toml``) that ``run_dir`` lies in, if any: a writer of the
    run folder must hold that bench's lock too."""
    for parent in Path(run_dir).resolve().parents:
        if (parent / SPEC_FILE).is_file():
            return parent
    return None


def is_trace_folder(folder: Path) -> bool:
    """A folder with a trace of its own (a seed-run, or a user's GANTracer output); a trace that is
    not a regular file counts, so that its reader can say what it is instead of a vaguer error."""
    return os.path.lexists(Path(folder) / TRACE_FILE) and not (Path(folder) / TRACE_FILE).is_dir()


def trace_path(run_dir: Path) -> Path:
    return Path(run_dir) / TRACE_FILE


def events_path(run_dir: Path) -> Path:
    return Path(run_dir) / EVENTS_FILE


def samples_figure_path(run_dir: Path) -> Path:
    return Path(run_dir) / SAMPLES_FIGURE


def figure_path(report_dir: Path, name: str) -> tuple[Path, str]:
    """(file, link relative to the report) of a report figure called ``name`` (a plain file name:
    a benchmark name read from a file never places a figure outside ``figures/``)."""
    rel = f"{FIGURES_DIR}/{fileio.safe_name(name + '.png', 'figure name')}"
    return Path(report_dir) / rel, rel


# --- what an output (-o, --out) may not land on ---------------------------------------------------
#: Files a bench folder holds because the bench wrote them (never the target of an output).
BENCH_OWN_FILES = (SPEC_FILE, ENV_FILE, RESULTS_FILE, LOCK_FILE, LOCK_OWNER_FILE)
#: The first characters of every markdown report ganeval writes (bench, comparison, trace).
REPORT_HEADING = "# ganeval "


def is_run_folder(folder: Path) -> bool:
    """A seed-run folder: one holding a ganeval ``config.json`` or ``metrics.json`` (a JSON table
    naming a benchmark and a loss, as every run's and every score's does). Another program's
    ``config.json`` (a model's, a project's) does not make its folder a run folder."""
    for name in (CONFIG_FILE, METRICS_FILE):
        path = Path(folder) / name
        if not path.is_file():
            continue
        try:
            doc = fileio.read_json(path)
        except (OSError, ValueError, DataError):
            continue
        if isinstance(doc, dict) and "benchmark" in doc and "loss" in doc:
            return True
    return False


def enclosing_run(path: Path) -> Path | None:
    """The seed-run folder ``path`` is (an existing folder) or lies in, if any."""
    for folder in (Path(path).absolute(), *Path(path).absolute().parents):
        if folder.is_dir() and is_run_folder(folder):
            return folder
    return None


def refuse_inside_run(folder: Path, what: str, allow_run: bool = False) -> None:
    """An output folder (``--out``) must not lie inside a seed-run folder, nor be one (unless
    ``allow_run``: ``train --out`` names the run folder itself): a run's folder holds that run's
    files only, and a report or check reading it must find nothing else there."""
    folder = Path(folder)
    run = enclosing_run(folder)
    if run is not None and not (allow_run and run == folder.absolute()):
        raise RunFolderError(f"{what} {folder}: {'is' if run == folder.absolute() else 'lies inside'} the run "
                             f"folder {run}, which holds that run's files only; choose a folder outside it")


def _same_path(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _head(path: Path, size: int = 4096) -> str:
    fd = fileio.open_regular(path, "a report")
    with os.fdopen(fd, "rb") as fh:
        return fh.read(size).decode("utf-8", errors="replace")


def check_output(path: Path, what: str = "-o", default: Path | None = None,
                 replaceable: Any = None, kind: str = "report") -> Path:
    """A file a command is about to write (``report -o``, ``baseline init -o``), checked before any
    work. Refused: a folder, FIFO, device or read-only file (:func:`ganeval.fileio.check_output_file`);
    a path inside a seed-run folder (but the command's own ``default`` output); a bench's own file
    (``spec.toml``, ``results.csv``, ...) in a bench folder; and an existing file that
    ``replaceable(first 4 KiB of its text)`` does not recognise as an earlier output of the same
    kind (``replaceable`` None: any existing file is refused)."""
    path = fileio.check_output_file(Path(path))
    if default is None or not _same_path(path, default):
        run = enclosing_run(path.parent)
        if run is not None:
            raise RunFolderError(f"{what} {path}: lies inside the run folder {run}, which holds that run's files "
                                 "only; write it outside")
        if path.name in BENCH_OWN_FILES and (path.parent / SPEC_FILE).is_file():
            raise RunFolderError(f"{what} {path}: {path.name} is a file of the bench {path.parent}; choose another "
                                 "name")
    if os.path.lexists(path):
        try:
            head = _head(path)
        except (OSError, DataError):
            head = None
        if head is None or replaceable is None or not replaceable(head):
            raise RunFolderError(f"{what} {path} exists and is not a {kind} ganeval wrote; nothing else is replaced: "
                                 "remove it or choose another file")
    return path


def is_report(head: str) -> bool:
    """Whether a file beginning with ``head`` is a markdown report ganeval wrote."""
    return head.startswith(REPORT_HEADING)


def ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".ganeval-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunFolderError(f"cannot write to {folder}: {exc.strerror or exc}") from None


def clear_run(run_dir: Path) -> None:
    """Remove everything a seed-run wrote (``--no-resume``): it is trained from scratch."""
    run_dir = Path(run_dir)
    for name in (CHECKPOINT_DIR, EVAL_DIR):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in (METRICS_FILE, TRACE_FILE, EVENTS_FILE, LAYERS_FILE, SAMPLES_FIGURE, SAMPLES_FILE,
                 fileio.sidecar(Path(SAMPLES_FILE)).name, CONFIG_FILE):
        (run_dir / name).unlink(missing_ok=True)


@contextmanager
def new_folder_unless_valid(folder: Path, allow_run: bool = False) -> Iterator[None]:
    """Create ``folder`` (checked writable, and not inside a seed-run folder: see
    :func:`refuse_inside_run`) for a command that validates its input inside the block; if the
    folder is new and the block fails before writing anything but the lock, remove it again: a
    command that fails validation leaves nothing behind."""
    folder = Path(folder)
    refuse_inside_run(folder, arg("out"), allow_run)
    created = not folder.exists()
    ensure_writable(folder)
    try:
        yield
    except BaseException:
        if created and folder.is_dir() and not any(p.name not in (LOCK_FILE, LOCK_OWNER_FILE) for p in folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
        raise


def writable_target(folder: Path) -> Path:
    """Check, creating nothing, that ``folder`` can be created or written: the nearest part of it
    that exists must be a writable folder. A command checks this before its work, and creates the
    folder only when it has something to write (a refusal leaves nothing behind)."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise RunFolderError(f"cannot write to {folder}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot write to {folder}: {probe} is not writable")
    return folder


def finished_run_problem(run_dir: Path) -> str | None:
    """Why nothing may be filed into ``run_dir`` (it holds another run's files), or None."""
    for name in (METRICS_FILE, CONFIG_FILE):
        if (Path(run_dir) / name).exists():
            return (f"{run_dir} already holds a {'finished' if name == METRICS_FILE else 'started'} run "
                    f"({name}); nothing that a run wrote is replaced: choose another {arg('name')}, {arg('seed')} or "
                    f"{arg('out')}, "
                    "or remove that folder first")
    return None


@contextmanager
def writing(*folders: Path) -> Iterator[None]:
    """Hold every lock a writer of ``folders`` needs for the block: that of the bench each lies in
    (a parent with ``spec.toml``: no bench may write it meanwhile) and its own, each once; then remove
    the temporary files a killed writer left (``kill -9``). The folders must exist."""
    wanted: dict[Path, None] = {}
    for folder in folders:
        bench = enclosing_bench(folder)
        if bench is not None:
            wanted[bench] = None
        wanted[Path(folder).resolve()] = None
    with contextlib.ExitStack() as locks:
        for folder in wanted:
            locks.enter_context(folder_lock(folder))
        for folder in folders:
            clean_stray_temp(folder)
        yield


def check_new_run(out_dir: Path, cell: CellId, seed: int) -> Path:
    """What :func:`new_run` will check, checked now and creating nothing, so a command refuses before
    its work: the names are plain, ``out_dir`` can be written, the seed-run folder holds no run, and
    no other ganeval (a bench) holds ``out_dir``. Returns the seed-run folder."""
    target = run_dir(out_dir, cell, seed)
    refuse_inside_run(out_dir, arg("out"))
    writable_target(out_dir)
    found = finished_run_problem(target)
    if found:
        raise RunFolderError(found)
    if Path(out_dir).is_dir():
        with writing(out_dir):  # taken again when the score is filed
            pass
    return target


@contextmanager
def new_run(out_dir: Path, cell: CellId, seed: int) -> Iterator[Path]:
    """A new seed-run folder ``OUT/<benchmark>/<cell>/seed-<k>`` to write into, under the locks of
    ``OUT`` (and of a bench it lies in): refused if the folder already holds a run's files (nothing a
    finished run wrote is replaced). If the block fails (a full disk), every file and folder it
    created is removed again, so a refusal never leaves a ``config.json`` without ``metrics.json``."""
    out_dir = Path(out_dir)
    target = run_dir(out_dir, cell, seed)
    found = finished_run_problem(target)
    if found:
        raise RunFolderError(found)
    with new_folder_unless_valid(out_dir), writing(out_dir):
        found = finished_run_problem(target)  # again, now that no one else can write
        if found:
            raise RunFolderError(found)
        created = [p for p in (target, *target.parents) if not p.exists() and out_dir in p.parents]
        before = set(target.iterdir()) if target.is_dir() else set()
        try:
            target.mkdir(parents=True, exist_ok=True)
            yield target
        except BaseException:
            for path in set(target.iterdir()) - before if target.is_dir() else ():
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            for path in sorted(created, key=lambda p: len(p.parts), reverse=True):
                try:
                    path.rmdir()
                except OSError:
                    pass
            raise


def clean_stray_temp(folder: Path) -> int:
    """Remove the temporary files a killed writer left below ``folder`` (``.<name>.*.tmp``, never a
    finished file); call it holding the folder's lock. Returns how many were removed."""
    removed = 0
    for path in Path(folder).rglob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


# --- one writer per folder ------------------------------------------------------------------------
@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for the block: a second ganeval on the same folder is refused with
    the holder's pid. The lock is the OS's (``filelock``), so it dies with its process: a bench
    killed with ``kill -9`` leaves a lock file that blocks nothing."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    lock = FileLock(str(folder / LOCK_FILE))
    owner = folder / LOCK_OWNER_FILE
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _read_dict(owner)
        where = f" on host {holder['host']}" if holder.get("host") not in (None, socket.gethostname()) else ""
        raise RunFolderError(f"{folder} is in use by another ganeval (pid {holder.get('pid', '?')}{where}, since "
                             f"{holder.get('started', '?')}); wait for it or use another {arg('out')}") from None
    except OSError as exc:
        raise RunFolderError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    try:
        import datetime as dt

        fileio.write_json(owner, {"pid": os.getpid(), "host": socket.gethostname(),
                                  "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
        yield
    finally:
        owner.unlink(missing_ok=True)
        # Unlinked while still held, so nothing is left behind: a contender that opened the old file
        # sees it unlinked once it gets the lock and starts over (filelock checks st_nlink).
        Path(lock.lock_file).unlink(missing_ok=True)
        lock.release()


# --- bench-level files ----------------------------------------------------------------------------
def write_spec(bench_dir: Path, toml_text: str) -> None:
    """``spec.toml``, refused (SpecError) unless it reads back as a spec: ``bench --spec`` re-runs it,
    ``report`` and ``check`` read it, so ganeval never writes one they would refuse."""
    from ganeval.spec import spec_from_dict

    path = Path(bench_dir) / SPEC_FILE
    written = toml_text.encode("utf-8", errors="backslashreplace").decode("utf-8")  # as write_text writes it
    try:
        spec_from_dict(fileio.loads_toml(written, str(path)), str(path), names=False)
    except (tomllib.TOMLDecodeError, SpecError) as exc:
        raise SpecError(f"refusing to write {path}: it would not read back ({exc})") from None
    fileio.write_text(path, toml_text)


def read_spec(bench_dir: Path) -> dict[str, Any]:
    """The resolved spec as a plain dict (empty if missing or unreadable: the report still renders)."""
    doc, warning = read_spec_checked(bench_dir)
    if warning:
        log.warning("%s", warning)
    return doc


def spec_warning(bench_dir: Path) -> str | None:
    """The one line to show about a bench's ``spec.toml`` (the plugins it names, which are not
    loaded; a spec left out), or None: commands that read only the run folders still say why names
    are data."""
    return read_spec_checked(bench_dir)[1]


def read_spec_checked(bench_dir: Path) -> tuple[dict[str, Any], str | None]:
    """(the resolved spec as a plain dict, one line saying what is wrong with it or None).

    A folder's files never run code: the plugins the spec names are never imported here. When this
    process has not loaded them (with ``--plugin``, as the recorded code), the spec is read with its
    loss and benchmark names taken as written (names are data), and the line names the plugins."""
    from ganeval.errors import GanevalError
    from ganeval.plugins import describe_refs, not_loaded, spec_refs
    from ganeval.spec import spec_from_dict

    path = Path(bench_dir) / SPEC_FILE
    try:
        doc = fileio.loads_toml(fileio.read_text(path, what="a spec file"), str(path))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}, None
    warning, names = None, True
    try:
        missing = not_loaded(spec_refs(doc, path))
    except GanevalError as exc:
        return {}, f"{exc}; the report leaves the spec out"
    if missing:
        warning, names = (f"{path} names plugin(s) {describe_refs(missing)}, not run: a folder's files never run "
                          f"code (load the recorded code yourself with {arg('plugins')}); names are read from the bench's "
                          "files"), False
    try:
        spec_from_dict(dict(doc), str(path), names=names)  # the same checks as a spec file given to bench
    except (GanevalError, TypeError, ValueError, AttributeError) as exc:
        return {}, f"{path}: {exc}; the report leaves the spec out"
    return doc, warning


def spec_data(bench_dir: Path) -> dict[str, Any]:
    """The ``spec.toml`` a bench folder holds, as data (nothing it names is imported, nothing
    validated): what a re-run compares its plugins with. {} when there is none or it is unreadable."""
    path = Path(bench_dir) / SPEC_FILE
    try:
        return fileio.loads_toml(fileio.read_text(path, what="a spec file"), str(path))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError):
        return {}


def check_plugins_unchanged(bench_dir: Path, now: dict[str, str], resume: bool) -> None:
    """A re-run into ``bench_dir`` must train with the code that trained what is there: a plugin whose
    hash differs from the one the bench's ``spec.toml`` recorded is refused (one line, both hashes),
    unless ``resume`` is off (``--no-resume`` retrains every seed-run, so the hash written next
    describes all of them). ``now``: ``{plugin: sha256}`` of the plugins loaded for this run."""
    from ganeval.plugins import recorded_changes

    changed = recorded_changes(spec_data(bench_dir), now) if resume else []
    if changed:
        ref, then, new = changed[0]
        raise RunFolderError(f"{bench_dir} was trained with plugin {ref} of sha256 {then}; that file now has sha256 "
                             f"{new}: restore it, train into another {arg('out')}, or pass {given('resume', False)} to retrain the "
                             "bench with the new code")


def write_env(bench_dir: Path, env: dict[str, Any]) -> None:
    fileio.write_json(Path(bench_dir) / ENV_FILE, env)


def read_env(bench_dir: Path) -> dict[str, Any]:
    """``env.json``; a field of the wrong type is dropped with a warning (the report still renders)."""
    env = _read_dict(Path(bench_dir) / ENV_FILE)
    for name, (types, _) in schema.ENV.items():
        problem = schema.value_problem(name, env[name], types) if name in env else None
        if problem:
            log.warning("%s: %s; ignored", Path(bench_dir) / ENV_FILE, problem)
            env.pop(name)
    return env


def write_results(bench_dir: Path, frame) -> Path:
    """``results.csv``: one row per complete seed-run (the frame of :func:`ganeval.results.collect`)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g")
    path = Path(bench_dir) / RESULTS_FILE
    fileio.write_text(path, buf.getvalue())
    return path


def _read_dict(path: Path) -> dict[str, Any]:
    try:
        doc = fileio.read_json(path)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


# --- config.json ----------------------------------------------------------------------------------
def write_config(run_dir: Path, run: RunSpec, seed: int) -> None:
    fileio.write_json(Path(run_dir) / CONFIG_FILE, {**run.to_dict(), "seed": seed})


def write_score_config(run_dir: Path, doc: dict[str, Any]) -> None:
    """The ``config.json`` of a scored (not trained) seed-run: what was scored against what. It marks
    the folder as a run for reports and checks; :func:`read_config` refuses it (no training spec)."""
    fileio.write_json(Path(run_dir) / CONFIG_FILE, doc)


def read_config(run_dir: Path) -> tuple[RunSpec, int]:
    """The RunSpec and seed of a run folder, from its ``config.json``."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        doc = fileio.read_json(path)
    except FileNotFoundError:
        raise RunFolderError(f"{run_dir} is not a ganeval run folder (no {CONFIG_FILE})") from None
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: unreadable ({exc})") from None
    if isinstance(doc, dict) and not schema.fits(doc.get("seed"), (int,)):
        raise RunFolderError(f"{path}: {schema.value_problem('seed', doc.get('seed'), (int,))}")
    if isinstance(doc, dict) and "scored_by" in doc:
        raise RunFolderError(f"{run_dir} holds scored samples (ganeval score), not a trained run: nothing to re-evaluate")
    try:
        seed = doc.pop("seed")
        run = RunSpec.of(doc)
        for key in doc:
            if key not in IDENTITY:
                check_run_value(key, getattr(run, key), str(path))
        if not isinstance(run.swept, list) or any(not isinstance(k, str) or k not in doc for k in run.swept):
            raise SpecError(f"{path}: 'swept' must list settings of this config, got {run.swept!r}")
    except SpecError as exc:
        raise RunFolderError(f"{exc} (a plugin's setting? load the plugin that declares it with {arg('plugins')})") from None
    except (TypeError, KeyError, AttributeError) as exc:
        raise RunFolderError(f"{path}: not a ganeval run config ({exc})") from None
    return run, int(seed)


def read_raw_config(run_dir: Path) -> dict[str, Any] | None:
    """``config.json`` as written, None if there is none, {} if it cannot be read."""
    try:
        return fileio.read_json(Path(run_dir) / CONFIG_FILE)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


# --- metrics.json and eval/step-<n>.json ----------------------------------------------------------
def result_problem(doc: Any) -> str | None:
    """Why ``doc`` is not a metrics document ganeval can use, or None."""
    found = schema.problem(doc, schema.RESULT)
    if found is None and doc["format"] != RESULT_FORMAT:
        found = f"format {doc['format']} (this ganeval reads {RESULT_FORMAT})"
    for key in ("benchmark", "loss", "variant"):  # they become folder and figure names
        if found is None and fileio.name_problem(doc[key]):
            found = f"{key!r} {ascii(doc[key])[:60]} {fileio.name_problem(doc[key])}"
    if found is None and "setting" in doc:
        found = schema.items_problem("setting", doc["setting"], schema.SETTING_VALUE)
    return found or schema.items_problem("metrics", doc["metrics"], (*schema.NUMBER, schema.NONE))


def _valid_result(doc: Any, eval_config: dict[str, Any] | None) -> bool:
    return result_problem(doc) is None and (eval_config is None or doc.get("eval_config") == eval_config)


def unreadable_runs(bench_dir: Path) -> list[tuple[Path, str]]:
    """(run folder, why) of every seed-run below ``bench_dir`` whose ``metrics.json`` cannot be used."""
    return [(r, why) for r in find_run_dirs(bench_dir) if (why := unreadable_metrics(r))]


def require_readable(bench_dir: Path) -> None:
    """Refuse a bench with an unreadable ``metrics.json``, or a seed-run without one (its cell failed,
    or it has not finished): a RunFolderError naming the first. A check or a baseline computed
    without some seeds would pass or pin what it never read."""
    missing = [r for r in find_run_dirs(bench_dir) if not os.path.lexists(r / METRICS_FILE)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise RunFolderError(f"{missing[0]} has no {METRICS_FILE} (its cell failed or has not finished){more}; a "
                             "check or baseline needs every seed-run: re-run the bench to finish it")
    bad = unreadable_runs(bench_dir)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise RunFolderError(f"{bad[0][0] / METRICS_FILE} is unreadable ({bad[0][1]}){more}; a check or baseline "
                             "needs every seed-run: re-run the bench (or ganeval eval) to rewrite it")


def unreadable_metrics(run_dir: Path) -> str | None:
    """Why the run's ``metrics.json`` exists but cannot be used (a wrong type, a missing field), or
    None when it is fine or absent: such a seed-run is reported as unreadable, never guessed at."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return None
    try:
        doc = fileio.read_json(path)
    except (OSError, ValueError) as exc:
        return f"not JSON ({exc})"
    return result_problem(doc)


def read_metrics(run_dir: Path, eval_config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The run's final metrics, or None if the run is not complete, the file is bad, or (given
    ``eval_config``) the metrics were computed under other evaluation settings."""
    try:
        doc = fileio.read_json(Path(run_dir) / METRICS_FILE)
    except (OSError, ValueError):
        return None
    return doc if _valid_result(doc, eval_config) else None


def is_complete(run_dir: Path, eval_config: dict[str, Any] | None = None) -> bool:
    return read_metrics(run_dir, eval_config) is not None


def write_metrics(run_dir: Path, doc: dict[str, Any]) -> None:
    """The completion mark: call it after every other file of the run is in place."""
    fileio.write_json(Path(run_dir) / METRICS_FILE, doc)


def write_eval(run_dir: Path, step: int, doc: dict[str, Any]) -> None:
    """An evaluation of a checkpoint on the way (never poses as the final result)."""
    fileio.write_json(Path(run_dir) / EVAL_DIR / f"step-{step}.json", doc)


def read_evals(run_dir: Path, eval_config: dict[str, Any] | None) -> list[tuple[int, dict[str, float]]]:
    """(step, metrics) of the run's checkpoint evaluations made with ``eval_config``, by step."""
    folder = Path(run_dir) / EVAL_DIR
    out = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not _EVAL_NAME.match(path.name):
            continue
        try:
            doc = fileio.read_json(path)
        except (OSError, ValueError):
            continue
        if _valid_result(doc, eval_config) and isinstance(doc.get("step"), int):
            out.append((doc["step"], {k: (math.nan if v is None else v) for k, v in doc["metrics"].items()}))
    return sorted(out)


# --- events.json ----------------------------------------------------------------------------------
def write_events(run_dir: Path, thresholds: dict[str, Any], events: list[dict[str, Any]],
                 transients: list[dict[str, Any]] | None = None) -> None:
    """``events.json``: the thresholds, the events and (when given) the start-up transients that
    the detectors set aside (see :mod:`ganeval.diagnostics.events`)."""
    doc = {"thresholds": thresholds, "events": events}
    if transients is not None:
        doc["transients"] = transients
    fileio.write_json(events_path(run_dir), doc)


def read_transients(run_dir: Path) -> list[dict[str, Any]]:
    """The start-up transients of ``events.json`` (none when missing or malformed)."""
    found = _read_dict(events_path(run_dir)).get("transients")
    if not isinstance(found, list) or any(schema.problem(e, schema.EVENT) for e in found):
        return []
    return found


def read_events(run_dir: Path) -> list[dict[str, Any]] | None:
    """The run's events, or None when ``events.json`` is missing or not an events document."""
    doc = _read_dict(events_path(run_dir))
    events = doc.get("events")
    if not isinstance(events, list):
        return None
    for i, event in enumerate(events):
        found = schema.problem(event, schema.EVENT)
        if found:
            log.warning("%s: event %d: %s; events are re-detected from the trace", events_path(run_dir), i, found)
            return None
    return events


# --- layers.json ----------------------------------------------------------------------------------
def write_layers(run_dir: Path, doc: dict[str, Any]) -> None:
    """``{"D": [[layer, type name], ...], "G": [...]}`` in model order: the layers that the trace's
    per-layer columns (``d_grad_norm.<layer>``, ``g_grad_norm.<layer>``, ``d_sigma.<layer>``) name."""
    fileio.write_json(Path(run_dir) / LAYERS_FILE, doc)


def read_layers(run_dir: Path) -> dict[str, Any]:
    """The run's ``layers.json``; {} when it is missing, unreadable or not a layers document
    (figures then fall back to the column order)."""
    doc = _read_dict(Path(run_dir) / LAYERS_FILE)
    return doc if layers_problem(doc) is None else {}


def layers_problem(doc: Any) -> str | None:
    """Why ``doc`` is not a ``layers.json`` document (see :func:`write_layers`), or None."""
    if not isinstance(doc, dict) or not set(doc) <= {"D", "G"}:
        return "not a table of the D and G layer lists"
    for net, layers in doc.items():
        if not isinstance(layers, list) or not all(
                isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, str) for x in entry)
                for entry in layers):
            return f"{net!r} must be a list of [layer, type] pairs of strings"
    return None


# --- samples.pt: what the report draws, so it never regenerates samples ---------------------------
def write_samples(run_dir: Path, samples: torch.Tensor) -> None:
    """A few generated samples (``[n, *data_shape]``, as the benchmark keeps them) for figures."""
    fileio.save_tensors(Path(run_dir) / SAMPLES_FILE, {"samples": samples.detach().cpu().contiguous()})


def read_samples(run_dir: Path) -> torch.Tensor | None:
    path = Path(run_dir) / SAMPLES_FILE
    if not path.is_file():
        return None
    try:
        doc = fileio.load_tensors(path)
    except IntegrityError as exc:
        log.warning("%s", exc)
        return None
    samples = doc.get("samples") if isinstance(doc, dict) else None
    return samples if isinstance(samples, torch.Tensor) else None


# --- checkpoints/step-<n>.pt ----------------------------------------------------------------------
# A checkpoint holds everything the next step depends on: G and D weights, both optimiser states,
# the step and the elapsed time. No RNG state is needed: ganeval's random streams are counter-based,
# so the step is the data stream's position. Files load with ``weights_only=True`` only, after their
# SHA-256 sidecar is checked.
CHECKPOINT_FORMAT = 1


def save_checkpoint(run_dir: Path, step: int, payload: dict[str, Any]) -> Path:
    path = checkpoint_path(run_dir, step)
    fileio.save_tensors(path, {"format": CHECKPOINT_FORMAT, "step": step, **payload})
    return path


def load_checkpoint(run_dir: Path, step: int, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load and verify one checkpoint; a config mismatch is a RunFolderError (never resumed)."""
    path = checkpoint_path(run_dir, step)
    payload = fileio.load_tensors(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or payload.get("step") != step:
        raise IntegrityError(f"{path}: not a ganeval checkpoint of step {step}")
    found = schema.problem(payload, schema.CHECKPOINT)
    if found:
        raise IntegrityError(f"{path}: {found}")
    if config is not None and with_new_defaults(payload.get("config") or {}) != with_new_defaults(config):
        raise RunFolderError(f"{path} was written by a run with a different configuration; "
                             f"use another output folder or {given('resume', False)}")
    return payload


def latest_checkpoint(run_dir: Path, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The newest checkpoint that verifies, falling back past corrupt ones; None if there is none."""
    for step in reversed(checkpoint_steps(run_dir)):
        try:
            return load_checkpoint(run_dir, step, config)
        except IntegrityError as exc:
            log.warning("skipping corrupt checkpoint: %s", exc)
    return None


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step-{step}.pt"


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps that have a checkpoint file, ascending (validity is checked on load)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _CHECKPOINT_NAME.match(p.name)))


def resume_files(run_dir: Path, step: int | None) -> dict[str, bytes]:
    """What a seed-run needs to resume elsewhere (a Ray worker): its small files and the checkpoint
    of ``step`` (none when None), as ``{path relative to run_dir: bytes}``."""
    run_dir = Path(run_dir)
    wanted = [run_dir / CONFIG_FILE, run_dir / TRACE_FILE, run_dir / METRICS_FILE]
    folder = run_dir / EVAL_DIR
    wanted += sorted(folder.iterdir()) if folder.is_dir() else []
    if step is not None:
        ckpt = checkpoint_path(run_dir, step)
        wanted += [ckpt, fileio.sidecar(ckpt)]
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in wanted if p.is_file()}


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` as ``{relative path: bytes}`` (hidden lock and temporary files excluded)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    """Write files atomically below ``root``; each seed-run's ``metrics.json`` (its completion mark) last."""
    for rel in sorted(files, key=lambda rel: (Path(rel).name == METRICS_FILE, rel)):
        fileio.write_bytes(Path(root) / rel, files[rel])
