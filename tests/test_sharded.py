"""Sharded indexes searched in this process: the answers of one index of the same inputs, through the library
and the CLI; updates, pruning, snapshots, check and stats; a damaged shard named."""

from __future__ import annotations

import json
import threading

import pytest
from sharding import COPY, KINDS, SHARDS, assert_same_answers, queries, reuters_files

from searchkit import Index, IndexCorrupt
from searchkit.sharded import shard_of


def test_three_shards_answer_every_kind_of_query_as_one_index(reuters_subset):
    cases = queries(reuters_subset.stories, 170)
    with Index.open(reuters_subset.one) as one, Index.open(reuters_subset.sharded) as sharded:
        compared = assert_same_answers(one, sharded, cases, reuters_subset.expected)
    assert set(KINDS) <= set(compared) and all(n > 0 for n in compared.values()), compared  # every kind matched


def test_each_article_is_in_the_shard_its_id_hashes_to(reuters_subset):
    stories = reuters_subset.stories
    manifest = Index.open(reuters_subset.sharded).manifest
    counts = [shard["counts"]["articles"] for shard in manifest["shards"]]
    assert counts == [sum(shard_of(s["id"], SHARDS) == n for s in stories) for n in range(SHARDS)]
    assert min(counts) > 350  # a hash spreads them evenly
    assert manifest["statistics"]["passages"] == sum(s["statistics"]["passages"] for s in manifest["shards"])


def test_copies_in_other_shards_collapse_into_one_story_as_in_one_index(reuters_subset):
    """A story and its wire copy in two shards are one hit, the copy in ``Hit.copies``, as in one index (without
    the stories found across shards, each shard's copy was a hit of its own)."""
    across = [s for s in reuters_subset.stories if s["id"].endswith(COPY)
              and shard_of(s["id"], SHARDS) != shard_of(s["id"].removesuffix(COPY), SHARDS)]
    assert len(across) > 20
    with Index.open(reuters_subset.one) as one, Index.open(reuters_subset.sharded) as sharded:
        for story in across[:20]:
            text = story["title"] or story["text"][:60]
            options = {"collapse": True, "syntax": False, "limit": 5}
            expected, got = one.search(text, **options), sharded.search(text, **options)
            assert [(h.passage.id, h.copies) for h in got] == [(h.passage.id, h.copies) for h in expected], text
            assert got.total == expected.total
            hits = [h for h in got if h.passage.article in (story["id"], story["id"].removesuffix(COPY))]
            assert len(hits) == 1 and len(hits[0].copies) >= 1, text  # one story: the other is a copy


@pytest.mark.slow
def test_three_shards_answer_500_queries_on_all_of_reuters_as_one_index(reuters_all):
    with Index.open(reuters_all.one) as one, Index.open(reuters_all.sharded) as sharded:
        compared = assert_same_answers(one, sharded, queries(reuters_all.stories, 560, seed=1), reuters_all.expected)
    assert set(KINDS) <= set(compared) and sum(compared.values()) > 3000 and compared["copies"] > 20, compared


def test_cli_builds_queries_checks_and_counts_a_sharded_index(reuters_subset, run_cli, tmp_path):
    root, files = reuters_subset.root, reuters_subset.files
    built = run_cli("index", *files, "--index", root / "cli-sharded", "--shards", SHARDS)
    assert built.code == 0, built.stderr
    assert "1,260 articles" in built.stderr
    for text in ("oil prices", '"interest rates" OR tariff', "wheat NOT corn", "title:gold"):
        one = run_cli("query", text, "--index", root / "one", "--json", "-n", "20")
        sharded = run_cli("query", text, "--index", root / "cli-sharded", "--json", "-n", "20")
        assert sharded.code == one.code == 0, sharded.stderr
        assert [json.loads(line) for line in sharded.stdout.splitlines()] == \
            [json.loads(line) for line in one.stdout.splitlines()]
    checked = run_cli("check", "--index", root / "cli-sharded")
    assert checked.code == 0 and "ok:" in checked.stderr, checked.stderr
    one_stats = json.loads(run_cli("stats", "--index", root / "one", "--json").stdout)
    sharded_stats = json.loads(run_cli("stats", "--index", root / "cli-sharded", "--json").stdout)
    for key in ("passages", "articles", "files", "first_date", "last_date", "sources", "places"):
        assert sharded_stats[key] == one_stats[key], key
    zero = run_cli("index", *files, "--index", tmp_path / "zero", "--shards", "0")
    assert zero.code == 2 and "Traceback" not in zero.stderr


def test_updates_and_pruning_keep_the_shards_answering_as_one_index(tmp_path):
    files, stories = reuters_files(tmp_path / "feeds", articles=900, per_file=300)
    for path, build in (("one", {}), ("sharded", {"shards": SHARDS})):
        Index.build(files[:2], tmp_path / path, **build)
    files[0].write_text("".join(files[0].read_text().splitlines(keepends=True)[:150]))  # a file changed
    for path in ("one", "sharded"):
        with Index.open(tmp_path / path) as ix:
            added = ix.update(files)
            pruned = ix.update(files[:1] + files[2:], prune=True)
    assert (added.files_added, added.files_replaced, pruned.files_removed) == (1, 1, 1)
    kept = [s for s in stories[:150] + stories[600:]]
    with Index.open(tmp_path / "one") as one, Index.open(tmp_path / "sharded") as sharded:
        assert sharded.stats().articles == one.stats().articles == len(kept)
        assert_same_answers(one, sharded, queries(kept, 60, seed=2))
    assert json.loads(json.dumps(Index.open(tmp_path / "sharded").manifest))["counts"]["articles"] == len(kept)


