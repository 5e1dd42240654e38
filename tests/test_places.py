"""Places by any name: the packaged table's integrity, the place filter and place-name words widened by a place's
other names, a user's file of names, and malformed files, through the library and the real CLI on the seeds
(which file from Astana and from Nur-Sultan)."""

from __future__ import annotations

import itertools
import json
import random
from datetime import date
from importlib import resources

import pytest

from searchkit import AliasesError, Index, search
from searchkit.places import ALIAS_WEIGHT, place_names, read_table
from searchkit.query import build_query
from searchkit.shards import ShardedBackend

NUR_SULTAN_SEED = "002_3b08a6e99769a028"
"""The seed filed from Nur-Sultan, which names Astana nowhere in its text."""
FORMER_SOVIET_CAPITALS = {
    "Moscow", "Kyiv", "Minsk", "Chisinau", "Vilnius", "Riga", "Tallinn", "Tbilisi", "Yerevan", "Baku", "Astana",
    "Tashkent", "Bishkek", "Dushanbe", "Ashgabat",
}


@pytest.fixture(scope="module")
def table():
    with resources.as_file(resources.files("searchkit") / "places.csv") as path:
        return read_table(path)


def test_packaged_table_is_sound(table):
    assert len(table) >= 100
    places = {row.place for row in table}
    assert FORMER_SOVIET_CAPITALS <= places
    for row in table:
        assert row.source.startswith("https://") or len(row.source) > 10, row
        for year in (row.start, row.end):
            assert year is None or 300 <= year <= date.today().year, row
        assert row.start is None or row.end is None or row.start <= row.end, row
    for place in places:
        names = [row for row in table if row.place == place]
        assert len({row.name for row in names}) >= 2, f"{place}: a place of one name needs no row"
        assert any(row.name == place and row.end is None for row in names), f"{place}: its name now is open"
    astana = {(row.name, row.start, row.end) for row in table if row.place == "Astana"}
    assert {("Akmolinsk", 1832, 1961), ("Tselinograd", 1961, 1992), ("Akmola", 1992, 1998),
            ("Nur-Sultan", 2019, 2022), ("Astana", 2022, None)} <= astana


def _places(hits) -> set[str | None]:
    return {hit.passage.place for hit in hits}


@pytest.mark.parametrize("name", ["Astana", "astana", "Nur-Sultan", "NUR-SULTAN", "Akmola", "Tselinograd"])
def test_place_filter_matches_every_name_of_the_place(seed_index, name):
    with Index.open(seed_index) as ix:
        hits = ix.search("forum OR Lavrov", place=name, limit=50)
        assert _places(hits) == {"Astana", "Nur-Sultan"}  # shown as written, never rewritten
        assert _places(ix.search(f'forum OR Lavrov place:"{name}"', limit=50)) == {"Astana", "Nur-Sultan"}


def test_place_filter_without_aliases_is_the_name_written(seed_index):
    with Index.open(seed_index) as ix:
        assert _places(ix.search("forum OR Lavrov", place="Astana", limit=50, aliases=False)) == {"Astana"}
        assert _places(ix.search("forum OR Lavrov", place="Nur-Sultan", limit=50, aliases=False)) == {"Nur-Sultan"}
        assert not ix.search("forum", place="Tselinograd", aliases=False)


def test_word_finds_the_place_by_its_other_names_ranked_below_and_highlighted(seed_index):
    with Index.open(seed_index) as ix:
        hits = ix.search("Astana", limit=50)
        exact = [hit for hit in hits if "Astana" in hit.passage.text]
        alias = [hit for hit in hits if hit.passage.article == NUR_SULTAN_SEED]
        assert exact and alias and all("Astana" not in hit.passage.text for hit in alias)
        assert min(hit.score for hit in exact) > max(hit.score for hit in alias)
        for hit in alias:
            marked = {f.text[s:e] for f in hit.highlights for s, e in f.matches}
            assert marked == {"Nur", "Sultan"}
        assert NUR_SULTAN_SEED not in {hit.passage.article for hit in ix.search("Astana", limit=50, aliases=False)}
        plain = ix.search("Astana", limit=50, syntax=False)
        assert [h.passage.id for h in plain] == [h.passage.id for h in hits]


