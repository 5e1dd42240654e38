"""What reaches the terminal: no control sequence from an article, a stats summary that tells the truth, a check
that never blocks on a source that is no longer a regular file."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from searchkit import Highlight, Hit, Index, Passage
from searchkit import render
from searchkit.models import IndexStats

REPO = Path(__file__).resolve().parent.parent

# Sequences a terminal acts on: a screen clear, a window title, an OSC 52 clipboard write, a hyperlink, a DCS,
# a one-character (C1) CSI, a bell, backspaces and a carriage return that overwrite what was shown, a bidi
# override; and rich markup and emoji codes, which must be shown as written, never interpreted.
PAYLOAD = (
    "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\"
    "\x1bP1$r\x1b\\\x9b2J\x9d0;c1\x9c\x07\x08\x08\x7f\u202eevil\u202c\u2066x\u2069 [/oops] [link=https://evil]l[/link] :smile:"
)
ARTICLE_SEQUENCES = ("\x1b[2J", "\x1b[H", "\x1b]", "\x1bP", "\x9b", "\x9d", "\x9c", "\x07", "\x08", "\x7f",
                     "\u202e", "\u202c", "\u2066", "\u2069")
TERMINAL = {"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "TERM": "xterm-256color"}
SGR = re.compile(r"\x1b\[[0-9;]*m")
"""rich's own styling: the only escape sequence searchkit's terminal output may hold."""
MATCH_SGR = "\x1b[1;30;43m"
"""``render.MATCH_STYLE`` (bold black on yellow) as rich writes it."""


def assert_no_article_sequence(output: str, terminal: bool) -> None:
    """Nothing of ``ARTICLE_SEQUENCES`` in ``output``; in a terminal, every ESC opens one of rich's SGR styles."""
    for sequence in ARTICLE_SEQUENCES:
        assert sequence not in output, f"{sequence!r} reached the terminal"
    rest = SGR.sub("", output) if terminal else output
    assert "\x1b" not in rest and not re.search("[\x80-\x9f\r\ud800-\udfff]", rest)
    assert "\x1b]8;" not in output  # no hyperlink made of the article's markup


@pytest.fixture(scope="module")
def hostile_terminal(tmp_path_factory) -> tuple[Path, Path]:
    """An index of articles holding ``PAYLOAD`` in every field and in a file name: (index, inputs)."""
    root = tmp_path_factory.mktemp("terminal")
    inputs = root / "in"
    inputs.mkdir()
    article = {
        "id": "id" + PAYLOAD, "title": "Zebra title " + PAYLOAD, "source": "Src" + PAYLOAD, "place": "Place" + PAYLOAD,
        "tags": ["tag" + PAYLOAD], "authors": ["author" + PAYLOAD], "url": "https://x.example/" + PAYLOAD,
        "date": "2020-01-02", "text": f"The zebra {PAYLOAD} crossed.\n\nA second zebra {PAYLOAD} with\r a return.",
    }
    (inputs / "feed.jsonl").write_text(json.dumps(article) + "\n", encoding="utf-8")
    # Controls rich drops from a Text (BEL, BS, VT, FF, CR) just before the match: offsets must not shift.
    shifted = {"id": "shifted", "title": "Shifted", "text": "\x07\x07\x08\x0b\x0c\r\x1b[2J quagga here."}
    (inputs / "shifted.jsonl").write_text(json.dumps(shifted) + "\n", encoding="utf-8")
    (inputs / "name\x1b]0;title\x07\x1b[2J\x9b.txt").write_text("Plain zebra\n\nA zebra in a plain file.\n")
    index = root / "index"
    Index.build([inputs], index)
    return index, inputs


def hit_ids(run_cli, index: Path) -> list[str]:
    result = run_cli("query", "zebra OR quagga", "--index", index, "--json", "--limit", "20")
    return [json.loads(line)["id"] for line in result.stdout.splitlines()]


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_query_show_and_stats_print_no_control_sequence_of_an_article(hostile_terminal, run_cli, terminal):
    index, _ = hostile_terminal
    env = TERMINAL if terminal else {}
    ids = hit_ids(run_cli, index)
    assert len(ids) == 3
    runs = [run_cli("query", "zebra OR quagga", "--index", index, "--limit", "20", env=env),
            run_cli("stats", "--index", index, env=env)]
    runs += [run_cli("show", passage_id, "--index", index, env=env) for passage_id in ids]
    for result in runs:
        assert result.code == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert_no_article_sequence(result.stdout + result.stderr, terminal)
    shown = "".join(result.stdout for result in runs)
    # Shown, not dropped: ESC as ␛, markup and emoji codes as written.
    assert "␛[2J␛[H␛]0;pwned" in shown and "[link=https://evil]l[/link] :smile:" in shown and "[/oops]" in shown
    if terminal:
        assert "\x1b[" in shown  # rich did style it: the check above looked at a terminal's output


def test_highlights_stay_on_the_matched_word_after_control_characters(hostile_terminal, run_cli):
    index, _ = hostile_terminal
    result = run_cli("query", "quagga", "--index", index, env=TERMINAL)
    assert result.code == 0
    assert f"{MATCH_SGR}quagga\x1b[0m" in result.stdout


