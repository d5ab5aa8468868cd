"""The opaque cursor of the MCP ``query`` tool: where the next page starts (no I/O).

A cursor holds the last primary key a page returned and a digest of the query it belongs
to (database, collection, tenant, filter). It grants nothing: the next call names its own
tenant and filter, and a cursor made for another query is refused rather than silently
applied to it. It is stateless, so it survives between calls, sessions and server
restarts; rows come in primary-key order, so each matching row is returned once.

Example:
    >>> key = query_key("default", "docs", None, {"source": "a.md"})
    >>> decode(encode("doc-17", key), key)
    'doc-17'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from milvus_rag.client.errors import ConfigError

VERSION = 1
MAX_CURSOR_CHARS = 4096
_INVALID = "invalid cursor: pass the next_cursor of the previous query call unchanged"


def query_key(database: str, collection: str, tenant: str | None, filter: Any) -> str:
    """A digest of what a query reads; the same for every page of one query."""
    what = json.dumps(
        [database, collection, tenant, filter or None],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(what.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def encode(after: str, key: str) -> str:
    """The cursor of the page after primary key ``after`` of the query ``key``."""
    raw = json.dumps({"v": VERSION, "after": after, "q": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode().rstrip("=")


def decode(cursor: str, key: str) -> str:
    """The primary key a page starts after; ConfigError for a cursor that is not one of
    ours or was made for another query."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_CHARS:
        raise ConfigError(_INVALID)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw.decode("utf-8", "surrogatepass"))
    except (binascii.Error, ValueError):
        raise ConfigError(_INVALID) from None
    if (
        not isinstance(data, dict)
        or data.get("v") != VERSION
        or not isinstance(data.get("after"), str)
        or not isinstance(data.get("q"), str)
    ):
        raise ConfigError(_INVALID)
    if data["q"] != key:
        raise ConfigError(
            "the cursor belongs to another query: repeat the collection, database, tenant and "
            "filter of the call that returned it (fields, limit and max_text_chars may change)"
        )
    after: str = data["after"]
    return after
