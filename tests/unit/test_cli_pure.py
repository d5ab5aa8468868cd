"""Pure parts of the CLI demo: chunking and content-hash ids."""

from milvus_rag.cli import chunk_markdown, demo_corpus


def test_chunk_markdown_packs_paragraphs() -> None:
    text = "a" * 300 + "\n\n" + "b" * 300 + "\n\n" + "c" * 300 + "\n\n\n"
    chunks = chunk_markdown(text, max_chars=700)
    assert chunks == ["a" * 300 + "\n\n" + "b" * 300, "c" * 300]
    assert chunk_markdown("") == []


def test_demo_corpus_ids_are_content_hashes() -> None:
    first, second = demo_corpus(), demo_corpus()
    assert first and first == second
    assert len({i for i, _, _ in first}) == len(first)
