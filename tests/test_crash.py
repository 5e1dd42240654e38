"""Fault injection: ``searchkit index`` SIGKILLed at random moments and at each step of a commit.

After every kill the index must open, pass ``searchkit check`` and hold exactly the passages of the last
completed run (or of the killed run, if its commit had finished); the next run must complete the work and
equal a clean build. ``SEARCHKIT_CRASH_TRIALS`` (default 25) and ``SEARCHKIT_CRASH_SEED`` repeat or extend it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from searchkit import Index, IndexIncompatible, IndexNotFound
from searchkit.check import check_index
from synthetic import write_corpus, write_file

pytestmark = pytest.mark.slow  # subprocess-heavy: outside the fast loop (pytest -m "not slow")

TRIALS = int(os.environ.get("SEARCHKIT_CRASH_TRIALS", "25"))
SEED = int(os.environ.get("SEARCHKIT_CRASH_SEED", random.randrange(2**32)))


def snapshot(index: Path) -> frozenset:
    """Everything a reader can see of each passage."""
    with Index.open(index) as ix:
        return frozenset((p.id, p.path, p.line, p.span, p.text, p.title, p.date) for p in ix.passages())


def searchkit(*args: str | Path, runner: list[str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*(runner or [sys.executable, "-m", "searchkit"]), *map(str, args)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def check_passes(index: Path) -> None:
    """What ``searchkit check`` runs (in-process, to keep the trials quick; the CLI runs at the end)."""
    report = check_index(index)
    assert report.ok, report.problems


class Inputs:
    """Two versions of an input folder, swapped in and out of one path so that stored paths stay the same."""

    def __init__(self, root: Path, seed: int) -> None:
        self.path = root / "inputs"
        rng = random.Random(seed)
        a, b = root / "version-A", root / "version-B"
        files = write_corpus(a, seed, files=30, articles=30)
        shutil.copytree(a, b)
        for f in rng.sample(files, 14):
            (b / f.name).unlink()
        for f in rng.sample([f for f in files if (b / f.name).exists()], 10):
            write_file(b / f.name, rng, 30, f"changed-{f.stem}")
        for n in range(6):
            write_file(b / f"added-{n}.jsonl", rng, 30, f"added-{n}")
        self.stash = {"A": a, "B": b}
        self.live: str | None = None

    def use(self, version: str) -> None:
        if self.live == version:
            return
        if self.live is not None:
            os.replace(self.path, self.stash[self.live])
        os.replace(self.stash[version], self.path)
        self.live = version


@pytest.fixture(scope="module")
def two_states(tmp_path_factory):
    """Inputs with versions A and B, clean builds of each, and the passages of both."""
    root = tmp_path_factory.mktemp("crash")
    inputs = Inputs(root, SEED)
    inputs.use("B")
    Index.build([inputs.path], root / "clean-B")
    inputs.use("A")
    Index.build([inputs.path], root / "clean-A")
    states = {"A": snapshot(root / "clean-A"), "B": snapshot(root / "clean-B")}
    assert states["A"] != states["B"]
    return root, inputs, states


def test_random_sigkills_leave_the_last_committed_state(two_states):
    kill_at_random_moments(two_states, "index", TRIALS)


PARALLEL = """
from searchkit import build

procs = build._writer_procs
def parallel(input_bytes):  # the path of inputs over PARALLEL_INPUT_BYTES, taken here by a small corpus
    chosen = procs(build.PARALLEL_INPUT_BYTES)
    assert chosen > 1, chosen
    return chosen
