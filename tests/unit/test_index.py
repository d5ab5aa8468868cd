"""Index types and build parameters: validation before any request (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag import AsyncMilvusStore
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, SchemaMismatchError
from milvus_rag.client.index import (
    BUILD_PARAMS,
    BUILDS,
    INDEX_TYPES,
    Backend,
    check_buildable,
    index_difference,
    normalize_index_type,
    parse_index,
    server_backend,
    validate_build_params,
)
from milvus_rag.client.schema import CollectionInfo, check_compatible, index_specs

# (index_type, params, dim, error fragment or None when valid)
CASES: list[tuple[str, dict[str, Any], int | None, str | None]] = [
    ("AUTOINDEX", {}, 8, None),
    ("FLAT", {}, 8, None),
    ("HNSW", {"M": 16, "efConstruction": 200}, 8, None),
    ("HNSW", {"M": 2, "efConstruction": 1}, 8, None),
    ("HNSW", {"M": 1}, 8, "'M' must be in [2, 2048]"),
    ("HNSW", {"M": 4096}, 8, "'M' must be in [2, 2048]"),
    ("HNSW", {"efConstruction": 0}, 8, "'efConstruction' must be in [1, int_max]"),
    ("HNSW", {"M": 16.5}, 8, "'M' must be an integer"),
    ("HNSW", {"M": True}, 8, "'M' must be an integer"),
    ("HNSW", {"ef": 64}, 8, "search_params"),
    ("IVF_FLAT", {"nlist": 128}, 8, None),
    ("IVF_FLAT", {"nlist": 0}, 8, "'nlist' must be in [1, 65536]"),
    ("IVF_FLAT", {"nlist": 65537}, 8, "'nlist' must be in [1, 65536]"),
    ("IVF_FLAT", {"nprobe": 8}, 8, "search_params"),
    ("IVF_SQ8", {"nlist": 1024}, 8, None),
    ("IVF_PQ", {"nlist": 64, "m": 4, "nbits": 8}, 8, None),
    ("IVF_PQ", {"m": 3}, 8, "must divide the dim (8)"),
    ("IVF_PQ", {"nbits": 65}, 8, "'nbits' must be in [1, 64]"),
    ("DISKANN", {"max_degree": 56, "search_list_size": 100}, 8, None),
    ("DISKANN", {"pq_code_budget_gb_ratio": 0.125}, 8, None),
    ("DISKANN", {"pq_code_budget_gb_ratio": 0.0}, 8, "must be in (0, 0.25]"),
    ("DISKANN", {"search_cache_budget_gb_ratio": 0.3}, 8, "must be in [0, 0.3)"),
    ("DISKANN", {"max_degree": 513}, 8, "'max_degree' must be in [1, 512]"),
    ("FLAT", {"nlist": 8}, 8, "FLAT has no build parameter 'nlist'"),
    ("AUTOINDEX", {"M": 8}, 8, "AUTOINDEX has no build parameter 'M'"),
    ("HNSW", {"metric_type": "L2"}, 8, "pass metric='L2'"),
    ("HNSW", {"index_type": "FLAT"}, 8, "pass index_type='FLAT'"),
]


@pytest.mark.parametrize(("index_type", "params", "dim", "error"), CASES)
def test_build_params_table(
    index_type: str, params: dict[str, Any], dim: int | None, error: str | None
) -> None:
    if error is None:
        assert validate_build_params(index_type, params, dim) == params
        cfg = CollectionConfig(dim=dim, index_type=index_type, index_params=params)
        assert cfg.index_type == index_type and cfg.index_params == params
    else:
        with pytest.raises(ConfigError, match=_escape(error)):
            validate_build_params(index_type, params, dim)
        with pytest.raises(ConfigError, match=_escape(error)):
            CollectionConfig(dim=dim, index_type=index_type, index_params=params)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


@given(
    kind=st.sampled_from([t for t in INDEX_TYPES if BUILD_PARAMS[t]]),
    data=st.data(),
)
def test_every_in_range_value_is_accepted_and_every_out_of_range_refused(
    kind: str, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(BUILD_PARAMS[kind])))
    rule = BUILD_PARAMS[kind][name]
    if rule.kind is int:
        inside: Any = data.draw(st.integers(int(rule.low), int(rule.high)))
        outside: Any = data.draw(
            st.one_of(st.integers(max_value=int(rule.low) - 1), st.integers(int(rule.high) + 1))
        )
    else:
        inside = data.draw(
            st.floats(rule.low, rule.high, exclude_min=rule.low_open, exclude_max=rule.high_open)
        )
        outside = data.draw(
            st.one_of(
                st.floats(max_value=rule.low, exclude_max=not rule.low_open, allow_nan=False),
                st.floats(min_value=rule.high, exclude_min=not rule.high_open, allow_nan=False),
            )
        )
    params = {name: inside}
    dim = inside * 2 if (kind, name) == ("IVF_PQ", "m") else None
    assert validate_build_params(kind, params, dim) == params
    with pytest.raises(ConfigError):
        validate_build_params(kind, {name: outside})


def test_index_type_is_normalised_and_unknown_types_name_the_known_ones() -> None:
    assert normalize_index_type(" hnsw ") == "HNSW"
    assert CollectionConfig(index_type="ivf_flat").index_type == "IVF_FLAT"
    with pytest.raises(ConfigError, match="AUTOINDEX, FLAT, HNSW, IVF_FLAT, IVF_SQ8, IVF_PQ"):
        CollectionConfig(index_type="SCANN")
    with pytest.raises(ConfigError, match="must be one of"):
        CollectionConfig(index_type=3)  # type: ignore[arg-type]


def test_default_builds_autoindex_and_accepts_any_existing_index() -> None:
    cfg = CollectionConfig(dim=8)
    assert cfg.index_type is None and cfg.built_index_type == "AUTOINDEX"
    assert index_specs(cfg)[0].index_type == "AUTOINDEX"
    found = parse_index({"index_type": "HNSW", "M": "16"})
    assert index_difference(cfg.index_type, cfg.index_params, found) is None


def test_ivf_pq_m_is_checked_once_the_dim_is_known() -> None:
    cfg = CollectionConfig(index_type="IVF_PQ", index_params={"m": 3})  # dim unknown: fine
    with pytest.raises(ConfigError, match="must divide the dim"):
        cfg.with_dim(8)
    assert cfg.with_dim(9).index_params == {"m": 3}


@pytest.mark.parametrize("backend", list(Backend))
@pytest.mark.parametrize("index_type", INDEX_TYPES)
def test_backend_table(backend: Backend, index_type: str) -> None:
    if index_type in BUILDS[backend]:
        check_buildable(index_type, backend)
    else:
        with pytest.raises(ConfigError, match=f"builds {', '.join(BUILDS[backend])}"):
            check_buildable(index_type, backend)


def test_measured_backend_capabilities() -> None:
    assert BUILDS[Backend.LITE25] == ("AUTOINDEX", "FLAT", "IVF_FLAT")
    assert set(BUILDS[Backend.LITE3]) == {"AUTOINDEX", "FLAT", "HNSW", "IVF_FLAT", "IVF_SQ8"}
    assert BUILDS[Backend.MILVUS] == INDEX_TYPES
    assert server_backend("milvus_lite-3.2.2") is Backend.LITE3
    assert server_backend("v2.5.4") is Backend.MILVUS


def test_lite_file_store_refuses_a_type_it_cannot_build_without_a_request(tmp_path: Any) -> None:
    from milvus_rag.client.filters import Dialect
    from milvus_rag.client.lite import lite_dialect

    # whichever engine is installed (milvus-rag[lite25]: 2.5; beside langchain-milvus: 3)
    if lite_dialect() is Dialect.LITE25:
        refused, message = "HNSW", r"cannot be built on a Milvus Lite 2\.5 file"
    else:
        refused, message = "DISKANN", r"cannot be built on Milvus Lite 3 \(a server, or a"
    with pytest.raises(ConfigError, match=message):
        AsyncMilvusStore(str(tmp_path / "x.db"), dim=8, index_type=refused)
    assert not (tmp_path / "x.db").exists()
    store = AsyncMilvusStore(
        str(tmp_path / "x.db"), dim=8, index_type="IVF_FLAT", index_params={"nlist": 16}
    )
    assert store.config.index_params == {"nlist": 16}


def _info(index: Any) -> CollectionInfo:
    return CollectionInfo(
        name="c",
        dim=8,
        metric="COSINE",
        has_bm25=True,
        field_names=("id", "text", "dense", "sparse", "doc_id", "metadata"),
        text_max_length=65535,
        id_max_length=512,
        index=index,
    )


@pytest.mark.parametrize(
    ("cfg", "desc", "field", "expected", "found"),
    [
        (
            CollectionConfig(dim=8, index_type="HNSW"),
            {"index_type": "IVF_FLAT", "nlist": "128"},
            "dense.index_type",
            "HNSW",
            "IVF_FLAT",
        ),
        (
            CollectionConfig(dim=8, index_type="IVF_FLAT", index_params={"nlist": 64}),
            {"index_type": "IVF_FLAT", "params": {"nlist": "128"}},
            "dense.index_params.nlist",
            64,
            128,
        ),
    ],
)
def test_reopen_check_names_expected_and_found(
    cfg: CollectionConfig, desc: dict[str, Any], field: str, expected: Any, found: Any
) -> None:
    with pytest.raises(SchemaMismatchError) as e:
        check_compatible(cfg, _info(parse_index(desc)))
    assert (e.value.field, e.value.expected, e.value.found) == (field, expected, found)


def test_reopen_check_passes_matching_or_unreported_params() -> None:
    cfg = CollectionConfig(dim=8, index_type="IVF_FLAT", index_params={"nlist": 128})
    check_compatible(cfg, _info(parse_index({"index_type": "IVF_FLAT", "nlist": "128"})))
    # Milvus Lite 3 reports no build parameters: the type is still checked
    check_compatible(cfg, _info(parse_index({"index_type": "IVF_FLAT"})))
    check_compatible(cfg, _info(None))
