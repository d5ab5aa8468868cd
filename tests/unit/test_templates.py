"""Issue 27: the fronts keep one prepared search request per call shape
(``integrations.templates``). The invariant that rests on: two calls share a request only
where their shapes are the same values of the same types (``shape_key`` equal exactly where
``repr`` is), and a config change forgets every request prepared under the old one."""

from __future__ import annotations

from enum import Enum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from milvus_rag import CollectionConfig, SearchRequest
from milvus_rag.integrations import templates
from milvus_rag.integrations.templates import Templates, shape_key

scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, min_value=-2, max_value=2),
    st.sampled_from([0.0, -0.0, 1.0, 1]),
    st.text(max_size=2),
)
plain = st.recursive(
    scalar,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(plain, max_size=3), st.lists(plain, max_size=3))
def test_keys_are_equal_exactly_where_the_values_and_types_are(a: list[Any], b: list[Any]) -> None:
    ka, kb = shape_key(*a), shape_key(*b)
    assert ka is not None and kb is not None
    hash(ka)
    assert (ka == kb) == (repr(a) == repr(b))


@given(plain)
def test_a_value_keys_like_its_copy(value: Any) -> None:
    import copy

    assert shape_key("m", value) == shape_key("m", copy.deepcopy(value))


class Mode(str, Enum):
    A = "a"


def test_what_is_not_plain_data_is_not_keyed() -> None:
    assert shape_key(Mode.A) == shape_key(Mode.A) != shape_key("a")
    for odd in (object(), {1: "a"}, [object()], {"a": {"b": {1, 2}}}, b"x"):
        assert shape_key("search", odd) is None


def test_templates_are_forgotten_when_the_config_changes_and_bounded() -> None:
    t = Templates()
    a, b = CollectionConfig(dim=2), CollectionConfig(dim=3)
    r = SearchRequest(text="q")
    assert t.get(a, ("k",)) is None
    assert t.put(("k",), r) is r
    assert t.get(a, ("k",)) is r
    assert t.get(a, None) is None  # a call that has no key is never cached
    assert t.get(b, ("k",)) is None  # another config: built again
    t.get(a, None)
    assert t.get(a, ("k",)) is None
    for i in range(templates.SHAPES + 1):
        t.put((i,), r)
    assert len(t._by_key) <= templates.SHAPES
