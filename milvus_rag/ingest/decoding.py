"""Strict decoding of text files: what ingest stores is what the file says, or nothing.

Without an encoding given, a file is read as:

- UTF-32 or UTF-16 when it starts with that encoding's byte-order mark (BOM),
- UTF-8 otherwise (a UTF-8 BOM is dropped),

strictly: a byte sequence that does not decode is an error naming the offset, never a
replacement character. With ``encoding`` (``milvus-rag ingest --encoding latin-1``) the file
is decoded strictly with that codec instead (a leading BOM of it is dropped). Either way text
holding a NUL character is refused: that is a binary file (or UTF-16 without a BOM), and
would be stored damaged.

Example:
    >>> decode_text("Café".encode("utf-8"))
    'Café'
    >>> decode_text(b"\\xef\\xbb\\xbfhi")
    'hi'
    >>> decode_text("Café".encode("utf-16"))
    'Café'
    >>> decode_text("Café".encode("latin-1"), "latin-1")
    'Café'
    >>> decode_text("Café".encode("latin-1"))
    Traceback (most recent call last):
    ...
    milvus_rag.ingest.decoding.UndecodableTextError: not UTF-8 (byte 0xe9 at offset 3)
"""

from __future__ import annotations

import codecs

from milvus_rag.client.errors import ConfigError, InvalidInputError

# Longest first: the UTF-32 LE BOM begins with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class UndecodableTextError(InvalidInputError):
    """The bytes are not text in the encoding used: the message says where, ``kind`` what
    (``"not UTF-8"``, ``"not latin-1"``..., ``"NUL bytes"``: a skip reason)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_encoding(encoding: str | None) -> str | None:
    """``encoding`` when Python knows the codec (its canonical name), else :class:`ConfigError`."""
    if encoding is None:
        return None
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(
            f"unknown encoding {encoding!r}: use a Python codec name such as utf-8, latin-1, "
            "cp1252 or utf-16"
        ) from None


def detect_encoding(data: bytes) -> str:
    """The codec to read ``data`` with when none is given: by its BOM, else UTF-8."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return "utf-8"


def decode_text(data: bytes, encoding: str | None = None) -> str:
    """``data`` decoded strictly (see the module docstring); :class:`UndecodableTextError`
    when it does not decode or holds NUL characters."""
    codec = check_encoding(encoding) or detect_encoding(data)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as e:
        kind = "not UTF-8" if codec == "utf-8" else f"not {codec}"
        where = (
            f"byte 0x{data[e.start]:02x} at offset {e.start}" if e.start < len(data) else e.reason
        )
        raise UndecodableTextError(f"{kind} ({where})", kind) from None
    text = text.removeprefix("\ufeff")  # a BOM of the codec given
    nul = text.find("\0")
    if nul >= 0:
        raise UndecodableTextError(f"holds NUL bytes (at character {nul}): binary", "NUL bytes")
    return text
