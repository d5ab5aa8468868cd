"""The vector fields of a collection's schema: adding them, their indexes, reading them back
from an existing collection, comparing and adopting them. Pure (no I/O).

Every vector field of a :class:`~milvus_rag.client.config.CollectionConfig`
(``cfg.vector_fields``: the primary dense field, the BM25 field, the extras) becomes one
schema field and one index: a dense field a FLOAT_VECTOR of its ``dim`` with its own index
type, params and metric; the BM25 field a SPARSE_FLOAT_VECTOR filled by the BM25 function
(SPARSE_INVERTED_INDEX, metric BM25); a client-side sparse field a SPARSE_FLOAT_VECTOR that
every record fills (SPARSE_INVERTED_INDEX or SPARSE_WAND, metric IP).

Measured (pymilvus 3.0, milvus-lite 2.5.1 file and Milvus Lite 3.2 server):

- both accept at least 16 vector fields in one collection (a Milvus server allows
  ``proxy.maxVectorFieldNum``, 4 by default: the server's refusal names it);
- collections without any dense field (BM25 only, client-side sparse only) are created,
  written and read on both;
- the Lite 2.5 file builds SPARSE_WAND on a client-side sparse field; the Lite 3 server refuses
  it ("requires SPARSE_INVERTED_INDEX"), so :func:`check_sparse_buildable` refuses it there
  before any request;
- the Lite 2.5 file stores an empty sparse row (``{}``); the Lite 3 server refuses it ("must
  contain at least one nonzero float32 weight"): writes refuse one on every backend
  (:mod:`~milvus_rag.client.record_vectors`), so the same rows are accepted everywhere;
- both return a stored sparse vector as a ``{int: float}`` dict (float32 weights widened).

Example:
    >>> from milvus_rag.client.config import CollectionConfig
    >>> from milvus_rag.client.vector_fields import VectorField
    >>> cfg = CollectionConfig(dim=4, extra_vector_fields=(VectorField.sparse("splade"),))
    >>> [(s.field, s.index_type, s.metric_type) for s in vector_index_specs(cfg)]
    [('dense', 'AUTOINDEX', 'COSINE'), ('sparse', 'SPARSE_INVERTED_INDEX', 'BM25'), ('splade', 'SPARSE_INVERTED_INDEX', 'IP')]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, SchemaMismatchError
from milvus_rag.client.index import (
    SERVERS_BUILD,
    Backend,
    check_buildable,
    index_difference,
    parse_index,
)
from milvus_rag.client.vector_fields import VectorField

_FLOAT_VECTOR, _SPARSE = 101, 104
#: the build parameters a sparse index reports, as numbers
_SPARSE_PARAMS = ("bm25_k1", "bm25_b", "drop_ratio_build", "inverted_index_algo")
#: sparse index types each backend builds on a client-side sparse field (measured)
SPARSE_BUILDS: dict[Backend, tuple[str, ...]] = {
    Backend.LITE25: ("SPARSE_INVERTED_INDEX", "SPARSE_WAND", "AUTOINDEX"),
    Backend.LITE3: ("SPARSE_INVERTED_INDEX", "AUTOINDEX"),
    Backend.MILVUS: ("SPARSE_INVERTED_INDEX", "SPARSE_WAND", "AUTOINDEX"),
}


@dataclass(frozen=True)
class VectorIndex:
    """One vector field's index to build: field, type, metric, params."""

    field: str
    index_type: str
    metric_type: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)


def check_dims(cfg: CollectionConfig) -> None:
    """Every dense field of a collection about to be created has its dim."""
    if cfg.enable_dense and cfg.dim is None:
        raise ConfigError(
            f"collection {cfg.name!r} does not exist and no dim was given: pass dim= "
            "(or an embedding) so it can be created"
        )
    for f in cfg.extra_vector_fields:
        if f.is_dense and f.dim is None:
            raise ConfigError(
                f"collection {cfg.name!r} does not exist and its dense field {f.name!r} has no "
                f"dim: pass it (VectorField.dense({f.name!r}, dim=...)), or write records "
                f"whose vectors[{f.name!r}] give it"
            )


