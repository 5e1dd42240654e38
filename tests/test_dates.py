"""Date phrases → day ranges (``searchkit.dates``), through the grammar, ``Index.search`` and the real CLI."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchkit import Index, QueryError
from searchkit.dates import DayRange, parse_phrase

TODAY = date(2019, 10, 10)  # a Thursday; the 2019 seed is dated the day before
D = date


@pytest.mark.parametrize("phrase, start, end", [
    # absolute: a year or a month is its whole span
    ("2019", D(2019, 1, 1), D(2019, 12, 31)),
    ("2019-03", D(2019, 3, 1), D(2019, 3, 31)),
    ("2020-02", D(2020, 2, 1), D(2020, 2, 29)),  # a leap year
    ("2019-02", D(2019, 2, 1), D(2019, 2, 28)),
    ("March 2019", D(2019, 3, 1), D(2019, 3, 31)),
    ("Mar 2019", D(2019, 3, 1), D(2019, 3, 31)),
    ("sept 2019", D(2019, 9, 1), D(2019, 9, 30)),
    ("2019-03-05", D(2019, 3, 5), D(2019, 3, 5)),
    ("5 March 2019", D(2019, 3, 5), D(2019, 3, 5)),
    ("March 5, 2019", D(2019, 3, 5), D(2019, 3, 5)),
    ("March 5 2019", D(2019, 3, 5), D(2019, 3, 5)),
    ("2020-02-29", D(2020, 2, 29), D(2020, 2, 29)),
    # relative to TODAY, Thursday 2019-10-10; a week is an ISO week, Monday to Sunday
    ("today", TODAY, TODAY),
    ("yesterday", D(2019, 10, 9), D(2019, 10, 9)),
    ("this week", D(2019, 10, 7), D(2019, 10, 13)),
    ("last week", D(2019, 9, 30), D(2019, 10, 6)),
    ("this month", D(2019, 10, 1), D(2019, 10, 31)),
    ("last month", D(2019, 9, 1), D(2019, 9, 30)),
    ("this year", D(2019, 1, 1), D(2019, 12, 31)),
    ("last year", D(2018, 1, 1), D(2018, 12, 31)),
    ("past 3 days", D(2019, 10, 8), TODAY),  # the N days ending today
    ("last 3 days", D(2019, 10, 8), TODAY),
    ("past 1 day", TODAY, TODAY),
    ("past week", D(2019, 10, 4), TODAY),
    ("past 2 weeks", D(2019, 9, 27), TODAY),
    ("past 2 months", D(2019, 8, 11), TODAY),
    ("past 1 year", D(2018, 10, 11), TODAY),
    ("3 days ago", D(2019, 10, 7), D(2019, 10, 7)),
    ("0 days ago", TODAY, TODAY),
    # case and extra spaces are ignored
    ("  LAST   Month ", D(2019, 9, 1), D(2019, 9, 30)),
    ("MARCH  5 ,2019", D(2019, 3, 5), D(2019, 3, 5)),
])
def test_every_form(phrase, start, end):
    assert parse_phrase(phrase, today=TODAY) == DayRange(start, end)


@pytest.mark.parametrize("phrase, today, start, end", [
    ("last month", D(2019, 3, 31), D(2019, 2, 1), D(2019, 2, 28)),  # a month end, into a shorter month
    ("last month", D(2020, 3, 31), D(2020, 2, 1), D(2020, 2, 29)),  # ... of a leap year
    ("last month", D(2020, 1, 15), D(2019, 12, 1), D(2019, 12, 31)),  # a year boundary
    ("past 1 month", D(2019, 3, 31), D(2019, 3, 1), D(2019, 3, 31)),  # Feb 31 is Feb 28
    ("past 1 year", D(2020, 2, 29), D(2019, 3, 1), D(2020, 2, 29)),  # Feb 29 a year back is Feb 28
    ("last week", D(2021, 1, 2), D(2020, 12, 21), D(2020, 12, 27)),  # Saturday 2 January: ISO week 53 is this week
    ("this week", D(2021, 1, 2), D(2020, 12, 28), D(2021, 1, 3)),
    ("last week", D(2019, 1, 1), D(2018, 12, 24), D(2018, 12, 30)),  # Tuesday 1 January
    ("yesterday", D(2019, 1, 1), D(2018, 12, 31), D(2018, 12, 31)),
    ("yesterday", D(2020, 3, 1), D(2020, 2, 29), D(2020, 2, 29)),
    ("last year", D(2020, 1, 1), D(2019, 1, 1), D(2019, 12, 31)),
    ("this week", D(2019, 10, 7), D(2019, 10, 7), D(2019, 10, 13)),  # Monday starts the week
    ("this week", D(2019, 10, 13), D(2019, 10, 7), D(2019, 10, 13)),  # Sunday ends it
])
def test_month_ends_leap_years_and_year_boundaries(phrase, today, start, end):
    assert parse_phrase(phrase, today=today) == DayRange(start, end)


@pytest.mark.parametrize("phrase, message", [
    # numeric day/month orders are ambiguous: refused, never read either way
    ("10.11.2017", r"'10\.11\.2017' is ambiguous .* write 2017-11-10 or 2017-10-11"),
    ("10/11/2017", r"'10/11/2017' is ambiguous .* write 2017-11-10 or 2017-10-11"),
    ("10-11-2017", r"is ambiguous .* write 2017-11-10 or 2017-10-11"),
    ("13/11/2017", r"'13/11/2017' is not accepted .* write 2017-11-13"),
    ("2017/11/10", r"write 2017-11-10"),
    # not a real day
    ("2019-02-29", "names no real day"), ("2019-13", "names no real day"), ("31 April 2019", "names no real day"),
    ("0000", "names no real day"), ("past 100000 years", "names no real day"),
    # unknown phrases name the phrase and list the forms
    ("since last week", "unknown date phrase 'since last week'; write one of: 2019, 2019-03, March 2019"),
    ("March", "unknown date phrase 'March'"), ("last fortnight", "unknown date phrase"),
    ("tomorrow", "unknown date phrase"), ("past 0 days", "unknown date phrase"), ("19", "unknown date phrase"),
    ("Smarch 2019", "unknown date phrase"), ("", "unknown date phrase ''"), ("٢٠١٩", "unknown date phrase"),
    ("past 999999 days", "unknown date phrase"),
])
def test_refused_phrases_say_why_on_one_line(phrase, message):
    with pytest.raises(QueryError, match=message) as caught:
        parse_phrase(phrase, today=TODAY, name="since")
    assert str(caught.value).startswith("since must be a date: ") and "\n" not in str(caught.value)


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(["past", "last", "this", "3", "days", "week", "ago", "March", "2019", "2019-02",
                              "29", ",", "-", "/", ".", "99999999999999999999", "0"]), max_size=5).map(" ".join),
), st.dates())
def test_any_text_is_a_range_or_a_query_error(text, today):
    try:
        days = parse_phrase(text, today=today)
    except QueryError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert isinstance(days, DayRange) and days.start <= days.end


@pytest.fixture(scope="module")
def ix(seed_index):
    with Index.open(seed_index) as index:
        yield index


def _dates(hits) -> set[date]:
    return {h.passage.date for h in hits}


@pytest.mark.parametrize("kwargs, expected", [
    ({"since": "2019"}, {D(2019, 10, 9)}),
    ({"until": "November 2017"}, {D(2017, 11, 9), D(2017, 11, 10)}),  # a month as until includes its last day
    ({"until": "2017"}, {D(2017, 11, 9), D(2017, 11, 10)}),
    ({"since": "November 2017", "until": "2017-11-09"}, {D(2017, 11, 9)}),
    ({"since": "10 November 2017", "until": "Nov 10, 2017"}, {D(2017, 11, 10)}),
    ({"since": "yesterday", "today": TODAY}, {D(2019, 10, 9)}),
    ({"since": "last week", "today": D(2019, 10, 14)}, {D(2019, 10, 9)}),
    ({"until": "last year", "today": TODAY}, {D(2017, 11, 9), D(2017, 11, 10)}),
    ({"since": "past 3 days", "today": D(2019, 10, 11)}, {D(2019, 10, 9)}),
    ({"since": "past 2 days", "today": D(2019, 10, 11)}, set()),
    ({"since": "this year", "until": "today", "today": TODAY}, {D(2019, 10, 9)}),
])
def test_search_filters_by_date_phrases(ix, kwargs, expected):
    assert _dates(ix.search("forum OR Caspian OR Tokayev OR Astana", limit=100, **kwargs)) == expected


@pytest.mark.parametrize("text, expected", [
    ("forum date:2019", {D(2019, 10, 9)}),
    ('forum date:"November 2017"', {D(2017, 11, 9), D(2017, 11, 10)}),
    ("forum date:2017-11", {D(2017, 11, 9), D(2017, 11, 10)}),
    ("forum date:[2017-11-01 TO 2017-11-30]", {D(2017, 11, 9), D(2017, 11, 10)}),  # as before
    ("forum date:[2019 TO 2020-06]", {D(2019, 10, 9)}),
    ('forum date:["9 November 2017" TO 2017-11-09]', {D(2017, 11, 9)}),
    ("forum date:[TO 2017]", {D(2017, 11, 9), D(2017, 11, 10)}),
    ("forum date:{2017-11-09 TO 2019}", {D(2017, 11, 10)}),  # exclusive ends: days strictly between
    ("forum date:yesterday", {D(2019, 10, 9)}),
    ('forum date:"last week"', set()),
    ("forum AND (date:2017-11-10 OR date:yesterday)", {D(2017, 11, 10), D(2019, 10, 9)}),
    ('"date:2019 forum" OR forum', {D(2017, 11, 9), D(2017, 11, 10), D(2019, 10, 9), None}),  # a phrase: words
])
def test_date_in_query_text_takes_the_same_phrases(ix, text, expected):
    assert _dates(ix.search(text, limit=100, today=TODAY)) == expected


@pytest.mark.parametrize("kwargs, message", [
    ({"text": "forum", "since": "10.11.2017"}, "since must be a date: '10.11.2017' is ambiguous"),
    ({"text": "forum", "until": "next week"}, "until must be a date: unknown date phrase 'next week'"),
    ({"text": "forum", "since": "2019", "until": "2018"}, r"since \(2019-01-01\) is after until \(2018-12-31\)"),
    ({"text": "forum", "since": "this month", "until": "last month"}, "is after until"),
    ({"text": "forum date:last"}, 'unknown date phrase \'last\'.*quote a phrase of several words: date:"last week"'),
    ({"text": 'forum date:"10/11/2017"'}, "query date must be a date: '10/11/2017' is ambiguous"),
    ({"text": "forum date:[2020 TO 2019]"}, "starts after it ends"),
    ({"text": "forum date:[2019 2020]"}, r"must be \[FROM TO UNTIL\]"),
])
def test_bad_dates_raise_query_error(ix, kwargs, message):
    with pytest.raises(QueryError, match=message) as caught:
        ix.search(**kwargs, today=TODAY)
    assert "\n" not in str(caught.value)


def test_today_defaults_to_the_clock_and_must_be_a_date(ix):
    clock = [h.passage.id for h in ix.search("forum", since="past 10 years", limit=100)]
    assert clock == [h.passage.id for h in ix.search("forum", since="past 10 years", limit=100, today=date.today())]
    with pytest.raises(TypeError, match="today must be date or None"):
        ix.search("forum", today="2019-10-10")  # type: ignore[arg-type]


def test_cli_takes_date_phrases_and_today(run_cli, seed_index):
    result = run_cli("query", "forum", "--since", "yesterday", "--today", "2019-10-10", "--json", "--limit", "50",
                     "--index", seed_index)
    assert result.code == 0, result.stderr
    assert {json.loads(line)["date"] for line in result.stdout.splitlines()} == {"2019-10-09"}
    result = run_cli("query", 'forum date:"November 2017"', "--json", "--limit", "50", "--index", seed_index)
    assert result.code == 0, result.stderr
    assert {json.loads(line)["date"] for line in result.stdout.splitlines()} == {"2017-11-09", "2017-11-10"}


@pytest.mark.parametrize("args, message", [
    (["--since", "fortnight ago"], "error: since must be a date: unknown date phrase 'fortnight ago'; write one of"),
    (["--until", "10/11/2017"], "error: until must be a date: '10/11/2017' is ambiguous"),
    (["--today", "yesterday"], "error: --today must be a day as YYYY-MM-DD, got 'yesterday'"),
    (["--today", "2019-02-30"], "error: --today must be a day as YYYY-MM-DD"),
])
def test_cli_refuses_bad_dates_with_exit_2(run_cli, seed_index, args, message):
    result = run_cli("query", "forum", *args, "--index", seed_index)
    assert result.code == 2
    assert result.stderr.strip().startswith(message) and len(result.stderr.strip().splitlines()) == 1
