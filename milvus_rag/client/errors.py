"""The exception tree, and the one place pymilvus and gRPC errors are mapped onto it.

Every error milvus-rag raises is a :class:`MilvusRAGError`. :func:`map_backend_error` turns
a pymilvus / gRPC exception into a :class:`BackendError` (or
:class:`BackendUnavailableError`); the classifiers below say what a mapped error means, by
status code where pymilvus exposes one and by message text only where it does not:

=======================  ============================================  ======================
classifier               by code                                       by message text
=======================  ============================================  ======================
unavailable              gRPC UNAVAILABLE / DEADLINE_EXCEEDED /         connection words
                         CANCELLED / UNKNOWN; ``MilvusUnavailable-     (``_UNAVAILABLE_WORDS``:
                         Exception``; ``ConnectionError``,             pymilvus wraps channel
                         ``TimeoutError``                              failures in code 1/2)
unimplemented            gRPC UNIMPLEMENTED                            (none)
missing collection       Milvus 100 (CollectionNotFound)               "collection not found",
                                                                       "... does not exist"
                                                                       (older servers)
released collection      Milvus 101 (CollectionNotLoaded)              "state 'released'",
                                                                       "not loaded"
empty collection         (none: Milvus Lite 2.5 reports a generic      "Invalid sparse row",
(Lite 2.5 only)          2000 segcore error)                           "HasRawData", "raw data"
=======================  ============================================  ======================
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

#: Milvus status codes (``milvus/pkg/util/merr``) that pymilvus exposes as ``.code``.
COLLECTION_NOT_FOUND = 100
COLLECTION_NOT_LOADED = 101

_UNAVAILABLE_STATUS = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"})
_UNAVAILABLE_WORDS = (
    "fail connecting",
    "failed to connect",
    "server unavailable",
    "connection refused",
    "connect failed",
    "unavailable",
    "deadline exceeded",
    "goaway",
    "too_many_pings",
    "socket closed",
    "connection reset",
    "broken pipe",
    "channel closed",
)


class MilvusRAGError(Exception):
    """Base class of every milvus-rag error."""


class ConfigError(MilvusRAGError, ValueError):
    """Bad configuration, detected before any I/O."""


class InvalidInputError(MilvusRAGError, ValueError):
    """Bad rows (wrong dim, NaN, empty or too long text, unserialisable metadata...).

    Raised before anything of the call is written.
    """


class DuplicateIdsError(InvalidInputError, AssertionError):
    """One write names the same id twice (checked once, in the core's record validation).
    Also an ``AssertionError``: langchain-milvus raises that for duplicate ids, so code
    written for it (and its test suite) keeps catching it."""


class FilterError(MilvusRAGError, ValueError):
    """A filter that cannot be compiled to a Milvus expression for this backend."""


class SchemaMismatchError(MilvusRAGError):
    """An existing collection does not match the configuration.

    Attributes name the field and the expected and found values.
    """

    def __init__(
        self,
        collection: str,
        field: str,
        expected: object,
        found: object,
        *,
        hint: str | None = None,
    ) -> None:
        self.collection = collection
        self.field = field
        self.expected = expected
        self.found = found
        self.hint = hint
        advice = hint or (
            "Use another collection_name, match the existing configuration, or drop the "
            "collection first"
        )
        super().__init__(
            f"collection {collection!r} exists with a different schema: {field}: "
            f"expected {expected!r}, found {found!r}. {advice}."
        )


class BackendError(MilvusRAGError):
    """Milvus refused or failed an operation.

    ``written_ids`` lists the ids a bulk write stored before it failed (empty if none);
    ``code`` is Milvus's status code when it gave one; ``status`` the gRPC status name.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        collection: str = "",
        written_ids: Sequence[str] = (),
        code: int | None = None,
        status: str = "",
    ) -> None:
        self.detail = message
        self.operation = operation
        self.collection = collection
        self.written_ids = list(written_ids)
        self.code = code
        self.status = status
        where = (
            f"{operation} on {collection!r}: "
            if operation and collection
            else (f"{operation}: " if operation else "")
        )
        suffix = (
            f" ({len(self.written_ids)} ids were written before the failure)"
            if (self.written_ids)
            else ""
        )
        super().__init__(f"{where}{message}{suffix}")

    def with_written(self, operation: str, collection: str, written: Sequence[str]) -> BackendError:
        """The same failure, reported for a bulk ``operation`` that stored ``written``."""
        return type(self)(
            self.detail,
            operation=operation,
            collection=collection,
            written_ids=written,
            code=self.code,
            status=self.status,
        )


