"""The search RPCs on pymilvus's own connection, each request shape prepared once.

pymilvus's ``AsyncMilvusClient.search`` / ``hybrid_search`` rebuild the whole request
protobuf for every call (about 50 us for a dense search: parameters serialised to JSON
one by one, the query vector packed float by float) and decode the answer hit by hit
into dicts through its type tables (about 70 us for 10 hits). For a search milvus-rag
sends again and again with only the query changed, this module:

- builds the request once per *shape* (collection, field, parameters, limit, filter,
  output fields, consistency) with pymilvus's own ``Prepare``, exactly as pymilvus's call
  does, and keeps it as a template; each later search copies it and sets the two parts
  that change, the placeholder (the query: a float32 vector or a text) and the
  consistency timestamp pymilvus computes for every call (``ts_utils``);
- sends it on pymilvus's stub and channel, with pymilvus's call metadata;
- decodes the answer in columns into the same ``list[list[dict]]`` pymilvus returns
  (``{pk: id, "distance": d, "entity": {...}}``), falling back to pymilvus's own
  ``SearchResult`` for any field type it does not decode here.

Whatever this module does not take over goes through the public call, so behaviour is
pymilvus's: a query of another kind (sparse vectors, several vectors), extra keyword
arguments (grouping), a pymilvus without the pieces used here, a placeholder that does
not encode byte for byte as pymilvus's (checked once per kind per process), and **any
error**: a search whose RPC fails or whose status is not success is sent again through
the public call, so retries, connection recovery and error messages are pymilvus's.
``tests/integration/test_wire.py`` holds the requests equal to the ones pymilvus builds
and the decoded answers equal to pymilvus's, on both backends.

Example:
    >>> # res = await wire.search(client, "docs", data=[v], anns_field="dense", limit=10,
    >>> #                         filter="", output_fields=["id"], search_params=p)
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Sequence
from typing import Any

import numpy as np

log = logging.getLogger("milvus_rag")

try:  # pymilvus 3.0's internals; without them every search takes the public call
    import orjson
    from pymilvus.client import ts_utils
    from pymilvus.client.prepare import Prepare
    from pymilvus.client.search_result import SearchResult
    from pymilvus.client.types import DataType
    from pymilvus.client.utils import check_status
    from pymilvus.grpc_gen import common_pb2

    _FLOAT_VECTOR = common_pb2.PlaceholderType.FloatVector
    _VARCHAR = common_pb2.PlaceholderType.VarChar
    _SCALARS: dict[int, str] = {
        int(DataType.BOOL): "bool_data",
        int(DataType.INT8): "int_data",
        int(DataType.INT16): "int_data",
        int(DataType.INT32): "int_data",
        int(DataType.INT64): "long_data",
        int(DataType.FLOAT): "float_data",
        int(DataType.DOUBLE): "double_data",
        int(DataType.VARCHAR): "string_data",
        int(DataType.STRING): "string_data",
    }
    _JSON = int(DataType.JSON)
    _FLOAT_VEC_TYPE = int(DataType.FLOAT_VECTOR)
    AVAILABLE = True
except ImportError:  # pragma: no cover - another pymilvus
    AVAILABLE = False

_TEMPLATES = 256
"""Request shapes remembered per client (then it starts again)."""
_KWARGS = frozenset({"consistency_level"})
"""The keyword arguments a templated search may carry (others: the public call)."""


class _Templates:
    """One pymilvus client's request templates, by shape."""

    __slots__ = ("by_key", "context", "handler")

    def __init__(self, handler: Any, context: Any) -> None:
        self.handler = handler
        self.context = context
        self.by_key: dict[Any, Any] = {}


_CLIENTS: weakref.WeakKeyDictionary[Any, _Templates] = weakref.WeakKeyDictionary()
#: placeholder kinds ("vector", "text") whose encoding here matched pymilvus's (True) or
#: did not (False): checked on the first search of each kind in the process
_ENCODING_OK: dict[str, bool] = {}


# --- keys and placeholders (pure) ------------------------------------------------------


