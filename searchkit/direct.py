"""A query of plain words answered from the index files alone, for ``searchkit query`` run once (``oneshot``):
without Whoosh's query language, searcher and codec, or NumPy, whose imports would take longer than the search.

The words' terms are looked up in each segment's ``.topk`` postings (``arrayfile``) and scored by ``scoring.bm25``
with the statistics Whoosh's reader gives (passages, each field's total length from ``topk/meta.json``, document
frequencies from the postings), summed in the order of the binary union tree of ``query.OrderedOr`` (the order
``topk`` sums in), ranked by score then passage id; the hits' stored fields are read from each segment's stored
column (``blockcolumn``) and highlighted by ``highlight``. ``search`` answers only what it answers as
``Index.search`` does and returns None for anything else, which the caller then runs through ``Index.search``:
query syntax, filters, another sort, a word that is part of a place name, a word "did you mean" reads the
vocabulary for, a sharded index, an index without these arrays, and any error.
"""

from __future__ import annotations

import heapq
import os
import re
import sys
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import arrayfile, schema, scoring, store, suggest
from .blockcolumn import STORED_FIELDS, BlockColumn
from .errors import SearchkitError
from .highlight import MatchTerms, highlight
from .manifests import checked_manifest
from .models import Hit, Passage, Results
from .places import may_name_a_place
from .querywords import plain_terms
from .safepickle import stored_fields_loads
from .scoring import SEARCH_FIELDS, FrozenStatistics
from .settings import Settings

if TYPE_CHECKING:
    from .vocabulary import Vocabulary

__all__ = ["search", "MAX_POSTINGS"]

MAX_POSTINGS = 100_000
"""A query whose terms have more postings than this is left to ``Index.search``: scoring them one at a time in
Python takes about a microsecond each, and beyond this many NumPy's import (about 50 ms) pays for itself."""
_LONGEST_TEXT = 1_000
_MOST_WORDS = 64
"""Longer texts, and texts of more words, are left to ``Index.search`` (which bounds both: ``query.MAX_TERMS``)."""
_MOST_OFFSET = 10_000
"""``query.MAX_OFFSET``: a larger offset is ``Index.search``'s error to report."""
_CASTS: dict[str, Any] = {
    "b1": "?", "u1": "B", "u2": "H", "u4": "I", "u8": "Q", "i1": "b", "i2": "h", "i4": "i", "i8": "q", "f4": "f",
    "f8": "d",
}
"""NumPy dtypes (without their byte order) → ``memoryview.cast`` formats."""
_NPY_MAGIC = b"\x93NUMPY"
_NPY_HEADER = re.compile(r"\{'descr': '([<|][a-z]\d)', 'fortran_order': False, 'shape': \((\d+),\), \}")


class _Declined(Exception):
    """The query or the index is not one ``search`` answers: ``Index.search`` runs it."""


Term = tuple[str, str]
"""A term of the query: its field and its text."""


def search(path: Path, text: str, *, limit: int, offset: int, aliases: bool) -> Results | None:
    """``Index.open(path).search(text, limit=limit, offset=offset, aliases=aliases)``'s results, for plain words and
    an index this module reads (see above), or None: ``Index.search`` is to run it (and to report any error)."""
    if sys.byteorder != "little" or not store.is_store(path):
        return None
    try:
        terms = _terms(text, aliases)
        lease = store.ReaderLease(path)
    except (_Declined, SearchkitError, OSError):
        return None
    try:
        return _Generation(path, lease).search(text, terms, limit, offset)
    except (_Declined, SearchkitError, *store.DECODING_ERRORS):
        return None
    finally:
        lease.release()


def _terms(text: str, aliases: bool) -> list[Term]:
    """The terms of the query Whoosh's parser makes of plain words, as ``query.build_query`` normalises them: each
    word's term in each search field, in order, each once (``Or.normalize`` drops a repeated term)."""
    words = text.split()
    terms = plain_terms(words) if words and len(text) <= _LONGEST_TEXT and len(words) <= _MOST_WORDS else None
    if terms is None:
        raise _Declined("not plain words")
    if not terms:
        raise _Declined("only stop words")  # ``NothingToSearch``, reported by ``Index.search``
    if aliases and may_name_a_place(frozenset(terms)):
        raise _Declined("a place name's word")
    return [(field, term) for term in terms for field in SEARCH_FIELDS]


