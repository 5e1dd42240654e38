"""Text of words alone, as both query paths read it: ``query`` (into Whoosh's query) and ``direct`` (the one-shot
answer, which imports none of Whoosh's query language)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .schema import analyze

__all__ = ["OPERATORS", "plain_terms"]

OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"})
"""The words the query language reads as operators."""
_WORD = re.compile(r"\w+")


def plain_terms(words: Iterable[str]) -> list[str] | None:
    """Each word's term (``schema.analyze``; a stop word has none), in order, each once; None unless every word is
    letters, digits and underscores alone (``\\w+``), no operator, and one term at most."""
    terms: dict[str, None] = {}
    for word in words:
        if word in OPERATORS or not _WORD.fullmatch(word):
            return None
        analysed = analyze(word)
        if len(analysed) > 1:
            return None
        terms.update((term, None) for term, _ in analysed)
    return list(terms)
