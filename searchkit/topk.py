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

import json
import mmap
import os
import re
import shutil
from array import array
from collections.abc import Iterator, Mapping
from math import log
from pathlib import Path

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.fields import NUMERIC
from whoosh.matching import wrappers
from whoosh.matching.binary import AndMaybeMatcher, IntersectionMatcher, UnionMatcher
from whoosh.matching.combo import ArrayUnionMatcher
from whoosh.matching.mcore import NullMatcherClass
from whoosh.scoring import BM25FScorer

from . import schema
from .errors import IndexCorrupt, IndexUntrusted

__all__ = ["TopK", "write", "FOLDER"]

FOLDER = "topk"
FORMAT = 3
SCORED_FIELDS = schema.SEARCH_FIELDS
FILTER_FIELDS = ("source", "place", "speaker")
DATE_FIELD = "date"
ARTICLE_FIELDS = ("path", "article")
"""Together they name an article: an article id is unique within its file."""
POSTING_FIELDS = (*SCORED_FIELDS, *FILTER_FIELDS, *ARTICLE_FIELDS)
"""The fields whose postings each segment's ``.topk`` file holds (and each document's date)."""
SEGMENT_EXT = ".topk"
"""A segment's arrays file is named like its Whoosh files, so that Whoosh deletes it with the segment."""
HEADLINE_FIELDS = ("title",)
"""Fields every passage repeats from its article: an article's frequency and length there are one passage's."""
_UNDATED = np.iinfo(np.int64).min


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

    def __init__(self, file: Path, segment_id: str, offset: int, doc_count: int) -> None:
        self.id = segment_id
        self.offset = offset
        self.doc_count = doc_count
        arrays = _read_arrays(file)
        self.fields = {f: _Postings(arrays, f) for f in (*SCORED_FIELDS, *FILTER_FIELDS)}