build._writer_procs = parallel
"""
RUN_CLI = """
from searchkit.cli import app
app(prog_name="searchkit")
"""
PARALLEL_TRIALS = int(os.environ.get("SEARCHKIT_CRASH_PARALLEL_TRIALS", "4"))
needs_two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="Whoosh's writer processes need 2 cores")


@needs_two_cores
def test_random_sigkills_of_a_build_with_writer_processes(two_states):
    """The same guarantees on the path of large inputs: one Whoosh writer process per core, one segment each."""
    parallel = [sys.executable, "-c", PARALLEL + RUN_CLI]
    kill_at_random_moments(two_states, "index-parallel", PARALLEL_TRIALS, runner=parallel)


def kill_at_random_moments(two_states, name: str, trials: int, runner: list[str] | None = None) -> None:
    """Alternate the inputs between A and B with ``searchkit index`` runs SIGKILLed at seeded random moments;
    after each, the index holds exactly one commit and passes check; a last run equals a clean build."""
    root, inputs, states = two_states
    index = root / name
    shutil.copytree(root / "clean-A", index)
    inputs.use("A")
    print(f"crash trials ({name}): SEARCHKIT_CRASH_SEED={SEED} trials={trials}")
    rng = random.Random(SEED)
    state = "A"
    durations: dict[str, float] = {}
    outcomes = {"killed, previous commit kept": 0, "killed after its commit": 0, "completed": 0}
    for trial in range(trials):
        target = "B" if state == "A" else "A"
        mode = "--rebuild" if rng.random() < 0.2 else "--prune"
        # The last trial, if no kill has yet landed before a commit, kills in the first half of a timed run: every
        # series tests the case it exists for.
        must_kill = trial == trials - 1 and not outcomes["killed, previous commit kept"] and bool(durations)
        if must_kill and mode not in durations:
            mode = next(iter(durations))
        inputs.use(target)
        started = time.monotonic()
        run = searchkit("index", inputs.path, "--index", index, mode, runner=runner)
        if mode in durations:
            delay = rng.uniform(0, durations[mode] * (0.5 if must_kill else 1.1))
            try:
                run.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                run.send_signal(signal.SIGKILL)
        code = run.wait()
        durations.setdefault(mode, time.monotonic() - started)  # the first run of each mode times the others
        where = f"trial {trial} (seed {SEED}, {mode}, {state}->{target}, exit {code})"
        assert code in (0, -signal.SIGKILL), f"{where}: {run.stderr.read()}"

        after = snapshot(index)
        assert after in (states[state], states[target]), f"{where}: the index holds neither commit"
        if code == 0:
            assert after == states[target], f"{where}: a completed run did not commit"
        if code == 0:
            outcomes["completed"] += 1
        else:
            outcomes["killed after its commit" if after == states[target] else "killed, previous commit kept"] += 1
        state = target if after == states[target] else state
        check_passes(index)

    assert sum(outcomes.values()) == trials
    assert outcomes["completed"], f"no run completed: {outcomes}"
    if trials > 1:
        assert outcomes["killed, previous commit kept"], f"no run was killed before its commit: {outcomes}"
    inputs.use("B")
    assert searchkit("index", inputs.path, "--index", index, "--prune", runner=runner).wait() == 0
    assert snapshot(index) == states["B"]
    checked = subprocess.run([sys.executable, "-m", "searchkit", "check", "--index", str(index)], capture_output=True)
    assert checked.returncode == 0, checked.stderr
    assert sorted(os.listdir(index)) == ["CURRENT", "gen-%06d" % int((index / "CURRENT").read_text()[4:10]),
                                         "writer.lock"], "a killed run's generation was left behind"
    print(f"crash trials ({name}): {trials} runs over {len(states['A'])}/{len(states['B'])} passages, "
          f"durations {durations}: {outcomes}; every state was one commit, passed check; the final run equals a "
          f"clean build")


KILL_AT = """
import os, signal, sys
import whoosh.writing
from searchkit import build, store

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

point = sys.argv.pop(1)
if point == "whoosh-commit":
    whoosh.writing.SegmentWriter.commit = die
elif point == "manifest":
    build._Transaction._write_manifest = die
elif point == "publish":
    store.publish = die
elif point == "pointer":
    replace = os.replace
    os.replace = lambda src, dst, **kw: die() if str(dst).endswith("CURRENT") else replace(src, dst, **kw)
elif point == "cleanup":
    store.collect_garbage = die
elif point == "segments":
    whoosh.writing.SegmentWriter._commit_toc = die
elif point == "writer-process":  # with PARALLEL: a forked writer process dies as its last segment is written
    from searchkit import segments
    segments.SegmentBuilder.finish = die
