"""Several indexes searched as one: statistics gathered and summed, ranking fanned out, results merged.

Each shard ranks its own passages with the statistics of all shards together, so the merged ranking is the
ranking one index of all their passages gives (articles never span shards, so the per-article model holds too).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from .backend import Counts, Lexicon, Ranking, Term, merge
from .errors import PassageNotFound
from .local import LocalBackend
from .models import Passage
from .query import ParsedQuery
from .scoring import FrozenStatistics, Statistics
from .vocabulary import Vocabulary

__all__ = ["ShardedBackend", "UnionLexicon", "distinct"]

T = TypeVar("T")


class ShardedBackend:
    """A ``Backend`` over local shards, searched in this process."""

    def __init__(self, shards: Sequence[LocalBackend]) -> None:
        if not shards:
            raise ValueError("a sharded backend needs at least one shard")
        self.shards = list(shards)

    def lexicon(self) -> Lexicon:
        return UnionLexicon([shard.lexicon() for shard in self.shards])

    def statistics(self, terms: Iterable[Term], *, articles: bool) -> FrozenStatistics:
        wanted = set(terms)
        return FrozenStatistics.combine(shard.frozen_statistics(wanted, articles=articles) for shard in self.shards)

    def rank(
        self, parsed: ParsedQuery, stats: Statistics, limit: int, *, sort: str, per_article: bool,
        facets: Sequence[str] = (), months: bool = False, collapse: bool = False,
    ) -> Ranking:
        # Stories are found within each shard (its own signatures): copies in two shards are two stories.
        rankings = [shard.rank(parsed, stats, limit, sort=sort, per_article=per_article, facets=facets, months=months,
                               collapse=collapse)
                    for shard in self.shards]
        return Ranking(merge(rankings, limit, sort), Counts.combine(r.counts for r in rankings))

    def passages(self, ids: Sequence[str]) -> list[Passage]:
        found = []
        for passage_id in ids:
            for shard in self.shards:
                try:
                    found.extend(shard.passages([passage_id]))
                    break
                except PassageNotFound:
                    continue
            else:
                raise PassageNotFound(f"no passage with id {passage_id!r} in any shard")
        return found

    def vocabulary(self) -> Vocabulary:
        return Vocabulary.combine(shard.vocabulary() for shard in self.shards)


class UnionLexicon:
    """The vocabulary of several shards as one: their terms merged in order, document frequencies summed."""

    def __init__(self, lexicons: Sequence[Lexicon]) -> None:
        self._lexicons = lexicons
        self.schema = lexicons[0].schema

    def doc_count(self) -> int:
        return sum(lexicon.doc_count() for lexicon in self._lexicons)

    def doc_frequency(self, fieldname: str, text: bytes) -> int:
        return sum(lexicon.doc_frequency(fieldname, text) for lexicon in self._lexicons)

    def lexicon(self, fieldname: str) -> Iterator[bytes]:
        return distinct(heapq.merge(*(lexicon.lexicon(fieldname) for lexicon in self._lexicons)))

    def expand_prefix(self, fieldname: str, prefix: str) -> Iterator[bytes]:
        return distinct(heapq.merge(*(lexicon.expand_prefix(fieldname, prefix) for lexicon in self._lexicons)))

    def terms_from(self, fieldname: str, prefix: bytes) -> Iterator[tuple[str, bytes]]:
        return distinct(heapq.merge(*(lexicon.terms_from(fieldname, prefix) for lexicon in self._lexicons)))


def distinct(ordered: Iterator[T]) -> Iterator[T]:
    """``ordered`` without repeats (equal items are adjacent)."""
    previous: object = _NONE
    for item in ordered:
        if item != previous:
            yield item
            previous = item


_NONE = object()
