"""Test doubles the Ray workers import (by module path): an encoder and a sink that kill their
own worker process once, at a chosen point, to show what Ray's retries do."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

from milvus_rag.client.records import Record
from milvus_rag.ray import MilvusDatasink
from tests.fakes import FloatArray, HashEncoder


def claim(marker: str) -> bool:
    """True for the first caller across every process (the marker file is created once)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillOnceEncoder(HashEncoder):
    """A HashEncoder whose actor process is SIGKILLed at its ``kill_at_call``-th batch, once."""

    def __init__(self, dim: int, marker: str, kill_at_call: int = 3) -> None:
        super().__init__(dim)
        self.marker = marker
        self.kill_at_call = kill_at_call

    def encode_documents(self, texts: Sequence[str]) -> FloatArray:
        if self.calls + 1 >= self.kill_at_call and claim(self.marker):
            die()
        return super().encode_documents(texts)


class KillOnceSink(MilvusDatasink):
    """A sink whose write task is SIGKILLed once, after upserting half of its rows."""

    def __init__(self, *args: object, marker: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.marker = marker

    def write_records(self, records: list[Record]) -> int:
        if len(records) > 1 and claim(self.marker):
            super().write_records(records[: len(records) // 2])
            die()
        return super().write_records(records)
