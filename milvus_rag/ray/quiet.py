"""Ray without the chatter: a job prints nothing of Ray's unless asked.

Measured on a local runtime (Ray 2.60, a 50-document :func:`~milvus_rag.ray.ingest_dataset`):
29 lines on stderr, from ``ray.init`` (token set-up, "Started a local Ray instance"), Ray
Data's executor and its progress log (every 10 s), the data sink, and one C++ core-worker line
about actor constructor arguments. :func:`init_local` starts a local runtime with Ray's own
logging at ERROR, worker output kept in the session's log files (``log_to_driver=False``),
the core worker's C++ log at FATAL (unless the caller or the environment,
``RAY_BACKEND_LOG_LEVEL``, says otherwise), and what ``ray.init`` itself prints in a temporary
file, named only if it fails (:func:`output_to_file`); :func:`quiet_job` (used by ``ingest_dataset``
unless ``verbose=True``) turns Ray Data's progress bars and logs below ERROR off for one job
and restores them after. Everything stays in Ray's session logs (``/tmp/ray/session_*``).

Example:
    >>> with quiet_job(verbose=True):
    ...     pass
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

RAY_DATA_LOGGER = "ray.data"
_CONTEXT_FLAGS = ("enable_progress_bars", "enable_operator_progress_bars", "enable_auto_log_stats")


def init_local(**options: Any) -> Any:
    """``ray.init`` of a local runtime that prints nothing but errors; ``options`` go to
    ``ray.init`` and win over these defaults (``log_to_driver=False``,
    ``logging_level=ERROR``, ``include_dashboard=False``). Ray Data's progress bars and its
    logs below ERROR are off for every dataset of the process (``take()``, ``show()``...),
    not only :func:`~milvus_rag.ray.ingest_dataset`'s jobs."""
    import ray

    # the driver's C++ core worker: its actor warnings during jobs (it announces the level
    # once, while ray.init starts it: that goes to the log below)
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    settings: dict[str, Any] = {
        "log_to_driver": False,
        "logging_level": logging.ERROR,
        "include_dashboard": False,
    }
    settings.update(options)
    with output_to_file("ray-init"):
        runtime = ray.init(**settings)
    import ray.data  # its logger is set up on import: quieted after

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger(RAY_DATA_LOGGER).setLevel(logging.ERROR)
    return runtime


@contextlib.contextmanager
def output_to_file(name: str) -> Iterator[None]:
    """The process's stdout and stderr (file descriptors 1 and 2: C++ code too) go to a
    temporary log within the block; the log is kept, and named on stderr, only when the
    block raises."""
    import sys
    import tempfile

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    fd, log = tempfile.mkstemp(prefix=f"milvus-rag-{name}-", suffix=".log")
    saved = [os.dup(1), os.dup(2)]
    failed = True
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
        failed = False
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (*saved, fd):
            os.close(f)
        if failed:
            print(f"milvus-rag: what Ray printed while starting is in {log}", file=sys.stderr)
        else:
            os.unlink(log)


@contextlib.contextmanager
def quiet_job(context: Any = None, *, verbose: bool = False) -> Iterator[None]:
    """Within the block: no Ray Data progress bars or stats, its loggers at ERROR
    (``verbose=True``: as they are). ``context``: the job's ``DataContext`` (default: the
    current one)."""
    if verbose:
        yield
        return
    import ray.data

    ctx = ray.data.DataContext.get_current() if context is None else context
    saved = {name: getattr(ctx, name) for name in _CONTEXT_FLAGS if hasattr(ctx, name)}
    logger = logging.getLogger(RAY_DATA_LOGGER)
    level = logger.level
    for name in saved:
        setattr(ctx, name, False)
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        for name, value in saved.items():
            setattr(ctx, name, value)
