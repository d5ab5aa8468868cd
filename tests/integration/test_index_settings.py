"""Index settings honoured or refused, never ignored: ``metric_type`` / ``index_type`` inside
``index_params`` (langchain-milvus's spelling) configure the index; a conflict with
``metric=`` / ``index_type=`` raises ConfigError before any request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from milvus_rag import AsyncMilvusStore, CollectionConfig, ConfigError, Record
from milvus_rag.client.config import lift_index_settings


async def _dense_index(store: AsyncMilvusStore) -> dict[str, Any]:
    client = await store._pool.get()  # the test reads what the backend built
    for name in await client.list_indexes(store.name):
        d = dict(await client.describe_index(store.name, name))
        if d.get("field_name") == store.config.vector_field:
            return d
    raise AssertionError("no dense index")


@pytest.mark.integration
async def test_index_params_spelling_configures_the_index(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    store = make_async_store(dim=2, index_params={"metric_type": "L2", "index_type": "FLAT"})
    assert (store.config.metric, store.config.index_type) == ("L2", "FLAT")
    await store.upsert([Record(id="a", text="x", vector=[1.0, 0.0])])
    built = await _dense_index(store)
    assert (built["metric_type"], built["index_type"]) == ("L2", "FLAT")  # was AUTOINDEX/COSINE
    hit = (await store.search(vector=[1.0, 0.0], k=1, mode="dense"))[0]
    assert hit.distance == pytest.approx(0.0) and hit.score == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"metric": "COSINE", "index_params": {"metric_type": "L2"}}, "conflicts"),
        ({"index_type": "AUTOINDEX", "index_params": {"index_type": "FLAT"}}, "conflicts"),
        ({"index_params": {"params": {"nlist": 8}, "nlist": 16}}, "inside and outside"),
        ({"index_params": "FLAT"}, "must be a dict"),
    ],
)
def test_conflicting_index_settings_raise(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        AsyncMilvusStore("http://127.0.0.1:9", collection_name="x", dim=2, **options)


def test_collection_config_refuses_a_disagreeing_index_param() -> None:
    with pytest.raises(ConfigError, match="pass metric='L2'"):
        CollectionConfig(index_params={"metric_type": "L2"})
    cfg = CollectionConfig(
        metric="IP", index_type="HNSW", index_params={"metric_type": "ip", "params": {"M": 8}}
    )
    assert cfg.index_params == {"M": 8}
    assert lift_index_settings({"metric": "L2"}) == {"metric": "L2"}
