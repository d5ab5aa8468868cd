"""pymilvus compatibility workarounds, each with the reason it exists.

- Import: pymilvus parses ``MILVUS_URI`` at import and rejects a Milvus Lite file path there,
  which milvus-rag accepts (``ConnectionConfig.from_env``); this module is imported first by
  :mod:`milvus_rag.client`, before pymilvus, and hides such a value during that import.
- Warnings: milvus-lite 2.5's ``pkg_resources`` deprecation warning and tqdm's ``IProgress``
  warning in Jupyter say nothing about milvus-rag's use: filtered.
- Logs: pymilvus logs an ERROR when a Milvus Lite 3 server cannot answer the AllocTimestamp
  call used to wait for an index (the collection code polls instead), and when a backend
  refuses the ``english`` analyzer (the next analyzer is tried at once): both are noise.
- Warm-up: pymilvus imports scipy.sparse lazily on its first search or insert (about 0.3 s);
  :func:`warm_pymilvus` does it once in a worker thread so it never stalls an event loop.
- Loops: pymilvus keys its async connection manager by ``id(loop)``; a new loop can reuse the
  id of a closed one (``asyncio.run`` twice) and inherit its dead channels and lock
  (:func:`forget_stale_manager`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import warnings
import weakref

log = logging.getLogger("milvus_rag")


def _import_pymilvus_safely() -> None:
    uri = os.environ.get("MILVUS_URI", "")
    if uri and "://" not in uri and not uri.startswith("unix:"):
        del os.environ["MILVUS_URI"]
        try:
            import pymilvus  # noqa: F401
        finally:
            os.environ["MILVUS_URI"] = uri


_import_pymilvus_safely()

# milvus-lite 2.5 imports pkg_resources, whose deprecation warning reached every user of a
# Lite file; it says nothing about milvus-rag's use (quiet by default, issue 11).
warnings.filterwarnings(
    "ignore", message="pkg_resources is deprecated", category=UserWarning, module="milvus_lite"
)
# tqdm.auto (imported by transformers) in a Jupyter kernel without ipywidgets
warnings.filterwarnings("ignore", message="IProgress not found")


class _ExpectedErrorNoise(logging.Filter):
    """pymilvus logs every failed RPC at ERROR; two are expected and handled by the store:
    the index wait a Lite 3 server cannot answer, and a refused analyzer (a backend without
    ``english``: the collection is then created with the next one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "UNIMPLEMENTED" in msg and "index" in msg:
            return False
        return not ("create_collection" in msg and "unknown tokenizer type" in msg)


logging.getLogger("pymilvus.decorators").addFilter(_ExpectedErrorNoise())

_warm_lock = threading.Lock()
_warmed = False


def is_warm() -> bool:
    return _warmed


def warm_pymilvus() -> None:
    """Import what pymilvus's first search or insert would (blocking: run it in a thread)."""
    global _warmed
    with _warm_lock:
        if _warmed:
            return
        try:
            from pymilvus.client.utils import SciPyHelper

            SciPyHelper.is_spmatrix(None)
        except Exception:
            log.debug("pymilvus warm-up skipped", exc_info=True)
        _warmed = True


_seen_loops: dict[int, weakref.ref[asyncio.AbstractEventLoop]] = {}
_seen_lock = threading.Lock()


def forget_stale_manager(loop: asyncio.AbstractEventLoop) -> None:
    """Drop pymilvus's connection manager of a closed loop whose id ``loop`` reuses."""
    with _seen_lock:
        ref = _seen_loops.get(id(loop))
        if ref is not None and ref() is loop:
            return
        _seen_loops[id(loop)] = weakref.ref(loop)
        if ref is None:
            return
    try:
        from pymilvus.client.connection_manager import AsyncConnectionManager
    except ImportError:  # pragma: no cover - older pymilvus has no manager
        return
    with AsyncConnectionManager._instances_lock:
        AsyncConnectionManager._instances.pop(id(loop), None)
