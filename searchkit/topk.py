"""Exact top-k BM25F in NumPy over the index's arrays, scored exactly as Whoosh scores them.

Whoosh walks postings one at a time in pure Python, so a query over common words costs milliseconds per
thousand passages. The index keeps a columnar copy of the postings of the searched and filter fields and, per
passage, its field lengths, date, article and id order (``arrays``). ``TopK`` evaluates the matcher tree Whoosh
would make of a query (without making it) over them, each node's matches as sorted doc numbers and scores, with
the same floating-point operations in the same order (``scoring.bm25``, union and intersection sums, boosts),
and takes the top k, equal scores ordered by passage id; a phrase's positions are read from Whoosh's postings
for the passages holding all its words. What it cannot evaluate exactly (negation; a phrase whose positions
would take more than ``bounds.MAX_WHOOSH_POSTINGS`` reads) returns ``None`` and Whoosh scores it. Articles are ranked from the same arrays, by
BM25F over their passages' summed term frequencies and lengths (``Settings.article_weight``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import query as wq

from . import bounds, schema, scoring
from .arrays import (
    DATE_FIELD, FILTER_FIELDS, SCORED_FIELDS, STORY_FIELD, UNDATED, read_column, read_facet, read_meta, read_segment,
)
from .backend import Counts
from .query import OrderedAnd, OrderedOr
from .settings import Settings

__all__ = ["TopK", "Matches"]

HEADLINE_FIELDS = ("title",)
"""Fields every passage repeats from its article: an article's frequency and length there are one passage's."""


class _Unsupported(Exception):
    """The query (or filter) has a part the arrays cannot evaluate exactly."""


class Matches:
    """Passages matching a query: their doc numbers (ascending, each once) and their scores (non-zero)."""

    __slots__ = ("docs", "scores")

    def __init__(self, docs: np.ndarray, scores: np.ndarray) -> None:
        self.docs = docs
        self.scores = scores

    def __len__(self) -> int:
        return len(self.docs)

    def where(self, keep: np.ndarray) -> Matches:
        """The matches where ``keep`` (aligned with them) is true."""
        return Matches(self.docs[keep], self.scores[keep])

    def score(self, doc: int) -> float:
        """The score of ``doc``, one of the matches."""
        return float(self.scores[np.searchsorted(self.docs, doc)])

    def nonzero(self) -> Matches:
        """The matches scored other than 0 (the arrays count a score of 0 as no match)."""
        return self if self.scores.all() else self.where(self.scores != 0)

    def boosted(self, boost: float) -> Matches:
        """Each score times ``boost``, as Whoosh's ``WrappingMatcher`` scores."""
        return Matches(self.docs, self.scores * boost).nonzero()


_NONE = Matches(np.zeros(0, dtype=np.int64), np.zeros(0))

DENSE_SHARE = 4
"""A union whose parts hold more than one in this many of a segment's documents is merged by scattering them
over arrays of the segment's length (its cost is the segment's length, a sorted merge's its parts')."""


def _union_tree(parts: list[Matches], doc_count: int) -> Matches:
    """``parts`` combined as Whoosh's tree of ``UnionMatcher`` s (``_tree``) combines them: the documents matching
    any, each scored by the sums of the tree, in its order.

    A dense union sums whole arrays of the segment's length, node by node as the tree pairs them, a document's
    score 0 in a part it is not in: ``x + 0.0`` is ``x``, so the sums are the sparse merge's, bit for bit, with
    one scatter per part and one gather at the end where a merge at each node would gather and scatter again.
    """
    if len(parts) > 1 and sum(len(p) for p in parts) * DENSE_SHARE > doc_count:
        present = np.zeros(doc_count, dtype=bool)
        for part in parts:
            present[part.docs] = True
        docs = np.flatnonzero(present)
        return Matches(docs, _dense_sums(parts, doc_count)[docs])
    return _tree(parts, _union, doc_count)


def _dense_sums(parts: list[Matches], doc_count: int) -> np.ndarray:
    """The scores of ``_union_tree`` over every document of the segment (0 where none of ``parts`` matches)."""
    if len(parts) == 1:
        scores = np.zeros(doc_count)
        scores[parts[0].docs] = parts[0].scores
        return scores
    half = len(parts) // 2
    scores = _dense_sums(parts[:half], doc_count)
    scores += _dense_sums(parts[half:], doc_count)
    return scores


