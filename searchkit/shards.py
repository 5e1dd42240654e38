"""Several indexes searched as one: statistics gathered and summed, ranking fanned out, results merged.

Each shard ranks its own passages with the statistics of all shards together, so the merged ranking is the
ranking one index of all their passages gives (articles never span shards, so the per-article model holds too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from whoosh import query as wq

from .backend import Ranked, Term, merge
from .errors import PassageNotFound
from .local import LocalBackend
from .models import Passage
from .query import ParsedQuery
from .scoring import FrozenStatistics, Statistics

__all__ = ["ShardedBackend"]


class ShardedBackend:
    """A ``Backend`` over local shards, searched in this process."""

    def __init__(self, shards: Sequence[LocalBackend]) -> None:
        if not shards:
            raise ValueError("a sharded backend needs at least one shard")
        self.shards = list(shards)

    def expand(self, leaf: wq.Query) -> list[Term]:
        return sorted({term for shard in self.shards for term in shard.expand(leaf)})

    def statistics(self, terms: Iterable[Term], *, articles: bool) -> Statistics:
        wanted = set(terms)
        return FrozenStatistics.combine(shard.frozen_statistics(wanted, articles=articles) for shard in self.shards)

    def rank(
        self, parsed: ParsedQuery, stats: Statistics, limit: int, *, sort: str, per_article: bool
    ) -> list[Ranked]:
        rankings = [shard.rank(parsed, stats, limit, sort=sort, per_article=per_article) for shard in self.shards]
        return merge(rankings, limit, sort)

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
