"""What is wrong with a Milvus Lite 2.5 file, said in a few words before the engine sees it.

A Milvus Lite 2.5 ``.db`` is an SQLite 3 database (its collections' metadata in a
``collection_meta`` table). The engine, given anything else, logs a page of errors and fails
to start, which the caller would see as "is another process using it?"; given a damaged
database it may start and fail later with a segcore assertion. So:

- :func:`lite_file_problem` (cheap: the 100-byte header, the size and SQLite's table list)
  runs before every start: not SQLite (plain text, other bytes), shorter than its header
  says (truncated), or another program's SQLite database (which the engine would add its
  tables to);
- :func:`lite_file_damage` (reads the whole file: SQLite's ``quick_check`` plus the
  ``collection_meta`` table) explains a failure after the fact.

A missing path, an empty file and a folder (a Milvus Lite 3 ``.db``) are not judged here.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.db")
    >>> with open(path, "w") as f:
    ...     _ = f.write("hello")
    >>> lite_file_problem(path)
    'is not a Milvus Lite database: it holds plain text'
"""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import quote

from milvus_rag.client.errors import BackendUnavailableError

SQLITE_MAGIC = b"SQLite format 3\x00"
META_TABLE = "collection_meta"


class LiteFileDamagedError(BackendUnavailableError):
    """The Milvus Lite file is not one, or is damaged (not retried)."""

    retryable = False


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def lite_file_problem(path: str) -> str | None:
    """Why the file at ``path`` is not a whole Milvus Lite 2.5 database, judged from its
    header and size, or None (also for a missing path, an empty file and a folder)."""
    if not os.path.isfile(path):
        return None
    size = os.path.getsize(path)
    if size == 0:
        return None
    with open(path, "rb") as f:
        head = f.read(100)
    if not head.startswith(SQLITE_MAGIC):
        what = "plain text" if _looks_like_text(head[:64]) else "bytes of another format"
        return f"is not a Milvus Lite database: it holds {what}"
    if len(head) < 100:
        return f"is truncated ({size} bytes, shorter than a database header)"
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96]  # the header's page count is current
    if page < 512 or page & (page - 1):
        return "is damaged (its database header is not valid)"
    if size % page or (valid and pages and size < pages * page):
        expected = f"; its header says {pages * page}" if valid and pages else ""
        return f"is truncated ({size} bytes{expected})"
    try:
        tables = _tables(path)
    except sqlite3.OperationalError as e:
        if "locked" in str(e):  # an engine is writing it: not ours to judge
            return None
        return f"is damaged (SQLite: {e})"
    except sqlite3.Error as e:
        return f"is damaged (SQLite: {e})"
    if tables and META_TABLE not in tables:
        return "is an SQLite database, but not a Milvus Lite one (no collection_meta table)"
    return None


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True, timeout=1)


def _tables(path: str) -> set[str]:
    con = _connect(path)
    try:
        return {str(r[0]) for r in con.execute("SELECT name FROM sqlite_master")}
    finally:
        con.close()


def lite_file_damage(path: str) -> str | None:
    """:func:`lite_file_problem`, else what SQLite's ``quick_check`` finds (reads the whole
    file); None for a sound Milvus Lite file. Read-only."""
    problem = lite_file_problem(path)
    if problem is not None or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return problem
    try:
        con = _connect(path)
        try:
            found = [str(r[0]) for r in con.execute("PRAGMA quick_check").fetchall()]
        finally:
            con.close()
    except sqlite3.Error as e:
        return f"is damaged (SQLite: {e})"
    if found != ["ok"]:
        first = " ".join(found[0].replace("*** in database main ***", "").split())
        return f"is damaged (SQLite: {first[:120]})"
    return None
