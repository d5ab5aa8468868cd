"""``Hit.to_dict`` of a fused hit whose relevance was not asked for: ``None``, not an error."""

from __future__ import annotations

import pytest

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import Hit, Record


def test_to_dict_without_relevance_gives_none() -> None:
    hit = Hit("a", 0.03, 0.03, Record(id="a", text="t"))
    assert hit.to_dict()["relevance"] is None
    with pytest.raises(ConfigError, match="relevance=True"):
        _ = hit.relevance
    assert Hit("a", 0.9, 0.9, Record(id="a", text="t"), 0.8).to_dict()["relevance"] == 0.8
