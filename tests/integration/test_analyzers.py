"""Issue 23, finding 10: an analyzer the backend cannot run is refused when the collection is
made, in one line naming it and what the backend offers, on every backend; nothing is
created. (Before: Milvus Lite 2.5 created the collection, then the first upsert retried for
60 s.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from milvus_rag import ConfigError, MilvusStore, Record
from milvus_rag.client.analyzers import LITE25_FILTERS, LITE25_TOKENIZERS, check_lite25
from tests.backends import Backend
from tests.conftest import new_name

REFUSED: list[dict[str, Any]] = [
    {"tokenizer": "icu"},
    {"tokenizer": "lindera", "dict_kind": "ipadic"},
    {"tokenizer": "standard", "filter": ["removepunct"]},  # Lite 2.5 only: Lite 3 runs it
]


@pytest.mark.integration
@pytest.mark.parametrize("analyzer", REFUSED, ids=repr)
def test_an_analyzer_the_backend_lacks_is_refused_at_once(
    make_store: Callable[..., MilvusStore], backend: Backend, analyzer: dict[str, Any]
) -> None:
    if analyzer.get("filter") and backend.engine != "lite25":
        store = make_store(dim=2, analyzer=analyzer)
        store.upsert([Record("a", "hello, world", [1.0, 0.0])])  # Lite 3 runs removepunct
        return
    t0 = time.monotonic()
    name = new_name("an")
    with pytest.raises(ConfigError) as err:  # a Lite 2.5 file: when the store is made
        store = make_store(dim=2, analyzer=analyzer, collection_name=name)
        store.upsert([Record("a", "hello world", [1.0, 0.0])])  # a server: when it creates
    assert time.monotonic() - t0 < 30  # before: a 60 s retry on Lite 2.5
    said = str(err.value)
    assert "\n" not in said and said.startswith(f"analyzer {analyzer!r}")
    assert "standard" in said  # what the backend offers instead
    assert name not in make_store(dim=2).list_collections()


@pytest.mark.integration
def test_an_analyzer_both_backends_run_works(make_store: Callable[..., MilvusStore]) -> None:
    store = make_store(dim=2, analyzer={"tokenizer": "standard", "filter": ["lowercase"]})
    store.upsert([Record("a", "Hello World", [1.0, 0.0])])
    assert [h.id for h in store.search("hello", mode="sparse", k=1)] == ["a"]


def test_the_lite25_check_names_what_it_refuses() -> None:
    for ok in (
        {"type": "english"},
        {"type": "chinese"},
        {"tokenizer": "jieba"},
        {"tokenizer": "standard", "filter": list(LITE25_FILTERS)},
        {"type": "english", "filter": [{"type": "stop", "stop_words": ["a"]}]},
    ):
        check_lite25(ok)
    for bad, what in (
        ({"type": "german"}, "analyzer type 'german'"),
        ({"tokenizer": {"type": "jieba"}}, "a tokenizer given as a dict"),
        ({"tokenizer": "char_group"}, "tokenizer 'char_group'"),
        ({"tokenizer": "standard", "filter": [{"type": "regex", "expr": "a"}]}, "filter 'regex'"),
    ):
        with pytest.raises(ConfigError, match=what) as err:
            check_lite25(bad)
        assert all(t in str(err.value) for t in LITE25_TOKENIZERS)
