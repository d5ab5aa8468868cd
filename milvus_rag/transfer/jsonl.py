"""Export and import a collection's rows as JSON lines: ``milvus-rag export`` / ``import``.

    milvus-rag export [--filter JSON] [--vectors] > rows.jsonl
    milvus-rag import rows.jsonl --uri http://milvus:19530 --collection docs

Format: a header line ``{"milvus_rag_export": 1, "collection": ..., "dim": ..., "metric":
..., "vectors": true|false, "vector_fields": [...]}``, then one row per line: ``{"id", "text",
"doc_id", "metadata"[, "vector"][, "vectors"]}``. ``vector`` is the primary dense field's;
``vectors`` those of the collection's other vector fields by name (a dense one a list of
numbers, a client-side sparse one an object of index -> weight, its keys the indexes as
strings, as JSON has it); the header's ``vector_fields`` describes every field, so that an
import creates a missing target with the same fields. The header is optional on import (any
JSON-lines file of rows imports, an export made before ``vectors`` existed too). Export walks every matching row with :meth:`AsyncMilvusStore.iterate` (no 16,384
ceiling). Import is resumable by id: rows whose id the target already holds are skipped,
so a run cut short and started again writes only what is missing, and nothing is ever
duplicated (writes are upserts by id). Rows without a vector are embedded (the CLI loads
the model only then). Progress bars go to stderr.

Example:
    >>> from milvus_rag.client.records import Record
    >>> line = record_to_line(Record(id="a", text="hi", metadata={"k": 1}), with_vectors=False)
    >>> line
    '{"id": "a", "text": "hi", "doc_id": "", "metadata": {"k": 1}}'
    >>> parse_line(line, 2).metadata
    {'k': 1}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from milvus_rag.client.errors import InvalidInputError
from milvus_rag.client.records import Record
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.progress import progress_bar

if TYPE_CHECKING:  # the CLI imports this module at start: pymilvus loads when a store is used
    from milvus_rag.client.store import AsyncMilvusStore, EmbedFn

FORMAT_VERSION = 1
HEADER_KEY = "milvus_rag_export"
IMPORT_BATCH = 1000
_ROW_KEYS = {"id", "text", "doc_id", "metadata", "vector", "vectors"}


# --------------------------------------------------------------------------- pure


def header_line(
    store: AsyncMilvusStore,
    dim: int,
    metric: str,
    with_vectors: bool,
    vector_fields: Sequence[VectorField] = (),
) -> str:
    head: dict[str, Any] = {
        HEADER_KEY: FORMAT_VERSION,
        "collection": store.name,
        "dim": dim,
        "metric": metric,
        "vectors": with_vectors,
    }
    if vector_fields:
        head["vector_fields"] = [field_to_json(f) for f in vector_fields]
    return json.dumps(head, ensure_ascii=False)


def field_to_json(f: VectorField) -> dict[str, Any]:
    """A vector field as the header lists it: name, kind (dense / sparse / bm25), dense dim
    and metric."""
    kind = "bm25" if f.is_bm25 else f.kind
    out: dict[str, Any] = {"name": f.name, "kind": kind}
    if f.is_dense:
        out.update(dim=f.dim, metric=f.metric)
    return out


def fields_from_header(header: Mapping[str, Any] | None) -> list[VectorField] | None:
    """The vector fields an export's header lists (``None`` where it lists none, or only the
    default pair: one dense field and BM25, which the plain ``dim`` creates)."""
    listed = (header or {}).get("vector_fields")
    if not listed:
        return None
    if not isinstance(listed, list) or not all(isinstance(f, dict) for f in listed):
        raise InvalidInputError("the header's 'vector_fields' must be a list of objects")
    out = []
    for f in listed:
        kind, name = f.get("kind"), f.get("name")
        if kind == "dense":
            out.append(
                VectorField.dense(name, dim=f.get("dim"), metric=f.get("metric") or "COSINE")
            )
        elif kind in ("sparse", "bm25"):
            out.append(VectorField.sparse(name, bm25=kind == "bm25"))
        else:
            raise InvalidInputError(f"the header's vector field {f!r} has an unknown kind")
    dense = [f for f in out if f.is_dense]
    if len(dense) == 1 and len(out) - len(dense) == sum(f.is_bm25 for f in out) <= 1:
        return None
    return out


def record_to_line(rec: Record, *, with_vectors: bool, dense: bool = True) -> str:
    """One row line; ``dense``: whether the collection has a dense field (its rows must
    have a vector to export with ``with_vectors``)."""
    row: dict[str, Any] = {
        "id": rec.id,
        "text": rec.text,
        "doc_id": rec.doc_id,
        "metadata": rec.metadata,
    }
    if with_vectors:
        if rec.vector is None and dense:
            raise InvalidInputError(f"row {rec.id!r} has no vector to export")
        if rec.vector is not None:
            row["vector"] = _floats(rec.vector)
        if rec.vectors:
            row["vectors"] = {
                name: {str(int(k)): float(w) for k, w in v.items()}
                if isinstance(v, Mapping)
                else _floats(v)
                for name, v in rec.vectors.items()
            }
    return json.dumps(row, ensure_ascii=False)


def _floats(vector: Any) -> list[float]:
    return [float(x) for x in np.asarray(vector, dtype=np.float32)]


def parse_header(line: str) -> dict[str, Any] | None:
    """The header's fields if ``line`` is an export header, else None."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or HEADER_KEY not in obj:
        return None
    if obj[HEADER_KEY] != FORMAT_VERSION:
        raise InvalidInputError(
            f"export format version {obj[HEADER_KEY]!r} is not supported (this milvus-rag "
            f"reads version {FORMAT_VERSION})"
        )
    return obj


