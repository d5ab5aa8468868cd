"""Ingest past one machine: a Ray Data pipeline into a Milvus server or cluster.

Documents (``text``, optional ``metadata``, ``id``, ``doc_id``) are validated and given
content-hash ids, embedded by an actor pool of milvus-rag encoders (CPU or GPU), and upserted
through the core store into the schema both framework adapters read. Needs the ``ray`` extra::

    pip install "milvus-rag[ray]"

Example:
    >>> import ray
    >>> from milvus_rag.ray import EncoderSpec, ingest_dataset
    >>> ds = ray.data.read_parquet("s3://bucket/chunks/")  # doctest: +SKIP
    >>> result = ingest_dataset(ds, "http://milvus:19530", collection_name="docs",
    ...                         encoder=EncoderSpec(device="cuda", batch_size=256),
    ...                         num_actors=8, num_gpus=1)  # doctest: +SKIP
    >>> result.rows_written  # doctest: +SKIP
    10000000

``milvus_rag.ray.rows`` and ``milvus_rag.ray.spec`` import without Ray; the rest needs it.
Jobs print nothing of Ray's unless asked (``ingest_dataset(..., verbose=True)``);
:func:`~milvus_rag.ray.quiet.init_local` starts a local runtime that does the same.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from milvus_rag.ray.spec import EncoderSpec

if TYPE_CHECKING:
    from milvus_rag.ray.pipeline import (
        Embedder,
        IngestResult,
        embed_documents,
        ingest_dataset,
        prepare_batch,
    )
    from milvus_rag.ray.quiet import init_local, quiet_job
    from milvus_rag.ray.sink import MilvusDatasink, Target

__all__ = [
    "Embedder",
    "EncoderSpec",
    "IngestResult",
    "MilvusDatasink",
    "Target",
    "embed_documents",
    "ingest_dataset",
    "init_local",
    "prepare_batch",
    "quiet_job",
]

_LAZY = {
    "Embedder": "pipeline",
    "IngestResult": "pipeline",
    "embed_documents": "pipeline",
    "ingest_dataset": "pipeline",
    "prepare_batch": "pipeline",
    "MilvusDatasink": "sink",
    "Target": "sink",
    "init_local": "quiet",
    "quiet_job": "quiet",
}
_INSTALL_HINT = 'milvus_rag.ray needs Ray Data: pip install "milvus-rag[ray]"'


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        importlib.import_module("ray.data")
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return getattr(importlib.import_module(f"milvus_rag.ray.{module}"), name)
