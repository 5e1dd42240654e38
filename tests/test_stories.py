"""One story once: copies of an agency story collapse into one hit (``collapse=True`` / ``--collapse``), through
the library and the real CLI, and updates keep the stories right."""

from __future__ import annotations

import json
import random
import re
from datetime import date
from pathlib import Path

import pytest

from searchkit import Index, IndexIncompatible, StoryCopy

from synthetic import article_text


def kazinform_copy_as_tca(seed: Path) -> str:
    """Seed 001 (Kazinform) as The Times of Central Asia republishes it: a headline and a new dateline and
    agency line, its last paragraph cut, one phrase reworded."""
    body = re.sub(r"^\s*date \S+ CHELYABINSK\. KAZINFORM ", "", seed.read_text(encoding="utf-8"))
    paragraphs = body.split("\n\n")[:-1]
    text = "\n\n".join(paragraphs).replace("Kazinform correspondent reports", "the Kazinform agency reported")
    return f"Nazarbayev and Putin meet in Chelyabinsk\n\nCHELYABINSK (TCA) — {text}\n"


@pytest.fixture(scope="module")
def news(tmp_path_factory, seeds_dir) -> Path:
    """The five seeds and a TCA copy of seed 001."""
    folder = tmp_path_factory.mktemp("news")
    for seed in seeds_dir.iterdir():
        (folder / seed.name).write_bytes(seed.read_bytes())
    (folder / "tca-chelyabinsk.txt").write_text(kazinform_copy_as_tca(seeds_dir / "001_1e54385107a71e68.txt"))
    return folder


@pytest.fixture(scope="module")
def news_index(tmp_path_factory, news) -> Path:
    path = tmp_path_factory.mktemp("news-index") / "index"
    Index.build([news], path)
    return path


def articles(hits) -> list[str]:
    return [hit.passage.article for hit in hits]


def test_copies_collapse_into_one_hit(news_index):
    with Index.open(news_index) as ix:
        plain = ix.search("agreements Chelyabinsk", limit=20)
        collapsed = ix.search("agreements Chelyabinsk", limit=20, collapse=True)
    assert {"tca-chelyabinsk", "001_1e54385107a71e68"} <= set(articles(plain))
    assert all(hit.copies == () for hit in plain)
    # one hit per story: the story's best passage first, the other copy listed under it
    assert len(set(articles(collapsed))) == len(collapsed)
    top = collapsed[0]
    assert top.passage.id == plain[0].passage.id
    story = {"tca-chelyabinsk", "001_1e54385107a71e68"}
    assert top.passage.article in story
    (copy,) = top.copies
    assert isinstance(copy, StoryCopy)
    assert {copy.article, top.passage.article} == story
    assert (copy.source, copy.date) == ("Kazinform", date(2017, 11, 9))
    assert not story - {top.passage.article} & set(articles(collapsed[1:]))
    # the other stories are each one hit, without copies, ranked as before
    others = [hit.passage.article for hit in plain if hit.passage.article not in story]
    assert articles(collapsed[1:]) == list(dict.fromkeys(others))
    assert all(hit.copies == () for hit in collapsed[1:])


def test_collapse_where_whoosh_scores(news_index):
    """Phrases and NOT are scored by Whoosh, not the arrays: the stories collapse the same."""
    with Index.open(news_index) as ix:
        plain = ix.search('"10 agreements" NOT seabed', limit=20)
        collapsed = ix.search('"10 agreements" NOT seabed', limit=20, collapse=True)
    assert sorted(articles(plain)) == ["001_1e54385107a71e68", "tca-chelyabinsk"]
    assert len(collapsed) == 1
    assert collapsed[0].passage.id == plain[0].passage.id
    assert [c.article for c in collapsed[0].copies] == [plain[1].passage.article]


def test_limit_counts_stories(news_index):
    with Index.open(news_index) as ix:
        two = ix.search("agreements Chelyabinsk", limit=2, collapse=True)
        many = ix.search("agreements Chelyabinsk", limit=20, collapse=True)
    assert [h.passage.id for h in two] == [h.passage.id for h in many[:2]]
    assert [h.rank for h in two] == [1, 2]


def test_sort_by_date_shows_the_newest_copy(news_index):
    with Index.open(news_index) as ix:
        hits = ix.search("agreements Chelyabinsk", limit=20, collapse=True, sort="date")
    story = [hit for hit in hits if hit.copies]
    assert len(story) == 1
    # the TCA copy is undated: by date, the dated Kazinform article stands for the story
    assert story[0].passage.article == "001_1e54385107a71e68"
    assert [c.article for c in story[0].copies] == ["tca-chelyabinsk"]


