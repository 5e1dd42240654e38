"""Exact top-k BM25F in NumPy over the index's arrays, scored exactly as Whoosh scores them.

Whoosh walks postings one at a time in pure Python, so a query over common words costs milliseconds per
thousand passages. The index keeps a columnar copy of the postings of the searched and filter fields and, per
passage, its field lengths, date, article and id order (``arrays``). ``TopK`` evaluates Whoosh's matcher tree of
a query over them with the same floating-point operations in the same order (``scoring.bm25``, union and
intersection sums, boosts) and takes the top k, equal scores ordered by passage id; what it cannot evaluate
exactly (phrases, negation) returns ``None`` and Whoosh scores it. Articles are ranked from the same arrays, by
BM25F over their passages' summed term frequencies and lengths (``Settings.article_weight``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from whoosh import query as wq
from whoosh.matching import wrappers
from whoosh.matching.binary import AndMaybeMatcher, IntersectionMatcher, UnionMatcher
from whoosh.matching.mcore import NullMatcherClass

from . import schema, scoring
from .arrays import (
    DATE_FIELD, FILTER_FIELDS, SCORED_FIELDS, STORY_FIELD, UNDATED, read_column, read_facet, read_meta, read_segment,
)
from .backend import Counts
from .settings import Settings

__all__ = ["TopK"]

HEADLINE_FIELDS = ("title",)
"""Fields every passage repeats from its article: an article's frequency and length there are one passage's."""


class _Unsupported(Exception):
    """The query (or filter) has a part the arrays cannot evaluate exactly."""


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
        self.lengths = {f: read_column(index_dir, f"{f}.lengths", "uf", self.doc_count, mapped=True)
                        for f in SCORED_FIELDS}
        self.live = read_column(index_dir, "live", "b", self.doc_count)
        self.dates = read_column(index_dir, f"{DATE_FIELD}.values", "i", self.doc_count, mapped=True)
        self.article_of = read_column(index_dir, "article.values", "i", self.doc_count)
        self.article_count = int(self.article_of.max(initial=-1)) + 1
        self.story_of = read_column(index_dir, f"{STORY_FIELD}.values", "i", self.doc_count, mapped=True)
        """Each passage's story (``stories``): the articles that are copies of one story share it."""
        self.ids = read_column(index_dir, "id.values", "u", self.doc_count, mapped=True)
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

    def matches(self, searcher) -> bool:
        """Whether these are the arrays of the generation and segments ``searcher`` reads."""
        reader = searcher.reader()
        return (reader.generation() == self.generation and reader.doc_count_all() == self.doc_count
                and [s.reader().segment().segment_id() for s, _ in searcher.leaf_searchers()]
                == [s.id for s in self.segments])

    def per_article(self, scores: np.ndarray, q: wq.Query, stats: scoring.Statistics, settings: Settings) -> np.ndarray:
        """Passage scores → article scores, each at its article's best passage (0 elsewhere): ``article_score``
        of the article as one document and its best passage, or the best passage alone where the article level
        cannot score ``q`` (see ``article_scores``) or ``settings.article_weight`` is 0."""
        best, articles = self._best_passages(scores)
        ranked = np.zeros_like(scores)
        ranked[best] = scores[best]
        whole = self.article_scores(q, stats, settings) if settings.article_weight else None
        if whole is not None:
            ranked[best] = scoring.article_score(whole[articles], scores[best], settings.article_weight)
        return ranked

    def _best_passages(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each matching article's best passage (the highest score, the first by ``ids`` among equals) and its
        article ordinal."""
        matched = np.flatnonzero(scores)
        articles = self.article_of[matched]
        order = np.lexsort((self.ids[matched], -scores[matched], articles))
        best = matched[order[_group_starts(articles[order])]]
        return best, self.article_of[best]

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

    def top(self, scores: np.ndarray, limit: int, sort: str) -> list[tuple[int, float, int | None]]:
        """The ``limit`` best non-zero scores as (doc number, score, date key or None): by score, then ``ids``;
        with ``sort="date"``, newest first (undated last), then by score, then ``ids``."""
        matched = np.flatnonzero(scores)
        values = scores[matched]
        if sort == "score" and len(matched) > limit:
            kth = np.partition(values, len(matched) - limit)[len(matched) - limit]
            keep = values >= kth
            matched, values = matched[keep], values[keep]
        order = self._ranked(matched, values, sort)[:limit]
        return [(int(matched[i]), float(values[i]), self.day(int(matched[i]))) for i in order]

    def counts(self, scores: np.ndarray, facets: Sequence[str], months: bool) -> Counts:
        """The non-zero ``scores`` counted: in all, per value of each of ``facets`` and, with ``months``, per
        month of their dates (see ``Counts``)."""
        matched = np.flatnonzero(scores != 0)  # on a float array directly, NumPy's flatnonzero takes ~50× longer
        return Counts(
            len(matched),
            {field: self._facet_counts(field, matched) for field in facets},
            self._month_counts(matched) if months else {},
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

    def collapse(self, scores: np.ndarray, sort: str) -> np.ndarray:
        """``scores`` kept only at each story's first match in the ranking ``sort`` (0 elsewhere)."""
        matched = np.flatnonzero(scores)
        stories = self.story_of[matched]
        order = self._ranked(matched, scores[matched], sort, stories)
        kept = np.zeros_like(scores)
        best = matched[order[_group_starts(stories[order])]]
        kept[best] = scores[best]
        return kept

    def copies(self, scores: np.ndarray, docnums: list[int], sort: str) -> dict[int, list[int]]:
        """For each of ``docnums``, the other matching articles of its story, as their first match each, in the
        ranking ``sort``."""
        matched = np.flatnonzero(scores)
        matched = matched[np.isin(self.story_of[matched], self.story_of[docnums])]
        return {docnum: self._firsts(matched[(self.story_of[matched] == self.story_of[docnum])
                                             & (self.article_of[matched] != self.article_of[docnum])], scores, sort)
                for docnum in docnums}

    def story_matches(self, scores: np.ndarray, stories: Sequence[int], sort: str) -> dict[int, list[int]]:
        """Each of ``stories`` that matches here: its matching articles, as their first match each, in the
        ranking ``sort``."""
        matched = np.flatnonzero(scores)
        matched = matched[np.isin(self.story_of[matched], stories)]
        of = self.story_of[matched]
        return {int(story): self._firsts(matched[of == story], scores, sort) for story in np.unique(of)}

    def _firsts(self, docs: np.ndarray, scores: np.ndarray, sort: str) -> list[int]:
        """Each article's first of ``docs`` in the ranking ``sort``, in that ranking."""
        articles = self.article_of[docs]
        order = self._ranked(docs, scores[docs], sort, articles)
        best = docs[order[_group_starts(articles[order])]]
        return [int(best[i]) for i in self._ranked(best, scores[best], sort)]

    def day(self, docnum: int) -> int | None:
        """The passage's date as ``Ranked.day`` orders it (None: undated)."""
        value = int(self.dates[docnum])
        return None if value == UNDATED else value

    def passage_scores(self, searcher, q: wq.Query, filter_q: wq.Query | None, context) -> np.ndarray | None:
        """Every passage's score under ``q`` (0: no match, deleted or filtered out), as Whoosh scores it with
        ``context``'s weighting; None when the arrays are stale for this searcher or cannot evaluate ``q`` exactly."""
        if not self.matches(searcher):
            return None
        leaves = searcher.leaf_searchers()
        try:
            allowed = self._filter_mask(filter_q) if filter_q is not None else self.live
            scores = np.zeros(self.doc_count)
            for (subsearcher, _), segment in zip(leaves, self.segments):
                end = segment.offset + segment.doc_count
                scores[segment.offset:end] = self._evaluate(q.matcher(subsearcher, context), segment)
        except _Unsupported:
            return None
        scores[~allowed] = 0.0
        return scores

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

    def _evaluate(self, m, segment: _Segment) -> np.ndarray:
        """Scores of the segment's documents under its matcher ``m``, 0 where it does not match."""
        kind = type(m)
        if kind is UnionMatcher:
            return self._evaluate(m.a, segment) + self._evaluate(m.b, segment)
        if kind is IntersectionMatcher:
            a, b = self._evaluate(m.a, segment), self._evaluate(m.b, segment)
            return np.where((a != 0) & (b != 0), a + b, 0.0)
        if kind is AndMaybeMatcher:  # ``b`` adds to ``a``'s score where both match
            a, b = self._evaluate(m.a, segment), self._evaluate(m.b, segment)
            return np.where((a != 0) & (b != 0), a + b, a)
        if kind is wrappers.FilterMatcher and m._exclude:  # the segment's deletions: masked out with ``live``
            return self._evaluate(m.child, segment) * m.boost
        if kind is wrappers.WrappingMatcher:
            return self._evaluate(m.child, segment) * m.boost
        if kind is NullMatcherClass:
            return np.zeros(segment.doc_count)
        if m.is_leaf() and isinstance(_scorer(m), scoring.BM25FScorer):
            return self._term_scores(m, segment)
        raise _Unsupported(kind.__name__)

    def _term_scores(self, m, segment: _Segment) -> np.ndarray:
        fieldname, text = m.term()
        postings = segment.fields.get(fieldname)
        if postings is None or postings.weights is None:
            raise _Unsupported(fieldname)
        out = np.zeros(segment.doc_count)
        where = postings.slice(text)
        if where is None:
            return out
        docs = np.asarray(postings.docs[where])
        tf = np.asarray(postings.weights[where], dtype=np.float64)
        fl = self.lengths[fieldname][docs + segment.offset]
        s = _scorer(m)
        out[docs] = scoring.bm25(s.idf, tf, fl, s.avgfl, s.settings)
        return out

    # --- filters ------------------------------------------------------------------------------------------------

    def _filter_mask(self, f: wq.Query) -> np.ndarray:
        if isinstance(f, wq.And):
            mask = self.live.copy()
            for child in f.subqueries:
                mask &= self._filter_mask(child)
            return mask
        if isinstance(f, wq.Or):  # a pattern's terms (``query.bound_patterns``)
            mask = np.zeros(self.doc_count, dtype=bool)
            for child in f.subqueries:
                mask |= self._filter_mask(child)
            return mask
        if type(f) is wq.Term and f.fieldname in FILTER_FIELDS and f.boost == 1.0:
            mask = np.zeros(self.doc_count, dtype=bool)
            text = schema.SCHEMA[f.fieldname].to_bytes(f.text)
            for segment in self.segments:
                postings = segment.fields[f.fieldname]
                where = postings.slice(text)
                if where is not None:
                    mask[postings.docs[where] + segment.offset] = True
            return mask & self.live
        if isinstance(f, wq.NumericRange) and f.fieldname == DATE_FIELD:
            dated = self.dates != UNDATED
            low = (self.dates > f.start if f.startexcl else self.dates >= f.start) if f.start is not None else dated
            high = (self.dates < f.end if f.endexcl else self.dates <= f.end) if f.end is not None else dated
            return dated & low & high
        raise _Unsupported(type(f).__name__)


_EPOCH = 62_135_596_800_000_000
"""1970-01-01 as Whoosh's DATETIME stores it (microseconds since 0001-01-01, ``whoosh.util.times``)."""
_DAY = 86_400_000_000


def _group_starts(grouped: np.ndarray) -> np.ndarray:
    """Where each run of equal values of ``grouped`` (sorted by group) starts."""
    first = np.ones(len(grouped), dtype=bool)
    first[1:] = grouped[1:] != grouped[:-1]
    return first


def _scorer(m):
    """A leaf matcher's scorer (``ListMatcher``, which holds inlined postings, keeps it private)."""
    return getattr(m, "scorer", None) or getattr(m, "_scorer", None)
