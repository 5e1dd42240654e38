"""Readers beside a writer: reader processes query in a loop while ``searchkit index`` adds, replaces and prunes.

Commit k holds ``stable.jsonl`` (never changes), ``changing.jsonl`` (replaced each commit) and ``added-k.jsonl``
(added by commit k, pruned by commit k+1); every article of the last two is titled ``markK``. So a reader that
sees one commit finds exactly 2 x ARTICLES passages titled mark*, all with the same K, among 3 x ARTICLES.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from synthetic import article_text

pytestmark = pytest.mark.slow  # subprocess-heavy: outside the fast loop (pytest -m "not slow")

ARTICLES = 40
READERS = 3
COMMITS = 5

READER = """
import json, sys, time
from pathlib import Path
from searchkit import Index

index, stop, articles = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
errors, seen, iterations = [], [], 0

def commit_seen(ix):
    hits = ix.search("title:mark*", limit=10 * articles)
    marks = {hit.passage.title.split()[0] for hit in hits}
    total = ix.stats().passages
    if len(marks) != 1 or len(hits) != 2 * articles or total != 3 * articles:
        raise AssertionError(f"mixed state: marks {sorted(marks)}, {len(hits)} marked of {total} passages")
    return int(next(iter(marks))[4:])

first = Index.open(index)
pinned = commit_seen(first)
while not stop.exists() or iterations == 0:
    iterations += 1
    try:
        with Index.open(index) as ix:
            k = commit_seen(ix)
            for passage_id in [h.passage.id for h in ix.search("title:mark*", limit=3)]:
                ix.get(passage_id)
        if seen and k < seen[-1]:
            errors.append(f"went back from commit {seen[-1]} to {k}")
        seen.append(k)
        if commit_seen(first) != pinned:
            errors.append("a long-lived reader left its commit")
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
first.close()
print(json.dumps({"iterations": iterations, "commits": sorted(set(seen)), "errors": errors[:20]}))
"""


def write_commit(inputs: Path, k: int, rng: random.Random) -> None:
    """The inputs of commit ``k`` (see the module docstring)."""
    def write(name: str, title: str) -> None:
        with open(inputs / name, "w", encoding="utf-8") as f:
            for i in range(ARTICLES):
                f.write(json.dumps({"id": f"{name}-{k}-{i}", "title": title, "text": article_text(rng, 1)}) + "\n")

    if not (inputs / "stable.jsonl").exists():
        write("stable.jsonl", "steady report")
    write("changing.jsonl", f"mark{k:04d} report")
    write(f"added-{k}.jsonl", f"mark{k:04d} report")
    (inputs / f"added-{k - 1}.jsonl").unlink(missing_ok=True)


def index(inputs: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "searchkit", "index", str(inputs), "--index", str(path), "--prune", "--wait", "60"],
        capture_output=True, text=True,
    )


def test_readers_see_whole_commits_while_a_writer_updates(tmp_path):
    rng = random.Random(7)
    inputs, path, stop = tmp_path / "inputs", tmp_path / "index", tmp_path / "stop"
    inputs.mkdir()
    write_commit(inputs, 0, rng)
    assert index(inputs, path).returncode == 0
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(path), str(stop), str(ARTICLES)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(READERS)
    ]
    try:
        for k in range(1, COMMITS + 1):
            write_commit(inputs, k, rng)
            run = index(inputs, path)
            assert run.returncode == 0, run.stderr
            assert "1 added, 1 replaced" in run.stderr and "1 removed" in run.stderr
    finally:
        stop.touch()
    results = []
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        results.append(json.loads(out))
    print(f"concurrency: {READERS} reader processes, {sum(r['iterations'] for r in results)} open-search-check rounds "
          f"over commits {sorted({k for r in results for k in r['commits']})}, "
          f"{sum(len(r['errors']) for r in results)} errors")
    assert all(r["errors"] == [] for r in results), results
    assert all(r["iterations"] > 0 for r in results)
    assert len({k for r in results for k in r["commits"]}) >= 2, "the readers never overlapped a commit"
