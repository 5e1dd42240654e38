"""The ranking seam: an index split into shards, searched through a sharded backend with the statistics of all
shards together, ranks exactly as one index of the whole; one Index serves threads while it is updated."""

from __future__ import annotations

import random
import threading

import pytest

from searchkit import Index, IndexClosed, search
from searchkit.query import build_query
from searchkit.shards import ShardedBackend
from synthetic import WORDS, write_corpus

SHARDS = 3
FILES = 12

QUERIES = [
    "pipeline", "caspian gas", "oil oil treaty", "president OR minister", "pipeline AND gas", "gas NOT oil",
    '"trade talks"', '"caspian pipeline" OR border', "pipe*", "tariff~", "title:summit", "source:reuters gas",
    "date:[2019-03-01 TO 2019-06-30] water", "(oil OR gas) AND (president OR court)", "rail port customs visa",
]
OPTIONS = [
    {}, {"sort": "date"}, {"per_article": True}, {"expand": True}, {"per_article": True, "expand": True},
    {"source": "TASS"}, {"since": "2019-05-01", "until": "2019-09-30"}, {"syntax": False},
]


@pytest.fixture(scope="module")
def split_corpus(tmp_path_factory):
    """One index of the whole corpus and SHARDS indexes of its files (assigned by number), side by side."""
    root = tmp_path_factory.mktemp("shards")
    files = write_corpus(root / "feeds", seed=3, files=FILES, articles=25)
    Index.build(files, root / "whole")
    for shard in range(SHARDS):
        Index.build(files[shard::SHARDS], root / f"shard-{shard}", punkt_from=root / "whole")
    whole = Index.open(root / "whole")
    shards = [Index.open(root / f"shard-{shard}") for shard in range(SHARDS)]
    yield whole, ShardedBackend([ix.backend for ix in shards])
    for ix in (whole, *shards):
        ix.close()


def _sharded_search(backend, settings, text, *, limit=10, sort="score", per_article=False, expand=False,
                    syntax=True, **filters):
    parsed = build_query(text, syntax=syntax, settings=settings, **filters)
    return search.run(backend, parsed, settings, limit=limit, sort=sort, per_article=per_article, expand=expand,
                      highlights=True)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_shards_with_global_statistics_rank_as_one_index(split_corpus, options):
    whole, sharded = split_corpus
    compared = 0
    for text in QUERIES:
        if options.get("sort") == "date" and options.get("per_article"):
            continue
        expected = whole.search(text, limit=10, **options)
        got = _sharded_search(sharded, whole.settings, text, limit=10, **options)
        assert [(h.passage.id, h.score) for h in got] == [(h.passage.id, h.score) for h in expected], text
        assert [h.highlights for h in got] == [h.highlights for h in expected], text
        compared += len(expected)
    assert compared > 50  # the queries match: the comparison is not of empty lists


def test_without_global_statistics_the_shards_rank_differently(split_corpus):
    """The check above can fail: each shard scored with its own statistics gives other scores."""
    whole, sharded = split_corpus
    settings = whole.settings
    own = [search.run(shard, build_query("caspian gas", settings=settings), settings, limit=10, sort="score",
                      per_article=False, expand=False, highlights=False) for shard in sharded.shards]
    merged = sorted((h for hits in own for h in hits), key=lambda h: -h.score)[:10]
    expected = whole.search("caspian gas", limit=10)
    assert [(h.passage.id, h.score) for h in merged] != [(h.passage.id, h.score) for h in expected]


@pytest.mark.slow
def test_one_index_serves_threads_while_it_is_updated(tmp_path):
    """8 threads × 200 searches share one Index while another thread updates it: no errors, and every answer
    comes from one commit (before it: no passage of the added file; after it: all of them)."""
    files = write_corpus(tmp_path / "feeds", seed=5, files=3, articles=30)
    Index.build(files[:2], tmp_path / "index")
    with Index.open(tmp_path / "index") as probe_build:
        before = {h.passage.id for h in probe_build.search("pipeline", limit=10_000, highlights=False)}
    errors: list[BaseException] = []
    answers: list[frozenset[str]] = []
    rng = random.Random(1)
    words = [rng.choice(WORDS) for _ in range(40)]
    with Index.open(tmp_path / "index") as ix:
        start = threading.Barrier(9)

        def searching() -> None:
            start.wait()
            for n in range(200):
                try:
                    ix.search(words[n % len(words)], limit=5)
                    answers.append(frozenset(h.passage.id for h in ix.search("pipeline", limit=10_000, highlights=False)))
                except BaseException as e:  # noqa: BLE001 - every error is a failure of the test
                    errors.append(e)

        threads = [threading.Thread(target=searching) for _ in range(8)]
        for thread in threads:
            thread.start()
        start.wait()
        ix.update(files)
        for thread in threads:
            thread.join()
        after = frozenset(h.passage.id for h in ix.search("pipeline", limit=10_000, highlights=False))
    assert not errors, errors[:3]
    assert len(answers) == 8 * 200
    assert after > before
    assert set(answers) <= {frozenset(before), after}


def test_a_closed_index_refuses_every_call(seed_index):
    ix = Index.open(seed_index)
    assert ix.search("Caspian")
    ix.close()
    for call in (lambda: ix.search("Caspian"), lambda: ix.get("0" * 16), ix.stats, lambda: ix.update([])):
        with pytest.raises(IndexClosed, match="closed"):
            call()
    ix.close()  # closing twice is harmless
