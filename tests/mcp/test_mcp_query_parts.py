"""The pure parts of the MCP ``query`` tool and of databases (no Milvus): the cursor, the
rows it returns, and which databases a server started with given settings serves."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import Record
from milvus_rag.integrations.mcp import MCPSettings
from milvus_rag.integrations.mcp import results as res
from milvus_rag.integrations.mcp.databases import plan, uri_database
from milvus_rag.integrations.mcp.paging import decode, encode, query_key

# --------------------------------------------------------------------------- cursor

ids_ = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
filters = st.none() | st.dictionaries(
    st.text("abcxyz", min_size=1, max_size=3), st.integers() | st.text(max_size=5), max_size=3
)


@settings(max_examples=100, deadline=None)
@given(after=ids_, db=st.sampled_from(["default", "docs"]), tenant=st.none() | ids_, f=filters)
def test_a_cursor_round_trips_for_its_own_query_only(
    after: str, db: str, tenant: str | None, f: dict[str, Any] | None
) -> None:
    key = query_key(db, "c", tenant, f)
    cursor = encode(after, key)
    assert decode(cursor, key) == after
    assert cursor.isascii() and "=" not in cursor
    others = [
        query_key("other", "c", tenant, f),
        query_key(db, "c2", tenant, f),
        query_key(db, "c", (tenant or "") + "x", f),
        query_key(db, "c", tenant, {**(f or {}), "zz": 1}),
    ]
    for other in others:
        assert other != key
        with pytest.raises(ConfigError, match="another query"):
            decode(cursor, other)


def test_the_query_key_ignores_key_order_and_an_empty_filter() -> None:
    assert query_key("d", "c", None, {"a": 1, "b": 2}) == query_key(
        "d", "c", None, {"b": 2, "a": 1}
    )
    assert query_key("d", "c", None, {}) == query_key("d", "c", None, None)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not base64 !!",
        "x" * 5000,
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 2, "after": "a", "q": "k"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 1, "after": 3, "q": "k"}).encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_cursor_that_is_not_ours_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="cursor"):
        decode(bad, "k")


# --------------------------------------------------------------------------- rows


REC = Record(id="a", text="hello world", doc_id="d", metadata={"source": "x.md", "year": 2020})


def test_row_fields() -> None:
    assert res.row_dict(REC) == res.record_dict(REC)
    assert res.row_dict(REC, ("text",), max_text_chars=5) == {
        "id": "a",
        "text": "hello",
        "truncated": True,
        "text_chars": 11,
    }
    assert res.row_dict(REC, ("year", "nope")) == {"id": "a", "metadata": {"year": 2020}}
    assert res.row_dict(REC, ("metadata", "year")) == {"id": "a", "metadata": REC.metadata}
    assert res.row_dict(REC, ("doc_id",)) == {"id": "a", "doc_id": "d"}
    assert res.row_dict(REC, ()) == {"id": "a"}


@pytest.mark.parametrize("bad", ["text", [""], [3], ["k"] * (res.MAX_FIELDS + 1)])
def test_bad_fields_are_refused(bad: Any) -> None:
    with pytest.raises(ConfigError, match="fields"):
        res.check_fields(bad)


# --------------------------------------------------------------------------- databases


def test_the_uri_names_the_default_database() -> None:
    assert uri_database("http://h:19530") is None
    assert uri_database("http://h:19530/prod/") == "prod"
    assert uri_database("./x.db") is None
    with pytest.raises(ConfigError, match="invalid database name"):
        uri_database("http://h:19530/a/b")
    p = plan("http://h:19530/prod")
    assert (p.names, p.default, p.available) == (("prod",), "prod", True)
    assert plan("http://h:19530").names == ("default",)


def test_the_allow_list() -> None:
    p = plan("http://h:19530", ("docs", "default", "docs"))
    assert p.names == ("default", "docs") and p.default == "default"
    assert p.resolve(None) == "default" and p.resolve("docs") == "docs"
    with pytest.raises(ConfigError, match=r"'hr' is not served .* --databases default,docs,hr"):
        p.resolve("hr")
    assert plan("http://h:19530", ("a", "b")).default == "a"  # no "default" listed
    with pytest.raises(ConfigError, match="names database 'prod'"):
        plan("http://h:19530/prod", ("a",))
    with pytest.raises(ConfigError, match="invalid database name"):
        plan("http://h:19530", ("1abc",))


def test_a_lite_file_has_no_databases() -> None:
    p = plan("./x.db")
    assert not p.available and p.resolve(None) == p.resolve("default") == "default"
    with pytest.raises(ConfigError, match="no databases"):
        p.resolve("docs")
    with pytest.raises(ConfigError, match="list_databases: a Milvus Lite file has no databases"):
        p.check_available()
    with pytest.raises(ConfigError, match="--databases: a Milvus Lite file has no databases"):
        MCPSettings(uri="./x.db", databases=("default",))
    s = MCPSettings(uri="http://h:19530", databases=("a", "b"))
    assert s.database_plan.names == ("a", "b") and "databases=['a', 'b']" in repr(s)
