"""Hostile values on both backends: nested, unicode and large metadata, a 10 MB text, ids with
quotes, slashes and control characters. Each is stored and returned intact (and can be
deleted by id), or refused with ``InvalidInputError`` before anything of the call is written
(the row count is unchanged, although a valid record precedes the bad one in its own batch)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from milvus_rag import InvalidInputError, MilvusStore, Record
from tests.backends import Backend
from tests.conftest import new_name

pytestmark = pytest.mark.integration

DIM = 4
_rng = np.random.default_rng(11)


def _vec() -> list[float]:
    return [float(x) for x in _rng.normal(size=DIM)]


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": "ünïcødé 日本 😀", "n": depth}
    for d in range(depth):
        node = {f"k{d}": node, "list": [d, {"in": [None, True, 1.5]}], "ключ": "значение"}
    return node


# (case id, record factory, backends on which the case is a known core problem)
INTACT_OR_REFUSED: list[tuple[str, Callable[[], Record]]] = [
    (
        "meta_nested_depth_30",
        lambda: Record(id="m1", text="t", vector=_vec(), metadata=_nested(30)),
    ),
    (
        "meta_unicode_keys_and_values",
        lambda: Record(
            id="m2",
            text="t",
            vector=_vec(),
            metadata={
                "日本": "語",
                "emoji😀": ["😀", "é"],
                'a"b': "q'uote",
                "a.b": 1,
                "$gt": 2,
                "": "empty key",
                "ctl\x01": "\x07\x1b",
                "nl": "a\nb\r\nc\rd",
            },
        ),
    ),
    (
        "meta_extreme_numbers",
        lambda: Record(
            id="m3",
            text="t",
            vector=_vec(),
            metadata={
                "big": 2**63 - 1,
                "small": -(2**63),
                "f": 1.7976931348623157e308,
                "tiny": 5e-324,
                "neg0": -0.0,
                "n": None,
                "e": [],
                "o": {},
            },
        ),
    ),
    (
        "meta_60kb",
        lambda: Record(id="m4", text="t", vector=_vec(), metadata={"blob": "é" * 30000, "x": 1}),
    ),
    (
        "meta_over_64kb",
        lambda: Record(id="m5", text="t", vector=_vec(), metadata={"blob": "x" * 70000}),
    ),
    (
        "meta_nan",
        lambda: Record(id="m6", text="t", vector=_vec(), metadata={"x": float("nan")}),
    ),
    (
        "meta_non_json",
        lambda: Record(id="m7", text="t", vector=_vec(), metadata={"x": object()}),
    ),
    ("text_10mb", lambda: Record(id="t1", text="a" * 10_000_000, vector=_vec())),
    ("text_65535_bytes_multibyte", lambda: Record(id="t2", text="日" * 21845, vector=_vec())),
    ("text_65536_bytes", lambda: Record(id="t3", text="é" * 32768, vector=_vec())),
    (
        "text_nul_and_controls",
        lambda: Record(id="t4", text="a\x00b\x01c\x7f\u2028d", vector=_vec()),
    ),
    ("text_lone_surrogate", lambda: Record(id="t5", text="bad \ud800", vector=_vec())),
    ("id_double_quote", lambda: Record(id='i"1', text="t", vector=_vec())),
    # refused on the embedded Milvus Lite 2.5 engine, stored on a server
    ("id_single_quote", lambda: Record(id="i'2", text="t", vector=_vec())),
    ("id_slashes", lambda: Record(id="a/b/../c", text="t", vector=_vec())),
    ("id_backslashes", lambda: Record(id="a\\b\\\\c\\", text="t", vector=_vec())),
    ("id_backslash_quote", lambda: Record(id='x\\" or id != "', text="t", vector=_vec())),
    ("id_unicode_spaces", lambda: Record(id=" 日本 é 😀 ", text="t", vector=_vec())),
    ("id_tab_newline", lambda: Record(id="a\tb\nc", text="t", vector=_vec())),
    ("id_crlf", lambda: Record(id="a\r\nb", text="t", vector=_vec())),
    # refused on the embedded Milvus Lite 2.5 engine, stored on a server
    ("id_lone_cr", lambda: Record(id="a\rb", text="t", vector=_vec())),
    # refused on the embedded Milvus Lite 2.5 engine, stored on a server
    ("id_nul", lambda: Record(id="a\x00b", text="t", vector=_vec())),
    ("id_512_bytes", lambda: Record(id="é" * 256, text="t", vector=_vec())),
    ("id_513_bytes", lambda: Record(id="é" * 256 + "x", text="t", vector=_vec())),
    ("id_empty", lambda: Record(id="", text="t", vector=_vec())),
    ("doc_id_hostile", lambda: Record(id="d1", text="t", vector=_vec(), doc_id='d"\\/\n日')),
]


@pytest.fixture(scope="module")
def value_store(backend: Backend) -> Iterator[MilvusStore]:
    store = MilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=new_name("values"),
        dim=DIM,
        batch_size=1,  # the valid record before the bad one is a batch of its own
    )
    store.upsert([Record(id="baseline", text="baseline", vector=_vec())])
    yield store
    store.drop()
    store.close()


@pytest.mark.parametrize(
    "make",
    [pytest.param(m, id=name) for name, m in INTACT_OR_REFUSED],
)
def test_stored_intact_or_refused_before_writing(
    value_store: MilvusStore,
    backend: Backend,
    request: pytest.FixtureRequest,
    make: Callable[[], Record],
) -> None:
    rec = make()
    before = value_store.count()
    companion = Record(id="companion-" + request.node.callspec.id, text="valid", vector=_vec())
    try:
        _intact_or_refused(value_store, companion, rec, before)
    finally:
        for rid in (companion.id, rec.id):
            with contextlib.suppress(Exception):  # best effort: an unaddressable id stays
                value_store.delete([rid])


def _intact_or_refused(store: MilvusStore, companion: Record, rec: Record, before: int) -> None:
    try:
        written = store.upsert([companion, rec])
    except InvalidInputError as e:
        assert store.count() == before, "refused, but something was written"
        assert store.get([companion.id]) == []
        assert len(str(e)) < 2000  # a 10 MB value is not echoed back
        return
    assert written == [companion.id, rec.id]
    got = store.get([rec.id])
    assert len(got) == 1
    back = got[0]
    assert back.id == rec.id
    assert back.text == rec.text
    assert back.doc_id == rec.doc_id
    assert back.metadata == rec.metadata
    assert store.count() == before + 2
    store.delete([companion.id, rec.id])
    assert store.count() == before
