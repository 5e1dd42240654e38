"""The ranking seam: what a search asks of an engine, in passage ids and scores (never Whoosh document numbers).

``search.run`` ranks through a ``Backend``: ``lexicon`` (the vocabulary a query's patterns expand against, see
``bounds``), ``statistics`` (the collection statistics of the query's terms), ``rank`` (its best passages or articles
scored with the statistics it is given, with the ``Counts`` of all its matches) and ``passages`` (stored passages by
id). A backend scored with the statistics of a whole collection ranks its part of it exactly as one index of the
whole would, so a sharded backend gathers statistics from its shards, ranks on each with their sum, merges on
``Ranked.key`` and adds up the counts.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .models import Passage
from .query import ParsedQuery
from .scoring import Statistics

if TYPE_CHECKING:
    from .vocabulary import Vocabulary

__all__ = [
    "Ranked", "Ranking", "Counts", "Backend", "Lexicon", "Term", "merge", "SORTS", "FACET_FIELDS", "TIMELINES",
    "tiebreak",
]

SORTS = ("score", "date")
FACET_FIELDS = ("source", "place", "speaker", "tags")
"""The fields a search may count its matches by, per value as stored (tags: each of a passage's tags)."""
TIMELINES = ("month", "year", "auto")
"""The periods a search may count its matches by (``auto``: by month when they span at most 3 years, else by year)."""
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

    ``day`` is the passage's date as the date column orders it (larger is newer), or None when undated;
    ``copies``, when ranked with ``collapse``, the best matching passage of each other article of its story, and
    ``story`` the story's number (shards that share a story number share the story: see ``shards``).
    """

    passage_id: str
    score: float
    day: int | None = None
    copies: tuple[str, ...] = ()
    story: int | None = None

    def key(self, sort: str) -> tuple[float, ...]:
        """The merge key, smallest first: best score first, then passage id; by date, newest first, undated last."""
        if sort == "date":
            return (0 if self.day is not None else 1, -(self.day or 0), -self.score, tiebreak(self.passage_id))
        return (-self.score, tiebreak(self.passage_id))


@dataclass(frozen=True, slots=True)
class Counts:
    """What a ranking counted over all its matches, not only those it returns: ``total`` matches (passages; per
    article, articles), and those that were asked for: per value of each facet field (values as stored), and
    per month (``"2017-11"``; undated matches in none)."""

    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    months: dict[str, int] = field(default_factory=dict)

    @classmethod
    def combine(cls, parts: Iterable[Counts]) -> Counts:
        """The counts of the union of disjoint parts (shards that share no passage)."""
        total = 0
        facets: dict[str, dict[str, int]] = {}
        months: dict[str, int] = {}
        for part in parts:
            total += part.total
            for name, values in part.facets.items():
                _add(facets.setdefault(name, {}), values)
            _add(months, part.months)
        return cls(total, facets, months)


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for key, count in counts.items():
        totals[key] = totals.get(key, 0) + count


class Ranking(list[Ranked]):
    """The best matches of a query, in order (a list of ``Ranked``), and the ``Counts`` of all of them."""

    def __init__(self, ranked: Iterable[Ranked], counts: Counts) -> None:
        super().__init__(ranked)
        self.counts = counts


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
        self, parsed: ParsedQuery, stats: Statistics, limit: int, *, sort: str, per_article: bool,
        facets: Sequence[str] = (), months: bool = False, collapse: bool = False,
    ) -> Ranking:
        """The best ``limit`` matches in the order of ``Ranked.key(sort)``, scored with ``stats``, with the count
        of all matches, and per value of the ``facets`` fields (of ``FACET_FIELDS``) and per month if
        ``months``; with ``collapse``, only each story's best, with its copies (the counts stay of matches)."""

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