def test_per_article_with_collapse(news_index):
    with Index.open(news_index) as ix:
        per_article = ix.search("agreements Chelyabinsk", limit=20, per_article=True)
        both = ix.search("agreements Chelyabinsk", limit=20, per_article=True, collapse=True)
    assert len(both) == len(per_article) - 1
    assert both[0].passage.id == per_article[0].passage.id
    assert len(both[0].copies) == 1


def test_distinct_stories_do_not_collapse(seed_index):
    with Index.open(seed_index) as ix:
        for words in ("forum", "Caspian seabed", "Putin Nazarbayev"):
            plain = ix.search(words, limit=50, per_article=True)
            collapsed = ix.search(words, limit=50, per_article=True, collapse=True)
            assert [h.passage.id for h in collapsed] == [h.passage.id for h in plain]
            assert all(h.copies == () for h in collapsed)


def write_jsonl(path: Path, articles: list[dict]) -> None:
    path.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")


def paragraphs(seed: int, count: int) -> list[str]:
    return article_text(random.Random(seed), count).split("\n\n")


def story(article_id: str, source: str, day: str, text: list[str]) -> dict:
    return {"id": article_id, "source": source, "date": day, "text": "\n\n".join(text)}


def stories_of(ix: Index, query: str) -> dict[str, set[str]]:
    """Each hit's article → its story's matching articles."""
    return {h.passage.article: {h.passage.article, *(c.article for c in h.copies)}
            for h in ix.search(query, limit=100, collapse=True, per_article=True)}


def test_updates_keep_stories_right(tmp_path, monkeypatch):
    """A new copy joins an old story; a replaced copy and a pruned one leave it; nothing is sketched twice."""
    from searchkit import stories

    sketched: list[str] = []
    sketch = stories.sketch
    monkeypatch.setattr(stories, "sketch", lambda article: sketched.append(article.id) or sketch(article))
    inputs = tmp_path / "in"
    inputs.mkdir()
    wire = paragraphs(1, 8)
    write_jsonl(inputs / "reuters.jsonl", [story("wire", "Reuters", "2020-01-02", wire),
                                           story("other", "Reuters", "2020-01-02", paragraphs(2, 8))])
    path = tmp_path / "index"
    Index.build([inputs], path)
    with Index.open(path) as ix:
        assert stories_of(ix, "pipeline OR gas OR oil") == {"wire": {"wire"}, "other": {"other"}}
        # a new outlet republishes the wire story, trimmed and with a paragraph of its own
        write_jsonl(inputs / "tca.jsonl", [story("tca-copy", "TCA", "2020-01-03", wire[:7] + paragraphs(3, 1))])
        ix.update([inputs])
        assert sketched == ["wire", "other", "tca-copy"]  # the old articles' signatures were kept, not re-made
        found = stories_of(ix, "pipeline OR gas OR oil")
        assert {"wire", "tca-copy"} in found.values() and {"other"} in found.values() and len(found) == 2
        # the copy is replaced by another story: it leaves the wire story
        write_jsonl(inputs / "tca.jsonl", [story("tca-copy", "TCA", "2020-01-03", paragraphs(4, 8))])
        ix.update([inputs])
        assert sorted(map(sorted, stories_of(ix, "pipeline OR gas OR oil").values())) == [
            ["other"], ["tca-copy"], ["wire"]]
        # a copy again, then pruned
        write_jsonl(inputs / "tca.jsonl", [story("tca-copy", "TCA", "2020-01-03", wire[1:])])
        ix.update([inputs])
        assert {"wire", "tca-copy"} in stories_of(ix, "pipeline OR gas OR oil").values()
        (inputs / "tca.jsonl").unlink()
        ix.update([inputs], prune=True)
        assert stories_of(ix, "pipeline OR gas OR oil") == {"wire": {"wire"}, "other": {"other"}}


