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

from searchkit import Index, IndexNotFound
from searchkit.check import check_index
from synthetic import write_corpus, write_file

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
    root, inputs, states = two_states
    index = root / "index"
    shutil.copytree(root / "clean-A", index)
    inputs.use("A")
    print(f"crash trials: SEARCHKIT_CRASH_SEED={SEED} SEARCHKIT_CRASH_TRIALS={TRIALS}")
    rng = random.Random(SEED)
    state = "A"
    durations: dict[str, float] = {}
    outcomes = {"killed, previous commit kept": 0, "killed after its commit": 0, "completed": 0}
    for trial in range(TRIALS):
        target = "B" if state == "A" else "A"
        mode = "--rebuild" if rng.random() < 0.2 else "--prune"
        inputs.use(target)
        started = time.monotonic()
        run = searchkit("index", inputs.path, "--index", index, mode)
        if mode in durations:
            delay = rng.uniform(0, durations[mode] * 1.1)
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

    inputs.use("B")
    assert searchkit("index", inputs.path, "--index", index, "--prune").wait() == 0
    assert snapshot(index) == states["B"]
    checked = subprocess.run([sys.executable, "-m", "searchkit", "check", "--index", str(index)], capture_output=True)
    assert checked.returncode == 0, checked.stderr
    assert sorted(os.listdir(index)) == ["CURRENT", "gen-%06d" % int((index / "CURRENT").read_text()[4:10]),
                                         "writer.lock"], "a killed run's generation was left behind"
    print(f"crash trials: {TRIALS} runs over {len(states['A'])}/{len(states['B'])} passages, durations {durations}: "
          f"{outcomes}; every state was one commit, passed check; the final run equals a clean build")


KILL_AT = """
import os, signal, sys
import whoosh.writing
from searchkit import store
from searchkit.index import Index

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

point = sys.argv.pop(1)
if point == "whoosh-commit":
    whoosh.writing.SegmentWriter.commit = die
elif point == "manifest":
    Index._write_manifest = die
elif point == "publish":
    store.publish = die
elif point == "pointer":
    replace = os.replace
    os.replace = lambda src, dst, **kw: die() if str(dst).endswith("CURRENT") else replace(src, dst, **kw)
elif point == "cleanup":
    store.collect_garbage = die
from searchkit.cli import app
app(prog_name="searchkit")
"""
KILL_POINTS = {
    "whoosh-commit": "old",  # segments written, Whoosh's TOC not yet
    "manifest": "old",  # Whoosh committed in the new generation, manifest not written
    "publish": "old",  # manifest written, nothing fsynced, CURRENT untouched
    "pointer": "old",  # CURRENT.tmp written and fsynced, not yet renamed
    "cleanup": "new",  # CURRENT renamed: committed; old generation not yet removed
}


@pytest.mark.parametrize(
    ("point", "mode"), [(point, "--prune") for point in KILL_POINTS] + [("whoosh-commit", "--rebuild"), ("pointer", "--rebuild")]
)
def test_a_kill_at_each_step_of_a_commit(two_states, point, mode):
    root, inputs, states = two_states
    index = root / f"index-{point}{mode}"
    shutil.copytree(root / "clean-A", index)
    inputs.use("B")
    killed = searchkit(point, "index", inputs.path, "--index", index, mode, runner=[sys.executable, "-c", KILL_AT])
    assert killed.wait() == -signal.SIGKILL, killed.stderr.read()
    assert snapshot(index) == states["A"] if KILL_POINTS[point] == "old" else states["B"]
    check_passes(index)


def test_a_killed_first_build_leaves_no_index_and_the_next_run_builds_it(two_states):
    root, inputs, states = two_states
    index = root / "index-first-build"
    inputs.use("A")
    killed = searchkit("publish", "index", inputs.path, "--index", index, runner=[sys.executable, "-c", KILL_AT])
    assert killed.wait() == -signal.SIGKILL, killed.stderr.read()
    assert not Index.exists(index)
    with pytest.raises(IndexNotFound):
        Index.open(index)
    assert searchkit("index", inputs.path, "--index", index).wait() == 0
    assert snapshot(index) == states["A"]
    assert sorted(os.listdir(index)) == ["CURRENT", "gen-000002", "writer.lock"]
