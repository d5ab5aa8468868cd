"""Collection lifecycle on one pymilvus client: create (schema, indexes, load) or check and
load an existing one. Called by :meth:`AsyncMilvusStore.ensure_collection`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.connection import is_unimplemented
from milvus_rag.client.errors import BackendError
from milvus_rag.client.schema import (
    CollectionInfo,
    IndexSpec,
    analyzer_params,
    build_schema,
    check_compatible,
    index_specs,
    parse_description,
)

log = logging.getLogger("milvus_rag")
_FINISHED = ("Finished", "IndexState.Finished", "3")


async def ensure(client: Any, cfg: CollectionConfig, timeout: float | None) -> CollectionInfo:
    """Create the collection if missing; check it against ``cfg``; load it if released."""
    name = cfg.name
    if not await client.has_collection(name, timeout=timeout):
        await create(client, cfg, timeout)
    desc = await client.describe_collection(name, timeout=timeout)
    indexes: dict[str, dict[str, Any]] = {}
    for index_name in await client.list_indexes(name, timeout=timeout):
        d = await client.describe_index(name, index_name, timeout=timeout)
        indexes[str(d.get("field_name", index_name))] = d
    info = parse_description(desc, indexes, cfg)
    check_compatible(cfg, info)
    state = await client.get_load_state(name, timeout=timeout)
    if "Loaded" not in str(state.get("state")):  # e.g. a reopened Milvus Lite file
        await create_indexes(client, cfg, timeout, skip=set(indexes))
        await client.load_collection(name, timeout=timeout)
    return info


async def create(client: Any, cfg: CollectionConfig, timeout: float | None) -> None:
    """Schema, indexes, load. ``analyzer=None`` tries ``english``, then ``standard``
    (Milvus Lite 3 has no ``english`` analyzer)."""
    analyzers = (
        [analyzer_params(cfg)]
        if cfg.analyzer is not None
        else [{"type": "english"}, {"type": "standard"}]
    )
    last: Exception | None = None
    for analyzer in analyzers:
        try:
            await client.create_collection(
                cfg.name,
                schema=build_schema(cfg, analyzer),
                consistency_level=cfg.consistency_level,
                timeout=timeout,
            )
        except Exception as e:
            if await client.has_collection(cfg.name, timeout=timeout):
                return  # created concurrently by another store
            last = e
            if cfg.enable_bm25 and ("analyzer" in str(e).lower() or "english" in str(e)):
                log.info("backend refused analyzer %s; trying the next", analyzer)
                continue
            raise
        await create_indexes(client, cfg, timeout)
        await client.load_collection(cfg.name, timeout=timeout)
        return
    assert last is not None
    raise last


async def create_indexes(
    client: Any, cfg: CollectionConfig, timeout: float | None, skip: set[str] | None = None
) -> None:
    """Build the missing indexes concurrently: pymilvus waits at least 0.5 s per index."""
    specs = [s for s in index_specs(cfg) if s.field not in (skip or set())]
    await asyncio.gather(*(_create_index(client, cfg.name, s, timeout) for s in specs))


async def _create_index(client: Any, name: str, spec: IndexSpec, timeout: float | None) -> None:
    params = client.prepare_index_params()
    params.add_index(
        spec.field, index_type=spec.index_type, metric_type=spec.metric_type, params=spec.params
    )
    try:
        await client.create_index(name, params, timeout=timeout)
    except Exception as e:
        # Milvus Lite 3 servers create the index, then cannot answer the AllocTimestamp
        # call that pymilvus uses to wait for it: poll instead.
        if not is_unimplemented(e):
            raise
        await _wait_index(client, name, spec.field, timeout)


async def _wait_index(client: Any, name: str, field: str, timeout: float | None) -> None:
    for _ in range(600):
        for n in await client.list_indexes(name, timeout=timeout):
            d = await client.describe_index(name, n, timeout=timeout)
            if d.get("field_name") == field and str(d.get("state", "Finished")) in _FINISHED:
                return
        await asyncio.sleep(0.05)
    raise BackendError(
        f"index on {field} was not built in time", operation="create_index", collection=name
    )
