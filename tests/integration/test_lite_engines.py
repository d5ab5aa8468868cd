"""Many processes, each with its own Milvus Lite file, open them at the same moment (worker
pools, Ray tasks, test runners): every engine works. The 2.5 engine sets up its mmap folder
under ``$HOME/.cache/milvus`` by emptying and recreating it, so engines sharing one HOME
refused collections ("Mmap manager has not been init": 2 of 12, and 5 more never took a
connection, measured with plain pymilvus); milvus-rag starts each one with a private HOME,
removed when it stops. Real processes, real engines."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from milvus_rag.client.lite import lite_major
from tests.backends import ROOT

pytestmark = pytest.mark.integration

WORKER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from milvus_lite.server_manager import server_manager_instance
    from milvus_rag import MilvusStore, Record
    print("READY", flush=True)
    sys.stdin.readline()  # all workers go together
    out = {}
    try:
        store = MilvusStore(sys.argv[1], collection_name="c", dim=2, enable_bm25=False)
        store.upsert([Record(id="a", text="one", vector=[1.0, 0.0])])
        out["count"] = store.count()
        servers = server_manager_instance._servers  # (milvus-lite 3 keeps tuples there)
        server = servers.get(str(Path(sys.argv[1]).resolve())) or servers.get(
            os.path.abspath(sys.argv[1]))
        out["home"] = getattr(server, "home", None)
        out["home_existed"] = out["home"] is not None and os.path.isdir(out["home"])
        store.close()
        out["home_after_close"] = out["home"] is not None and os.path.exists(out["home"])
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {e}"[:300]
    print(json.dumps(out), flush=True)
    """
)

WORKERS = 8


def test_engines_started_together_all_work_and_leave_no_home(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / f"w{i}.db")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=str(ROOT),
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        for i in range(WORKERS)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            ready, _, _ = select.select([p.stdout], [], [], 120)
            assert ready and p.stdout.readline().strip() == "READY"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=180)
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            p.kill()
    assert [r.get("error") for r in results] == [None] * WORKERS, results
    assert all(r["count"] == 1 for r in results)
    if lite_major() >= 3:  # the pure-Python engine has no mmap folder: started as it comes
        assert all(r["home"] is None for r in results)
        return
    homes = {r["home"] for r in results}
    assert len(homes) == WORKERS and all(r["home_existed"] for r in results)  # one each
    assert not any(r["home_after_close"] for r in results)  # removed at close
