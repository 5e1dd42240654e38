"""Hostile input and hostile queries: each is reported, skipped or indexed correctly; nothing crashes or is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchkit import ArticleError, Index, QueryError
from searchkit.check import check_index
from searchkit.ingest import iter_input_files, read_articles
from searchkit.passages import PassageSplitter, train_punkt
from searchkit.query import MAX_NESTING, MAX_PHRASE_WORDS, MAX_QUERY_CHARS

BIG = 200 * 1024 * 1024


def write_big_line(path: Path, before: bytes = b"", after: bytes = b"") -> None:
    """A file whose one long line is 200 MB, written in chunks."""
    with open(path, "wb") as f:
        f.write(before)
        chunk = b"w" * (1 << 20)
        for _ in range(BIG // len(chunk)):
            f.write(chunk)
        f.write(after)


def jsonl(*objects: object) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objects)


# name → (file contents or a writer, expected): "indexed" with a word it must be found by, or the reasons
# (by line, None for the whole file) it must be skipped with.
CASES: dict[str, tuple] = {
    "binary.bin": (os.urandom(4000) + b"\0" + os.urandom(100), {None: "binary"}),
    "late-nul.txt": (b"Title\n\n" + b"word " * 3000 + b"\0 after\n", {None: "NUL byte at offset 15007"}),
    "latin1.txt": ("Café society gathers.\n".encode("latin-1"), {None: "not UTF-8"}),
    "mixed.jsonl": (jsonl({"text": "utf8 wheatfield line"}, '{"text": "café"}'.encode("latin-1")),
                    {2: "not UTF-8", "found": "wheatfield"}),
    "bom.txt": (b"\xef\xbb\xbfBom title\n\nBody with bomword inside.\n", "bomword"),
    "bom.jsonl": (b"\xef\xbb\xbf" + jsonl({"text": "jsonbomword text"}), "jsonbomword"),
    "crlf.txt": (b"Crlf title\r\n\r\nFirst crlfword paragraph.\r\n\r\nSecond one.\r\n", "crlfword"),
    "cr.txt": (b"Cr title\r\rFirst crword paragraph.\r\rSecond one.\r", "crword"),
    "huge.txt": (lambda p: write_big_line(p), {None: "too large (209,715,200 bytes"}),
    "huge-line.jsonl": (lambda p: write_big_line(p, jsonl({"text": "beforelong"}) + b'{"text": "',
                                                 b'"}\n' + jsonl({"text": "afterlong"})),
                        {2: "line too long", "found": "afterlong"}),
    "malformed.jsonl": (jsonl({"text": "alphagood"}, b'{"text": bad', {"text": "betagood"}, [1, 2],
                              {"text": ""}, {"text": "gammagood"}),
                        {2: "malformed JSON", 4: "expected a JSON object", 5: "missing or empty 'text'",
                         "found": "gammagood"}),
    "dates.jsonl": (jsonl(*({"id": f"d{i}", "date": d, "text": f"datecheck number{i}"} for i, d in enumerate(
        ["2017-13-45", "0001-01-01", "9999-12-31", "-0044-03-15", "2017-02-30", "1900-01-01", 12345, None]))),
                    "datecheck"),
    "empty.txt": (b"", {None: "empty file"}),
    "blank.txt": (b"  \n\n \t\r\n", {None: "empty file"}),
    "empty.jsonl": (b"", {None: "empty file"}),
    "furniture.txt": (b"Share\n\nPrint\n", {None: "no article text"}),
    "zero-width-rtl.txt": ("Zero\u200bwidth and \u200djoined, مرحبا بالعالم, \u202eevil\u202c, \ufeffmid.\n"
                           .encode(), "بالعالم"),
    "loop": ("symlink-loop", {None: "Too many levels of symbolic links"}),
    "dangling": ("symlink-dangling", {None: "No such file or directory"}),
    "fifo": ("fifo", {None: "not a regular file"}),
    "unreadable.txt": ("unreadable", {None: "Permission denied"}),
}
if os.geteuid() == 0:
    del CASES["unreadable.txt"]  # root reads everything


def make(folder: Path, name: str, contents) -> None:
    path = folder / name
    if contents == "symlink-loop":
        os.symlink(name, path)
    elif contents == "symlink-dangling":
        os.symlink("nowhere", path)
    elif contents == "fifo":
        os.mkfifo(path)
    elif contents == "unreadable":
        path.write_text("Secret\n\nUnreadable text.\n")
        path.chmod(0)
    elif callable(contents):
        contents(path)
    else:
        path.write_bytes(contents)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """An index of a good file, then updated through the CLI with every hostile input beside it."""
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "inputs"
    inputs.mkdir()
    (inputs / "good.txt").write_text("Good title\n\nThe Caspian pipeline carries oil to the port.\n")
    Index.build([inputs], root / "index")
    for name, (contents, _) in CASES.items():
        make(inputs, name, contents)
    (inputs / "sub").mkdir()
    os.symlink("..", inputs / "sub" / "up")  # a folder loop: not followed
    update = subprocess.run([sys.executable, "-m", "searchkit", "index", str(inputs), "--index", str(root / "index")],
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"}, timeout=600)
    return root, inputs, update


@pytest.mark.slow
def test_hostile_inputs_through_the_cli(hostile, run_cli):
    root, inputs, result = hostile
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    for name, (_, expected) in CASES.items():
        for line, reason in expected.items() if isinstance(expected, dict) else ():
            if line == "found":
                continue
            where = f"{name}:{line}" if line else f"{name}:"
            assert any(where in s and reason in s for s in skipped), f"{name}: no report {where} {reason}"
    assert run_cli("check", "--index", root / "index").code == 0


@pytest.mark.parametrize("name", CASES)
def test_each_hostile_input(hostile, name):
    root, inputs, _ = hostile
    expected = CASES[name][1]
    found = expected if isinstance(expected, str) else expected.get("found")
    with Index.open(root / "index") as ix:
        assert ix.search("Caspian pipeline")[0].passage.path.endswith("good.txt")  # nothing indexed is lost
        hits = [h for h in ix.search(found, limit=50)] if found else []
        paths = {Path(h.passage.path).name for h in hits}
        if found:
            assert paths == {name}
            for hit in hits:
                if hit.passage.line is None:  # spans still cut the text out of the file
                    source = Path(hit.passage.path).read_bytes().decode("utf-8-sig")
                    assert source[slice(*hit.passage.span)] == hit.passage.text
        else:
            assert name not in {Path(p.path).name for p in ix.passages()}


def test_nonsense_and_far_dates_are_indexed_sorted_and_filtered(hostile):
    root, _, _ = hostile
    with Index.open(root / "index") as ix:
        by_date = ix.search("datecheck", sort="date", limit=20)
        assert [h.passage.date for h in by_date[:3]] == [date(9999, 12, 31), date(1900, 1, 1), date(1, 1, 1)]
        assert all(h.passage.date is None for h in by_date[3:]) and len(by_date) == 8
        assert [h.passage.date for h in ix.search("datecheck", since="1800-01-01", until="2000-01-01")] == [
            date(1900, 1, 1)
        ]


def test_folder_errors_are_reported_not_followed(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    os.symlink("..", tmp_path / "up")
    os.mkfifo(tmp_path / "pipe")
    errors = []
    files = list(iter_input_files([tmp_path], on_error=lambda path, reason: errors.append((Path(path).name, reason))))
    assert files == [str(tmp_path / "a.txt")]
    assert errors == [("pipe", "not a regular file (a pipe, socket or device)")]


@pytest.mark.slow
def test_reading_json_lines_streams_in_bounded_memory(tmp_path):
    """Reading a 40 MB JSON Lines file holds one article at a time: peak memory is a small fraction of it."""
    path = tmp_path / "big.jsonl"
    line = jsonl({"text": "Grain exports rose. " * 100})
    with open(path, "wb") as f:
        for _ in range(40 * 1024 * 1024 // len(line)):
            f.write(line)
    tracemalloc.start()
    count = sum(1 for _ in read_articles(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count > 19_000
    assert peak < 2 * 1024 * 1024, f"peak {peak:,} bytes while reading {path.stat().st_size:,}"


# --- property tests of the article reader --------------------------------------------------------------------

SPLITTER = PassageSplitter(train_punkt(["A first sentence. A second one follows it."]))


def assert_articles_are_sound(path: Path) -> None:
    """Reading gives articles whose paragraphs and passages index their text exactly, or ArticleError."""
    try:
        articles = list(read_articles(path, on_error=lambda error: None))
    except ArticleError as e:
        assert str(e).startswith(str(path))
        return
    for article in articles:
        assert article.paragraphs
        for p in article.paragraphs:
            assert 0 <= p.start < p.end <= len(article.text)
        for passage in SPLITTER.split(article):
            start, end = passage.span
            assert article.text[start:end] == passage.text and passage.text.strip()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".txt", ".jsonl", ""]))
def test_reader_on_random_bytes(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    assert_articles_are_sound(path)


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=1500)
LINE_END = st.sampled_from(["\n", "\r\n", "\r", "\u2028", "\x85"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paragraphs=st.lists(TEXT, max_size=6), end=LINE_END, bom=st.booleans())
def test_reader_on_random_text(tmp_path, paragraphs, end, bom):
    path = tmp_path / "random.txt"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (end * 2).join(paragraphs).encode("utf-8"))
    assert_articles_are_sound(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(TEXT, TEXT.map(lambda t: json.dumps({"text": t, "date": t[:10]}))), max_size=8))
def test_reader_on_random_json_lines(tmp_path, lines):
    path = tmp_path / "random.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8"))
    assert_articles_are_sound(path)


# --- hostile queries -----------------------------------------------------------------------------------------

HOSTILE_QUERIES = {
    "deep nesting": "(" * 5000 + "gas" + ")" * 5000,
    "nesting at the limit": "(" * MAX_NESTING + "Caspian" + ")" * MAX_NESTING,
    "10,000 terms": " ".join(["gas"] * 10_000),
    "longest query of distinct terms": " ".join(f"w{i}" for i in range(MAX_QUERY_CHARS // 6)),
    "every term": "*",
    "leading wildcard": "*a*",
    "many wildcards": " ".join(f"*{c}*" for c in "abcdefghijklmnopqrstuvwxyz" * 10),
    "question marks": "?" * 200,
    "wide fuzzy": "Caspian~9",
    "many fuzzy terms": " ".join(f"Caspian{i}~2" for i in range(300)),
    "long phrase": '"' + " ".join(["gas oil"] * 1000) + '"',
    "phrase at the limit": '"' + " ".join(["Caspian"] * MAX_PHRASE_WORDS) + '"',
    "many NOTs": "Caspian " + " ".join(["NOT oil"] * 400),
    "huge range": "date:[0001-01-01 TO 9999-12-31]",
    "control characters": "Caspian\x00\x1b[31m\u202e\ufeff",
}


@pytest.mark.parametrize("name", HOSTILE_QUERIES)
def test_hostile_queries_answer_or_raise_query_error(seed_index, run_cli, name):
    text = HOSTILE_QUERIES[name]
    with Index.open(seed_index) as ix:
        try:
            hits = ix.search(text, limit=5)
        except QueryError as e:
            assert str(e) and "\n" not in str(e)
        else:
            assert len(hits) <= 5
    if "\x00" not in text:  # an argument cannot hold NUL
        result = run_cli("query", text, "--index", seed_index, "-n", "3")
        assert result.code in (0, 1, 2) and "Traceback" not in result.stderr


def test_check_of_the_hostile_index_compares_every_readable_source(hostile):
    root, _, _ = hostile
    report = check_index(root / "index")
    assert report.ok, report.problems
    assert report.sources_compared == report.files