def vector_index_specs(cfg: CollectionConfig) -> list[VectorIndex]:
    """The index of every vector field, in ``cfg.vector_fields`` order."""
    out = []
    for f in cfg.vector_fields:
        if f.is_bm25:
            params = {"bm25_k1": cfg.bm25_k1, "bm25_b": cfg.bm25_b}
            out.append(VectorIndex(f.name, "SPARSE_INVERTED_INDEX", "BM25", params))
        else:
            out.append(
                VectorIndex(f.name, f.built_index_type, str(f.metric or ""), dict(f.index_params))
            )
    return out


def check_builds(cfg: CollectionConfig, backend: Backend) -> None:
    """``ConfigError`` where ``backend`` cannot build the index of one of ``cfg``'s vector
    fields (each dense field's as :func:`~milvus_rag.client.index.check_buildable`)."""
    for f in cfg.dense_fields:
        try:
            check_buildable(f.built_index_type, backend)
        except ConfigError as e:
            if f.name == cfg.vector_field:
                raise
            raise ConfigError(f"vector field {f.name!r}: {e}") from None
    check_sparse_buildable(cfg, backend)


def asks_server(cfg: CollectionConfig) -> bool:
    """Whether creating ``cfg``'s collection on a server needs to know which server it is
    (an index type that not every server builds)."""
    light = SPARSE_BUILDS[Backend.LITE3]
    return any(f.built_index_type not in SERVERS_BUILD for f in cfg.dense_fields) or any(
        f.built_index_type not in light for f in cfg.extra_vector_fields if f.is_client_sparse
    )


def check_sparse_buildable(cfg: CollectionConfig, backend: Backend) -> None:
    """``ConfigError`` where ``backend`` cannot build a client-side sparse field's index."""
    can = SPARSE_BUILDS[backend]
    for f in cfg.extra_vector_fields:
        if f.is_client_sparse and f.built_index_type not in can:
            raise ConfigError(
                f"vector field {f.name!r}: index_type {f.built_index_type!r} cannot be built "
                f"on {backend.value}; it builds {', '.join(can)} on a client-side sparse field"
            )


# --- reading an existing collection ------------------------------------------------------


def _type(f: Mapping[str, Any]) -> int:
    try:
        return int(f.get("type"))  # type: ignore[arg-type]  # DataType is an IntEnum
    except (TypeError, ValueError):
        return -1


def described_names(value: Any) -> list[str]:
    """A described function's field names as a list (some pymilvus versions print it)."""
    if value is None:
        return []
    if isinstance(value, str):  # some pymilvus versions print the list
        return [v.strip(" '\"") for v in value.strip("[]").split(",") if v.strip(" '\"")]
    return [str(v) for v in value]


def _number(value: Any) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except (TypeError, ValueError):
            continue
    return value


def described(**values: Any) -> VectorField:
    """A :class:`VectorField` as an existing collection describes it, not validated: an
    existing collection may hold what a config could not ask for (an index without a
    metric, parameters of another version)."""
    f = object.__new__(VectorField)
    defaults = {x.name: x.default for x in dataclasses.fields(VectorField)}
    defaults.update(index_params={}, search_params={})
    for name, value in {**defaults, **values}.items():
        object.__setattr__(f, name, value)
    return f