class TopK:
    """The arrays of one index generation; ``search`` answers a query from them or returns None."""

    def __init__(self, index_dir: Path, meta: dict) -> None:
        folder = index_dir / FOLDER
        self.index_dir = index_dir
        self.generation = meta["generation"]
        self.doc_count = meta["doc_count"]
        self.segments = [_Segment(_segment_file(index_dir, segment_id), segment_id, offset, count)
                         for segment_id, offset, count in meta["segments"]]
        self.lengths = {f: _load_column(folder / f"{f}.lengths.npy", "uf", self.doc_count, mapped=True)
                        for f in SCORED_FIELDS}
        self.live = _load_column(folder / "live.npy", "b", self.doc_count)
        self.dates = _load_column(folder / f"{DATE_FIELD}.values.npy", "i", self.doc_count, mapped=True)
        self.article_of = _load_column(folder / "article.values.npy", "i", self.doc_count)
        self.article_count = int(self.article_of.max(initial=-1)) + 1
        self._article_lengths: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, index_path: str | os.PathLike) -> TopK | None:
        """The arrays stored in the index, or None when there are none (or of another format).

        Raises:
            IndexCorrupt: ``meta.json`` is not what ``write`` writes (``IndexUntrusted``: it names a file
                outside the index).
        """
        index_dir = Path(index_path)
        try:
            meta = json.loads((index_dir / FOLDER / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("fields") != list(SCORED_FIELDS):
            return None
        _check_meta(index_dir / FOLDER / "meta.json", meta)
        return cls(index_dir, meta)

    def search(self, searcher, q: wq.Query, filter_q: wq.Query | None, limit: int) -> list[tuple[int, float]] | None:
        """The top ``limit`` (doc number, score) pairs, exactly as ``searcher.search(q, limit, filter=...)``
        ranks them; None when the arrays are stale for this searcher or cannot evaluate the query exactly."""
        scores = self._passage_scores(searcher, q, filter_q)
        return None if scores is None else _top(scores, limit)

    def search_by_date(
        self, searcher, q: wq.Query, filter_q: wq.Query | None, limit: int
    ) -> list[tuple[int, float]] | None:
        """The first ``limit`` matches as (doc number, score) by date, newest first, then by score, best first,
        then by doc number (undated last); None when ``search`` would return None."""
        scores = self._passage_scores(searcher, q, filter_q)
        if scores is None:
            return None
        matched = np.flatnonzero(scores)
        # ~date orders newest first without overflow; the undated (the smallest value) go last
        order = np.lexsort((matched, -scores[matched], ~np.asarray(self.dates[matched])))[:limit]
        return [(int(matched[i]), float(scores[matched[i]])) for i in order]

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
        leaves = searcher.leaf_searchers()
        if (reader.generation() != self.generation or reader.doc_count_all() != self.doc_count
                or [s.reader().segment().segment_id() for s, _ in leaves] != [s.id for s in self.segments]):
            return None
        try:
            allowed = self._filter_mask(filter_q) if filter_q is not None else self.live
            context = searcher.context()
            scores = np.zeros(self.doc_count)
            for (subsearcher, _), segment in zip(leaves, self.segments):
                end = segment.offset + segment.doc_count
                scores[segment.offset:end] = self._evaluate(q.matcher(subsearcher, context), segment)
        except _Unsupported:
            return None
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
        if kind is wq.Term and q.fieldname in SCORED_FIELDS:
            text = schema.SCHEMA[q.fieldname].to_bytes(q.text)
            tf = self._article_frequencies(q.fieldname, text)
            n = np.count_nonzero(np.logical_or.reduce([self._article_frequencies(f, text) for f in SCORED_FIELDS]))
            idf = log(1 + (self.article_count - n + 0.5) / (n + 0.5))
            lengths = self._lengths(q.fieldname)
            norm = (1 - weighting.B) + weighting.B * lengths / (lengths.sum() / self.article_count or 1.0)
            return idf * (tf * (weighting.K1 + 1)) / (tf + weighting.K1 * norm) * q.boost
        raise _Unsupported(kind.__name__)

    def _article_frequencies(self, field: str, text: bytes) -> np.ndarray:
        """The word's frequency (weight) per article in ``field``."""
        docs, weights = [], []
        for segment in self.segments:
            postings = segment.fields[field]
            where = postings.slice(text)
            if where is not None:
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
        if kind is ArrayUnionMatcher:
            total = np.zeros(segment.doc_count)
            for sub in m._submatchers:
                total += self._evaluate(sub, segment) * m._boost
            return total
        if kind is wrappers.FilterMatcher and m._exclude:  # the segment's deletions: masked out with ``live``
            return self._evaluate(m.child, segment) * m.boost
        if kind is wrappers.WrappingMatcher:
            return self._evaluate(m.child, segment) * m.boost
        if kind is NullMatcherClass:
            return np.zeros(segment.doc_count)
        if m.is_leaf() and type(_scorer(m)) is BM25FScorer:
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
        # scoring.bm25(idf, tf, fl, avgfl, B, K1), operation for operation
        out[docs] = s.idf * ((tf * (s.K1 + 1)) / (tf + s.K1 * ((1 - s.B) + s.B * fl / s.avgfl)))
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


class SegmentArrays:
    """One segment's postings of ``POSTING_FIELDS``, collected a term at a time and saved as its ``.topk`` file.

    ``segments.SegmentBuilder`` fills one from the postings it holds in memory as it writes a segment; ``write``
    reads back a segment Whoosh wrote itself (one without a file).
    """

    fields = (*POSTING_FIELDS, DATE_FIELD)
    """The fields ``add`` takes."""

    def __init__(self) -> None:
        self._terms: dict[str, list[bytes]] = {f: [] for f in POSTING_FIELDS}
        self._counts: dict[str, list[int]] = {f: [] for f in POSTING_FIELDS}
        self._docs = {f: array("I") for f in POSTING_FIELDS}
        self._weights = {f: array("f") for f in SCORED_FIELDS}
        self._dates: list[tuple[int, np.ndarray]] = []

    def add(self, field: str, term: bytes, docs, weights) -> None:
        """A term's postings in ``field`` (in term order): doc numbers and weights."""
        if field == DATE_FIELD:
            if term[:1] == b"\x00":  # the full-precision term (as in NUMERIC.sortable_terms)
                self._dates.append((NUMERIC.from_bytes(schema.SCHEMA[DATE_FIELD], term), np.array(docs)))
            return
        self._terms[field].append(term)
        self._counts[field].append(len(docs))
        self._docs[field].extend(docs)
        if field in self._weights:
            self._weights[field].extend(weights)

    def save(self, index_dir: str | os.PathLike, segment_id: str, doc_count: int, lengths: Mapping) -> None:
        """Write the file of segment ``segment_id`` (of ``doc_count`` documents) into ``index_dir``, with each
        scored field's lengths by doc number (missing: none of the documents has the field)."""
        arrays = {}
        for field in POSTING_FIELDS:
            terms = self._terms[field]
            docs = np.frombuffer(self._docs[field], dtype=np.uint32).astype(np.int32)
            arrays[f"{field}.terms"] = np.array(terms, dtype=f"S{max(map(len, terms), default=1)}")
            arrays[f"{field}.offsets"] = np.concatenate([[0], np.cumsum(self._counts[field], dtype=np.int64)])
            arrays[f"{field}.docs"] = docs
            if field in self._weights:
                arrays[f"{field}.weights"] = np.frombuffer(self._weights[field], dtype=np.float32)
                field_lengths = lengths.get(field)
                arrays[f"{field}.lengths"] = (np.zeros(doc_count) if field_lengths is None
                                              else np.array(field_lengths, dtype=np.float64))
        dates = np.full(doc_count, _UNDATED, dtype=np.int64)
        for value, docs in self._dates:
            dates[docs] = value
        arrays[f"{DATE_FIELD}.values"] = dates
        _write_arrays(_segment_file(Path(index_dir), segment_id), arrays)


def write(index_path: str | os.PathLike, ix) -> None:
    """Write the arrays of the index's current generation: a ``.topk`` file for each segment that has none yet
    (those Whoosh wrote), and ``index_path/topk`` (per document: live, date, article, field lengths)."""
    index_dir = Path(index_path)
    folder = index_dir / FOLDER
    staging = index_dir / f".{FOLDER}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    with ix.reader() as reader:
        doc_count = reader.doc_count_all()
        live = np.ones(doc_count, dtype=bool)
        segments = []
        for leaf, offset in reader.leaf_readers():
            segment_id = leaf.segment().segment_id()
            if not _segment_file(index_dir, segment_id).exists():
                copy, field_lengths = _read_back(leaf)
                copy.save(index_dir, segment_id, leaf.doc_count_all(), field_lengths)
            if leaf.has_deletions():
                for docnum in range(leaf.doc_count_all()):
                    live[offset + docnum] = not leaf.is_deleted(docnum)
            segments.append((segment_id, offset, leaf.doc_count_all()))
        arrays = [_read_arrays(_segment_file(index_dir, segment_id)) for segment_id, _, _ in segments]
        offsets = [offset for _, offset, _ in segments]
        for field in SCORED_FIELDS:
            lengths = np.concatenate([a[f"{field}.lengths"] for a in arrays]) if arrays else np.zeros(0)
            np.save(staging / f"{field}.lengths.npy", lengths)
        np.save(staging / "live.npy", live)
        dates = np.concatenate([a[f"{DATE_FIELD}.values"] for a in arrays]) if arrays else np.zeros(0, np.int64)
        np.save(staging / f"{DATE_FIELD}.values.npy", np.where(live, dates, _UNDATED))
        np.save(staging / "article.values.npy", _articles(arrays, offsets, live))
        meta = {"format": FORMAT, "generation": reader.generation(), "doc_count": doc_count,
                "fields": list(SCORED_FIELDS), "segments": segments}
    (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)


def _segment_file(index_dir: Path, segment_id: str) -> Path:
    return index_dir / f"{segment_id}{SEGMENT_EXT}"


_SEGMENT_ID = re.compile(r"[A-Za-z0-9_]+")
"""Whoosh's segment ids (``MAIN_`` and random letters and digits): never a path."""


def _check_meta(file: Path, meta: dict) -> None:
    """Refuse a ``meta.json`` whose values are not of the types ``write`` writes, or that names other files."""
    segments = meta.get("segments")
    if not (isinstance(meta.get("generation"), int) and isinstance(meta.get("doc_count"), int)
            and meta["doc_count"] >= 0 and isinstance(segments, list)
            and all(isinstance(s, list) and len(s) == 3 and isinstance(s[0], str)
                    and all(isinstance(n, int) and n >= 0 for n in s[1:]) for s in segments)):
        raise IndexCorrupt(f"{file} is not a top-k arrays table (damaged or crafted)")
    for segment_id, _, _ in segments:
        if not _SEGMENT_ID.fullmatch(segment_id):
            raise IndexUntrusted(f"a segment id {segment_id!r} in {file.name}, which names no file of the index")


def _load_column(file: Path, kinds: str, length: int, *, mapped: bool = False) -> np.ndarray:
    """A one-dimensional array of ``length`` values saved by ``np.save`` (read, or ``mapped`` read-only); never
    unpickled: an object array is refused."""
    values = np.load(file, mmap_mode="r" if mapped else None, allow_pickle=False)
    if values.ndim != 1 or values.dtype.kind not in kinds or len(values) != length:
        raise IndexCorrupt(f"{file} holds a {values.dtype} array of shape {values.shape}, not {length} values")
    return values


def _read_back(leaf) -> tuple[SegmentArrays, dict[str, np.ndarray]]:
    """The arrays of a segment Whoosh wrote, read from its postings, and its scored fields' lengths."""
    copy = SegmentArrays()
    lengths = {field: np.array([leaf.doc_field_length(d, field) or 0 for d in range(leaf.doc_count_all())],
                               dtype=np.uint32)  # None: no such field
               for field in SCORED_FIELDS if field in leaf.schema}
    for field in copy.fields:
        if field not in leaf.schema:
            continue
        for term in leaf.lexicon(field):
            docs, weights = _leaf_postings(leaf, field, term)
            copy.add(field, term, array("I", docs.astype(np.uint32).tobytes()), array("f", weights.tobytes()))
    return copy, lengths


_MAGIC = b"searchkit-topk 1\n"


def _write_arrays(file: Path, arrays: dict[str, np.ndarray]) -> None:
    """Named one-dimensional arrays in one file: a JSON table of contents, then each array's bytes (8-aligned)."""
    table, position = {}, 0
    for name, values in arrays.items():
        table[name] = [values.dtype.str, len(values), position]
        position += -(-values.nbytes // 8) * 8
    head = json.dumps(table).encode("utf-8")
    start = -(-(len(_MAGIC) + 8 + len(head)) // 8) * 8
    with open(file, "wb") as f:
        f.write(_MAGIC + len(head).to_bytes(8, "little") + head)
        for name, values in arrays.items():
            f.seek(start + table[name][2])
            f.write(values.tobytes())
        f.truncate(start + position)


def _read_arrays(file: Path) -> dict[str, np.ndarray]:
    """The arrays of a file ``_write_arrays`` wrote, mapped read-only (not read into memory)."""
    with open(file, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if data[:len(_MAGIC)] != _MAGIC:
        raise ValueError(f"{file.name} is not a top-k arrays file")
    size = int.from_bytes(data[len(_MAGIC):len(_MAGIC) + 8], "little")
    head_end = len(_MAGIC) + 8 + size
    table = json.loads(data[len(_MAGIC) + 8:head_end])
    start = -(-head_end // 8) * 8
    arrays = {}
    for name, entry in table.items() if isinstance(table, dict) else ():
        dtype, count, position = entry if isinstance(entry, list) and len(entry) == 3 else (None, None, None)
        if not (isinstance(dtype, str) and _ARRAY_DTYPE.fullmatch(dtype) and isinstance(count, int)
                and isinstance(position, int) and count >= 0 and position >= 0):
            raise ValueError(f"{file.name} has a malformed table of contents")
        arrays[name] = np.frombuffer(data, dtype=np.dtype(dtype), count=count, offset=start + position)
    return arrays


_ARRAY_DTYPE = re.compile(r"[<>|=]?([biuf][1248]|S\d{1,9})")
"""The dtypes ``_write_arrays`` writes (numbers, fixed-length bytes): never objects, records or sub-arrays."""


def _leaf_postings(leaf, field: str, term: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Doc numbers and weights of one term in one segment, deleted documents included.

    Reads whole posting blocks of Whoosh 2.7.4's codec (pinned) rather than walking postings one by one.
    """
    m = leaf.postings(field, term)
    if isinstance(m, wrappers.FilterMatcher):  # the segment's deletions: it has moved its child past deleted ones
        m = m.child
        m.reset()
    if not isinstance(m, W3LeafMatcher):  # postings inlined in the term info: one or two
        found = []
        while m.is_active():
            found.append((m.id(), m.weight()))
            m.next()
        return (np.array([d for d, _ in found], dtype=np.int64),
                np.array([w for _, w in found], dtype=np.float32))
    ids: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    while True:
        m._read_ids()
        m._read_weights()
        ids.append(np.asarray(m._ids, dtype=np.int64))
        weights.append(np.asarray(m._weights, dtype=np.float32))
        if m._lastblock:
            break
        m._goto(m._nextoffset)
    return np.concatenate(ids), np.concatenate(weights)


def _term_docs(arrays: dict[str, np.ndarray], field: str) -> Iterator[tuple[bytes, np.ndarray]]:
    """Each term of ``field`` in one segment's arrays, with its (segment) doc numbers."""
    terms, offsets, docs = arrays[f"{field}.terms"], arrays[f"{field}.offsets"], arrays[f"{field}.docs"]
    for i, term in enumerate(terms.tolist()):
        yield term, docs[offsets[i]:offsets[i + 1]]


def _articles(arrays: list[dict[str, np.ndarray]], offsets: list[int], live: np.ndarray) -> np.ndarray:
    """Each live document's article as an ordinal (0, 1, ... per distinct path and article id); deleted: -1."""
    keys = np.zeros((len(live), len(ARTICLE_FIELDS)), dtype=np.int64)
    for column, field in enumerate(ARTICLE_FIELDS):
        ids: dict[bytes, int] = {}
        for segment, offset in zip(arrays, offsets):
            for term, docs in _term_docs(segment, field):
                keys[docs + offset, column] = ids.setdefault(term, len(ids))
    ordinals = np.full(len(live), -1, dtype=np.int64)
    if live.any():
        ordinals[live] = np.unique(keys[live], axis=0, return_inverse=True)[1].reshape(-1)
    return ordinals
