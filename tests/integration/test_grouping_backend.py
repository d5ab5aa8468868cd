"""Grouped search and expansion on real backends (Milvus Lite file and Lite 3 server).

A corpus of documents chunked with overlap, every chunk with its ``start_index``: grouped
searches in every mode return distinct documents, each with its best chunks, ``k`` of them
when enough exist, the same groups whether Milvus groups on the server (by the ``doc_id``
column) or the core groups client-side (by a metadata key holding the same value, or by
grouping the full chunk ranking); expansions reassemble documents exactly; tenants and
filters bound both (an expansion never reads another tenant's chunks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from milvus_rag import ConfigError, MilvusStore, Record
from milvus_rag.client.grouping import Grouping, group_hits
from tests.spies import RequestSpy

pytestmark = pytest.mark.integration

DIM = 8
DOCS = 12
WORDS = [f"w{i}" for i in range(12)]


def _documents(seed: int = 3) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    out = {}
    for d in range(DOCS):
        n = int(rng.integers(20, 60))
        out[f"d{d}"] = " ".join(rng.choice(WORDS, size=n)) + f" end{d}"
    return out


def _chunks(docs: dict[str, str], tenant: str | None = None, seed: int = 5) -> list[Record]:
    """Each document cut into 40-character chunks overlapping by 10, each with a random
    vector and its position; ``doc`` repeats the doc_id as a metadata key."""
    rng = np.random.default_rng(seed)
    out = []
    for doc_id, text in docs.items():
        for start in range(0, max(1, len(text) - 10), 30):
            meta: dict[str, Any] = {"start_index": start, "doc": doc_id, "odd": int(doc_id[1:]) % 2}
            if tenant is not None:
                meta["tenant"] = tenant
            out.append(
                Record(
                    id=f"{tenant or ''}{doc_id}-{start}",
                    text=text[start : start + 40],
                    vector=rng.normal(size=DIM).astype(np.float32),
                    metadata=meta,
                    doc_id=doc_id,
                )
            )
    return out


QUERY = np.random.default_rng(11).normal(size=DIM).astype(np.float32)
MODES: list[dict[str, Any]] = [
    {"mode": "dense"},
    {"mode": "sparse"},
    {"mode": "hybrid"},
    {"mode": "hybrid", "alpha": 0.5},
]


@pytest.fixture
def corpus(make_store: Callable[..., MilvusStore]) -> tuple[MilvusStore, dict[str, str]]:
    docs = _documents()
    store = make_store(dim=DIM, metadata_fields={"odd": "int64"})
    store.upsert(_chunks(docs))
    store.flush()
    return store, docs


def _groups(hits: list[Any]) -> list[str]:
    return list(dict.fromkeys(h.record.doc_id for h in hits))


@pytest.mark.parametrize("opts", MODES, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("size", [1, 2])
def test_groups_are_distinct_best_chunks_and_agree_both_ways(
    corpus: tuple[MilvusStore, dict[str, str]], opts: dict[str, Any], size: int
) -> None:
    store, _ = corpus
    q = {"text": "w1 w2 w3 end4", "vector": QUERY, **opts}
    every = store.search(**q, k=500, candidates=500)  # the whole chunk ranking
    assert len(_groups(every)) == DOCS
    for k in (1, 3, 5):
        by_column = store.search(**q, k=k, group_by="doc_id", group_size=size, candidates=500)
        by_key = store.search(**q, k=k, group_by="doc", group_size=size, candidates=500)
        expected = group_hits(every, Grouping("doc_id", size), k)
        assert len(_groups(by_column)) == k  # k groups: there are enough
        assert [h.id for h in by_column] == [h.id for h in expected]
        assert [h.id for h in by_key] == [h.id for h in by_column]  # client-side == server-side


def test_strict_groups_and_filters(corpus: tuple[MilvusStore, dict[str, str]]) -> None:
    store, _ = corpus
    q = {"text": "w1 w2 end3", "vector": QUERY, "mode": "dense"}
    strict = store.search(**q, k=4, group_size=3, strict_group_size=True)
    for d in _groups(strict):
        assert sum(h.record.doc_id == d for h in strict) == 3
    odd = store.search(**q, k=4, group_by=True, filter={"odd": 1})
    assert len(_groups(odd)) == 4 and all(int(d[1:]) % 2 == 1 for d in _groups(odd))
    by_typed = store.search(**q, k=5, group_by="odd")
    assert sorted(h.record.metadata["odd"] for h in by_typed) == [0, 1]  # two values: 2 groups
    with pytest.raises(ConfigError, match="k \\* group_size"):
        store.search(**q, k=100, group_size=1000)


def test_expansion_reassembles_documents(corpus: tuple[MilvusStore, dict[str, str]]) -> None:
    store, docs = corpus
    hits = store.search("w3 end7", vector=QUERY, k=3, group_by=True)
    parents = store.expand(hits, parent=True)
    for h, e in zip(hits, parents, strict=True):
        assert e.text == docs[h.record.doc_id]
        a, b = e.span
        assert e.text[a:b] == h.record.text and e.matched == h.id
    windows = store.expand(hits, window=1)
    for h, e in zip(hits, windows, strict=True):
        assert 1 <= len(e.chunks) <= 3 and h.id in [c.id for c in e.chunks]
        start = e.chunks[0].metadata["start_index"]
        assert docs[h.record.doc_id][start : start + len(e.text)] == e.text
    with pytest.raises(ConfigError, match=r"window=n .* or parent=True"):
        store.expand(hits)


def test_expansion_refuses_chunks_without_positions(make_store: Callable[..., MilvusStore]) -> None:
    store = make_store(dim=DIM)
    v = np.ones(DIM, dtype=np.float32)
    store.upsert([Record("a", "one", v, doc_id="d"), Record("b", "two", v, doc_id="d")])
    hits = store.search("one", vector=v, k=1)
    with pytest.raises(ConfigError, match="no position"):
        store.expand(hits, window=1)


def test_tenants_bound_grouping_and_expansion(make_store: Callable[..., MilvusStore]) -> None:
    store = make_store(dim=DIM, tenant_field="tenant")
    docs_a = _documents(seed=3)
    docs_b = {d: t.upper() for d, t in _documents(seed=4).items()}  # same doc_ids, other text
    store.upsert(_chunks(docs_a, "a"), tenant="a")
    store.upsert(_chunks(docs_b, "b", seed=6), tenant="b")
    store.flush()
    for mode in ("dense", "sparse", "hybrid"):
        hits = store.search("w1 w2 end2", vector=QUERY, mode=mode, k=4, group_by=True, tenant="a")
        assert len(_groups(hits)) == 4
        assert {h.record.metadata["tenant"] for h in hits} == {"a"}
    a = store.for_tenant("a")
    hits = a.search("w5 end5", vector=QUERY, k=3, group_by=True, filter={"odd": 0})
    assert all(int(h.record.doc_id[1:]) % 2 == 0 for h in hits)
    for h, e in zip(hits, a.expand(hits, parent=True), strict=True):
        assert e.text == docs_a[h.record.doc_id]  # never tenant b's chunks of the same doc_id
        assert {c.metadata["tenant"] for c in e.chunks} == {"a"}
    both = store.search(
        "w5 end5", vector=QUERY, k=6, group_by="tenant", group_size=2, all_tenants=True
    )
    assert sorted({h.record.metadata["tenant"] for h in both}) == ["a", "b"]
    for h, e in zip(both, store.expand(both, parent=True, all_tenants=True), strict=True):
        own = docs_a if h.record.metadata["tenant"] == "a" else docs_b
        assert e.text == own[h.record.doc_id]


def test_milvus_groups_on_the_server_where_measured_equal(
    corpus: tuple[MilvusStore, dict[str, str]], request_spy: RequestSpy
) -> None:
    store, _ = corpus
    q = {"text": "w1 w2", "vector": QUERY}
    for mode in ("dense", "sparse"):
        request_spy.clear()
        store.search(**q, mode=mode, k=3, group_by=True)
        assert [s.group_by for s in request_spy.searches] == ["doc_id"]
        request_spy.clear()
        store.search(**q, mode=mode, k=3, group_by="odd")  # a typed column
        assert [s.group_by for s in request_spy.searches] == ["odd"]
    for opts in ({"mode": "dense", "group_size": 2}, {"mode": "hybrid"}, {"group_by": "doc"}):
        request_spy.clear()
        store.search(**q, k=3, **{"group_by": True, **opts})
        assert request_spy.searches and all(s.group_by == "" for s in request_spy.searches)
