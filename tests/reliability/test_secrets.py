"""Tokens and passwords never appear in logs (every logger at DEBUG, pymilvus's and grpc's
included, grpc's C core at debug verbosity in a child process), in ``repr``, or in
exceptions (message, repr, chained traceback), on success, connection failures and retries."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import traceback
from typing import Any

import pytest

from milvus_rag import (
    AsyncMilvusStore,
    BackendError,
    CollectionConfig,
    ConnectionConfig,
    MilvusRAGError,
    MilvusStore,
    Record,
)
from tests.backends import ROOT, LiteServer, free_port
from tests.conftest import new_name
from tests.reliability.conftest import PASSWORD, SECRET, ListHandler, capture_all_logs

pytestmark = pytest.mark.integration

SECRETS = (SECRET, PASSWORD, f"root:{PASSWORD}")


def _clean(text: str, where: str) -> None:
    for s in SECRETS:
        assert s not in text, f"secret in {where}: {text[:300]}"


def _check_error(e: BaseException) -> None:
    _clean(str(e), "str(error)")
    _clean(repr(e), "repr(error)")
    _clean("".join(traceback.format_exception(e)), "traceback")
    _clean(repr(vars(e)), "error attributes")


def _check_logs(logs: ListHandler) -> None:
    assert logs.records, "nothing was logged: the capture is broken"
    for text in logs.texts():
        _clean(text, "log")


def _configs(uri: str, **kw: Any) -> list[ConnectionConfig]:
    return [
        ConnectionConfig(uri=uri, token=SECRET, **kw),
        ConnectionConfig(uri=uri, user="root", password=PASSWORD, **kw),
    ]


def test_repr_and_str_hide_secrets() -> None:
    for conn in _configs("http://127.0.0.1:1"):
        for obj in (
            conn,
            AsyncMilvusStore(connection=conn, collection_name="c", dim=4),
            MilvusStore(connection=conn, collection_name="c", dim=4),
        ):
            _clean(repr(obj), "repr")
            _clean(str(obj), "str")
            if not isinstance(obj, ConnectionConfig):  # the config holds it, by design
                _clean(repr(vars(obj)), "vars")
        _clean(repr(conn.key), "connection key")
    _clean(repr(CollectionConfig(name="c", dim=4)), "collection config")


def test_no_secret_on_failures_and_retries_in_process(lite3_server: LiteServer) -> None:
    errors: list[BaseException] = []

    async def failing(conn: ConnectionConfig) -> None:
        store = AsyncMilvusStore(connection=conn, collection_name=new_name(), dim=4)
        try:
            await store.upsert([Record(id="a", text="t", vector=[1.0, 0, 0, 0])])
        except MilvusRAGError as e:
            errors.append(e)
        finally:
            await store.aclose()

    async def working(conn: ConnectionConfig) -> None:
        store = AsyncMilvusStore(connection=conn, collection_name=new_name("sec"), dim=4)
        try:
            await store.upsert([Record(id="a", text="hello", vector=[1.0, 0, 0, 0])])
            await store.search(text="hello", vector=[1.0, 0, 0, 0], k=1)
            try:  # a backend refusal: raw expression the server cannot parse
                await store.query("metadata[ and )")
            except BackendError as e:
                errors.append(e)
            other = AsyncMilvusStore(connection=conn, collection_name=store.name, dim=8)
            try:
                await other.ensure_collection()
            except MilvusRAGError as e:
                errors.append(e)
            await store.drop()
        finally:
            await store.aclose()

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent_uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with capture_all_logs() as logs:
            for conn in _configs(
                f"http://127.0.0.1:{free_port()}", retries=2, retry_backoff=0.05
            ) + _configs(silent_uri, connect_timeout=0.3, retries=1, retry_backoff=0.05):
                asyncio.run(failing(conn))
            for conn in _configs(lite3_server.uri):
                asyncio.run(working(conn))
    assert len(errors) >= 4 + 2 * 2
    for e in errors:
        _check_error(e)
    _check_logs(logs)
    assert any("; retry " in m for m in logs.messages())  # retries were exercised
    assert any(r.name.startswith("pymilvus") for r in logs.records)


_CHILD = textwrap.dedent(
    """
    import asyncio, logging, socket, sys
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    for name in ("pymilvus", "grpc", "milvus_rag"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    from milvus_rag import AsyncMilvusStore, MilvusRAGError, Record, ConnectionConfig
    live, dead, token, password = sys.argv[1:5]

    async def run(conn, name):
        store = AsyncMilvusStore(connection=conn, collection_name=name, dim=4)
        try:
            await store.upsert([Record(id="a", text="hello", vector=[1.0, 0, 0, 0])])
            await store.search(text="hello", vector=[1.0, 0, 0, 0], k=1)
            await store.drop()
        except MilvusRAGError as e:
            print("ERROR", type(e).__name__, e, repr(e))
            logging.getLogger("child").exception("failed")
        finally:
            await store.aclose()

    for i, kw in enumerate([dict(token=token), dict(user="root", password=password)]):
        asyncio.run(run(ConnectionConfig(uri=dead, retries=2, retry_backoff=0.05, **kw), "x"))
        asyncio.run(run(ConnectionConfig(uri=live, **kw), f"secret_child_{i}"))
    print("DONE")
    """
)


def test_no_secret_at_grpc_debug_verbosity(lite3_server: LiteServer) -> None:
    env = dict(os.environ, GRPC_VERBOSITY="debug", PYTHONUNBUFFERED="1")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            lite3_server.uri,
            f"http://127.0.0.1:{free_port()}",
            SECRET,
            PASSWORD,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(ROOT),
        env=env,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "DONE" in out.stdout
    assert out.stdout.count("ERROR BackendUnavailableError") == 2  # the dead address, twice
    assert "retry" in out.stderr and "DEBUG" in out.stderr
    _clean(text, "child output")
