"""BEIR-format retrieval evaluation: load a dataset, ingest it, score every retrieval mode.

The metrics are pure functions over ranked id lists and graded relevance judgements (qrels),
following the conventions of ``trec_eval`` / ``pytrec_eval`` that BEIR reports:

- nDCG@k: linear gain (``rel``), discount ``log2(rank + 1)``; the ideal ranking is built from
  every judged document of the query, not only the retrieved ones.
- Recall@k: relevant documents in the top ``k`` over all relevant documents of the query.
- MRR@k: reciprocal rank of the first relevant document in the top ``k`` (0 if none).
- A document is relevant when its grade is > 0; retrieved documents without a judgement are
  not relevant. Queries without any relevant document are excluded (BEIR does the same);
  queries in the qrels that the run has no results for score 0; run entries for queries
  without qrels are ignored. Ties in a score mapping are broken like ``trec_eval``: by
  score, then by document id, descending.

Example:
    >>> ndcg_at_k(["d1", "d2"], {"d2": 1}, 10)
    0.6309297535714575
    >>> evaluate({"q1": ["d1", "d2"]}, {"q1": {"d2": 1}}, ks=(10,))["MRR@10"]
    0.5

End to end (the ``milvus-rag eval`` command calls this)::

    rows = run_eval("data/scifact", ["dense", "sparse", "hybrid"], uri="./eval.db")
    print(format_table(rows))
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from milvus_rag.client.errors import ConfigError, InvalidInputError

__all__ = [
    "DEFAULT_METRICS",
    "MODES",
    "BeirDataset",
    "ModeSpec",
    "aevaluate_modes",
    "aingest",
    "arun_eval",
    "evaluate",
    "fanout_variants",
    "format_table",
    "load_beir",
    "mrr_at_k",
    "ndcg_at_k",
    "parse_mode",
    "rank_scores",
    "recall_at_k",
    "remove_stopwords",
    "run_eval",
]

DEFAULT_METRICS = ("nDCG@10", "Recall@10", "Recall@100", "MRR@10")
MODES = ("dense", "sparse", "hybrid", "weighted", "fanout")

Ranking = Sequence[str] | Mapping[str, float]
Qrels = Mapping[str, Mapping[str, int]]


# --- metrics (pure) ---------------------------------------------------------------------


def rank_scores(scores: Mapping[str, float]) -> list[str]:
    """Ids ordered best first: by score, ties by id, both descending (as ``trec_eval``)."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def _ranked(ranking: Ranking) -> list[str]:
    if isinstance(ranking, Mapping):
        return rank_scores(ranking)
    if isinstance(ranking, str):
        raise TypeError("a ranking is a sequence of ids or a mapping id -> score, not one str")
    out: list[str] = []
    seen: set[str] = set()
    for d in ranking:  # a repeated id counts once, at its best rank
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")


