"""Index documents → Whoosh segments: Whoosh's file format without Whoosh's per-posting path (the codec).

Whoosh's SegmentWriter sends every posting through a sorting pool (pickled to disk and merged back) and then
through several Python calls into the postings writer: most of a build's time. ``SegmentBuilder`` writes the
same W3 codec files with the same codec objects — any Whoosh reader opens them, and a test checks that they
hold what Whoosh's own writer makes — but groups postings by term in memory as documents arrive,
analyses the stemmed text fields in one loop (``schema.index_terms``), reuses the terms of repeated keyword and
number values (a file's path, an article's date), and writes each term's posting blocks and terms-table row
itself, a block at a time (``_TermWriter``). ``pool`` runs builders over one process per core.
"""

from __future__ import annotations

import zlib
from array import array
from collections import Counter
from datetime import datetime
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from whoosh.codec.base import Segment
from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3TermInfo
from whoosh.compat import dumps
from whoosh.formats import Positions
from whoosh.index import FileIndex
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numlists import delta_encode
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

from .errors import IndexWriteError
from .schema import ANALYZER, SEARCH_FIELDS, index_terms, written_words

__all__ = ["SegmentBuilder", "PostingsCopy", "SaveWords", "DocumentError"]


class DocumentError(IndexWriteError):
    """One document's fields cannot be analysed (the cause is chained); nothing of it was added."""


class PostingsCopy(Protocol):
    """Takes a copy of some fields' postings as a builder writes them out, and of some fields' values as documents
    are added, and saves it beside the segment."""

    fields: Collection[str]
    stored: Collection[str]
    """The fields whose values (as stored) ``add_value`` takes."""

    def add(self, field: str, term: bytes, docs: array, weights: array) -> None:
        """One term's postings, in term order: doc numbers and weights."""

    def add_value(self, docnum: int, field: str, value: Any) -> None:
        """One document's value of a ``stored`` field, as it is stored."""

    def save(self, index_dir: str, segment_id: str, doc_count: int, lengths: Mapping[str, array]) -> None:
        """Called once the segment's postings are written, with each scored field's length by doc number."""


SaveWords = Callable[[str, str, Counter], None]
"""``save(index_dir, segment_id, words)``: called once a segment is written, with how often each word token (as
written, stop words too) occurs in its documents' searched fields (``schema.SEARCH_FIELDS``)."""


class _TermPostings:
    __slots__ = ("docs", "weights", "values")

    def __init__(self) -> None:
        self.docs = array("I")
        self.weights = array("f")
        self.values: list[bytes] = []


