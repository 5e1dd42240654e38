"""Query expansion by pseudo-relevance feedback (``Index.search(expand=True)``, ``searchkit query --expand``)."""

from __future__ import annotations

import json

import pytest

from searchkit import Index

MORAINE = "The moraine survey measured the ice loss of the Volga uplands and drilled ice cores for the survey."
ARTICLES = [
    {"id": "glacier", "source": "Reuters", "title": "Caspian glaciers",
     "text": "Glaciers retreat in the Caspian mountains: the moraine survey measured the ice loss."},
    {"id": "volga", "source": "TASS", "text": MORAINE},
    {"id": "cores", "source": "Reuters", "text": "A moraine survey team drilled ice cores near the lake."},
    {"id": "long", "source": "TASS", "title": "Moraines",
     "text": "\n\n".join(f"Part {n}. {MORAINE} " * 4 for n in range(3))},  # several passages
    {"id": "wheat", "source": "Reuters", "text": "Farmers reported a record wheat harvest after a wet spring."},
    {"id": "pipeline", "source": "TASS", "text": "A new oil pipeline route across the seabed was proposed."},
    {"id": "vote", "source": "Reuters", "text": "Voters chose a new parliament in a calm election."},
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("expand")
    (root / "news.jsonl").write_text("\n".join(json.dumps(a) for a in ARTICLES) + "\n")
    Index.build([root / "news.jsonl"], root / "index")
    return root / "index"


def _articles(hits) -> list[str]:
    return [hit.passage.article for hit in hits]


def test_expansion_adds_words_of_the_top_hits(index):
    with Index.open(index) as ix:
        plain = ix.search("glaciers", limit=20)
        expanded = ix.search("glaciers", limit=20, expand=True)
        again = ix.search("glaciers", limit=20, expand=True)
    assert _articles(plain) == ["glacier"]
    # the top hit's "moraine", "survey", "ice" now find articles that never say "glacier"; it stays first
    assert _articles(expanded)[0] == "glacier"
    assert {"volga", "cores", "long"} <= set(_articles(expanded))
    assert not {"wheat", "pipeline", "vote"} & set(_articles(expanded))
    volga = next(hit for hit in expanded if hit.passage.article == "volga")
    marked = {h.text[s:e].lower() for h in volga.highlights for s, e in h.matches}
    assert "moraine" in marked  # highlights mark the added words
    assert [(h.passage.id, h.score) for h in expanded] == [(h.passage.id, h.score) for h in again]


def test_expansion_keeps_filters_and_required_words(index):
    with Index.open(index) as ix:
        reuters = ix.search("glaciers", limit=20, source="Reuters", expand=True)
        both = ix.search("glaciers AND caspian", limit=20, expand=True)
    assert _articles(reuters)[0] == "glacier" and "cores" in _articles(reuters)
    assert {hit.passage.source for hit in reuters} == {"Reuters"}
    assert _articles(both) == ["glacier"]  # AND: the added words reorder, they do not widen


def test_expansion_composes_with_per_article(index):
    with Index.open(index) as ix:
        passages = ix.search("glaciers", limit=20, expand=True)
        articles = ix.search("glaciers", limit=20, expand=True, per_article=True)
    assert _articles(passages).count("long") > 1
    assert sorted(_articles(articles)) == sorted(set(_articles(passages)))
    assert _articles(articles)[0] == "glacier"


def test_cli_query_expand(run_cli, index):
    plain = run_cli("query", "glaciers", "--index", index, "--json", "--per-article")
    expanded = run_cli("query", "glaciers", "--index", index, "--json", "--per-article", "--expand")
    assert plain.code == 0 and expanded.code == 0, expanded.stderr
    found = [json.loads(line)["article"] for line in expanded.stdout.splitlines()]
    assert [json.loads(line)["article"] for line in plain.stdout.splitlines()] == ["glacier"]
    assert found[0] == "glacier" and "volga" in found
