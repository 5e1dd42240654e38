"""The top-k arrays on disk: each segment's ``.topk`` postings file and each generation's ``topk/`` folder of
per-passage columns (and facet value codes), written at every commit and read back (checked, and mapped
read-only) for ``topk``."""

from __future__ import annotations

import json
import os
import shutil
from array import array
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import numpy as np
from whoosh.fields import NUMERIC

from . import arrayfile, schema
from .arrayfile import FOLDER, FORMAT, SEGMENT_EXT, read_meta
from .backend import FACET_FIELDS, tiebreak
from .errors import IndexCorrupt

__all__ = [
    "SegmentArrays", "write", "read_meta", "read_segment", "read_column",
    "FOLDER", "SCORED_FIELDS", "FILTER_FIELDS", "DATE_FIELD", "STORY_FIELD", "UNDATED", "FACET_FIELDS", "LISTED_FIELDS",
    "read_facet", "story_column",
]

SCORED_FIELDS = schema.SEARCH_FIELDS
FILTER_FIELDS = ("source", "place", "speaker")
DATE_FIELD = "date"
STORY_FIELD = "story"
ID_FIELD = "id"
ARTICLE_FIELDS = ("path", "article")
"""Together they name an article: an article id is unique within its file."""
POSTING_FIELDS = (*SCORED_FIELDS, *FILTER_FIELDS, *ARTICLE_FIELDS)
"""The fields whose postings each segment's ``.topk`` file holds (and each document's date)."""
UNDATED = np.iinfo(np.int64).min
"""The date of a passage without one."""
LISTED_FIELDS = ("tags",)
"""Facet fields holding several values, stored comma-joined (``schema.to_document``)."""


class SegmentArrays:
    """One segment's postings of ``POSTING_FIELDS``, collected a term at a time and saved as its ``.topk`` file.

    ``segments.SegmentBuilder`` fills one from the postings it holds in memory as it writes a segment (every
    segment is written by it: builds, and the merge policy's re-writes).
    """

    fields: Collection[str] = (*POSTING_FIELDS, DATE_FIELD, ID_FIELD)
    """The fields ``add`` takes."""
    stored: Collection[str] = FACET_FIELDS
    """The fields ``add_value`` takes."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, int]] = {f: {} for f in FACET_FIELDS}
        """Each facet field's values by code, in the order first seen."""
        self._value_docs = {f: array("i") for f in FACET_FIELDS}
        self._value_codes = {f: array("i") for f in FACET_FIELDS}
        self._terms: dict[str, list[bytes]] = {f: [] for f in POSTING_FIELDS}
        self._counts: dict[str, list[int]] = {f: [] for f in POSTING_FIELDS}
        self._docs = {f: array("I") for f in POSTING_FIELDS}
        self._weights = {f: array("f") for f in SCORED_FIELDS}
        self._dates: list[tuple[int, np.ndarray]] = []
        self._ids: list[tuple[int, int]] = []

    def add(self, field: str, term: bytes, docs: array, weights: array) -> None:
        """A term's postings in ``field`` (in term order): doc numbers and weights."""
        if field == DATE_FIELD:
            if term[:1] == b"\x00":  # the full-precision term (as in NUMERIC.sortable_terms)
                self._dates.append((NUMERIC.from_bytes(schema.SCHEMA[DATE_FIELD], term), np.array(docs)))
            return
        if field == ID_FIELD:
            self._ids.extend((tiebreak(term.decode("utf-8", "surrogateescape")), doc) for doc in docs)
            return
        self._terms[field].append(term)
        self._counts[field].append(len(docs))
        self._docs[field].extend(docs)
        if field in self._weights:
            self._weights[field].extend(weights)

    def add_value(self, docnum: int, field: str, value: object) -> None:
        """A document's stored value of a facet field (several, comma-joined, in a listed field)."""
        if not isinstance(value, str):
            return
        codes = self._values[field]
        for one in value.split(",") if field in LISTED_FIELDS else (value,):
            if one:
                self._value_docs[field].append(docnum)
                self._value_codes[field].append(codes.setdefault(one, len(codes)))

    def save(self, index_dir: str, segment_id: str, doc_count: int, lengths: Mapping[str, array]) -> None:
        """Write the file of segment ``segment_id`` (of ``doc_count`` documents) into ``index_dir``, with each
        scored field's lengths by doc number (missing: none of the documents has the field)."""
        arrays = {}
        doc_type = _narrowest(doc_count)
        for field in FACET_FIELDS:
            arrays[f"facet.{field}.values"] = _value_table(list(self._values[field]))
            arrays[f"facet.{field}.docs"] = np.frombuffer(self._value_docs[field], dtype=np.int32).astype(doc_type)
            codes = np.frombuffer(self._value_codes[field], dtype=np.int32)
            arrays[f"facet.{field}.codes"] = codes.astype(_narrowest(len(self._values[field])))
        for field in POSTING_FIELDS:
            terms = self._terms[field]
            arrays[f"{field}.terms"] = np.array(terms, dtype=f"S{max(map(len, terms), default=1)}")
            offsets = np.concatenate([[0], np.cumsum(self._counts[field], dtype=np.int64)])
            arrays[f"{field}.offsets"] = offsets.astype(_narrowest(int(offsets[-1]) + 1))
            arrays[f"{field}.docs"] = np.frombuffer(self._docs[field], dtype=np.uint32).astype(doc_type)
            if field in self._weights:
                arrays[f"{field}.weights"] = _compact_weights(np.frombuffer(self._weights[field], dtype=np.float32))
                field_lengths = lengths.get(field)
                arrays[f"{field}.lengths"] = (np.zeros(doc_count, dtype=np.uint32) if field_lengths is None
                                              else np.array(field_lengths, dtype=np.uint32))
        dates = np.full(doc_count, UNDATED, dtype=np.int64)
        for value, docs in self._dates:
            dates[docs] = value
        arrays[f"{DATE_FIELD}.values"] = dates
        ids = np.zeros(doc_count, dtype=np.uint64)
        for key, doc in self._ids:
            ids[doc] = key
        arrays[f"{ID_FIELD}.values"] = ids
        _write_arrays(_segment_file(Path(index_dir), segment_id), arrays)


