"""Generations, the writer lock (second writer, --wait, a lock left by a killed writer) and damaged files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from conftest import edit_manifest
from searchkit import Index, vocabulary
from searchkit.errors import IndexCorrupt, SearchkitError

HOLD_LOCK = """
import sys, time
from pathlib import Path
from searchkit import store
with store.write_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(index: Path, seconds: float) -> subprocess.Popen:
    """A process that holds the index's writer lock for ``seconds`` (returns once it holds it)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(index), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture
def built(tmp_path, seeds_dir) -> Path:
    """A fresh index of the seeds, next to a copy of them, in a folder of its own."""
    shutil.copytree(seeds_dir, tmp_path / "seeds")
    Index.build([tmp_path / "seeds"], tmp_path / "index")
    return tmp_path / "index"


def live_generation(index: Path) -> str:
    return (index / "CURRENT").read_text().split()[0]


def test_update_commits_a_new_generation_and_removes_the_old(built):
    first = live_generation(built)
    (built.parent / "seeds" / "extra.txt").write_text("Grain exports\n\nKazakhstan shipped more wheat to Iran.\n")
    with Index.open(built) as ix:
        report = ix.update([built.parent / "seeds"])
        assert report.files_added == 1
        assert ix.search("wheat")[0].passage.path.endswith("extra.txt")
    assert live_generation(built) != first
    assert not (built / first).exists()


def test_a_reader_keeps_its_commit_while_a_writer_replaces_it(built):
    (built.parent / "seeds" / "extra.txt").write_text("Grain exports\n\nKazakhstan shipped more wheat to Iran.\n")
    with Index.open(built) as reader:
        before = {p.id for p in reader.passages()}
        with Index.open(built) as writer:
            writer.update([built.parent / "seeds"])
        assert {p.id for p in reader.passages()} == before
        assert reader.search("wheat") == []
        assert (built / reader.directory.name).is_dir()  # its generation outlives the commit while it is read
    with Index.open(built) as fresh:
        assert len({p.id for p in fresh.passages()}) == len(before) + 1


def test_second_writer_is_refused_with_the_holders_name(built, run_cli):
    holder = hold_lock(built, 60)
    try:
        result = run_cli("index", built.parent / "seeds", "--index", built)
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 2
    assert f"being written by process {holder.pid} on " in result.stderr
    assert "--wait SECONDS" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_wait_lets_a_second_writer_run_after_the_first(built, run_cli):
    holder = hold_lock(built, 2)
    (built.parent / "seeds" / "extra.txt").write_text("Grain exports\n\nKazakhstan shipped more wheat to Iran.\n")
    result = run_cli("index", built.parent / "seeds", "--index", built, "--wait", "120")
    assert holder.poll() == 0, "the second writer finished while the first still held the lock"
    assert result.code == 0, result.stderr
    assert "1 added" in result.stderr


@pytest.mark.slow
def test_a_lock_left_by_a_killed_writer_is_taken_over(built, run_cli):
    holder = hold_lock(built, 600)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert f'"pid": {holder.pid}' in (built / "writer.lock").read_text()  # the dead holder's name is still there
    (built.parent / "seeds" / "extra.txt").write_text("Grain exports\n\nKazakhstan shipped more wheat to Iran.\n")
    result = run_cli("index", built.parent / "seeds", "--index", built)
    assert result.code == 0, result.stderr
    assert run_cli("check", "--index", built).code == 0


HOLD_LOCK_AND_FORK = """
import os, sys, time
from pathlib import Path
from searchkit import store
with store.write_lock(Path(sys.argv[1])):
    child = os.fork()  # as Whoosh's writer processes are forked
    if child == 0:
        time.sleep(120)
        os._exit(0)
    print(child, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_killed_writers_forked_children_do_not_keep_the_lock(built, run_cli):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK_AND_FORK, str(built)], stdout=subprocess.PIPE, text=True)
    child = int(holder.stdout.readline())
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    try:
        (built.parent / "seeds" / "extra.txt").write_text("Grain exports\n\nKazakhstan shipped more wheat to Iran.\n")
        result = run_cli("index", built.parent / "seeds", "--index", built)
        assert result.code == 0, result.stderr
    finally:
        os.kill(child, signal.SIGKILL)


def test_check_reports_a_sound_index_and_a_changed_source(built, run_cli):
    ok = run_cli("check", "--index", built)
    assert ok.code == 0 and ok.stderr.startswith(f"ok: {built} (gen-000001): ") and "5 source files" in ok.stderr
    source = sorted((built.parent / "seeds").iterdir())[0]
    source.write_text(source.read_text() + "\nA new closing paragraph.\n")
    changed = run_cli("check", "--index", built)
    assert changed.code == 0
    assert f"note: seeds/{source.name}: source changed since it was indexed" in changed.stderr
    missing = run_cli("check", "--index", built.parent / "nowhere")
    assert missing.code == 2 and missing.stderr.startswith("error: no searchkit index at ")


def test_check_and_open_report_counts_that_disagree_with_the_manifest(built, run_cli):
    with Index.open(built) as ix:
        files, counts = ix.manifest["files"], ix.manifest["counts"]
    first = sorted(files)[0]
    edit_manifest(built, files={**files, first: {**files[first], "articles": 7}},
                  counts={**counts, "passages": counts["passages"] + 1})
    checked = run_cli("check", "--index", built)
    assert checked.code == 2
    assert f"the index holds {counts['passages']} passages, the manifest says {counts['passages'] + 1}" in checked.stderr
    assert f"{first}: the index holds {files[first]['passages']} passages of 1 articles, the manifest says " \
           f"{files[first]['passages']} of 7" in checked.stderr
    with pytest.raises(IndexCorrupt, match="passages, its manifest says"):
        Index.open(built)


