"""Ranking, filters, sort, query syntax and highlighting, through the public API."""

from __future__ import annotations

from datetime import date

import pytest

from searchkit import Index, QueryError
from searchkit.schema import ANALYZER


@pytest.fixture(scope="module")
def ix(seed_index):
    with Index.open(seed_index) as index:
        yield index


def test_caspian_seabed_ranks_the_delimitation_passage_first(ix):
    hits = ix.search("Caspian seabed")
    assert "Delimitation of the Seabed of the Northern Part of the Caspian Sea" in hits[0].passage.text
    assert hits[0].passage.source == "Kremlin"
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    # a passage with only one of the words still appears, below the one with both
    assert any("Caspian" in h.passage.text and "seabed" not in h.passage.text.lower() for h in hits[1:])


def test_a_headline_word_matches_every_passage_of_its_article(ix):
    # "hold" is in the TCA headline; every passage of that article repeats the title, so every one matches
    hits = ix.search("hold", limit=100)
    tca = {h.passage.id for h in hits if h.passage.source == "The Times of Central Asia"}
    article = next(p for p in ix.passages() if p.id in tca).article
    assert tca == {p.id for p in ix.passages() if p.article == article} and len(tca) > 1


@pytest.mark.parametrize("kwargs, check", [
    ({"source": "kazinform"}, lambda p: p.source == "Kazinform"),
    ({"source": "KAZIFORM"}, lambda p: p.source == "Kazinform"),
    ({"place": "nur-sultan", "aliases": False}, lambda p: p.place == "Nur-Sultan"),
    ({"place": "nur-sultan"}, lambda p: p.place in ("Nur-Sultan", "Astana")),  # one place by any name (places)
    ({"since": "2019-01-01"}, lambda p: p.date and p.date >= date(2019, 1, 1)),
    ({"until": "2017-11-09"}, lambda p: p.date and p.date <= date(2017, 11, 9)),
    ({"since": "2017-11-10", "until": "2017-11-10"}, lambda p: p.date == date(2017, 11, 10)),
    ({"speaker": "Putin"}, lambda p: p.speaker and "Putin" in p.speaker),
])
def test_filters(ix, kwargs, check):
    hits = ix.search("forum OR cooperation", limit=100, **kwargs)
    assert hits and all(check(h.passage) for h in hits)
    assert len(hits) < len(ix.search("forum OR cooperation", limit=100))


def by_date(hits) -> list[tuple]:
    """Newest day first, undated last; within a day, best score first."""
    return sorted(((h.passage.date, round(h.score, 6)) for h in hits),
                  key=lambda d: (d[0] is not None, d[0] or date.min, d[1]), reverse=True)


@pytest.mark.parametrize("limit", [1, 3, 5, 10])
def test_sort_by_date_with_a_small_limit_is_the_head_of_the_full_date_order(ix, limit):
    everything = ix.search("forum", limit=1000)
    assert len(everything) > 10 and len({h.passage.date for h in everything}) > 3 and any(
        h.passage.date is None for h in everything)  # the reference holds several days and undated passages
    hits = ix.search("forum", limit=limit, sort="date")
    assert [(h.passage.date, round(h.score, 6)) for h in hits] == by_date(everything)[:limit]
    assert [h.rank for h in hits] == list(range(1, limit + 1))


def test_sort_by_date_is_newest_first_and_undated_last(ix):
    everything = ix.search("forum", limit=1000)
    hits = ix.search("forum", limit=1000, sort="date")
    assert {h.passage.id for h in hits} == {h.passage.id for h in everything}
    assert [(h.passage.date, round(h.score, 6)) for h in hits] == by_date(everything)


@pytest.mark.parametrize("query, check", [
    ('"human capital"', lambda p: "human capital" in p.text.lower()),
    ("Caspian AND delimitation", lambda p: "caspian" in p.text.lower() and "delimitation" in p.text.lower()),
    ("Nazarbayev NOT Syria", lambda p: "nazarbayev" in p.text.lower() and "syria" not in p.text.lower()),
    ("Caspian AND NOT Astana", lambda p: "caspian" in p.text.lower() and "astana" not in p.text.lower()),
    ("source:kremlin AND Syria", lambda p: p.source == "Kremlin" and "syria" in p.text.lower()),
    ("date:[2019-01-01 TO 2019-12-31] Lavrov",
     lambda p: p.date is not None and p.date.year == 2019 and "lavrov" in p.text.lower()),
    ("speaker:nazarbayev OR speaker:putin",
     lambda p: p.speaker is not None and ("Nazarbayev" in p.speaker or "Putin" in p.speaker)),
])
def test_query_syntax(ix, query, check):
    hits = ix.search(query, limit=1000)
    assert hits and all(check(h.passage) for h in hits)
    assert not all(check(p) for p in ix.passages())  # the check rejects some passage: it can fail


