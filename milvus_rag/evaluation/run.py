"""BEIR-format retrieval evaluation, the run: ingest a dataset, score every retrieval mode.
Metrics: :mod:`.metrics`; loading: :mod:`.beir`; the fan-out rewrite: :mod:`.stopwords`; the
table: :mod:`.table`.

End to end (the ``milvus-rag eval`` command calls this)::

    rows = run_eval("data/scifact", ["dense", "sparse", "hybrid"], uri="./eval.db")
    print(format_table(rows))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from milvus_rag.client.config import EVAL_COLLECTION
from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.evaluation.beir import BeirDataset, load_beir
from milvus_rag.evaluation.chunked import check_documents, chunk_corpus, doc_ranking
from milvus_rag.evaluation.metrics import DEFAULT_METRICS, evaluate
from milvus_rag.evaluation.stopwords import fanout_variants

__all__ = [
    "EVAL_COLLECTION",
    "MODES",
    "ModeSpec",
    "aevaluate_modes",
    "aingest",
    "arun_eval",
    "parse_mode",
    "run_eval",
]

MODES = ("dense", "sparse", "hybrid", "weighted", "fanout")

# --- retrieval modes ---------------------------------------------------------------------


@dataclass(frozen=True)
class ModeSpec:
    """One retrieval configuration to evaluate.

    ``mode``: dense, sparse, hybrid (server-side RRF), weighted (hybrid with ``alpha`` on
    dense over min-max-normalised scores) or fanout (hybrid RRF of each of
    :func:`fanout_variants`, fused client-side by RRF).
    """

    mode: str
    alpha: float | None = None
    label: str = ""

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.mode == "weighted":
            return f"weighted a={self.alpha if self.alpha is not None else 0.5:g}"
        return self.mode


def parse_mode(value: str | ModeSpec, alpha: float | None = None) -> ModeSpec:
    """``"dense"``, ``"sparse"``/``"bm25"``, ``"hybrid"``/``"rrf"``, ``"weighted"``,
    ``"weighted:0.3"``, ``"fanout"``."""
    if isinstance(value, ModeSpec):
        return value
    text = str(value).strip().lower()
    name, _, arg = text.partition(":")
    name = {"bm25": "sparse", "rrf": "hybrid", "fan-out": "fanout"}.get(name, name)
    if name not in MODES:
        raise ConfigError(f"unknown eval mode {value!r}: use one of {', '.join(MODES)}")
    a = alpha
    if arg:
        if name != "weighted":
            raise ConfigError(f"only 'weighted' takes a parameter, got {value!r}")
        try:
            a = float(arg)
        except ValueError:
            raise ConfigError(f"alpha in {value!r} is not a number") from None
    if name == "weighted":
        a = 0.5 if a is None else a
        if not 0.0 <= a <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {a}")
        return ModeSpec("weighted", alpha=a)
    return ModeSpec(name)


# --- ingest + evaluation against a store -------------------------------------------------


async def aingest(
    store: Any,
    dataset: BeirDataset,
    *,
    encoder: Any = None,
    vectors: np.ndarray | None = None,
    progress: bool = False,
    chunk_size: int | None = None,
    chunk_overlap: int = 0,
) -> float:
    """Upsert the corpus (ids = corpus ids); returns seconds taken. With ``vectors`` (rows in
    corpus order) nothing is embedded, else ``encoder.aencode_documents`` runs pipelined
    (``progress``: a tqdm bar of the documents embedded, on stderr). ``chunk_size``: upsert
    the documents' chunks instead (see :func:`~milvus_rag.evaluation.chunked.chunk_corpus`;
    ``vectors`` then in chunk order)."""
    from milvus_rag.client.records import Record

    if chunk_size is not None:
        records = chunk_corpus(dataset, chunk_size, chunk_overlap)
    else:
        records = [Record(id=d, text=t) for d, t in dataset.corpus.items()]
    if vectors is not None:
        if len(vectors) != len(records):
            raise InvalidInputError(f"{len(vectors)} vectors for {len(records)} rows")
        records = [
            Record(r.id, r.text, vectors[i], r.metadata, r.doc_id) for i, r in enumerate(records)
        ]
        embed = None
    else:
        if encoder is None:
            raise ConfigError("pass an encoder or precomputed vectors")
        embed = encoder.aencode_documents
    t = time.perf_counter()
    if embed is None or not progress:
        await store.upsert(records, embed=embed)
    else:
        from milvus_rag.progress import progress_bar

        encode = embed
        with progress_bar(len(records), "embed", True, unit="docs") as bar:

            async def embed_counted(texts: list[str]) -> Any:
                out = await encode(texts)
                bar.update(len(texts))
                return out

            await store.upsert(records, embed=embed_counted)
    if not store.is_local:
        await store.flush()
    return time.perf_counter() - t


async def _query_vectors(
    encoder: Any, texts: list[str], cache: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    todo = sorted({t for t in texts if t not in cache})
    if todo:
        arr = np.asarray(await encoder.aencode_queries(todo), dtype=np.float32)
        cache.update(zip(todo, arr, strict=True))
    return cache


async def aevaluate_modes(
    store: Any,
    dataset: BeirDataset,
    modes: Sequence[str | ModeSpec],
    *,
    encoder: Any = None,
    query_vectors: Mapping[str, np.ndarray] | None = None,
    k: int = 100,
    candidates: int | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    documents: str | None = None,
) -> list[dict[str, Any]]:
    """Run every judged query concurrently in each mode against an ingested ``store``.

    ``query_vectors`` maps query *text* to its vector (computed with ``encoder`` where
    missing). ``documents`` on a store of chunks: ``"group"`` ranks documents by a grouped
    search (``k`` groups by ``doc_id``), ``"dedupe"`` by ``k`` chunks with each document
    kept once. Returns one row per mode: ``mode``, each metric, ``queries``, ``seconds``.
    """
    from milvus_rag.client.request import SearchRequest

    level = check_documents(documents)
    group_by = True if level == "group" else None
    specs = [parse_mode(m) for m in modes]
    qids = list(dataset.queries)
    texts = [dataset.queries[q] for q in qids]
    needed = list(texts)
    if any(s.mode == "fanout" for s in specs):
        needed += [v for t in texts for v in fanout_variants(t)]
    vecs: dict[str, np.ndarray] = dict(query_vectors or {})
    if any(t not in vecs for t in needed):
        if encoder is None:
            raise ConfigError("pass an encoder or query vectors for every query")
        await _query_vectors(encoder, needed, vecs)
    rows: list[dict[str, Any]] = []
    for spec in specs:
        t0 = time.perf_counter()
        if spec.mode == "fanout":
            results = await asyncio.gather(
                *(
                    store.fanout_search(
                        [
                            SearchRequest(
                                text=v, vector=vecs[v], k=k, mode="hybrid", candidates=candidates
                            )
                            for v in fanout_variants(t)
                        ],
                        k=k,
                    )
                    for t in texts
                )
            )
        else:
            mode = "hybrid" if spec.mode == "weighted" else spec.mode
            reqs = [
                SearchRequest(
                    text=t,
                    vector=vecs[t] if spec.mode != "sparse" else None,
                    k=k,
                    mode=mode,
                    ranker="weighted" if spec.mode == "weighted" else None,
                    alpha=spec.alpha if spec.mode == "weighted" else None,
                    candidates=candidates,
                    group_by=group_by,
                )
                for t in texts
            ]
            results = await store.search_many(reqs)
        seconds = time.perf_counter() - t0
        run = {
            q: doc_ranking(hits) if level else [h.id for h in hits]
            for q, hits in zip(qids, results, strict=True)
        }
        scores = evaluate(run, dataset.qrels, metrics)
        row: dict[str, Any] = {"mode": spec.name}
        row.update({m: scores[m] for m in metrics})
        row["queries"] = int(scores["queries"])
        row["seconds"] = seconds
        rows.append(row)
    return rows


async def arun_eval(
    data_dir: str | Path,
    modes: Sequence[str | ModeSpec] = ("dense", "sparse", "hybrid"),
    *,
    uri: str | None = None,
    token: str | None = None,
    collection_name: str = EVAL_COLLECTION,
    encoder: Any = None,
    reuse: bool = False,
    overwrite: bool = False,
    keep: bool = False,
    progress: bool = False,
    k: int = 100,
    candidates: int | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int = 0,
    documents: str | None = None,
    **store_options: Any,
) -> list[dict[str, Any]]:
    """Async :func:`run_eval`."""
    from milvus_rag.client.store import AsyncMilvusStore

    dataset = load_beir(data_dir)
    specs = [parse_mode(m) for m in modes]
    level = check_documents(documents)
    if chunk_size is not None and level is None:
        level = "group"  # a chunked corpus is judged by documents
    if level is not None and chunk_size is None and not reuse:
        raise ConfigError("documents= ranks the documents of a chunked corpus: pass chunk_size")
    if encoder is None:
        from milvus_rag.embeddings.encoder import SentenceTransformerEncoder

        encoder = SentenceTransformerEncoder()
    store = AsyncMilvusStore(
        uri, token=token, collection_name=collection_name, dim=encoder.dim, **store_options
    )
    try:
        ingest_s = 0.0
        n_rows = len(dataset.corpus)
        if chunk_size is not None:
            n_rows = len(chunk_corpus(dataset, chunk_size, chunk_overlap))
        created = await _claim_collection(store, n_rows, reuse, overwrite)
        try:
            if created:
                ingest_s = await aingest(
                    store,
                    dataset,
                    encoder=encoder,
                    progress=progress,
                    chunk_size=chunk_size,
                    chunk_overlap=chunk_overlap,
                )
            rows = await aevaluate_modes(
                store,
                dataset,
                specs,
                encoder=encoder,
                k=k,
                candidates=candidates,
                documents=level,
            )
        finally:
            if created and not keep:
                await store.drop()
        for r in rows:
            r["ingest_seconds"] = ingest_s
            r["empty_skipped"] = len(dataset.empty) if created else 0  # reuse ingests nothing
        return rows
    finally:
        await store.aclose()


async def _claim_collection(store: Any, n_docs: int, reuse: bool, overwrite: bool) -> bool:
    """Whether the evaluation creates (and owns) the collection. An existing one is only
    replaced with ``overwrite`` and only evaluated as is with ``reuse`` (same row count)."""
    if not await store.exists():
        return True
    n = await store.count()
    where = f"collection {store.name!r} at {store.connection.uri}"
    if overwrite:
        await store.drop()
        return True
    if reuse:
        if n != n_docs:
            raise ConfigError(
                f"{where} has {n} rows, the corpus {n_docs} documents: pass overwrite=True "
                "(--overwrite) to re-ingest it"
            )
        return False
    raise ConfigError(
        f"{where} exists ({n} rows): evaluation would replace it. Pass overwrite=True "
        "(--overwrite) to drop and re-ingest it, reuse=True (--reuse) to evaluate its rows as "
        "they are, or another collection name (--collection)"
    )


def run_eval(
    data_dir: str | Path,
    modes: Sequence[str | ModeSpec] = ("dense", "sparse", "hybrid"),
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Evaluate a BEIR folder end to end: load, ingest, run every judged query
    concurrently in each mode.

    ``modes``: names understood by :func:`parse_mode` (``dense``, ``sparse``, ``hybrid``,
    ``weighted`` / ``weighted:0.3``, ``fanout``). ``encoder`` defaults to
    ``SentenceTransformerEncoder()`` (all-MiniLM-L6-v2). ``store_options`` go to
    ``AsyncMilvusStore`` (``analyzer``, ``bm25_k1``, ``bm25_b``, ``rrf_k``...). An existing
    collection raises :class:`ConfigError` unless ``overwrite`` (drop and re-ingest it) or
    ``reuse`` (evaluate it as is); a collection the run created is dropped afterwards unless
    ``keep``. Corpus documents with an empty title and text are skipped (counted in
    ``empty_skipped``). Returns one dict per mode with
    ``mode``, nDCG@10, Recall@10, Recall@100, MRR@10, ``queries``, ``seconds``,
    ``ingest_seconds``; see :func:`format_table`. ``chunk_size`` (and ``chunk_overlap``)
    ingests the documents cut into chunks and judges documents: ``documents="group"`` (the
    default then) by a grouped search, ``"dedupe"`` by chunks with duplicates removed.

    Keyword arguments are those of :func:`arun_eval`. Runs on milvus-rag's background loop,
    so it also works where an event loop is already running (Jupyter).
    """
    from milvus_rag.client.sync import run_sync

    return run_sync(arun_eval(data_dir, modes, **kwargs))