def test_a_bridge_removed_splits_its_story(tmp_path):
    """A ~ B and B ~ C make one story though A and C are not alike; without B they are two."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    text = paragraphs(5, 13)
    write_jsonl(inputs / "a.jsonl", [story("a", "Reuters", "2020-01-01", text[0:9])])
    write_jsonl(inputs / "b.jsonl", [story("b", "AP", "2020-01-02", text[2:11])])
    write_jsonl(inputs / "c.jsonl", [story("c", "AFP", "2020-01-03", text[4:13])])
    path = tmp_path / "index"
    Index.build([inputs], path)
    with Index.open(path) as ix:
        assert list(stories_of(ix, "pipeline OR gas OR oil").values()) == [{"a", "b", "c"}]
        (inputs / "b.jsonl").unlink()
        ix.update([inputs], prune=True)
        assert sorted(map(sorted, stories_of(ix, "pipeline OR gas OR oil").values())) == [["a"], ["c"]]


def test_an_index_of_other_sketch_settings_is_refused(tmp_path, seeds_dir):
    path = tmp_path / "index"
    Index.build([seeds_dir], path)
    current = (path / "CURRENT").read_text().split()[0]
    manifest_file = path / current / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["stories"]["num_perm"] = 64
    manifest_file.write_text(json.dumps(manifest))
    # the pointer names the manifest's CRC-32: write it as a commit would
    import zlib

    (path / "CURRENT").write_text(f"{current} {zlib.crc32(manifest_file.read_bytes())}\n")
    with pytest.raises(IndexIncompatible, match="sketch settings"):
        Index.open(path)


def test_cli_collapse_json_and_terminal(run_cli, news_index):
    plain = run_cli("query", "agreements Chelyabinsk", "--index", str(news_index), "--json")
    collapsed = run_cli("query", "agreements Chelyabinsk", "--index", str(news_index), "--json", "--collapse")
    assert plain.code == collapsed.code == 0
    plain_hits = [json.loads(line) for line in plain.stdout.splitlines()]
    hits = [json.loads(line) for line in collapsed.stdout.splitlines()]
    assert all(hit["copies"] == [] for hit in plain_hits)
    assert len(hits) < len(plain_hits)
    copies = hits[0]["copies"]
    assert [{k: c[k] for k in ("article", "source", "date")} for c in copies] == [
        {"article": "001_1e54385107a71e68", "source": "Kazinform", "date": "2017-11-09"}]
    assert copies[0]["id"] in {hit["id"] for hit in plain_hits}
    shown = run_cli("query", "agreements Chelyabinsk", "--index", str(news_index), "--collapse", "--limit", "1")
    assert shown.code == 0
    assert "   +1 copy: Kazinform\n" in shown.stdout
    assert "copy" not in run_cli("query", "agreements Chelyabinsk", "--index", str(news_index), "--limit", "1").stdout


def test_indexes_composed_collapse_the_stories_each_holds(tmp_path, news, news_index):
    """A sharded backend over indexes of their own (not the shards of one sharded index) collapses the copies
    within each; copies in two of them are two stories."""
    from searchkit import search
    from searchkit.query import build_query
    from searchkit.shards import ShardedBackend

    other = tmp_path / "other"
    other.mkdir()
    (other / "copy.txt").write_text(kazinform_copy_as_tca(news / "001_1e54385107a71e68.txt"))
    Index.build([other], tmp_path / "shard", punkt_from=news_index)
    with Index.open(news_index) as first, Index.open(tmp_path / "shard") as second:
        settings = first.settings
        parsed = build_query("agreements Chelyabinsk", settings=settings)
        hits = search.run(ShardedBackend([first.backend, second.backend]), parsed, settings, limit=20, sort="score",
                          per_article=True, expand=False, highlights=False, collapse=True)
    story = {"tca-chelyabinsk", "001_1e54385107a71e68"}
    first_shard = [hit for hit in hits if hit.passage.article in story]
    assert [{hit.passage.article, *(c.article for c in hit.copies)} for hit in first_shard] == [story]
    assert [hit.copies for hit in hits if hit.passage.article == "copy"] == [()]


@pytest.mark.slow
def test_duplicates_benchmark_runs(tmp_path):
    """A small run of ``benchmarks/duplicates.py`` (so that it never rots); its figures are checked only loosely."""
    import os
    import subprocess
    import sys

    from conftest import REPO
    from searchkit.collections import shared_data_dir

    if not (shared_data_dir() / "reuters21578").is_dir():
        pytest.skip(f"Reuters-21578 is absent from {shared_data_dir()} (set SEARCHKIT_SHARED_DATA)")
    out = tmp_path / "duplicates.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "duplicates.py"), "--stories", "40", "--background", "80",
         "--builds", "1", "--thresholds", "0.45", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "SEARCHKIT_BENCH_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["similar_pairs"] > 0 and result["recall"] > 0.8 and result["precision"] > 0.8
    assert set(result["build_cpu_s"]) == {"with", "without"} and result["sketch_ms_per_article"] > 0
