"""Every query is bounded: wide patterns are refused naming what to narrow; filter values, argument types and
stop-word queries are errors the caller can read; ``sort="date"`` returns exactly the newest day's best."""

from __future__ import annotations

import json
import random
import string
import time
from datetime import date

import pytest

import searchkit.bounds
import searchkit.query
from searchkit import Index, QueryError

LETTERS = string.ascii_lowercase
WIDE_VOCABULARY = 8_000
"""Distinct words of the wide corpus: more than ``MAX_EXPANDED_TERMS``, so that broad patterns pass it."""


@pytest.fixture(scope="module")
def wide_index(tmp_path_factory):
    """An index of 200 articles over a vocabulary of 8,000 made-up words (plus 'caspian' and 'seabed')."""
    rng = random.Random(11)
    vocabulary = sorted({"".join(rng.choice(LETTERS) for _ in range(rng.randint(5, 9))) for _ in range(WIDE_VOCABULARY)})
    folder = tmp_path_factory.mktemp("wide")
    with open(folder / "wide.jsonl", "w", encoding="utf-8") as f:
        for n in range(200):
            words = rng.sample(vocabulary, 60) + ["caspian", "seabed"]
            f.write(json.dumps({"id": f"w{n}", "title": " ".join(rng.sample(vocabulary, 3)),
                                "date": f"2019-01-{n % 28 + 1:02d}", "source": "Reuters", "text": " ".join(words)})
                    + "\n")
    path = folder / "index"
    Index.build([folder / "wide.jsonl"], path)
    return path


@pytest.fixture(scope="module")
def wide(wide_index):
    with Index.open(wide_index) as ix:
        yield ix


BROAD = {
    "everything": "*",
    "infix": "*a*",
    "suffixes": " ".join(f"*{c}" for c in LETTERS),
    "field-everything": "body:*",
    "one-letter-prefix-many": " ".join(f"{c}*" for c in LETTERS),
    "text-range": "body:[a TO zzzz]",
    "open-range": "body:[a TO]",
    "range-beside-words": "caspian body:[b TO k]",
    "many-infixes": " ".join(["*x*"] * 52),
    "negated-infix": "caspian NOT *e*",
    "pattern-in-phrase-group": '"caspian seabed" OR *o*',
    "question-marks": "?????",
}
OPTIONS = {
    "default": {},
    "date": {"sort": "date"},
    "per-article": {"per_article": True},
    "expand": {"expand": True},
    "filters": {"source": "Reuters", "since": "2019-01-01", "until": "2019-12-31"},
}


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("text", BROAD.values(), ids=BROAD.keys())
def test_broad_patterns_are_refused_quickly_with_what_to_narrow(wide, text, options):
    began = time.perf_counter()
    with pytest.raises(QueryError, match="too broad") as caught:
        wide.search(text, limit=3, **options)
    assert time.perf_counter() - began < 2.0
    assert "narrow" in str(caught.value) or "start each pattern" in str(caught.value)


@pytest.mark.parametrize("text", ["caspia*", "seab?d", "cas*n", "ca*", "body:[casp TO caspz]"])
def test_narrow_patterns_are_answered(wide, text):
    hits = wide.search(text, limit=3, sort="date")
    assert isinstance(hits, list)
    assert wide.search(text, limit=3, per_article=True, expand=True) is not None


def test_the_postings_bound_counts_what_patterns_reach(seed_index, monkeypatch):
    with Index.open(seed_index) as ix:
        assert ix.search("kazakh*", limit=3)
        monkeypatch.setattr(searchkit.bounds, "MAX_EXPANDED_POSTINGS", 5)
        with pytest.raises(QueryError, match="postings"):
            ix.search("kazakh*", limit=3)
        with pytest.raises(QueryError, match="postings"):
            ix.search("date:[2000-01-01 TO 2030-01-01]", limit=3)  # a date range scored by itself reaches them
        assert ix.search("Caspian", limit=3, since="2000-01-01")  # a filter's date range is one pass, not counted


def test_queries_the_arrays_cannot_score_are_bounded_apart(seed_index, monkeypatch):
    with Index.open(seed_index) as ix:
        ix.search("warm the arrays up", limit=1)
        monkeypatch.setattr(searchkit.bounds, "MAX_WHOOSH_POSTINGS", 1)
        assert ix.search("Caspian Kazakhstan", limit=3, sort="date")  # the arrays score it
        for text in ("Caspian NOT Kazakhstan", '"Caspian Sea"', "forum AND NOT Putin"):
            for options in ({}, {"sort": "date"}, {"per_article": True}, {"expand": True}):
                with pytest.raises(QueryError, match="NOT, a common phrase"):
                    ix.search(text, limit=3, **options)


