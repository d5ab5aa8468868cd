"""Durability of the embedded Milvus Lite file: a writer process is SIGKILLed right after an
acknowledged upsert (it prints ``ACK`` once ``upsert`` returned and goes on writing); every
acknowledged row must be in the reopened file, in this process and in a new one."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from milvus_rag import BackendUnavailableError, MilvusStore
from tests.backends import ROOT, run_python

pytestmark = pytest.mark.integration

BATCH = 100
COLLECTION = "durable"

_WRITER = textwrap.dedent(
    """
    import sys
    from milvus_rag import MilvusStore, Record

    db, tag = sys.argv[1], sys.argv[2]
    store = MilvusStore(db, collection_name="durable", dim=4)
    for k in range(1000):  # killed long before the end
        ids = [f"{tag}-{k}-{i}" for i in range(BATCH)]
        store.upsert([
            Record(id=i, text="text " + i, vector=[1.0, float(k), float(n), 0.5],
                   metadata={"tag": tag, "k": k, "n": n})
            for n, i in enumerate(ids)
        ])
        print("ACK", k, flush=True)
    """
).replace("BATCH", str(BATCH))


def _kill_after_acks(db: str, tag: str, acks: int, timeout: float = 90.0) -> tuple[int, float]:
    """Start a writer, SIGKILL it on reading its ``acks``-th ACK; (batches acked, seconds)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, db, tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=str(ROOT),
    )
    assert proc.stdout is not None
    t0 = time.monotonic()
    seen = 0
    try:
        while seen < acks:
            left = timeout - (time.monotonic() - t0)
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, left))
            if not ready:
                raise AssertionError(f"writer gave no ACK in {timeout} s")
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"writer exited early (rc={proc.wait()})")
            if line.startswith("ACK"):
                assert line.split() == ["ACK", str(seen)]
                seen += 1
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    return seen, time.monotonic() - t0


def _reopen(db: str, limit_s: float = 20.0) -> tuple[MilvusStore, float]:
    """Open the file again; the killed writer's engine may take a moment to let go of it."""
    t0 = time.monotonic()
    while True:
        store = MilvusStore(db, collection_name=COLLECTION)
        try:
            store.count()
            return store, time.monotonic() - t0
        except BackendUnavailableError:
            store.close()
            if time.monotonic() - t0 > limit_s:
                raise
            time.sleep(0.3)


def test_acknowledged_rows_survive_sigkill(tmp_path: Path) -> None:
    db = str(tmp_path / "durable.db")
    acked: list[str] = []
    report = []
    for rnd, acks in enumerate([1, 2, 3]):
        tag = f"r{rnd}"
        seen, secs = _kill_after_acks(db, tag, acks)
        acked += [f"{tag}-{k}-{i}" for k in range(seen) for i in range(BATCH)]
        store, reopen_s = _reopen(db)
        try:
            count = store.count()
            got = store.get(acked)
            ids = [r.id for r in got]
            # every acknowledged row, intact; the batch in flight at the kill may have landed
            assert ids == acked
            assert all(r.metadata["tag"] == r.id.split("-")[0] for r in got)
            assert len(acked) <= count <= len(acked) + BATCH
            landed = count - len(acked)
            assert landed in (0, BATCH)  # a batch lands whole or not at all
            assert (
                len({r.id for r in store.query({"tag": tag}, limit=1000)}) == seen * BATCH + landed
            )
        finally:
            store.close()
        report.append((acks, round(secs, 2), round(reopen_s, 2), count, landed))
    print(f"\n(acks, writer s, reopen s, count, unacked rows landed): {report}")

    # and in a new process
    out = run_python(
        textwrap.dedent(
            f"""
            from milvus_rag import MilvusStore
            s = MilvusStore({db!r}, collection_name={COLLECTION!r})
            acked = {acked!r}
            print(len(s.get(acked)), s.count())
            s.close()
            """
        )
    )
    assert out.returncode == 0, out.stderr[-2000:]
    found, total = map(int, out.stdout.split()[-2:])
    assert found == len(acked)
    assert total == report[-1][3]
