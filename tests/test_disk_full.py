"""A full disk during a build or update: one line that says so and names the index; the previous index intact.

The real thing is a small tmpfs (mounting needs root: skipped otherwise); a full disk met at each write path
(segments, top-k arrays, the commit) and a quota are also injected in-process, which runs anywhere.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from searchkit import Index, IndexWriteError
from searchkit.check import check_index
from synthetic import write_corpus

pytestmark = pytest.mark.slow  # subprocess-heavy: outside the fast loop (pytest -m "not slow")

DISK_BYTES = 24 << 20


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 24 MB tmpfs mounted for the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the in-process tests cover the mapping)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path, free: int) -> Path:
    """Take all the space of ``disk`` but ``free`` bytes."""
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, shutil.disk_usage(disk).free - free))
    return filler


def snapshot(index: Path) -> tuple[str, frozenset]:
    with Index.open(index) as ix:
        return (index / "CURRENT").read_text(), frozenset((p.id, p.text, p.path, p.span) for p in ix.passages())


def assert_disk_full_line(stderr: str, index: Path) -> None:
    stderr = stderr.lstrip("\n")  # what the progress bar leaves when stderr is not a terminal
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert stderr.startswith(f"error: disk full writing the index at {index}: nothing was committed"), stderr
    assert "Errno" not in stderr and "requested and" not in stderr


def test_a_full_disk_during_an_update_is_one_line_and_the_index_stays_as_it_was(small_disk, seeds_dir, run_cli):
    inputs = small_disk / "in"
    shutil.copytree(seeds_dir, inputs)
    index = small_disk / "index"
    assert run_cli("index", inputs, "--index", index).code == 0
    before = snapshot(index)
    for source in inputs.iterdir():
        with open(source, "a", encoding="utf-8") as f:
            f.write("\nA new paragraph about the okapi, added by an update.\n")
    for free in (0, 8 << 10, 48 << 10, 120 << 10, 200 << 10):  # the update fails at a different write each time
        filler = fill(small_disk, free)
        result = run_cli("index", inputs, "--index", index)
        filler.unlink()
        assert result.code == 2, (free, result.stderr)
        assert_disk_full_line(result.stderr, index)
        assert snapshot(index) == before
        assert check_index(index).ok
    assert run_cli("index", inputs, "--index", index).code == 0  # with space again, the update completes
    assert run_cli("query", "okapi", "--index", index).code == 0


def test_a_full_disk_in_the_indexing_processes_of_a_first_build_leaves_no_index(small_disk, tmp_path, run_cli):
    inputs = tmp_path / "in"
    write_corpus(inputs, seed=11, files=4, articles=900)  # over 2 MB: indexed by one process per core
    assert sum(f.stat().st_size for f in inputs.iterdir()) > 2_000_000
    index = small_disk / "index"
    filler = fill(small_disk, 600 << 10)
    result = run_cli("index", inputs, "--index", index)
    filler.unlink()
    assert result.code == 2
    assert_disk_full_line(result.stderr, index)
    assert not Index.exists(index) and not list(index.glob("gen-*"))  # the partial generation is removed


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("full")
    inputs = root / "in"
    write_corpus(inputs, seed=5, files=3, articles=20)
    Index.build([inputs], root / "index")
    write_corpus(inputs, seed=6, files=4, articles=20)  # three files changed, one added: the update writes
    return root / "index", inputs


def raise_(error: OSError):
    def failing(*args, **kwargs):
        raise error
    return failing


@pytest.mark.parametrize("target, error, reason", [
    ("searchkit.segments.SegmentBuilder.finish", OSError(errno.ENOSPC, "No space left on device"), "disk full"),
    ("numpy.save", OSError("555 requested and 496 written"), "disk full"),  # NumPy's short write (no errno)
    ("searchkit.store.publish", OSError(errno.EDQUOT, "Disk quota exceeded"), "disk quota exceeded"),
    ("searchkit.store.write_lock", OSError(errno.ENOSPC, "No space left on device"), "disk full"),
], ids=["segments", "topk-short-write", "commit-quota", "lock"])
def test_each_write_path_maps_a_full_disk_to_one_index_write_error(committed, monkeypatch, target, error, reason):
    index, inputs = committed
    before = snapshot(index)
    monkeypatch.setattr(target, raise_(error))
    with Index.open(index) as ix, pytest.raises(IndexWriteError) as raised:
        ix.update([inputs])
    monkeypatch.undo()
    message = str(raised.value)
    assert message.startswith(f"{reason} writing the index at {index}: nothing was committed"), message
    assert "\n" not in message and "requested and" not in message
    assert snapshot(index) == before and check_index(index).ok