def test_cli_refuses_a_broad_query_in_one_line(wide_index, run_cli):
    for args in (["*a*"], ["a* b* c* d* e* f* g* h* i* j* k* l* m*", "--sort", "date"], ["*", "--per-article"]):
        result = run_cli("query", *args, "--index", wide_index)
        assert result.code == 2, result
        assert result.stderr.startswith("error: query too broad") and result.stderr.count("\n") == 1, result.stderr
        assert result.stdout == ""


# --- filter values ------------------------------------------------------------------------------------------------

HOSTILE_VALUES = {
    "dot": ".",
    "punctuation": "-.,;!?",
    "spaces": "   ",
    "empty": "",
    "tab-newline": "\t\n",
    "controls": "\x00\x1b[2J\x7f",
    "surrogate": "Reu\ud800ters",
    "lone-surrogate": "\udfff",
    "long": "Reuters " * 20_000,
}


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
@pytest.mark.parametrize("name", ["source", "place", "speaker", "since", "until"])
def test_hostile_filter_values_answer_or_raise_query_error(seed_index, name, value):
    with Index.open(seed_index) as ix:
        began = time.perf_counter()
        try:
            hits = ix.search("forum", **{name: value})
        except QueryError as e:
            assert str(e) and "\n" not in str(e)
        else:
            # a value with nothing to match cannot silently match nothing
            assert any(c.isalnum() for c in value), hits
        assert time.perf_counter() - began < 2.0


def test_cli_source_of_punctuation_is_one_line(run_cli, seed_index):
    result = run_cli("query", "forum", "--source", ".", "--index", seed_index)
    assert result.code == 2
    assert result.stderr.startswith("error: source") and result.stderr.count("\n") == 1, result.stderr


# --- argument types -----------------------------------------------------------------------------------------------

WRONG_TYPES = {
    "limit-str": ({"text": "forum", "limit": "10"}, "limit"),
    "limit-bool": ({"text": "forum", "limit": True}, "limit"),
    "limit-float": ({"text": "forum", "limit": 2.5}, "limit"),
    "text-int": ({"text": 123}, "text"),
    "text-none": ({"text": None}, "text"),
    "text-bytes": ({"text": b"forum"}, "text"),
    "sort-none": ({"text": "forum", "sort": None}, "sort"),
    "since-int": ({"text": "forum", "since": 20171101}, "since"),
    "until-list": ({"text": "forum", "until": ["2017-11-01"]}, "until"),
    "source-int": ({"text": "forum", "source": 5}, "source"),
    "speaker-bytes": ({"text": "forum", "speaker": b"Putin"}, "speaker"),
    "per-article-str": ({"text": "forum", "per_article": "no"}, "per_article"),
}


