"""Index documents → Whoosh segments: Whoosh's file format without Whoosh's per-posting path (the codec).

Whoosh's SegmentWriter sends every posting through a sorting pool (pickled to disk and merged back) and then
through several Python calls into the postings writer: most of a build's time. ``SegmentBuilder`` writes the
same W3 codec files with the same codec objects — any Whoosh reader opens them, and a test checks that they
hold what Whoosh's own writer makes. The stemmed text fields' word tokens are numbered by a dict of the words
seen (each new word stemmed once, ``schema.term_of``) and kept as arrays of word numbers (a few C-level passes
per document, no Python loop over tokens); when the segment is written NumPy maps them to terms and positions
(stop words dropped, the rest numbered as Whoosh's StopFilter numbers them) and sorts them into postings.
Keyword and number values reuse the postings of repeated values (a file's path, an article's date); each term's
posting blocks and terms-table row are written a block at a time (``_TermWriter``). ``pool`` runs builders
over one process per core.
"""

from __future__ import annotations

import zlib
from itertools import chain
from struct import pack
from operator import sub
from array import array
from collections import Counter
from datetime import datetime
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, Protocol, cast

import numpy as np

from whoosh.codec.base import Segment
from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3TermInfo
from whoosh.compat import dumps
from whoosh.index import FileIndex
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

from .errors import IndexWriteError
from .positions import CompactPositions
from .schema import ANALYZER, SEARCH_FIELDS, term_of, written_words
from .storedfields import BlockCodec

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


