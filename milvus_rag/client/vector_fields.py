"""Vector fields: what each vector column of a collection holds and how it is indexed.

A collection holds any number of vector fields (Milvus allows four by default). Each is
declared once, as a :class:`VectorField`:

- **dense**: float vectors from an embedder the caller names (``dim``, ``metric`` COSINE /
  IP / L2, ``index_type`` + ``index_params``, ``search_params``);
- **sparse, BM25**: filled by Milvus's BM25 function from the text field (``function="bm25"``,
  metric BM25; at most one: a collection has one text field);
- **sparse, client-side**: sparse vectors the caller computes and writes with each record
  (SPLADE, BGE-M3, a user's own encoder; metric IP), as ``{index: weight}`` dicts.

:class:`~milvus_rag.client.config.CollectionConfig` keeps its first dense field in its own
settings (``vector_field``, ``dim``, ``metric``, ``index_type``, ``index_params``,
``search_params``: the *primary* field, whose vectors give ``Hit.relevance``) and its BM25
field in ``enable_bm25`` / ``sparse_field`` / ``bm25_k1`` / ``bm25_b``; further fields are its
``extra_vector_fields``. ``CollectionConfig.vector_fields`` lists them all, in that order.

Example:
    >>> VectorField.dense("title", dim=384).metric
    'COSINE'
    >>> VectorField.sparse("splade").metric, VectorField.sparse("bm25", bm25=True).metric
    ('IP', 'BM25')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from milvus_rag.client import index
from milvus_rag.client.errors import ConfigError

VectorKind = Literal["dense", "sparse"]
DENSE_METRICS = ("COSINE", "IP", "L2")
SPARSE_INDEX_TYPES = ("SPARSE_INVERTED_INDEX", "SPARSE_WAND", "AUTOINDEX")
DEFAULT_SPARSE_INDEX = "SPARSE_INVERTED_INDEX"
#: a client-side sparse index's build parameters (Milvus's sparse index page); measured:
#: a Milvus Lite 2.5 file and a Lite 3 server accept any name and value without a word (the
#: Lite 3 server does not even report them back), so they are checked here
SPARSE_ALGOS = ("TAAT_NAIVE", "DAAT_WAND", "DAAT_MAXSCORE")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


@dataclass(frozen=True)
class VectorField:
    """One vector field: ``kind`` ``"dense"`` or ``"sparse"``; a sparse field is filled by
    Milvus's BM25 function (``function="bm25"``) or client-side (``function=None``).

    ``metric``: dense COSINE (default) / IP / L2; sparse BM25 (with the function) or IP
    (client-side). ``index_type`` / ``index_params``: the build (dense: as
    ``CollectionConfig.index_type``; sparse: SPARSE_INVERTED_INDEX (default) or SPARSE_WAND,
    BM25's ``bm25_k1`` / ``bm25_b`` in ``index_params``). ``search_params``: this field's
    search parameters for every search (a leg's own win).

    Example:
        >>> VectorField.dense("image", dim=512, metric="IP", index_type="FLAT").index_type
        'FLAT'
    """

    name: str
    kind: VectorKind = "dense"
    dim: int | None = None
    metric: str | None = None
    function: Literal["bm25"] | None = None
    index_type: str | None = None
    index_params: dict[str, Any] = field(default_factory=dict, hash=False)
    search_params: dict[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def dense(
        cls, name: str, dim: int | None = None, metric: str = "COSINE", **kw: Any
    ) -> VectorField:
        """A dense field (``index_type``, ``index_params``, ``search_params`` as keywords)."""
        return cls(name=name, kind="dense", dim=dim, metric=metric, **kw)

    @classmethod
    def sparse(cls, name: str, bm25: bool = False, **kw: Any) -> VectorField:
        """A sparse field: filled by Milvus's BM25 function (``bm25=True``) or client-side."""
        return cls(name=name, kind="sparse", function="bm25" if bm25 else None, **kw)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigError(
                f"vector field name {self.name!r} is invalid: use letters, digits and '_'"
            )
        if self.kind not in ("dense", "sparse"):
            raise ConfigError(
                f"vector field {self.name!r}: kind must be 'dense' or 'sparse', got {self.kind!r}"
            )
        for name in ("index_params", "search_params"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"vector field {self.name!r}: {name} must be a dict, got {value!r}"
                )
            set_(self, name, dict(value))
        if self.kind == "dense":
            self._check_dense()
        else:
            self._check_sparse()

    def _check_dense(self) -> None:
        set_ = object.__setattr__
        if self.function is not None:
            raise ConfigError(
                f"vector field {self.name!r}: function={self.function!r} fills a sparse field; "
                "a dense field is filled by an embedder (kind='sparse' for BM25)"
            )
        if self.dim is not None and (
            isinstance(self.dim, bool)
            or not isinstance(self.dim, int)
            or not 1 <= self.dim <= 32768
        ):
            raise ConfigError(
                f"vector field {self.name!r}: dim must be an integer in [1, 32768], got {self.dim!r}"
            )
        metric = str(self.metric or "COSINE").upper()
        if metric not in DENSE_METRICS:
            raise ConfigError(
                f"vector field {self.name!r}: metric must be one of {DENSE_METRICS}, "
                f"got {self.metric!r}"
            )
        set_(self, "metric", metric)
        kind = index.normalize_index_type(self.index_type or index.DEFAULT_INDEX_TYPE)
        if self.index_type is not None:
            set_(self, "index_type", kind)
        set_(self, "index_params", index.validate_build_params(kind, self.index_params, self.dim))

    def _check_sparse(self) -> None:
        set_ = object.__setattr__
        if self.dim is not None:
            raise ConfigError(
                f"vector field {self.name!r}: a sparse field has no dim (leave dim out)"
            )
        if self.function not in (None, "bm25"):
            raise ConfigError(
                f"vector field {self.name!r}: function must be 'bm25' or None (sparse vectors "
                f"given with each record), got {self.function!r}"
            )
        want = "BM25" if self.function == "bm25" else "IP"
        metric = str(self.metric or want).upper()
        if metric != want:
            what = "Milvus's BM25 function" if want == "BM25" else "client-side sparse vectors"
            raise ConfigError(
                f"vector field {self.name!r}: {what} are searched with metric {want}, "
                f"got {self.metric!r}"
            )
        set_(self, "metric", metric)
        if self.index_type is not None:
            kind = str(self.index_type).upper()
            if kind not in SPARSE_INDEX_TYPES:
                raise ConfigError(
                    f"vector field {self.name!r}: a sparse index_type is one of "
                    f"{SPARSE_INDEX_TYPES}, got {self.index_type!r}"
                )
            set_(self, "index_type", kind)
        if self.function is None:
            _check_sparse_build(self.name, self.index_params)

    @property
    def is_dense(self) -> bool:
        return self.kind == "dense"

    @property
    def is_bm25(self) -> bool:
        """Filled by Milvus's BM25 function from the text field (searched with text)."""
        return self.function == "bm25"

    @property
    def is_client_sparse(self) -> bool:
        """Sparse vectors given with each record (searched with a sparse query vector)."""
        return self.kind == "sparse" and self.function is None

    @property
    def built_index_type(self) -> str:
        """The index type a new collection builds for this field."""
        if self.index_type is not None:
            return self.index_type
        return index.DEFAULT_INDEX_TYPE if self.is_dense else DEFAULT_SPARSE_INDEX


def _check_sparse_build(name: str, params: Mapping[str, Any]) -> None:
    """A client-side sparse field's ``index_params``: ``drop_ratio_build`` in [0, 1),
    ``inverted_index_algo`` one of :data:`SPARSE_ALGOS`; nothing else."""
    for key, value in params.items():
        if key == "drop_ratio_build":
            ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1
            if not ok:
                raise ConfigError(
                    f"vector field {name!r}: drop_ratio_build must be a number in [0, 1), "
                    f"got {value!r}"
                )
        elif key == "inverted_index_algo":
            if value not in SPARSE_ALGOS:
                raise ConfigError(
                    f"vector field {name!r}: inverted_index_algo must be one of {SPARSE_ALGOS}, "
                    f"got {value!r}"
                )
        else:
            raise ConfigError(
                f"vector field {name!r}: a sparse index has no build parameter {key!r} (its "
                "parameters: drop_ratio_build, inverted_index_algo; search-time ones such as "
                "drop_ratio_search go in search_params)"
            )


#: the settings of the primary dense field and of the BM25 field, which ``vector_fields=``
#: declares instead
_FIELD_SETTINGS = {
    "vector_field": "the first dense field's name",
    "dim": "the first dense field's dim",
    "metric": "the first dense field's metric",
    "index_type": "the first dense field's index_type",
    "index_params": "the first dense field's index_params",
    "search_params": "the first dense field's search_params",
    "enable_dense": "whether vector_fields holds a dense field",
    "enable_bm25": "whether vector_fields holds a BM25 field",
    "sparse_field": "the BM25 field's name",
    "bm25_k1": "the BM25 field's index_params['bm25_k1']",
    "bm25_b": "the BM25 field's index_params['bm25_b']",
    "extra_vector_fields": "vector_fields",
}


def fields_options(vector_fields: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``vector_fields`` (a sequence of :class:`VectorField`) mapped onto
    the config's settings (see :meth:`CollectionConfig.from_fields`)."""
    if isinstance(vector_fields, VectorField) or not isinstance(vector_fields, list | tuple):
        raise ConfigError(f"vector_fields must be a list of VectorField, got {vector_fields!r}")
    if not vector_fields:
        raise ConfigError("vector_fields is empty: a collection needs a vector field")
    for f in vector_fields:
        if not isinstance(f, VectorField):
            raise ConfigError(f"vector_fields holds VectorField values, got {f!r}")
    both = sorted(set(_FIELD_SETTINGS) & set(options))
    if both:
        said = "; ".join(f"{k} is {_FIELD_SETTINGS[k]}" for k in both)
        raise ConfigError(f"vector_fields declares every vector field: leave out {both} ({said})")
    out = dict(options)
    dense = [f for f in vector_fields if f.is_dense]
    bm25 = [f for f in vector_fields if f.is_bm25]
    if len(bm25) > 1:
        raise ConfigError(
            f"BM25 fields {[f.name for f in bm25]}: a collection has one (BM25 reads the one "
            "text field)"
        )
    out["enable_dense"] = bool(dense)
    if dense:
        p = dense[0]
        out.update(
            vector_field=p.name,
            dim=p.dim,
            metric=p.metric,
            index_type=p.index_type,
            index_params=dict(p.index_params),
            search_params=dict(p.search_params),
        )
    out["enable_bm25"] = bool(bm25)
    if bm25:
        b = bm25[0]
        params = dict(b.index_params)
        out["sparse_field"] = b.name
        for key in ("bm25_k1", "bm25_b"):
            if key in params:
                out[key] = params.pop(key)
        if params or b.index_type not in (None, "SPARSE_INVERTED_INDEX") or b.search_params:
            raise ConfigError(
                f"BM25 field {b.name!r}: its settings are bm25_k1 and bm25_b in index_params "
                f"(SPARSE_INVERTED_INDEX), got index_type={b.index_type!r}, "
                f"index_params={b.index_params!r}, search_params={b.search_params!r}"
            )
    primary = {id(dense[0])} if dense else set()
    out["extra_vector_fields"] = tuple(
        f for f in vector_fields if not f.is_bm25 and id(f) not in primary
    )
    return out
