"""Signals and closed pipes, through the real CLI in subprocesses.

Ctrl-C (SIGINT), SIGTERM and SIGHUP end any command with one line on stderr and exit 128 + N; ``index`` says
whether its commit had completed, and leaves no uncommitted generation and no indexing process behind. A stdout
closed early (``| head``) ends a command by SIGPIPE, as it ends ``cat``: nothing on stderr, and never exit 1,
which means "nothing matched".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from searchkit import Index
from searchkit.check import check_index
from synthetic import write_corpus

pytestmark = pytest.mark.slow  # subprocess-heavy: outside the fast loop (pytest -m "not slow")

CLI = [sys.executable, "-m", "searchkit"]
RUN_CLI = "from searchkit.cli import app\napp(prog_name='searchkit')\n"
ONE_PROCESS = "from searchkit import build\nbuild._writer_procs = lambda input_bytes: 1\n"
"""Prepended to ``RUN_CLI``: the path of small inputs (one process) taken by a large corpus."""
NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> tuple[Path, Path]:
    """5 MB of synthetic articles (over ``PARALLEL_INPUT_BYTES``: indexed by writer processes) and an index."""
    root = tmp_path_factory.mktemp("signals")
    write_corpus(root / "inputs", 11, files=20, articles=300)
    Index.build([root / "inputs"], root / "index")
    return root / "inputs", root / "index"


def snapshot(index: Path) -> frozenset:
    with Index.open(index) as ix:
        return frozenset((p.id, p.path, p.span, p.text) for p in ix.passages())


def live(index: Path) -> str:
    return (index / "CURRENT").read_text().split()[0]


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def assert_one_commit_left(index: Path, committed: bool, before: str) -> None:
    """The index's live generation is the old one unless ``committed``, and passes check; no uncommitted
    generation is left (the one a commit replaced may be, until the next run removes it)."""
    assert (live(index) != before) == committed
    left = set(os.listdir(index)) - {"CURRENT", "writer.lock", live(index), before}
    assert not left, f"an uncommitted generation was left: {left}"
    report = check_index(index)
    assert report.ok, report.problems


def outcome_line(signum: int, index: Path, committed: bool) -> str:
    what = (f"the commit had completed: the index at {index} holds this run" if committed
            else f"nothing was committed, the index at {index} is as it was")
    return f"interrupted ({NAMES[signum]}): {what}"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
@pytest.mark.parametrize(("signum", "processes", "to"), [
    (signal.SIGINT, "many", "group"), (signal.SIGTERM, "many", "parent"), (signal.SIGHUP, "many", "group"),
    (signal.SIGINT, "one", "parent"), (signal.SIGTERM, "one", "group"),
])
def test_a_signal_mid_index_ends_it_with_one_line_and_nothing_left_behind(big, tmp_path, signum, processes, to):
    """``to``: the process alone (``kill PID``), or its whole process group as Ctrl-C in a terminal signals it."""
    inputs, clean = big
    index = tmp_path / "index"
    shutil.copytree(clean, index)
    before, passages = live(index), snapshot(index)
    runner = CLI if processes == "many" else [sys.executable, "-c", ONE_PROCESS + RUN_CLI]
    run = subprocess.Popen([*runner, "index", inputs, "--index", index, "--rebuild"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while run.poll() is None and time.monotonic() < deadline:  # working: its new generation exists (and its
        if len(os.listdir(index)) > 3 and (processes == "one" or (workers := children(run.pid))):  # workers run)
            break
        time.sleep(0.02)
    if to == "group":
        os.killpg(run.pid, signum)
    else:
        run.send_signal(signum)
    signalled = time.monotonic()
    _, stderr = run.communicate(timeout=60)
    assert time.monotonic() - signalled < 10, "the run went on after the signal"
    assert run.returncode == 128 + signum, stderr
    committed = live(index) != before
    assert stderr.strip().splitlines() == [outcome_line(signum, index, committed)]
    assert not committed, "the run was signalled before it could commit"
    deadline = time.monotonic() + 10
    while any(map(running, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(running, workers)), "an indexing process outlived the run"
    assert_one_commit_left(index, committed, before)
    assert snapshot(index) == passages


SIGNAL_AT = """
import os, signal, sys
from searchkit import store
from searchkit.index import Index

point, signum = sys.argv.pop(1), int(sys.argv.pop(1))
def signalled(function):
    def calling(*args, **kwargs):
        os.kill(os.getpid(), signum)  # delivered as os.kill returns: the original is never called
        return function(*args, **kwargs)
    return calling

if point == "before-commit":
    store.publish = signalled(store.publish)
elif point == "at-commit":  # just after CURRENT was renamed, inside publish
    replace = os.replace
    def replaced(src, dst, **kwargs):
        replace(src, dst, **kwargs)
        if str(dst).endswith("CURRENT"):
            os.kill(os.getpid(), signum)
    os.replace = replaced
elif point == "after-commit":
    store.collect_garbage = signalled(store.collect_garbage)
elif point == "direct":  # a query of plain words, answered from the index files
    from searchkit import direct
    direct.search = signalled(direct.search)
else:  # an Index method: search, get, neighbours, stats
    setattr(Index, point, signalled(getattr(Index, point)))
