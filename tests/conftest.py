"""Shared fixtures: the seed corpus, a session-wide seed index, and a runner for the real CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from searchkit import Index
from searchkit.collections import shared_data_dir

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return REPO / "seeds"


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, seeds_dir) -> Path:
    """An index of the five seed articles, built once through the library."""
    path = tmp_path_factory.mktemp("seed") / "index"
    Index.build([seeds_dir], path)
    return path


@dataclass
class ShardedCorpus:
    """Reuters-21578 stories (and wire copies of some) as JSON Lines ``files``, with one index of them (``one``)
    and a sharded index of them in 3 shards built by local processes (``sharded``), side by side in ``root``;
    ``expected`` keeps the one index's answers (``sharding.answers``) for the tests that compare with it."""

    root: Path
    files: list[Path]
    stories: list[dict]
    expected: dict

    @property
    def one(self) -> Path:
        return self.root / "one"

    @property
    def sharded(self) -> Path:
        return self.root / "sharded"


def _sharded_corpus(root: Path, **articles) -> ShardedCorpus:
    from sharding import SHARDS, reuters_files

    files, stories = reuters_files(root / "feeds", **articles)
    Index.build(files, root / "one")
    Index.build(files, root / "sharded", shards=SHARDS)
    return ShardedCorpus(root, files, stories, {})


@pytest.fixture(scope="session")
def reuters_subset(tmp_path_factory) -> ShardedCorpus:
    """1,200 Reuters-21578 stories in 3 files and a file of 60 wire copies: one index, 3 shards (shared by the
    in-process and the Ray tests)."""
    return _sharded_corpus(tmp_path_factory.mktemp("reuters-subset"), articles=1200, per_file=400, copies=60)


@pytest.fixture(scope="session")
def reuters_all(tmp_path_factory) -> ShardedCorpus:
    """All of Reuters-21578 and 400 wire copies: one index, 3 shards (shared by the in-process and the Ray tests,
    which compare the same queries: the one index answers each once)."""
    return _sharded_corpus(tmp_path_factory.mktemp("reuters-all"), articles=None, per_file=2000, copies=400)


@pytest.fixture
def tiny_collection(tmp_path) -> Path:
    """A three-document collection in ADI's layout (the reader is chosen by the folder's name)."""
    from test_evaluate import DOCS, QUERIES, RELEVANCE

    folder = tmp_path / "adi"
    folder.mkdir()
    (folder / "ADI.ALL").write_text(DOCS)
    (folder / "ADI.QRY").write_text(QUERIES)
    (folder / "ADI.REL").write_text(RELEVANCE)
    return folder


@pytest.fixture
def run_cli():
    """Run ``python -m searchkit ARGS`` in a subprocess; returns code, stdout and stderr."""

    def run(*args: str, cwd: Path | None = None, input: str | None = None, env: dict | None = None) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "searchkit", *map(str, args)],
            cwd=cwd or REPO,
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
            timeout=300,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def edit_manifest(index: Path, **fields) -> None:
    """Change fields of an index's live manifest as an older searchkit would have written them.

    The manifest's CRC-32 in ``CURRENT`` is updated too, so the index reads as intact, not damaged.
    """
    generation = (index / "CURRENT").read_text().split()[0]
    manifest_file = index / generation / "manifest.json"
    manifest_file.write_text(json.dumps({**json.loads(manifest_file.read_text()), **fields}))
    (index / "CURRENT").write_text(f"{generation} {zlib.crc32(manifest_file.read_bytes())}\n")


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip the test with a clear message where it is absent."""
    path = shared_data_dir() / name
    if not path.is_dir():
        pytest.skip(f"shared data {path} is absent (set SEARCHKIT_SHARED_DATA to its folder)")
    return path


def require_bench_extra(*modules: str) -> None:
    """Skip the test with a clear message unless every named module of the ``bench`` extra is importable."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the bench extra is not installed (missing {', '.join(missing)}): pip install -e '.[bench]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(index: Path, *options: str, timeout: float = 30) -> Iterator[str]:
    """``searchkit serve`` of ``index`` (with ``options``) in a subprocess on a free port, until the block ends;
    yields its URL. It must end by SIGTERM (exit 143) without a traceback."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "searchkit", "serve", "--index", str(index), "--port", str(port), *options],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() - started > timeout:
                proc.kill()
                raise RuntimeError(f"searchkit serve did not start: {proc.communicate()[1]}") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 128 + 15 and "Traceback" not in err, err