def ndcg_at_k(ranking: Ranking, rels: Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gains; 0.0 when the query has no relevant document."""
    _check_k(k)
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    dcg = 0.0
    for i, d in enumerate(_ranked(ranking)[:k]):
        g = rels.get(d, 0)
        if g > 0:
            dcg += g / math.log2(i + 2)
    return dcg / idcg


def recall_at_k(ranking: Ranking, rels: Mapping[str, int], k: int) -> float:
    """Share of the query's relevant documents found in the top ``k``."""
    _check_k(k)
    relevant = {d for d, g in rels.items() if g > 0}
    if not relevant:
        return 0.0
    found = sum(1 for d in _ranked(ranking)[:k] if d in relevant)
    return found / len(relevant)


def mrr_at_k(ranking: Ranking, rels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document in the top ``k``, else 0."""
    _check_k(k)
    for i, d in enumerate(_ranked(ranking)[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


_METRIC_FNS = {"nDCG": ndcg_at_k, "Recall": recall_at_k, "MRR": mrr_at_k}


def _parse_metric(name: str) -> tuple[str, int]:
    m = re.fullmatch(r"(nDCG|Recall|MRR)@(\d+)", name)
    if not m:
        raise ValueError(f"unknown metric {name!r}: use nDCG@k, Recall@k or MRR@k")
    return m.group(1), int(m.group(2))


def evaluate(
    run: Mapping[str, Ranking],
    qrels: Qrels,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    ks: Sequence[int] | None = None,
) -> dict[str, float]:
    """Mean of each metric over the judged queries (those with a relevant document).

    ``run`` maps query id to a ranked id list or to ``{doc_id: score}``. ``ks`` is a
    shorthand for nDCG, Recall and MRR at each k. The result also holds ``queries``, the
    number of queries averaged over.
    """
    if ks is not None:
        metrics = [f"{m}@{k}" for k in ks for m in ("nDCG", "Recall", "MRR")]
    parsed = [(name, *_parse_metric(name)) for name in metrics]
    judged = [q for q, rels in qrels.items() if any(g > 0 for g in rels.values())]
    out: dict[str, float] = {}
    for name, kind, k in parsed:
        fn = _METRIC_FNS[kind]
        vals = [fn(run.get(q, ()), qrels[q], k) for q in judged]
        out[name] = float(sum(vals) / len(vals)) if vals else 0.0
    out["queries"] = float(len(judged))
    return out


# --- BEIR loading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR dataset: ``corpus`` id -> text (title + " " + text), ``queries`` id -> text,
    ``qrels`` query id -> {doc id: grade}. ``queries`` holds only the judged queries."""

    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    name: str = ""
    titles: dict[str, str] = field(default_factory=dict, repr=False)
    #: ids of corpus documents left out because their title and text are empty
    empty: list[str] = field(default_factory=list)


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInputError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise InvalidInputError(f"{path}:{n}: expected an object with an '_id'")
            yield row


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) == 4:  # TREC layout: qid iter docid rel
                row = [row[0], row[2], row[3]]
            if len(row) != 3:
                raise InvalidInputError(f"{path}:{n}: expected 3 tab-separated columns")
            qid, did, grade = (c.strip() for c in row)
            try:
                g = int(float(grade))
            except ValueError:
                if n == 1:  # header, e.g. "query-id corpus-id score"
                    continue
                raise InvalidInputError(
                    f"{path}:{n}: relevance {grade!r} is not a number"
                ) from None
            qrels.setdefault(qid, {})[did] = g
    return qrels


def load_beir(data_dir: str | Path, split: str = "test") -> BeirDataset:
    """Load ``corpus.jsonl``, ``queries.jsonl`` and ``qrels.tsv`` (or ``qrels/<split>.tsv``).

    Only queries present in the qrels are kept; qrels of unknown queries are dropped.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder with a BEIR dataset")
    qrels_path = root / "qrels.tsv"
    if not qrels_path.exists():
        qrels_path = root / "qrels" / f"{split}.tsv"
    for p in (root / "corpus.jsonl", root / "queries.jsonl", qrels_path):
        if not p.exists():
            raise ConfigError(f"missing {p}: a BEIR folder has corpus.jsonl, queries.jsonl, qrels")
    corpus: dict[str, str] = {}
    titles: dict[str, str] = {}
    empty: list[str] = []
    for row in _read_jsonl(root / "corpus.jsonl"):
        title = str(row.get("title") or "").strip()
        text = str(row.get("text") or "").strip()
        did = str(row["_id"])
        if not (title or text):  # nothing to embed or match (Cranfield has two)
            empty.append(did)
            continue
        corpus[did] = f"{title} {text}".strip()
        titles[did] = title
    qrels = _read_qrels(qrels_path)
    queries = {
        str(r["_id"]): str(r.get("text") or "")
        for r in _read_jsonl(root / "queries.jsonl")
        if str(r["_id"]) in qrels
    }
    qrels = {q: rels for q, rels in qrels.items() if q in queries}
    return BeirDataset(
        corpus=corpus, queries=queries, qrels=qrels, name=root.name, titles=titles, empty=empty
    )


# --- retrieval modes ---------------------------------------------------------------------

_STOPWORDS_TEXT = """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def remove_stopwords(text: str) -> str:
    """The query without English stopwords (a deterministic 'rewrite' for fan-out)."""
    kept = [t for t in text.split() if re.sub(r"\W", "", t.lower()) not in STOPWORDS]
    return " ".join(kept)


def fanout_variants(text: str) -> list[str]:
    """Query strings of the deterministic fan-out: the query, and the query without
    stopwords when that differs and is not empty."""
    out = [text]
    stripped = remove_stopwords(text)
    if stripped.strip() and stripped != text:
        out.append(stripped)
    return out


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
) -> float:
    """Upsert the corpus (ids = corpus ids); returns seconds taken. With ``vectors`` (rows in
    corpus order) nothing is embedded, else ``encoder.aencode_documents`` runs pipelined
    (``progress``: a tqdm bar of the documents embedded, on stderr)."""
    from milvus_rag.client.records import Record

    ids = list(dataset.corpus)
    if vectors is not None:
        if len(vectors) != len(ids):
            raise InvalidInputError(f"{len(vectors)} vectors for {len(ids)} documents")
        records = [
            Record(id=d, text=dataset.corpus[d], vector=vectors[i]) for i, d in enumerate(ids)
        ]
        embed = None
    else:
        if encoder is None:
            raise ConfigError("pass an encoder or precomputed vectors")
        records = [Record(id=d, text=dataset.corpus[d]) for d in ids]
        embed = encoder.aencode_documents
    t = time.perf_counter()
    if embed is None or not progress:
        await store.upsert(records, embed=embed)
    else:
        import sys

        from milvus_rag.ingest.files import tqdm_class

        encode = embed
        with tqdm_class()(total=len(records), unit="docs", desc="embed", file=sys.stderr) as bar:

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
) -> list[dict[str, Any]]:
    """Run every judged query concurrently in each mode against an ingested ``store``.

    ``query_vectors`` maps query *text* to its vector (computed with ``encoder`` where
    missing). Returns one row per mode: ``mode``, each metric, ``queries``, ``seconds``.
    """
    from milvus_rag.client.records import SearchRequest

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
                )
                for t in texts
            ]
            results = await store.search_many(reqs)
        seconds = time.perf_counter() - t0
        run = {q: [h.id for h in hits] for q, hits in zip(qids, results, strict=True)}
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
    collection_name: str = "milvus_rag_eval",
    encoder: Any = None,
    reuse: bool = False,
    overwrite: bool = False,
    keep: bool = False,
    progress: bool = False,
    k: int = 100,
    candidates: int | None = None,
    **store_options: Any,
) -> list[dict[str, Any]]:
    """Async :func:`run_eval`."""
    from milvus_rag.client.store import AsyncMilvusStore

    dataset = load_beir(data_dir)
    specs = [parse_mode(m) for m in modes]
    if encoder is None:
        from milvus_rag.embeddings.encoder import SentenceTransformerEncoder

        encoder = SentenceTransformerEncoder()
    store = AsyncMilvusStore(
        uri, token=token, collection_name=collection_name, dim=encoder.dim, **store_options
    )
    try:
        ingest_s = 0.0
        created = await _claim_collection(store, len(dataset.corpus), reuse, overwrite)
        try:
            if created:
                ingest_s = await aingest(store, dataset, encoder=encoder, progress=progress)
            rows = await aevaluate_modes(
                store, dataset, specs, encoder=encoder, k=k, candidates=candidates
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
    ``ingest_seconds``; see :func:`format_table`.

    Keyword arguments are those of :func:`arun_eval`. Runs on milvus-rag's background loop,
    so it also works where an event loop is already running (Jupyter).
    """
    from milvus_rag.client.sync import run_sync

    return run_sync(arun_eval(data_dir, modes, **kwargs))


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A markdown table of result rows: metrics (``name@k``) with 4 decimals, other floats
    short (``1.5``) or with 2 decimals."""
    if not rows:
        return ""
    cols = list(columns) if columns else list(rows[0])

    def cell(col: str, v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return "" if v is None else str(v)
        if isinstance(v, float):
            if "@" in col:  # a metric
                return f"{v:.4f}"
            return f"{v:g}" if v == round(v, 3) else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(c, r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
