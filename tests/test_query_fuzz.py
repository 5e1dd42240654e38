"""Hypothesis: whatever the query text, the parser and search return results or raise QueryError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from searchkit import Index, QueryError
from searchkit.query import build_query

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