def _union(a: Matches, b: Matches, doc_count: int) -> Matches:
    """Whoosh's ``UnionMatcher`` over sparse matches: the documents matching either, scored ``a + b`` where both
    match."""
    if not len(a):
        return b
    if not len(b):
        return a
    docs = np.concatenate((a.docs, b.docs))
    order = np.argsort(docs, kind="stable")  # two sorted runs: one merge; a's entry before b's for a document in both
    docs = docs[order]
    scores = np.concatenate((a.scores, b.scores))[order]
    both = docs[1:] == docs[:-1]
    scores[:-1][both] += scores[1:][both]
    first = np.ones(len(docs), dtype=bool)
    first[1:] = ~both
    return Matches(docs[first], scores[first])


def _intersection(a: Matches, b: Matches, doc_count: int) -> Matches:
    """Whoosh's ``IntersectionMatcher``: the documents matching both, scored ``a + b``; the shorter list is looked
    up in the longer."""
    if not len(a) or not len(b):
        return _NONE
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    at, both = _lookup(short, long)
    return Matches(short.docs[both], short.scores[both] + long.scores[at[both]])


def _and_maybe(a: Matches, b: Matches) -> Matches:
    """Whoosh's ``AndMaybeMatcher``: ``a``'s documents, scored ``a + b`` where ``b`` matches too."""
    if not len(a) or not len(b):
        return a
    at, both = _lookup(a, b)
    scores = a.scores.copy()
    scores[both] += b.scores[at[both]]
    return Matches(a.docs, scores)


def _lookup(a: Matches, b: Matches) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``a``'s documents would be among ``b``'s (a non-empty list), and whether it is there."""
    at = np.minimum(np.searchsorted(b.docs, a.docs), len(b) - 1)
    return at, b.docs[at] == a.docs


def _tree(parts: list[Matches], combine, doc_count: int) -> Matches:
    """``parts`` combined as ``whoosh.util.make_binary_tree`` pairs matchers: the first half with the second."""
    if len(parts) == 1:
        return parts[0]
    half = len(parts) // 2
    return combine(_tree(parts[:half], combine, doc_count), _tree(parts[half:], combine, doc_count), doc_count)


def _positions(reader, fieldname: str, text: bytes, docs: np.ndarray) -> list[Sequence[int]]:
    """The positions of a term in each of ``docs`` (ascending, each holding it; none for a deleted one)."""
    postings = reader.postings(fieldname, text)
    found: list[Sequence[int]] = []
    for doc in docs.tolist():
        if postings.is_active() and postings.id() < doc:
            postings.skip_to(doc)
        found.append(postings.value_as("positions") if postings.is_active() and postings.id() == doc else ())
    return found


def _consecutive(positions: list[Sequence[int]]) -> bool:
    """Whether the words (their positions in one document, in phrase order) stand one after another somewhere."""
    following = [frozenset(p) for p in positions[1:]]
    return any(all(start + i in later for i, later in enumerate(following, 1)) for start in positions[0])


class _Leaves:
    """A query's words' idf and average field length as ``scoring.BM25FScorer`` reads them, once per query, and
    each segment's Whoosh reader (for phrases' positions)."""

    def __init__(self, weighting: scoring.BM25FWeighting, readers: dict[str, Any]) -> None:
        self.readers = readers
        self.positions = 0
        """Positions of phrase words read so far."""
        self.stats = weighting.stats
        self.settings = weighting.settings
        self._read: dict[tuple[str, bytes], tuple[float, float]] = {}

    def statistics(self, fieldname: str, text: bytes) -> tuple[float, float]:
        key = (fieldname, text)
        if key not in self._read:
            stats = self.stats
            self._read[key] = (scoring.passage_idf(stats, fieldname, text),
                               scoring.average_length(stats.passage_length(fieldname), stats.passages))
        return self._read[key]


class _Postings:
    """One field's postings in one segment: sorted terms, and per term a slice of doc numbers (and weights)."""

    def __init__(self, arrays: dict[str, np.ndarray], field: str) -> None:
        self.terms = arrays[f"{field}.terms"]
        self.offsets = arrays[f"{field}.offsets"]
        self.docs = arrays[f"{field}.docs"]
        self.weights = arrays.get(f"{field}.weights")

    def slice(self, term: bytes) -> slice | None:
        at = int(np.searchsorted(self.terms, term))
        if at == len(self.terms) or self.terms[at] != term:
            return None
        return slice(int(self.offsets[at]), int(self.offsets[at + 1]))


