"""Hypothesis: whatever the query text, the parser and search return results or raise QueryError."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from whoosh import query as wq
from whoosh.qparser import MultifieldParser, OrGroup

from searchkit import Index, QueryError
from searchkit.query import _union_trees, build_query
from searchkit.schema import SCHEMA, SEARCH_FIELDS
from searchkit.settings import DEFAULT

SYNTAX = st.sampled_from(['"', "(", ")", "[", "]", "{", "}", ":", "*", "?", "~", "^", "AND", "OR", "NOT", "TO",
                          "title:", "date:", "source:", "date:[2017-11-01 TO 2017-11-30]", "-", "+", "\\", "'"])
WORDS = st.sampled_from(["Caspian", "seabed", "forum", "Putin", "2017", "x", "the", "Astana", "é", "日本"])
QUERY_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(SYNTAX, WORDS, st.text(max_size=5)), max_size=12).map(" ".join),
)


@settings(max_examples=400, deadline=None)
@given(QUERY_TEXT)
def test_parser_only_raises_query_error(text):
    try:
        build_query(text)
    except QueryError as e:
        assert str(e) and "\n" not in str(e)


PLAIN_WORDS = st.lists(
    st.one_of(WORDS, st.sampled_from(["and", "or", "Running", "U", "x_y", "İstanbul", "ﬁsh", "ß", "١٢"]),
              st.text(st.characters(categories=("L", "N", "Pc")), min_size=1, max_size=6)),
    min_size=1, max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(PLAIN_WORDS, st.sampled_from([" ", " AND "]), st.sampled_from([1.0, 2.5]))
def test_words_are_parsed_as_whoosh_parses_them(words, between, title_boost):
    """Text of words alone, or of words joined by AND, skips Whoosh's parser (``query._parsed_words``): the query
    is the one it would make."""
    text = between.join(words)
    parser = MultifieldParser(list(SEARCH_FIELDS), SCHEMA, fieldboosts={"title": title_boost}, group=OrGroup)
    expected = parser.parse(text)
    if all(leaf is wq.NullQuery for leaf in expected.leaves()):
        return
    try:
        parsed = build_query(text, settings=DEFAULT.replace(title_boost=title_boost)).query
    except QueryError:  # a dangling operator: refused before parsing
        return
    assert repr(parsed) == repr(_union_trees(expected))


@pytest.fixture(scope="module")
def ix(seed_index):
    with Index.open(seed_index) as index:
        yield index


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(QUERY_TEXT)
@example("date:[0001TO2017]10")  # once tripped an assertion inside Whoosh's RequireMatcher
def test_search_only_raises_query_error(ix, text):
    try:
        hits = ix.search(text, limit=5)
    except QueryError:
        return
    assert all(h.highlights for h in hits)


ANY_CHARACTER = st.characters(codec=None, categories=None, exclude_categories=())
"""Any code point, lone surrogates and C0/C1 controls included (as undecodable or scraped text holds them)."""
HOSTILE_TEXT = st.one_of(
    st.text(ANY_CHARACTER, max_size=40),
    st.lists(st.one_of(SYNTAX, WORDS, st.sampled_from(["*", "?*", "c*", "*a*", "[a TO z]", "\ud800", "\x1b[2J", "\x00"]),
                       st.text(ANY_CHARACTER, max_size=4)), max_size=10).map(" ".join),
)
FILTER_VALUE = st.one_of(st.none(), st.text(ANY_CHARACTER, max_size=30), st.sampled_from(
    [".", "  ", "", "Kremlin", "2017-11-09", "2017-02-30", "\ud800", "x" * 2000, "\x1b]52;c;aGk=\x07"]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=HOSTILE_TEXT, source=FILTER_VALUE, place=FILTER_VALUE, speaker=FILTER_VALUE, since=FILTER_VALUE,
       until=FILTER_VALUE, sort=st.sampled_from(["score", "date"]), per_article=st.booleans(), expand=st.booleans())
@example(text="forum", source=".", place=None, speaker=None, since=None, until=None, sort="score",
         per_article=False, expand=False)
@example(text="x \ud800 y", source=None, place=None, speaker=None, since=None, until=None, sort="date",
         per_article=False, expand=True)
def test_hostile_text_and_filters_answer_or_raise_query_error_in_bounded_time(
    ix, text, source, place, speaker, since, until, sort, per_article, expand
):
    began = time.perf_counter()
    try:
        hits = ix.search(text, limit=5, source=source, place=place, speaker=speaker, since=since, until=until,
                         sort=sort, per_article=per_article and sort == "score", expand=expand)
    except QueryError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert all(h.highlights for h in hits)
    assert time.perf_counter() - began < 5.0