def test_a_search_reads_one_snapshot_while_the_index_is_updated(tmp_path):
    """An open sharded index keeps answering from its snapshot during and after another writer's update (every
    answer all-before or all-after) until it refreshes; a reopened one reads the new snapshot; old shard
    generations are removed once no reader holds them."""
    files, _ = reuters_files(tmp_path / "feeds", articles=600, per_file=300)
    Index.build(files[:1], tmp_path / "sharded", shards=SHARDS)
    reader = Index.open(tmp_path / "sharded")
    before = {h.passage.id for h in reader.search("oil", limit=10_000, highlights=False)}
    seen: list[frozenset] = []
    stop = threading.Event()

    def searching() -> None:
        while not stop.is_set():
            seen.append(frozenset(h.passage.id for h in reader.search("oil", limit=10_000, highlights=False)))

    thread = threading.Thread(target=searching)
    thread.start()
    with Index.open(tmp_path / "sharded") as writer:
        writer.update(files)
        after = {h.passage.id for h in writer.search("oil", limit=10_000, highlights=False)}
    stop.set()
    thread.join()
    assert after > before and set(seen) == {frozenset(before)}
    assert reader.refresh() and not reader.refresh()  # it follows the new snapshot, once
    assert {h.passage.id for h in reader.search("oil", limit=10_000, highlights=False)} == after
    reader.close()
    with Index.open(tmp_path / "sharded") as ix:
        assert {h.passage.id for h in ix.search("oil", limit=10_000, highlights=False)} == after
        ix.update(files)  # nothing changed; its commit removes the generations no snapshot kept names
    # the first snapshot's shard generations (no longer read) are gone; the second's, read by ``ix``, were kept
    assert [sorted(p.name for p in (tmp_path / "sharded" / f"shard-{n:03d}").glob("gen-*")) for n in range(SHARDS)] \
        == [["gen-000002", "gen-000003"]] * SHARDS


def test_a_damaged_shard_is_named(tmp_path, run_cli):
    files, _ = reuters_files(tmp_path / "feeds", articles=300)
    Index.build(files, tmp_path / "sharded", shards=SHARDS)
    generation = next((tmp_path / "sharded" / "shard-001").glob("gen-*"))
    postings = max(generation.glob("*.pst"), key=lambda f: f.stat().st_size)
    postings.write_bytes(postings.read_bytes()[:-100])
    with pytest.raises(IndexCorrupt, match="shard-001"):
        Index.open(tmp_path / "sharded")
    checked = run_cli("check", "--index", tmp_path / "sharded")
    assert checked.code == 2 and "shard-001" in checked.stderr and "Traceback" not in checked.stderr
    queried = run_cli("query", "oil", "--index", tmp_path / "sharded")
    assert queried.code == 2 and "shard-001" in queried.stderr and "Traceback" not in queried.stderr


def test_a_rebuild_with_fewer_shards_removes_the_others_once_no_reader_holds_them(tmp_path):
    files, _ = reuters_files(tmp_path / "feeds", articles=300)
    Index.build(files, tmp_path / "sharded", shards=SHARDS)
    reader = Index.open(tmp_path / "sharded")
    before = [h.passage.id for h in reader.search("oil", limit=50, highlights=False)]
    Index.build(files, tmp_path / "sharded", shards=2)
    assert (tmp_path / "sharded" / "shard-002").is_dir()  # the reader's snapshot names it: kept
    assert [h.passage.id for h in reader.search("oil", limit=50, highlights=False)] == before
    reader.close()
    with Index.open(tmp_path / "sharded") as ix:
        assert len(ix.manifest["shards"]) == 2
        ix.update(files)  # its commit removes what no kept snapshot names
        assert sorted(h.passage.id for h in ix.search("oil", limit=50, highlights=False)) == sorted(before)
    assert sorted(p.name for p in (tmp_path / "sharded").glob("shard-*")) == ["shard-000", "shard-001"]


def test_a_damaged_story_column_is_named(tmp_path, seeds_dir, run_cli):
    Index.build([seeds_dir], tmp_path / "sharded", shards=2)
    live = (tmp_path / "sharded" / "CURRENT").read_text().split()[0]
    column = sorted((tmp_path / "sharded" / live).glob("shard-*.stories.npy"))[-1]
    shard = column.name.split(".")[0]
    column.write_bytes(column.read_bytes()[:-8])
    with pytest.raises(IndexCorrupt, match=shard):
        Index.open(tmp_path / "sharded")
    checked = run_cli("check", "--index", tmp_path / "sharded")
    assert checked.code == 2 and shard in checked.stderr and "Traceback" not in checked.stderr
