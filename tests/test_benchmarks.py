"""Smoke run of the benchmark harness (1k generated passages, every engine) so that it never rots.

Needs the ``bench`` extra (the peers); the figures themselves are not checked here, only that every engine
built, answered and was recorded with the fields the README cites.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, require_bench_extra

pytestmark = pytest.mark.slow  # subprocess-heavy: outside the fast loop (pytest -m "not slow")

PEERS = ("tantivy", "bm25s", "wordfreq", "matplotlib", "numpy", "psutil")
FIELDS = ("engine", "size", "build_s", "passages_per_s", "index_bytes", "peak_rss_mb", "p50_ms", "p95_ms", "p99_ms",
          "highlights", "cold_s", "ratios", "p50_exponent")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    require_bench_extra(*PEERS)
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "latency.py"), "--sizes", "1000", "--out", str(out / "results"),
         "--queries", "40", "--cold-runs", "1", "--no-compile", "--work", str(out / "work")],
        capture_output=True, text=True, timeout=240,
        env={**os.environ, "SEARCHKIT_BENCH_CACHE": str(out / "cache")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "results", proc.stdout


def test_every_engine_is_recorded_with_every_field(smoke):
    results, _ = smoke
    records = json.loads((results / "results.json").read_text())
    assert sorted(r["engine"] for r in records) == sorted(["searchkit", "whoosh", "sqlite-fts5", "tantivy", "bm25s"])
    for r in records:
        assert set(FIELDS) <= set(r), r["engine"]
        assert r["size"] == 1000
        assert r["build_s"] > 0 and r["index_bytes"] > 0 and r["cold_s"] > 0
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
        assert set(r["ratios"]) == {p["engine"] for p in records} - {r["engine"]}


def test_every_engine_matches_most_queries(smoke):
    """The generated corpus mixes in the seeds' vocabulary: every engine must match most queries."""
    results, _ = smoke
    for r in json.loads((results / "results.json").read_text()):
        assert r["matched_queries"] >= 0.8 * r["queries"], r["engine"]


def test_plots_and_table_are_written(smoke):
    results, stdout = smoke
    assert (results / "latency.png").stat().st_size > 0
    assert (results / "build.png").stat().st_size > 0
    assert "searchkit ÷ peer" in stdout
    assert json.loads((results / "meta.json").read_text())["cold_method"]
