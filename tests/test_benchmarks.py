"""The fair benchmark harness: its query words (stop words stripped for every engine) and a smoke run on 1k
generated passages with every engine and setup, so that it never rots.

The smoke run needs the ``bench`` extra (the peers); its figures are not checked, only that every engine built,
answered every query kind in the interleaved run, and was recorded with the fields the README cites.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, require_bench_extra

sys.path.insert(0, str(REPO / "benchmarks"))

PEERS = ("tantivy", "wordfreq", "psutil")
ENGINES = {"searchkit": "searchkit", "whoosh": "baseline", "sqlite-fts5": "same work",
           "sqlite-fts5-default": "default", "tantivy": "same work", "tantivy-default": "default"}
BUILD_FIELDS = ("build_wall_s", "build_cpu_s", "passages_per_s", "passages_per_cpu_s", "peak_rss_mb", "index_bytes",
                "index_to_corpus", "index_bytes_by_kind", "corpus_bytes", "cold_s", "setup", "note")
KINDS = ("or", "and", "or+highlights")
QUERIES = 40


def test_every_engine_is_given_the_words_searchkit_searches():
    require_bench_extra("numpy")
    from corpora import BenchQuery, without_stop_words

    queries = [BenchQuery(("Caspian", "the", "seabed")), BenchQuery(("of", "the")), BenchQuery(("pipeline",)),
               BenchQuery(("bank", "of"), phrase=True), BenchQuery(("s", "tariff"), source="Reuters")]
    kept, changed, dropped = without_stop_words(queries)
    assert [q.words for q in kept] == [("Caspian", "seabed"), ("pipeline",), ("bank",), ("tariff",)]
    assert [q.phrase for q in kept] == [False, False, False, False]
    assert kept[3].source == "Reuters"
    assert (changed, dropped) == (3, 1)


def test_the_generated_corpus_is_seeded_and_holds_exactly_the_passages_asked_for(tmp_path):
    """The same seed gives the same bytes, another seed other bytes; every paragraph fits in one passage."""
    require_bench_extra("numpy", "wordfreq")
    from corpora import write_generated

    from searchkit.settings import DEFAULT

    for folder, seed in (("a", 0), ("b", 0), ("c", 1)):
        write_generated(tmp_path / folder, 1200, seed)
    files = {folder: sorted((tmp_path / folder).glob("*.jsonl")) for folder in "abc"}
    assert [f.read_bytes() for f in files["a"]] == [f.read_bytes() for f in files["b"]]
    assert [f.read_bytes() for f in files["a"]] != [f.read_bytes() for f in files["c"]]
    articles = [json.loads(line) for f in files["a"] for line in f.read_text(encoding="utf-8").splitlines()]
    paragraphs = [p for a in articles for p in a["text"].split("\n\n")]
    assert len(paragraphs) == 1200
    assert all(p.endswith(".") and 400 < len(p) <= DEFAULT.max_passage_chars for p in paragraphs)
    assert len({a["id"] for a in articles}) == len(articles)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    require_bench_extra(*PEERS)
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "latency.py"), "--sizes", "1000", "--out", str(out / "results"),
         "--queries", str(QUERIES), "--cold-runs", "1", "--no-compile", "--work", str(out / "work"),
         "--build-check", "300", "--build-check-runs", "1", "--startup-size", "1000", "--startup-runs", "1"],
        capture_output=True, text=True, timeout=400,
        env={**os.environ, "SEARCHKIT_BENCH_CACHE": str(out / "cache")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = out / "results"
    return (json.loads((results / "results.json").read_text()), json.loads((results / "meta.json").read_text()),
            (results / "results.md").read_text(), json.loads((results / "checks.json").read_text()))


@pytest.mark.slow
def test_every_engine_and_setup_is_recorded_with_its_build(smoke):
    records, _, _, _ = smoke
    assert {r["engine"]: r["setup"] for r in records} == ENGINES
    for r in records:
        assert set(BUILD_FIELDS) <= set(r), r["engine"]
        assert r["size"] == 1000
        assert r["build_wall_s"] > 0 and r["build_cpu_s"] > 0 and r["peak_rss_mb"] > 0, r["engine"]
        assert r["index_bytes"] == sum(r["index_bytes_by_kind"].values()) > 0, r["engine"]
        assert (r["cold_s"] is None) == r["engine"].endswith("-default"), r["engine"]
    searchkit = next(r for r in records if r["engine"] == "searchkit")
    kinds = set(searchkit["index_bytes_by_kind"])
    assert {"postings (with positions)", "terms", "stored fields", "top-k arrays"} <= kinds
    assert set(searchkit["ratios"]) == set(ENGINES) - {"searchkit"}


@pytest.mark.slow
def test_every_query_kind_is_timed_on_every_engine_with_the_same_words(smoke):
    records, meta, _, _ = smoke
    q = meta["queries"]["generated-1000"]
    assert q["generated"] == QUERIES and q["kept"] + q["dropped"] == QUERIES and q["changed"] + q["dropped"] > 0
    for r in records:
        for kind in KINDS:
            latency = r["latency"][kind]
            assert latency["queries"] == q["kept"], (r["engine"], kind)
            assert 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"], (r["engine"], kind)
            assert 0 <= latency["cpu_p50_ms"], (r["engine"], kind)
        matched = {kind: r["latency"][kind]["matched"] for kind in KINDS}
        assert matched["or"] == matched["or+highlights"] >= 0.8 * q["kept"], r["engine"]
        assert 0 < matched["and"] <= matched["or"], r["engine"]  # every word required: fewer queries match


@pytest.mark.slow
def test_the_same_work_setups_answer_more_like_searchkit_than_the_defaults(smoke):
    """Title and body, stemmed: the same-work peers return more of searchkit's top 10 than their defaults do."""
    records, _, _, _ = smoke
    overlap = {r["engine"]: r["latency"]["or"]["top10_overlap_with_searchkit"] for r in records}
    assert overlap["searchkit"] == 1.0
    assert overlap["sqlite-fts5"] > overlap["sqlite-fts5-default"]
    assert overlap["tantivy"] > overlap["tantivy-default"]


