"""Which BM25 analyzers a backend can run, checked before a collection is made.

Measured (a collection created with the analyzer, then one row inserted):

- the embedded Milvus Lite 2.5 engine creates a collection with *any* analyzer, then its
  first insert retries until the timeout (60 s by default) when it cannot run it. It runs the
  built-in analyzers ``english``, ``standard`` and ``chinese``; the tokenizers ``standard``,
  ``whitespace`` and ``jieba`` (named, not as a dict); the filters ``lowercase``,
  ``asciifolding``, ``alphanumonly``, ``cnalphanumonly``, ``cncharonly``, ``length``,
  ``stop``, ``stemmer`` and ``decompounder``. It cannot run ``icu``, ``lindera``,
  ``char_group`` or ``language_identifier`` tokenizers, a tokenizer given as a dict, the
  ``regex`` or ``removepunct`` filters, or another built-in analyzer (``german``). So on Lite
  2.5 an analyzer is checked against these lists when the store is made (a local file's engine
  is known without a request), before anything is created.
- the Milvus Lite 3 server refuses an analyzer it lacks when the collection is created
  ("unknown tokenizer type: 'icu' (supported: 'standard', 'jieba')"); that refusal becomes
  one :class:`ConfigError` line naming the analyzer.

Pure.

Example:
    >>> check_lite25({"type": "english"})
    >>> check_lite25({"tokenizer": "icu"})
    Traceback (most recent call last):
    ...
    milvus_rag.client.errors.ConfigError: analyzer {'tokenizer': 'icu'}: the embedded Milvus \
Lite 2.5 engine cannot run the tokenizer 'icu' (its first write would retry until the \
timeout). It runs the analyzers english, standard, chinese; the tokenizers standard, \
whitespace, jieba; the filters lowercase, asciifolding, alphanumonly, cnalphanumonly, \
cncharonly, length, stop, stemmer, decompounder. Use one of those, or a Milvus server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from milvus_rag.client.errors import ConfigError

LITE25_TYPES = ("english", "standard", "chinese")
LITE25_TOKENIZERS = ("standard", "whitespace", "jieba")
LITE25_FILTERS = (
    "lowercase",
    "asciifolding",
    "alphanumonly",
    "cnalphanumonly",
    "cncharonly",
    "length",
    "stop",
    "stemmer",
    "decompounder",
)


def _offer() -> str:
    return (
        f"It runs the analyzers {', '.join(LITE25_TYPES)}; the tokenizers "
        f"{', '.join(LITE25_TOKENIZERS)}; the filters {', '.join(LITE25_FILTERS)}. Use one of "
        "those, or a Milvus server."
    )


def _refuse(params: Mapping[str, Any], what: str) -> ConfigError:
    return ConfigError(
        f"analyzer {dict(params)!r}: the embedded Milvus Lite 2.5 engine cannot run {what} "
        f"(its first write would retry until the timeout). {_offer()}"
    )


def check_lite25(params: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for an analyzer Milvus Lite 2.5 cannot run."""
    kind = params.get("type")
    if kind is not None and kind not in LITE25_TYPES:
        raise _refuse(params, f"the analyzer type {kind!r}")
    tokenizer = params.get("tokenizer")
    if tokenizer is not None and not isinstance(tokenizer, str):
        raise _refuse(params, "a tokenizer given as a dict (name it: 'jieba', 'standard')")
    if tokenizer is not None and tokenizer not in LITE25_TOKENIZERS:
        raise _refuse(params, f"the tokenizer {tokenizer!r}")
    filters = params.get("filter") or []
    for f in filters if isinstance(filters, list) else [filters]:
        name = f.get("type") if isinstance(f, Mapping) else f
        if name not in LITE25_FILTERS:
            raise _refuse(params, f"the filter {name!r}")


def refused(params: Mapping[str, Any], error: BaseException) -> ConfigError | None:
    """The one-line error for a backend that refused ``params`` when creating a collection
    (``None``: ``error`` is about something else)."""
    said = " ".join(str(getattr(error, "message", None) or error).split())
    lowered = said.lower()
    if "tokenizer" not in lowered and "analyzer" not in lowered and "filter" not in lowered:
        return None
    return ConfigError(f"analyzer {dict(params)!r}: the backend cannot run it: {said}")