class _Generation:
    """The live generation of an index, read for one query: its manifest (checked as ``Index.open`` checks it), its
    arrays' table and columns, and its segments' postings and stored fields, each mapped as it is first needed."""

    def __init__(self, path: Path, lease: store.ReaderLease) -> None:
        self.path = path
        self.lease = lease
        self.manifest, self.settings = checked_manifest(path, lease, verify=False, settings=None)
        if self.manifest.get("format") != "searchkit-index":
            raise _Declined("a sharded index")
        directory = self.directory = lease.directory
        meta = arrayfile.read_meta(directory)
        lengths = meta and meta.get("field_lengths")
        if meta is None or not isinstance(lengths, dict) or \
                not all(isinstance(lengths.get(f), int) for f in SEARCH_FIELDS):
            raise _Declined("no arrays of this format")
        if not (directory / f"_MAIN_{meta['generation']}.toc").is_file():
            raise _Declined("arrays of another generation")  # ``IndexCorrupt``, reported by ``Index.open``
        self.doc_count: int = meta["doc_count"]
        self._columns: dict[str, memoryview] = {}
        self.live = self._column("live", "|b1").tobytes()
        """Each passage's liveness as a byte (1: live), read once: a mapped column's items are slower to index."""
        if self.live.count(1) != self.manifest.get("counts", {}).get("passages"):
            raise _Declined("passages other than the manifest's")  # ``IndexCorrupt``, reported by ``Index.open``
        self.field_lengths = {f: lengths[f] for f in SEARCH_FIELDS}
        self.segments = [_Segment(directory, segment_id, offset, count)
                         for segment_id, offset, count in meta["segments"]]
        if sum(s.doc_count for s in self.segments) != self.doc_count:
            raise _Declined("segments of another generation")
        self.frequencies: dict[tuple[str, bytes], int] = {}

    # --- what ``suggest.suggestion`` reads ----------------------------------------------------------------

    def lexicon(self) -> _Generation:
        return self

    def vocabulary(self) -> Vocabulary:
        raise _Declined("a word for which did you mean reads the vocabulary")

    def doc_frequency(self, fieldname: str, text: bytes) -> int:
        """How many passages hold ``text`` in ``fieldname``, deleted ones too (as Whoosh counts them)."""
        key = (fieldname, text)
        if key not in self.frequencies:
            self.frequencies[key] = sum(s.frequency(fieldname, text) for s in self.segments)
        return self.frequencies[key]

    # --- the search -------------------------------------------------------------------------------------------

    def search(self, text: str, terms: list[Term], limit: int, offset: int) -> Results:
        if limit < 1 or not 0 <= offset <= _MOST_OFFSET:
            raise _Declined("a limit or offset out of bounds")  # ``Index.search``'s error
        settings: Settings = self.settings
        stats = FrozenStatistics(
            self.doc_count, self.field_lengths,
            {(name, t.encode("utf-8")): self.doc_frequency(name, t.encode("utf-8")) for _, t in terms
             for name in SEARCH_FIELDS},
        )
        if sum(stats.passage_frequency(f, t.encode("utf-8")) for f, t in terms) > MAX_POSTINGS:
            raise _Declined("too many postings for Python")
        suggestion = suggest.suggestion(text, self, syntax=True)  # before the hits are read: it may decline
        scores = _tree([self._scores(field, term, stats, settings) for field, term in terms])
        live = self.live
        matches = {doc: score for doc, score in scores.items() if live[doc]}
        shown = self._ranked(matches, limit + offset)[offset:]
        body_terms = MatchTerms(frozenset(t for f, t in terms if f == "body"), ())
        hits = []
        for rank, (doc, score) in enumerate(shown, start=offset + 1):
            passage = self._passage(doc)
            hits.append(Hit(rank, score, passage, highlight(passage.text, body_terms)))
        results = Results(hits, total=len(matches), suggestion=suggestion)
        results.generation = self.lease.generation
        return results

    def _scores(self, field: str, term: str, stats: FrozenStatistics, settings: Settings) -> dict[int, float]:
        """A term's postings scored as ``topk`` (and Whoosh's ``BM25FScorer``) scores them, the title's boost
        applied: doc number → score, for the scores other than 0."""
        text = term.encode("utf-8")
        boost = settings.title_boost if field == "title" else 1.0
        idf = scoring.passage_idf(stats, field, text)
        average = scoring.average_length(stats.passage_length(field), stats.passages)
        lengths = self._column(f"{field}.lengths", "|u1", "<u2", "<u4", "<u8")
        scored: dict[int, float] = {}
        for segment in self.segments:
            for doc, tf in segment.postings(field, text):
                score = scoring.bm25(idf, float(tf), lengths[doc], average, settings)
                if score and boost != 1.0:
                    score *= boost
                if score:
                    scored[doc] = score
        return scored

    def _ranked(self, matches: dict[int, float], count: int) -> list[tuple[int, float]]:
        """The best ``count`` of ``matches`` by score, equal scores by passage id (``backend.tiebreak``, whose keys
        ``topk/id.values`` holds)."""
        if len(matches) > count:
            kth = heapq.nlargest(count, matches.values())[-1]
            matches = {doc: score for doc, score in matches.items() if score >= kth}
        ids = self._column("id.values", "<u8")
        return sorted(matches.items(), key=lambda item: (-item[1], ids[item[0]]))[:count]

    def _passage(self, doc: int) -> Passage:
        """The passage of doc number ``doc``, its path resolved against the index's parent (as ``LocalBackend``)."""
        segment = next((s for s in self.segments if s.offset <= doc < s.offset + s.doc_count), None)
        if segment is None:
            raise _Declined("a doc number of no segment")  # a damaged table: ``Index.open`` reports it
        stored = segment.stored_fields(doc - segment.offset)
        root = self.path.resolve().parent
        return schema.to_passage(stored, os.path.normpath(os.path.join(root, stored["path"])))

    def _column(self, name: str, *dtypes: str) -> memoryview:
        """The generation's column ``topk/<name>.npy`` of ``doc_count`` values of one of ``dtypes``, mapped."""
        if name not in self._columns:
            self._columns[name] = _npy(self.directory / arrayfile.FOLDER / f"{name}.npy", dtypes, self.doc_count)
        return self._columns[name]


