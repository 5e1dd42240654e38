"""searchkit.evaluate on a tiny collection written in the SMART format: readers, ranking, ir-measures, TREC runs."""

from __future__ import annotations

import json

import pytest

from searchkit import Index, SearchkitError
from searchkit.collections import find_collection, read_collection
from searchkit.errors import CollectionError
from searchkit.evaluate import evaluate

DOCS = """.I 1
.T
glaciers of the caspian region
.W
the retreat of mountain glaciers near the caspian sea was measured over a decade .
.I 2
.T
wheat harvest
.W
farmers reported a record wheat harvest after a wet spring ; grain prices fell .
.I 3
.T
pipeline routes
.W
a new oil pipeline route across the caspian seabed was proposed by the ministry (see "routes") .
"""
QUERIES = """.I 1
.W
Retreating glaciers: what was measured?
.I 2
.W
"oil pipeline" AND (seabed OR route
"""
RELEVANCE = "1 1 0 0.000000\n2 3 0 0.000000\n2 2 0 0.000000\n"


def test_relevant_documents_rank_first_and_metrics_follow(tiny_collection, tmp_path):
    run = tmp_path / "tiny.run"
    result = evaluate(read_collection(tiny_collection), run_file=run)
    assert result.collection == "adi" and result.queries == 2
    assert result.metrics["RR"] == 1.0  # each query's first document is relevant
    assert result.per_query["P@10"]["1"] == pytest.approx(1 / 10)
    # query 2 finds document 3 (relevant) but document 2 shares none of its words: half the relevant found
    assert result.per_query["R@100"] == {"1": 1.0, "2": 0.5}
    lines = [line.split() for line in run.read_text().splitlines()]
    assert lines[0][:4] == ["1", "Q0", "1", "1"] and lines[0][5] == "searchkit"
    assert [line[2] for line in lines if line[0] == "2"] == ["3"]
    assert json.dumps(result.to_dict())  # the --json contract is plain JSON


def test_query_syntax_characters_are_plain_words(tiny_collection):
    # query 2 has an unbalanced parenthesis and operators: as plain words it still runs and finds document 3
    result = evaluate(read_collection(tiny_collection), measures=["RR"])
    assert result.per_query["RR"]["2"] == 1.0


def test_unknown_measure_and_collection_raise(tiny_collection, tmp_path):
    with pytest.raises(CollectionError, match="unknown measure"):
        evaluate(read_collection(tiny_collection), measures=["nDCG@ten"])
    with pytest.raises(CollectionError, match="no test collection"):
        find_collection("nowhere", tmp_path)
    odd = tmp_path / "mystery"
    odd.mkdir()
    with pytest.raises(CollectionError, match="not a known test collection"):
        read_collection(odd)


def test_cli_eval_expand_writes_the_expanded_ranking(run_cli, tiny_collection, tmp_path):
    run = tmp_path / "expanded.run"
    result = run_cli("eval", tiny_collection, "--expand", "--json", "--run", run)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["queries"] == 2
    # query 1 finds document 1 alone; its words ("caspian") bring in document 3, below it
    assert [line.split()[2] for line in run.read_text().splitlines() if line.startswith("1 ")] == ["1", "3"]


@pytest.mark.parametrize("run_file", ["missing/run.txt", ".", "a-file/run.txt"])
def test_a_run_file_that_cannot_be_written_fails_before_indexing(tiny_collection, tmp_path, monkeypatch, run_file):
    (tmp_path / "a-file").write_text("")
    monkeypatch.chdir(tmp_path)

    def build(*args, **kwargs):
        raise AssertionError("indexed before checking the run file")

    monkeypatch.setattr(Index, "build", build)
    with pytest.raises(SearchkitError, match="cannot write the run file"):
        evaluate(read_collection(tiny_collection), run_file=run_file)
