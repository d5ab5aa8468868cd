"""The exception tree. Every error milvus-rag raises is a :class:`MilvusRAGError`.

pymilvus and gRPC errors are mapped to :class:`BackendError` (or
:class:`BackendUnavailableError`) at the client boundary, in :func:`map_backend_error`.
"""

from __future__ import annotations

from collections.abc import Sequence


class MilvusRAGError(Exception):
    """Base class of every milvus-rag error."""


class ConfigError(MilvusRAGError, ValueError):
    """Bad configuration, detected before any I/O."""


class InvalidInputError(MilvusRAGError, ValueError):
    """Bad rows (wrong dim, NaN, empty or too long text, unserialisable metadata...).

    Raised before anything of the call is written.
    """


class FilterError(MilvusRAGError, ValueError):
    """A filter that cannot be compiled to a Milvus expression for this backend."""


class SchemaMismatchError(MilvusRAGError):
    """An existing collection does not match the configuration.

    Attributes name the field and the expected and found values.
    """

    def __init__(self, collection: str, field: str, expected: object, found: object) -> None:
        self.collection = collection
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(
            f"collection {collection!r} exists with a different schema: {field}: "
            f"expected {expected!r}, found {found!r}. Use another collection_name, match the "
            f"existing configuration, or drop the collection first."
        )


class BackendError(MilvusRAGError):
    """Milvus refused or failed an operation.

    ``written_ids`` lists the ids a bulk write stored before it failed (empty if none).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        collection: str = "",
        written_ids: Sequence[str] = (),
        code: int | None = None,
    ) -> None:
        self.detail = message
        self.operation = operation
        self.collection = collection
        self.written_ids = list(written_ids)
        self.code = code
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


class BackendUnavailableError(BackendError):
    """Milvus could not be reached (after retries with backoff)."""
