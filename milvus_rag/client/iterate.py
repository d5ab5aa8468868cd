"""Every matching row, past Milvus's 16,384-row query window: a primary-key cursor.

Each page is one query ``id > "<last id>" and (<filter>)`` with ``limit=batch_size`` and the
query-iterator options of Milvus (``iterator``, ``reduce_stop_for_best``): with them the
server returns the smallest ids after the cursor, in id order, which is what makes a cursor
exact. That is the protocol of pymilvus's ``query_iterator``, which ``AsyncMilvusClient``
does not have (pymilvus 3.0): here it runs on the async client, one implementation for
every backend. Measured: without the options the Milvus Lite 3 server returns pages in no
id order (a plain cursor stopped after 1,027 of 50,000 rows), and a query without a limit
silently stops at 16,383 rows on a Milvus Lite 2.5 file.

Where the server reports a session timestamp on the first page, every later page reads at
that timestamp (one snapshot, as pymilvus does). Milvus Lite (2.5 and 3) reports none: there
each page reads the latest rows, so a row present for the whole walk comes exactly once,
and rows written or deleted meanwhile may or may not.

The pure parts (batch size, page filter, cursor) are unit-tested; :func:`pages` is the loop.

Example:
    >>> page_filter('metadata["k"] == 1', "id", after='a"b')
    'id > "a\\\\"b" and (metadata["k"] == 1)'
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.filters import Dialect, string_literal

MAX_BATCH = 16384
DEFAULT_BATCH = 1000
ITERATOR_OPTIONS: Mapping[str, str] = {"iterator": "True", "reduce_stop_for_best": "True"}
SESSION_TS = "iterator_session_ts"

# (filter expression, limit, extra query options) -> rows
QueryFn = Callable[[str, int, dict[str, Any]], Awaitable[Sequence[dict[str, Any]]]]


def check_batch_size(batch_size: Any) -> int:
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_BATCH
    ):
        raise ConfigError(f"batch_size must be an integer in [1, {MAX_BATCH}], got {batch_size!r}")
    return batch_size


def page_filter(
    expr: str | None,
    id_field: str,
    after: str | None,
    dialect: Dialect | str = Dialect.MILVUS,
    id_type: str = "varchar",
) -> str:
    """The filter of the page after id ``after`` (the first page: ``expr`` alone).

    The cursor goes on the left of ``and``, as pymilvus puts it (some operators must be
    the right-most operand). An INT64 key (``id_type="int64"``) compares with an int literal.
    """
    if after is None:
        return expr or ""
    literal = str(int(after)) if id_type == "int64" else string_literal(after, dialect)
    cursor = f"{id_field} > {literal}"
    return f"{cursor} and ({expr})" if expr else cursor


def next_cursor(rows: Sequence[Mapping[str, Any]], id_field: str, id_type: str = "varchar") -> str:
    """The id the next page starts after: the largest of this page (an INT64 key: by value,
    not by its decimal string, where "9" > "10")."""
    if id_type == "int64":
        return str(max(int(r[id_field]) for r in rows))
    return max(str(r[id_field]) for r in rows)


def session_ts(rows: Any) -> int:
    """The snapshot timestamp a server reports with an iterator page (0 when none)."""
    extra = getattr(rows, "extra", None)
    ts = extra.get(SESSION_TS) if isinstance(extra, Mapping) else None
    return int(ts) if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0 else 0


async def pages(
    query: QueryFn,
    *,
    expr: str | None,
    id_field: str,
    batch_size: int = DEFAULT_BATCH,
    dialect: Dialect | str = Dialect.MILVUS,
    id_type: str = "varchar",
    after: str | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of at most ``batch_size`` rows matching ``expr``, each row once, in id order;
    with ``after``, only the rows whose id is greater (resuming an earlier walk).

    Ends on the first empty page (a short page does not end it: with
    ``reduce_stop_for_best`` a server may answer fewer rows than the limit before the end).
    """
    batch_size = check_batch_size(batch_size)
    options: dict[str, Any] = dict(ITERATOR_OPTIONS)
    while True:
        flt = page_filter(expr, id_field, after, dialect, id_type)
        rows = await query(flt, batch_size, dict(options))
        if not rows:
            return
        if "guarantee_timestamp" not in options:
            ts = session_ts(rows)
            if ts:
                options["guarantee_timestamp"] = ts
        page = list(rows)
        after = next_cursor(page, id_field, id_type)
        yield page