def test_alias_scores_as_the_word_would_at_its_weight(tmp_path):
    """One "Astana" in a passage scores ALIAS_WEIGHT of what one "Akmola" scores in a passage like it, for the query
    "Akmola": the alias is scored with the query word's statistics (exact BM25F), not by its own idf."""
    lines = [{"id": "akmola", "text": "Akmola talks today"}, {"id": "astana", "text": "Astana talks today"}]
    lines += [{"id": f"filler{i}", "text": f"Astana weather report number {i}"} for i in range(6)]
    (tmp_path / "news.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    Index.build([tmp_path / "news.jsonl"], tmp_path / "index")
    with Index.open(tmp_path / "index") as ix:
        for _ in range(2):  # Whoosh scores a first query, the top-k arrays the next: the same scores
            scores = {hit.passage.article: hit.score for hit in ix.search("Akmola", limit=50)}
            assert scores["astana"] == pytest.approx(ALIAS_WEIGHT * scores["akmola"], rel=1e-12)
            assert set(scores) == {"akmola", "astana"} | {f"filler{i}" for i in range(6)}
        assert {hit.passage.article for hit in ix.search("Akmola", aliases=False)} == {"akmola"}


def test_hyphenated_or_quoted_name_finds_the_other_names(seed_index):
    with Index.open(seed_index) as ix:
        for text in ("Nur-Sultan", '"Nur-Sultan"', "Akmolinsk"):
            found = {hit.passage.place for hit in ix.search(text, limit=50)}
            assert "Astana" in found or "Chelyabinsk" in found, text
        assert not ix.search("Akmolinsk", aliases=False)


def test_a_users_file_adds_names(seed_index, tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("place,name,from,to,source\nChelyabinsk,Tcheliabinsk,,,a test\n", encoding="utf-8")
    with Index.open(seed_index) as ix:
        assert not ix.search("forum", place="Tcheliabinsk")
        hits = ix.search("forum", place="Tcheliabinsk", aliases=names, limit=50)
        assert _places(hits) == {"Chelyabinsk"}
        assert ix.search("Tcheliabinsk", aliases=str(names))
        assert _places(ix.search("forum OR Lavrov", place="Astana", aliases=names, limit=50)) == {"Astana", "Nur-Sultan"}
        names.write_text("place,name,from,to,text,source\nChelyabinsk,Tcheliabinsk,,,no,a test\n", encoding="utf-8")
        assert not ix.search("Tcheliabinsk", aliases=names)  # read again once changed: a dateline name only
        assert ix.search("forum", place="Tcheliabinsk", aliases=names)


BAD_FILES = {
    "bad header": (b"place,name,years,source\nAstana,Akmola,1992,x\n", "line 1: the header"),
    "bad year": (b"place,name,from,to,source\nAstana,Akmola,1992,soon,x\n", "line 2: to must be a year"),
    "missing column": (b"place,name,from,to,source\nAstana,Akmola,1992,1998\n", "line 2: 4 columns"),
    "years reversed": (b"place,name,from,to,source\n\nAstana,Akmola,1998,1992,x\n", "line 3: from 1998 is after"),
    "no source": (b"place,name,from,to,source\nAstana,Akmola,1992,1998,\n", "line 2: no source"),
    "bad text flag": (b"place,name,from,to,text,source\nAstana,Akmola,1992,1998,maybe,x\n", "line 2: text must be"),
    "not UTF-8": (b"place,name,from,to,source\nAstana,Akmola,1992,1998,x\nAlmaty,Alma-Ata,1921,1993,\xe9t\xe9\n",
                  "line 3: not UTF-8"),
    "empty": (b"", "line 1: the header"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_malformed_file_is_an_error_naming_its_line(seed_index, tmp_path, case):
    content, message = BAD_FILES[case]
    path = tmp_path / "names.csv"
    path.write_bytes(content)
    with Index.open(seed_index) as ix, pytest.raises(AliasesError) as raised:
        ix.search("forum", aliases=path)
    assert str(path) in str(raised.value) and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_unreadable_file_is_an_error(seed_index, tmp_path):
    with Index.open(seed_index) as ix:
        for path in (tmp_path / "absent.csv", tmp_path):
            with pytest.raises(AliasesError, match="cannot read aliases file"):
                ix.search("forum", aliases=path)
        with pytest.raises(TypeError, match="aliases must be"):
            ix.search("forum", aliases=3)  # type: ignore[arg-type]


def test_cli_place_and_words_by_any_name(run_cli, seed_index):
    result = run_cli("query", "forum OR Lavrov", "--index", seed_index, "--place", "Astana", "--limit", "50", "--json")
    assert result.code == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert {hit["place"] for hit in hits} == {"Astana", "Nur-Sultan"}
    result = run_cli("query", "Astana", "--index", seed_index, "--limit", "50", "--json")
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    alias = next(hit for hit in hits if hit["article"] == NUR_SULTAN_SEED)
    assert {h["text"][s:e] for h in alias["highlights"] for s, e in h["matches"]} == {"Nur", "Sultan"}
    result = run_cli("query", "place:astana", "--index", seed_index, "--no-aliases", "--limit", "50", "--json")
    assert {json.loads(line)["place"] for line in result.stdout.splitlines()} == {"Astana"}


def test_cli_users_file_and_malformed_file(run_cli, seed_index, tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("place,name,from,to,source\nChelyabinsk,Tcheliabinsk,,,a test\n", encoding="utf-8")
    result = run_cli("query", "forum", "--index", seed_index, "--place", "Tcheliabinsk", "--aliases", names, "--json")
    assert result.code == 0 and {json.loads(line)["place"] for line in result.stdout.splitlines()} == {"Chelyabinsk"}
    names.write_text("place,name,from,to,source\nChelyabinsk,Tcheliabinsk,19xx,,a test\n", encoding="utf-8")
    result = run_cli("query", "forum", "--index", seed_index, "--aliases", names)
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: aliases file ") and "line 2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    result = run_cli("query", "forum", "--index", seed_index, "--aliases", names, "--no-aliases")
    assert result.code == 2 and "contradict" in result.stderr


def test_shards_rank_aliases_as_one_index(tmp_path):
    """Aliases take their query word's statistics from the whole collection: shards rank as one index."""
    rng = random.Random(13)
    words = ["Astana", "Akmola", "Nur-Sultan", "Almaty", "Alma-Ata", "Kiev", "Kyiv", "gas", "talks", "forum"]
    files = []
    for i in range(4):
        path = tmp_path / f"feed-{i}.jsonl"
        lines = [{"id": f"f{i}a{j}", "place": rng.choice(["Astana", "Nur-Sultan", "Almaty"]),
                  "text": " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "."} for j in range(15)]
        path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
        files.append(path)
    Index.build(files, tmp_path / "whole")
    for shard in range(2):
        Index.build(files[shard::2], tmp_path / f"shard-{shard}", punkt_from=tmp_path / "whole")
    with Index.open(tmp_path / "whole") as whole, Index.open(tmp_path / "shard-0") as a, \
            Index.open(tmp_path / "shard-1") as b:
        sharded = ShardedBackend([a.backend, b.backend])
        queries = (("Astana", None), ("Nur-Sultan gas", None), ("Kiev OR Almaty", "Astana"), ("talks", "Akmola"))
        options = ({}, {"per_article": True}, {"expand": True}, {"sort": "date"})
        for (text, place), option in itertools.product(queries, options):
            expected = whole.search(text, place=place, limit=20, **option)
            parsed = build_query(text, place=place, settings=whole.settings, places=place_names(True))
            got = search.run(sharded, parsed, whole.settings, limit=20, highlights=True,
                             **{"sort": "score", "per_article": False, "expand": False, **option})
            assert expected and [(h.passage.id, h.score, h.highlights) for h in got] == \
                [(h.passage.id, h.score, h.highlights) for h in expected], (text, option)


def test_a_name_of_several_words_in_a_row(tmp_path):
    lines = [{"id": "leningrad", "text": "Leningrad port talks"}, {"id": "spb", "text": "St Petersburg port talks"},
             {"id": "apart", "text": "St Louis and Petersburg port authority weekly news"}]
    (tmp_path / "news.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    Index.build([tmp_path / "news.jsonl"], tmp_path / "index")
    with Index.open(tmp_path / "index") as ix:
        for syntax in (True, False):
            found = [hit.passage.article for hit in ix.search("St Petersburg", syntax=syntax)]
            assert found[0] == "spb" and "leningrad" in found, syntax
            assert "leningrad" not in {hit.passage.article for hit in ix.search("Petersburg St", syntax=syntax)}
        assert [hit.passage.article for hit in ix.search("Leningrad")] == ["leningrad", "spb"]  # not "apart"