def test_json_keeps_the_exact_text_with_every_control_escaped(hostile_terminal, run_cli):
    index, _ = hostile_terminal
    lines = run_cli("query", "zebra OR quagga", "--index", index, "--json", "--limit", "20").stdout.splitlines()
    shows = [run_cli("show", json.loads(line)["id"], "--index", index, "--json").stdout for line in lines]
    stats = run_cli("stats", "--index", index, "--json").stdout
    for raw in [*lines, *shows, stats]:
        assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", raw.rstrip("\n"))
    with Index.open(index) as ix:
        for raw in [*lines, *shows]:
            data = json.loads(raw)
            passage = ix.get(data["id"])
            assert (data["text"], data["title"], data["source"], data["place"], data["url"]) == (
                passage.text, passage.title, passage.source, passage.place, passage.url)
            assert (data["tags"], data["authors"]) == (list(passage.tags), list(passage.authors))
    assert any(PAYLOAD in json.loads(raw)["text"] for raw in lines)
    assert any(k.startswith("Src\x1b[2J") for k in json.loads(stats)["sources"])


def test_messages_on_stderr_quoting_input_hold_no_control_sequence(tmp_path, run_cli):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.txt").write_text("Good\n\nA good okapi.\n")
    (inputs / "bad\x1b]0;title\x07\x1b[2J\x9b\u202e.txt").write_bytes(b"binary\0data")
    index = tmp_path / "index"
    runs = [
        run_cli("index", inputs, "--index", index),  # "skipped <file name>: binary"
        run_cli("index", tmp_path / "missing\x1b[2J", "--index", index),
        run_cli("query", "title:(\x1b]52;c;ZXZpbA==\x07", "--index", index),
        run_cli("show", "\x1b[2J\x9b", "--index", index),
    ]
    assert [r.code for r in runs] == [3, 2, 2, 1]
    for result in runs:
        assert "Traceback" not in result.stderr
        assert_no_article_sequence(result.stderr, terminal=False)
    assert "bad␛]0;title␇␛[2J" in runs[0].stderr


DANGEROUS = st.sampled_from(["\x1b", "\x1b]52;c;", "\x9b", "\x85", "\x07", "\x08", "\r", "\x7f", "\u202e", "\u2067",
                             "\u2028", "\ud800", "\udcff", "[/x]", "[link=https://evil]", ":smile:"])
PRINTABLE_OR_NOT = st.lists(st.one_of(st.characters(codec=None, categories=None), DANGEROUS), max_size=20).map("".join)
"""Any code points, with controls, bidi controls, lone surrogates and rich markup mixed in."""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=PRINTABLE_OR_NOT, after=PRINTABLE_OR_NOT, field=PRINTABLE_OR_NOT)
def test_rendering_any_text_prints_no_control_and_keeps_highlights(before, after, field):
    text = f"{before}okapi{after}"
    passage = Passage(
        id=field or "x", article=field or "a", position=0, text=text, span=(0, len(text)), path=f"/p/{field}.txt",
        date=date(2020, 1, 2), source=field or None, place=field or None, title=field or None,
        speaker=field or None, url=field or None, authors=(field,) if field else (), tags=(field,) if field else (),
    )
    hit = Hit(1, 1.0, passage, (Highlight(text, 0, ((len(before), len(before) + 5),)),))
    stats = IndexStats("ix" + field, 1, 1, 1, None, None, {field: 1}, {field: 1}, 1, {"generation": field})
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")  # a lone surrogate cannot be written
    console = Console(file=out, force_terminal=True, color_system="standard", width=100, soft_wrap=True)
    for renderable in (render.hit_text(hit), render.passage_text(passage, [passage]), render.stats_table(stats)):
        console.print(renderable)
    out.flush()
    printed = out.buffer.getvalue().decode("utf-8")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", SGR.sub("", printed))
    assert f"{MATCH_SGR}okapi\x1b[0m" in printed
    for line in (render.hit_json(hit), render.passage_json(passage, [])):
        line.encode("utf-8")  # every surrogate escaped
        assert not re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", line)
        data = json.loads(line)
        # JSON reads two escaped surrogates in a row as one code point, as for any JSON text (no passage holds
        # them: ingest refuses lone surrogates); everything else comes back as it was.
        as_json = json.loads(json.dumps([text, passage.title, list(passage.tags)]))
        assert [data["text"], data["title"], data["tags"]] == as_json


# --- stats ----------------------------------------------------------------------------------------------------