def freeze(value: Any) -> Any:
    """A hashable form of a JSON-like value (dicts by sorted key), for a template key."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def query_kind(data: Any) -> str | None:
    """``"vector"`` for one dense float vector, ``"text"`` for one text, else ``None``
    (the public call)."""
    if not isinstance(data, list) or len(data) != 1:
        return None
    q = data[0]
    if isinstance(q, str):
        return "text"
    if isinstance(q, np.ndarray):
        return "vector" if q.dtype == np.float32 and q.ndim == 1 else None
    if isinstance(q, list) and q and type(q[0]) is float:
        return "vector"
    return None


def placeholder(kind: str, q: Any) -> bytes:
    """The serialised ``PlaceholderGroup`` of one query, as pymilvus encodes it: a float
    vector as little-endian float32 (pymilvus packs ``struct`` ``f``), a text as UTF-8."""
    if kind == "text":
        pv = common_pb2.PlaceholderValue(tag="$0", type=_VARCHAR, values=[q.encode("utf-8")])
    else:
        raw = np.asarray(q, dtype="<f4").tobytes()
        pv = common_pb2.PlaceholderValue(tag="$0", type=_FLOAT_VECTOR, values=[raw])
    out: bytes = common_pb2.PlaceholderGroup(placeholders=[pv]).SerializeToString()
    return out


def _encoding_ok(kind: str, q: Any, prepared: bytes) -> bool:
    ok = _ENCODING_OK.get(kind)
    if ok is None:
        ok = _ENCODING_OK[kind] = placeholder(kind, q) == prepared
        if not ok:
            log.debug("wire: %s placeholders differ from pymilvus's; public calls", kind)
    return ok


# --- decoding (pure) -------------------------------------------------------------------


def float_rows(array: Any, dim: int) -> np.ndarray | None:
    """The rows of a ``FloatArray`` message as a float32 matrix, read from its packed wire
    encoding (tag 0x0A, length, little-endian floats) in one copy, where pymilvus makes a
    Python float of each cell; ``None`` where the encoding is not that."""
    raw: bytes = array.SerializeToString()
    if not raw or dim <= 0:
        return None
    if raw[0] != 0x0A:
        return None
    size, shift, i = 0, 0, 1
    while i < len(raw):
        b = raw[i]
        size |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            break
        shift += 7
    if size != len(raw) - i or size % (4 * dim):
        return None
    return np.frombuffer(raw, dtype="<f4", offset=i).reshape(-1, dim).astype(np.float32)


def decode(results: Any, *, arrays: bool = False) -> list[list[dict[str, Any]]] | None:
    """A ``SearchResultData`` as pymilvus's ``SearchResult`` reads it (``[[{pk: id,
    "distance": d, "entity": {field: value}}]]`` per query), or ``None`` where it holds
    something decoded only by pymilvus (a field type other than scalars, non-dynamic
    JSON and float vectors with a vector for each row; element indices; highlights). ``arrays``: a
    float vector is a float32 array (one matrix read at once, see :func:`float_rows`),
    not pymilvus's list of floats."""
    if len(results.highlight_results) or len(results.element_indices.data):
        return None
    pk_name = results.primary_field_name or "id"
    ids = results.ids
    if ids.HasField("int_id"):
        pks: Sequence[Any] = ids.int_id.data
    elif ids.HasField("str_id"):
        pks = ids.str_id.data
    else:
        pks = []
    scores = results.scores
    n = len(scores)
    columns: list[tuple[str, Sequence[Any]]] = []
    for fd in results.fields_data:
        t = fd.type
        valid = fd.valid_data
        attr = _SCALARS.get(t)
        if attr is not None:
            col: list[Any] = list(getattr(fd.scalars, attr).data)
            if len(valid):
                col = [v if ok else None for v, ok in zip(col, valid, strict=False)]
        elif t == _JSON and not fd.is_dynamic:
            raw = fd.scalars.json_data.data
            m = len(raw)
            if len(valid):  # a null cell's bytes are not JSON
                col = [orjson.loads(raw[i]) if i < m and valid[i] else None for i in range(n)]
            else:
                col = [orjson.loads(raw[i]) if i < m else None for i in range(n)]
        elif (
            t == _FLOAT_VEC_TYPE
            and not len(valid)
            and len(fd.vectors.float_vector.data) == n * fd.vectors.dim
        ):
            dim = fd.vectors.dim
            rows = float_rows(fd.vectors.float_vector, dim) if arrays else None
            if rows is not None:
                col = list(rows)
            else:
                flat = fd.vectors.float_vector.data
                col = [flat[i * dim : (i + 1) * dim] for i in range(n)]
        else:
            return None
        if len(col) < n:
            col += [None] * (n - len(col))
        columns.append((fd.field_name, col))
    out: list[list[dict[str, Any]]] = []
    start = 0
    for topk in results.topks:
        hits = []
        for i in range(start, start + topk):
            hits.append(
                {
                    pk_name: pks[i],
                    "distance": scores[i],
                    "entity": {name: col[i] for name, col in columns},
                }
            )
        out.append(hits)
        start += topk
    return out


