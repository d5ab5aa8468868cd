"""The Ray Data ingestion pipeline: prepare (validate, hash ids, skip stored) -> embed with an
actor pool of encoders -> write with :class:`~milvus_rag.ray.sink.MilvusDatasink`.

Example:
    >>> import ray
    >>> from milvus_rag.ray import EncoderSpec, ingest_dataset
    >>> ds = ray.data.from_items([{"text": "Milvus scales.", "doc_id": "a"}])  # doctest: +SKIP
    >>> ingest_dataset(ds, "http://localhost:19530", collection_name="docs",
    ...                encoder=EncoderSpec(device="cuda"), num_actors=4, num_gpus=1)  # doctest: +SKIP
    IngestResult(rows_written=1, rows_upserted=1, count=1, seconds=...)
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray
import ray.data
from ray.exceptions import RayError

from milvus_rag.client.config import CollectionConfig, ConnectionConfig
from milvus_rag.client.errors import ConfigError, InvalidInputError, MilvusRAGError
from milvus_rag.client.records import Limits
from milvus_rag.progress import rate_note
from milvus_rag.ray.quiet import quiet_job
from milvus_rag.ray.rows import ROW_COLUMNS, VECTOR_COLUMN, limits_for, prepare_documents
from milvus_rag.ray.sink import MilvusDatasink, Target
from milvus_rag.ray.spec import EncoderSpec

__all__ = ["Embedder", "IngestResult", "embed_documents", "ingest_dataset", "prepare_batch"]

DEFAULT_BATCH_SIZE = 256


class Embedder:
    """Ray Data callable class: one per actor, it builds its encoder from an
    :class:`EncoderSpec` once, then adds a ``vector`` column to each batch of prepared rows.

    Example:
        >>> ds.map_batches(Embedder, fn_constructor_kwargs={"spec": EncoderSpec()},
        ...                compute=ray.data.ActorPoolStrategy(size=2), batch_size=256)  # doctest: +SKIP
    """

    def __init__(self, spec: EncoderSpec) -> None:
        self.encoder = spec.build()
        self.dim = int(self.encoder.dim)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        if texts:
            vectors = np.asarray(self.encoder.encode_documents(texts), dtype=np.float32)
        else:
            vectors = np.zeros((0, self.dim), dtype=np.float32)
        if vectors.shape != (len(texts), self.dim):
            raise InvalidInputError(
                f"the encoder returned vectors of shape {vectors.shape} for {len(texts)} texts "
                f"(its dim is {self.dim})"
            )
        out = {c: batch[c] for c in ROW_COLUMNS}
        out[VECTOR_COLUMN] = vectors
        return out


def prepare_batch(
    batch: dict[str, np.ndarray], *, limits: Limits, skip_stored: Target | None = None
) -> dict[str, np.ndarray]:
    """Validate documents and hash ids (:func:`~milvus_rag.ray.rows.prepare_documents`);
    with ``skip_stored``, drop the rows whose id that collection already holds."""
    rows = prepare_documents(batch, limits)
    if skip_stored is None or not len(rows["id"]):
        return rows
    store = skip_stored.store()
    if not store.exists():
        return rows
    stored = {r.id for r in store.get(list(rows["id"]))}
    if not stored:
        return rows
    keep = np.array([rid not in stored for rid in rows["id"]], dtype=bool)
    return {c: v[keep] for c, v in rows.items()}


def _positive(name: str, value: Any, *, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < (1 if integer else 0):
        low = ">= 1" if integer else ">= 0"
        raise ConfigError(f"{name} must be {'an integer' if integer else 'a number'} {low}")


def embed_documents(
    ds: ray.data.Dataset,
    encoder: EncoderSpec | None = None,
    *,
    num_actors: int = 1,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    skip_stored: MilvusDatasink | None = None,
    collection: CollectionConfig | None = None,
) -> ray.data.Dataset:
    """A dataset of rows ready for :class:`MilvusDatasink`, from a dataset of documents.

    Documents have a ``text`` column and optionally ``metadata`` (dicts or JSON object
    strings), ``id`` and ``doc_id``. Missing ids become content hashes of (doc_id, text).
    ``num_actors`` encoders (``num_cpus`` / ``num_gpus`` each) embed ``batch_size`` rows a
    call. With ``skip_stored``, rows already in that sink's collection are neither embedded
    nor written again (a re-run or a resumed job does only what is missing).
    ``collection`` gives the limits rows are checked against (default: the sink's).
    """
    _positive("num_actors", num_actors, integer=True)
    _positive("batch_size", batch_size, integer=True)
    _positive("num_cpus", num_cpus, integer=False)
    _positive("num_gpus", num_gpus, integer=False)
    spec = encoder if encoder is not None else EncoderSpec()
    if not isinstance(spec, EncoderSpec):
        raise ConfigError(f"encoder must be an EncoderSpec, got {type(spec).__name__}")
    if collection is None and skip_stored is not None:
        collection = skip_stored.target.collection
    prepare = functools.partial(
        prepare_batch,
        limits=limits_for(collection),
        skip_stored=skip_stored.target if skip_stored is not None else None,
    )
    prepared = ds.map_batches(prepare, batch_format="numpy", batch_size=batch_size)
    embedded = prepared.map_batches(
        Embedder,
        batch_format="numpy",
        batch_size=batch_size,
        fn_constructor_kwargs={"spec": spec},
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=num_cpus,
        num_gpus=num_gpus or None,
        udf_modifying_row_count=False,
    )
    return embedded


@dataclass(frozen=True)
class IngestResult:
    """What :func:`ingest_dataset` did.

    ``rows_written``: rows the collection gained (its count after minus before: exact when
    nothing else writes to it meanwhile); ``rows_upserted``: rows the write tasks that
    succeeded upserted, replacements of stored ids included; ``count``: rows in the
    collection after the job.
    """

    rows_written: int
    rows_upserted: int
    count: int
    seconds: float

    def summary(self) -> str:
        return (
            f"{self.rows_written} new rows ({self.rows_upserted} upserted, {self.count} in "
            f"the collection) in {self.seconds:.1f} s{rate_note(self.rows_upserted, self.seconds)}"
        )


def milvus_error_of(exc: BaseException) -> MilvusRAGError | None:
    """The milvus-rag error a Ray error carries (a task's original exception), if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        cause = getattr(e, "cause", None)
        if isinstance(cause, MilvusRAGError) and not isinstance(cause, RayError):
            return cause
        if isinstance(e, MilvusRAGError) and not isinstance(e, RayError):
            return e
        todo += [cause if isinstance(cause, BaseException) else None, e.__cause__, e.__context__]
    return None


def ingest_dataset(
    ds: ray.data.Dataset,
    uri: str | None = None,
    *,
    token: str | None = None,
    collection_name: str | None = None,
    encoder: EncoderSpec | None = None,
    num_actors: int = 1,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    skip_existing: bool = True,
    write_concurrency: int | None = None,
    write_num_cpus: float = 0.5,
    rows_per_write: int | None = None,
    connection: ConnectionConfig | None = None,
    collection: CollectionConfig | None = None,
    sink: MilvusDatasink | None = None,
    verbose: bool = False,
    **options: Any,
) -> IngestResult:
    """Embed a dataset of documents on a Ray actor pool and write it into a Milvus server.

    ``uri``, ``token``, ``collection_name``, ``connection``, ``collection`` and ``options``
    name the target as for :class:`~milvus_rag.AsyncMilvusStore` (or pass a ready ``sink``
    instead). A Milvus Lite file is refused with :class:`ConfigError` before any Ray work.
    See :func:`embed_documents` for the columns and the actor pool; ``skip_existing``
    (default) leaves rows already stored alone. ``write_concurrency`` bounds the write tasks
    in flight (each takes ``write_num_cpus``). A bad document fails the job with the
    milvus-rag error naming it (nothing of its batch is written); a worker that dies is
    retried by Ray, and the content-hash ids keep the retry from adding rows. Ray Data's
    progress bars and logs below ERROR are off for the job unless ``verbose``
    (:func:`~milvus_rag.ray.quiet.quiet_job`).
    """
    if sink is None:
        sink = MilvusDatasink(
            uri,
            token=token,
            collection_name=collection_name,
            connection=connection,
            collection=collection,
            **({"rows_per_write": rows_per_write} if rows_per_write is not None else {}),
            **options,
        )
    elif any(v is not None for v in (uri, token, collection_name, connection, collection)) or (
        options or rows_per_write is not None
    ):
        raise ConfigError("pass either sink= or the target (uri=, collection_name=...), not both")
    if not isinstance(verbose, bool):
        raise ConfigError("verbose must be True or False")
    if not isinstance(skip_existing, bool):
        raise ConfigError("skip_existing must be True or False")
    if write_concurrency is not None:
        _positive("write_concurrency", write_concurrency, integer=True)
    _positive("write_num_cpus", write_num_cpus, integer=False)
    t0 = time.perf_counter()
    before = sink.target.count()
    pipeline = embed_documents(
        ds,
        encoder,
        num_actors=num_actors,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        batch_size=batch_size,
        # an empty collection has nothing to skip: no lookups
        skip_stored=sink if skip_existing and before > 0 else None,
        collection=sink.target.collection,
    )
    # For this job, tasks raise the milvus-rag error of a bad row itself rather than Ray
    # Data's UserCodeException (whose pickled form loses the cause). The context is shared
    # with the caller's dataset: restored after.
    context = pipeline.context
    saved = context.raise_original_map_exception
    context.raise_original_map_exception = True
    try:
        with quiet_job(context, verbose=verbose):
            pipeline.write_datasink(
                sink,
                ray_remote_args={"num_cpus": write_num_cpus},
                concurrency=write_concurrency,
            )
    except Exception as e:
        found = milvus_error_of(e)
        if found is None:
            raise
        raise found from e
    finally:
        context.raise_original_map_exception = saved
    count = sink.target.count()
    return IngestResult(
        rows_written=count - before,
        rows_upserted=sink.rows_upserted or 0,
        count=count,
        seconds=time.perf_counter() - t0,
    )
