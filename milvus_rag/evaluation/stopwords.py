"""English stopwords, and the deterministic query "rewrite" of the fan-out mode."""

from __future__ import annotations

import re

__all__ = ["STOPWORDS", "fanout_variants", "remove_stopwords"]

_STOPWORDS_TEXT = """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def remove_stopwords(text: str) -> str:
    """The query without English stopwords (a deterministic 'rewrite' for fan-out)."""
    kept = [t for t in text.split() if re.sub(r"\W", "", t.lower()) not in STOPWORDS]
    return " ".join(kept)


def fanout_variants(text: str) -> list[str]:
    """Query strings of the deterministic fan-out: the query, and the query without
    stopwords when that differs and is not empty."""
    out = [text]
    stripped = remove_stopwords(text)
    if stripped.strip() and stripped != text:
        out.append(stripped)
    return out
