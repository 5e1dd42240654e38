"""Facets, the timeline and the total: counted over every match (not the page), under the same query and filters,
equal to a count by brute force over the passages; kept right by updates and pruning; through the real CLI."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from searchkit import Index, IndexCorrupt, QueryError, search
from searchkit.query import build_query
from searchkit.schema import analyze
from searchkit.shards import ShardedBackend
from synthetic import WORDS, article_text

FIELDS = ("source", "place", "speaker", "tags")
EVERY = 10**6
"""A limit above any corpus here: every match is a hit."""
TAGS = ("Energy", "energy", "Trade", "Foreign policy", "Caspian Sea", "Elections", "Транспорт")
SEED_QUERIES = [
    ("forum", {}), ("Caspian seabed", {}), ("forum NOT Caspian", {}), ('"Caspian Sea"', {}),
    ("source:kremlin", {}), ("date:[2017 TO 2018]", {}), ("forum", {"source": "Kazinform"}),
    ("forum OR Putin", {"since": "2017-11-10"}), ("cooperation", {"per_article": True}),
    ("forum", {"sort": "date"}), ("region*", {}), ("cooperation", {"expand": True}),
]
SYNTHETIC_QUERIES = [
    "pipeline", "gas oil", "gas NOT oil", '"trade talks"', "pipe*", "tags:energy", "place:astana gas",
    "date:[2018-03 TO 2019-06] water", "(oil OR gas) AND (president OR court)",
]


def write_tagged(path: Path, rng: random.Random, articles: int, tag: str) -> None:
    """A JSON Lines file of articles with sources, places, tags (cases and a Cyrillic one) and dates over four
    years; every tenth undated."""
    with open(path, "w", encoding="utf-8") as f:
        for n in range(articles):
            obj = {
                "id": f"{tag}-{n}", "title": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)}",
                "source": rng.choice(["Reuters", "Kazinform", "TASS"]),
                "place": rng.choice(["Astana", "Almaty", "Moscow", None]),
                "tags": rng.sample(TAGS, rng.randint(0, 3)),
                "text": article_text(rng, rng.randint(1, 5)),
            }
            if n % 10:
                obj["date"] = f"{rng.randint(2017, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            f.write(json.dumps({k: v for k, v in obj.items() if v is not None}) + "\n")


def brute_force(hits) -> tuple[int, dict[str, Counter], Counter]:
    """What every match (``hits`` holding all of them) holds: their number, values per field, months."""
    facets: dict[str, Counter] = {name: Counter() for name in FIELDS}
    months: Counter = Counter()
    for hit in hits:
        p = hit.passage
        for name in ("source", "place", "speaker"):
            if getattr(p, name):
                facets[name][getattr(p, name)] += 1
        facets["tags"].update(p.tags)
        if p.date:
            months[f"{p.date:%Y-%m}"] += 1
    return len(hits), facets, months


def assert_counts_exact(ix: Index, text: str, **options) -> int:
    """The counts of a search of ``text`` equal those of all its hits; returns the total."""
    counted = ix.search(text, limit=3, facets=True, timeline="month", **options)
    total, facets, months = brute_force(ix.search(text, limit=EVERY, highlights=False, **options))
    assert counted.total == total, text
    assert len(counted) == min(3, total)
    assert counted.facets == {name: dict(facets[name]) for name in FIELDS}, text
    for name in FIELDS:  # most first, then by value
        assert list(counted.facets[name].items()) == sorted(facets[name].items(), key=lambda kv: (-kv[1], kv[0]))
    assert {period: count for period, count in counted.timeline if count} == dict(months), text
    return total


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tagged")
    (root / "feeds").mkdir()
    rng = random.Random(13)
    for i in range(4):
        write_tagged(root / "feeds" / f"feed-{i}.jsonl", rng, 40, f"f{i}")
    Index.build([root / "feeds"], root / "index")
    return root


# --- the library -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, options", SEED_QUERIES, ids=[f"{t} {o}" for t, o in SEED_QUERIES])
def test_seed_counts_equal_every_match(seed_index, text, options):
    with Index.open(seed_index) as ix:
        assert assert_counts_exact(ix, text, **options) > 0


@pytest.mark.parametrize("text", SYNTHETIC_QUERIES)
def test_synthetic_counts_equal_every_match(tagged, text):
    with Index.open(tagged / "index") as ix:
        assert assert_counts_exact(ix, text) > 0
        assert assert_counts_exact(ix, text, source="TASS", since="2018-01-01") >= 0
        assert assert_counts_exact(ix, text, per_article=True) > 0


def test_counts_equal_a_scan_of_the_passages(tagged):
    """Independently of the ranking: a word's matches are the passages whose title or body holds its term."""
    with Index.open(tagged / "index") as ix:
        passages = list(ix.passages())
        for word in ("pipeline", "caspian", "wheat"):
            term = analyze(word)[0][0]
            matching = [p for p in passages if term in {t for t, _ in analyze(f"{p.title}\n{p.text}")}]
            got = ix.search(word, facets=True, timeline="year")
            assert got.total == len(matching) > 0
            assert got.facets["tags"] == dict(Counter(t for p in matching for t in p.tags))
            assert got.facets["place"] == dict(Counter(p.place for p in matching if p.place))
            years = Counter(f"{p.date:%Y}" for p in matching if p.date)
            assert dict(got.timeline) == {str(y): years.get(str(y), 0) for y in range(min(map(int, years)), max(map(int, years)) + 1)}
            assert sum(years.values()) < got.total  # undated passages are in no period


