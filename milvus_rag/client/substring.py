"""Substring filters (``$contains_text``, ``$icontains_text``) as Milvus ``like`` patterns.

Measured: the Milvus Lite 3 server reads ``%`` and ``_`` in a ``like`` pattern as wildcards
with no escape (``\\`` is a literal character there), while Milvus Lite 2.5 honours ``\\%``;
Lite 2.5's ``like "%"`` matches nothing, and neither engine lower-cases. So no user
character with a meaning in a pattern ever reaches one: ``%``, ``_`` and ``\\`` become ``%``
(a superset on every engine) and the client checks the exact substring on the rows returned
(the residual). A case-insensitive match, a value without any other character, and a negated
inexact pattern are checked client-side only. Pure.

Example:
    >>> like_pattern("50% off")
    ('%50% off%', False)
    >>> like_pattern("cat")
    ('%cat%', True)
    >>> like_pattern("%_") is None
    True
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"[%_\\]")


def like_pattern(value: str) -> tuple[str, bool] | None:
    """``(pattern, exact)`` selecting the strings holding ``value`` (a superset when not
    ``exact``), or ``None`` when no literal character remains to send."""
    pieces = [p for p in _SPECIAL.split(value) if p]
    if not pieces:
        return None
    return "%" + "%".join(pieces) + "%", _SPECIAL.search(value) is None
