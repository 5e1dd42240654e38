"""Exact top-k BM25F in NumPy: the index's postings as arrays beside it, scored exactly as Whoosh scores them.

Whoosh walks postings one at a time in pure Python, so a query over common words costs milliseconds per
thousand passages. This module keeps a columnar copy of the postings of the searched fields (doc numbers,
weights, field lengths; plus doc numbers of the filter fields and each passage's date) in ``topk/`` inside the
index, written after every commit. A query is answered by asking Whoosh for its matcher tree (so the query
language, term expansion and statistics stay Whoosh's), evaluating that tree over the arrays with the same
floating-point operations in the same order (``scoring.bm25``, union/intersection sums, boosts), and taking
the top k ordered as Whoosh's collector orders them (score descending, doc number ascending). Anything the
arrays cannot evaluate exactly (phrases, wildcards, negation, other weightings) returns ``None``: the caller
then asks Whoosh. Whoosh still stores the documents and makes the highlights.

Each passage's article (an ordinal per (path, article id)) is kept too, so that ``search_articles`` can rank
articles by BM25F over their passages' summed term frequencies and lengths (see ``schema.ARTICLE_WEIGHT``).
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import shutil
from math import log
from pathlib import Path

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.fields import NUMERIC
from whoosh.matching import wrappers
from whoosh.matching.binary import IntersectionMatcher, UnionMatcher
from whoosh.matching.combo import ArrayUnionMatcher
from whoosh.matching.mcore import NullMatcherClass
from whoosh.scoring import BM25FScorer

from . import schema

__all__ = ["TopK", "write", "FOLDER"]

FOLDER = "topk"
FORMAT = 2
SCORED_FIELDS = schema.SEARCH_FIELDS
FILTER_FIELDS = ("source", "place", "speaker")
DATE_FIELD = "date"
ARTICLE_FIELDS = ("path", "article")
"""Together they name an article: an article id is unique within its file."""
HEADLINE_FIELDS = ("title",)
"""Fields every passage repeats from its article: an article's frequency and length there are one passage's."""
_UNDATED = np.iinfo(np.int64).min


class _Unsupported(Exception):
    """The query (or filter) has a part the arrays cannot evaluate exactly."""


class _Postings:
    """One field's postings: sorted terms, and per term a slice of doc numbers (and weights)."""

    def __init__(self, folder: Path, field: str, weighted: bool) -> None:
        def load(name: str) -> np.ndarray:
            return np.load(folder / f"{field}.{name}.npy", mmap_mode="r")

        self.terms = load("terms")
        self.offsets = load("offsets")
        self.docs = load("docs")
        self.weights = load("weights") if weighted else None
        self.lengths = load("lengths") if weighted else None

    def slice(self, term: bytes) -> slice | None:
        at = int(np.searchsorted(self.terms, term))
        if at == len(self.terms) or self.terms[at] != term:
            return None
        return slice(int(self.offsets[at]), int(self.offsets[at + 1]))


