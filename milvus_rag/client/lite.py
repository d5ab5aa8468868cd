"""The embedded Milvus Lite engine: started (or shared) per file, released by the last user,
and the filter dialect its version speaks."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from milvus_rag.client import lite_lock
from milvus_rag.client.errors import BackendUnavailableError
from milvus_rag.client.filters import Dialect

_lite_lock = threading.Lock()
_lite_refs: dict[str, int] = {}


def acquire(path: str) -> None:
    """Start (or share) the Milvus Lite engine for ``path``; blocking, run in a thread."""
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise BackendUnavailableError(
            "a Milvus Lite file needs the milvus-lite package: pip install 'milvus-lite<3'",
            operation="connect",
        ) from e
    with _lite_lock:
        running = str(Path(path).resolve()) in getattr(server_manager_instance, "_servers", {})
        lite_lock.acquire(path, engine_running=running)  # one process per file
        try:
            uri = server_manager_instance.start_and_get_uri(path)
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


@functools.cache
def lite_dialect() -> Dialect:
    """The dialect of the installed milvus-lite: 2.x is the embedded C++ engine (LITE25)."""
    try:
        import milvus_lite

        major = int(str(getattr(milvus_lite, "__version__", "2")).split(".")[0] or 2)
    except (ImportError, ValueError):  # pragma: no cover
        major = 2
    return Dialect.LITE25 if major < 3 else Dialect.MILVUS
