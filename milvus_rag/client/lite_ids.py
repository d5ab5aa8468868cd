"""Which ids of one upsert are already stored in a Milvus Lite file, with few lookups.

Milvus Lite 2.5's upsert grows slower with the collection (a 500-row batch: 135 ms at 20k
rows, 347 ms at 100k; insert stays at 100-190 ms), so the store inserts every batch whose ids
are all new. Knowing that needs a lookup, and a lookup per batch (8-14 ms) costs as much as it
saves on small collections. Every write to a Lite file from this process takes the file's
write lock and bumps the file's write generation here, and a Lite file has one process; so
what one lookup found stays true until the generation moves: :class:`StoredIds` looks up a
window of the call's ids ahead of the batch being written, and again only when another writer
wrote in between. No I/O here; the store passes the lookup results in.

Example:
    >>> known = StoredIds(["a", "b", "c"], window=2)
    >>> known.to_look_up(["a"], generation=0)
    ['a', 'b']
    >>> known.found(["a", "b"], {"b"}, generation=0)
    >>> known.any_stored(["a"]), known.to_look_up(["b"], generation=0)
    (False, [])
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

__all__ = ["LOOKUP_WINDOW", "WRITES", "StoredIds", "WriteGenerations"]

LOOKUP_WINDOW = 2048
"""Ids of a call looked up at once (two or three requests of 1,000 ids)."""


class WriteGenerations:
    """A counter per Lite file, bumped after every write to it (under its write lock)."""

    def __init__(self) -> None:
        self._gens: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> int:
        with self._lock:
            return self._gens.get(key, 0)

    def bump(self, key: str) -> int:
        with self._lock:
            gen = self._gens[key] = self._gens.get(key, 0) + 1
            return gen


WRITES = WriteGenerations()


class StoredIds:
    """Stored-or-not of the ids of one upsert call (unique, in write order)."""

    def __init__(self, ids: Sequence[str], *, window: int = LOOKUP_WINDOW) -> None:
        self._order = list(ids)
        self._pos = {rid: i for i, rid in enumerate(self._order)}
        self._window = max(1, window)
        self._checked: set[str] = set()
        self._stored: set[str] = set()
        self._generation: int | None = None

    def to_look_up(self, batch: Sequence[str], generation: int) -> list[str]:
        """Ids to look up before writing ``batch`` (empty: what is known still holds): the
        batch's and the next ids of the call, up to ``window`` of them."""
        if generation != self._generation:  # another writer wrote: forget everything
            self._checked.clear()
            self._stored.clear()
        elif all(rid in self._checked for rid in batch):
            return []
        start = min((self._pos[rid] for rid in batch), default=0)
        ahead = self._order[start : start + max(self._window, len(batch))]
        return list(dict.fromkeys([*batch, *ahead]))

    def found(self, looked_up: Sequence[str], stored: Collection[str], generation: int) -> None:
        """Record a lookup of ``looked_up`` that found ``stored`` at ``generation``."""
        self._generation = generation
        self._checked.update(looked_up)
        self._stored.update(rid for rid in looked_up if rid in stored)

    def any_stored(self, batch: Sequence[str]) -> bool:
        """Whether a batch already looked up has a stored id (it must be upserted)."""
        return any(rid in self._stored for rid in batch)

    def wrote(self, batch: Sequence[str], generation: int) -> None:
        """Our own write of ``batch`` moved the generation: the rest of what we know holds
        (a call's ids are unique, so no later batch has these)."""
        if self._generation is not None and generation == self._generation + 1:
            self._generation = generation
            self._stored.update(batch)
            self._checked.update(batch)
        else:
            self._generation = None
