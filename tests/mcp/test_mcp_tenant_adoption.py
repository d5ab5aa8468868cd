"""Issue 23, finding 3 in the MCP server: a collection made with a tenant field (and typed
fields) elsewhere is opened with them, on a Milvus Lite file where the tenant field is a
plain column: a search names its tenant and sees only its rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from milvus_rag import MilvusStore, Record
from milvus_rag.integrations.mcp import MCPSettings, MilvusMCPState
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration


async def test_mcp_adopts_the_tenant_field(tmp_path: Path) -> None:
    db = str(tmp_path / "ten.db")
    enc = HashEncoder(16)
    texts = {"acme": "acme sells anvils", "globex": "globex sells anvils too"}
    vecs = np.asarray(enc.encode_documents(list(texts.values())))
    with MilvusStore(
        db, collection_name="t", dim=16, tenant_field="tenant", metadata_fields={"year": "int64"}
    ) as store:
        for (tenant, text), vec in zip(texts.items(), vecs, strict=True):
            store.upsert([Record(tenant, text, vec, {"year": 2024})], tenant=tenant)
    state = MilvusMCPState(MCPSettings(uri=db, collection="t"), encoder=enc)
    try:
        described = await state.describe_collection()
        assert described["tenant_field"] == "tenant"
        assert described["metadata_fields"] == {"year": "int64"}
        hits = (await state.search(query="anvils", tenant="globex", k=5))["hits"]
        assert [h["id"] for h in hits] == ["globex"]
        hits = (await state.search(query="anvils", tenant="acme", k=5, filter={"year": 2024}))[
            "hits"
        ]
        assert [h["id"] for h in hits] == ["acme"]
    finally:
        await state.aclose()
