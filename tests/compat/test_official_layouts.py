"""Collections created by langchain-milvus 0.4 and llama-index-vector-stores-milvus 1.2
themselves (each from its own venv, see conftest.py), opened by milvus-rag's core on the
embedded Lite 2.5 file and on the Lite 3 server: the layout is detected, searches return the
hits the library returns for the same query vectors (ids, order, distances), filters, get,
count and delete work on the layout's metadata, and rows milvus-rag writes there read back
through the library itself.

BM25 layouts are tested on the server only: on a Lite 2.5 file langchain-milvus 0.4 fails to
create them itself (it builds an AUTOINDEX on the sparse field, which Lite 2.5 refuses), and
llama-index-vector-stores-milvus's ``enable_sparse`` likewise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from milvus_rag import AsyncMilvusStore, Record
from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import PRIVATE_KEY, public_metadata
from tests.backends import Backend
from tests.compat.conftest import Official

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DIM = 8
N = 40
K = 5
WORDS = ["cats", "dogs", "birds", "fish", "mice"]


def _docs() -> list[dict[str, Any]]:
    rng = np.random.default_rng(15)
    out = []
    for i in range(N):
        words = " ".join(WORDS[(i * j) % 5] for j in range(1, 2 + i % 4))
        out.append(
            {
                "id": f"d{i}",
                "text": f"doc {i} about {words}",
                "vector": [float(x) for x in rng.normal(size=DIM)],
                "metadata": {
                    "source": f"s{i % 3}",
                    "year": 2000 + i,
                    "score": round(i / 7, 3),
                    "draft": i % 2 == 0,
                },
            }
        )
    return out


DOCS = _docs()
BY_TEXT = {d["text"]: d for d in DOCS}
QUERIES = [[float(x) for x in np.random.default_rng(s).normal(size=DIM)] for s in (1, 2, 3)]
QUERY_TEXTS = ["cats birds", "dogs", "fish mice cats"]


@dataclass(frozen=True)
class Case:
    lib: str
    variant: str
    layout: str
    #: the library's own filter expression for metadata["source"] == "s1"
    raw_filter: str
    ids_known: bool = True  # langchain-milvus's JSON layout does not return ids
    server_only: bool = False
    hybrid: bool = False


CASES = [
    Case("langchain", "typed", "langchain", 'source == "s1"'),
    Case("langchain", "dynamic", "langchain", 'source == "s1"'),
    Case("langchain", "json", "langchain", 'metadata["source"] == "s1"', ids_known=False),
    Case("langchain", "bm25", "langchain", 'source == "s1"', hybrid=True),
    Case("llama_index", "dense", "llama_index", 'source == "s1"'),
    Case("llama_index", "sparse", "llama_index", 'source == "s1"'),
]


@pytest.mark.parametrize("where", ["lite", "server"])
def test_langchain_bm25_defaults_fail_in_langchain_itself(
    where: str, tmp_path: Any, official: Official, lite3_server: Any
) -> None:
    """Why the BM25 case passes langchain-milvus the sparse index and search parameters:
    with its defaults (an AUTOINDEX on the sparse field, drop_ratio_build) it fails itself."""
    uri = str(tmp_path / "bm25.db") if where == "lite" else lite3_server.uri
    with pytest.raises(AssertionError, match=r"AUTOINDEX|SPARSE_INVERTED_INDEX|drop_ratio"):
        official(
            "langchain",
            uri=uri,
            collection="c_bm25d",
            variant="bm25_defaults",
            dim=DIM,
            actions=["create", "search"],
            docs=DOCS[:3],
            queries=QUERIES[:1],
            query_texts=QUERY_TEXTS[:1],
            k=2,
        )


def _params() -> list[Any]:
    return [pytest.param(c, id=f"{c.lib}-{c.variant}") for c in CASES]


def _key(case: Case, hit: dict[str, Any]) -> str:
    return str(hit["id"]) if case.ids_known else str(BY_TEXT[hit["text"]]["id"])


def _ranking(hits: list[tuple[str, float]]) -> list[frozenset[str]]:
    """Ids grouped by equal score, best first: hits with tied scores may come in any order."""
    groups: list[tuple[float, set[str]]] = []
    for i, s in hits:
        if groups and abs(groups[-1][0] - s) < 1e-6:
            groups[-1][1].add(i)
        else:
            groups.append((s, {i}))
    return [frozenset(g) for _, g in groups]


def _doc_key(case: Case, hit_id: str, text: str) -> str:
    return hit_id if case.ids_known else str(BY_TEXT[text]["id"])


@pytest.fixture
def opened(
    backend: Backend, compat_uri: str, official: Official
) -> Callable[[Case], dict[str, Any]]:
    def create(case: Case) -> dict[str, Any]:
        assert not (case.server_only and backend.is_local)  # deselected (see conftest.py)
        return official(
            case.lib,
            uri=compat_uri,
            collection=f"c_{case.variant}",
            variant=case.variant,
            dim=DIM,
            actions=["create", "search"],
            docs=DOCS,
            queries=QUERIES,
            query_texts=QUERY_TEXTS,
            k=K,
            candidates=20,
            rrf_k=60,
        )

    return create


def _store(uri: str, case: Case) -> AsyncMilvusStore:
    return AsyncMilvusStore(uri, collection_name=f"c_{case.variant}")


@pytest.mark.parametrize("case", _params())
async def test_same_hits_as_the_library(
    case: Case, opened: Callable[[Case], dict[str, Any]], compat_uri: str, official: Official
) -> None:
    theirs = opened(case)["results"]
    async with _store(compat_uri, case) as store:
        described = await store.describe()
        assert described["layout"] == case.layout
        assert described["count"] == N
        for q, text, lib_hits in zip(QUERIES, QUERY_TEXTS, theirs, strict=True):
            if case.hybrid:  # the library's search on a dense + BM25 collection: RRF
                hits = await store.search(
                    text, q, k=K, mode="hybrid", rrf_k=60, candidates=20, relevance=True
                )
            else:
                hits = await store.search(vector=q, k=K, mode="dense")
            ours = [(_doc_key(case, h.id, h.record.text), h.distance) for h in hits]
            want = [(_key(case, h), h["score"]) for h in lib_hits]
            assert _ranking(ours) == _ranking(want)
            assert np.allclose([d for _, d in ours], [d for _, d in want], atol=1e-4)
            for h in hits:  # text and metadata as the library stored them
                doc = BY_TEXT[h.record.text]
                assert public_metadata(h.record.metadata) == doc["metadata"]
                assert 0.0 <= h.relevance <= 1.0


@pytest.mark.parametrize("case", _params())
async def test_filters_get_count_on_the_layouts_metadata(
    case: Case, opened: Callable[[Case], dict[str, Any]], compat_uri: str, official: Official
) -> None:
    opened(case)
    theirs = official(
        case.lib,
        uri=compat_uri,
        collection=f"c_{case.variant}",
        variant=case.variant,
        dim=DIM,
        actions=["search"],
        queries=QUERIES[:1],
        query_texts=QUERY_TEXTS[:1],
        k=K,
        filter=case.raw_filter,
        candidates=20,
        rrf_k=60,
    )["results"][0]
    async with _store(compat_uri, case) as store:
        if case.hybrid:
            hits = await store.search(
                QUERY_TEXTS[0], QUERIES[0], k=K, filter={"source": "s1"}, rrf_k=60, candidates=20
            )
        else:
            hits = await store.search(vector=QUERIES[0], k=K, mode="dense", filter={"source": "s1"})
        ours = [(_doc_key(case, h.id, h.record.text), h.distance) for h in hits]
        assert _ranking(ours) == _ranking([(_key(case, h), h["score"]) for h in theirs])
        assert all(h.record.metadata["source"] == "s1" for h in hits)
        years = {"year": {"$gte": 2010}, "draft": True}
        assert await store.count(years) == sum(
            1 for d in DOCS if d["metadata"]["year"] >= 2010 and d["metadata"]["draft"]
        )
        assert await store.count({"$or": [{"source": "s0"}, {"score": {"$lt": 1.0}}]}) == sum(
            1 for d in DOCS if d["metadata"]["source"] == "s0" or d["metadata"]["score"] < 1.0
        )
        rows = [r async for r in store.iterate({"source": {"$in": ["s1", "s2"]}})]
        assert sorted(r.text for r in rows) == sorted(
            d["text"] for d in DOCS if d["metadata"]["source"] in ("s1", "s2")
        )
        got = await store.get([h.id for h in hits[:3]])
        assert [r.id for r in got] == [h.id for h in hits[:3]]
        assert [public_metadata(r.metadata) for r in got] == [
            BY_TEXT[r.text]["metadata"] for r in got
        ]
        if case.layout == "langchain" and not case.hybrid:
            with pytest.raises(ConfigError, match="no BM25"):
                await store.search("cats", QUERIES[0], k=K, mode="hybrid")


def _new_records(case: Case) -> list[Record]:
    rng = np.random.default_rng(99)
    auto = case.variant == "typed"  # langchain-milvus's default: INT64 auto_id
    return [
        Record(
            id="" if auto else f"new{j}",
            text=f"new doc {j} about cats",
            vector=[float(x) for x in rng.normal(size=DIM) * 3],
            metadata={"source": "s9", "year": 1990 + j, "score": 0.5, "draft": False},
            doc_id="SRC" if case.lib == "llama_index" else "",
        )
        for j in range(3)
    ]


@pytest.mark.parametrize("case", _params())
async def test_rows_milvus_rag_writes_read_back_through_the_library(
    case: Case, opened: Callable[[Case], dict[str, Any]], compat_uri: str, official: Official
) -> None:
    opened(case)
    new = _new_records(case)
    async with _store(compat_uri, case) as store:
        ids = await store.upsert(new)
        assert len(ids) == 3 and all(ids)
        gone = (await store.search(vector=DOCS[0]["vector"], k=1, mode="dense"))[0]
        assert gone.record.text == DOCS[0]["text"]
        assert await store.delete([gone.id]) == 1
        assert await store.count() == N + 3 - 1
        assert await store.count({"source": "s9"}) == 3
    lib_ids: list[Any] = [int(i) for i in ids] if case.variant == "typed" else ids
    theirs = official(
        case.lib,
        uri=compat_uri,
        collection=f"c_{case.variant}",
        variant=case.variant,
        dim=DIM,
        actions=["search", "get"],
        queries=[r.vector for r in new] + [DOCS[0]["vector"]],
        query_texts=[r.text for r in new] + [DOCS[0]["text"]],
        k=1,
        ids=lib_ids,
        candidates=20,
        rrf_k=60,
    )
    for r, hits in zip(new, theirs["results"][:3], strict=True):
        assert hits[0]["text"] == r.text
        assert hits[0]["metadata"] == r.metadata
    assert theirs["results"][3][0]["text"] != DOCS[0]["text"]  # deleted: the library agrees
    got = {str(d["id"]): d for d in theirs["docs"]}
    if case.ids_known:
        assert sorted(got) == sorted(ids)
    for d in theirs["docs"]:
        assert d["metadata"] == new[0].metadata | {"year": d["metadata"]["year"]}
        if case.lib == "llama_index":  # the node rebuilt from _node_content
            assert d["ref_doc_id"] == "SRC" and d["type"] == "TextNode"


async def test_llama_nodes_written_by_milvus_rag_keep_their_node_data(
    backend: Backend, compat_uri: str, official: Official
) -> None:
    case = CASES[4]
    official(
        "llama_index",
        uri=compat_uri,
        collection="c_dense",
        variant="dense",
        dim=DIM,
        actions=["create"],
        docs=DOCS[:5],
    )
    private = {"class": "TextNode", "start": 2, "end": 9, "mimetype": "text/markdown"}
    async with _store(compat_uri, case) as store:
        await store.upsert(
            [
                Record(
                    id="n1",
                    text="a node",
                    vector=DOCS[0]["vector"],
                    metadata={"k": "v", PRIVATE_KEY: private},
                    doc_id="SRC",
                )
            ]
        )
        back = (await store.get(["n1"]))[0]
        assert back.metadata == {
            "k": "v",
            PRIVATE_KEY: {
                **private,
                "relationships": {
                    "1": {
                        "node_id": "SRC",
                        "node_type": None,
                        "metadata": {},
                        "hash": None,
                        "class_name": "RelatedNodeInfo",
                    }
                },
            },
        }
    node = official(
        "llama_index",
        uri=compat_uri,
        collection="c_dense",
        variant="dense",
        dim=DIM,
        actions=["get"],
        ids=["n1"],
    )["docs"][0]
    assert (node["text"], node["metadata"], node["ref_doc_id"]) == ("a node", {"k": "v"}, "SRC")
