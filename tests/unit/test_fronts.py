"""What both framework fronts share (integrations/fronts.py) and the core's ``ids_within``,
without a database; and the import that the layout used to break."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag import AsyncMilvusStore, ConfigError, MilvusStore
from milvus_rag.client.reads import ID_CHUNK, ids_within
from milvus_rag.integrations.fronts import (
    SCALAR_TYPES,
    WIDENED_SCALAR_TYPES,
    FirstUse,
    core_store,
    enum_name,
    flatten_params,
    pop_tenancy,
    refuse_bm25_extras,
)

URI = "http://127.0.0.1:9"  # never contacted: nothing here does I/O


@given(st.lists(st.text(min_size=1, max_size=4), max_size=3 * ID_CHUNK + 7))
def test_ids_within_covers_the_ids_in_order_a_chunk_at_a_time(ids: list[str]) -> None:
    pairs = list(ids_within(ids, {"k": 1}))
    assert [i for chunk, _ in pairs for i in chunk] == ids
    assert all(0 < len(chunk) <= ID_CHUNK for chunk, _ in pairs)
    for chunk, flt in pairs:
        assert flt == {"$and": [{"k": 1}, {"id": {"$in": chunk}}]}


def test_ids_within_without_a_filter_is_the_ids() -> None:
    assert list(ids_within(["a", "b"], None)) == [(["a", "b"], {"id": {"$in": ["a", "b"]}})]
    assert list(ids_within([], {"k": 1})) == []


def test_flatten_params_merges_and_refuses_a_key_set_twice() -> None:
    assert flatten_params({"metric_type": "IP", "params": {"ef": 8}}, "w") == {
        "metric_type": "IP",
        "ef": 8,
    }
    assert flatten_params({"nprobe": 4}, "w") == {"nprobe": 4}
    with pytest.raises(ConfigError, match="both inside and outside"):
        flatten_params({"ef": 1, "params": {"ef": 2}}, "search_params")
    with pytest.raises(ConfigError, match=r"search_params\['params'\] must be a dict"):
        flatten_params({"params": [1]}, "search_params")


def test_pop_tenancy_treats_none_as_not_given() -> None:
    kwargs: dict[str, Any] = {"tenant": None, "all_tenants": None, "k": 3}
    assert pop_tenancy(kwargs) == {}
    assert kwargs == {"k": 3}
    kwargs = {"tenant": "acme", "all_tenants": False}
    assert pop_tenancy(kwargs) == {"tenant": "acme", "all_tenants": False}
    assert kwargs == {}


def test_enum_name_and_the_scalar_tables() -> None:
    class DataType:  # pymilvus enums expose .name
        name = "INT32"

    assert enum_name(DataType()) == "INT32"
    assert enum_name("DataType.FLOAT") == "FLOAT"
    assert enum_name("bm25") == "BM25"
    assert WIDENED_SCALAR_TYPES["INT8"] == "int64" and WIDENED_SCALAR_TYPES["FLOAT"] == "double"
    assert set(SCALAR_TYPES) < set(WIDENED_SCALAR_TYPES)
    assert "FLOAT" not in SCALAR_TYPES


class _Fn:
    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"enable_match": True}, "TEXT_MATCH"),
        ({"multi_analyzer_params": {}}, "one analyzer"),
        ({"params": {"k1": 1.2}}, "use bm25_k1"),
    ],
)
def test_refuse_bm25_extras(attrs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        refuse_bm25_extras(_Fn(**attrs), "use bm25_k1")
    refuse_bm25_extras(_Fn(enable_match=False, params={}, analyzer_params={"type": "x"}), "")


def test_core_store_from_settings_or_store_never_both() -> None:
    built = core_store(
        None,
        settings_given=True,
        build=lambda: AsyncMilvusStore(URI, collection_name="c", dim=2),
        tenant=None,
    )
    assert built.name == "c" and built.tenant is None
    sync = MilvusStore(URI, collection_name="c", dim=2)
    assert core_store(sync, settings_given=False, build=_never) is sync.aio
    tenants = AsyncMilvusStore(URI, collection_name="t", dim=2, tenant_field="tenant")
    bound = core_store(tenants, settings_given=False, build=_never, tenant="acme")
    assert bound.tenant == "acme"
    with pytest.raises(ConfigError, match="not both"):
        core_store(built, settings_given=True, build=_never)
    with pytest.raises(ConfigError, match="MilvusStore or AsyncMilvusStore"):
        core_store(object(), settings_given=False, build=_never)  # type: ignore[arg-type]


def _never() -> AsyncMilvusStore:
    raise AssertionError("built although store= was given")


def test_first_use_drops_once_and_settles_until_done() -> None:
    calls: list[str] = []
    results = iter([False, True])

    async def drop() -> None:
        calls.append("drop")

    async def settle() -> bool:
        calls.append("settle")
        return next(results)

    async def main() -> list[bool]:
        first = FirstUse(drop=True)
        return [await first.run(drop, settle) for _ in range(3)]

    assert asyncio.run(main()) == [False, True, True]
    assert calls == ["drop", "settle", "settle"]


def test_first_use_serialises_concurrent_first_calls() -> None:
    active = 0
    peak = 0

    async def settle() -> bool:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return True

    async def nothing() -> None:
        return None

    async def main() -> None:
        first = FirstUse(drop=False)
        await asyncio.gather(*(first.run(nothing, settle) for _ in range(5)))

    asyncio.run(main())
    assert peak == 1


def test_the_langchain_compatible_front_imports_first() -> None:
    """It raised a circular ImportError when imported before integrations.langchain."""
    done = subprocess.run(
        [sys.executable, "-c", "import milvus_rag.integrations.langchain.compat as m; m.Milvus"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
