"""Ingest is exact: after any sequence of edits to a folder, ``ingest`` leaves exactly the
chunks a from-scratch ingest of the current files would, and writes only what changed (issue
11, finding 1: an appended file lost its unchanged chunks). On every backend."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milvus_rag import AsyncMilvusStore
from milvus_rag.ingest import discover
from milvus_rag.ingest.sync import desired_records, ingest_files
from tests.backends import Backend
from tests.conftest import new_name
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration

PARAS = [
    "Cats purr when happy.",
    "Dogs bark at mail.",
    "Birds sing at dawn.",
    "Fish swim upstream.",
    "Owls hunt at night.",
]
NAMES = ["a.md", "b.txt", "sub/c.md", "sub/deep/d.md", "README"]
CHUNK = {"chunk_size": 40, "chunk_overlap": 0}

name = st.sampled_from(NAMES)
para = st.sampled_from(PARAS)
edit = st.one_of(
    st.tuples(st.just("write"), name, st.lists(para, max_size=4)),  # create or replace
    st.tuples(st.just("append"), name, para),
    st.tuples(st.just("prepend"), name, para),
    st.tuples(st.just("change"), name, para),  # replace the first paragraph
    st.tuples(st.just("delete"), name),
    st.tuples(st.just("rename"), name, name),  # rename or move into/out of a sub-folder
)
# each step: some edits, then an ingest from the folder's parent or from another directory
steps = st.lists(st.tuples(st.lists(edit, min_size=1, max_size=3), st.booleans()), max_size=4)


def apply_edit(root: Path, op: tuple[Any, ...]) -> None:
    path = root / op[1]
    paras = path.read_text().split("\n\n") if path.exists() else []
    kind = op[0]
    if kind == "delete" or (kind == "rename" and not path.exists()):
        path.unlink(missing_ok=True)
        return
    if kind == "rename":
        target = root / op[2]
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        return
    if kind == "write":
        paras = list(op[2])
    elif kind == "append":
        paras.append(op[2])
    elif kind == "prepend":
        paras.insert(0, op[2])
    elif kind == "change":
        paras[:1] = [op[2]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(paras) + "\n")


def snapshot(rows: Any) -> dict[str, tuple[str, Any, str]]:
    return {r.id: (r.text, r.metadata, r.doc_id) for r in rows}


async def check_sequence(backend: Backend, plan: list[tuple[list[Any], bool]]) -> None:
    enc = HashEncoder(16)
    store = AsyncMilvusStore(
        backend.uri, token=backend.token or None, collection_name=new_name("ing"), dim=16
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root, elsewhere = base / "corpus", base / "elsewhere" / "deeper"
        root.mkdir()
        elsewhere.mkdir(parents=True)
        apply_edit(root, ("write", "a.md", PARAS[:2]))
        try:
            for edits, from_elsewhere in [([], False), *plan]:
                for op in edits:
                    apply_edit(root, op)
                before = snapshot(await store.query(limit=16384)) if await store.exists() else {}
                expected = snapshot(desired_records(discover([root]), **CHUNK)[0])
                with contextlib.chdir(elsewhere if from_elsewhere else base):
                    given_as = "../../corpus" if from_elsewhere else "corpus"
                    n_encoded = len(enc.texts)
                    stats = await ingest_files(store, [given_as], enc.aencode_documents, **CHUNK)
                # the collection is exactly what a from-scratch ingest writes (the first
                # ingest of each sequence is one: it starts from an empty collection)
                assert snapshot(await store.query(limit=16384)) == expected
                # and only what changed was written, deleted, embedded
                changed = [i for i in expected if before.get(i) != expected[i]]
                old_texts = {v[0] for v in before.values()}
                assert stats.written == len(changed)
                assert stats.deleted == len(set(before) - set(expected))
                assert stats.unchanged == len(expected) - len(changed)
                new_texts = [i for i in changed if expected[i][0] not in old_texts]
                assert stats.embedded == len(new_texts) == len(enc.texts) - n_encoded
        finally:
            await store.drop()
            await store.aclose()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps)
def test_ingest_equals_from_scratch_after_any_edits(
    backend: Backend, plan: list[tuple[list[Any], bool]]
) -> None:
    asyncio.run(check_sequence(backend, plan))


def test_appending_to_a_file_keeps_its_unchanged_chunks(backend: Backend) -> None:
    """Finding 1 exactly: append a paragraph, re-ingest: 3 chunks, the first two untouched."""
    asyncio.run(
        check_sequence(
            backend,
            [
                ([("append", "a.md", "Birds sing at dawn.")], False),
                ([("prepend", "a.md", "X")], True),
            ],
        )
    )
