"""A Milvus Lite file serves one process at a time (issue 11, finding 3): a second process
gets a clear BackendUnavailableError naming the file and the way out, and nothing it does
reaches the file. Two real processes."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from milvus_rag import BackendUnavailableError, MilvusStore, Record
from milvus_rag.client import lite_lock
from tests.backends import ROOT, run_python

pytestmark = pytest.mark.integration

HOLDER = textwrap.dedent(
    """
    import json, sys
    from milvus_rag import MilvusStore, Record
    store = MilvusStore(sys.argv[1], collection_name="c", dim=2)
    store.upsert([Record(id="first", text="one", vector=[1.0, 0.0])])
    print("READY", flush=True)
    sys.stdin.readline()  # hold the file until told
    print(json.dumps({"count": store.count(), "ids": sorted(r.id for r in store.query())}),
          flush=True)
    store.close()
    """
)

SECOND = textwrap.dedent(
    """
    import json, sys, time
    from milvus_rag import BackendUnavailableError, MilvusStore, Record
    store = MilvusStore(sys.argv[1], collection_name="c", dim=2)
    t0 = time.monotonic()
    try:
        store.upsert([Record(id=f"b{i}", text="two", vector=[0.0, 1.0]) for i in range(5)])
        print(json.dumps({"wrote": True}))
    except BackendUnavailableError as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e),
                          "seconds": time.monotonic() - t0}))
    finally:
        store.close()
    """
)


def test_a_second_process_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        ready, _, _ = select.select([holder.stdout], [], [], 120)
        assert ready and holder.stdout.readline().strip() == "READY"
        files_before = sorted(os.listdir(tmp_path))
        second = subprocess.run(
            [sys.executable, "-c", SECOND, db],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(ROOT),
        )
        assert second.returncode == 0, second.stderr[-2000:]
        out = json.loads(second.stdout.strip().splitlines()[-1])
        assert out.get("error") == "LiteFileInUseError", out
        message = out["message"]
        assert os.path.realpath(db) in message  # names the file
        assert f"pid {holder.pid}" in message  # and who has it
        assert "uri='http://" in message  # and the way out: a server
        assert out["seconds"] < 10
        assert "opened by another program" not in second.stderr  # milvus-lite never ran
        assert sorted(os.listdir(tmp_path)) == files_before  # nor touched a file
        holder.stdin.write("\n")
        holder.stdin.flush()
        line = holder.stdout.readline()
        assert json.loads(line) == {"count": 1, "ids": ["first"]}
    finally:
        if holder.poll() is None:
            holder.stdin.close()
            holder.wait(60)
    # afterwards the file is free, and holds only the first process's row
    after = run_python(
        "from milvus_rag import MilvusStore\n"
        f"s = MilvusStore({db!r}, collection_name='c')\n"
        "print(s.count(), sorted(r.id for r in s.query()))\n"
        "s.close()"
    )
    assert after.returncode == 0, after.stderr[-2000:]
    assert after.stdout.strip().splitlines()[-1] == "1 ['first']"


def test_the_lock_is_per_process_reentrant_and_released_on_close(tmp_path: Path) -> None:
    db = str(tmp_path / "y.db")
    a = MilvusStore(db, collection_name="a", dim=2)
    b = MilvusStore(db, collection_name="b", dim=2)  # a second store in this process: fine
    try:
        a.upsert([Record(id="x", text="t", vector=[1.0, 0.0])])
        b.upsert([Record(id="y", text="t", vector=[1.0, 0.0])])
        assert os.path.realpath(db) in lite_lock.held()
        a.close()
        assert b.count() == 1  # still open for b
    finally:
        b.close()
    assert os.path.realpath(db) not in lite_lock.held()
    assert Path(lite_lock.lock_path(db)).exists()  # never deleted (deleting breaks locking)
    t0 = time.monotonic()
    other = run_python(
        f"from milvus_rag import MilvusStore\ns = MilvusStore({db!r}, collection_name='a')\n"
        "print(s.count())\ns.close()"
    )
    assert other.returncode == 0, other.stderr[-2000:]
    assert other.stdout.strip().splitlines()[-1] == "1"
    assert time.monotonic() - t0 < 120


def test_a_program_holding_milvus_lites_own_lock_is_detected(tmp_path: Path) -> None:
    """pymilvus used directly (not milvus-rag) in another process: refused just the same."""
    db = str(tmp_path / "z.db")
    code = textwrap.dedent(
        f"""
        import sys
        from pymilvus import MilvusClient
        c = MilvusClient({db!r})
        print("READY", flush=True)
        sys.stdin.readline()
        c.close()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=str(ROOT),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready and proc.stdout.readline().strip() == "READY"
        store = MilvusStore(db, collection_name="c", dim=2)
        with pytest.raises(BackendUnavailableError, match="milvus-lite's own lock"):
            store.count()
        store.close()
        assert os.path.realpath(db) not in lite_lock.held()
    finally:
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(60)
