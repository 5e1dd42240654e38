"""Smoke run of the cold-start ladder (1k generated passages, 2 runs a step) so that it never rots.

Needs the ``bench`` extra (tantivy is the reference); the figures themselves are not checked here, only that
every step was timed and the import breakdown was parsed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, require_bench_extra

pytestmark = pytest.mark.slow  # subprocess-heavy: outside the fast loop (pytest -m "not slow")

PEERS = ("tantivy", "sqlite_utils", "wordfreq", "psutil")  # the peers, the corpus generator, the machine record
STEPS = ("python -c pass", "import tantivy", "tantivy one-shot script", "sqlite-utils search", "import whoosh.index",
         "import typer", "import rich.console", "import numpy", "import searchkit", "import searchkit.cli",
         "searchkit query")


@pytest.fixture(scope="module")
def startup(tmp_path_factory) -> dict:
    require_bench_extra(*PEERS)
    out = tmp_path_factory.mktemp("startup")
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "startup.py"), "--size", "1000", "--runs", "2", "--no-compile",
         "--out", str(out / "results"), "--work", str(out / "work")],
        capture_output=True, text=True, timeout=900,  # a loaded machine: minutes
        env={**os.environ, "SEARCHKIT_BENCH_CACHE": str(out / "cache")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cold start" in proc.stdout and "imports of `searchkit query`" in proc.stdout
    return json.loads((out / "results" / "startup.json").read_text())


def test_every_step_is_timed(startup):
    steps = [r["step"] for r in startup["ladder"]]
    assert set(STEPS) <= set(steps)
    assert any(s.startswith("import whoosh: the ") for s in steps)
    for r in startup["ladder"]:
        assert 0 < r["min_s"] <= r["median_s"] and r["cpu_median_s"] > 0, r["step"]
        assert r["ratio_to_tantivy"] > 0 and r["ratio_to_sqlite_utils"] > 0, r["step"]
    rows = {r["step"]: r for r in startup["ladder"]}
    assert rows["tantivy one-shot script"]["ratio_to_tantivy"] == 1
    assert rows["sqlite-utils search"]["ratio_to_sqlite_utils"] == 1
    # a one-shot query imports neither the typer app nor rich (its output is piped)
    assert rows["import searchkit.cli"]["imported_by_query"] is False
    assert rows["import rich.console"]["imported_by_query"] is False


def test_the_target_is_judged(startup):
    target = startup["target"]
    query = next(r for r in startup["ladder"] if r["step"] == "searchkit query")
    assert target["target_s"] == 0.10 and target["met"] == (query["median_s"] <= 0.10)
    assert target["searchkit_query_median_s"] == query["median_s"]


def test_import_breakdown_is_parsed(startup):
    packages = {r["package"]: r for r in startup["imports"]}
    assert {"searchkit", "whoosh"} <= set(packages) and not {"typer", "rich", "nltk"} & set(packages)
    assert packages["searchkit"]["cumulative_ms"] > packages["whoosh"]["cumulative_ms"] > 0
    assert packages["whoosh"]["imported_mostly_by"] == "searchkit"


def test_meta_says_how_it_was_measured(startup):
    meta = startup["meta"]
    assert meta["passages"] == 1000 and meta["runs"] == 2 and meta["bytecode_compiled"] is False
    assert meta["machine"] and meta["python"] and meta["when"]