def _answer(response: Any, arrays: bool) -> Any:
    check_status(response.status)
    hits = decode(response.results, arrays=arrays)
    if hits is None:
        return SearchResult(response.results, -1, status=response.status)
    return hits


# --- the calls -------------------------------------------------------------------------

_ON = True
"""Whether searches are prepared here: off for the process once preparing one failed
where pymilvus's public call, with the same arguments, succeeded (this pymilvus prepares
otherwise)."""


async def _unprepared(public: Awaitable[Any], error: Exception) -> Any:
    """The public call's answer to a search this module failed to prepare: its error where
    the arguments are at fault; else the answer, and no more preparing in this process."""
    global _ON
    answer = await public
    _ON = False
    log.warning(
        "milvus-rag: searches go through pymilvus's public calls from now on: preparing one "
        "failed (%s: %s) where pymilvus's own call succeeded",
        type(error).__name__,
        error,
    )
    return answer


async def _templates(client: Any) -> _Templates | None:
    """The client's templates (its pymilvus handler and call context), or ``None`` where
    this pymilvus lacks what they need."""
    t = _CLIENTS.get(client)
    if t is not None and t.handler is getattr(client, "_handler", None):
        return None if client._closed else t
    try:
        handler = await client._get_connection()
        context = client._generate_call_context()
        handler._async_stub  # noqa: B018 - present, or the public call
        handler.server_address  # noqa: B018
        if client._handler is not handler or client._closed:
            return None
    except Exception:  # the public call raises what is wrong
        return None
    t = _CLIENTS[client] = _Templates(handler, context)
    return t


