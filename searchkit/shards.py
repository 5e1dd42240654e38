"""Several indexes searched as one: statistics gathered and summed, ranking fanned out, results merged.

Each shard ranks its own passages with the statistics of all shards together, so the merged ranking is the
ranking one index of all their passages gives (articles never span shards, so the per-article model holds too);
collapsed, with the stories found over all shards together (``sharded``), merged once per story, and their
copies gathered from every shard in a second round.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from .backend import Counts, Lexicon, Ranked, Ranking, Term, merge
from .errors import PassageNotFound
from .local import LocalBackend
from .models import Passage
from .query import ParsedQuery
from .scoring import FrozenStatistics, Statistics
from .vocabulary import Vocabulary

__all__ = ["ShardedBackend", "UnionLexicon", "distinct", "merge_stories"]

T = TypeVar("T")


class ShardedBackend:
    """A ``Backend`` over local shards, searched in this process.

    With ``shared_stories`` (the shards of a sharded index: ``sharded``), their stories are numbered across all of
    them, and a story is collapsed over every shard; otherwise (indexes of their own composed), each collapses
    its own: copies in two of them are two stories.
    """

    def __init__(self, shards: Sequence[LocalBackend], *, shared_stories: bool = False) -> None:
        if not shards:
            raise ValueError("a sharded backend needs at least one shard")
        self.shards = list(shards)
        self.shared_stories = shared_stories

    def lexicon(self) -> Lexicon:
        return UnionLexicon([shard.lexicon() for shard in self.shards])

    def statistics(self, terms: Iterable[Term], *, articles: bool) -> FrozenStatistics:
        wanted = set(terms)
        return FrozenStatistics.combine(shard.frozen_statistics(wanted, articles=articles) for shard in self.shards)

    def rank(
        self, parsed: ParsedQuery, stats: Statistics, limit: int, *, sort: str, per_article: bool,
        facets: Sequence[str] = (), months: bool = False, collapse: bool = False,
    ) -> Ranking:
        rankings = [shard.rank(parsed, stats, limit, sort=sort, per_article=per_article, facets=facets, months=months,
                               collapse=collapse)
                    for shard in self.shards]
        counts = Counts.combine(r.counts for r in rankings)
        if not (collapse and self.shared_stories):
            return Ranking(merge(rankings, limit, sort), counts)
        return Ranking(merge_stories(rankings, limit, sort, lambda stories: [
            shard.story_matches(parsed, stats, stories, sort=sort, per_article=per_article) for shard in self.shards
        ]), counts)

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


def merge_stories(
    rankings: Iterable[list[Ranked]], limit: int, sort: str,
    story_matches: Callable[[list[int]], Sequence[dict[int, list[Ranked]]]],
) -> list[Ranked]:
    """The best ``limit`` stories of several shards' collapsed rankings (each in key order, of stories numbered
    across all shards: ``sharded``), each story once, at its best passage of all, with its copies in every shard.

    A story among the best ``limit`` is among the best ``limit`` of the shard holding its best passage, so the
    merge is exact; the copies are then asked of every shard (``story_matches`` of the stories' numbers: each
    shard's matching articles of each, their first match each, in key order) and merged in key order.
    """
    best: list[Ranked] = []
    seen: set[int | None] = set()
    for ranked in heapq.merge(*rankings, key=lambda r: r.key(sort)):
        if len(best) >= limit:
            break
        if ranked.story not in seen:
            seen.add(ranked.story)
            best.append(ranked)
    if not best:
        return best
    found = story_matches([r.story for r in best if r.story is not None])
    return [dataclasses.replace(r, copies=tuple(
        match.passage_id
        for match in heapq.merge(*(part.get(r.story, ()) if r.story is not None else () for part in found),
                                 key=lambda m: m.key(sort))
        if match.passage_id != r.passage_id
    )) for r in best]


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