def write(index_path: str | os.PathLike, ix, stories: Mapping[tuple[str, str], int]) -> None:
    """Write the per-document arrays of the index's current generation into ``index_path/topk`` (live, date,
    article, story, id key, field lengths, facet codes), from the ``.topk`` file each segment's builder wrote beside
    it; ``stories`` numbers the articles' stories by (path, article id) (``stories.story_ids``). Its table,
    ``meta.json``, also holds each scored field's total length as Whoosh's reader counts it (for ``direct``)."""
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
            if leaf.has_deletions():
                for docnum in range(leaf.doc_count_all()):
                    live[offset + docnum] = not leaf.is_deleted(docnum)
            segments.append((segment_id, offset, leaf.doc_count_all()))
        arrays = [_read_arrays(_segment_file(index_dir, segment_id)) for segment_id, _, _ in segments]
        offsets = [offset for _, offset, _ in segments]
        for field in SCORED_FIELDS:
            lengths = np.concatenate([a[f"{field}.lengths"] for a in arrays]) if arrays else np.zeros(0)
            np.save(staging / f"{field}.lengths.npy", lengths.astype(_narrowest(int(lengths.max(initial=0)) + 1)))
        np.save(staging / "live.npy", live)
        dates = np.concatenate([a[f"{DATE_FIELD}.values"] for a in arrays]) if arrays else np.zeros(0, np.int64)
        np.save(staging / f"{DATE_FIELD}.values.npy", np.where(live, dates, UNDATED))
        keys, names = _article_keys(arrays, offsets)
        np.save(staging / "article.values.npy", _signed(_articles(keys, live)))
        np.save(staging / f"{STORY_FIELD}.values.npy", _signed(_stories(keys, names, live, stories)[0]))
        ids = np.concatenate([a[f"{ID_FIELD}.values"] for a in arrays]) if arrays else np.zeros(0, np.uint64)
        np.save(staging / f"{ID_FIELD}.values.npy", ids)
        for field in FACET_FIELDS:
            _write_facet(staging, field, arrays, offsets, live)
        meta = {"format": FORMAT, "generation": reader.generation(), "doc_count": doc_count,
                "fields": list(SCORED_FIELDS), "segments": segments,
                "field_lengths": {field: reader.field_length(field) for field in SCORED_FIELDS}}
    (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)


def read_segment(index_dir: Path, segment_id: str) -> dict[str, np.ndarray]:
    """The postings arrays of segment ``segment_id`` (its ``.topk`` file), by name, mapped read-only."""
    return _read_arrays(_segment_file(index_dir, segment_id))


def read_column(index_dir: Path, name: str, kinds: str, length: int, *, mapped: bool = False) -> np.ndarray:
    """The generation's column ``name`` (``topk/<name>.npy``): ``length`` values of a dtype kind in ``kinds``,
    read (or ``mapped`` read-only); never unpickled: an object array is refused.

    Raises:
        IndexCorrupt: the file holds anything else.
    """
    file = index_dir / FOLDER / f"{name}.npy"
    values = np.load(file, mmap_mode="r" if mapped else None, allow_pickle=False)
    if values.ndim != 1 or values.dtype.kind not in kinds or len(values) != length:
        raise IndexCorrupt(f"{file} holds a {values.dtype} array of shape {values.shape}, not {length} values")
    return values


