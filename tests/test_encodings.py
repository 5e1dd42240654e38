"""The index's compact encodings: stored fields compressed in blocks against a dictionary, positions as byte gaps,
terms of one posting inlined, dates at two trie levels, top-k arrays in the narrowest exact types."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import zlib
from array import array

import numpy as np
import pytest
import whoosh.index

from searchkit import Index
from searchkit.arrays import FOLDER, SegmentArrays, read_meta, read_segment
from searchkit.local import LocalBackend
from searchkit.positions import CompactPositions
from searchkit.query import build_query
from searchkit.scoring import BM25FWeighting
from searchkit.settings import DEFAULT
from searchkit.topk import TopK

WORDS = "caspian seabed pipeline tariff forum delegation minister agreement border region".split()


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """An index of 60 articles of several passages each, one passage naming one word 300 times."""
    root = tmp_path_factory.mktemp("encodings")
    lines = []
    for n in range(60):
        paragraphs = [" ".join(WORDS[(n + i + k) % len(WORDS)] for k in range(40 + 7 * i)) + "." for i in range(4)]
        if n == 7:
            paragraphs.append(" ".join(["tariff"] * 300) + ".")
        lines.append(json.dumps({"id": f"a{n}", "title": f"Report {n} on the {WORDS[n % len(WORDS)]}",
                                 "date": f"2019-0{1 + n % 9}-1{n % 10}", "source": "Kazinform", "place": "Astana",
                                 "text": "\n\n".join(paragraphs)}))
    (root / "a.jsonl").write_text("\n".join(lines))
    Index.build([root / "a.jsonl"], root / "index")
    with Index.open(root / "index") as ix:
        return root / "index", ix.directory


def test_stored_fields_are_smaller_than_one_compressed_passage_at_a_time(index):
    """The stored fields file holds what Whoosh's own column would (each passage's pickle compressed alone) in
    less space, and every passage reads back as indexed."""
    path, generation = index
    with whoosh.index.open_dir(str(generation)).reader() as reader:
        stored = [fields for _, fields in reader.iter_docs()]
    alone = sum(len(zlib.compress(pickle.dumps(fields, 2), 3)) for fields in stored)
    column = sum(f.stat().st_size for f in generation.glob("*._stored.col"))
    assert column < alone
    with Index.open(path) as ix:
        passages = list(ix.passages())
        assert len(passages) == len(stored)
        assert all(ix.get(p.id) == p for p in passages[::-1])  # out of order: other blocks between reads
        assert {p.text for p in passages} == {fields["body"] for fields in stored}


def test_stored_blocks_are_compressed_against_a_dictionary(index):
    """The stored fields take less than the same blocks of passages compressed alone (8 KB each, as the column
    groups them): every block is compressed against a dictionary of the column's first values."""
    path, generation = index
    ix = whoosh.index.open_dir(str(generation))
    alone = 0
    for segment in ix._segments():
        with ix.reader() as reader:
            pass
        values = [pickle.dumps(fields, 2) for fields in _segment_stored(ix, segment)]
        block: list[bytes] = []
        for value in values:
            block.append(value)
            if sum(map(len, block)) >= 8 * 1024:
                alone += len(zlib.compress(b"".join(block), 6))
                block = []
        alone += len(zlib.compress(b"".join(block), 6)) if block else 0
    column = sum(f.stat().st_size for f in generation.glob("*._stored.col"))
    assert column < alone


def _segment_stored(ix, segment) -> list[dict]:
    from whoosh.reading import SegmentReader

    reader = SegmentReader(ix.storage, ix.schema, segment)
    try:
        return [reader.stored_fields(n) for n in range(segment.doc_count_all())]
    finally:
        reader.close()


