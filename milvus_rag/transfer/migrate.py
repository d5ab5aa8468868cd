"""Copy a collection into milvus-rag's own schema, vectors and all: ``milvus-rag migrate``.

    milvus-rag migrate --from langchain_docs --to docs [--uri ./old.db] [--to-uri ./new.db]

The source is any collection the store can open: one written by langchain-milvus (0.3/0.4) or
llama-index-vector-stores-milvus (1.x), whose layout the store detects from its schema, or a
milvus-rag collection. Every vector field is copied: a source of several (langchain-milvus's
several dense fields, llama-index's client-side ``sparse_embedding``, a milvus-rag collection
of extras, a sparse-only one) gives a target of the same fields (:func:`target_fields`). The target is a milvus-rag collection (``id``/``text``/``dense``/
``sparse``/``doc_id``/``metadata``) with the source's dimension and metric (an INT64 key is
copied as its decimal string, the id the store reads); the text goes to its ``text`` field, whose BM25 function computes the sparse vectors, so hybrid
search works on the copy. The stored vectors are copied as they are: nothing is re-embedded.

The copy walks the source in primary-key order, a page at a time, and writes only the rows of
each page that the target does not already hold with equal content (id, text, doc_id, metadata
and vector): a run that was interrupted continues where it stopped when started again, and a
second run over a finished copy writes nothing. It ends with a count check (the target holds
as many rows as the source). Progress goes to stderr.

The pure parts (:func:`same_record`, :func:`plan_page`, :func:`target_options`,
:class:`MigrateStats`) are unit-tested; :func:`migrate` is the loop.

Example:
    >>> from milvus_rag.client.records import Record
    >>> old = Record(id="a", text="hi", vector=[1.0, 0.0], metadata={"k": 1})
    >>> [r.id for r in plan_page([old], [Record(id="a", text="hi", vector=[1.0, 0.0])])]
    ['a']
    >>> plan_page([old], [old])
    []
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from milvus_rag.client.records import Record
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.progress import progress_bar

if TYPE_CHECKING:  # pymilvus loads when a store is used
    from milvus_rag.client.schema import CollectionInfo
    from milvus_rag.client.store import AsyncMilvusStore

DEFAULT_BATCH = 1000

# --------------------------------------------------------------------------- pure


def _canonical(metadata: Any) -> str:
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)


def same_vector(a: Any, b: Any) -> bool:
    """Equal as float32 (what Milvus stores), or both missing."""
    if a is None or b is None:
        return a is None and b is None
    x, y = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return x.shape == y.shape and bool(np.array_equal(x, y))


def same_sparse(a: Any, b: Any) -> bool:
    """Equal sparse vectors: the same indexes, weights equal as float32."""
    return {int(k): np.float32(v) for k, v in dict(a).items()} == {
        int(k): np.float32(v) for k, v in dict(b).items()
    }


def same_vectors(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal ``Record.vectors`` (the other vector fields, dense or sparse)."""
    if set(a) != set(b):
        return False
    for name, x in a.items():
        y = b[name]
        if isinstance(x, dict) or isinstance(y, dict):
            if not (isinstance(x, dict) and isinstance(y, dict) and same_sparse(x, y)):
                return False
        elif not same_vector(x, y):
            return False
    return True


def same_record(a: Record, b: Record) -> bool:
    """Whether the target's row ``b`` already holds the source's row ``a``."""
    return (
        a.id == b.id
        and a.text == b.text
        and (a.doc_id or "") == (b.doc_id or "")
        and _canonical(a.metadata or {}) == _canonical(b.metadata or {})
        and same_vector(a.vector, b.vector)
        and same_vectors(a.vectors or {}, b.vectors or {})
    )


def plan_page(page: Sequence[Record], existing: Iterable[Record]) -> list[Record]:
    """The rows of ``page`` to write: those the target lacks or holds with other content."""
    have = {r.id: r for r in existing}
    return [r for r in page if r.id not in have or not same_record(r, have[r.id])]


