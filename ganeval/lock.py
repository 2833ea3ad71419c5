"""One writer per bench or run folder: a lock file naming its holder, taken over when stale.

``.ganeval.lock`` holds the pid, host and start time of the process writing the folder. A second
bench on the same folder stops with an error naming that pid; a lock left by a process that no
longer exists (``kill -9``) is taken over with a warning. Creation is atomic (O_EXCL).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from pathlib import Path

from ganeval.errors import RunFolderError

log = logging.getLogger(__name__)
LOCK_NAME = ".ganeval.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


class FolderLock:
    """Context manager: ``with FolderLock(folder): ...``."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_NAME
        self.held = False

    def acquire(self) -> FolderLock:
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read(self.path)
                pid, host = holder.get("pid"), holder.get("host")
                if isinstance(pid, int) and host == me["host"] and pid != me["pid"] and not _alive(pid):
                    log.warning("taking over the stale lock of dead process %d (%s)", pid, self.path)
                    self.path.unlink(missing_ok=True)
                    continue
                if isinstance(pid, int) and host != me["host"]:
                    raise RunFolderError(f"{self.path.parent} is locked by pid {pid} on host {host} "
                                         f"(since {holder.get('started', '?')}); remove {self.path} if that run is gone")
                if not isinstance(pid, int):
                    raise RunFolderError(f"{self.path.parent} has an unreadable lock file {self.path}; remove it if no "
                                         "ganeval is running there")
                raise RunFolderError(f"{self.path.parent} is in use by another ganeval (pid {pid}, since "
                                     f"{holder.get('started', '?')}); wait for it or use another --out")
            except OSError as exc:
                raise RunFolderError(f"cannot write to {self.path.parent}: {exc.strerror or exc}") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self.held = True
            return self
        raise RunFolderError(f"could not take the lock {self.path}")  # pragma: no cover - a race lost twice

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