"""


def signal_at(point: str, signum: int | str, *args: str | Path) -> subprocess.CompletedProcess:
    """The CLI with ``signum`` sent to itself at ``point`` (see ``SIGNAL_AT``)."""
    return subprocess.run([sys.executable, "-c", SIGNAL_AT + RUN_CLI, point, str(int(signum)), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize(("point", "committed"), [("before-commit", False), ("at-commit", True),
                                                  ("after-commit", True)])
@pytest.mark.parametrize(("mode", "signum"), [("--rebuild", signal.SIGINT), ("--prune", signal.SIGTERM)])
def test_a_signal_at_each_step_of_a_commit_says_whether_it_committed(seed_index, seeds_dir, tmp_path, point,
                                                                     committed, signum, mode):
    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    (tmp_path / "inputs").mkdir()
    for name in sorted(os.listdir(seeds_dir))[:3]:
        shutil.copy(seeds_dir / name, tmp_path / "inputs" / name)
    before = live(index)
    result = signal_at(point, signum, "index", tmp_path / "inputs", "--index", index, mode)
    assert result.returncode == 128 + signum, result.stderr
    assert result.stderr.strip().splitlines() == [outcome_line(signum, index, committed)]
    assert_one_commit_left(index, committed, before)
    with Index.open(index) as ix:
        files = {p.path for p in ix.passages()}
    assert len(files) == (3 if committed else 5)


@pytest.mark.slow
def test_a_signal_during_a_first_build_leaves_no_index(seeds_dir, tmp_path):
    index = tmp_path / "index"
    args = ["before-commit", str(int(signal.SIGINT)), "index", seeds_dir, "--index", index]
    result = signal_at(*args)
    assert result.returncode == 130
    assert result.stderr.strip().splitlines() == [
        f"interrupted (SIGINT): nothing was committed, there is no index at {index}"]
    assert not Index.exists(index) and sorted(os.listdir(index)) == ["writer.lock"]
    # started with SIGINT ignored (a background job, nohup), the same signal does not end it
    ignored = subprocess.run([sys.executable, "-c", SIGNAL_AT + RUN_CLI, *map(str, args)], capture_output=True,
                             text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN), timeout=120)
    assert ignored.returncode == 0, ignored.stderr
    assert Index.exists(index)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(("point", "args"), [
    ("direct", ["query", "forum"]), ("direct", ["query", "forum", "--json"]), ("search", ["query", "forum*"]),
    ("search", ["query", "forum", "--source", "Kremlin", "--json"]), ("get", ["show", "{id}"]),
    ("neighbours", ["show", "{id}", "--json"]), ("stats", ["stats"]),
])
def test_a_signal_during_a_read_command_is_one_line_and_128_plus_n(seed_index, point, args, signum):
    with Index.open(seed_index) as ix:
        passage_id = ix.search("forum")[0].passage.id
    result = signal_at(point, signum, *(a.format(id=passage_id) for a in args), "--index", seed_index)
    assert result.returncode == 128 + signum
    assert result.stderr.strip().splitlines() == [f"interrupted ({NAMES[signum]})"] and result.stdout == ""


@pytest.mark.slow
def test_ctrl_c_while_query_output_is_being_read(big):
    _, index = big
    run = subprocess.Popen([*CLI, "query", "oil", "--limit", "5000", "--index", index],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert run.stdout.readline().startswith(b"1. [")  # it is writing, the pipe full behind this line
    run.send_signal(signal.SIGINT)
    run.stdout.read()
    assert run.wait(timeout=60) == 130
    assert run.stderr.read().decode().strip().splitlines() == ["interrupted (SIGINT)"]


@pytest.mark.slow
@pytest.mark.parametrize("json_lines", [False, True])
def test_a_pipe_closed_after_the_first_hit_ends_the_query_quietly(big, json_lines):
    """``searchkit query oil --limit 5000 | head -1``: 1.6 MB of hits, the reader gone after one line."""
    _, index = big
    run = subprocess.Popen([*CLI, "query", "oil", "--limit", "5000", "--index", index, *["--json"] * json_lines],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = run.stdout.readline()
    if json_lines:
        assert json.loads(first)["rank"] == 1
    else:
        assert first.startswith(b"1. [")
    run.stdout.close()
    assert run.wait(timeout=60) == -signal.SIGPIPE
    assert run.stderr.read() == b""


@pytest.mark.parametrize("args", [
    ["query", "forum"], ["query", "forum", "--json"], ["show", "{id}"], ["show", "{id}", "--json"], ["stats"],
    ["stats", "--json"], ["--version"], ["--help"], ["query", "--help"], ["eval", "{collection}"],
    ["eval", "{collection}", "--json"],
])
def test_every_command_ends_quietly_on_a_closed_stdout(seed_index, tiny_collection, args):
    """Its output is smaller than a pipe's buffer: the reader is gone before the command writes."""
    with Index.open(seed_index) as ix:
        passage_id = ix.search("forum")[0].passage.id
    args = [a.format(id=passage_id, collection=tiny_collection) for a in args]
    index = ["--index", str(seed_index)] if args[0] in ("query", "show", "stats") and "--help" not in args else []
    reading, writing = os.pipe()
    os.close(reading)
    run = subprocess.Popen([*CLI, *args, *index], stdout=writing, stderr=subprocess.PIPE)
    os.close(writing)
    assert run.wait(timeout=120) == -signal.SIGPIPE
    assert run.stderr.read() == b""