def _timestamp(t: _Templates, name: str, kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The keyword arguments pymilvus's call has once it has set the consistency
    timestamp (``construct_guarantee_ts``, as every pymilvus search does), and whether it
    uses the default consistency."""
    kw = dict(kwargs)
    use_default = ts_utils.construct_guarantee_ts(
        name, kw, t.handler.server_address, t.context.get_db_name()
    )
    return kw, use_default


def _remember(t: _Templates, key: Any, request: Any) -> None:
    if len(t.by_key) >= _TEMPLATES:
        t.by_key.clear()
    t.by_key[key] = request


async def search_request(
    client: Any,
    collection_name: str,
    *,
    data: list[Any],
    anns_field: str,
    limit: int,
    filter: str = "",
    output_fields: list[str] | None = None,
    search_params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[_Templates, Any] | None:
    """The client's templates and the request ``client.search(...)`` would send for these
    arguments, or ``None`` where the public call sends it (see the module)."""
    kind = query_kind(data) if AVAILABLE and kwargs.keys() <= _KWARGS else None
    if kind is None or _ENCODING_OK.get(kind) is False:
        return None
    t = await _templates(client)
    if t is None:
        return None
    param = search_params or {}
    key = (
        "s",
        collection_name,
        anns_field,
        freeze(param),
        limit,
        filter,
        tuple(output_fields or ()),
        kind,
        freeze(kwargs),
    )
    kw, use_default = _timestamp(t, collection_name, {"expr_params": {}, **kwargs})
    template = t.by_key.get(key)
    if template is None:
        request = Prepare.search_requests_with_expr(
            collection_name=collection_name,
            data=data,
            anns_field=anns_field,
            param=param,
            limit=limit,
            expr=filter,
            output_fields=output_fields,
            round_decimal=-1,
            use_default_consistency=use_default,
            **kw,
        )
        if not _encoding_ok(kind, data[0], request.placeholder_group):
            return None
        _remember(t, key, request)
        return t, request
    request = type(template)()
    request.CopyFrom(template)
    request.placeholder_group = placeholder(kind, data[0])
    request.guarantee_timestamp = kw.get("guarantee_timestamp", 0)
    return t, request


async def send_search(t: _Templates, request: Any) -> Any:
    """Send a prepared search request on the client's stub, with pymilvus's metadata."""
    return await t.handler._async_stub.Search(request, metadata=t.context.to_grpc_metadata())


async def send_hybrid_search(t: _Templates, request: Any) -> Any:
    """Send a prepared hybrid search request (see :func:`send_search`)."""
    return await t.handler._async_stub.HybridSearch(request, metadata=t.context.to_grpc_metadata())


async def search(
    client: Any,
    collection_name: str,
    *,
    data: list[Any],
    anns_field: str,
    limit: int,
    filter: str = "",
    output_fields: list[str] | None = None,
    search_params: dict[str, Any] | None = None,
    arrays: bool = False,
    **kwargs: Any,
) -> Any:
    """``client.search(...)`` with these arguments (the same answer; with ``arrays``, float
    vectors as float32 arrays where decoded here), prepared once per shape (see the
    module)."""
    args: dict[str, Any] = {
        "data": data,
        "anns_field": anns_field,
        "limit": limit,
        "filter": filter,
        "output_fields": output_fields,
        "search_params": search_params,
        **kwargs,
    }
    try:
        prepared = await search_request(client, collection_name, **args) if _ON else None
    except Exception as e:
        return await _unprepared(client.search(collection_name, **args), e)
    if prepared is not None:
        try:
            return _answer(await send_search(*prepared), arrays)
        except Exception as e:  # pymilvus's call says what went wrong, and retries
            log.debug("wire: search on %r failed (%s); the public call", collection_name, e)
    return await client.search(collection_name, **args)


async def hybrid_search_request(
    client: Any,
    collection_name: str,
    reqs: list[Any],
    ranker: Any,
    *,
    limit: int,
    output_fields: list[str] | None = None,
    **kwargs: Any,
) -> tuple[_Templates, Any] | None:
    """The client's templates and the request ``client.hybrid_search(...)`` would send
    for these arguments, or ``None`` where the public call sends it."""
    if not AVAILABLE or not kwargs.keys() <= _KWARGS:
        return None
    found = [query_kind(r.data) for r in reqs]
    kinds = [k for k in found if k is not None]
    if len(kinds) != len(reqs) or any(_ENCODING_OK.get(k) is False for k in kinds):
        return None
    t = await _templates(client)
    if t is None:
        return None
    key = (
        "h",
        collection_name,
        tuple(
            (r.anns_field, freeze(r.param), r.limit, r.expr, freeze(r.expr_params), k)
            for r, k in zip(reqs, kinds, strict=True)
        ),
        freeze(ranker.dict()),
        limit,
        tuple(output_fields or ()),
        freeze(kwargs),
    )
    kw, use_default = _timestamp(t, collection_name, kwargs)
    template = t.by_key.get(key)
    if template is None:
        legs = [
            Prepare.search_requests_with_expr(
                collection_name=collection_name,
                data=r.data,
                anns_field=r.anns_field,
                param=r.param,
                limit=r.limit,
                expr=r.expr,
                round_decimal=-1,
                expr_params=r.expr_params,
                use_default_consistency=use_default,
                **dict(kw),
            )
            for r in reqs
        ]
        for r, k, leg in zip(reqs, kinds, legs, strict=True):
            if not _encoding_ok(k, r.data[0], leg.placeholder_group):
                return None
        request = Prepare.hybrid_search_request_with_ranker(
            collection_name,
            legs,
            ranker,
            limit,
            None,
            output_fields,
            -1,
            use_default_consistency=use_default,
            **kw,
        )
        _remember(t, key, request)
        return t, request
    request = type(template)()
    request.CopyFrom(template)
    ts = kw.get("guarantee_timestamp", 0)
    request.guarantee_timestamp = ts
    for sub, r, k in zip(request.requests, reqs, kinds, strict=True):
        sub.placeholder_group = placeholder(k, r.data[0])
        sub.guarantee_timestamp = ts
    return t, request


async def hybrid_search(
    client: Any,
    collection_name: str,
    reqs: list[Any],
    ranker: Any,
    *,
    limit: int,
    output_fields: list[str] | None = None,
    arrays: bool = False,
    **kwargs: Any,
) -> Any:
    """``client.hybrid_search(...)`` with these arguments (the same answer; ``arrays`` as
    in :func:`search`), prepared once per shape (see the module)."""

    def public() -> Any:
        return client.hybrid_search(
            collection_name, reqs, ranker, limit=limit, output_fields=output_fields, **kwargs
        )

    try:
        prepared = (
            await hybrid_search_request(
                client,
                collection_name,
                reqs,
                ranker,
                limit=limit,
                output_fields=output_fields,
                **kwargs,
            )
            if _ON
            else None
        )
    except Exception as e:
        return await _unprepared(public(), e)
    if prepared is not None:
        try:
            return _answer(await send_hybrid_search(*prepared), arrays)
        except Exception as e:  # pymilvus's call says what went wrong, and retries
            log.debug("wire: hybrid_search on %r failed (%s); the public call", collection_name, e)
    return await public()