class _Segment:
    """One segment's postings (mapped from its ``.topk`` file) and where its documents start in the index."""

    def __init__(self, index_dir: Path, segment_id: str, offset: int, doc_count: int) -> None:
        self.id = segment_id
        self.offset = np.int64(offset)
        """A NumPy integer: a segment's doc numbers, of the narrowest type that holds them (``arrays``), widen
        when it is added to them."""
        self.doc_count = doc_count
        arrays = read_segment(index_dir, segment_id)
        self.fields = {f: _Postings(arrays, f) for f in (*SCORED_FIELDS, *FILTER_FIELDS)}


class TopK:
    """The arrays of one index generation; ``search`` answers a query from them or returns None."""

    def __init__(self, index_dir: Path, meta: dict) -> None:
        self.index_dir = index_dir
        self.generation = meta["generation"]
        self.doc_count = meta["doc_count"]
        self.segments = [_Segment(index_dir, segment_id, offset, count)
                         for segment_id, offset, count in meta["segments"]]
        self.lengths = {f: _plain(read_column(index_dir, f"{f}.lengths", "uf", self.doc_count, mapped=True))
                        for f in SCORED_FIELDS}
        self.live = read_column(index_dir, "live", "b", self.doc_count)
        self.dates = _plain(read_column(index_dir, f"{DATE_FIELD}.values", "i", self.doc_count, mapped=True))
        self.article_of = read_column(index_dir, "article.values", "i", self.doc_count)
        self.article_count = int(self.article_of.max(initial=-1)) + 1
        self.story_of = _plain(read_column(index_dir, f"{STORY_FIELD}.values", "i", self.doc_count, mapped=True))
        """Each passage's story (``stories``): the articles that are copies of one story share it."""
        self.ids = _plain(read_column(index_dir, "id.values", "u", self.doc_count, mapped=True))
        """Each passage's ``backend.tiebreak`` key: the order among equal scores."""
        self._article_lengths: dict[str, np.ndarray] = {}
        self._facets: dict[str, tuple[list[str], np.ndarray, np.ndarray | None]] = {}
        self._months: np.ndarray | None = None

    @classmethod
    def load(cls, index_path: str | os.PathLike) -> TopK | None:
        """The arrays stored in the index, or None when there are none (or of another format).

        Raises:
            IndexCorrupt: ``meta.json`` is not what ``arrays.write`` writes (``IndexUntrusted``: it names a file
                outside the index).
        """
        index_dir = Path(index_path)
        meta = read_meta(index_dir)
        return None if meta is None else cls(index_dir, meta)

    def doc_frequency(self, fieldname: str, text: bytes) -> int:
        """How many passages hold ``text`` in a searched field, deleted ones too (as Whoosh counts them)."""
        total = 0
        for segment in self.segments:
            where = segment.fields[fieldname].slice(text)
            if where is not None:
                total += where.stop - where.start
        return total

    def matches(self, searcher) -> bool:
        """Whether these are the arrays of the generation and segments ``searcher`` reads."""
        reader = searcher.reader()
        return (reader.generation() == self.generation and reader.doc_count_all() == self.doc_count
                and [s.reader().segment().segment_id() for s, _ in searcher.leaf_searchers()]
                == [s.id for s in self.segments])

    def per_article(self, found: Matches, q: wq.Query, stats: scoring.Statistics, settings: Settings) -> Matches:
        """Passage matches → article matches, each at its article's best passage: ``article_score`` of the
        article as one document and its best passage, or the best passage alone where the article level cannot
        score ``q`` (see ``article_scores``) or ``settings.article_weight`` is 0."""
        best, articles = self._best_passages(found)
        scores = found.scores[best]
        whole = self.article_scores(q, stats, settings) if settings.article_weight else None
        if whole is not None:
            scores = scoring.article_score(whole[articles], scores, settings.article_weight)
        order = np.argsort(found.docs[best])
        return Matches(found.docs[best][order], scores[order]).nonzero()

    def _best_passages(self, found: Matches) -> tuple[np.ndarray, np.ndarray]:
        """Each matching article's best passage (the highest score, the first by ``ids`` among equals), as its
        place among ``found``, and its article ordinal."""
        articles = self.article_of[found.docs]
        order = np.lexsort((self.ids[found.docs], -found.scores, articles))
        best = order[_group_starts(articles[order])]
        return best, articles[best]

    def article_scores(self, q: wq.Query, stats: scoring.Statistics, settings: Settings) -> np.ndarray | None:
        """Each article's BM25F score under ``q`` as if it were one document (words, AND, OR, boosts), or None
        for a query the article level cannot score (phrases, wildcards, ranges, NOT)."""
        try:
            return self._article_scores(q, stats, settings)
        except _Unsupported:
            return None

    def article_statistics(self, terms: Iterable[bytes]) -> tuple[int, dict[str, float], dict[bytes, int]]:
        """The article level's count, each search field's total length, and each term's article frequency."""
        lengths = {f: float(self._lengths(f).sum()) for f in SCORED_FIELDS}
        frequencies = {
            text: int(np.count_nonzero(np.logical_or.reduce([self._article_frequencies(f, text) for f in SCORED_FIELDS])))
            for text in terms
        }
        return self.article_count, lengths, frequencies

    def top(self, found: Matches, limit: int, sort: str) -> list[tuple[int, float, int | None]]:
        """The ``limit`` best matches as (doc number, score, date key or None): by score, then ``ids``; with
        ``sort="date"``, newest first (undated last), then by score, then ``ids``."""
        matched, values = found.docs, found.scores
        if sort == "score" and len(matched) > limit:
            keep = values >= _kth_largest(values, limit)
            matched, values = matched[keep], values[keep]
        order = self._ranked(matched, values, sort)[:limit]
        return [(int(matched[i]), float(values[i]), self.day(int(matched[i]))) for i in order]

    def counts(self, found: Matches, facets: Sequence[str], months: bool) -> Counts:
        """The matches counted: in all, per value of each of ``facets`` and, with ``months``, per month of
        their dates (see ``Counts``)."""
        return Counts(
            len(found),
            {field: self._facet_counts(field, found.docs) for field in facets},
            self._month_counts(found.docs) if months else {},
        )

    def _facet_counts(self, field: str, matched: np.ndarray) -> dict[str, int]:
        """The passages ``matched`` (doc numbers, ascending) per value of ``field``."""
        if field not in self._facets:  # read at the first query that counts it
            values, codes, docs = read_facet(self.index_dir, field, self.doc_count)
            starts = None if docs is None else np.concatenate(
                ([0], np.cumsum(np.bincount(docs, minlength=self.doc_count))))
            self._facets[field] = (values, codes, starts)
        values, codes, starts = self._facets[field]
        if starts is None:  # a code per passage, 0 for none
            counted = np.bincount(codes[matched], minlength=len(values) + 1)[1:]
        elif len(matched):  # (passage, value) pairs by passage: passage d's are codes[starts[d]:starts[d + 1]]
            first = starts[matched]
            lengths = starts[matched + 1] - first
            ends = np.cumsum(lengths)
            pairs = np.arange(ends[-1]) + np.repeat(first - (ends - lengths), lengths)
            counted = np.bincount(codes[pairs], minlength=len(values))
        else:
            return {}
        return {values[i]: int(counted[i]) for i in np.flatnonzero(counted)}

    def _month_counts(self, matched: np.ndarray) -> dict[str, int]:
        """The dated passages of ``matched`` (doc numbers) per month."""
        if self._months is None:  # each passage's month as year × 12 + month - 1, -1 undated
            dated = self.dates != UNDATED
            days = ((self.dates[dated] - _EPOCH) // _DAY).astype("datetime64[D]")
            months = np.full(self.doc_count, -1, dtype=np.int32)
            months[dated] = days.astype("datetime64[M]").astype(np.int64) + 1970 * 12
            self._months = months
        found = self._months[matched]
        found = found[found >= 0]
        if not len(found):
            return {}
        first = int(found.min())
        counted = np.bincount(found - first)
        return {f"{(first + i) // 12:04d}-{(first + i) % 12 + 1:02d}": int(counted[i]) for i in np.flatnonzero(counted)}

    def _ranked(self, docs: np.ndarray, values: np.ndarray, sort: str, *groups: np.ndarray) -> np.ndarray:
        """The order of ``docs`` (scored ``values``) as ``top`` ranks them, within each of ``groups`` (the
        last one outermost)."""
        if sort == "date":
            dates = self.dates[docs]
            undated = dates == UNDATED
            return np.lexsort((self.ids[docs], -values, -np.where(undated, 0, dates), undated, *groups))
        return np.lexsort((self.ids[docs], -values, *groups))

    # --- stories: one hit per story ----------------------------------------------------------------------------

    def collapse(self, found: Matches, sort: str) -> Matches:
        """The matches kept only at each story's first in the ranking ``sort``."""
        stories = self.story_of[found.docs]
        order = self._ranked(found.docs, found.scores, sort, stories)
        return found.where(np.sort(order[_group_starts(stories[order])]))

    def copies(self, found: Matches, docnums: list[int], sort: str) -> dict[int, list[int]]:
        """For each of ``docnums``, the other matching articles of its story, as their first match each, in the
        ranking ``sort``."""
        found = found.where(np.isin(self.story_of[found.docs], self.story_of[docnums]))
        return {docnum: self._firsts(found.where((self.story_of[found.docs] == self.story_of[docnum])
                                                 & (self.article_of[found.docs] != self.article_of[docnum])), sort)
                for docnum in docnums}

    def story_matches(self, found: Matches, stories: Sequence[int], sort: str) -> dict[int, list[int]]:
        """Each of ``stories`` that matches here: its matching articles, as their first match each, in the
        ranking ``sort``."""
        found = found.where(np.isin(self.story_of[found.docs], stories))
        of = self.story_of[found.docs]
        return {int(story): self._firsts(found.where(of == story), sort) for story in np.unique(of)}

    def _firsts(self, found: Matches, sort: str) -> list[int]:
        """Each article's first of ``found`` in the ranking ``sort``, in that ranking."""
        articles = self.article_of[found.docs]
        order = self._ranked(found.docs, found.scores, sort, articles)
        best = found.where(order[_group_starts(articles[order])])
        return [int(best.docs[i]) for i in self._ranked(best.docs, best.scores, sort)]

    def day(self, docnum: int) -> int | None:
        """The passage's date as ``Ranked.day`` orders it (None: undated)."""
        value = int(self.dates[docnum])
        return None if value == UNDATED else value

    def passage_matches(self, searcher, q: wq.Query, filter_q: wq.Query | None, context) -> Matches | None:
        """The passages matching ``q`` (not deleted, not filtered out) and their scores, as Whoosh scores them
        with ``context``'s weighting (``scoring.BM25FWeighting``); None when the arrays are stale for this
        searcher or cannot evaluate ``q`` exactly."""
        if not self.matches(searcher) or not isinstance(context.weighting, scoring.BM25FWeighting):
            return None
        leaves = _Leaves(context.weighting, {segment.id: sub.reader()
                                             for (sub, _), segment in zip(searcher.leaf_searchers(), self.segments)})
        try:
            found = self._evaluate(q, leaves)
            found = found.where(self.live[found.docs])
            return found if filter_q is None else found.where(self._allowed(filter_q, found.docs))
        except _Unsupported:
            return None

    # --- article level: the query's words over articles as whole documents ----------------------------------

    def _article_scores(self, q: wq.Query, stats: scoring.Statistics, settings: Settings) -> np.ndarray:
        kind = type(q)
        if isinstance(q, wq.Or):
            total = np.zeros(self.article_count)
            for sub in q.subqueries:
                total += self._article_scores(sub, stats, settings)
            return total * q.boost
        if isinstance(q, wq.And):
            parts = [self._article_scores(sub, stats, settings) for sub in q.subqueries]
            every = np.logical_and.reduce([p != 0 for p in parts])
            return np.where(every, sum(parts), 0.0) * q.boost
        if kind is wq.Term and q.fieldname in SCORED_FIELDS:
            text = schema.SCHEMA[q.fieldname].to_bytes(q.text)
            idf = scoring.idf(stats.article_frequency(text), stats.articles)
            average = scoring.average_length(stats.article_length(q.fieldname), stats.articles)
            tf = self._article_frequencies(q.fieldname, text)
            return scoring.bm25(idf, tf, self._lengths(q.fieldname), average, settings) * q.boost
        raise _Unsupported(kind.__name__)

    def _article_frequencies(self, field: str, text: bytes) -> np.ndarray:
        """The word's frequency (weight) per article in ``field``."""
        docs, weights = [], []
        for segment in self.segments:
            postings = segment.fields[field]
            where = postings.slice(text)
            if where is not None and postings.weights is not None:
                docs.append(postings.docs[where] + segment.offset)
                weights.append(np.asarray(postings.weights[where], dtype=np.float64))
        if not docs:
            return np.zeros(self.article_count)
        docs_all, weights_all = np.concatenate(docs), np.concatenate(weights)
        live = self.live[docs_all]
        return self._per_article(field, self.article_of[docs_all[live]], weights_all[live])

    def _lengths(self, field: str) -> np.ndarray:
        """Each article's length in ``field``."""
        if field not in self._article_lengths:
            self._article_lengths[field] = self._per_article(
                field, self.article_of[self.live], self.lengths[field][self.live]
            )
        return self._article_lengths[field]

    def _per_article(self, field: str, articles: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per-passage ``values`` summed per article; in a headline field (repeated by every passage), one."""
        if field in HEADLINE_FIELDS:
            out = np.zeros(self.article_count)
            np.maximum.at(out, articles, values)
            return out
        return np.bincount(articles, values, minlength=self.article_count)

    # --- scoring: Whoosh's matcher tree over the arrays ---------------------------------------------------------

    def _evaluate(self, q: wq.Query, leaves: _Leaves) -> Matches:
        """The matches of ``q`` in every segment, scored as the matcher tree Whoosh makes of ``q`` in each segment
        scores them: a compound of one part is that part (its boost dropped, as Whoosh drops it), of several an
        order-preserving binary tree of its parts (``query.OrderedOr``), boosted. That tree is the query's, the
        same in every segment, and a document's score depends on its own postings alone: so the segments are
        evaluated together, each node once over all their documents, not once per segment."""
        kind = type(q)
        if kind is wq.Term:
            found = self._term_matches(q, leaves)
        elif issubclass(kind, (OrderedOr, OrderedAnd)):
            if len(q.subqueries) < 2:
                return self._evaluate(q.subqueries[0], leaves) if q.subqueries else _NONE
            parts = [self._evaluate(part, leaves) for part in q.subqueries]
            found = _union_tree(parts, self.doc_count) if issubclass(kind, OrderedOr) else \
                _tree(parts, _intersection, self.doc_count)
        elif kind is wq.Phrase:
            found = self._phrase_matches(q, leaves)
        elif kind is wq.AndMaybe:  # ``b`` adds to ``a``'s score where both match
            return _and_maybe(self._evaluate(q.a, leaves), self._evaluate(q.b, leaves))
        elif q is wq.NullQuery:
            return _NONE
        else:
            raise _Unsupported(kind.__name__)
        return found if q.boost == 1.0 else found.boosted(q.boost)

    def _phrase_matches(self, q: wq.Phrase, leaves: _Leaves) -> Matches:
        """A phrase as Whoosh's ``SpanNear2`` matches it: the documents holding all its words, scored as their
        intersection, kept where the words stand one after another (positions read from each segment's Whoosh
        postings for those documents alone)."""
        if q.fieldname not in SCORED_FIELDS or q.slop != 1 or not q.words:
            raise _Unsupported("Phrase")
        found = _tree([self._term_matches(wq.Term(q.fieldname, word), leaves) for word in q.words],
                      _intersection, self.doc_count)
        if len(q.words) == 1 or not len(found):
            return found
        leaves.positions += len(found) * len(q.words)
        if leaves.positions > bounds.MAX_WHOOSH_POSTINGS:  # read one at a time, in Python: Whoosh's bound (``bounds``)
            raise _Unsupported("Phrase")
        field = schema.SCHEMA[q.fieldname]
        words = [field.to_bytes(word) for word in q.words]
        consecutive = np.zeros(len(found), dtype=bool)
        for segment in self.segments:
            start, end = np.searchsorted(found.docs, (segment.offset, segment.offset + segment.doc_count))
            if start == end:
                continue
            docs = found.docs[start:end] - segment.offset
            reader = leaves.readers[segment.id]
            positions = [_positions(reader, q.fieldname, word, docs) for word in words]
            consecutive[start:end] = [_consecutive([p[i] for p in positions]) for i in range(end - start)]
        return found.where(consecutive)

    def _term_matches(self, q: wq.Term, leaves: _Leaves) -> Matches:
        """A word's postings in every segment (index doc numbers), scored as ``scoring.BM25FScorer`` scores
        them."""
        if q.fieldname not in SCORED_FIELDS:
            raise _Unsupported(q.fieldname)
        try:
            text = schema.SCHEMA[q.fieldname].to_bytes(q.text)
        except ValueError:  # Whoosh's Term matches nothing then
            return _NONE
        docs, tf = [], []
        for segment in self.segments:
            postings = segment.fields[q.fieldname]
            where = postings.slice(text)
            if where is not None:
                assert postings.weights is not None
                docs.append(postings.docs[where] + segment.offset)
                tf.append(postings.weights[where])
        if not docs:
            return _NONE
        found = np.concatenate(docs) if len(docs) > 1 else docs[0]
        weights = np.asarray(np.concatenate(tf) if len(tf) > 1 else tf[0], dtype=np.float64)
        idf, average = leaves.statistics(q.fieldname, text)
        scores = scoring.bm25(idf, weights, self.lengths[q.fieldname][found], average, leaves.settings)
        return Matches(found, scores).nonzero()

    # --- filters ------------------------------------------------------------------------------------------------

    def _allowed(self, f: wq.Query, docs: np.ndarray) -> np.ndarray:
        """Whether each of ``docs`` (doc numbers, ascending) passes the filter ``f``: the cost is theirs and the
        filter terms' postings, not the index's."""
        if isinstance(f, wq.And):
            mask = np.ones(len(docs), dtype=bool)
            for child in f.subqueries:
                mask &= self._allowed(child, docs)
            return mask
        if isinstance(f, wq.Or):  # a pattern's terms (``query.bound_patterns``)
            mask = np.zeros(len(docs), dtype=bool)
            for child in f.subqueries:
                mask |= self._allowed(child, docs)
            return mask
        if type(f) is wq.Term and f.fieldname in FILTER_FIELDS and f.boost == 1.0:
            mask = np.zeros(len(docs), dtype=bool)
            text = schema.SCHEMA[f.fieldname].to_bytes(f.text)
            for segment in self.segments:
                postings = segment.fields[f.fieldname]
                where = postings.slice(text)
                if where is not None:
                    mask |= _within(docs, np.asarray(postings.docs[where], dtype=np.int64) + segment.offset)
            return mask
        if isinstance(f, wq.NumericRange) and f.fieldname == DATE_FIELD:
            dates = self.dates[docs]
            mask = dates != UNDATED
            if f.start is not None:
                mask &= dates > f.start if f.startexcl else dates >= f.start
            if f.end is not None:
                mask &= dates < f.end if f.endexcl else dates <= f.end
            return mask
        raise _Unsupported(type(f).__name__)


_BLOCK = 64
"""``_kth_largest`` bounds the k-th largest value by the maximums of blocks of this many values."""


def _kth_largest(values: np.ndarray, k: int) -> float:
    """The ``k``-th largest of ``values`` (more than ``k``).

    The ``k`` largest maximums of blocks of ``_BLOCK`` values are ``k`` of the values, so the ``k``-th largest
    value is at least the ``k``-th largest maximum: only the values from there on are partitioned (a maximum per
    block and one comparison per value are several times faster than partitioning them all).
    """
    blocks = len(values) // _BLOCK
    if blocks >= k:
        maximums = values[:blocks * _BLOCK].reshape(blocks, _BLOCK).max(axis=1)
        values = values[values >= np.partition(maximums, blocks - k)[blocks - k]]
    return np.partition(values, len(values) - k)[len(values) - k]


def _plain(mapped: np.ndarray) -> np.ndarray:
    """A mapped column as a plain array over the same memory: indexing a ``np.memmap`` runs Python code of its
    own (``__array_finalize__``) each time, about 6 µs, and a query indexes these columns a dozen times."""
    return np.asarray(mapped)


def _within(docs: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Whether each of ``docs`` is one of ``among`` (both ascending): the shorter looked up in the longer."""
    if not len(docs) or not len(among):
        return np.zeros(len(docs), dtype=bool)
    if len(docs) <= len(among):
        return among[np.minimum(np.searchsorted(among, docs), len(among) - 1)] == docs
    at = np.minimum(np.searchsorted(docs, among), len(docs) - 1)
    mask = np.zeros(len(docs), dtype=bool)
    mask[at[docs[at] == among]] = True
    return mask


_EPOCH = 62_135_596_800_000_000
"""1970-01-01 as Whoosh's DATETIME stores it (microseconds since 0001-01-01, ``whoosh.util.times``)."""
_DAY = 86_400_000_000


def _group_starts(grouped: np.ndarray) -> np.ndarray:
    """Where each run of equal values of ``grouped`` (sorted by group) starts."""
    first = np.ones(len(grouped), dtype=bool)
    first[1:] = grouped[1:] != grouped[:-1]
    return first