class TopK:
    """The arrays of one index generation; ``search`` answers a query from them or returns None."""

    def __init__(self, folder: Path, meta: dict) -> None:
        self.index_dir = folder.parent
        self.generation = meta["generation"]
        self.doc_count = meta["doc_count"]
        self.fields = {f: _Postings(folder, f, weighted=True) for f in SCORED_FIELDS}
        self.filters = {f: _Postings(folder, f, weighted=False) for f in FILTER_FIELDS}
        self.dates = np.load(folder / f"{DATE_FIELD}.values.npy", mmap_mode="r")
        self.article_of = np.load(folder / "article.values.npy")
        self.article_count = int(self.article_of.max(initial=-1)) + 1
        self._article_lengths: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, index_path: str | os.PathLike) -> TopK | None:
        """The arrays stored in the index, or None when there are none (or of another format)."""
        folder = Path(index_path) / FOLDER
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if meta.get("format") != FORMAT or meta.get("fields") != list(SCORED_FIELDS):
            return None
        return cls(folder, meta)

    def search(self, searcher, q: wq.Query, filter_q: wq.Query | None, limit: int) -> list[tuple[int, float]] | None:
        """The top ``limit`` (doc number, score) pairs, exactly as ``searcher.search(q, limit, filter=...)``
        ranks them; None when the arrays are stale for this searcher or cannot evaluate the query exactly."""
        scores = self._passage_scores(searcher, q, filter_q)
        return None if scores is None else _top(scores, limit)

    def search_articles(
        self, searcher, q: wq.Query, filter_q: wq.Query | None, limit: int, article_weight: float
    ) -> list[tuple[int, float]] | None:
        """The top ``limit`` articles as (doc number of the article's best passage, article score).

        An article's score is ``article_weight`` × its BM25F score as one document (term frequencies and
        lengths summed over its passages, document frequencies and average lengths counted in articles) plus
        ``1 - article_weight`` × its best passage's score. Only articles with a passage matching ``q`` and
        the filter are ranked. Queries the article level cannot score (anything but words combined by AND/OR)
        rank articles by their best passage. None when ``search`` would return None.
        """
        scores = self._passage_scores(searcher, q, filter_q)
        if scores is None:
            return None
        matched = np.flatnonzero(scores)
        articles = self.article_of[matched]
        # each article's best passage: the highest score, the lowest doc number among equals
        order = np.lexsort((matched, -scores[matched], articles))
        first = np.ones(len(order), dtype=bool)
        first[1:] = articles[order][1:] != articles[order][:-1]
        best = matched[order[first]]
        combined = scores[best]
        if article_weight:
            try:
                whole = self._article_scores(q, searcher.weighting)[self.article_of[best]]
                combined = article_weight * whole + (1 - article_weight) * combined
            except _Unsupported:
                pass  # best passage alone
        ranked = np.zeros(self.doc_count)
        ranked[best] = combined
        return _top(ranked, limit)

    def _passage_scores(self, searcher, q: wq.Query, filter_q: wq.Query | None) -> np.ndarray | None:
        """Every document's score under ``q`` (0: no match, or filtered out), or None (stale, unsupported)."""
        reader = searcher.reader()
        if reader.generation() != self.generation or reader.doc_count_all() != self.doc_count:
            return None
        try:
            allowed = self._filter_mask(filter_q) if filter_q is not None else None
            context = searcher.context()
            scores = np.zeros(self.doc_count)
            for subsearcher, offset in searcher.leaf_searchers():
                end = offset + subsearcher.reader().doc_count_all()
                scores[offset:end] = self._evaluate(q.matcher(subsearcher, context), offset, end)
        except _Unsupported:
            return None
        if allowed is not None:
            scores[~allowed] = 0.0
        return scores

    # --- article level: the query's words over articles as whole documents ----------------------------------

    def _article_scores(self, q: wq.Query, weighting) -> np.ndarray:
        """Each article's BM25F score under ``q`` (words, AND, OR, boosts), as if it were one document."""
        kind = type(q)
        if kind is wq.Or:
            total = np.zeros(self.article_count)
            for sub in q.subqueries:
                total += self._article_scores(sub, weighting)
            return total * q.boost
        if kind is wq.And:
            parts = [self._article_scores(sub, weighting) for sub in q.subqueries]
            every = np.logical_and.reduce([p != 0 for p in parts])
            return np.where(every, sum(parts), 0.0) * q.boost
        if kind is wq.Term and q.fieldname in self.fields:
            text = schema.SCHEMA[q.fieldname].to_bytes(q.text)
            tf = self._article_frequencies(q.fieldname, text)
            n = np.count_nonzero(np.logical_or.reduce([self._article_frequencies(f, text) for f in self.fields]))
            idf = log(1 + (self.article_count - n + 0.5) / (n + 0.5))
            lengths = self._lengths(q.fieldname)
            norm = (1 - weighting.B) + weighting.B * lengths / (lengths.sum() / self.article_count or 1.0)
            return idf * (tf * (weighting.K1 + 1)) / (tf + weighting.K1 * norm) * q.boost
        raise _Unsupported(kind.__name__)

    def _article_frequencies(self, field: str, text: bytes) -> np.ndarray:
        """The word's frequency (weight) per article in ``field``."""
        postings = self.fields[field]
        where = postings.slice(text)
        if where is None:
            return np.zeros(self.article_count)
        weights = np.asarray(postings.weights[where], dtype=np.float64)
        return self._per_article(field, self.article_of[postings.docs[where]], weights)

    def _lengths(self, field: str) -> np.ndarray:
        """Each article's length in ``field``."""
        if field not in self._article_lengths:
            live = self.article_of >= 0
            self._article_lengths[field] = self._per_article(
                field, self.article_of[live], self.fields[field].lengths[live]
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

    def _evaluate(self, m, start: int, end: int) -> np.ndarray:
        """Scores of documents ``start``..``end`` under matcher ``m``, 0 where it does not match."""
        kind = type(m)
        if kind is UnionMatcher:
            return self._evaluate(m.a, start, end) + self._evaluate(m.b, start, end)
        if kind is IntersectionMatcher:
            a, b = self._evaluate(m.a, start, end), self._evaluate(m.b, start, end)
            return np.where((a != 0) & (b != 0), a + b, 0.0)
        if kind is ArrayUnionMatcher:
            total = np.zeros(end - start)
            for sub in m._submatchers:
                total += self._evaluate(sub, start, end) * m._boost
            return total
        if kind is wrappers.FilterMatcher and m._exclude:  # a segment's deletions: the arrays hold none
            return self._evaluate(m.child, start, end) * m.boost
        if kind is wrappers.WrappingMatcher:
            return self._evaluate(m.child, start, end) * m.boost
        if kind is NullMatcherClass:
            return np.zeros(end - start)
        if m.is_leaf() and type(_scorer(m)) is BM25FScorer:
            return self._term_scores(m, start, end)
        raise _Unsupported(kind.__name__)

    def _term_scores(self, m, start: int, end: int) -> np.ndarray:
        fieldname, text = m.term()
        postings = self.fields.get(fieldname)
        if postings is None:
            raise _Unsupported(fieldname)
        out = np.zeros(end - start)
        where = postings.slice(text)
        if where is None:
            return out
        term_docs = postings.docs[where]
        lo, hi = np.searchsorted(term_docs, [start, end])
        docs = np.asarray(term_docs[lo:hi])
        tf = np.asarray(postings.weights[where][lo:hi], dtype=np.float64)
        fl = postings.lengths[docs]
        s = _scorer(m)
        # scoring.bm25(idf, tf, fl, avgfl, B, K1), operation for operation
        out[docs - start] = s.idf * ((tf * (s.K1 + 1)) / (tf + s.K1 * ((1 - s.B) + s.B * fl / s.avgfl)))
        return out

    # --- filters ------------------------------------------------------------------------------------------------

    def _filter_mask(self, f: wq.Query) -> np.ndarray:
        if isinstance(f, wq.And):
            mask = np.ones(self.doc_count, dtype=bool)
            for child in f.subqueries:
                mask &= self._filter_mask(child)
            return mask
        if type(f) is wq.Term and f.fieldname in self.filters and f.boost == 1.0:
            postings = self.filters[f.fieldname]
            mask = np.zeros(self.doc_count, dtype=bool)
            where = postings.slice(schema.SCHEMA[f.fieldname].to_bytes(f.text))
            if where is not None:
                mask[postings.docs[where]] = True
            return mask
        if isinstance(f, wq.NumericRange) and f.fieldname == DATE_FIELD:
            dated = self.dates != _UNDATED
            low = (self.dates > f.start if f.startexcl else self.dates >= f.start) if f.start is not None else dated
            high = (self.dates < f.end if f.endexcl else self.dates <= f.end) if f.end is not None else dated
            return dated & low & high
        raise _Unsupported(type(f).__name__)


def _top(scores: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """The ``limit`` best non-zero scores as (doc number, score): score descending, doc number ascending."""
    matched = np.flatnonzero(scores)
    if len(matched) > limit:
        kth = np.partition(scores[matched], len(matched) - limit)[len(matched) - limit]
        matched = matched[scores[matched] >= kth]
    order = np.lexsort((matched, -scores[matched]))[:limit]
    return [(int(matched[i]), float(scores[matched[i]])) for i in order]


def _scorer(m):
    """A leaf matcher's scorer (``ListMatcher``, which holds inlined postings, keeps it private)."""
    return getattr(m, "scorer", None) or getattr(m, "_scorer", None)


def write(index_path: str | os.PathLike, ix) -> None:
    """Write the arrays of the index's current generation into ``index_path/topk`` (replacing older ones)."""
    folder = Path(index_path) / FOLDER
    staging = Path(index_path) / f".{FOLDER}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    with ix.reader() as reader:
        leaves = reader.leaf_readers()
        live = np.ones(reader.doc_count_all(), dtype=bool)
        for leaf, offset in leaves:
            if leaf.has_deletions():
                for docnum in range(leaf.doc_count_all()):
                    live[offset + docnum] = not leaf.is_deleted(docnum)
        for field in SCORED_FIELDS:
            _write_postings(staging, field, leaves, live, weighted=True)
        for field in FILTER_FIELDS:
            _write_postings(staging, field, leaves, live, weighted=False)
        np.save(staging / f"{DATE_FIELD}.values.npy", _dates(leaves, live))
        np.save(staging / "article.values.npy", _articles(leaves, live))
        meta = {"format": FORMAT, "generation": reader.generation(), "doc_count": reader.doc_count_all(),
                "fields": list(SCORED_FIELDS)}
    (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)


def _write_postings(folder: Path, field: str, leaves, live: np.ndarray, weighted: bool) -> None:
    """Write one field's arrays a term at a time: memory holds one posting list, not the index's postings."""
    lexicons = [
        zip(leaf.lexicon(field), itertools.repeat(i)) for i, (leaf, _) in enumerate(leaves) if field in leaf.schema
    ]
    terms: list[bytes] = []
    offsets = [0]
    docs_out = _ArrayWriter(folder / f"{field}.docs.npy", np.int32)
    weights_out = _ArrayWriter(folder / f"{field}.weights.npy", np.float32) if weighted else None
    for term, group in itertools.groupby(heapq.merge(*lexicons), key=lambda term_leaf: term_leaf[0]):
        parts = [_leaf_postings(leaves[i][0], field, term, leaves[i][1]) for _, i in group]
        docs = np.concatenate([d for d, _ in parts])
        keep = live[docs]
        docs_out.append(docs[keep])
        if weights_out is not None:
            weights_out.append(np.concatenate([w for _, w in parts])[keep])
        terms.append(term)
        offsets.append(offsets[-1] + int(keep.sum()))
    docs_out.close()
    width = max((len(t) for t in terms), default=1)
    np.save(folder / f"{field}.terms.npy", np.array(terms, dtype=f"S{width}"))
    np.save(folder / f"{field}.offsets.npy", np.array(offsets, dtype=np.int64))
    if weights_out is not None:
        weights_out.close()
        lengths = np.zeros(len(live))
        for leaf, offset in leaves:
            for docnum in range(leaf.doc_count_all()):
                lengths[offset + docnum] = leaf.doc_field_length(docnum, field) or 0  # None: no such field
        np.save(folder / f"{field}.lengths.npy", lengths)


class _ArrayWriter:
    """A one-dimensional ``.npy`` file written a slice at a time: the data goes to a side file until ``close``
    knows the length for the header."""

    def __init__(self, path: Path, dtype: type) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.count = 0
        self._data = open(path.with_suffix(".part"), "w+b")

    def append(self, values: np.ndarray) -> None:
        self._data.write(values.astype(self.dtype, copy=False).tobytes())
        self.count += len(values)

    def close(self) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.count,)}
        with open(self.path, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            self._data.seek(0)
            shutil.copyfileobj(self._data, f, 1 << 20)
        self._data.close()
        os.unlink(self._data.name)


def _leaf_postings(leaf, field: str, term: bytes, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Doc numbers (global) and weights of one term in one segment, deleted documents included.

    Reads whole posting blocks of Whoosh 2.7.4's codec (pinned) rather than walking postings one by one.
    """
    m = leaf.postings(field, term)
    if isinstance(m, wrappers.FilterMatcher):
        m = m.child
    if not isinstance(m, W3LeafMatcher):  # postings inlined in the term info: one or two
        found = []
        while m.is_active():
            found.append((m.id(), m.weight()))
            m.next()
        return (np.array([d for d, _ in found], dtype=np.int32) + offset,
                np.array([w for _, w in found], dtype=np.float32))
    ids: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    while True:
        m._read_ids()
        m._read_weights()
        ids.append(np.asarray(m._ids, dtype=np.int32))
        weights.append(np.asarray(m._weights, dtype=np.float32))
        if m._lastblock:
            break
        m._goto(m._nextoffset)
    return np.concatenate(ids) + offset, np.concatenate(weights)


def _articles(leaves, live: np.ndarray) -> np.ndarray:
    """Each live document's article as an ordinal (0, 1, ... per distinct path and article id); deleted: -1."""
    keys = np.zeros((len(live), len(ARTICLE_FIELDS)), dtype=np.int64)
    for column, field in enumerate(ARTICLE_FIELDS):
        terms: dict[bytes, int] = {}
        for leaf, offset in leaves:
            for term in leaf.lexicon(field):
                docs, _ = _leaf_postings(leaf, field, term, offset)
                keys[docs, column] = terms.setdefault(term, len(terms))
    ordinals = np.full(len(live), -1, dtype=np.int64)
    if live.any():
        ordinals[live] = np.unique(keys[live], axis=0, return_inverse=True)[1].reshape(-1)
    return ordinals


def _dates(leaves, live: np.ndarray) -> np.ndarray:
    """Each document's date as Whoosh's range queries compare it (the NUMERIC long); undated: int64 min."""
    field = schema.SCHEMA[DATE_FIELD]
    values = np.full(len(live), _UNDATED, dtype=np.int64)
    for leaf, offset in leaves:
        for term in field.sortable_terms(leaf, DATE_FIELD):
            value = NUMERIC.from_bytes(field, term)
            docs, _ = _leaf_postings(leaf, DATE_FIELD, term, offset)
            values[docs] = value
    values[~live] = _UNDATED
    return values