def parse_line(line: str, lineno: int) -> Record:
    """One row line as a :class:`Record`; errors name the line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise InvalidInputError(f"line {lineno}: not JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise InvalidInputError(f"line {lineno}: expected a JSON object")
    unknown = set(obj) - _ROW_KEYS
    if unknown:
        raise InvalidInputError(
            f"line {lineno}: unknown key(s) {sorted(unknown)}; rows have {sorted(_ROW_KEYS)}"
        )
    if not isinstance(obj.get("id"), str) or not isinstance(obj.get("text"), str):
        raise InvalidInputError(f"line {lineno}: 'id' and 'text' must be strings")
    metadata = {} if obj.get("metadata") is None else obj["metadata"]
    doc_id = "" if obj.get("doc_id") is None else obj["doc_id"]
    if not isinstance(metadata, dict) or not isinstance(doc_id, str):
        raise InvalidInputError(f"line {lineno}: 'metadata' must be an object, 'doc_id' a string")
    vector = obj.get("vector")
    if vector is not None and not _numbers(vector):
        raise InvalidInputError(f"line {lineno}: 'vector' must be a list of numbers")
    vectors = _vectors(obj.get("vectors"), lineno)
    return Record(
        id=obj["id"],
        text=obj["text"],
        vector=vector,
        metadata=metadata,
        doc_id=doc_id,
        vectors=vectors,
    )


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    )


def _vectors(value: Any, lineno: int) -> dict[str, Any]:
    """A row's ``vectors``: a dense field's list of numbers, a sparse field's object of
    index (a string of digits) -> weight, as ``{int: float}``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(f"line {lineno}: 'vectors' must be an object of field -> vector")
    out: dict[str, Any] = {}
    for name, v in value.items():
        if _numbers(v):
            out[name] = v
        elif isinstance(v, dict) and all(
            isinstance(k, str) and k.isdigit() and isinstance(w, int | float)
            and not isinstance(w, bool)
            for k, w in v.items()
        ):  # fmt: skip
            out[name] = {int(k): float(w) for k, w in v.items()}
        else:
            raise InvalidInputError(
                f"line {lineno}: vectors[{name!r}] must be a list of numbers (a dense field) "
                'or an object of index -> weight such as {"17": 0.5} (a sparse field)'
            )
    return out


def read_lines(lines: Iterable[str]) -> tuple[dict[str, Any] | None, Iterator[Record]]:
    """(header or None, the rows) of an export file's lines; blank lines are skipped."""
    numbered = ((n, line) for n, line in enumerate(lines, 1) if line.strip())
    first = next(numbered, None)
    header = parse_header(first[1]) if first is not None else None

    def rows() -> Iterator[Record]:
        if first is not None and header is None:
            yield parse_line(first[1], first[0])
        for n, line in numbered:
            yield parse_line(line, n)

    return header, rows()


def batched(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for r in records:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --------------------------------------------------------------------------- I/O


@dataclass
class ImportStats:
    read: int = 0
    skipped: int = 0
    written: int = 0

    def summary(self) -> str:
        return f"{self.read} rows read, {self.written} written, {self.skipped} already there"


async def export_rows(
    store: AsyncMilvusStore,
    out: TextIO,
    *,
    filter: Any = None,
    with_vectors: bool = False,
    batch_size: int = 1000,
    progress: bool | None = None,
    all_tenants: bool = False,
) -> int:
    """Write the header and every row matching ``filter`` to ``out``; returns the rows written.

    On a multi-tenant collection the rows are those of the store's tenant (a
    :meth:`~AsyncMilvusStore.for_tenant` view), or of every tenant with ``all_tenants=True``
    (each row keeps its tenant in ``metadata[tenant_field]``)."""
    info = await store.ensure_collection()
    total = await store.count(filter, all_tenants=all_tenants)
    fields = store.config.vector_fields
    out.write(header_line(store, info.dim, info.metric, with_vectors, fields) + "\n")
    dense = store.config.enable_dense
    n = 0
    with progress_bar(total, "export", progress) as bar:
        async for page in store.iterate_pages(
            filter, batch_size=batch_size, with_vectors=with_vectors, all_tenants=all_tenants
        ):
            out.write(
                "".join(
                    record_to_line(r, with_vectors=with_vectors, dense=dense) + "\n" for r in page
                )
            )
            n += len(page)
            bar.update(len(page))
    out.flush()
    return n


async def import_rows(
    store: AsyncMilvusStore,
    records: Iterable[Record],
    *,
    embed: EmbedFn | None = None,
    batch_size: int = IMPORT_BATCH,
    total: int | None = None,
    progress: bool | None = None,
    all_tenants: bool = False,
) -> ImportStats:
    """Upsert ``records`` the target does not hold yet (by id), ``batch_size`` at a time.

    A multi-tenant target takes the store's tenant (a ``for_tenant`` view), or with
    ``all_tenants=True`` the tenant each row names in ``metadata[tenant_field]``."""
    stats = ImportStats()
    with progress_bar(total, "import", progress) as bar:
        for batch in batched(records, batch_size):
            stats.read += len(batch)
            have = set()
            if await store.exists():
                have = {
                    r.id for r in await store.get([r.id for r in batch], all_tenants=all_tenants)
                }
            todo = [r for r in batch if r.id not in have]
            stats.skipped += len(batch) - len(todo)
            if todo:
                if store.config.dim is None:
                    first = next((r.vector for r in todo if r.vector is not None), None)
                    if first is not None:
                        store.set_dim(len(first))
                stats.written += len(await store.upsert(todo, embed=embed, all_tenants=all_tenants))
            bar.update(len(batch))
    return stats
