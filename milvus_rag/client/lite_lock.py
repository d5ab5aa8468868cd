"""One process per Milvus Lite file, enforced before the engine touches the file.

Milvus Lite 2.5 allows one process per ``.db`` file, but does not enforce it: a second
process logs "the file has been opened by another program", and its failed engine object
then deletes the first process's lock file on garbage collection, so a retry starts a second
engine on the same file; both write, each blind to the other's rows. (And the store's
insert-for-new-ids optimisation assumes one writer per file.)

So milvus-rag takes its own OS lock first: an exclusive ``flock`` on ``.<name>.milvus_rag.lock``
next to the file (created once, never deleted: deleting a lock file is what breaks milvus-lite's
own), held from the first store that opens the file in this process until the last one closes
it, and released by the kernel if the process dies. It also checks milvus-lite's own lock (a
program using pymilvus directly): Lite 2.5's ``.<name>.lock`` beside the file, or Lite 3's
``LOCK`` inside its ``.db`` folder (Lite 3 enforces that one itself, but its error names
neither the holder nor the way out). A second process gets :class:`LiteFileInUseError` (a
:class:`BackendUnavailableError`) naming the file, the holder and the way out, and nothing of it
reaches the file.

Example:
    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "x.db")
    >>> acquire(db); acquire(db)  # re-entrant within a process
    >>> release(db); release(db)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from collections.abc import Callable
from typing import Any

from milvus_rag.client.errors import BackendUnavailableError

_guard = threading.Lock()
_held: dict[str, tuple[int, int]] = {}  # real path -> (fd, references)


class LiteFileInUseError(BackendUnavailableError):
    """Another process has the Milvus Lite file open (not retried: it holds it until it ends)."""

    retryable = False


def lock_path(db_path: str) -> str:
    """The lock file of ``db_path``: ``.<name>.milvus_rag.lock`` in the same folder."""
    folder, name = os.path.split(os.path.realpath(db_path))
    return os.path.join(folder, f".{name}.milvus_rag.lock")


def _engine_lock_path(db_path: str) -> str:
    folder, name = os.path.split(os.path.realpath(db_path))
    return os.path.join(folder, f".{name}.lock")


def _lite3_lock_path(db_path: str) -> str:
    """Milvus Lite 3's own lock: its ``.db`` is a folder holding ``LOCK`` (flock)."""
    return os.path.join(os.path.realpath(db_path), "LOCK")


def _in_use(db_path: str, holder: str) -> LiteFileInUseError:
    return LiteFileInUseError(
        f"the Milvus Lite file {os.path.realpath(db_path)!r} is in use by {holder}: a Lite file "
        "serves one process at a time. Close the other process, or share the data through a "
        "Milvus server (e.g. `python -m milvus_lite server` from milvus-lite 3, or Milvus "
        "standalone) and connect every process with uri='http://HOST:19530'",
        operation="connect",
    )


def _engine_locked_elsewhere(db_path: str) -> bool:
    """Whether another process holds milvus-lite's own lock: Lite 2.5's ``.<name>.lock``
    beside the file (lockf), or Lite 3's ``<name>/LOCK`` inside its folder (flock)."""
    return _probe(_engine_lock_path(db_path), fcntl.lockf) or _probe(
        _lite3_lock_path(db_path), fcntl.flock
    )


def _probe(path: str, lock: Callable[[int, int], Any]) -> bool:
    """Whether ``path`` exists and is locked by someone else (``lock``: lockf or flock)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        lock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)  # also drops the probe's lock
    return False


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        pid = ""
    return f"another process (pid {pid})" if pid.isdigit() else "another process"


def acquire(db_path: str, *, engine_running: bool = False) -> None:
    """Hold the file's lock for this process (re-entrant: count references).

    ``engine_running``: this process already runs an engine on the file (skip the check of
    milvus-lite's own lock, which this process then holds). Raises
    :class:`LiteFileInUseError` when another process has the file.
    """
    key = os.path.realpath(db_path)
    with _guard:
        if key in _held:
            fd, n = _held[key]
            _held[key] = (fd, n + 1)
            return
        fd = os.open(lock_path(key), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise _in_use(key, holder) from None
        try:
            if not engine_running and _engine_locked_elsewhere(key):
                raise _in_use(key, "another program (milvus-lite's own lock is held)")
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        _held[key] = (fd, 1)


def release(db_path: str) -> None:
    """Drop one reference; the last one unlocks (the lock file stays, by design)."""
    key = os.path.realpath(db_path)
    with _guard:
        if key not in _held:
            return
        fd, n = _held[key]
        if n > 1:
            _held[key] = (fd, n - 1)
            return
        del _held[key]
        with contextlib.suppress(OSError):  # a read-only folder
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def held() -> list[str]:
    """The files this process holds (for tests and diagnostics)."""
    with _guard:
        return sorted(_held)
