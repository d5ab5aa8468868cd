"""Framework objects (LangChain ``Document``, LlamaIndex ``TextNode``) built from a search's
rows without pydantic validating values that are valid by construction.

A search returns rows the core decoded: ids and texts are ``str``, metadata a new ``dict``.
Validating them again is most of what a framework object costs to build (measured: a
LangChain ``Document`` 2.1 µs validated, 0.7 µs here). :class:`ModelBuilder` makes an
instance as validation would (every field in declaration order, defaults and fresh default
factories for the fields not given, ``model_fields_set`` the fields given). Its caller checks
each value's exact type first and lets the class validate anything else.
:class:`ModelBuilder` refuses (``ConfigError``) a class whose construction validation could
change: validators, ``model_post_init``, private attributes, extra fields, mutable or
data-dependent defaults. ``tests/unit/test_models_fast.py`` proves both ways equal.

Example:
    >>> from langchain_core.documents import Document
    >>> build = ModelBuilder(Document)
    >>> build.new({"id": "a", "page_content": "hi", "metadata": {"k": 1}}) == Document(
    ...     id="a", page_content="hi", metadata={"k": 1})
    True
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from milvus_rag.client.errors import ConfigError

__all__ = ["ModelBuilder", "model_builder"]

M = TypeVar("M", bound=BaseModel)
_IMMUTABLE = (str, int, float, bool, bytes, type(None), tuple, frozenset, Enum)
# pydantic's instance slots, written directly (object.__setattr__ by name is slower)
_DICT = BaseModel.__dict__["__dict__"].__set__
_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__


class ModelBuilder(Generic[M]):
    """Makes ``cls`` instances from field values its caller vouches for (:meth:`new`).

    Example:
        >>> from langchain_core.documents import Document
        >>> ModelBuilder(Document).new({"page_content": "x"}).type
        'Document'
    """

    def __init__(self, cls: type[M]) -> None:
        decorators = cls.__pydantic_decorators__
        if (
            decorators.field_validators
            or decorators.model_validators
            or decorators.validators
            or decorators.root_validators
            or cls.__pydantic_post_init__ is not None
            or cls.__private_attributes__
            or cls.model_config.get("extra") == "allow"
        ):
            raise ConfigError(f"{cls.__name__} validates or initialises more than its fields")
        defaults: dict[str, Any] = {}
        factories: list[tuple[str, Callable[[], Any]]] = []
        for name, info in cls.model_fields.items():
            defaults[name] = None  # each field's place in the order; required ones are given
            if info.is_required():
                continue
            if info.default_factory is not None:
                if getattr(info, "default_factory_takes_validated_data", False):
                    raise ConfigError(f"{cls.__name__}.{name}'s default depends on other fields")
                factories.append((name, info.default_factory))  # type: ignore[arg-type]
            elif isinstance(info.default, _IMMUTABLE):
                defaults[name] = info.default
            else:
                raise ConfigError(f"{cls.__name__}.{name} has a mutable default")
        self.cls = cls
        self._defaults = defaults
        self._factories = tuple(factories)

    def new_many(self, rows: list[dict[str, Any]]) -> list[M]:
        """:meth:`new` of each of ``rows`` (one call: a search's hits at once)."""
        defaults, factories, cls = self._defaults, self._factories, self.cls
        new, out = object.__new__, []
        for values in rows:
            data = defaults.copy()
            for name, factory in factories:
                if name not in values:
                    data[name] = factory()
            data.update(values)
            obj = new(cls)
            _DICT(obj, data)
            _FIELDS_SET(obj, set(values))
            _EXTRA(obj, None)
            _PRIVATE(obj, None)
            out.append(obj)
        return out

    def new(self, values: dict[str, Any]) -> M:
        """An instance with ``values``: every required field, each value exactly of its
        field's type (what validation keeps as it is), dicts and lists the caller's own (not
        copied, where validation would copy them)."""
        data = self._defaults.copy()
        for name, factory in self._factories:
            if name not in values:
                data[name] = factory()
        data.update(values)
        out = object.__new__(self.cls)
        _DICT(out, data)
        _FIELDS_SET(out, set(values))
        _EXTRA(out, None)
        _PRIVATE(out, None)
        return out


def model_builder(cls: type[M]) -> ModelBuilder[M] | None:
    """A :class:`ModelBuilder` of ``cls``, or ``None`` where ``cls`` validates more than its
    fields (a framework release that adds a validator): then it builds its own objects."""
    try:
        return ModelBuilder(cls)
    except ConfigError:
        return None
