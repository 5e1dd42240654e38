"""Test-collection readers: the counts each folder's SOURCE.md verified, and the format pitfalls it names."""

from __future__ import annotations

import pytest

from conftest import shared_data
from searchkit.collections import COLLECTIONS, read_collection

# name: (documents with text, queries, judged queries, relevant pairs), as SOURCE.md counts them
EXPECTED = {
    "cranfield": (1398, 225, 225, 1612),  # 1400 records, two empty (471, 995); codes -1 dropped
    "cisi": (1460, 112, 76, 3114),
    "cacm": (3204, 64, 52, 796),  # the trailing empty ``.I 0`` query skipped
    "medline": (1033, 30, 30, 696),
    "time": (423, 83, 83, 324),  # TIME.REL.ALL
    "npl": (11429, 93, 93, 2083),
    "lisa": (5999, 35, 35, 362),
    "adi": (82, 35, 35, 170),
}


@pytest.mark.parametrize("name", COLLECTIONS)
def test_counts_match_source_notes(name):
    collection = read_collection(shared_data(name))
    judged = [q for q in collection.queries if collection.qrels.get(q)]
    pairs = sum(len(docs) for docs in collection.qrels.values())
    assert (len(collection.documents), len(collection.queries), len(judged), pairs) == EXPECTED[name]
    ids = {d.id for d in collection.documents}
    assert len(ids) == len(collection.documents)
    assert all(d.text and d.text == " ".join(d.text.split()) for d in collection.documents)


def test_cranfield_queries_are_numbered_by_position_and_graded():
    collection = read_collection(shared_data("cranfield"))
    assert sorted(map(int, collection.queries)) == list(range(1, 226))
    assert collection.queries["3"].startswith("what problems of heat conduction")  # its .I is 004
    assert {g for docs in collection.qrels.values() for g in docs.values()} == {1, 2, 3, 4}


def test_time_relevance_ids_are_article_positions():
    collection = read_collection(shared_data("time"))
    referenced = {d for docs in collection.qrels.values() for d in docs}
    assert referenced <= {d.id for d in collection.documents}
    assert max(map(int, referenced)) <= 423


def test_collections_are_found_from_any_folder_and_through_the_variable(run_cli, tmp_path):
    """``eval adi`` finds ../shared/data beside the checkout from any working folder, and
    ``SEARCHKIT_SHARED_DATA`` overrides where it looks (an empty folder there: one line, exit 2)."""
    shared_data("adi")
    anywhere = run_cli("eval", "adi", "--metrics", "nDCG@10", "--json", cwd=tmp_path)
    assert anywhere.code == 0, anywhere.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    elsewhere = run_cli("eval", "adi", cwd=tmp_path, env={"SEARCHKIT_SHARED_DATA": str(empty)})
    assert elsewhere.code == 2
    assert elsewhere.stderr.startswith("error: no test collection 'adi'") and str(empty) in elsewhere.stderr
    assert "Traceback" not in elsewhere.stderr
