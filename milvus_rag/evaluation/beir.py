"""BEIR datasets: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels`` read into a
:class:`BeirDataset`."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from milvus_rag.client.errors import ConfigError, InvalidInputError

__all__ = ["BeirDataset", "load_beir"]


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