class SegmentBuilder(SegmentWriter):
    """Writes one new segment of ``ix``; ``finish()`` returns it (the caller commits it, see
    ``pool.write_segments``).

    Takes the documents ``IndexWriter.add_document`` takes, for schemas without term vectors or spelling
    fields; per-field and per-document boosts (``_boost`` keys) are not supported. With ``copy``, a new
    ``PostingsCopy`` is given the values of its stored fields as documents are added and the postings of its
    fields as they are written; with ``words``, the segment's word counts are saved (see ``SaveWords``).
    """

    def __init__(
        self, ix: FileIndex, copy: Callable[[], PostingsCopy] | None = None, words: SaveWords | None = None,
    ) -> None:
        super().__init__(ix, _lk=False, compound=False)
        self._copy = copy() if copy else None
        self._save_words = words
        self._words: Counter[str] = Counter()
        """Word tokens of the searched fields as written, counted (for ``words``)."""
        if any(field.vector or field.separate_spelling() for _, field in self.schema.items()):
            raise TypeError("SegmentBuilder: the schema has term vectors or spelling fields")
        self._postings: dict[str, dict[str | bytes, _TermPostings]] = {}
        """By field, by term: as text for the fields analysed here, else as bytes."""
        self._indexed: dict[tuple[str, Any], list] = {}
        self._lengths: dict[str, array] = {}
        """Each scored field's (approximate) length, by doc number."""
        self.postings = 0
        """Postings added so far."""

    def add_document(self, **fields: Any) -> None:
        """Add one document. Every field is analysed before anything is added: a value that fails analysis
        raises and leaves the segment as it was, so the caller may skip that document and go on."""
        docnum = self.docnum
        analysed = []
        written: list[list[str]] = []
        for name in sorted(fields):
            value = fields[name]
            if value is None:
                continue
            field = self.schema[name]
            postings: Any = None
            length = 0
            if field.indexed:
                if _analyzed_here(field):
                    postings, length, words = _text_postings(field, value)
                else:  # an index's own schema, read from disk (updates)
                    postings, words = self._index(name, field, value), None
                    length = sum(freq for _, freq, _, _ in postings) if field.scorable else 0
                if name in SEARCH_FIELDS and self._save_words is not None:
                    written.append(words if words is not None else written_words(value))
            column = field.to_column_value(value) if field.column_type else None
            analysed.append((name, field, value, postings, length, column))
        perdoc = self.perdocwriter
        perdoc.start_doc(docnum)
        for name, field, value, postings, length, column in analysed:
            if field.indexed:
                terms = self._postings.setdefault(name, {})
                if _analyzed_here(field):
                    self._add_text(terms, postings)
                else:
                    self._add_items(terms, postings)
                if field.scorable:
                    lengths = self._lengths.setdefault(name, array("I"))
                    _pad(lengths, docnum)
                    # The length Whoosh's postings writer records: the stored (one-byte) approximation.
                    lengths.append(byte_to_length(length_to_byte(length)) if length else 0)
            perdoc.add_field(name, field, value if field.stored else None, length)
            if self._copy is not None and name in self._copy.stored:
                self._copy.add_value(docnum, name, value)
            if field.column_type:
                perdoc.add_column_value(name, field.column_type, column)
        perdoc.finish_doc()
        for words in written:
            self._words.update(words)
        self._added = True
        self.docnum += 1

    def _add_text(self, terms: dict, postings: list[tuple[str, float, bytes]]) -> None:
        """Add a text field's ``(word, weight, encoded positions)`` (see ``_text_postings``), keyed by the word as
        text (encoded once per term when written)."""
        docnum = self.docnum
        for word, weight, value in postings:
            term = terms.get(word)
            if term is None:
                term = terms[word] = _TermPostings()
            term.docs.append(docnum)
            term.weights.append(weight)
            term.values.append(value)
        self.postings += len(postings)

    def _add_items(self, terms: dict, items: list[tuple[bytes, int, float, bytes]]) -> None:
        docnum = self.docnum
        for btext, _, weight, vbytes in items:
            postings = terms.get(btext)
            if postings is None:
                postings = terms[btext] = _TermPostings()
            postings.docs.append(docnum)
            postings.weights.append(weight)
            postings.values.append(vbytes)
        self.postings += len(items)

    def _index(self, name: str, field, value: Any) -> list:
        """``list(field.index(value))``, remembered for values seen before (but not of unique fields)."""
        if field.unique or not isinstance(value, (str, int, datetime)):
            return list(field.index(value))
        key = (name, value)
        items = self._indexed.get(key)
        if items is None:
            if len(self._indexed) >= _MAX_INDEXED_VALUES:
                self._indexed.clear()
            items = self._indexed[key] = list(field.index(value))
        return items

    def finish(self) -> Segment:
        """Write the postings out and close the segment's files.

        Whoosh's writers share one temporary folder per index, where per-document writers spool columns:
        builders in other processes may still be using it, so the commit's writer removes it, not a builder.
        """
        segment = self._finalize_segment()
        self.is_closed = True
        return segment

    def discard(self) -> None:
        """Close without keeping anything (the files left behind are not in any commit)."""
        self._close_segment()
        self.is_closed = True

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        fieldwriter = self.fieldwriter
        copy = self._copy
        for lengths in self._lengths.values():
            _pad(lengths, self.docnum)
        for name in sorted(self._postings):
            terms = self._postings.pop(name)
            if not terms:  # only empty values
                continue
            field_lengths = self._lengths.get(name)
            fieldwriter.start_field(name, self.schema[name])
            copied = copy if copy is not None and name in copy.fields else None
            write_term = _TermWriter(fieldwriter, self.codec, field_lengths)
            # Text terms are keys as text: their UTF-8 bytes sort as their code points do.
            for key in sorted(terms):
                postings = terms.pop(key)
                btext = key.encode("utf-8") if isinstance(key, str) else key
                if copied is not None:
                    copied.add(name, btext, postings.docs, postings.weights)
                write_term(btext, postings)
            fieldwriter.finish_field()
        fieldwriter.close()
        if copy is not None:
            copy.save(self.storage.folder, self.newsegment.segment_id(), self.docnum, self._lengths)
        if self._save_words is not None:
            self._save_words(self.storage.folder, self.newsegment.segment_id(), self._words)


