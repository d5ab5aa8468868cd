"""One canonicalisation of ``source`` (milvus_rag/sources.py): a path matches as given or as
ingest stores it, the same way for the CLI, the MCP server and both frameworks' filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag.client.filter_tree import evaluate
from milvus_rag.sources import canonical_filter, canonical_source

SEGMENT = st.sampled_from(["a", "b.md", "..", ".", "dir with space", "ü.txt", "c"])
PATHS = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join)


def row(source: str) -> dict[str, object]:
    return {"id": "x", "doc_id": "", "metadata": {"source": source}}


@given(path=PATHS, other=PATHS)
def test_a_source_matches_as_given_or_canonical_and_ne_is_the_complement(
    path: str, other: str
) -> None:
    eq = canonical_filter({"source": path})
    ne = canonical_filter({"source": {"$ne": path}})
    for stored in (path, canonical_source(path), other, canonical_source(other)):
        expected = stored in (path, canonical_source(path))
        assert evaluate(eq, row(stored)) is expected, (path, stored, eq)
        assert evaluate(ne, row(stored)) is not expected
    assert canonical_filter(eq) == eq  # idempotent


def test_the_frameworks_filters_canonicalise_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_index.core.vector_stores import MetadataFilter, MetadataFilters

    from milvus_rag.integrations.langchain.documents import combine_filter
    from milvus_rag.integrations.llama_index.filters import metadata_filters_to_dict

    monkeypatch.chdir(tmp_path)
    absolute = (tmp_path / "corpus" / "a.md").as_posix()
    both = {"source": {"$in": ["corpus/a.md", absolute]}}
    assert combine_filter({"source": "corpus/a.md"}, None) == both
    assert combine_filter(None, 'source == "x"') == 'source == "x"'  # raw expressions as given
    llama = MetadataFilters(filters=[MetadataFilter(key="source", value="corpus/a.md")])
    assert metadata_filters_to_dict(llama) == both


def test_values_that_are_no_path_are_matched_as_given() -> None:
    for value in ("nul\x00byte", "https://example.org/a.md", "", "  ", 3, None):
        assert canonical_filter({"source": value}) == {"source": value}
