"""Issue 27: a query vector given as a list (what embedders return) is rounded to float32 by
``struct`` rather than numpy (a third of the cost), and any vector's finiteness is read from
its sum. The invariant: ``check_query_vector`` returns exactly the floats of the check as it
was (numpy's ``isfinite``), or raises the same error, for any list or array:
floats of any size (beyond float32's range, subnormal, NaN, infinities), ints, bools,
numpy scalars, numeric strings, nested lists, empty."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag import InvalidInputError
from milvus_rag.client.query_values import _check_query_vector_numpy, check_query_vector

F32_MAX = float(np.finfo(np.float32).max)
EDGES = [
    0.0,
    -0.0,
    F32_MAX,
    -F32_MAX,
    F32_MAX * (1 + 2**-25),  # rounds to the float32 maximum
    F32_MAX * (1 + 2**-23),  # rounds to inf: not finite
    1e-45,  # the smallest float32 subnormal
    1e-46,  # rounds to 0
    1e300,
    float("nan"),
    float("inf"),
    float("-inf"),
]
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e3, 1e3),
    st.sampled_from(EDGES),
    st.integers(-(10**40), 10**40),
    st.booleans(),
    st.floats(-1e3, 1e3).map(np.float32),
    st.floats(-1e3, 1e3).map(np.float64),
)
elements = st.one_of(numbers, st.sampled_from(["1.5", "x", None, [1.0], 1j]))


def _reference(vector: Any) -> list[float]:
    """The check as it was before issue 27 (numpy from end to end): what both paths match."""
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError("query vector must be a sequence of numbers") from None
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise InvalidInputError("query vector must be one non-empty finite vector")
    out: list[float] = arr.tolist()
    return out


def _outcome(fn: Any, vector: list[Any]) -> tuple[str, Any]:
    """What a check does with ``vector``: its floats (as bytes: NaN and -0.0 exactly) or
    its error and message."""
    try:
        out = fn(vector)
    except Exception as e:
        return type(e).__name__, str(e)
    assert type(out) is list and all(type(x) is float for x in out)
    return "ok", [struct.pack("<d", x) for x in out]


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::numpy.exceptions.ComplexWarning")
@given(st.one_of(st.lists(numbers, max_size=12), st.lists(elements, max_size=6)))
def test_a_list_is_checked_as_numpy_checks_it(vector: list[Any]) -> None:
    want = _outcome(_reference, vector)
    assert _outcome(check_query_vector, vector) == want
    assert _outcome(_check_query_vector_numpy, vector) == want


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@given(
    st.lists(st.one_of(st.floats(), st.sampled_from(EDGES)), max_size=12),
    st.sampled_from([np.float32, np.float64, np.float16]),
    st.sampled_from([list, tuple, np.asarray, lambda v: np.asarray([v])]),
)
def test_any_vector_is_checked_as_before(values: list[float], dtype: Any, make: Any) -> None:
    """Arrays (any float dtype, 1-d or not), tuples and lists: the reference's outcome."""
    vector = make(np.asarray(values, dtype=dtype).tolist()) if values else make(values)
    assert _outcome(check_query_vector, vector) == _outcome(_reference, vector)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_edges() -> None:
    for x in EDGES:
        got = _outcome(check_query_vector, [0.5, x])
        assert got == _outcome(_reference, [0.5, x]), x
        arr = np.asarray([0.5, x], dtype=np.float64)
        assert _outcome(check_query_vector, arr) == _outcome(_reference, arr), x
    assert check_query_vector([0.1, 0.2]) == np.asarray([0.1, 0.2], np.float32).tolist()
    with pytest.raises(InvalidInputError, match="one non-empty finite"):
        check_query_vector([])
    with pytest.raises(InvalidInputError, match="one non-empty finite"):
        check_query_vector([1.0, float("inf"), float("-inf")])