def bm25_outputs(desc: Mapping[str, Any], indexes: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The fields a BM25 function fills (Milvus Lite 2.5 describes no functions: there, a
    function output with a BM25 index)."""
    out: set[str] = set()
    for fn in desc.get("functions") or []:
        if str(fn.get("type")).upper().endswith("BM25") or fn.get("type") == 1:
            out.update(described_names(fn.get("output_field_names")))
    for f in desc.get("fields") or []:
        name = str(f.get("name"))
        metric = str((indexes.get(name) or {}).get("metric_type", "")).upper()
        if _type(f) == _SPARSE and (f.get("is_function_output") and metric in ("BM25", "")):
            out.add(name)
    return out


def read_vector_fields(
    desc: Mapping[str, Any], indexes: Mapping[str, Mapping[str, Any]]
) -> tuple[VectorField, ...]:
    """Every FLOAT_VECTOR and SPARSE_FLOAT_VECTOR field of an existing collection, in schema
    order, with its dim, metric and index as ``describe_collection`` / ``describe_index``
    report them (``metric`` ``None`` where the field has no index)."""
    bm25 = bm25_outputs(desc, indexes)
    out = []
    for f in desc.get("fields") or []:
        t = _type(f)
        if t not in (_FLOAT_VECTOR, _SPARSE):
            continue
        name = str(f["name"])
        idx = indexes.get(name) or {}
        metric = str(idx.get("metric_type") or "").upper() or None
        kind = str(idx.get("index_type") or "").upper() or None
        if t == _FLOAT_VECTOR:
            params = f.get("params") or {}
            dim = int(params.get("dim", f.get("dim")) or 0)
            found = parse_index(idx)
            built = {k: _number(v) for k, v in (found.params if found else {}).items()}
            out.append(
                described(
                    name=name, kind="dense", dim=dim, metric=metric, index_type=kind,
                    index_params=built,
                )
            )  # fmt: skip
        else:
            nested = idx.get("params")
            flat = {**(nested if isinstance(nested, Mapping) else {}), **idx}
            built = {k: _number(flat[k]) for k in _SPARSE_PARAMS if flat.get(k) is not None}
            out.append(
                described(
                    name=name, kind="sparse", metric=metric, index_type=kind,
                    function="bm25" if name in bm25 else None, index_params=built,
                )
            )  # fmt: skip
    return tuple(out)


def to_dict(f: VectorField) -> dict[str, Any]:
    """A vector field as JSON-ready data (``describe()["vector_fields"]``, exports)."""
    kind = "bm25" if f.is_bm25 else "sparse" if f.kind == "sparse" else "dense"
    out: dict[str, Any] = {"name": f.name, "kind": kind}
    if f.is_dense:
        out["dim"] = f.dim
    out.update(metric=f.metric, index_type=f.index_type, index_params=dict(f.index_params))
    return out


# --- comparing and adopting -------------------------------------------------------------


def check_vector_fields(
    cfg: CollectionConfig,
    collection: str,
    found: Sequence[VectorField],
    indexes: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Raise :class:`SchemaMismatchError` naming the first vector field whose settings differ
    from ``found`` (the collection's): ``"vector_fields"`` for one missing or not configured
    (the BM25 field may go unnamed: Milvus fills it), ``"<name>.<setting>"`` otherwise. The
    primary dense and the BM25 field's own settings are compared by ``check_compatible``."""
    have = {f.name: f for f in found}
    want = cfg.vector_fields
    names = [f.name for f in want]
    missing = [f.name for f in want if f.name not in have]
    extra = [n for n, f in have.items() if n not in names and not f.is_bm25]
    if missing or extra:
        raise SchemaMismatchError(collection, "vector_fields", names, list(have))
    for f in want:
        h = have[f.name]
        if f.kind != h.kind:
            raise SchemaMismatchError(collection, f"{f.name}.kind", f.kind, h.kind)
        if f.is_bm25 != h.is_bm25:
            raise SchemaMismatchError(collection, f"{f.name}.function", f.function, h.function)
        primary = cfg.enable_dense and f.name == cfg.vector_field
        if primary or f.is_bm25:
            continue
        _compare(collection, f, h, (indexes or {}).get(f.name))


def _compare(
    collection: str, f: VectorField, h: VectorField, index: Mapping[str, Any] | None
) -> None:
    if f.is_dense:
        if f.dim is not None and f.dim != h.dim:
            raise SchemaMismatchError(collection, f"{f.name}.dim", f.dim, h.dim)
        if h.metric and f.metric != h.metric:
            raise SchemaMismatchError(collection, f"{f.name}.metric", f.metric, h.metric)
        found = parse_index(index) if index is not None else None
        if found is None and h.index_type:
            found = parse_index({"index_type": h.index_type, **h.index_params})
        diff = index_difference(f.index_type, f.index_params, found)
        if diff is not None:
            what, want, have = diff
            raise SchemaMismatchError(collection, f"{f.name}.{what}", want, have)
        return
    if h.metric and f.metric != h.metric:
        raise SchemaMismatchError(collection, f"{f.name}.metric", f.metric, h.metric)
    if f.index_type is not None and h.index_type and f.index_type != h.index_type:
        raise SchemaMismatchError(collection, f"{f.name}.index_type", f.index_type, h.index_type)
    for key, value in f.index_params.items():
        got = h.index_params.get(key)
        if got is not None and _number(got) != _number(value):
            raise SchemaMismatchError(collection, f"{f.name}.index_params.{key}", value, got)


def leaves_vector_fields(cfg: CollectionConfig) -> bool:
    """Whether ``cfg`` leaves the extra vector fields at their default (none named): a store
    so configured adopts an existing collection's."""
    return not cfg.extra_vector_fields


def adopt_vector_fields(
    cfg: CollectionConfig, found: Sequence[VectorField], primary: str | None
) -> CollectionConfig:
    """``cfg`` with the collection's vector fields where it names none: ``found`` minus the
    primary dense field (``primary``) and the BM25 field become ``extra_vector_fields``. A
    config that names extras keeps them, with a ``dim`` it leaves open taken from the
    collection (``check_compatible`` names any other difference)."""
    extras = tuple(f for f in found if f.name != primary and not f.is_bm25)
    if not cfg.enable_dense and any(f.is_dense for f in found):
        dense = [f.name for f in found if f.is_dense]
        raise SchemaMismatchError(cfg.name, "enable_dense", False, f"dense fields {dense}")
    if leaves_vector_fields(cfg):
        if not extras:
            return cfg
        taken = {cfg.id_field, cfg.text_field, cfg.vector_field, cfg.sparse_field}
        if any(f.name in taken for f in extras):
            return cfg  # named by the layout's own settings: check_compatible says which
        return dataclasses.replace(cfg, extra_vector_fields=extras)
    dims = {f.name: f.dim for f in found if f.is_dense}
    filled = tuple(
        dataclasses.replace(f, dim=dims[f.name])
        if f.is_dense and f.dim is None and dims.get(f.name)
        else f
        for f in cfg.extra_vector_fields
    )
    if filled == cfg.extra_vector_fields:
        return cfg
    return dataclasses.replace(cfg, extra_vector_fields=filled)


# --- dims learnt after the config was made ------------------------------------------------


def with_field_dim(cfg: CollectionConfig, dim: int, field: str | None = None) -> CollectionConfig:
    """``cfg`` with the dim of dense field ``field`` (``None``: the primary) set; a dim
    already set must be the same (``ConfigError`` otherwise)."""
    if field is None:
        if not cfg.enable_dense:
            raise ConfigError(f"collection {cfg.name!r} has no dense field (enable_dense=False)")
        field = cfg.vector_field
    vf = cfg.vector_field_named(field)
    if not vf.is_dense:
        raise ConfigError(f"vector field {field!r} of {cfg.name!r} is sparse: it has no dim")
    if vf.dim == dim:
        return cfg
    if vf.dim is not None:
        what = f"dim {vf.dim}" if field == cfg.vector_field else f"{field!r} of dim {vf.dim}"
        raise ConfigError(f"collection {cfg.name!r} is configured with {what}, not {dim}")
    return cfg.with_field_dim(field, dim)


def dims_from(cfg: CollectionConfig, info: Any) -> CollectionConfig:
    """``cfg`` with every dense dim it leaves open taken from the existing collection
    ``info`` (a :class:`~milvus_rag.client.schema.CollectionInfo`)."""
    if cfg.enable_dense and cfg.dim is None and info.dim:
        cfg = cfg.with_dim(info.dim)
    found = {f.name: f.dim for f in info.vector_fields or () if f.is_dense}
    for f in cfg.extra_vector_fields:
        if f.is_dense and f.dim is None and found.get(f.name):
            cfg = cfg.with_field_dim(f.name, int(found[f.name]))
    return cfg
