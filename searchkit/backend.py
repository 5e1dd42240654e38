"""The ranking seam: what a search asks of an engine, in passage ids and scores (never Whoosh document numbers).

``search.run`` ranks through a ``Backend``: ``lexicon`` (the vocabulary a query's patterns expand against, see
``bounds``), ``statistics`` (the collection statistics of the query's terms), ``rank`` (its best passages or articles
scored with the statistics it is given) and ``passages`` (stored passages by id). A backend scored with
the statistics of a whole collection ranks its part of it exactly as one index of the whole would, so a sharded
backend gathers statistics from its shards, ranks on each with their sum, and merges on ``Ranked.key``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .models import Passage
from .query import ParsedQuery
from .scoring import Statistics

if TYPE_CHECKING:
    from .vocabulary import Vocabulary

__all__ = ["Ranked", "Backend", "Lexicon", "Term", "merge", "SORTS", "tiebreak"]

SORTS = ("score", "date")
Term = tuple[str, bytes]
"""A field name and an indexed term."""


def tiebreak(passage_id: str) -> int:
    """The order among passages of equal score: by passage id, the same in every index that holds them."""
    if len(passage_id) == 16 and all(c in _HEX for c in passage_id):  # ids as searchkit makes them
        return int(passage_id, 16)
    return int.from_bytes(passage_id.encode("utf-8", "surrogatepass")[:8].ljust(8, b"\0"), "big")


_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class Ranked:
    """One ranked passage (or, per article, an article's best passage): its id, score and sort keys.

    ``day`` is the passage's date as the date column orders it (larger is newer), or None when undated.
    """

    passage_id: str
    score: float
    day: int | None = None

    def key(self, sort: str) -> tuple[float, ...]:
        """The merge key, smallest first: best score first, then passage id; by date, newest first, undated last."""
        if sort == "date":
            return (0 if self.day is not None else 1, -(self.day or 0), -self.score, tiebreak(self.passage_id))
        return (-self.score, tiebreak(self.passage_id))


class Lexicon(Protocol):
    """An engine's vocabulary, as much of Whoosh's reader interface as ``bounds`` and Whoosh's range queries read."""

    schema: Any

    def doc_count(self) -> int: ...

    def doc_frequency(self, fieldname: str, text: bytes) -> int: ...

    def lexicon(self, fieldname: str) -> Iterator[bytes]: ...

    def expand_prefix(self, fieldname: str, prefix: str) -> Iterator[bytes]: ...

    def terms_from(self, fieldname: str, prefix: bytes) -> Iterator[tuple[str, bytes]]: ...


class Backend(Protocol):
    """An engine holding some passages: one index generation, or several shards together."""

    def lexicon(self) -> Lexicon:
        """This engine's vocabulary, which the query's wildcards, prefixes and ranges expand against."""

    def statistics(self, terms: Iterable[Term], *, articles: bool) -> Statistics:
        """Statistics covering ``terms`` (with ``articles``, at the article level too): this engine's, or, for
        several engines together, their sum."""

    def rank(
        self, parsed: ParsedQuery, stats: Statistics, limit: int, *, sort: str, per_article: bool
    ) -> list[Ranked]:
        """The best ``limit`` matches in the order of ``Ranked.key(sort)``, scored with ``stats``."""

    def passages(self, ids: Sequence[str]) -> list[Passage]:
        """The passages with these ids, in order.

        Raises:
            PassageNotFound: one of them is not here.
        """

    def vocabulary(self) -> Vocabulary:
        """The words of the passages held, unstemmed, with their frequencies (for "did you mean", ``suggest``)."""


def merge(rankings: Iterable[list[Ranked]], limit: int, sort: str) -> list[Ranked]:
    """The best ``limit`` of several engines' rankings (each already in key order)."""
    merged = heapq.merge(*rankings, key=lambda r: r.key(sort))
    return [r for _, r in zip(range(limit), merged)]