def test_positions_take_a_byte_per_gap(index):
    """A word's positions in a passage are stored as the gaps between them, a byte each (Whoosh's own format
    pickles them after a 4-byte count: 13 bytes for a word found once), and read back as Whoosh reads positions."""
    path, generation = index
    with whoosh.index.open_dir(str(generation)).reader() as reader:
        assert isinstance(reader.schema["body"].format, CompactPositions)
        frequencies = []
        for field, word in (("title", "report"), ("body", "tariff")):
            m = reader.postings(field, word)
            while m.is_active():
                value, positions = m.value(), m.value_as("positions")
                assert len(value) == len(positions) == m.value_as("frequency") == m.weight()
                assert positions == sorted(set(positions))
                frequencies.append(len(positions))
                m.next()
    assert 1 in frequencies and max(frequencies) >= 300  # "report" once in a title; "tariff" 300 times in a passage
    with Index.open(path) as ix:
        assert ix.search('"tariff forum"', limit=1) and not ix.search('"forum tariff tariff"', limit=1)


@pytest.mark.parametrize("positions", [[0], [5], [0, 1, 254], [3, 400], [254, 509], [7, 7 + 70_000, 1 << 31]])
def test_positions_of_any_gap_read_back(positions):
    """Gaps of 255 or more (a value of its own: a mark, then 4 bytes a gap) read back as they were."""
    compact = CompactPositions()
    value = compact.encode(positions)
    assert compact.decode_positions(value) == positions
    assert compact.decode_frequency(value) == len(positions)
    assert len(value) == (len(positions) if max(b - a for a, b in zip([0, *positions], positions)) < 255
                          else 1 + 4 * len(positions))


def test_a_term_of_one_posting_is_inlined_in_the_terms_table(index):
    """A term of a single posting (every passage id) is kept in its row of the terms table, not in a posting
    list of its own, and found there."""
    path, generation = index
    with whoosh.index.open_dir(str(generation)).reader() as reader:
        ids = list(reader.lexicon("id"))
        assert ids and all(reader.term_info("id", t).is_inlined() for t in ids)
        assert not reader.term_info("body", "tariff").is_inlined()
    with Index.open(path) as ix:
        passages = list(ix.passages())
        assert [ix.get(p.id) for p in passages] == passages
        assert [h.passage for h in ix.search(f"id:{passages[3].id}")] == [passages[3]]


def test_dates_are_indexed_at_two_trie_levels(index):
    """Each date is indexed at its day and at about 12.7 days (2^40 µs), not at Whoosh's default eight levels;
    ranges and filters find the same passages."""
    path, generation = index
    with whoosh.index.open_dir(str(generation)).reader() as reader:
        assert {term[0] for term in reader.lexicon("date")} == {0, 40}
    with Index.open(path) as ix:
        dates = {p.id: p.date for p in ix.passages()}
        for since, until in (("2019-02-01", "2019-05-15"), ("2019-01-10", "2019-01-10"), ("2018-01-01", "2020-12-31")):
            found = {h.passage.id for h in ix.search("report", since=since, until=until, limit=1000)}
            assert found == {i for i, d in dates.items() if since <= d.isoformat() <= until}
            alone = {h.passage.id for h in ix.search(f"date:[{since} TO {until}]", limit=1000)}
            assert alone == {i for i, d in dates.items() if since <= d.isoformat() <= until}


def test_per_passage_columns_take_the_narrowest_exact_types(index):
    """The generation's columns of field lengths, articles, stories and facet codes are as narrow as their
    values allow (a passage's length in a byte or two, 60 articles in a byte), and rank as Whoosh does."""
    path, generation = index
    folder = generation / FOLDER
    for name in ("title.lengths", "body.lengths", "article.values", "story.values", "facet.source.codes"):
        assert np.load(folder / f"{name}.npy").dtype.itemsize <= 2, name
    expected, from_arrays = _whoosh_scores(path, generation, "caspian pipeline border")
    assert from_arrays == expected


def test_a_damaged_stored_block_is_a_clear_error(index, tmp_path, run_cli):
    """A block that no longer decompresses to its passages is an ``IndexCorrupt`` error, never a traceback."""
    path, generation = index
    copy = tmp_path / "index"
    shutil.copytree(path, copy)
    with Index.open(copy) as ix:
        first = next(ix.passages())
    [column] = (copy / generation.name).glob("*._stored.col")
    data = bytearray(column.read_bytes())
    data[20:60] = bytes(40)  # inside the first block
    before = column.stat()
    column.write_bytes(bytes(data))
    os.utime(column, ns=(before.st_atime_ns, before.st_mtime_ns))  # damaged in place: only verify=True reads it all
    result = run_cli("show", first.id, "--index", copy)
    assert result.code == 2
    assert result.stderr.startswith("error: ") and "stored fields block" in result.stderr
    assert "Traceback" not in result.stderr