class _Tokens:
    """A text field's word tokens (as written, stop words too) in the order added, by word number; and each
    document's number and count of tokens."""

    __slots__ = ("words", "docs", "counts")

    def __init__(self) -> None:
        self.words, self.docs, self.counts = array("I"), array("I"), array("I")

    def add(self, docnum: int, words: list[int]) -> None:
        self.words.extend(words)
        self.docs.append(docnum)
        self.counts.append(len(words))

    def postings(self, term_of_word: np.ndarray, texts: list[str], encode: Callable[[list[int]], bytes],
                 boost: float) -> Iterator[tuple[str, _TermPostings]]:
        """Each term's text and postings, in the order of the terms' texts (their UTF-8 bytes sort as their code
        points do): the doc numbers, weights (occurrences × ``boost``) and encoded positions that
        ``field.index`` gives for each document of the term. ``term_of_word``: each word's term number (an
        index into ``texts``), -1 for a word the analyzer drops."""
        counts = np.frombuffer(self.counts, dtype=np.uint32).astype(np.int64)
        terms = term_of_word[np.frombuffer(self.words, dtype=np.uint32)]
        docs = np.repeat(np.frombuffer(self.docs, dtype=np.uint32), counts)
        index = np.arange(len(terms), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        kept = terms >= 0
        terms, docs, index = terms[kept], docs[kept], index[kept]
        if not len(terms):
            return
        # Whoosh's StopFilter numbers the kept words on from the first one's position among all words.
        doc_starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        group = np.repeat(np.arange(len(doc_starts)), np.diff(np.r_[doc_starts, len(docs)]))
        positions = (index[doc_starts][group] + np.arange(len(docs)) - doc_starts[group]).astype(np.uint32)
        del kept, index, group
        used = np.unique(terms)
        used_texts = [texts[i] for i in used.tolist()]
        by_text = sorted(range(len(used_texts)), key=used_texts.__getitem__)
        rank = np.zeros(len(texts), dtype=np.uint32)
        rank[used[by_text]] = np.arange(len(by_text), dtype=np.uint32)
        ranks = rank[terms]
        order = np.lexsort((positions, docs, ranks))
        ranks, docs, positions = ranks[order], docs[order], positions[order]
        del order
        starts = np.flatnonzero(np.r_[True, (ranks[1:] != ranks[:-1]) | (docs[1:] != docs[:-1])])
        counts = np.diff(np.r_[starts, len(ranks)])
        posting_docs = np.ascontiguousarray(docs[starts])
        weights = (counts * boost).astype(np.float32)
        values = np.empty(len(starts), dtype=object)
        single = counts == 1
        firsts = positions[starts]
        one_positions = np.unique(firsts[single])
        values[single] = _one_position_values(one_positions.tolist(), encode)[np.searchsorted(one_positions,
                                                                                                firsts[single])]
        several = ~single
        several_positions = positions[np.repeat(several, counts)].tolist()  # in posting order
        start = 0
        for at, count in zip(np.flatnonzero(several).tolist(), counts[several].tolist()):
            values[at] = encode(several_positions[start:start + count])
            start += count
        term_ranks = ranks[starts]
        bounds = np.flatnonzero(np.r_[True, term_ranks[1:] != term_ranks[:-1], True]).tolist()
        for n, (low, high) in enumerate(zip(bounds, bounds[1:])):
            postings = _TermPostings()
            postings.docs.frombytes(posting_docs[low:high].tobytes())
            postings.weights.frombytes(weights[low:high].tobytes())
            postings.values = values[low:high].tolist()
            yield used_texts[by_text[n]], postings


def _one_position_values(positions: list[int], encode: Callable[[list[int]], bytes]) -> np.ndarray:
    """``encode([position])`` of each of ``positions``, as an array of objects (remembered by position)."""
    out = np.empty(len(positions), dtype=object)
    for n, position in enumerate(positions):
        value = _ONE_POSITION.get(position)
        if value is None:
            value = _ONE_POSITION[position] = encode([position])
        out[n] = value
    return out


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
        super().__init__(ix, _lk=False, compound=False, codec=BlockCodec())
        self._copy = copy() if copy else None
        self._save_words = words
        self._words: Counter[str] = Counter()
        """Word tokens of the searched fields as written, counted (for ``words``)."""
        if any(field.vector or field.separate_spelling() for _, field in self.schema.items()):
            raise TypeError("SegmentBuilder: the schema has term vectors or spelling fields")
        self._postings: dict[str, dict[str | bytes, _TermPostings]] = {}
        """By field, by term: as text for the fields analysed here, else as bytes."""
        self._indexed: dict[tuple[str, Any], list] = {}
        self._plans: dict[str, _FieldPlan] = {}
        self._tokens: dict[str, _Tokens] = {}
        """The tokens of the fields analysed here, by field."""
        self._term_ids: dict[str, int] = {}
        self._term_texts: list[str] = []
        """The terms of the fields analysed here, numbered in the order first seen."""
        self._word_numbers: dict[str, int] = {}
        self._written: list[str] = []
        self._term_of_word: list[int] = []
        """The word tokens (as written) of the fields analysed here, numbered in the order first seen, and each
        one's term number (-1: a word the analyzer drops)."""
        self._lengths: dict[str, array] = {}
        """Each scored field's (approximate) length, by doc number."""
        self.postings = 0
        """Postings added so far."""

    def add_document(self, **fields: Any) -> None:
        """Add one document. Every field is analysed before anything is added: a value that fails analysis
        raises and leaves the segment as it was, so the caller may skip that document and go on."""
        docnum = self.docnum
        plans = self._plans
        analysed = []
        written: list[list[str]] = []
        for name in sorted(fields):
            value = fields[name]
            if value is None:
                continue
            plan = plans.get(name)
            if plan is None:
                plan = plans[name] = _FieldPlan(name, self.schema[name], self._copy, self._save_words is not None)
            postings: Any = None
            length = 0
            if plan.here:
                tokens = written_words(value)
                found = list(map(self._word_numbers.get, tokens))
                numbers = self._number_words(tokens) if None in found else cast("list[int]", found)
                terms = list(map(self._term_of_word.__getitem__, numbers))
                dropped = terms.count(-1)
                postings, length = (numbers, len(set(terms)) - (dropped > 0)), len(terms) - dropped
            elif plan.indexed:  # an index's own schema, read from disk (updates), or a keyword or number field
                postings = self._index(plan, value)
                if plan.scorable:
                    length = sum(freq for _, freq, _, _ in postings)
                if plan.counted:
                    written.append(written_words(value))
            analysed.append((plan, value, postings, length,
                             plan.field.to_column_value(value) if plan.column_type else None))
        perdoc = self.perdocwriter
        perdoc.start_doc(docnum)
        for plan, value, postings, length, column in analysed:
            if plan.here:
                self._add_text(plan, postings)
            elif plan.indexed:
                self._add_items(plan, postings)
            if plan.scorable:
                lengths = self._lengths.get(plan.name)
                if lengths is None:
                    lengths = self._lengths[plan.name] = array("I")
                if len(lengths) < docnum:
                    _pad(lengths, docnum)
                # The length Whoosh's postings writer records: the stored (one-byte) approximation.
                lengths.append(_STORED_LENGTH[length] if length < _STORED_LENGTHS
                               else byte_to_length(length_to_byte(length)) if length else 0)
            if plan.stored or length:  # else Whoosh's add_field does nothing
                perdoc.add_field(plan.name, plan.field, value if plan.stored else None, length)
            if plan.copied:
                self._copy.add_value(docnum, plan.name, value)  # type: ignore[union-attr]
            if plan.column_type:
                perdoc.add_column_value(plan.name, plan.column_type, column)
        perdoc.finish_doc()
        for words in written:
            self._words.update(words)
        self._added = True
        self.docnum += 1

    def _number_words(self, tokens: list[str]) -> list[int]:
        """Each word token's number (``_written``), numbering the new ones and their terms."""
        numbers, written, term_of_word, term_ids, texts = (
            self._word_numbers, self._written, self._term_of_word, self._term_ids, self._term_texts)
        for word in tokens:
            if word not in numbers:
                term = term_of(word)  # before anything is numbered: it may raise
                if term is None:
                    term_number = -1
                else:
                    term_number = term_ids.get(term, -1)
                    if term_number < 0:
                        term_number = term_ids[term] = len(texts)
                        texts.append(term)
                numbers[word] = len(written)
                written.append(word)
                term_of_word.append(term_number)
        return list(map(numbers.__getitem__, tokens))

    def _add_text(self, plan: _FieldPlan, analysed: tuple[list[int], int]) -> None:
        """Add a text field's word tokens (numbered, in order; ``distinct`` terms among them): kept as tokens, a
        few array operations per document; they are sorted into postings when the segment is written."""
        words, distinct = analysed
        tokens = self._tokens.get(plan.name)
        if tokens is None:
            tokens = self._tokens[plan.name] = _Tokens()
        tokens.add(self.docnum, words)
        self.postings += distinct

    def _add_items(self, plan: _FieldPlan, items: list[tuple[_TermPostings, int, float, bytes]]) -> None:
        docnum = self.docnum
        for postings, _, weight, vbytes in items:
            postings.docs.append(docnum)
            postings.weights.append(weight)
            postings.values.append(vbytes)
        self.postings += len(items)

    def _index(self, plan: _FieldPlan, value: Any) -> list[tuple[_TermPostings, int, float, bytes]]:
        """``field.index(value)``'s ``(btext, frequency, weight, value)`` items, each with its term's postings in
        place of its text; remembered for values seen before (but not of unique fields)."""
        if plan.unique or not isinstance(value, (str, int, datetime)):
            return self._items(plan, value)
        key = (plan.name, value)
        items = self._indexed.get(key)
        if items is None:
            if len(self._indexed) >= _MAX_INDEXED_VALUES:
                self._indexed.clear()
            items = self._indexed[key] = self._items(plan, value)
        return items

    def _items(self, plan: _FieldPlan, value: Any) -> list:
        terms = self._postings.get(plan.name)
        if terms is None:
            terms = self._postings[plan.name] = {}
        items = []
        for btext, freq, weight, vbytes in plan.field.index(value):
            postings = terms.get(btext)
            if postings is None:
                postings = terms[btext] = _TermPostings()
            items.append((postings, freq, weight, vbytes))
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

    def _count_words(self) -> None:
        """Count the word tokens of the searched fields analysed here into ``_words``."""
        counts = np.zeros(len(self._written), dtype=np.int64)
        for name, tokens in self._tokens.items():
            if self._plans[name].counted:
                counts += np.bincount(np.frombuffer(tokens.words, dtype=np.uint32), minlength=len(counts))
        found = np.flatnonzero(counts)
        self._words.update(dict(zip(map(self._written.__getitem__, found.tolist()), counts[found].tolist())))

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        fieldwriter = self.fieldwriter
        copy = self._copy
        for lengths in self._lengths.values():
            _pad(lengths, self.docnum)
        if self._save_words is not None:
            self._count_words()
        term_of_word = np.array(self._term_of_word, dtype=np.int64)
        for name in sorted({*self._postings, *self._tokens}):
            if name in self._tokens:
                tokens, text_format = self._tokens.pop(name), self.schema[name].format
                kept = tokens.postings(term_of_word, self._term_texts, text_format.encode, text_format.field_boost)
                first = next(kept, None)
                if first is None:  # only values without terms
                    continue
                terms: Iterable[tuple[str | bytes, _TermPostings]] = chain((first,), kept)
            else:
                keyed = self._postings.pop(name)
                # Terms of a document whose analysis failed hold no postings (nothing of it was added).
                terms = [(key, keyed[key]) for key in sorted(keyed) if keyed[key].docs]
                if not terms:  # only empty values
                    continue
            field_lengths = self._lengths.get(name)
            fieldwriter.start_field(name, self.schema[name])
            copied = copy if copy is not None and name in copy.fields else None
            write_term = _TermWriter(fieldwriter, self.codec, field_lengths)
            for key, postings in terms:
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
        count, block, compression, length_of = len(docs), self._block, self._compression, self._length_of
        if count == 1:
            self._inline(btext, docs[0], weights[0], values[0])
            return
        start = self._postfile.tell()
        parts = [WHOOSH3_HEADER_MAGIC]
        total_weight: float = 0
        max_weight: float = 0
        min_length, max_length = None, 0
        for at in range(0, count, block):
            # W3PostingsWriter._write_block, and W3TermInfo.add_block.
            if count <= block:  # most terms: one block
                ids, block_weights, block_values = docs, weights, values
            else:
                ids, block_weights, block_values = docs[at:at + block], weights[at:at + block], values[at:at + block]
            lengths = list(filter(None, map(length_of, ids))) if length_of else None
            low, high = (min(lengths), max(lengths)) if lengths else (None, 0)
            block_max = max(0, max(block_weights))
            total_weight += sum(block_weights)
            min_length = low if min_length is None else min(min_length, low)
            max_length, max_weight = max(max_length, high), max(max_weight, block_max)
            # The doc numbers delta-encoded (whoosh.util.numlists.delta_encode).
            deltas = (ids[0], *map(sub, ids[1:], ids)) if len(ids) > 1 else (ids[0],)
            mini_values = self._mini_values(block_values)
            data = dumps((deltas, _mini_weights(block_weights), mini_values),
                         _POSITIONS_PROTOCOL if isinstance(mini_values, tuple) else 2)
            level = compression if len(data) >= _COMPRESS_FROM_BYTES else 0
            if level:
                data = zlib.compress(data, level)
            info = dumps((len(ids), ids[-1], block_max, level, length_to_byte(low), length_to_byte(high)), 2)
            size = len(info) + len(data)
            parts += (pack_int(-size if at + block >= count else size), info, data)
        written = b"".join(parts)
        self._postfile.write(written)
        terminfo = _TERMINFO.pack(False, total_weight, count, 0 if min_length is None else length_to_byte(min_length),
                                  length_to_byte(max_length), max_weight, docs[0], docs[-1])
        self._terms_table.add(self._field_prefix + btext, terminfo + pack_long(start) + pack_int(len(written)))

    def _inline(self, btext: bytes, doc: int, weight: float, value: bytes) -> None:
        """A term of one posting: its posting inlined in its row of the terms table (as ``W3TermInfo.to_bytes``
        writes one, which Whoosh's writer means to do for short lists but cannot: it calls a method
        ``W3TermInfo`` lacks), read back by Whoosh as a ``ListMatcher``; about 35 bytes smaller than a posting
        list of its own (a passage's id is one)."""
        length = self._length_of(doc) if self._length_of else 0
        terminfo = _TERMINFO.pack(True, weight, 1, length_to_byte(length) if length else 0, length_to_byte(length),
                                  max(0, weight), doc, doc)
        self._terms_table.add(self._field_prefix + btext, terminfo + _inlined(doc, weight, value))

    def _mini_values(self, values: list[bytes]):
        if self._value_size is None or self._value_size < 0:
            return tuple(filter(None, values))
        return None if self._value_size == 0 else b"".join(filter(None, values))


def _mini_weights(weights: array):
    """A block's weights as W3 stores them (None: all 1; one number: all the same), whole numbers (term
    frequencies) pickled as ints: 2 bytes each where a float takes 9; Whoosh's reader and scorer take either,
    and an int scores as its float does."""
    if weights.count(1.0) == len(weights):
        return None
    if weights.count(weights[0]) == len(weights):
        return weights[0]
    whole = tuple(map(int, weights))
    return whole if whole == tuple(weights) else tuple(weights)


def _inlined(doc: int, weight: float, value: bytes) -> bytes:
    """``pickle.dumps(((doc,), (weight,), (value,) if value else ()), 4)`` without its frame and memo: what
    ``W3TermInfo.from_bytes`` unpickles as a term's inlined postings."""
    number = pack("<cB", b"K", doc) if doc < 1 << 8 else pack("<cH", b"M", doc) if doc < 1 << 16 \
        else pack("<ci", b"J", doc)
    values = b")" if not value else pack("<cB", b"C", len(value)) + value + b"\x85" if len(value) < 1 << 8 \
        else pack("<cI", b"B", len(value)) + value + b"\x85"
    return b"\x80\x04" + number + b"\x85" + pack(">cd", b"G", weight) + b"\x85" + values + b"\x87."


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


class _FieldPlan:
    """How ``SegmentBuilder`` adds a field's values: what it is (read once per builder, not per value)."""

    __slots__ = ("name", "field", "here", "indexed", "unique", "scorable", "stored", "column_type", "copied",
                 "counted")

    def __init__(self, name: str, field, copy: PostingsCopy | None, counting: bool) -> None:
        self.name, self.field = name, field
        self.indexed, self.unique, self.scorable = bool(field.indexed), field.unique, field.scorable
        self.here = self.indexed and field.analyzer is ANALYZER and type(field.format) is CompactPositions
        """An ``ANALYZER`` text field with ``CompactPositions``: analysed here (``schema.term_of``, kept as
        ``_Tokens``)."""
        self.stored, self.column_type = field.stored, field.column_type
        self.copied = copy is not None and name in copy.stored
        self.counted = counting and self.indexed and name in SEARCH_FIELDS


_ONE_POSITION: dict[int, bytes] = {}
"""``CompactPositions.encode([position])`` by position."""
_MAX_INDEXED_VALUES = 100_000
_STORED_LENGTHS = 1024
_STORED_LENGTH = [byte_to_length(length_to_byte(n)) if n else 0 for n in range(_STORED_LENGTHS)]
"""Field lengths as Whoosh records them (a byte's approximation), by length, for lengths below ``_STORED_LENGTHS``."""