class _TermWriter:
    """Writes a term's postings and its row of the terms table, as ``W3FieldWriter.start_term``, ``add`` for each
    posting and ``finish_term`` would, but a block at a time rather than a posting at a time; and a block of
    fewer than ``_COMPRESS_FROM_BYTES`` is stored uncompressed, as Whoosh meant to (its writer's test for that is
    overwritten by a later line), which any Whoosh reader reads."""

    def __init__(self, fieldwriter, codec, field_lengths: array | None) -> None:
        self._postfile = fieldwriter._postfile
        self._terms_table = fieldwriter._tindex
        self._field_prefix = pack_ushort(fieldwriter._fieldid)
        self._block, self._compression = codec._blocklimit, codec._compression
        self._value_size = fieldwriter._fieldobj.format.fixed_value_size()
        self._length_of = field_lengths.__getitem__ if field_lengths is not None else None

    def __call__(self, btext: bytes, postings: _TermPostings) -> None:
        docs, weights, values = postings.docs, postings.weights, postings.values
        count, block, compression = len(docs), self._block, self._compression
        start = self._postfile.tell()
        parts = [WHOOSH3_HEADER_MAGIC]
        total_weight: float = 0
        max_weight: float = 0
        min_length, max_length = None, 0
        for at in range(0, count, block):
            # W3PostingsWriter._write_block, and W3TermInfo.add_block.
            ids, block_weights = docs[at:at + block], weights[at:at + block]
            lengths = [n for n in map(self._length_of, ids) if n] if self._length_of else []
            low, high = (min(lengths), max(lengths)) if lengths else (None, 0)
            block_max = max(0, max(block_weights))
            total_weight += sum(block_weights)
            min_length = low if min_length is None else min(min_length, low)
            max_length, max_weight = max(max_length, high), max(max_weight, block_max)
            block_values = self._mini_values(values[at:at + block])
            data = dumps((tuple(delta_encode(ids)), _mini_weights(block_weights), block_values),
                         _POSITIONS_PROTOCOL if isinstance(block_values, tuple) else 2)
            level = compression if len(data) >= _COMPRESS_FROM_BYTES else 0
            if level:
                data = zlib.compress(data, level)
            info = dumps((len(ids), ids[-1], block_max, level, length_to_byte(low), length_to_byte(high)), 2)
            size = len(info) + len(data)
            parts += (pack_int(-size if at + block >= count else size), info, data)
        self._postfile.write(b"".join(parts))
        terminfo = _TERMINFO.pack(False, total_weight, count, 0 if min_length is None else length_to_byte(min_length),
                                  length_to_byte(max_length), max_weight, docs[0], docs[-1])
        extent = pack_long(start) + pack_int(self._postfile.tell() - start)
        self._terms_table.add(self._field_prefix + btext, terminfo + extent)

    def _mini_values(self, values: list[bytes]):
        if self._value_size is None or self._value_size < 0:
            return tuple(v for v in values if v)
        return None if self._value_size == 0 else b"".join(v for v in values if v)


def _mini_weights(weights: array):
    if weights.count(1.0) == len(weights):
        return None
    return weights[0] if weights.count(weights[0]) == len(weights) else tuple(weights)


_TERMINFO = W3TermInfo._struct
_POSITIONS_PROTOCOL = 4
"""Blocks holding positions (a tuple of bytes) are pickled with protocol 4, which writes bytes as they are (2
pickles each as a call to ``_codecs.encode`` of a text): a third smaller once compressed, and read by any Whoosh
reader alike. Other blocks stay at 2, smaller for them (4 adds a frame)."""
_COMPRESS_FROM_BYTES = 64
"""Smaller pickled blocks (a rare word's) are left as they are: zlib's header and checksum outweigh what it
could save on them."""


def _pad(lengths: array, count: int) -> None:
    """Lengths of 0 up to doc number ``count`` (the documents without the field)."""
    if len(lengths) < count:
        lengths.extend(array("I", bytes(4 * (count - len(lengths)))))


def _text_postings(field, text: str) -> tuple[list[tuple[str, float, bytes]], int, list[str]]:
    """What ``field.index(text)`` yields for an ``ANALYZER`` field with positions, from one analysis loop: each
    word with its weight and encoded positions; the field length; and every word token as written."""
    first, words, written = index_terms(text)
    positions: dict[str, list[int]] = {}
    for position, word in enumerate(words, start=first):
        positions.setdefault(word, []).append(position)
    encode, boost = field.format.encode, field.format.field_boost
    postings = []
    for word, where in positions.items():
        if len(where) == 1:  # most words of a passage: their one position's encoding is remembered
            value = _ONE_POSITION.get(where[0])
            if value is None:
                value = _ONE_POSITION[where[0]] = encode(where)
        else:
            value = encode(where)
        postings.append((word, len(where) * boost, value))
    return postings, len(words), written


def _analyzed_here(field) -> bool:
    return field.analyzer is ANALYZER and type(field.format) is Positions


_ONE_POSITION: dict[int, bytes] = {}
"""``Positions.encode([position])`` by position."""
_MAX_INDEXED_VALUES = 100_000
