"""Either Milvus Lite engine behind ``uri="./x.db"``: a ``.db`` of the other engine is named with
the way out, and Milvus Lite 3's own lock (``x.db/LOCK``) held by another process is detected
before anything touches the folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from milvus_rag.client import lite_lock
from milvus_rag.client.lite import engine_mismatch


def test_a_file_of_the_other_engine_is_named_with_the_way_out(tmp_path: Path) -> None:
    lite25 = tmp_path / "old.db"
    lite25.write_bytes(b"\0")  # Lite 2.5: a file
    lite3 = tmp_path / "new.db"
    lite3.mkdir()  # Lite 3: a folder
    assert engine_mismatch(str(lite25), 2) is None
    assert engine_mismatch(str(lite3), 3) is None
    assert engine_mismatch(str(tmp_path / "none.db"), 2) is None  # created by either
    assert engine_mismatch(str(tmp_path / "none.db"), 3) is None
    to3 = engine_mismatch(str(lite25), 3)
    assert to3 is not None and "Milvus Lite 2.5 file" in to3
    assert "milvus-rag[lite25]" in to3 and "milvus-rag export" in to3
    to2 = engine_mismatch(str(lite3), 2)
    assert to2 is not None and "Milvus Lite 3 folder" in to2 and "milvus-lite>=3.1" in to2


HOLD_LITE3_LOCK = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(os.path.join(sys.argv[1], "LOCK"), os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what milvus_lite.db.MilvusLite does
    print("READY", flush=True)
    sys.stdin.readline()
    """
)


def test_milvus_lite_3s_own_lock_held_elsewhere_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    db.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LITE3_LOCK, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "READY"
        with pytest.raises(lite_lock.LiteFileInUseError, match="milvus-lite's own lock"):
            lite_lock.acquire(str(db))
        assert os.path.realpath(db) not in lite_lock.held()
        # this process's own engine on the file: the check is skipped, the lock taken
        lite_lock.acquire(str(db), engine_running=True)
        assert os.path.realpath(db) in lite_lock.held()
        lite_lock.release(str(db))
    finally:
        holder.stdin.close()
        holder.wait(30)
    lite_lock.acquire(str(db))  # free again
    lite_lock.release(str(db))
    assert sorted(os.listdir(db)) == ["LOCK"]  # nothing of ours inside the engine's folder