def target_options(info: CollectionInfo, primary: str | None = None) -> dict[str, Any]:
    """The target collection's settings taken from the source: dimension, metric, and an id
    length that fits every source id (texts: milvus-rag's 65,535 is VARCHAR's largest).

    The target's key is milvus-rag's VARCHAR ``id`` whatever the source's: an INT64 key
    (langchain-milvus's ``auto_id``) is copied as its decimal string, which is the
    ``Record.id`` the store reads from the source too, so the copy opens with every default.

    A source of other vector fields than one dense field (and BM25) gives ``vector_fields``
    instead (see :func:`target_fields`; ``primary``: the source's primary dense field).
    """
    out: dict[str, Any] = {"id_max_length": min(max(512, info.id_max_length), 65535)}
    fields = target_fields(info.vector_fields or (), primary)
    if fields is None:
        return {"dim": info.dim, "metric": info.metric, **out}
    return {"vector_fields": fields, **out}


def target_fields(found: Sequence[VectorField], primary: str | None) -> list[VectorField] | None:
    """The target's vector fields for a source of several (``None``: one dense field, with
    or without BM25: the plain target). The source's primary dense field becomes ``dense``
    (its vectors are ``Record.vector``), BM25 is ``sparse`` on the text, every other field
    keeps its name, dim and metric (``Record.vectors``); indexes are the defaults, as the
    primary's are. Names the source's extras take are given a suffix."""
    if not found:  # not read: the plain target
        return None
    dense = [f for f in found if f.is_dense]
    if primary is None and dense:
        primary = dense[0].name
    extras = [f for f in found if not f.is_bm25 and f.name != primary]
    if primary is not None and not extras:
        return None
    taken = {"id", "text", "doc_id", "metadata", *(f.name for f in extras)}
    out: list[VectorField] = []
    if primary is not None:
        p = next(f for f in found if f.name == primary)
        out.append(VectorField.dense(_free("dense", taken), dim=p.dim, metric=p.metric or "COSINE"))
    out.append(VectorField.sparse(_free("sparse", taken), bm25=True))
    for f in extras:
        if f.is_dense:
            out.append(VectorField.dense(f.name, dim=f.dim, metric=f.metric or "COSINE"))
        else:
            out.append(VectorField.sparse(f.name))
    return out


def _free(name: str, taken: set[str]) -> str:
    out, n = name, 1
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


@dataclass
class MigrateStats:
    """What a run did: rows read from the source, written, already equal in the target, and
    the two counts at the end."""

    read: int = 0
    written: int = 0
    unchanged: int = 0
    source_count: int | None = None
    target_count: int | None = None

    @property
    def counts_match(self) -> bool:
        return self.source_count is not None and self.source_count == self.target_count

    def summary(self) -> str:
        line = (
            f"{self.read} rows read, {self.written} written, {self.unchanged} already there; "
            f"source {self.source_count} rows, target {self.target_count}"
        )
        if not self.counts_match:
            line += (
                " -- the counts differ: the target holds rows the source does not (rows deleted "
                "from the source, or written to the target by someone else), or the source "
                "changed during the copy; run migrate again, or drop the target and rerun"
            )
        return line


# --------------------------------------------------------------------------- I/O

PageHook = Callable[[MigrateStats], None]


async def migrate(
    source: AsyncMilvusStore,
    target: AsyncMilvusStore,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: bool | None = None,
    on_page: PageHook | None = None,
) -> MigrateStats:
    """Copy every row of ``source`` into ``target`` (see the module); returns the stats.

    ``on_page`` is called after each page is written (with the running stats). ``target``
    may not exist yet: it is created with ``source``'s dimension and metric if its config
    leaves them open (:func:`target_options` makes such a config).
    """
    await source.ensure_collection()
    stats = MigrateStats()
    total = await source.count()
    target_exists = await target.exists()
    with progress_bar(total, "migrate", progress) as bar:
        async for page in source.iterate_pages(batch_size=batch_size, with_vectors=True):
            stats.read += len(page)
            existing: list[Record] = []
            if target_exists:
                existing = await target.get([r.id for r in page], with_vectors=True)
            todo = plan_page(page, existing)
            if todo:
                await target.upsert(todo)
                target_exists = True
            stats.written += len(todo)
            stats.unchanged += len(page) - len(todo)
            bar.update(len(page))
            if on_page is not None:
                on_page(stats)
    if not target_exists:
        await target.ensure_collection()  # an empty source: an empty copy
    stats.source_count = await source.count()
    stats.target_count = await target.count()
    return stats


async def open_source(uri: str, token: str | None, name: str) -> AsyncMilvusStore:
    """The source store; its layout is detected from the existing collection."""
    from milvus_rag.client.store import AsyncMilvusStore

    return AsyncMilvusStore(uri, token=token, collection_name=name)
