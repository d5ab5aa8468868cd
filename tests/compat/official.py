"""Create and search collections with the official integrations themselves.

Run by the interpreters of ``.venv-compat/langchain`` (langchain-milvus 0.4) and
``.venv-compat/llamaindex`` (llama-index-vector-stores-milvus 1.2), never imported by the tests:
it imports only that library, once: it serves one JSON request per line on stdin with one JSON
line on stdout (``{"answer": ...}`` or ``{"error": traceback}``), so a test run pays the
library's import (7.5 s langchain-milvus, 11.6 s llama-index, measured) once per venv, not once per request. Requests look like::

    {"lib": "langchain" | "llama_index", "uri": "...", "collection": "c", "variant": "...",
     "dim": 8, "actions": ["create", "search", "get"],
     "docs": [{"id": "a", "text": "...", "vector": [...], "metadata": {...}}],
     "queries": [[...]], "query_texts": ["..."], "k": 5, "filter": "raw expression" | null,
     "ids": [...]}

``create`` drops the collection and adds ``docs`` (``add`` adds them to an existing one).

After each request the library's client is closed and, on a Lite file, the engine this
process started for it is stopped: a Lite file serves one process at a time, and the tests'
own stores open it next.

The embedding is fake and deterministic: each doc brings its own vector; a text with no vector
embeds to a hash of it. ``search`` answers, per query, the library's own hits:
``{"id", "score", "text", "metadata"}``. Variants: langchain ``typed`` (metadata as typed
columns, the default), ``typed_varchar`` (string ids), ``dynamic`` (``enable_dynamic_field``),
``json`` (``metadata_field="metadata"``), ``bm25`` (``builtin_function=BM25BuiltInFunction()``,
vector fields ``dense`` + ``sparse``); llama_index ``dense`` and ``sparse``
(``enable_sparse=True``, the BM25 built-in function).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
import warnings
from typing import Any

warnings.filterwarnings("ignore")

#: the clients a request opened, closed after it
OPENED: list[Any] = []


def hash_vector(text: str, dim: int) -> list[float]:
    out: list[float] = []
    counter = 0
    while len(out) < dim:
        digest = hashlib.sha256(f"{text}|{counter}".encode()).digest()
        out.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    return out[:dim]


class Table:
    """Text -> vector lookup for the docs of the request (hash for unknown texts)."""

    def __init__(self, docs: list[dict[str, Any]], dim: int) -> None:
        self.dim = dim
        self.vectors = {d["text"]: d["vector"] for d in docs if d.get("vector") is not None}

    def embed(self, text: str) -> list[float]:
        return list(self.vectors.get(text) or hash_vector(text, self.dim))


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --- langchain-milvus -------------------------------------------------------------------


def langchain(req: dict[str, Any]) -> dict[str, Any]:
    from langchain_core.embeddings import Embeddings
    from langchain_milvus import BM25BuiltInFunction, Milvus

    docs = req.get("docs") or []
    table = Table(docs, int(req["dim"]))

    class Fake(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [table.embed(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return table.embed(text)

    variant = req["variant"]
    kwargs: dict[str, Any] = {
        "collection_name": req["collection"],
        "connection_args": {"uri": req["uri"]},
        "consistency_level": "Strong",
        "drop_old": "create" in req["actions"],
    }
    if variant == "dynamic":
        kwargs["enable_dynamic_field"] = True
    elif variant == "json":
        kwargs["metadata_field"] = "metadata"
    elif variant in ("bm25", "bm25_defaults"):
        kwargs["builtin_function"] = BM25BuiltInFunction()
        kwargs["vector_field"] = ["dense", "sparse"]
    if variant == "bm25":
        # langchain-milvus's default index on the BM25 field is AUTOINDEX, which Milvus Lite
        # refuses (2.5 and 3): the index it needs, named as a user of that library would.
        kwargs["index_params"] = [
            {"index_type": "AUTOINDEX", "metric_type": "L2", "params": {}},
            {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25", "params": {}},
        ]
        # and its default BM25 search parameters (drop_ratio_build) are refused there too
        kwargs["search_params"] = [
            {"metric_type": "L2", "params": {}},
            {"metric_type": "BM25", "params": {}},
        ]
    if req.get("partition_key_field"):
        kwargs["partition_key_field"] = req["partition_key_field"]
    string_ids = variant != "typed"
    store = Milvus(embedding_function=Fake(), auto_id=not string_ids, **kwargs)
    OPENED.append(store._milvus_client)
    out: dict[str, Any] = {}
    if {"create", "add"} & set(req["actions"]) and docs:
        ids = [d["id"] for d in docs] if string_ids else None
        out["ids"] = _plain(
            store.add_texts(
                [d["text"] for d in docs], [d.get("metadata") or {} for d in docs], ids=ids
            )
        )
    if "search" in req["actions"]:
        results = []
        texts = req.get("query_texts") or [None] * len(req["queries"])
        for q, text in zip(req["queries"], texts, strict=True):
            if variant.startswith("bm25"):  # a dense + BM25 collection: its hybrid search, by text
                table.vectors[text] = q
                pairs = store.similarity_search_with_score(
                    text,
                    k=req["k"],
                    expr=req.get("filter"),
                    fetch_k=req.get("candidates", req["k"]),
                    ranker_type="rrf",
                    ranker_params={"k": req.get("rrf_k", 60)},
                )
            else:
                pairs = store.similarity_search_with_score_by_vector(
                    q, k=req["k"], expr=req.get("filter")
                )
            results.append(
                [
                    {
                        "id": _plain(doc.metadata.get(store._primary_field, doc.id)),
                        "score": float(score),
                        "text": doc.page_content,
                        "metadata": _plain(
                            {k: v for k, v in doc.metadata.items() if k != store._primary_field}
                        ),
                    }
                    for doc, score in pairs
                ]
            )
        out["results"] = results
    if "get" in req["actions"]:  # langchain-milvus 0.4 has no get_by_ids: its metadata query
        pk = store._primary_field
        listed = ", ".join(json.dumps(i) for i in req["ids"])
        found = store.search_by_metadata(f"{pk} in [{listed}]", fields=["*"], limit=100)
        out["docs"] = []
        for d in found:
            row = dict(d.metadata)
            for name in (pk, store._text_field, *store._as_list(store._vector_field)):
                row.pop(name, None)
            meta = row.pop(kwargs["metadata_field"]) if "metadata_field" in kwargs else row
            out["docs"].append(
                {"id": _plain(d.metadata[pk]), "text": d.page_content, "metadata": _plain(meta)}
            )
    return out


# --- llama-index-vector-stores-milvus -----------------------------------------------------


def llama_index(req: dict[str, Any]) -> dict[str, Any]:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.milvus import MilvusVectorStore

    variant = req["variant"]
    kwargs: dict[str, Any] = {
        "uri": req["uri"],
        "collection_name": req["collection"],
        "dim": int(req["dim"]),
        "overwrite": "create" in req["actions"],
        "consistency_level": "Strong",
    }
    if variant == "sparse":
        from llama_index.vector_stores.milvus.utils import BM25BuiltInFunction

        kwargs["enable_sparse"] = True
        # named, as its docs show: reopening the collection on a Lite 2.5 file, which
        # describes no functions, it would otherwise look for FlagEmbedding's BGE-M3
        kwargs["sparse_embedding_function"] = BM25BuiltInFunction()
    store = MilvusVectorStore(**kwargs)
    OPENED.append(store._milvusclient)
    out: dict[str, Any] = {}
    docs = req.get("docs") or []
    if {"create", "add"} & set(req["actions"]) and docs:
        nodes = []
        for d in docs:
            node = TextNode(
                id_=d["id"],
                text=d["text"],
                metadata=d.get("metadata") or {},
                embedding=d["vector"],
            )
            if d.get("doc_id"):
                from llama_index.core.schema import NodeRelationship, RelatedNodeInfo

                node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=d["doc_id"])
            nodes.append(node)
        out["ids"] = store.add(nodes)
    if "search" in req["actions"]:
        results = []
        for q in req["queries"]:
            kw: dict[str, Any] = {}
            if req.get("filter"):
                kw["string_expr"] = req["filter"]
            res = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=req["k"]), **kw)
            results.append(
                [
                    {
                        "id": i,
                        "score": float(s),
                        "text": n.get_content(),
                        "metadata": _plain(n.metadata),
                        "ref_doc_id": n.ref_doc_id,
                    }
                    for n, s, i in zip(res.nodes, res.similarities, res.ids, strict=True)
                ]
            )
        out["results"] = results
    if "get" in req["actions"]:
        nodes = store.get_nodes(node_ids=req["ids"])
        out["docs"] = [
            {
                "id": n.node_id,
                "text": n.get_content(),
                "metadata": _plain(n.metadata),
                "ref_doc_id": n.ref_doc_id,
                "type": type(n).__name__,
            }
            for n in nodes
        ]
    return out


def release(uri: str) -> None:
    """Leave no connection and no engine behind, as if each request had its own process:
    close the request's clients and every connection pymilvus keeps for reuse (an idle one
    pings every 10 s, the Lite 3 server answers with GOAWAY "too many pings", and pymilvus
    then fails to recover it on the next request: measured), and stop the engine of a Lite
    file (pymilvus keeps it running, holding the file, until the process exits)."""
    while OPENED:
        try:
            OPENED.pop().close()
        except Exception:
            traceback.print_exc()
    from pymilvus.client.connection_manager import ConnectionManager

    ConnectionManager.get_instance().close_all()
    if uri.startswith(("http://", "https://", "tcp://", "unix:")):
        return
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return
    if str(os.path.realpath(uri)) in server_manager_instance._servers:
        server_manager_instance.release_server(uri)


def main() -> None:
    # answers go to the original stdout; anything else printing there (the library, the
    # engine processes it starts, which inherit fd 1) goes to stderr
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            run = langchain if req["lib"] == "langchain" else llama_index
            out: dict[str, Any] = {"answer": run(req)}
        except Exception:
            out = {"error": traceback.format_exc()}
        finally:
            release(req["uri"])
        answers.write(json.dumps(out) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