def _whoosh_scores(path, generation, text: str) -> tuple[dict[int, float], dict[int, float]]:
    """Each matching passage's score by Whoosh's own BM25F, and by the arrays."""
    backend = LocalBackend(generation, whoosh.index.open_dir(str(generation)), DEFAULT, path.parent)
    with backend.searcher() as searcher:
        searcher.weighting = BM25FWeighting(backend.statistics((), articles=False), DEFAULT)
        parsed = build_query(text)
        expected = {hit.docnum: hit.score for hit in searcher.search(parsed.query, limit=None)}
        arrays = TopK.load(generation)
        assert arrays is not None
        found = arrays.passage_matches(searcher, parsed.query, parsed.filter, searcher.context())
        assert found is not None
        return expected, {int(d): float(s) for d, s in zip(found.docs, found.scores)}


def test_term_frequencies_beyond_a_byte_score_as_whoosh_scores_them(index):
    path, generation = index
    weights = [read_segment(generation, segment)["body.weights"] for segment, _, _ in read_meta(generation)["segments"]]
    assert max(int(w.max()) for w in weights) > 255  # the passage naming "tariff" 300 times
    expected, from_arrays = _whoosh_scores(path, generation, "tariff forum")
    assert from_arrays == expected


def test_doc_numbers_beyond_two_bytes_are_kept(tmp_path):
    """A segment of more than 65,536 passages keeps every doc number (they take four bytes there, not two)."""
    arrays = SegmentArrays()
    docs = array("I", [3, 65_535, 65_536, 69_999])
    arrays.add("body", b"tariff", docs, array("f", [1.0, 2.0, 300.0, 1.0]))
    arrays.save(str(tmp_path), "MAIN_x", 70_000, {"body": array("I", [9] * 70_000)})
    saved = read_segment(tmp_path, "MAIN_x")
    assert saved["body.docs"].tolist() == list(docs)
    assert saved["body.weights"].astype(np.float64).tolist() == [1.0, 2.0, 300.0, 1.0]


WHOOSH_ALONE = """
import sys
import whoosh.index
from whoosh.fields import ID, STORED, Schema

folder, mode = sys.argv[1], sys.argv[2]
if mode == "write":
    ix = whoosh.index.create_in(folder, Schema(key=ID(stored=True), note=STORED()))
    with ix.writer() as writer:
        for n in range(50):
            writer.add_document(key=f"k{n}", note=f"note {n} " * n)
else:
    with whoosh.index.open_dir(folder).searcher() as searcher:
        print(sorted(searcher.document(key=f"k{n}")["note"] == f"note {n} " * n for n in range(50)) == [True] * 50)
print("searchkit" in sys.modules)
"""


def _whoosh_alone(folder, mode: str) -> list[str]:
    """Whoosh without searchkit in a process of its own: write its own index in ``folder``, or read it back."""
    done = subprocess.run([sys.executable, "-c", WHOOSH_ALONE, str(folder), mode], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_whoosh_indexes_beside_searchkit_keep_whoosh_format(tmp_path):
    """Importing searchkit changes no other Whoosh index's format: an index Whoosh writes alone reads back here,
    and one written here, beside searchkit, reads back in a Whoosh without searchkit."""
    from whoosh.fields import ID, STORED, Schema

    (tmp_path / "alone").mkdir()
    assert _whoosh_alone(tmp_path / "alone", "write") == ["False"]
    with whoosh.index.open_dir(str(tmp_path / "alone")).searcher() as searcher:
        assert all(searcher.document(key=f"k{n}")["note"] == f"note {n} " * n for n in range(50))
    (tmp_path / "beside").mkdir()
    ix = whoosh.index.create_in(str(tmp_path / "beside"), Schema(key=ID(stored=True), note=STORED()))
    with ix.writer() as writer:
        for n in range(50):
            writer.add_document(key=f"k{n}", note=f"note {n} " * n)
    assert _whoosh_alone(tmp_path / "beside", "read") == ["True", "False"]
