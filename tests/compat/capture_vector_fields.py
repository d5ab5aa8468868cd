"""Capture the schemas of collections of several vector fields that the official libraries
create themselves, for ``tests/unit/data/layouts`` (read by ``tests/unit/test_vector_storage.py``).

Not a test: run by hand, once per library, from that library's venv (``.venv-compat``)::

    .venv-compat/langchain/bin/python tests/compat/capture_vector_fields.py langchain URI OUT
    .venv-compat/llamaindex/bin/python tests/compat/capture_vector_fields.py llama_index URI OUT

``URI``: a Lite file path or a Lite 3 server's address; ``OUT``: the folder the JSON files go
to (``{"description": describe_collection, "indexes": {field: describe_index}}``). Collections:

- ``lc_two_dense``: langchain-milvus 0.4 with two embedding functions and
  ``vector_field=["title", "body"]`` (its multi-vector layout);
- ``lc_two_dense_bm25``: the same plus ``builtin_function=BM25BuiltInFunction()``;
- ``llama_client_sparse``: llama-index-vector-stores-milvus 1.2 with ``enable_sparse=True`` and
  a client-side ``sparse_embedding_function`` (its ``sparse_embedding`` field);
- ``llama_sparse_only``: the same with ``enable_dense=False``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

DIM = 8


def vector(text: str, salt: str) -> list[float]:
    digest = hashlib.sha256(f"{salt}|{text}".encode()).digest()
    return [(b - 127.5) / 127.5 for b in digest[:DIM]]


def sparse(text: str) -> dict[int, float]:
    return {int(hashlib.sha256(w.encode()).hexdigest()[:4], 16): 1.0 for w in text.split()}


TEXTS = ["cats and dogs", "birds fly", "fish swim"]


def capture(client: Any, name: str, out: Path) -> None:
    desc = client.describe_collection(name)
    indexes = {}
    for index_name in client.list_indexes(name):
        d = client.describe_index(name, index_name)
        indexes[str(d.get("field_name", index_name))] = d
    data = {"description": desc, "indexes": indexes}
    (out / f"{name}.json").write_text(json.dumps(data, indent=1, default=str, sort_keys=True))


def langchain(uri: str, out: Path) -> None:
    from langchain_core.embeddings import Embeddings
    from langchain_milvus import BM25BuiltInFunction, Milvus

    class Fake(Embeddings):
        def __init__(self, salt: str) -> None:
            self.salt = salt

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [vector(t, self.salt) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return vector(text, self.salt)

    for name, bm25 in (("lc_two_dense", False), ("lc_two_dense_bm25", True)):
        kwargs: dict[str, Any] = {}
        fields = ["title", "body"]
        if bm25:
            kwargs["builtin_function"] = BM25BuiltInFunction()
            fields.append("sparse")
            kwargs["index_params"] = [
                {"index_type": "AUTOINDEX", "metric_type": "L2", "params": {}},
                {"index_type": "AUTOINDEX", "metric_type": "IP", "params": {}},
                {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25", "params": {}},
            ]
        store = Milvus(
            embedding_function=[Fake("title"), Fake("body")],
            vector_field=fields,
            collection_name=name,
            connection_args={"uri": uri},
            consistency_level="Strong",
            drop_old=True,
            auto_id=True,
            **kwargs,
        )
        store.add_texts(TEXTS, [{"source": f"s{i}"} for i in range(len(TEXTS))])
        capture(store._milvus_client, name, out)
        store._milvus_client.close()


def llama_index(uri: str, out: Path) -> None:
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.milvus import MilvusVectorStore
    from llama_index.vector_stores.milvus.utils import BaseSparseEmbeddingFunction

    class Sparse(BaseSparseEmbeddingFunction):
        def encode_queries(self, queries: list[str]) -> list[dict[int, float]]:
            return [sparse(q) for q in queries]

        def encode_documents(self, documents: list[str]) -> list[dict[int, float]]:
            return [sparse(d) for d in documents]

    for name, dense in (("llama_client_sparse", True), ("llama_sparse_only", False)):
        store = MilvusVectorStore(
            uri=uri,
            collection_name=name,
            dim=DIM,
            overwrite=True,
            enable_sparse=True,
            enable_dense=dense,
            sparse_embedding_function=Sparse(),
            consistency_level="Strong",
        )
        nodes = [
            TextNode(id_=f"n{i}", text=t, embedding=vector(t, "e") if dense else None)
            for i, t in enumerate(TEXTS)
        ]
        store.add(nodes)
        capture(store._milvusclient, name, out)
        store._milvusclient.close()


if __name__ == "__main__":
    lib, uri, folder = sys.argv[1:4]
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    (langchain if lib == "langchain" else llama_index)(uri, target)
