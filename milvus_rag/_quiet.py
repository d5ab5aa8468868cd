"""Third-party noise, kept off the user's terminal: model-loading progress bars, and (for the
command line) Hugging Face hub retries and library log chatter.

Library calls stay quiet unless the user asks for output: progress bars of ``transformers``
are turned off while milvus-rag loads a model, except when ``HF_HUB_DISABLE_PROGRESS_BARS=0``
says otherwise. The ``milvus-rag`` command also works offline by default
(:func:`cli_environment`): a model that is not installed fails in about a second instead of
retrying the hub for a minute; ``HF_HUB_OFFLINE=0`` allows downloads.

Example:
    >>> with quiet_model_loading():
    ...     pass
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_model_loading() -> Iterator[None]:
    """No ``Loading weights`` progress bar from transformers inside the block."""
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS") == "0":
        yield
        return
    try:
        from transformers.utils import logging as tlog
    except ImportError:  # the model loader reports what is missing
        yield
        return
    was = tlog.is_progress_bar_enabled()
    tlog.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was:
            tlog.enable_progress_bar()  # type: ignore[no-untyped-call]


def cli_environment() -> None:
    """Defaults for the command line (an explicit environment variable wins): offline hub,
    no progress bars or advisory warnings from transformers, quiet tokenizers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


@contextlib.contextmanager
def quiet_rpc_tracebacks() -> Iterator[None]:
    """While a command runs: pymilvus logs each failed RPC with its traceback, and the
    command reports the failure in one line (a filter, since pymilvus's logging.config,
    run when it is imported, resets levels). Removed afterwards: a process that calls the
    command's ``main`` in-process keeps its own logging as it was."""
    noisy = logging.getLogger("pymilvus.decorators")
    added = _drop_all not in noisy.filters
    if added:
        noisy.addFilter(_drop_all)
    try:
        yield
    finally:
        if added:
            noisy.removeFilter(_drop_all)


def _drop_all(record: logging.LogRecord) -> bool:
    return False