def test_check_compares_the_words_file_with_the_live_passages(built, run_cli):
    seeds = built.parent / "seeds"
    (seeds / "extra.txt").write_text("Grain exports\n\nKazakhstan shipped more wheat to Iran.\n")
    sorted(seeds.glob("*.txt"))[0].unlink()
    with Index.open(built) as ix:
        ix.update([seeds])  # words added and taken away: check must still find them equal
    assert run_cli("check", "--index", built).code == 0
    directory = built / live_generation(built)
    files = json.loads((directory / "manifest.json").read_text())["segment_files"]
    words, counts = vocabulary._read(directory / "words")
    changed = dict(zip(words, counts)) | {"wheat": counts[words.index("wheat")] + 1, "zyzzyva": 2}
    vocabulary._write(directory / "words", changed)
    info = (directory / "words").stat()
    edit_manifest(built, segment_files={**files, "words": {
        "size": info.st_size, "crc32": zlib.crc32((directory / "words").read_bytes()), "mtime_ns": info.st_mtime_ns}})
    checked = run_cli("check", "--index", built)
    assert checked.code == 2
    assert "the words file disagrees with the passages on 2 words (e.g. 'wheat' 2 for 1, 'zyzzyva' 2 for 0)" \
        in checked.stderr


# --- damaged files ------------------------------------------------------------------------------------------

FILE_KINDS = {
    "pointer": lambda names: ["CURRENT"],
    "manifest": lambda names: ["manifest.json"],
    "punkt model": lambda names: ["punkt.json"],
    "whoosh TOC": lambda names: [n for n in names if n.endswith(".toc")],
    "terms": lambda names: [n for n in names if n.endswith(".trm")],
    "postings": lambda names: [n for n in names if n.endswith(".pst")],
    "stored fields": lambda names: [n for n in names if n.endswith("_stored.col")],
    "field lengths": lambda names: [n for n in names if n.endswith("_len.col")],
    "sort columns": lambda names: [n for n in names if n.endswith((".date.col", ".position.col"))],
    "top-k arrays": lambda names: [n for n in names if n.startswith("topk/")],
}
METADATA = {"pointer", "manifest", "punkt model", "whoosh TOC"}
"""Kinds a default open checks byte for byte; the others when their size or modification time changed."""


def damage(file: Path, how: str) -> None:
    data = bytearray(file.read_bytes())
    if how == "truncate":
        del data[len(data) // 2:]
    else:
        data[len(data) // 2] ^= 0x10
    file.write_bytes(bytes(data))


def damaged_copy(built: Path, kind: str, how: str, *, keep_mtime: bool = False) -> tuple[Path, str]:
    """A copy of the index with the largest file of ``kind`` damaged; with ``keep_mtime``, as bit rot
    would leave it (its modification time unchanged)."""
    generation = built / live_generation(built)
    files = {str(p.relative_to(generation)): p for p in generation.rglob("*") if p.is_file()}
    files["CURRENT"] = built / "CURRENT"
    names = FILE_KINDS[kind](sorted(files))
    assert names, f"the index has no {kind} file"
    name = max(names, key=lambda n: files[n].stat().st_size)
    copy = built.parent / "damaged"
    shutil.copytree(built, copy)
    file = copy / files[name].relative_to(built)
    before = file.stat()
    damage(file, how)
    if keep_mtime:
        os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
    return copy, name


def assert_check_reports(run_cli, copy: Path, kind: str, name: str) -> None:
    checked = run_cli("check", "--index", copy)
    assert checked.code == 2, checked.stderr
    assert name in checked.stderr or kind in ("pointer", "manifest") and "CURRENT" in checked.stderr
    assert "Traceback" not in checked.stderr


@pytest.mark.parametrize("how", ["truncate", "bit-flip"])
@pytest.mark.parametrize("kind", FILE_KINDS)
def test_damaged_files_are_reported_by_check_and_open(built, run_cli, kind, how):
    copy, name = damaged_copy(built, kind, how)
    assert_check_reports(run_cli, copy, kind, name)
    for verify in (True, False):
        with pytest.raises(IndexCorrupt, match="rebuild it with: searchkit index"):
            Index.open(copy, verify=verify)
    queried = run_cli("query", "Caspian", "--index", copy)
    assert queried.code == 2 and queried.stderr.startswith("error: ") and "Traceback" not in queried.stderr
    assert "rebuild it with: searchkit index" in queried.stderr


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_bit_rot_is_found_by_check_and_never_raises_anything_but_index_corrupt(built, run_cli, kind):
    """A flipped bit that left the file's modification time as it was (media corruption) is found by check
    and ``verify=True``; a default open finds it in metadata, and reading damaged data raises IndexCorrupt
    or decodes (it may then rank wrongly: the limit the README states)."""
    copy, name = damaged_copy(built, kind, "bit-flip", keep_mtime=True)
    assert_check_reports(run_cli, copy, kind, name)
    with pytest.raises(IndexCorrupt, match="rebuild it with: searchkit index"):
        Index.open(copy, verify=True)
    if kind in METADATA:
        with pytest.raises(IndexCorrupt, match="rebuild it with: searchkit index"):
            Index.open(copy)
        return
    with Index.open(copy) as ix:
        try:
            list(ix.passages())
            ix.search("Caspian OR president OR gas*", limit=50)
            ix.search("Caspian president gas", limit=50)
            ix.search("Caspian", since="2017-01-01", source="Kazinform")
        except SearchkitError as e:
            assert isinstance(e, IndexCorrupt)
    queried = run_cli("query", "Caspian OR president", "--index", copy)
    assert queried.code in (0, 1, 2) and "Traceback" not in queried.stderr