class BackendUnavailableError(BackendError):
    """Milvus could not be reached (after retries with backoff)."""

    #: whether waiting can help; ``False`` for a state only the user can change
    retryable: bool = True


# --- mapping ----------------------------------------------------------------------------


def grpc_status(e: BaseException) -> str:
    """The gRPC status name of ``e`` (``"UNAVAILABLE"``...), or ``""`` when it has none."""
    if isinstance(e, BackendError):
        return e.status
    code = getattr(e, "code", None)
    if callable(code):  # grpc.RpcError.code() -> grpc.StatusCode
        try:
            c = code()
        except Exception:
            return ""
        return str(getattr(c, "name", c)).upper()
    return ""


def milvus_code(e: BaseException) -> int | None:
    """Milvus's status code of ``e`` (pymilvus ``MilvusException.code``), if any."""
    code = getattr(e, "code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def is_unavailable(e: BaseException) -> bool:
    """Milvus could not be reached: worth retrying."""
    if isinstance(e, BackendUnavailableError):
        return True
    if isinstance(e, BackendError):
        return False  # mapped already, and not unavailable
    if isinstance(e, ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    if grpc_status(e) in _UNAVAILABLE_STATUS:
        return True
    if type(e).__name__ == "MilvusUnavailableException":
        return True
    text = str(e).lower()
    return any(w in text for w in _UNAVAILABLE_WORDS)


def map_backend_error(e: BaseException, operation: str, collection: str) -> MilvusRAGError:
    """Translate a pymilvus / gRPC exception; a ``MilvusRAGError`` passes through."""
    if isinstance(e, MilvusRAGError):
        return e
    details = getattr(e, "details", None)
    message = details() if callable(details) else getattr(e, "message", None)
    text = str(message or e).strip() or type(e).__name__
    cls = BackendUnavailableError if is_unavailable(e) else BackendError
    return cls(
        text, operation=operation, collection=collection, code=milvus_code(e), status=grpc_status(e)
    )


def is_unimplemented(e: BaseException) -> bool:
    """The server does not implement the call (Milvus Lite 3's AllocTimestamp)."""
    return grpc_status(e) == "UNIMPLEMENTED"


def is_missing_collection(e: BaseException) -> bool:
    """The collection does not exist (dropped behind our back)."""
    if milvus_code(e) == COLLECTION_NOT_FOUND:
        return True
    text = str(e).lower()
    return "collection not found" in text or ("collection" in text and "does not exist" in text)


def is_released_collection(e: BaseException) -> bool:
    """The collection exists but is not loaded (e.g. a restarted server): reload it."""
    if milvus_code(e) == COLLECTION_NOT_LOADED:
        return True
    text = str(e).lower()
    return (
        "state 'released'" in text
        or "state 'loading'" in text
        or ("not loaded" in text and "collection" in text)
    )


def is_empty_collection(e: BaseException) -> bool:
    """Milvus Lite 2.5 fails BM25 on an empty collection ("Invalid sparse row: NaN or Inf")
    and vector reads on one never written to ("HasRawData"); no code tells these apart."""
    text = str(e)
    return "Invalid sparse row" in text or "HasRawData" in text or "raw data" in text