def test_values_as_stored_and_tags_each(tagged):
    """Tags differing in case are counted apart (as stored), as are other scripts' tags."""
    with Index.open(tagged / "index") as ix:
        tags = ix.search("tags:energy", facets=["tags"]).facets["tags"]
        every = ix.search("gas OR oil", facets=["tags"]).facets["tags"]
    assert tags["Energy"] > 0 and tags["energy"] > 0
    assert every["Транспорт"] > 0


def test_per_article_counts_articles(tagged):
    with Index.open(tagged / "index") as ix:
        passages = ix.search("gas", limit=EVERY, highlights=False)
        articles = ix.search("gas", per_article=True, facets=["source"], timeline="month")
    assert articles.total == len({(h.passage.path, h.passage.article) for h in passages}) < passages.total
    assert sum(articles.facets["source"].values()) == articles.total


def test_total_is_always_counted_and_the_rest_only_when_asked(seed_index):
    with Index.open(seed_index) as ix:
        first = ix.search("forum", limit=2)  # the first query of an Index: ranked by Whoosh alone
        again = ix.search("forum", limit=2)  # then by the arrays
    assert first.total == again.total == 28 and len(first) == 2
    assert first.facets is None and first.timeline is None


def test_timeline_periods(seed_index):
    with Index.open(seed_index) as ix:
        months = ix.search("forum", timeline="month").timeline
        years = ix.search("forum", timeline="year").timeline
        auto = ix.search("forum", timeline="auto").timeline
        narrow = ix.search("forum", timeline="auto", until="2017").timeline
    assert months[0] == ("2017-11", 23) and months[-1] == ("2019-10", 2) and len(months) == 24
    assert all(count == 0 for _, count in months[1:-1])  # every month between, with 0
    assert years == [("2017", 23), ("2018", 0), ("2019", 2)]
    assert auto == months  # 24 months: within 3 years
    assert narrow == [("2017-11", 23)]


def test_facets_choose_fields(seed_index):
    with Index.open(seed_index) as ix:
        assert list(ix.search("forum", facets=["tags", "source"]).facets) == ["source", "tags"]
        assert ix.search("forum", facets=[]).facets is None


@pytest.mark.parametrize("kwargs, error", [
    ({"facets": ["source", "author"]}, QueryError), ({"timeline": "week"}, QueryError),
    ({"facets": "source"}, TypeError), ({"facets": [1]}, TypeError), ({"timeline": True}, TypeError),
])
def test_bad_facets_or_timeline(seed_index, kwargs, error):
    with Index.open(seed_index) as ix, pytest.raises(error):
        ix.search("forum", **kwargs)


def test_counts_after_update_and_prune(tmp_path):
    rng = random.Random(5)
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    for i in range(3):
        write_tagged(feeds / f"feed-{i}.jsonl", rng, 30, f"u{i}")
    Index.build([feeds], tmp_path / "index")
    with Index.open(tmp_path / "index") as ix:
        before = ix.search("gas", facets=True).facets
        write_tagged(feeds / "feed-1.jsonl", rng, 30, "changed")  # replaced: its old passages deleted
        write_tagged(feeds / "feed-3.jsonl", rng, 30, "added")
        ix.update([feeds])
        for text in ("gas", "oil NOT gas", "tags:trade"):
            assert assert_counts_exact(ix, text) > 0
        assert ix.search("gas", facets=True).facets != before
        (feeds / "feed-0.jsonl").unlink()
        ix.update([feeds], prune=True)
        assert_counts_exact(ix, "gas")
        assert not any(h.passage.article.startswith("u0-") for h in ix.search("gas", limit=EVERY))
    for n in range(12):  # updates enough to trigger the merge policy's re-writes of small segments
        write_tagged(feeds / f"more-{n}.jsonl", rng, 3, f"m{n}")
        with Index.open(tmp_path / "index") as ix:
            ix.update([feeds])
    with Index.open(tmp_path / "index") as ix:
        assert len(ix.backend.arrays().segments) < 12
        for text in ("gas", "tags:energy", "date:[2019 TO 2020]"):
            assert assert_counts_exact(ix, text) > 0


