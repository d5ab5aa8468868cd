"""Dense index types: which exist, their build parameters, which backend builds which.

Pure: validation happens on the config, before any request. Ranges are those of the
Milvus 2.5 index pages (hnsw.md, ivf-flat.md, ivf-sq8.md, ivf-pq.md, diskann.md).
Measured (pymilvus 3.0.2): a Milvus Lite 2.5 file builds FLAT, IVF_FLAT and AUTOINDEX only
(it refuses the rest: "local mode only support FLAT IVF_FLAT AUTOINDEX"). The Milvus Lite 3.2
server accepts every type, but builds only AUTOINDEX, FLAT, HNSW, IVF_FLAT and IVF_SQ8: for
IVF_PQ and DISKANN its background build fails ("reserved for a future phase", "unknown
index_type") and it searches every row exactly, so we refuse those there rather than accept
a setting that is ignored. A Milvus server builds them all.

Example:
    >>> validate_build_params("HNSW", {"M": 16, "efConstruction": 200})
    {'M': 16, 'efConstruction': 200}
    >>> check_buildable("HNSW", Backend.LITE25)
    Traceback (most recent call last):
    ...
    milvus_rag.client.errors.ConfigError: index_type 'HNSW' cannot be built on a Milvus Lite 2.5 file; it builds AUTOINDEX, FLAT, IVF_FLAT (a Milvus server builds HNSW)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from milvus_rag.client.errors import ConfigError

DEFAULT_INDEX_TYPE = "AUTOINDEX"
INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Param:
    """One build parameter: its type and its (inclusive unless said) range."""

    kind: type
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def check(self, index_type: str, name: str, value: Any) -> Any:
        ok_type = (
            isinstance(value, int) and not isinstance(value, bool)
            if self.kind is int
            else isinstance(value, int | float) and not isinstance(value, bool)
        )
        if ok_type and self.kind is float and not math.isfinite(float(value)):
            ok_type = False
        if not ok_type:
            raise ConfigError(
                f"{index_type} parameter {name!r} must be {'an integer' if self.kind is int else 'a number'}, "
                f"got {value!r}"
            )
        below = value <= self.low if self.low_open else value < self.low
        above = value >= self.high if self.high_open else value > self.high
        if below or above:
            lo = "(" if self.low_open else "["
            hi = ")" if self.high_open else "]"
            raise ConfigError(
                f"{index_type} parameter {name!r} must be in {lo}{_num(self.low)}, "
                f"{_num(self.high)}{hi}, got {value!r}"
            )
        return value


def _num(x: float) -> str:
    return "int_max" if x == INT_MAX else f"{x:g}"


_NLIST = Param(int, 1, 65536)
# Build parameters per index type (the names Milvus takes in ``params``).
BUILD_PARAMS: dict[str, dict[str, Param]] = {
    "AUTOINDEX": {},
    "FLAT": {},
    "HNSW": {"M": Param(int, 2, 2048), "efConstruction": Param(int, 1, INT_MAX)},
    "IVF_FLAT": {"nlist": _NLIST},
    "IVF_SQ8": {"nlist": _NLIST},
    "IVF_PQ": {"nlist": _NLIST, "m": Param(int, 1, 65536), "nbits": Param(int, 1, 64)},
    "DISKANN": {
        "max_degree": Param(int, 1, 512),
        "search_list_size": Param(int, 1, INT_MAX),
        "pq_code_budget_gb_ratio": Param(float, 0.0, 0.25, low_open=True),
        "search_cache_budget_gb_ratio": Param(float, 0.0, 0.3, high_open=True),
    },
}
INDEX_TYPES = tuple(BUILD_PARAMS)


class Backend(str, Enum):
    """Kinds of backend that differ in what they build."""

    LITE25 = "a Milvus Lite 2.5 file"
    LITE3 = "Milvus Lite 3 (a server, or a .db folder)"
    MILVUS = "a Milvus server"


# What each backend builds (measured on Lite; a Milvus server builds every type above).
BUILDS: dict[Backend, tuple[str, ...]] = {
    Backend.LITE25: ("AUTOINDEX", "FLAT", "IVF_FLAT"),
    Backend.LITE3: ("AUTOINDEX", "FLAT", "HNSW", "IVF_FLAT", "IVF_SQ8"),
    Backend.MILVUS: INDEX_TYPES,
}
# Types every server builds: creating one of these needs no question to the server.
SERVERS_BUILD = BUILDS[Backend.LITE3]
# Index-level keys that are config options of their own, not build parameters.
_OWN_OPTIONS = {"metric_type": "metric", "index_type": "index_type"}


def normalize_index_type(index_type: Any) -> str:
    """``index_type`` upper-cased, or ``ConfigError`` naming the types there are."""
    if not isinstance(index_type, str) or index_type.strip().upper() not in BUILD_PARAMS:
        raise ConfigError(f"index_type must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")
    return index_type.strip().upper()


def validate_build_params(
    index_type: str, params: Mapping[str, Any], dim: int | None = None
) -> dict[str, Any]:
    """Check ``params`` against ``index_type``'s build parameters; returns a copy.

    An unknown name is an error (Milvus would ignore or reject it later); ``dim`` enables
    the IVF_PQ rule that ``m`` divides the dimension.
    """
    index_type = normalize_index_type(index_type)
    if not isinstance(params, Mapping):
        raise ConfigError(f"index_params must be a dict, got {type(params).__name__}")
    allowed = BUILD_PARAMS[index_type]
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in _OWN_OPTIONS:
            raise ConfigError(
                f"index_params[{name!r}] is an option of its own: pass "
                f"{_OWN_OPTIONS[name]}={value!r} instead"
            )
        rule = allowed.get(name)
        if rule is None:
            known = ", ".join(allowed) or "none"
            raise ConfigError(
                f"{index_type} has no build parameter {name!r} (its parameters: {known}); "
                "search-time parameters such as ef or nprobe go in search_params"
            )
        out[name] = rule.check(index_type, name, value)
    if index_type == "IVF_PQ" and dim is not None and "m" in out and dim % out["m"]:
        raise ConfigError(f"IVF_PQ parameter 'm' ({out['m']}) must divide the dim ({dim})")
    return out


def server_backend(version: str) -> Backend:
    """Which kind of server answered ``get_server_version`` with ``version``."""
    return Backend.LITE3 if str(version).lower().startswith("milvus_lite") else Backend.MILVUS


def check_buildable(index_type: str, backend: Backend) -> None:
    """``ConfigError`` naming what ``backend`` builds when it cannot build ``index_type``."""
    can = BUILDS[backend]
    if index_type not in can:
        raise ConfigError(
            f"index_type {index_type!r} cannot be built on {backend.value}; it builds "
            f"{', '.join(can)} (a Milvus server builds {index_type})"
        )


@dataclass(frozen=True)
class IndexDescription:
    """An existing dense index as ``describe_index`` reports it (values as strings)."""

    index_type: str
    params: Mapping[str, str]


def parse_index(desc: Mapping[str, Any] | None) -> IndexDescription | None:
    """The dense index's type and build parameters from a ``describe_index`` answer."""
    if not desc:
        return None
    index_type = str(desc.get("index_type", "")).upper()
    if not index_type:
        return None
    nested = desc.get("params")
    flat: dict[str, Any] = dict(nested) if isinstance(nested, Mapping) else {}
    flat.update(desc)
    known = BUILD_PARAMS.get(index_type, {})
    return IndexDescription(
        index_type, {k: str(v) for k, v in flat.items() if k in known and v is not None}
    )


def index_difference(
    index_type: str | None, params: Mapping[str, Any], found: IndexDescription | None
) -> tuple[str, Any, Any] | None:
    """(what, expected, found) for the first way ``found`` differs from the config, or None.

    Only what the config states is compared: ``index_type=None`` accepts any existing
    index; build parameters the config leaves out may have any value there.
    """
    if found is None or index_type is None:
        return None
    if found.index_type != index_type:
        return ("index_type", index_type, found.index_type)
    for name, value in params.items():
        have = found.params.get(name)
        if have is not None and not _same(value, have):
            return (f"index_params.{name}", value, _parse_number(have))
    return None


def _parse_number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def _same(value: Any, text: str) -> bool:
    parsed = _parse_number(text)
    if isinstance(parsed, int | float) and isinstance(value, int | float):
        return math.isclose(float(parsed), float(value), rel_tol=1e-9)
    return str(value) == text