@pytest.mark.slow
def test_meta_records_the_machine_and_its_load(smoke):
    _, meta, table, _ = smoke
    assert meta["cores"] >= 1 and meta["cpu"]
    load = meta["load_average"]["generated-1000"]
    assert len(load["before"]) == len(load["after"]) == 3
    assert "searchkit ÷ peer" in table and "load average" in table


@pytest.mark.slow
def test_one_run_reports_every_target_of_issue_16_with_its_verdict(smoke):
    """The build check (searchkit and raw Whoosh, same corpus) and startup.py's cold start run in the same run;
    each target gets a row, its verdict ``not in this run`` where the run lacks the size the target names."""
    records, _, table, checks = smoke
    for engine in ("searchkit", "whoosh"):
        assert checks["build"][engine]["cpu_s"] > 0 and checks["build"][engine]["wall_s"] > 0, engine
    assert checks["build"]["size"] == 300 and checks["startup"]["size"] == 1000
    assert checks["startup"]["query_median_s"] > 0
    targets = table.split("Issue 16's targets in this run:")[1]
    rows = [line for line in targets.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 9  # build at 100k and 1M, 1k build, size, AND vs OR (one size), 2 × FTS5, tantivy, cold
    assert all(row.endswith(("| met |", "| **not met** |")) or "not in this run" in row for row in rows)
    assert "| AND no slower than OR at 1k (p50, p95) |" in targets
    assert not any(row.endswith(("| met |", "| **not met** |")) for row in rows if "AND" not in row)
    assert all(r["load_before_build"] >= 0 for r in records)


@pytest.mark.slow
def test_the_build_steps_are_timed_for_every_step(tmp_path):
    require_bench_extra("numpy", "wordfreq")  # the generated corpus, made where it is not cached
    out = tmp_path / "stages.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "build_speed.py"), "--stages", "--sizes", "1000",
                           "--rounds", "1", "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    from build_speed import STAGES

    [record] = json.loads(out.read_text())["records"]
    assert record["size"] == 1000
    assert set(record["cpu_s"]) == set(STAGES) and all(seconds > 0 for seconds in record["cpu_s"].values())
    assert "| 1,000 | searchkit |" in done.stdout
