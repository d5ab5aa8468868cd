"""A second judged corpus for ``documents.py``, built from what every Python has: the language
reference topics of ``pydoc_data.topics`` (the text behind ``help("try")``), as a BEIR folder.

Known-item queries, held out: from each topic of at least ``--min-chars`` characters, the
sentences (60-220 characters, prose, not code) at about 1/4, 1/2 and 3/4 of its text are
taken out of the document and become its queries, judged relevant to that topic only. A
query's words are then not in its document verbatim: retrieval has to find the topic by the
rest of its text. Deterministic (no randomness): the same Python gives the same folder.

    python benchmarks/pydoc_corpus.py /tmp/pydoc
    python benchmarks/documents.py --data /tmp/pydoc --k 20
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def prose_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of the prose sentences of ``text`` (not indented code or grammar)."""
    spans = []
    for para in re.finditer(r"(?:^(?! {3})\S[^\n]*\n?)+", text, flags=re.M):
        at = para.start()
        for piece in SENTENCE.split(para.group()):
            start = text.find(piece, at)
            end = start + len(piece)
            at = end
            flat = " ".join(piece.split())
            if 60 <= len(flat) <= 220 and flat[0].isupper() and flat[-1] in ".!?":
                spans.append((start, end))
    return spans


def build(min_chars: int) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(corpus: topic -> text without its queries, queries: id -> text, qrels: id -> topic)."""
    from pydoc_data.topics import topics

    corpus, queries, qrels = {}, {}, {}
    for name in sorted(topics):
        text = topics[name]
        spans = prose_sentences(text) if len(text) >= min_chars else []
        picked = []
        for frac in (0.25, 0.5, 0.75):
            if not spans:
                break
            want = frac * len(text)
            best = min(spans, key=lambda s: abs(s[0] - want))
            if best not in picked:
                picked.append(best)
        for i, (start, end) in enumerate(picked):
            qid = f"{name}-{i}"
            queries[qid] = " ".join(text[start:end].split())
            qrels[qid] = name
        for start, end in sorted(picked, reverse=True):
            text = text[:start] + text[end:]
        corpus[name] = text
    return corpus, queries, qrels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="the BEIR folder to write")
    p.add_argument("--min-chars", type=int, default=3000, help="topics that give queries")
    args = p.parse_args()
    corpus, queries, qrels = build(args.min_chars)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for name, text in corpus.items():
            title = text.strip().splitlines()[0].strip() if text.strip() else name
            f.write(json.dumps({"_id": name, "title": title, "text": text}) + "\n")
    with (args.out / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with (args.out / "qrels.tsv").open("w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, doc in qrels.items():
            f.write(f"{qid}\t{doc}\t1\n")
    print(
        f"{args.out}: {len(corpus)} topics, {len(queries)} held-out queries "
        f"(Python {sys.version.split()[0]})"
    )


if __name__ == "__main__":
    main()