def feed(path: Path, version: int, source: str = "Foo Wire", place: str = "ZÜRICH") -> None:
    lines = [json.dumps({"id": f"a{i}", "date": f"2020-01-0{version + 1}", "source": source, "place": place,
                         "text": f"Version {version} of article {i} about the okapi."}) for i in range(3)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def occupied_bytes(index: Path) -> int:
    inodes = {}
    for folder, _, files in os.walk(index):
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            inodes[info.st_dev, info.st_ino] = info.st_size
    return sum(inodes.values())


def test_stats_count_live_passages_only_after_a_file_is_replaced_three_times(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    feed(inputs / "feed.jsonl", 0)
    Index.build([inputs], tmp_path / "index")
    for version in (1, 2, 3):
        feed(inputs / "feed.jsonl", version)
        with Index.open(tmp_path / "index") as ix:
            ix.update([inputs])
    with Index.open(tmp_path / "index") as ix:
        stats = ix.stats()
    assert stats.passages == 3
    assert stats.sources == {"Foo Wire": 3} and stats.places == {"ZÜRICH": 3}  # names as stored
    assert stats.first_date == stats.last_date == date(2020, 1, 4)
    assert stats.size_bytes == occupied_bytes(tmp_path / "index")  # the top-k arrays folder too


def test_stats_of_live_passages_without_dates_show_no_date_range(tmp_path):
    dated, undated = tmp_path / "dated", tmp_path / "undated"
    dated.mkdir()
    undated.mkdir()
    feed(dated / "feed.jsonl", 0)
    (undated / "plain.txt").write_text("Plain\n\nAn undated okapi.\n")
    Index.build([dated], tmp_path / "index")
    with Index.open(tmp_path / "index") as ix:
        ix.update([undated], prune=True)
        stats = ix.stats()
    assert stats.passages == 1 and stats.files == 1
    assert stats.first_date is None and stats.last_date is None
    assert stats.sources == {} and stats.places == {}


def test_stats_in_the_terminal_is_a_summary_and_json_has_everything(tmp_path, run_cli):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for n in range(25):
        feed(inputs / f"feed{n:02d}.jsonl", n % 3, source=f"Wire{n:02d}", place=f"Town{n:02d}")
    index = tmp_path / "index"
    Index.build([inputs], index)
    shown = run_cli("stats", "--index", index)
    assert shown.code == 0
    assert len(shown.stdout.splitlines()) <= 12
    for detail in ("crc32", "mtime_ns", "segment_files", ".pst", "sha256"):
        assert detail not in shown.stdout
    assert "Wire00 (3)" in shown.stdout and "and 15 more" in shown.stdout and "2020-01-01 … 2020-01-03" in shown.stdout
    data = json.loads(run_cli("stats", "--index", index, "--json").stdout)
    assert len(data["sources"]) == 25 and sum(data["sources"].values()) == data["passages"] == 75
    assert data["manifest"]["segment_files"] and data["size_bytes"] == occupied_bytes(index)


# --- check ----------------------------------------------------------------------------------------------------


def run_check(index: Path) -> subprocess.CompletedProcess:
    """``searchkit check`` with a timeout: a check that blocks fails the test instead of hanging it."""
    return subprocess.run([sys.executable, "-m", "searchkit", "check", "--index", str(index)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def checked(tmp_path) -> tuple[Path, Path]:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("pipe", "folder", "socket", "loop", "huge", "device", "kept"):
        (inputs / f"{name}.txt").write_text(f"Title {name}\n\nAn okapi in the {name} file.\n")
    Index.build([inputs], tmp_path / "index")
    return tmp_path / "index", inputs


def test_check_notes_sources_that_are_no_longer_regular_files_and_never_blocks(checked):
    index, inputs = checked
    for name in ("pipe", "folder", "socket", "loop", "huge", "device"):
        (inputs / f"{name}.txt").unlink()
    os.mkfifo(inputs / "pipe.txt")
    (inputs / "folder.txt").mkdir()
    os.mknod(inputs / "socket.txt", stat.S_IFSOCK | 0o600)
    os.symlink("loop.txt", inputs / "loop.txt")
    with open(inputs / "huge.txt", "wb") as f:
        f.truncate(8 << 30)  # sparse: 8 GB that a check must not read
    os.symlink("/dev/zero", inputs / "device.txt")
    result = run_check(index)
    assert result.returncode == 0, result.stderr
    notes = {line.split(":")[1].strip(): line for line in result.stderr.splitlines() if line.startswith("note:")}
    assert "named pipe" in notes["in/pipe.txt"] and "directory" in notes["in/folder.txt"]
    assert "socket" in notes["in/socket.txt"] and "character device" in notes["in/device.txt"]
    assert "symbolic links" in notes["in/loop.txt"] and "changed" in notes["in/huge.txt"]
    assert "in/kept.txt" not in notes and "checked against 1 source files" in result.stderr


@pytest.mark.parametrize("name", ["manifest.json", "toc", "reader.lock"])
def test_check_and_open_never_block_on_a_named_pipe_among_the_index_files(checked, name):
    index, _ = checked
    generation = index / (index / "CURRENT").read_text().split()[0]
    target = next(generation.glob("*.toc")) if name == "toc" else generation / name
    target.unlink()
    os.mkfifo(target)
    result = run_check(index)
    if name == "reader.lock":  # not an index file: the index is intact
        assert result.returncode == 0 and result.stderr.startswith("ok:"), result.stderr
    else:
        assert result.returncode == 2 and "is not a regular file" in result.stderr, result.stderr
    query = subprocess.run([sys.executable, "-m", "searchkit", "query", "okapi", "--index", str(index)],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert query.returncode == (0 if name == "reader.lock" else 2) and "Traceback" not in query.stderr