"""
KILL_POINTS = {
    "whoosh-commit": "old",  # segments written, Whoosh's TOC not yet
    "manifest": "old",  # Whoosh committed in the new generation, manifest not written
    "publish": "old",  # manifest written, nothing fsynced, CURRENT untouched
    "pointer": "old",  # CURRENT.tmp written and fsynced, not yet renamed
    "cleanup": "new",  # CURRENT renamed: committed; old generation not yet removed
}
KILLER = [sys.executable, "-c", KILL_AT + RUN_CLI]
PARALLEL_KILLER = [sys.executable, "-c", PARALLEL + KILL_AT + RUN_CLI]
"""``KILL_AT`` on the path of large inputs; ``segments``: every writer process wrote its segments, no TOC yet."""


@pytest.mark.parametrize(
    ("point", "mode"), [(point, "--prune") for point in KILL_POINTS] + [("whoosh-commit", "--rebuild"), ("pointer", "--rebuild")]
)
def test_a_kill_at_each_step_of_a_commit(two_states, point, mode):
    root, inputs, states = two_states
    index = root / f"index-{point}{mode}"
    shutil.copytree(root / "clean-A", index)
    inputs.use("B")
    killed = searchkit(point, "index", inputs.path, "--index", index, mode, runner=KILLER)
    assert killed.wait() == -signal.SIGKILL, killed.stderr.read()
    expected = states["A"] if KILL_POINTS[point] == "old" else states["B"]
    assert snapshot(index) == expected
    check_passes(index)


def test_a_killed_first_build_leaves_no_index_and_the_next_run_builds_it(two_states):
    root, inputs, states = two_states
    index = root / "index-first-build"
    inputs.use("A")
    killed = searchkit("publish", "index", inputs.path, "--index", index, runner=KILLER)
    assert killed.wait() == -signal.SIGKILL, killed.stderr.read()
    assert not Index.exists(index)
    with pytest.raises(IndexNotFound):
        Index.open(index)
    assert searchkit("index", inputs.path, "--index", index).wait() == 0
    assert snapshot(index) == states["A"]
    assert sorted(os.listdir(index)) == ["CURRENT", "gen-000002", "writer.lock"]


def older_layout(clean: Path, folder: Path) -> dict[str, bytes]:
    """An index of the layout before generations (a clean build's files, manifest at the top); its contents."""
    generation = clean / (clean / "CURRENT").read_text().split()[0]
    # that layout had no ``words`` or ``stories.*`` (the vocabulary and the stories came with schema 5)
    shutil.copytree(generation, folder, ignore=shutil.ignore_patterns("reader.lock", "words", "stories.*"))
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in folder.rglob("*") if f.is_file()}


@pytest.mark.parametrize("point", ["publish", "cleanup"])
def test_an_older_layout_index_is_replaced_in_place_and_a_kill_loses_nothing(two_states, point):
    root, inputs, states = two_states
    index = root / f"index-older-{point}"
    older = older_layout(root / "clean-A", index)
    inputs.use("B")
    killed = searchkit(point, "index", inputs.path, "--index", index, "--rebuild", runner=KILLER)
    assert killed.wait() == -signal.SIGKILL, killed.stderr.read()
    if KILL_POINTS[point] == "old":  # killed before the commit point: the older index is as it was
        assert {name: (index / name).read_bytes() for name in older} == older
        with pytest.raises(IndexIncompatible, match="older layout"):
            Index.open(index)
    else:  # after it: the new index is live beside the older files
        assert snapshot(index) == states["B"]
        check_passes(index)
    assert searchkit("index", inputs.path, "--index", index, "--rebuild").wait() == 0
    assert snapshot(index) == states["B"]
    check_passes(index)
    assert sorted(os.listdir(index)) == ["CURRENT", (index / "CURRENT").read_text().split()[0], "writer.lock"]
    assert not [p.name for p in root.iterdir() if p.name.startswith(f".{index.name}")], "a killed build left files"


@needs_two_cores
@pytest.mark.parametrize("point", ["segments", "manifest", "pointer"])
def test_a_kill_at_each_step_of_a_commit_with_writer_processes(two_states, point):
    root, inputs, states = two_states
    index = root / f"index-parallel-{point}"
    shutil.copytree(root / "clean-A", index)
    inputs.use("B")
    killed = searchkit(point, "index", inputs.path, "--index", index, "--prune", runner=PARALLEL_KILLER)
    assert killed.wait() == -signal.SIGKILL, killed.stderr.read()
    assert snapshot(index) == states["A"]
    check_passes(index)


@needs_two_cores
def test_a_killed_writer_process_fails_the_run_and_commits_nothing(two_states):
    root, inputs, states = two_states
    index = root / "index-writer-process"
    shutil.copytree(root / "clean-A", index)
    inputs.use("B")
    failed = searchkit("writer-process", "index", inputs.path, "--index", index, "--prune", runner=PARALLEL_KILLER)
    assert failed.wait() == 2
    stderr = failed.stderr.read()
    assert "nothing was committed, the index is as it was" in stderr and "Traceback" not in stderr
    assert snapshot(index) == states["A"]
    check_passes(index)
    assert searchkit("index", inputs.path, "--index", index, "--prune").wait() == 0
    assert snapshot(index) == states["B"]