def _tree(parts: list[dict[int, float]]) -> dict[int, float]:
    """``parts`` summed as ``topk._tree`` pairs ``topk._union``: the first half with the second, ``a + b`` where
    both hold a document."""
    if len(parts) == 1:
        return parts[0]
    half = len(parts) // 2
    first, second = _tree(parts[:half]), _tree(parts[half:])
    summed = dict(first)
    for doc, score in second.items():
        summed[doc] = summed[doc] + score if doc in summed else score
    return summed


class _Segment:
    """One segment: its postings (its ``.topk`` file) and its stored fields (its stored column), mapped."""

    def __init__(self, directory: Path, segment_id: str, offset: int, doc_count: int) -> None:
        self.directory = directory
        self.id = segment_id
        self.offset = offset
        self.doc_count = doc_count
        file = directory / f"{segment_id}{arrayfile.SEGMENT_EXT}"
        self._data = arrayfile.mapped(file)
        self._table = arrayfile.table(self._data, file.name)
        self._stored: BlockColumn.Reader | None = None
        self._slices: dict[tuple[str, bytes], tuple[int, int] | None] = {}

    def _slice(self, field: str, term: bytes) -> tuple[int, int] | None:
        """Where ``term``'s postings in ``field`` are in the field's doc numbers (and weights), or None; looked up
        once per term (for its frequency, then its postings)."""
        key = (field, term)
        if key not in self._slices:
            self._slices[key] = self._lookup(field, term)
        return self._slices[key]

    def _lookup(self, field: str, term: bytes) -> tuple[int, int] | None:
        dtype, count, at = self._table[f"{field}.terms"]
        width = int(dtype.lstrip("|")[1:])
        if len(term) > width:
            return None
        padded = term.ljust(width, b"\0")
        data = self._data
        i = bisect_left(range(count), padded, key=lambda n: data[at + n * width:at + (n + 1) * width])
        if i == count or data[at + i * width:at + (i + 1) * width] != padded:
            return None
        offsets = self._array(f"{field}.offsets")
        return offsets[i], offsets[i + 1]

    def frequency(self, field: str, term: bytes) -> int:
        where = self._slice(field, term)
        return 0 if where is None else where[1] - where[0]

    def postings(self, field: str, term: bytes) -> Iterator[tuple[int, float]]:
        """``term``'s postings in ``field``: (doc number in the index, weight)."""
        where = self._slice(field, term)
        if where is None:
            return iter(())
        start, end = where
        docs, weights = self._array(f"{field}.docs")[start:end], self._array(f"{field}.weights")[start:end]
        return zip((doc + self.offset for doc in docs), weights)

    def _array(self, name: str) -> memoryview:
        dtype, count, at = self._table[name]
        cast = _CASTS[dtype[1:] if dtype[0] in "<|" else dtype]
        size = int(dtype[-1])
        return memoryview(self._data)[at:at + count * size].cast(cast)

    def stored_fields(self, doc: int) -> dict:
        """The stored fields of doc number ``doc`` of the segment, as Whoosh's reader returns them."""
        if self._stored is None:
            file = self.directory / f"{self.id}.{STORED_FIELDS}.col"
            data = arrayfile.mapped(file)
            self._stored = BlockColumn().reader(_File(data), 0, len(data), self.doc_count)
        value = self._stored[doc]
        return stored_fields_loads(value) if value else {}


class _File:
    """A mapped file as Whoosh's column readers read one (``get``)."""

    def __init__(self, data) -> None:
        self._data = data

    def get(self, position: int, length: int) -> bytes:
        return self._data[position:position + length]


def _npy(file: Path, dtypes: tuple[str, ...], length: int) -> memoryview:
    """The one-dimensional ``.npy`` file of ``length`` values of one of ``dtypes`` (as ``np.save`` writes it),
    mapped.

    Raises:
        ValueError: it holds anything else.
    """
    data = arrayfile.mapped(file)
    if data[:6] != _NPY_MAGIC or data[6] not in (1, 2, 3):
        raise ValueError(f"{file.name} is not an .npy file")
    size_bytes = 2 if data[6] == 1 else 4
    size = int.from_bytes(data[8:8 + size_bytes], "little")
    start = 8 + size_bytes
    header = _NPY_HEADER.match(data[start:start + size].decode("latin-1"))
    if header is None or header[1] not in dtypes or int(header[2]) != length:
        raise ValueError(f"{file.name} is not {length} values of {' or '.join(dtypes)}")
    dtype = header[1]
    at = start + size
    return memoryview(data)[at:at + length * int(dtype[-1])].cast(_CASTS[dtype[1:]])
