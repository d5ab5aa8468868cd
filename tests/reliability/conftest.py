"""Fixtures of the reliability tests: a dedicated Milvus Lite 3 server per test (killed and
restarted freely, never the session one), and a log capture that sees every logger at DEBUG,
pymilvus's and grpc's included (pymilvus does not propagate to the root logger)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.backends import LiteServer

#: A fake secret: it must never show up in a log line, a repr or an exception.
SECRET = "sk-RELIABILITY-s3cr3t-7c1d"
PASSWORD = "pw-RELIABILITY-hunter2-42"

#: Loggers that do not propagate, or that we want at DEBUG explicitly.
_LOGGERS = ("", "milvus_rag", "pymilvus", "grpc", "asyncio")


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        # attached to a logger and to its ancestors: keep each record once
        if not any(record is r for r in self.records[-4:]):
            self.records.append(record)

    def texts(self) -> list[str]:
        """Every record fully formatted: message, args and traceback (with causes)."""
        out = []
        for r in self.records:
            out.append(self.format(r))
            out.append(repr(r.args))
        return out

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@contextmanager
def capture_all_logs() -> Iterator[ListHandler]:
    """Attach one handler to the root, milvus_rag, pymilvus and grpc loggers at DEBUG."""
    handler = ListHandler()
    saved = []
    for name in _LOGGERS:
        lg = logging.getLogger(name)
        saved.append((lg, lg.level))
        lg.setLevel(logging.DEBUG)
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg, level in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)


@pytest.fixture
def fault_server(tmp_path: Path) -> Iterator[LiteServer]:
    """A Milvus Lite 3 server of this test alone: kill it, restart it (same dir and port)."""
    server = LiteServer(tmp_path / "fault-data").start()
    try:
        yield server
    finally:
        server.stop()
