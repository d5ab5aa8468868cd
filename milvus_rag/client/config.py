"""Connection and collection configuration: frozen, validated once, secrets redacted.

Example:
    >>> conn = ConnectionConfig(uri="http://localhost:19530", token="root:Milvus")
    >>> conn
    ConnectionConfig(uri='http://localhost:19530', token='***', db_name='')
    >>> CollectionConfig(name="docs", dim=384).metric
    'COSINE'
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from milvus_rag.client import index
from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import PRIVATE_KEY
from milvus_rag.client.request import check_consistency, check_search_params
from milvus_rag.client.typed_fields import (
    NULLS_KEY,
    TypedField,
    canonical,
    parse_metadata_fields,
)
from milvus_rag.client.vector_fields import VectorField, fields_options

Metric = Literal["COSINE", "IP", "L2"]
_METRICS = ("COSINE", "IP", "L2")
IdType = Literal["varchar", "int64"]
LayoutName = Literal["milvus_rag", "langchain", "llama_index"]
LAYOUTS: tuple[LayoutName, ...] = ("milvus_rag", "langchain", "llama_index")
#: the optional fields: ``None`` means the collection has no such column
_OPTIONAL_FIELDS = ("tenant_field", "doc_id_field", "metadata_field")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_REDACTED = "***"
#: the defaults of every entry point (stores, adapters, the CLI, the MCP server), defined here
DEFAULT_URI = "./milvus_rag.db"
DEFAULT_COLLECTION = "milvus_rag"
#: the collection an evaluation (``milvus-rag eval``) writes: never the user's
EVAL_COLLECTION = "milvus_rag_eval"


@functools.lru_cache(maxsize=256)
def _is_local_uri(uri: str) -> bool:
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri) and not uri.startswith("unix:")


@dataclass(frozen=True, repr=False)
class ConnectionConfig:
    """Where Milvus is: a Milvus Lite file (the default) or a server / cluster.

    ``token`` (or ``user`` + ``password``) never appears in ``repr``, ``str``, errors or logs.
    ``timeout`` bounds each request; ``connect_timeout`` bounds reaching the server.
    """

    uri: str = DEFAULT_URI
    token: str = field(default="", compare=False)
    user: str = ""
    password: str = field(default="", compare=False)
    db_name: str = ""
    timeout: float | None = 60.0
    connect_timeout: float = 10.0
    retries: int = 3
    retry_backoff: float = 0.2

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri.strip():
            raise ConfigError(
                "uri must be a non-empty string, e.g. './milvus_rag.db' or 'http://localhost:19530'"
            )
        uri = self.uri.strip()
        if self.is_local_for(uri):
            if not uri.endswith(".db"):
                raise ConfigError(
                    f"local uri {uri!r} must name a Milvus Lite file ending in '.db', or use "
                    "'http://host:19530' for a server"
                )
            parent = os.path.dirname(os.path.abspath(uri))
            if not os.path.isdir(parent):
                raise ConfigError(
                    f"the folder of the Milvus Lite file {uri!r} does not exist: "
                    f"create {parent!r} first"
                )
            uri = os.path.abspath(uri)
        object.__setattr__(self, "uri", uri)
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError("timeout must be positive or None")
        if self.connect_timeout <= 0:
            raise ConfigError("connect_timeout must be positive")
        if self.retries < 0:
            raise ConfigError("retries must be >= 0")

    @staticmethod
    def is_local_for(uri: str) -> bool:
        return _is_local_uri(uri)

    @property
    def is_local(self) -> bool:
        """True for an embedded Milvus Lite file."""
        return _is_local_uri(self.uri)

    @property
    def effective_token(self) -> str:
        if self.token:
            return self.token
        if self.user or self.password:
            return f"{self.user}:{self.password}"
        return ""

    @functools.cached_property
    def key(self) -> tuple[str, str, str]:
        """Identity of the connection, for caches: the secret enters only as a hash."""
        digest = hashlib.sha256(self.effective_token.encode()).hexdigest()[:16]
        return (self.uri, self.db_name, digest)

    def __repr__(self) -> str:
        secret = f", token={_REDACTED!r}" if self.effective_token else ""
        return f"ConnectionConfig(uri={self.uri!r}{secret}, db_name={self.db_name!r})"

    __str__ = __repr__

    @classmethod
    def from_env(cls, **overrides: Any) -> ConnectionConfig:
        """``MILVUS_URI``, ``MILVUS_TOKEN``, ``MILVUS_DB_NAME`` from the environment."""
        kwargs: dict[str, Any] = {}
        if os.environ.get("MILVUS_URI"):
            kwargs["uri"] = os.environ["MILVUS_URI"]
        if os.environ.get("MILVUS_TOKEN"):
            kwargs["token"] = os.environ["MILVUS_TOKEN"]
        if os.environ.get("MILVUS_DB_NAME"):
            kwargs["db_name"] = os.environ["MILVUS_DB_NAME"]
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kwargs)


@dataclass(frozen=True)
class CollectionConfig:
    """One collection: schema, index and batching settings.

    ``dim=None`` takes the dim of an existing collection (an error if it does not exist).
    ``analyzer=None`` uses ``"english"`` where the backend has it, else ``"standard"``.
    ``write_concurrency=None`` is 1 on Milvus Lite (single writer), 2 on a server.
    ``search_params``: the dense index's search parameters for every search of this store
    (``{"ef": 64}``, ``{"nprobe": 16}``...); a search's own ``search_params`` win.
    ``consistency_level``: the collection's default (set when it is created).
    ``auto_flush_rows``: on a server or a Milvus Lite 3 file, an upsert of at least this many
    rows ends with a flush (Milvus Lite 3 searches sealed data 3-15x faster); ``None`` turns it
    off.
    ``index_type`` (AUTOINDEX, FLAT, HNSW, IVF_FLAT, IVF_SQ8, IVF_PQ, DISKANN) and its build
    parameters ``index_params`` are validated here (see :mod:`milvus_rag.client.index`);
    ``None`` builds AUTOINDEX and accepts any existing index on reopen, a named type must
    match the existing one.
    ``tenant_field``: makes the collection multi-tenant (a VARCHAR field; a partition key on
    servers, with ``num_partitions`` partitions, default the server's 16; a plain indexed
    field on Milvus Lite 2.5). ``metadata_fields``: metadata keys stored as typed, indexed
    columns, e.g. ``{"year": "int64", "tags": "array<varchar>"}`` (see ``typed_fields``).

    Field layout (what langchain-milvus and llama-index-vector-stores-milvus collections need,
    see :mod:`milvus_rag.client.layout`): ``id_type`` (``"varchar"`` or ``"int64"``) and
    ``auto_id`` (Milvus assigns int64 ids: write records without an id); ``metadata_field=None``
    (no JSON metadata column), ``dynamic_field=True`` (metadata keys without a column of their
    own are Milvus dynamic fields, filtered by name), ``doc_id_field=None`` (no doc_id
    column); ``layout``: the row conventions (``"llama_index"`` also writes the
    ``_node_content`` / ``_node_type`` / ``doc_id`` / ``ref_doc_id`` keys that
    llama-index-vector-stores-milvus reads).

    Example:
        >>> CollectionConfig(name="docs", dim=384, bm25_k1=1.2).enable_bm25
        True
    """

    name: str = DEFAULT_COLLECTION
    dim: int | None = None
    metric: Metric = "COSINE"
    enable_bm25: bool = True
    analyzer: str | dict[str, Any] | None = None
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    id_field: str = "id"
    text_field: str = "text"
    vector_field: str = "dense"
    sparse_field: str = "sparse"
    doc_id_field: str | None = "doc_id"
    metadata_field: str | None = "metadata"
    id_max_length: int = 512
    text_max_length: int = 65535
    index_type: str | None = None
    index_params: dict[str, Any] = field(default_factory=dict, hash=False)
    consistency_level: str = "Strong"
    search_params: dict[str, Any] = field(default_factory=dict, hash=False)
    batch_size: int = 500
    max_batch_bytes: int = 200_000
    write_concurrency: int | None = None
    read_concurrency: int = 16
    hybrid_candidates: int = 100
    auto_flush_rows: int | None = 5000
    rrf_k: int = 20
    tenant_field: str | None = None
    num_partitions: int | None = None
    metadata_fields: dict[str, str] = field(default_factory=dict, hash=False)
    id_type: IdType = "varchar"
    auto_id: bool = False
    dynamic_field: bool = False
    layout: LayoutName = "milvus_rag"
    #: whether the collection has its primary dense field (``vector_field``); ``False``
    #: with ``enable_bm25`` (or a client-side sparse field): a sparse-only collection
    enable_dense: bool = True
    #: vector fields beyond the primary dense one and the BM25 one (see ``vector_fields``)
    extra_vector_fields: tuple[VectorField, ...] = ()
    #: the text is a dynamic key (``text_field``), not a field of the schema: a collection
    #: made by pymilvus's quick setup, opened with the key that holds its text named
    dynamic_text: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigError(
                f"collection name {self.name!r} is invalid: use letters, digits and '_', "
                "starting with a letter or '_' (at most 255 characters)"
            )
        if self.dim is not None and (
            isinstance(self.dim, bool)
            or not isinstance(self.dim, int)
            or not 1 <= self.dim <= 32768
        ):
            raise ConfigError(f"dim must be an integer in [1, 32768], got {self.dim!r}")
        metric = str(self.metric).upper()
        if metric not in _METRICS:
            raise ConfigError(f"metric must be one of {_METRICS}, got {self.metric!r}")
        object.__setattr__(self, "metric", metric)
        names = [
            getattr(self, f.name)
            for f in fields(self)
            if f.name.endswith("_field") and f.name != "dynamic_field"
        ]
        for opt in _OPTIONAL_FIELDS:
            if getattr(self, opt) is None:
                names.remove(None)
        for n in names:
            if not isinstance(n, str) or not _NAME_RE.match(n):
                raise ConfigError(f"field name {n!r} is invalid: use letters, digits and '_'")
        if len(set(names)) != len(names):
            raise ConfigError(f"field names must be distinct, got {names}")
        if not 0 < self.bm25_b <= 1 or not 0 < self.bm25_k1 <= 3:
            raise ConfigError("bm25_k1 must be in (0, 3] and bm25_b in (0, 1]")
        if not 1 <= self.id_max_length <= 65535 or not 1 <= self.text_max_length <= 65535:
            raise ConfigError("id_max_length and text_max_length must be in [1, 65535]")
        for name in (
            "batch_size",
            "max_batch_bytes",
            "read_concurrency",
            "hybrid_candidates",
            "rrf_k",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if self.write_concurrency is not None and self.write_concurrency < 1:
            raise ConfigError("write_concurrency must be >= 1 or None")
        object.__setattr__(self, "index_params", _check_index_params(self))
        object.__setattr__(self, "search_params", check_search_params(self.search_params))
        level = check_consistency(self.consistency_level)
        object.__setattr__(self, "consistency_level", level)
        kind = index.normalize_index_type(self.built_index_type)
        if self.index_type is not None:
            object.__setattr__(self, "index_type", kind)
        params = index.validate_build_params(kind, self.index_params, self.dim)
        object.__setattr__(self, "index_params", params)
        self._check_tenancy(names)
        self._check_layout()
        self._check_vector_fields(names)

    def _check_vector_fields(self, names: list[str]) -> None:
        """``extra_vector_fields``: distinct names, no second BM25 field, a dense primary
        whenever there is a dense field, and at least one vector field in all."""
        if not isinstance(self.enable_dense, bool):
            raise ConfigError(f"enable_dense must be True or False, got {self.enable_dense!r}")
        extras = self.extra_vector_fields
        if isinstance(extras, VectorField) or not isinstance(extras, tuple | list):
            raise ConfigError(
                f"extra_vector_fields must be a sequence of VectorField, got {extras!r}"
            )
        extras = tuple(extras)
        for f in extras:
            if not isinstance(f, VectorField):
                raise ConfigError(f"extra_vector_fields holds VectorField values, got {f!r}")
            if f.is_bm25:
                raise ConfigError(
                    f"vector field {f.name!r}: a collection has one BM25 field (enable_bm25 / "
                    "sparse_field): BM25 reads the one text field"
                )
        object.__setattr__(self, "extra_vector_fields", extras)
        taken = [n for n in names if n is not None]
        for f in extras:
            if f.name in taken:
                raise ConfigError(
                    f"vector field {f.name!r} repeats a field name of the collection {taken}"
                )
            taken.append(f.name)
        if not self.enable_dense and any(f.is_dense for f in extras):
            raise ConfigError(
                "a collection with a dense field has a primary one (vector_field, dim, metric): "
                "declare the fields with vector_fields=[...] (CollectionConfig.from_fields) and "
                "the first dense field becomes the primary"
            )
        if not self.enable_dense and not self.enable_bm25 and not extras:
            raise ConfigError(
                "a collection needs a vector field: keep enable_dense=True (the embeddings), "
                "enable_bm25=True, or declare a sparse field"
            )

    @property
    def vector_fields(self) -> tuple[VectorField, ...]:
        """Every vector field: the primary dense one (if ``enable_dense``), the BM25 one (if
        ``enable_bm25``), then ``extra_vector_fields``."""
        out: list[VectorField] = []
        if self.enable_dense:
            out.append(self.primary_dense)
        if self.enable_bm25:
            out.append(
                VectorField.sparse(
                    self.sparse_field,
                    bm25=True,
                    index_params={"bm25_k1": self.bm25_k1, "bm25_b": self.bm25_b},
                )
            )
        return (*out, *self.extra_vector_fields)

    @property
    def primary_dense(self) -> VectorField:
        """The primary dense field as a :class:`VectorField` (its settings are this
        config's ``vector_field``, ``dim``, ``metric``, ``index_type``, ``index_params``,
        ``search_params``)."""
        if not self.enable_dense:
            raise ConfigError(f"collection {self.name!r} has no dense field (enable_dense=False)")
        return VectorField(
            name=self.vector_field,
            kind="dense",
            dim=self.dim,
            metric=self.metric,
            index_type=self.index_type,
            index_params=dict(self.index_params),
            search_params=dict(self.search_params),
        )

    @property
    def dense_fields(self) -> tuple[VectorField, ...]:
        return tuple(f for f in self.vector_fields if f.is_dense)

    @property
    def client_fields(self) -> tuple[VectorField, ...]:
        """The fields whose vectors the caller gives (every field but the BM25 one)."""
        return tuple(f for f in self.vector_fields if not f.is_bm25)

    def vector_field_named(self, name: str) -> VectorField:
        """The vector field called ``name``; :class:`ConfigError` naming the fields if none."""
        for f in self.vector_fields:
            if f.name == name:
                return f
        raise ConfigError(
            f"collection {self.name!r} has no vector field {name!r}; its vector fields are "
            f"{[f.name for f in self.vector_fields]}"
        )

    @classmethod
    def from_fields(cls, vector_fields: Any, **options: Any) -> CollectionConfig:
        """A config whose vector fields are ``vector_fields`` (a sequence of
        :class:`VectorField`): the first dense one becomes the primary (``vector_field``,
        ``dim``, ``metric``...), a BM25 one the ``sparse_field``, the rest
        ``extra_vector_fields``. Options that set the primary's or BM25's settings as well
        raise :class:`ConfigError`.

        Example:
            >>> cfg = CollectionConfig.from_fields(
            ...     [VectorField.dense("title", dim=8), VectorField.dense("body", dim=8),
            ...      VectorField.sparse("bm25", bm25=True)], name="papers")
            >>> [f.name for f in cfg.vector_fields], cfg.vector_field
            (['title', 'bm25', 'body'], 'title')
        """
        return cls(**fields_options(vector_fields, options))

    def with_dim(self, dim: int) -> CollectionConfig:
        return replace(self, dim=dim)

    def with_field_dim(self, name: str, dim: int) -> CollectionConfig:
        """This config with vector field ``name``'s dim set (the primary's or an extra's)."""
        if self.enable_dense and name == self.vector_field:
            return replace(self, dim=dim)
        extras = tuple(
            replace(f, dim=dim) if f.name == name else f for f in self.extra_vector_fields
        )
        if extras == self.extra_vector_fields and not any(
            f.name == name for f in self.extra_vector_fields
        ):
            self.vector_field_named(name)  # raises, naming the fields
        return replace(self, extra_vector_fields=extras)

    def _check_layout(self) -> None:
        """The field-layout settings agree with each other (see the class docstring)."""
        if self.id_type not in ("varchar", "int64"):
            raise ConfigError(f"id_type must be 'varchar' or 'int64', got {self.id_type!r}")
        for flag in ("auto_id", "dynamic_field", "enable_bm25", "dynamic_text"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.auto_id and self.id_type != "int64":
            raise ConfigError(
                "auto_id=True needs id_type='int64': Milvus assigns int64 ids only "
                "(pass id_type='int64', or auto_id=False and give every record an id)"
            )
        if self.dynamic_text and (not self.dynamic_field or self.enable_bm25):
            raise ConfigError(
                "dynamic_text=True keeps the text in a dynamic key: it needs "
                "dynamic_field=True and no BM25 (enable_bm25=False: BM25 reads a text field)"
            )
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.layout == "llama_index":
            if not self.dynamic_field or self.metadata_field is not None:
                raise ConfigError(
                    "layout='llama_index' stores metadata and the node content as dynamic "
                    "fields, like llama-index-vector-stores-milvus: pass dynamic_field=True and "
                    "metadata_field=None"
                )
            if self.doc_id_field is None or self.id_type != "varchar" or self.auto_id:
                raise ConfigError(
                    "layout='llama_index' has a doc_id column and string node ids: keep "
                    "doc_id_field set, id_type='varchar' and auto_id=False"
                )
        if self.metadata_fields and self.metadata_field is None and not self.dynamic_field:
            return  # metadata as typed columns only (langchain-milvus's default layout)
        if self.metadata_field is not None and self.dynamic_field:
            raise ConfigError(
                "metadata goes to one place: pass metadata_field=None with dynamic_field=True "
                "(metadata keys as dynamic fields), or dynamic_field=False with a JSON "
                "metadata_field"
            )

    @property
    def metadata_storage(self) -> Literal["json", "dynamic", "columns"]:
        """Where metadata keys without a typed column of their own go: the JSON
        ``metadata_field``, dynamic fields, or nowhere (typed columns only)."""
        if self.metadata_field is not None:
            return "json"
        return "dynamic" if self.dynamic_field else "columns"

    @property
    def built_index_type(self) -> str:
        """The dense index type a new collection gets (``index_type``, else AUTOINDEX)."""
        return self.index_type if self.index_type is not None else index.DEFAULT_INDEX_TYPE

    def _check_tenancy(self, names: list[str]) -> None:
        if self.num_partitions is not None:
            if self.tenant_field is None:
                raise ConfigError(
                    "num_partitions needs tenant_field: partitions hold the tenants' rows"
                )
            if (
                isinstance(self.num_partitions, bool)
                or not isinstance(self.num_partitions, int)
                or not 1 <= self.num_partitions <= 1024
            ):
                raise ConfigError(
                    f"num_partitions must be an integer in [1, 1024], got {self.num_partitions!r}"
                )
        typed = canonical(self.metadata_fields)
        reserved = {*names, PRIVATE_KEY, NULLS_KEY}
        if self.layout == "milvus_rag":  # its filters address "id" / "doc_id" as the fields
            reserved |= {"id", "doc_id"}
        clash = sorted(set(typed) & reserved)
        if clash:
            raise ConfigError(
                f"metadata_fields {clash} collide with the collection's own fields or reserved "
                f"keys {sorted(reserved)}: rename the metadata key(s)"
            )
        object.__setattr__(self, "metadata_fields", typed)

    @property
    def typed_fields(self) -> tuple[TypedField, ...]:
        """``metadata_fields`` as validated field specs."""
        return parse_metadata_fields(self.metadata_fields)


COLLECTION_KEYS = {f.name for f in fields(CollectionConfig)}
_LIFTED = {"metric_type": "metric", "index_type": "index_type"}


def _check_index_params(cfg: CollectionConfig) -> dict[str, Any]:
    """The index build parameters; ``metric_type`` / ``index_type`` inside them must agree
    with ``metric=`` / ``index_type=`` (which configure the index) and are dropped."""
    if not isinstance(cfg.index_params, dict):
        raise ConfigError(f"index_params must be a dict, got {cfg.index_params!r}")
    params = dict(cfg.index_params)
    for key, arg in _LIFTED.items():
        if key in params:
            inside, outside = str(params.pop(key)).upper(), str(getattr(cfg, arg)).upper()
            if inside != outside:
                raise ConfigError(
                    f"index_params[{key!r}]={inside!r} disagrees with {arg}={outside!r}: "
                    f"pass {arg}={inside!r} and leave {key!r} out of index_params"
                )
    nested = params.pop("params", None)  # the langchain-milvus spelling: {"params": {...}}
    if nested is not None:
        if not isinstance(nested, dict):
            raise ConfigError(f"index_params['params'] must be a dict, got {nested!r}")
        clash = sorted(set(nested) & set(params))
        if clash:
            raise ConfigError(f"index_params sets {clash} both inside and outside 'params'")
        params.update(nested)
    return params


def lift_index_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Store options with ``metric_type`` / ``index_type`` given inside ``index_params``
    (langchain-milvus's spelling) honoured as ``metric=`` / ``index_type=``; a conflict with
    those arguments raises :class:`ConfigError`.

    Example:
        >>> lift_index_settings({"index_params": {"metric_type": "L2", "index_type": "FLAT"}})
        {'index_params': {}, 'metric': 'L2', 'index_type': 'FLAT'}
    """
    index_params = options.get("index_params")
    if not isinstance(index_params, dict) or not set(_LIFTED) & set(index_params):
        return options
    out = dict(options)
    params = dict(index_params)
    for key, arg in _LIFTED.items():
        if key not in params:
            continue
        value = str(params.pop(key)).upper()
        given = options.get(arg)
        if given is not None and str(given).upper() != value:
            raise ConfigError(
                f"{arg}={given!r} conflicts with index_params[{key!r}]={value!r}: "
                f"set it once, as {arg}="
            )
        out[arg] = value
    out["index_params"] = params
    return out


def make_configs(
    uri: str | None,
    token: str | None,
    collection_name: str | None,
    dim: int | None,
    connection: ConnectionConfig | None,
    collection: CollectionConfig | None,
    options: dict[str, Any],
) -> tuple[ConnectionConfig, CollectionConfig]:
    """Both configs from a store constructor's arguments; unknown options are an error."""
    conn_keys = {
        "user",
        "password",
        "db_name",
        "timeout",
        "connect_timeout",
        "retries",
        "retry_backoff",
    }
    unknown = set(options) - COLLECTION_KEYS - conn_keys - {"vector_fields"}
    if unknown:
        raise ConfigError(
            f"unknown option(s) {sorted(unknown)}; collection options are {sorted(COLLECTION_KEYS)}"
        )
    conn_opts = {k: v for k, v in options.items() if k in conn_keys}
    if connection is None:
        connection = ConnectionConfig(uri=uri or DEFAULT_URI, token=token or "", **conn_opts)
    elif uri or token or conn_opts:
        raise ConfigError("pass either connection= or uri=/token=/connection options, not both")
    coll_opts = lift_index_settings({k: v for k, v in options.items() if k in COLLECTION_KEYS})
    if "vector_fields" in options:
        coll_opts = fields_options(options["vector_fields"], coll_opts)
    if collection_name is not None:
        coll_opts["name"] = collection_name
    if dim is not None:
        coll_opts["dim"] = dim
    if collection is None:
        collection = CollectionConfig(**coll_opts)
    elif coll_opts:
        raise ConfigError("pass either collection= or collection options, not both")
    return connection, collection