def read_facet(index_dir: Path, field: str, length: int) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """A facet field's values (sorted) and codes, as ``write`` wrote them: for a one-valued field, each of the
    ``length`` passages' code (0: no value, else 1 + the value's place in the values); for a listed field, the
    codes (0-based) of its (passage, value) pairs and, third, their passages (ascending).

    Raises:
        IndexCorrupt: the files hold anything else (codes outside the values, passages outside the index).
    """
    table = np.load(index_dir / FOLDER / f"facet.{field}.values.npy", allow_pickle=False)
    if table.ndim != 1 or table.dtype.kind != "S":
        raise IndexCorrupt(f"{index_dir / FOLDER} holds a {table.dtype} table of {field} values, not text")
    values = [v.decode("utf-8", "surrogatepass") for v in table.tolist()]
    if field not in LISTED_FIELDS:
        codes = read_column(index_dir, f"facet.{field}.codes", "i", length)
        _check_within(codes, len(values) + 1, index_dir, field)
        return values, codes, None
    codes = np.load(index_dir / FOLDER / f"facet.{field}.codes.npy", allow_pickle=False)
    docs = np.load(index_dir / FOLDER / f"facet.{field}.docs.npy", allow_pickle=False)
    if docs.shape != codes.shape:
        raise IndexCorrupt(f"{index_dir / FOLDER} holds {field} pairs of unequal lengths")
    _check_within(codes, len(values), index_dir, field)
    _check_within(docs, length, index_dir, field)
    return values, codes, docs


def _check_within(column: np.ndarray, end: int, index_dir: Path, field: str) -> None:
    """Refuse a column of codes (or passages) that are not integers from 0 to ``end`` - 1."""
    if column.ndim != 1 or column.dtype.kind != "i" or len(column) and not (0 <= column.min() and column.max() < end):
        raise IndexCorrupt(f"{index_dir / FOLDER} holds {field} codes outside its values or passages")


def _value_table(values: list[str]) -> np.ndarray:
    """Text values as one fixed-width bytes array (UTF-8)."""
    encoded = [v.encode("utf-8", "surrogatepass") for v in values]
    return np.array(encoded, dtype=f"S{max(map(len, encoded), default=1)}")


def _write_facet(folder: Path, field: str, arrays: list[dict[str, np.ndarray]], offsets: list[int],
                 live: np.ndarray) -> None:
    """One facet field's values (sorted, of every segment) and the live passages' codes into ``folder``."""
    tables = [a[f"facet.{field}.values"] for a in arrays]
    values = np.unique(np.concatenate(tables)) if tables else _value_table([])
    docs = [a[f"facet.{field}.docs"].astype(np.int64) + offset for a, offset in zip(arrays, offsets)]
    codes = [np.searchsorted(values, table).astype(np.int32)[a[f"facet.{field}.codes"]]
             for a, table in zip(arrays, tables)]
    all_docs = np.concatenate(docs) if docs else np.zeros(0, np.int64)
    all_codes = np.concatenate(codes) if codes else np.zeros(0, np.int32)
    kept = live[all_docs]
    np.save(folder / f"facet.{field}.values.npy", values)
    if field in LISTED_FIELDS:
        np.save(folder / f"facet.{field}.docs.npy", all_docs[kept].astype(np.int32))
        np.save(folder / f"facet.{field}.codes.npy", all_codes[kept])
    else:
        per_passage = np.zeros(len(live), dtype=np.int32)
        per_passage[all_docs[kept]] = all_codes[kept] + 1
        np.save(folder / f"facet.{field}.codes.npy", _signed(per_passage))


def _narrowest(end: int) -> type[np.unsignedinteger]:
    """The narrowest unsigned integer type holding every number below ``end``."""
    return next(t for t in (np.uint8, np.uint16, np.uint32) if end <= np.iinfo(t).max + 1) if end <= 1 << 32 \
        else np.uint64


def _signed(values: np.ndarray) -> np.ndarray:
    """Integers from -1 up in the narrowest signed type that holds them all."""
    end = int(values.max(initial=0)) + 1
    return values.astype(next(t for t in (np.int8, np.int16, np.int32, np.int64) if end <= np.iinfo(t).max + 1))


def _compact_weights(weights: np.ndarray) -> np.ndarray:
    """Postings' weights in the narrowest type that holds each exactly: term frequencies (whole numbers, the
    weights of the schema's unboosted fields) as small unsigned integers, else as they are (float32)."""
    if not len(weights):
        return weights.astype(np.uint8)
    if np.all(weights >= 0) and np.all(weights == np.floor(weights)) and float(weights.max()) < 1 << 32:
        compact = weights.astype(_narrowest(int(weights.max()) + 1))
        if np.array_equal(compact.astype(np.float32), weights):
            return compact
    return weights