def test_metadata_clauses_restrict_words_without_changing_their_scores(ix):
    hits = ix.search("date:[2019-01-01 TO 2019-12-31] forum", limit=100)
    assert hits and all(h.passage.date.year == 2019 for h in hits)
    unrestricted = {h.passage.id: h.score for h in ix.search("forum", limit=100)}
    assert all(h.score == pytest.approx(unrestricted[h.passage.id]) for h in hits)
    assert len(hits) < len(unrestricted)


def test_not_excludes_from_the_whole_group(ix):
    everything = ix.search("forum", limit=100)
    hits = ix.search("forum NOT Chelyabinsk", limit=100)
    assert hits and len(hits) < len(everything)
    assert all("chelyabinsk" not in f"{h.passage.title} {h.passage.text}".lower() for h in hits)


@pytest.mark.parametrize("query, message", [
    ("", "empty query"), ("   ", "empty query"), ('"Caspian sea', "unbalanced quote"),
    ("(Caspian", "parenthesis"), ("Caspian)", "parenthesis"), ("Caspian AND", "nothing after"),
    ("AND Caspian", "nothing before"), ("Caspian OR OR sea", "nothing before"), ("NOT", "nothing after"),
    ("foo:bar", "unknown field 'foo'"), ("title:", "no value"), ("date:[2017-13-45 TO 2018-01-01]", "names no real day"),
    ("date:[2017-01-01 TO", "unclosed range"),
])
def test_malformed_queries_name_the_problem(ix, query, message):
    with pytest.raises(QueryError, match=message):
        ix.search(query)


@pytest.mark.parametrize("kwargs, message", [
    ({"since": "2017-13-01"}, "since must be a date"), ({"until": "last fortnight"}, "until must be a date"),
    ({"since": "2018-01-01", "until": "2017-01-01"}, "after until"), ({"limit": 0}, "limit"), ({"sort": "title"}, "sort"),
])
def test_malformed_options_raise_query_error(ix, kwargs, message):
    with pytest.raises(QueryError, match=message):
        ix.search("forum", **kwargs)


def _stems(text: str) -> list[str]:
    return [t.text for t in ANALYZER(text)]


@pytest.mark.parametrize("query, words", [
    ("Caspian seabed", {"caspian", "seab"}),
    ("forum interregional", {"forum", "interregion"}),
    ("capitals NOT Syria", {"capit"}),
])
def test_highlights_mark_exactly_the_matched_words(ix, query, words):
    hits = ix.search(query, limit=20)
    assert hits
    for hit in hits:
        assert hit.highlights
        for fragment in hit.highlights:
            start = fragment.start
            assert hit.passage.text[start:start + len(fragment.text)] == fragment.text
            marked = [fragment.text[s:e] for s, e in fragment.matches]
            assert all(_stems(m) and _stems(m)[0] in words for m in marked)
            # every word of the fragment that stems to a query term is marked (completeness)
            unmarked = fragment.text
            for s, e in sorted(fragment.matches, reverse=True):
                unmarked = unmarked[:s] + " " + unmarked[e:]
            assert not set(_stems(unmarked)) & words


def test_highlight_marks_stemmed_forms(ix):
    hit = ix.search("seabed")[0]
    marked = {f.text[s:e] for f in hit.highlights for s, e in f.matches}
    assert marked == {"Seabed"}


def test_phrase_highlights_only_where_the_phrase_occurs(ix):
    for hit in ix.search('"human capital"', limit=20):
        for fragment in hit.highlights:
            marked = [fragment.text[s:e].lower() for s, e in fragment.matches]
            assert marked and all(m in ("human", "capital") for m in marked)
            assert marked.count("human") == marked.count("capital")


def test_highlights_are_deterministic(seed_index):
    def snippets():
        with Index.open(seed_index) as ix:
            return [h.highlights for h in ix.search("forum cooperation Kazakhstan", limit=20)]

    assert snippets() == snippets()


@pytest.mark.parametrize("kwargs", [{}, {"sort": "date"}, {"per_article": True}, {"source": "Kremlin"}])
def test_offset_pages_through_the_ranking_of_a_larger_limit(ix, kwargs):
    whole = ix.search("forum OR Caspian OR president", limit=15, **kwargs)
    paged = [hit for start in (0, 5, 10) for hit in ix.search("forum OR Caspian OR president", limit=5, offset=start, **kwargs)]
    assert [(h.rank, h.passage.id, h.score) for h in paged] == [(h.rank, h.passage.id, h.score) for h in whole]
    assert ix.search("forum", offset=10_000) == []


@pytest.mark.parametrize("offset, message", [(-1, "offset must be from 0 to 10,000"), (10_001, "offset must be from 0")])
def test_offset_is_bounded(ix, offset, message):
    with pytest.raises(QueryError, match=message):
        ix.search("forum", offset=offset)