def test_shards_sum_to_the_whole(tagged, tmp_path):
    files = sorted((tagged / "feeds").glob("*.jsonl"))
    Index.build(files, tmp_path / "whole")
    for shard in range(2):
        Index.build(files[shard::2], tmp_path / f"shard-{shard}", punkt_from=tmp_path / "whole")
    whole = Index.open(tmp_path / "whole")
    shards = [Index.open(tmp_path / f"shard-{shard}") for shard in range(2)]
    try:
        backend = ShardedBackend([ix.backend for ix in shards])
        for text in SYNTHETIC_QUERIES:
            parsed = build_query(text, settings=whole.settings)
            got = search.run(backend, parsed, whole.settings, limit=5, sort="score", per_article=False, expand=False,
                             highlights=False, facets=FIELDS, timeline="month")
            expected = whole.search(text, limit=5, highlights=False, facets=True, timeline="month")
            assert (got.total, got.facets, got.timeline) == (expected.total, expected.facets, expected.timeline)
    finally:
        for ix in (whole, *shards):
            ix.close()


# --- the CLI ---------------------------------------------------------------------------------------------------


def test_cli_json_adds_one_final_line_each(run_cli, seed_index):
    result = run_cli("query", "forum", "--index", seed_index, "--limit", "2", "--facets", "--timeline", "--json")
    assert result.code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(line) for line in lines[2:]] == [{"facets"}, {"timeline"}]
    with Index.open(seed_index) as ix:
        expected = ix.search("forum", facets=True, timeline="auto")
    assert lines[2]["facets"] == expected.facets
    assert lines[3]["timeline"] == [{"period": p, "count": c} for p, c in expected.timeline]
    assert lines[3]["timeline"][0] == {"period": "2017-11", "count": 23}


def test_cli_terminal_output(run_cli, seed_index):
    result = run_cli("query", "forum", "--index", seed_index, "--facets", "--timeline-by", "year")
    assert result.code == 0, result.stderr
    assert "of all 28 matches" in result.stdout
    assert "Kremlin (16), Kazinform (9), The Times of Central Asia (3)" in result.stdout
    assert "2017 " + "█" * 40 + " 23" in result.stdout and "2018  0" in result.stdout
    chosen = run_cli("query", "forum", "--index", seed_index, "--facet", "tags", "--json")
    assert list(json.loads(chosen.stdout.splitlines()[-1])["facets"]) == ["tags"]


@pytest.mark.parametrize("args, message", [
    (("--facet", "author"), "error: unknown facet field 'author'; facets are source, place, speaker, tags"),
    (("--timeline-by", "week"), "error: timeline must be one of month, year, auto, got 'week'"),
])
def test_cli_bad_input_is_one_line_exit_2(run_cli, seed_index, args, message):
    result = run_cli("query", "forum", "--index", seed_index, *args)
    assert (result.code, result.stdout, result.stderr) == (2, "", message + "\n")


def test_cli_no_match_still_gives_the_json_lines(run_cli, seed_index):
    result = run_cli("query", "zzzqqq", "--index", seed_index, "--facets", "--timeline", "--json")
    assert result.code == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"facets": {name: {} for name in FIELDS}}, {"timeline": []}]


def test_readme_example_holds(seed_index, tmp_path):
    """The README's facets example, run on the seeds: each printed line is what its comment says."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "facets=True" in b)
    code = block.replace('Index.open("index")', f"Index.open({str(seed_index)!r})")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    expected = [line.split("# ", 1)[1] for line in block.splitlines() if "print(" in line]
    assert result.stdout.splitlines() == expected


@pytest.mark.slow
def test_benchmark_runs_and_reports_its_figures(tmp_path):
    from conftest import REPO, require_bench_extra

    require_bench_extra("wordfreq")
    out = tmp_path / "facets.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "facets.py"), "--size", "1000", "--queries", "10", "--rounds", "1",
         "--cache", str(tmp_path / "cache"), "--out", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "SEARCHKIT_BENCH_CACHE": str(tmp_path / "corpora")},
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: above the target on this run (not checked here)
    result = json.loads(out.read_text())
    assert result["passages"] == 1000 and result["queries"] == 10
    for mode in ("query", "query_facets_timeline"):
        assert 0 < result[mode]["cpu_p50_ms"] <= result[mode]["cpu_p95_ms"]
    assert result["ratio_cpu_p50"] > 0


def test_crafted_facet_codes_are_refused_not_a_traceback(seeds_dir, tmp_path):
    """Codes outside their value table (the file's size and time kept, so that opening does not notice) are an
    ``IndexCorrupt`` error at the first search that counts them."""
    Index.build([seeds_dir], tmp_path / "index")
    with Index.open(tmp_path / "index") as ix:
        file = ix.directory / "topk" / "facet.source.codes.npy"
    stat = file.stat()
    codes = np.load(file)
    codes[0] = np.iinfo(codes.dtype).max  # the codes' type is as narrow as their values allow
    np.save(file, codes)
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file.stat().st_size == stat.st_size
    with Index.open(tmp_path / "index") as ix:
        assert ix.search("forum").total == 28  # counting nothing by source reads nothing of it
        with pytest.raises(IndexCorrupt, match="source codes outside"):
            ix.search("forum", facets=["source"])