def _segment_file(index_dir: Path, segment_id: str) -> Path:
    return index_dir / f"{segment_id}{SEGMENT_EXT}"


def _write_arrays(file: Path, arrays: dict[str, np.ndarray]) -> None:
    """Named one-dimensional arrays in one file: a JSON table of contents, then each array's bytes (8-aligned)."""
    table: dict[str, tuple[str, int, int]] = {}
    position = 0
    for name, values in arrays.items():
        table[name] = (values.dtype.str, len(values), position)
        position += -(-values.nbytes // 8) * 8
    head = json.dumps(table).encode("utf-8")
    start = -(-(len(arrayfile.MAGIC) + 8 + len(head)) // 8) * 8
    with open(file, "wb") as f:
        f.write(arrayfile.MAGIC + len(head).to_bytes(8, "little") + head)
        for name, values in arrays.items():
            f.seek(start + table[name][2])
            f.write(values.tobytes())
        f.truncate(start + position)


def _read_arrays(file: Path) -> dict[str, np.ndarray]:
    """The arrays of a file ``_write_arrays`` wrote, mapped read-only (not read into memory)."""
    data = arrayfile.mapped(file)
    return {name: np.frombuffer(data, dtype=np.dtype(dtype), count=count, offset=offset)
            for name, (dtype, count, offset) in arrayfile.table(data, file.name).items()}


def _term_docs(arrays: dict[str, np.ndarray], field: str) -> Iterator[tuple[bytes, np.ndarray]]:
    """Each term of ``field`` in one segment's arrays, with its (segment) doc numbers."""
    terms, offsets, docs = arrays[f"{field}.terms"], arrays[f"{field}.offsets"], arrays[f"{field}.docs"]
    for i, term in enumerate(terms.tolist()):
        yield term, docs[offsets[i]:offsets[i + 1]].astype(np.int64)


def _article_keys(arrays: list[dict[str, np.ndarray]], offsets: list[int]) -> tuple[np.ndarray, list[list[bytes]]]:
    """Each document's (path, article id) as term numbers, and the terms those numbers stand for."""
    keys = np.zeros((sum(len(a[f"{DATE_FIELD}.values"]) for a in arrays), len(ARTICLE_FIELDS)), dtype=np.int64)
    names: list[list[bytes]] = []
    for column, field in enumerate(ARTICLE_FIELDS):
        ids: dict[bytes, int] = {}
        for segment, offset in zip(arrays, offsets):
            for term, docs in _term_docs(segment, field):
                keys[docs + offset, column] = ids.setdefault(term, len(ids))
        names.append(list(ids))
    return keys, names


def _articles(keys: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Each live document's article as an ordinal (0, 1, ... per distinct path and article id); deleted: -1."""
    ordinals = np.full(len(live), -1, dtype=np.int64)
    if live.any():
        ordinals[live] = np.unique(keys[live], axis=0, return_inverse=True)[1].reshape(-1)
    return ordinals


def _stories(keys: np.ndarray, names: list[list[bytes]], live: np.ndarray,
             stories: Mapping[tuple[str, str], int], first: int | None = None) -> tuple[np.ndarray, int]:
    """Each live document's story (``stories`` of its article; an article without one is a story of its own,
    numbered from ``first``, by default after them); deleted: -1. And the next number left."""
    next_story = max(stories.values(), default=-1) + 1 if first is None else first
    values = np.full(len(live), -1, dtype=np.int64)
    if not live.any():
        return values, next_story
    pairs, inverse = np.unique(keys[live], axis=0, return_inverse=True)
    paths, articles = names
    numbers = np.empty(len(pairs), dtype=np.int64)
    for i, (path, article) in enumerate(pairs.tolist()):
        story = stories.get((paths[path].decode("utf-8"), articles[article].decode("utf-8")))
        if story is None:
            story, next_story = next_story, next_story + 1
        numbers[i] = story
    values[live] = numbers[inverse.reshape(-1)]
    return values, next_story


def story_column(index_dir: Path, stories: Mapping[tuple[str, str], int], first: int) -> tuple[np.ndarray, int]:
    """The story column ``write`` would write into the generation at ``index_dir`` with ``stories``, articles
    without a story numbered from ``first`` (a shard's part of a sharded index's stories), and the next number
    left; read from the generation's own arrays.

    Raises:
        IndexCorrupt: the generation has no arrays of this format.
    """
    meta = read_meta(index_dir)
    if meta is None:
        raise IndexCorrupt(f"{index_dir} has no top-k arrays of format {FORMAT}")
    arrays = [_read_arrays(_segment_file(index_dir, segment_id)) for segment_id, _, _ in meta["segments"]]
    keys, names = _article_keys(arrays, [offset for _, offset, _ in meta["segments"]])
    return _stories(keys, names, read_column(index_dir, "live", "b", meta["doc_count"]), stories, first)