@pytest.mark.parametrize("kwargs, name", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_search_arguments_of_the_wrong_type_name_the_argument(seed_index, kwargs, name):
    with Index.open(seed_index) as ix, pytest.raises(TypeError, match=rf"^{name} must be"):
        ix.search(**kwargs)


@pytest.mark.parametrize("passage_id", [None, 123, b"aba9a9ce65498e20", ["x"]])
@pytest.mark.parametrize("method", ["get", "neighbours"])
def test_passage_ids_of_the_wrong_type_name_the_argument(seed_index, method, passage_id):
    with Index.open(seed_index) as ix, pytest.raises(TypeError, match="^passage_id must be str"):
        getattr(ix, method)(passage_id)


def test_a_date_object_filters_as_its_iso_string(seed_index):
    with Index.open(seed_index) as ix:
        as_date = ix.search("forum", since=date(2017, 11, 9), until=date(2017, 11, 9), limit=50)
        assert [h.passage.id for h in as_date] == [
            h.passage.id for h in ix.search("forum", since="2017-11-09", until="2017-11-09", limit=50)
        ]
        with pytest.raises(QueryError, match="after until"):
            ix.search("forum", since=date(2018, 1, 1), until="2017-01-01")


# --- stop words ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["should", "to be or not to be", "The", '"to be"', "(should OR can) AND the"])
@pytest.mark.parametrize("syntax", [True, False])
def test_a_query_of_stop_words_says_so(seed_index, text, syntax):
    from searchkit import NothingToSearch

    if text == "(should OR can) AND the" and not syntax:
        text = "should can the"
    with Index.open(seed_index) as ix, pytest.raises(NothingToSearch, match="stop word"):
        ix.search(text, syntax=syntax)
    assert issubclass(NothingToSearch, QueryError)


def test_cli_stop_words_are_a_note_and_exit_1(seed_index, run_cli):
    result = run_cli("query", "to be or not to be", "--index", seed_index)
    assert result.code == 1
    assert result.stderr.startswith("note: every word of the query is a stop word"), result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


# --- sort="date" --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def same_day_index(tmp_path_factory):
    """40 wheat passages on the newest day, earlier ones mentioning wheat more (so that neither doc order nor
    its reverse is score order within the day), and 40 older ones."""
    folder = tmp_path_factory.mktemp("sameday")
    with open(folder / "news.jsonl", "w", encoding="utf-8") as f:
        for n in range(80):
            day = "2020-03-05" if n >= 40 else f"2020-02-{n % 28 + 1:02d}"
            wheat = 40 - n % 40 if n % 2 else 20 - n % 20
            text = " ".join(["wheat harvest"] * wheat + ["grain"] * (41 - wheat))
            f.write(json.dumps({"id": f"a{n}", "title": f"Report {n}", "date": day, "text": text}) + "\n")
    path = folder / "index"
    Index.build([folder], path)
    return path


@pytest.mark.parametrize("text", ["wheat", "whea*", '"wheat harvest"', "wheat NOT barley"])
@pytest.mark.parametrize("limit", [1, 3, 10])
def test_sort_by_date_returns_the_best_of_the_newest_day(same_day_index, text, limit):
    with Index.open(same_day_index) as ix:
        by_date = ix.search(text, sort="date", limit=limit, highlights=False)
        every = ix.search(text, limit=1000, highlights=False)
    assert len(every) == 80
    expected = sorted(every, key=lambda h: (h.passage.date, h.score), reverse=True)[:limit]
    assert [h.passage.id for h in by_date] == [h.passage.id for h in expected]
    assert [h.score for h in by_date] == pytest.approx([h.score for h in expected])


# --- patterns: expanded once into their terms, ranked alike by Whoosh and the arrays ---------------------------

PATTERNS = ["caspia*", "ca*", "c*n", "body:[casp TO caspz]", "caspian AND ca*", "seabed ca*", "ca* NOT caspian",
            "source:reu* caspian"]


@pytest.mark.parametrize("text", [t for t in PATTERNS if "AND" not in t])  # Whoosh's AND of ORs: its own sums
def test_a_pattern_ranks_alike_on_the_first_and_later_queries(wide_index, text):
    # Whoosh scores a pattern as a constant, the arrays (loaded from an Index's second query) by its terms
    with Index.open(wide_index) as ix:
        first, second = ([(h.passage.id, h.score) for h in ix.search(text, limit=10)] for _ in range(2))
    assert first == second


@pytest.mark.parametrize("text", [t for t in PATTERNS if "AND" not in t])
def test_expanded_patterns_rank_as_whoosh_ranks_their_terms(wide, text):
    from whoosh import query as wq

    from searchkit.backend import tiebreak
    from searchkit.bounds import bound_patterns
    from searchkit.query import build_query, expanded
    from searchkit.scoring import BM25FWeighting

    backend = wide.backend
    searcher = backend.searcher()
    context = searcher.context(weighting=BM25FWeighting(backend.statistics((), articles=False), wide.settings))

    def by_whoosh(parsed) -> dict[int, float]:
        collector = searcher.collector(limit=None, filter=parsed.filter)
        searcher.search_with_collector(parsed.query, collector, context=context)
        return {docnum: score for score, docnum in collector.results().top_n}

    bounded = bound_patterns(build_query(text), backend.lexicon())
    assert not any(isinstance(leaf, wq.MultiTerm) for leaf in bounded.query.leaves())
    matches = by_whoosh(bounded)
    ids = {docnum: searcher.stored_fields(docnum)["id"] for docnum in matches}
    best = sorted(matches, key=lambda d: (-matches[d], tiebreak(ids[d])))[:10]
    ranked = [(h.passage.id, h.score) for h in wide.search(text, limit=10, highlights=False)]
    assert [i for i, _ in ranked] == [ids[d] for d in best]
    assert [s for _, s in ranked] == pytest.approx([matches[d] for d in best], rel=1e-12)
    # with expansion words (AND-MAYBE unless the query is words combined by OR), the arrays answer as Whoosh does
    grown = expanded(bounded, [("seabed", 1.0), ("caspian", 0.5)], wide.settings.feedback_original_weight)
    if "NOT" not in text:
        found = backend.arrays().passage_matches(searcher, grown.query, grown.filter, context)
        assert found is not None
        expected = by_whoosh(grown)
        got = dict(zip(found.docs.tolist(), found.scores.tolist()))
        assert got.keys() == expected.keys()
        assert [got[d] for d in sorted(got)] == pytest.approx([expected[d] for d in sorted(got)], rel=1e-12)
