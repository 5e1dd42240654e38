"""The index's compact encodings: stored fields compressed in blocks, top-k arrays in the narrowest exact types."""

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
from searchkit.arrays import SegmentArrays, read_meta, read_segment
from searchkit.local import LocalBackend
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
