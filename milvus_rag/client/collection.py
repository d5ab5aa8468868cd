"""Collection lifecycle on one pymilvus client: create (schema, indexes, load) or check and
load an existing one. Called by :meth:`AsyncMilvusStore.ensure_collection`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from milvus_rag.client.analyzers import refused
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import BackendError, SchemaMismatchError, is_unimplemented
from milvus_rag.client.filters import Dialect
from milvus_rag.client.index import server_backend
from milvus_rag.client.layout import detect_layout
from milvus_rag.client.schema import (
    CollectionInfo,
    IndexSpec,
    adopted_config,
    analyzer_params,
    build_schema,
    check_compatible,
    index_specs,
    parse_description,
    partition_key_for,
)
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.client.vector_schema import asks_server, check_builds, read_vector_fields

log = logging.getLogger("milvus_rag")
_FINISHED = ("Finished", "IndexState.Finished", "3")


async def ensure(
    client: Any, cfg: CollectionConfig, timeout: float | None, dialect: Dialect = Dialect.MILVUS
) -> CollectionInfo:
    """Create the collection if missing; check it against ``cfg``; load it if released."""
    name = cfg.name
    if not await client.has_collection(name, timeout=timeout):
        await create(client, cfg, timeout, dialect)
    desc, indexes = await describe(client, name, timeout)
    own = cfg
    cfg = _adopt(cfg, desc, indexes)
    info = parse_description(desc, indexes, cfg)
    check_compatible(cfg, info)
    state = str((await client.get_load_state(name, timeout=timeout)).get("state"))
    loaded = "Loaded" in state or "Loading" in state
    if loaded and {f.name for f in cfg.vector_fields} - set(indexes):
        # a vector index dropped behind the store's back (pymilvus drop_index): nothing can
        # search that field until it is built again, and Milvus builds it released
        await client.release_collection(name, timeout=timeout)
        loaded = False
    if not loaded:  # a reopened file, a restarted server, a missing vector index
        skip = set(indexes)
        if cfg is not own:  # another library's collection: add no scalar index of ours
            vectors = {f.name for f in cfg.vector_fields}
            skip |= {f for f in info.field_names if f not in vectors}
        await create_indexes(client, cfg, timeout, skip=skip)
        await client.load_collection(name, timeout=timeout)
    await wait_loaded(client, name, timeout)
    return info


async def describe(
    client: Any, name: str, timeout: float | None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The collection's description and its indexes by field name."""
    desc = await client.describe_collection(name, timeout=timeout)
    indexes: dict[str, dict[str, Any]] = {}
    for index_name in await client.list_indexes(name, timeout=timeout):
        d = await client.describe_index(name, index_name, timeout=timeout)
        indexes[str(d.get("field_name", index_name))] = d
    return desc, indexes


async def existing_vector_fields(
    client: Any, name: str, timeout: float | None
) -> tuple[VectorField, ...] | None:
    """The vector fields of the collection ``name`` as it is (``None``: it does not exist),
    read without checking them against any config (see ``vector_schema.read_vector_fields``)."""
    if not await client.has_collection(name, timeout=timeout):
        return None
    desc, indexes = await describe(client, name, timeout)
    return read_vector_fields(desc, indexes)


def _adopt(
    cfg: CollectionConfig, desc: dict[str, Any], indexes: dict[str, dict[str, Any]]
) -> CollectionConfig:
    """``cfg`` adopting the layout of the existing collection where ``cfg`` does not name
    its fields (see :func:`~milvus_rag.client.schema.adopted_config`)."""
    defaults = CollectionConfig()
    text = cfg.text_field if cfg.text_field != defaults.text_field else None
    doc_id = cfg.doc_id_field if cfg.doc_id_field != defaults.doc_id_field else None
    names = [str(f.get("name")) for f in desc.get("fields", [])]
    try:
        layout = detect_layout(
            desc, indexes, text_field=text, doc_id_field=doc_id, vector_field=cfg.vector_field
        )
    except SchemaMismatchError as e:
        if e.field != "layout":
            raise
        return adopted_config(cfg, names, None, e)
    return adopted_config(cfg, names, layout)


async def wait_loaded(client: Any, name: str, timeout: float | None, wait: float = 120.0) -> None:
    """Until the collection reports Loaded: a server still loading answers queries with
    errors or, worse, with nothing."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while "Loaded" not in str((await client.get_load_state(name, timeout=timeout)).get("state")):
        if loop.time() >= deadline:
            raise BackendError(f"not loaded after {wait:g} s", operation="load", collection=name)
        await asyncio.sleep(0.05)


async def create(
    client: Any, cfg: CollectionConfig, timeout: float | None, dialect: Dialect = Dialect.MILVUS
) -> None:
    """Schema, indexes, load. ``analyzer=None`` tries ``english``, then ``standard``
    (Milvus Lite 3 has no ``english`` analyzer)."""
    analyzers = (
        [analyzer_params(cfg)]
        if cfg.analyzer is not None
        else [{"type": "english"}, {"type": "standard"}]
    )
    if dialect is not Dialect.LITE25:  # a Lite 2.5 file's builds: checked by the store
        await check_server_builds(client, cfg, timeout)
    last: Exception | None = None
    extra: dict[str, Any] = {}
    if cfg.tenant_field is not None and cfg.num_partitions and partition_key_for(dialect):
        extra["num_partitions"] = cfg.num_partitions
    for analyzer in analyzers:
        try:
            await client.create_collection(
                cfg.name,
                schema=build_schema(cfg, analyzer, dialect),
                consistency_level=cfg.consistency_level,
                timeout=timeout,
                **extra,
            )
        except Exception as e:
            last = e
            refusal = refused(analyzer, e) if cfg.enable_bm25 and cfg.analyzer else None
            if refusal is not None:  # the user's analyzer: one line naming it
                raise refusal from None
            if cfg.enable_bm25 and ("analyzer" in str(e).lower() or "english" in str(e)):
                log.info("backend refused analyzer %s; trying the next", analyzer)
                continue
            if await _appears(client, cfg.name, timeout):
                return  # created concurrently by another client or process
            raise
        await create_indexes(client, cfg, timeout)
        await client.load_collection(cfg.name, timeout=timeout)
        return
    assert last is not None
    raise last


async def check_server_builds(client: Any, cfg: CollectionConfig, timeout: float | None) -> None:
    """Refuse an index type this server would accept and not build (Milvus Lite 3 servers
    accept IVF_PQ and DISKANN, then search every row exactly); asks only for those types."""
    if not asks_server(cfg):
        return
    version = await client.get_server_version(timeout=timeout)
    check_builds(cfg, server_backend(str(version)))


async def _appears(client: Any, name: str, timeout: float | None, wait: float = 5.0) -> bool:
    """Whether ``name`` exists, or comes to exist within ``wait`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        if await client.has_collection(name, timeout=timeout):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.1)


async def create_indexes(
    client: Any,
    cfg: CollectionConfig,
    timeout: float | None,
    skip: set[str] | None = None,
) -> None:
    """Build the missing indexes concurrently: pymilvus waits at least 0.5 s per index."""
    specs = [s for s in index_specs(cfg) if s.field not in (skip or set())]
    await asyncio.gather(*(_create_index(client, cfg.name, s, timeout) for s in specs))


async def _create_index(client: Any, name: str, spec: IndexSpec, timeout: float | None) -> None:
    params = client.prepare_index_params()
    metric = {"metric_type": spec.metric_type} if spec.metric_type else {}
    params.add_index(spec.field, index_type=spec.index_type, params=spec.params, **metric)
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
