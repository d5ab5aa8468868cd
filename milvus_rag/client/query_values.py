"""A search's query values, checked once: a dense query vector (a list of floats rounded to
float32, as Milvus stores it) and a sparse one (``{index: weight}``). Pure functions;
:mod:`milvus_rag.client.request` checks every query through them.

Example:
    >>> check_query_vector([0.1, 2])
    [0.10000000149011612, 2.0]
    >>> check_sparse_vector({3: 1})
    {3: 1.0}
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from milvus_rag.client.errors import InvalidInputError

__all__ = ["check_query_vector", "check_sparse_vector"]


def check_query_vector(vector: Any) -> list[float] | None:
    """A query vector as a list of floats rounded to float32 (what Milvus stores);
    :class:`InvalidInputError` unless it is one non-empty vector of finite numbers."""
    if vector is None:
        return None
    if type(vector) is list and vector:
        # what embedders return: rounded by struct (a third of numpy's cost from a list;
        # the same C cast, tests/unit/test_query_vector.py), finite iff its sum is (finite
        # float32 values cannot overflow a double's sum); anything else: numpy, below
        try:
            out = _float32s(len(vector))(vector)
        except (struct.error, TypeError, OverflowError):
            pass
        else:
            if math.isfinite(sum(out)):
                return out
    return _check_query_vector_numpy(vector)


def _float32s(n: int) -> Callable[[list[Any]], list[float]]:
    """A function rounding a list of ``n`` numbers to float32 (kept per ``n``)."""
    fn = _FLOAT32S.get(n)
    if fn is None:
        packer = struct.Struct(f"<{n}f")
        pack, unpack = packer.pack, packer.unpack

        def fn(values: list[Any]) -> list[float]:
            return list(unpack(pack(*values)))

        if len(_FLOAT32S) < 64:
            _FLOAT32S[n] = fn
    return fn


_FLOAT32S: dict[int, Callable[[list[Any]], list[float]]] = {}


def _check_query_vector_numpy(vector: Any) -> list[float]:
    """:func:`check_query_vector` of any input (an array, a tuple, numeric strings...)."""
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError("query vector must be a sequence of numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError("query vector must be one non-empty finite vector")
    out: list[float] = arr.tolist()
    if not math.isfinite(sum(out)):  # (float32 values: a double's sum cannot overflow)
        raise InvalidInputError("query vector must be one non-empty finite vector")
    return out


def check_sparse_vector(vector: Any, where: str = "sparse vector") -> dict[int, float]:
    """A sparse vector as ``{index: weight}``: non-negative int indexes, finite float
    weights (a dict, or pymilvus / scipy's one-row sparse matrix)."""
    if hasattr(vector, "tocoo") and hasattr(vector, "shape"):  # scipy sparse, one row
        coo = vector.tocoo()
        if coo.shape[0] != 1:
            raise InvalidInputError(f"{where} must be one row, got shape {coo.shape}")
        vector = {int(c): float(v) for c, v in zip(coo.col, coo.data, strict=True)}
    if not isinstance(vector, Mapping):
        raise InvalidInputError(f"{where} must be a dict {{index: weight}}, got {vector!r}")
    out: dict[int, float] = {}
    for key, value in vector.items():
        if isinstance(key, bool) or not isinstance(key, int | np.integer) or key < 0:
            raise InvalidInputError(f"{where} indexes must be non-negative ints, got {key!r}")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float | np.number)
            or not (math.isfinite(float(value)))
        ):
            raise InvalidInputError(f"{where} weights must be finite numbers, got {value!r}")
        out[int(key)] = float(value)
    return out
