"""The embedded Milvus Lite engine: started (or shared) per file, released by the last user,
and the filter dialect its version speaks.

Either engine serves ``uri="./x.db"``, whichever milvus-lite is installed: 2.5 (the C++ engine,
``pip install "milvus-rag[lite25]"``; the ``.db`` is a file) or 3.x (the pure-Python engine
that langchain-milvus 0.4 requires; the ``.db`` is a folder). A ``.db`` written by one engine
cannot be opened by the other (:func:`engine_mismatch`).

Example:
    >>> engine_mismatch("/no/such.db", 3) is None
    True
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import tempfile
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from milvus_rag.client import lite_lock
from milvus_rag.client.errors import BackendUnavailableError
from milvus_rag.client.filters import Dialect
from milvus_rag.client.lite_file import LiteFileDamagedError, lite_file_damage, lite_file_problem

_lite_lock = threading.Lock()
_lite_refs: dict[str, int] = {}


def engine_mismatch(path: str, major: int) -> str | None:
    """Why the engine of milvus-lite ``major`` cannot open ``path``, or None when it can
    (a missing path is created by either)."""
    p = Path(path)
    if major >= 3 and p.is_file():
        return (
            f"{path!r} is a Milvus Lite 2.5 file, and the installed milvus-lite is {major}.x, "
            "whose files are folders. Install the 2.5 engine (pip install "
            "'milvus-rag[lite25]', not possible beside langchain-milvus 0.4), or copy the data "
            "across: `milvus-rag export` where milvus-lite 2.5 is installed, `milvus-rag import` "
            "here"
        )
    if major < 3 and p.is_dir():
        return (
            f"{path!r} is a Milvus Lite 3 folder, and the installed milvus-lite is 2.x. Install "
            "milvus-lite 3 (pip install 'milvus-lite>=3.1,<4'), or copy the data across: "
            "`milvus-rag export` where milvus-lite 3 is installed, `milvus-rag import` here"
        )
    return None


def acquire(path: str) -> None:
    """Start (or share) the Milvus Lite engine for ``path``; blocking, run in a thread."""
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise BackendUnavailableError(
            "a Milvus Lite file needs the milvus-lite package: pip install 'milvus-rag[lite25]' "
            "(the C++ engine) or pip install 'milvus-lite>=3.1,<4'",
            operation="connect",
        ) from e
    why = engine_mismatch(path, lite_major())
    if why is not None:
        raise LiteEngineMismatchError(why, operation="connect")
    problem = lite_file_problem(path) if lite_major() < 3 else None
    if problem is not None:  # checked before an engine logs a page about it
        raise LiteFileDamagedError(f"the Milvus Lite file {path!r} {problem}", operation="connect")
    with _lite_lock:
        servers = getattr(server_manager_instance, "_servers", {})
        # in this process, pymilvus itself (e.g. langchain-milvus) may run the engine already
        running = str(Path(path).resolve()) in servers or os.path.abspath(path) in servers
        lite_lock.acquire(path, engine_running=running)  # one process per file
        try:
            uri = _start(server_manager_instance, path)
        except BaseException:
            lite_lock.release(path)
            raise
        if uri is None:
            lite_lock.release(path)
            raise BackendUnavailableError(
                f"could not open the Milvus Lite file {path!r}: is another process using it? "
                "(Milvus Lite allows one process per file)",
                operation="connect",
            )
        _lite_refs[path] = _lite_refs.get(path, 0) + 1


def _start(manager: Any, path: str) -> str | None:
    """The engine's address, started if this process runs none for ``path`` yet (registered
    where pymilvus looks, so a ``MilvusClient`` on the same path in this process shares it).

    The 2.5 engine gets a private ``HOME``: each engine process empties and recreates
    ``$HOME/.cache/milvus`` when it sets up its mmap manager, so two engines starting at once
    under one ``HOME`` (two worker processes, each with its own file) race, and the loser
    refuses every collection with "Mmap manager has not been init" until restarted (measured,
    12 engines started together: 2 refused collections, 5 never took a connection; with
    private homes all 12 worked). The engine keeps nothing there (mmap is off for every
    field); the folder is removed when it stops."""
    if lite_major() >= 3:
        uri: str | None = manager.start_and_get_uri(path)
        return uri
    key = str(Path(path).absolute().resolve())
    with manager._lock:
        if key not in manager._servers:
            server = _private_home_server(key)
            if not server.init() or not server.start():
                said = server.engine_said()
                server.stop()
                damage = lite_file_damage(path)
                if damage is not None:
                    raise LiteFileDamagedError(
                        f"the Milvus Lite file {path!r} {damage}", operation="connect"
                    )
                if said and "opened by another program" not in said:
                    raise BackendUnavailableError(
                        f"the Milvus Lite engine could not open {path!r}: {said}",
                        operation="connect",
                    )
                return None
            manager._servers[key] = server
        return str(manager._servers[key].uds_path)


def _private_home_server(path: str) -> Any:
    """A milvus-lite 2.5 ``Server`` for ``path`` whose engine process runs with its own
    ``HOME`` (see :func:`_start`), its output in ``HOME/engine.log`` (never the terminal: a
    failure is reported as one error, with what the engine said)."""
    from milvus_lite.server import Server

    class PrivateHomeServer(Server):  # type: ignore[misc]
        home: str | None = None
        held = False  # this object holds the file's engine lock

        def start(self) -> bool:
            # milvus-lite 2.5.1's Server.start, with HOME added to the engine's environment
            fd = open(self._lock_path, "a")  # noqa: SIM115 - held while the engine runs
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another program's engine runs on this file
                fd.close()
                return False
            self._lock_fd, self.held = fd, True
            self.home = tempfile.mkdtemp(prefix="milvus-rag-lite-")
            env = {k: v for k, v in os.environ.items() if k not in _LIB_PATHS}
            libs = f"{self._bin_path}:{os.environ.get('LD_LIBRARY_PATH', '')}"
            env.update({name: libs for name in _LIB_PATHS}, HOME=self.home)
            with open(os.path.join(self.home, "engine.log"), "ab") as log:
                self._p = subprocess.Popen(
                    args=self.args, env=env, cwd=str(self._work_dir), stdout=log, stderr=log
                )
            try:
                self._p.wait(0.5)  # an engine that exits at once did not start
            except subprocess.TimeoutExpired:
                return True
            return False

        def engine_said(self) -> str:
            """The engine's last error (``errs: ...`` of its log), or its last line."""
            if self.home is None:
                return ""
            try:
                with open(os.path.join(self.home, "engine.log"), "rb") as f:
                    lines = f.read()[-8192:].decode("utf-8", "replace").splitlines()
            except OSError:
                return ""
            errs = [line.split("errs:", 1)[1].strip() for line in lines if "errs:" in line]
            last = errs[-1] if errs else (lines[-1].strip() if lines else "")
            return last[:200]

        def stop(self) -> None:
            try:
                if self.held:  # (the base class also unlinks the lock file: only if ours)
                    self.held = False
                    super().stop()
            finally:
                if self.home is not None:
                    shutil.rmtree(self.home, ignore_errors=True)
                    self.home = None

    return PrivateHomeServer(path)


_LIB_PATHS = ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")


def release(path: str) -> None:
    """Drop one reference; the last one stops the engine and frees the file's lock."""
    with _lite_lock:
        n = _lite_refs.get(path, 0) - 1
        if n > 0:
            _lite_refs[path] = n
            lite_lock.release(path)
            return
        _lite_refs.pop(path, None)
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)
        finally:
            lite_lock.release(path)  # after the engine stopped


class LiteEngineMismatchError(BackendUnavailableError):
    """The ``.db`` was written by the other Milvus Lite engine (not retried)."""

    retryable = False


@functools.cache
def lite_major() -> int:
    """The major version of the installed milvus-lite (2 when it cannot be read)."""
    try:
        return int(metadata.version("milvus-lite").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):  # pragma: no cover
        return 2


def lite_dialect() -> Dialect:
    """The dialect of the installed milvus-lite: 2.x is the embedded C++ engine (LITE25);
    3.x is a full engine in this process that speaks a server's dialect (NOT, exists,
    partition keys)."""
    return Dialect.LITE25 if lite_major() < 3 else Dialect.MILVUS
