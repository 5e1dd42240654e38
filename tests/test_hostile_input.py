"""Hostile file contents: one bad JSON line or article never aborts a run (issue 11, items 1 and 9).

A line that is not a JSON object of valid Unicode with article text is skipped with its file, line and reason;
metadata of the wrong type is left out and the article indexed; the rest of the file and the run is indexed, on
one process and on many (inputs of ``PARALLEL_INPUT_BYTES`` or more).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import searchkit.build
import searchkit.passages
import searchkit.segments
from searchkit import ArticleError, Index, IndexWriteError, SearchkitError
from searchkit.check import check_index
from searchkit.ingest import read_articles

NESTED = "[" * 5000 + "]" * 5000
NESTED_OBJECT = '{"a": ' * 5000 + "1" + "}" * 5000


def good(n: int) -> str:
    return json.dumps({"id": f"good{n}", "text": f"The harvest was gathered. Word goodmarker{n} is here."})


# A line between two good ones → the reason it is skipped with.
SKIPPED_LINES: dict[str, tuple[str, str]] = {
    "surrogate in text": ('{"text": "x \\ud800 y"}', "lone surrogate"),
    "upper-case surrogate escape": ('{"text": "x \\uDBFF y"}', "lone surrogate"),
    "low surrogate alone": ('{"text": "x \\udfff"}', "lone surrogate"),
    "surrogates in the wrong order": ('{"text": "x \\udc00\\ud800 y"}', "lone surrogate"),
    "surrogate in id": ('{"id": "\\ud800", "text": "fine words"}', "in 'id'"),
    "surrogate in source": ('{"source": "Reu\\ud800ters", "text": "fine words"}', "in 'source'"),
    "surrogate in title": ('{"title": "\\udbff", "text": "fine words"}', "in 'title'"),
    "surrogate in place": ('{"place": "\\ud800", "text": "fine words"}', "in 'place'"),
    "surrogate in tags": ('{"tags": ["ok", "\\ud800"], "text": "fine words"}', "in 'tags'"),
    "surrogate in authors": ('{"authors": ["\\udc00"], "text": "fine words"}', "in 'authors'"),
    "surrogate in date": ('{"date": "2020-01-01\\ud800", "text": "fine words"}', "in 'date'"),
    "surrogate in url": ('{"url": "http://x/\\ud800", "text": "fine words"}', "in 'url'"),
    "surrogate in a key": ('{"\\ud800": 1, "text": "fine words"}', "in a key"),
    "surrogate deep in an unused field": ('{"extra": [{"k": ["\\ud800"]}], "text": "fine words"}', "in 'extra'"),
    "surrogate in a nested key": ('{"extra": {"\\udc00": 1}, "text": "fine words"}', "in 'extra'"),
    "nested 5,000 deep": (NESTED, "nested too deeply"),
    "nested 5,000 deep in a field": ('{"text": "fine words", "extra": ' + NESTED + "}", "nested too deeply"),
    "objects nested 5,000 deep": (NESTED_OBJECT, "nested too deeply"),
    "text is a number": ('{"text": 12}', "'text' is a number"),
    "text is a list": ('{"text": ["a", "b"]}', "'text' is an array"),
    "text is an object": ('{"text": {"body": "words"}}', "'text' is an object"),
    "text is true": ('{"text": true}', "'text' is true or false"),
    "text of control characters": ('{"text": "\\u0001\\u0002\\u001b\\u0007\\u007f\\u0085\\u200b"}', "no words"),
    "text of punctuation": ('{"text": "... !!! ??? -- \\u2014"}', "no words"),
    "text of NULs": ('{"text": "\\u0000\\u0000"}', "no words"),
    "an array": ('[{"text": "fine words"}]', "expected a JSON object, got an array"),
    "a string": ('"fine words"', "expected a JSON object, got a string"),
    "a number": ("42", "expected a JSON object, got a number"),
    "null": ("null", "expected a JSON object, got null"),
    "a raw NUL byte": ('{"text": "nul\x00byte"}', "NUL byte"),
}


def write_lines(path: Path, lines: list[str | bytes], end: bytes = b"\n") -> Path:
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode()) + end for line in lines))
    return path


def search_ids(ix: Index, text: str) -> set[str]:
    return {hit.passage.article for hit in ix.search(text, limit=100)}


@pytest.mark.parametrize("name", SKIPPED_LINES)
def test_a_bad_line_is_skipped_with_its_reason_and_the_rest_indexed(tmp_path, name):
    line, reason = SKIPPED_LINES[name]
    feed = write_lines(tmp_path / "feed.jsonl", [good(1), line, good(3)])
    report = Index.build([feed], tmp_path / "index")
    assert [(s.path, s.line) for s in report.skipped] == [(str(feed), 2)]
    assert reason in report.skipped[0].reason and "\n" not in report.skipped[0].reason
    assert report.articles == 2
    with Index.open(tmp_path / "index") as ix:
        assert search_ids(ix, "goodmarker1 OR goodmarker3") == {"good1", "good3"}


def test_a_nul_byte_near_the_start_of_json_lines_spoils_one_line_not_the_file(tmp_path):
    feed = write_lines(tmp_path / "feed.jsonl", [good(1), '{"text": "a\x00b"}', good(3)])
    report = Index.build([feed], tmp_path / "index")
    assert [s.line for s in report.skipped] == [2] and report.articles == 2


# Lines that are indexed, with what was wrong left out: (line, word to find it by, expected Passage fields).
INDEXED_LINES: dict[str, tuple[str, str, dict]] = {
    "title an object": ('{"title": {"a": [1, 2]}, "text": "titleobj words"}', "titleobj", {"title": None}),
    "title a list": ('{"title": ["a", "b"], "text": "titlelist words"}', "titlelist", {"title": None}),
    "title true": ('{"title": true, "text": "titlebool words"}', "titlebool", {"title": None}),
    "title a number": ('{"title": 1917, "text": "titlenum words"}', "titlenum", {"title": "1917"}),
    "title Infinity": ('{"title": Infinity, "text": "titleinf words"}', "titleinf", {"title": None}),
    "source a list": ('{"source": ["Reuters"], "text": "sourcelist words"}', "sourcelist", {"source": None}),
    "place NaN": ('{"place": NaN, "text": "placenan words"}', "placenan", {"place": None}),
    "url -Infinity": ('{"url": -Infinity, "text": "urlinf words"}', "urlinf", {"url": None}),
    "tags a string": ('{"tags": "economy", "text": "tagstring words"}', "tagstring", {"tags": ("economy",)}),
    "tags nested": ('{"tags": [["a", ["b"]], {"x": 1}, "kept", null, 3], "text": "tagnest words"}', "tagnest",
                    {"tags": ("kept", "3")}),
    "tags an object": ('{"tags": {"a": 1}, "text": "tagobj words"}', "tagobj", {"tags": ()}),
    "authors of nulls": ('{"authors": [null, false, ""], "text": "authnull words"}', "authnull", {"authors": ()}),
    "id a list": ('{"id": [1], "text": "idlist words"}', "idlist", {"article": "feed:2"}),
    "id an object": ('{"id": {"a": 1}, "text": "idobj words"}', "idobj", {"article": "feed:2"}),
    "id NaN": ('{"id": NaN, "text": "idnan words"}', "idnan", {"article": "feed:2"}),
    "id of spaces": ('{"id": "  ", "text": "idspace words"}', "idspace", {"article": "feed:2"}),
    "id a number": ('{"id": 77, "text": "idnum words"}', "idnum", {"article": "77"}),
    "id a 5,000-digit number": ('{"id": 1' + "0" * 5000 + ', "text": "idhuge words"}', "idhuge",
                                {"article": "feed:2"}),
    "a 5,000-digit number elsewhere": ('{"n": -' + "9" * 5000 + ', "text": "numhuge words"}', "numhuge", {}),
    "a float beyond double": ('{"title": 1e999, "text": "floathuge words"}', "floathuge", {"title": None}),
    "date out of range": ('{"date": "0000-01-01", "text": "datezero words"}', "datezero", {"date": None}),
    "date malformed": ('{"date": "2020-02-30", "text": "datebad words"}', "datebad", {"date": None}),
    "date a number": ('{"date": 20200101, "text": "datenum words"}', "datenum", {"date": None}),
    "date a list": ('{"date": ["2020-01-01"], "text": "datelist words"}', "datelist", {"date": None}),
    "date with a huge day": ('{"date": "December 99, 2020", "text": "dateday words"}', "dateday", {"date": None}),
    "a BOM opening a later line": ('\ufeff{"text": "bomline words"}', "bomline", {}),
    "a surrogate pair (an emoji)": ('{"text": "emojiword \\ud83d\\ude00 here"}', "emojiword", {}),
    "NUL escapes in metadata": ('{"id": "n\\u0000id", "source": "\\u0000", "tags": ["\\u0000"], '
                                '"text": "nulmeta \\u0000 words"}', "nulmeta", {"article": "n\x00id"}),
    "a 100,000-letter word": ('{"text": "' + "x" * 100_000 + ' longwordmark"}', "longwordmark", {}),
    "a 50,000-character id": ('{"id": "' + "é" * 50_000 + '", "text": "longid words"}', "longid",
                              {"article": "é" * 50_000}),
    "a 50,000-character source and place": ('{"source": "' + "s" * 50_000 + '", "place": "' + "p" * 50_000
                                            + '", "text": "longmeta words"}', "longmeta", {"place": "p" * 50_000}),
}


def test_metadata_of_the_wrong_type_is_left_out_and_the_article_indexed(tmp_path):
    index = tmp_path / "index"
    folder = tmp_path / "feeds"
    folder.mkdir()
    for n, (line, _, _) in enumerate(INDEXED_LINES.values()):
        write_lines(folder / f"feed{n:02}.jsonl", [good(1), line])
    report = Index.build([folder], index)
    assert report.skipped == () and report.articles == 2 * len(INDEXED_LINES)
    with Index.open(index) as ix:
        for n, (name, (_, word, expected)) in enumerate(INDEXED_LINES.items()):
            hits = ix.search(word)
            assert [Path(h.passage.path).name for h in hits] == [f"feed{n:02}.jsonl"], name
            passage = hits[0].passage
            expected = {k: v.replace("feed:", f"feed{n:02}:") if k == "article" and v.startswith("feed:") else v
                        for k, v in expected.items()}
            assert {k: getattr(passage, k) for k in expected} == expected, name
    assert check_index(index).ok


def test_text_files_without_words_are_skipped(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "controls.txt").write_bytes(b"\x1b[\x07\x01\n\n\x1b]\x07\x7f\n")
    (inputs / "punctuation.txt").write_text("... !!!\n\n--- ???\n")
    (inputs / "good.txt").write_text("Good title\n\nThe pipeline carries goodmarker1 oil.\n")
    report = Index.build([inputs], tmp_path / "index")
    assert sorted((Path(s.path).name, "no words" in s.reason) for s in report.skipped) == [
        ("controls.txt", True), ("punctuation.txt", True)]
    assert report.articles == 1


@pytest.mark.slow
def test_the_cli_reports_each_bad_line_and_indexes_the_rest(tmp_path, run_cli):
    lines = [good(1), *(line for line, _ in SKIPPED_LINES.values()), good(2)]
    feed = write_lines(tmp_path / "feed.jsonl", lines)
    result = run_cli("index", feed, "--index", tmp_path / "index")
    assert result.code == 3, result.stderr
    assert "Traceback" not in result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == len(SKIPPED_LINES)
    for number, (name, (_, reason)) in enumerate(SKIPPED_LINES.items(), start=2):
        assert any(f"feed.jsonl:{number}: " in s and reason in s for s in skipped), name
    found = run_cli("query", "goodmarker1 OR goodmarker2", "--index", tmp_path / "index", "--json")
    assert found.code == 0
    assert sorted(json.loads(line)["article"] for line in found.stdout.splitlines()) == ["good1", "good2"]


# --- line ends (item 9) -------------------------------------------------------------------------------------


def test_json_lines_ended_by_lone_cr_are_lines(tmp_path, run_cli):
    feed = write_lines(tmp_path / "feed.jsonl", [good(n) for n in range(1, 6)], end=b"\r")
    report = Index.build([feed], tmp_path / "index")
    assert report.skipped == () and report.articles == 5
    with Index.open(tmp_path / "index") as ix:
        assert [h.passage.line for h in ix.search("goodmarker4")] == [4]
    result = run_cli("index", feed, "--index", tmp_path / "cli-index")
    assert result.code == 0, result.stderr


def test_mixed_line_ends_keep_line_numbers(tmp_path, run_cli):
    raw = (good(1).encode() + b"\r" + good(2).encode() + b"\r\n" + b'{"text": 1}' + b"\n"
           + good(4).encode() + b"\r\r\n" + b"[1]" + b"\n\r" + good(7).encode())
    (tmp_path / "feed.jsonl").write_bytes(raw)
    report = Index.build([tmp_path / "feed.jsonl"], tmp_path / "index")
    assert [(s.line, s.reason.split(",")[0]) for s in report.skipped] == [
        (3, "'text' is a number"), (6, "expected a JSON object")]
    with Index.open(tmp_path / "index") as ix:
        assert {h.passage.article: h.passage.line for h in ix.search("harvest", limit=20)} == {
            "good1": 1, "good2": 2, "good4": 4, "good7": 8}
    result = run_cli("index", tmp_path / "feed.jsonl", "--index", tmp_path / "cli-index")
    assert result.code == 3 and "feed.jsonl:3: " in result.stderr and "feed.jsonl:6: " in result.stderr


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.tuples(st.sampled_from(["good", "bad", "blank"]),
                             st.sampled_from([0, 10, 65_500, 65_535, 65_536, 70_000]),
                             st.sampled_from([b"\n", b"\r\n", b"\r"])), min_size=1, max_size=8),
)
def test_line_numbers_stay_right_across_reads(tmp_path, lines):
    """Lines of every end, some long enough that an end falls across the reader's chunk boundaries."""
    path = tmp_path / "feed.jsonl"
    raw, expected_good, expected_bad = b"", {}, []
    for number, (kind, pad, end) in enumerate(lines, start=1):
        if kind == "good":
            line = json.dumps({"id": f"g{number}", "text": "word " + "p" * pad}).encode()
            expected_good[f"g{number}"] = number
        elif kind == "bad":
            line = b'{"text": 5, "pad": "' + b"p" * pad + b'"}'
            expected_bad.append(number)
        else:
            line = b" " * max(pad, 1)  # an empty line between "\r" and "\n" would make them one "\r\n"
        raw += line + end
    path.write_bytes(raw)
    skipped: list = []
    try:
        articles = {a.id: a.line for a in read_articles(path, on_error=skipped.append)}
    except SearchkitError:
        assert not expected_good and not expected_bad  # only blank lines: an empty file
        return
    assert articles == expected_good
    assert [e.line for e in skipped] == expected_bad


# --- failures past reading: splitting and analysis ----------------------------------------------------------


@pytest.fixture
def poisoned(monkeypatch):
    """Make Punkt (at split time) and the analysis of a passage fail on the words 'splitpoison' / 'analysispoison'."""
    split = searchkit.passages.PassageSplitter.split
    terms = searchkit.segments.written_words

    def failing_split(self, article):
        if "splitpoison" in article.text:
            raise ValueError("punkt failed\non this")
        return split(self, article)

    def failing_terms(text):
        if "analysispoison" in text:
            raise RuntimeError("analysis failed")
        return terms(text)

    monkeypatch.setattr(searchkit.passages.PassageSplitter, "split", failing_split)
    monkeypatch.setattr(searchkit.segments, "written_words", failing_terms)


def test_an_article_that_cannot_be_split_or_analysed_is_skipped(tmp_path, poisoned):
    long_tail = " ".join(f"Sentence number {i} of the long article." for i in range(60))
    feed = write_lines(tmp_path / "feed.jsonl", [
        good(1),
        json.dumps({"text": "splitpoison words"}),
        json.dumps({"text": "analysispoison words"}),
        json.dumps({"id": "late", "text": "latepoison opens. " + long_tail + "\n\nanalysispoison in a later passage."}),
        good(5),
    ])
    report = Index.build([feed], tmp_path / "index")
    assert [(s.line, s.reason) for s in report.skipped] == [
        (2, "cannot be indexed (ValueError: punkt failed on this)"),
        (3, "cannot be indexed (RuntimeError: analysis failed)"),
        (4, "cannot be indexed (RuntimeError: analysis failed); its first 3 passages are indexed"),
    ]
    assert report.articles == 3
    with Index.open(tmp_path / "index") as ix:  # the segment holds exactly what was added: no half document
        assert search_ids(ix, "goodmarker1 OR goodmarker5 OR latepoison") == {"good1", "good5", "late"}
        assert search_ids(ix, "splitpoison OR analysispoison") == set()
        assert [p.position for p in ix.passages() if p.article == "late"] == [0, 1, 2]
        assert ix.stats().passages == report.passages == 5
    assert check_index(tmp_path / "index").ok


def test_punkt_training_failing_on_one_text_does_not_stop_the_build(tmp_path, monkeypatch):
    train = searchkit.passages.FastPunktTrainer.train

    def failing_train(self, text, *args, **kwargs):
        if "trainpoison" in text:
            raise IndexError("punkt training failed")
        return train(self, text, *args, **kwargs)

    monkeypatch.setattr(searchkit.passages.FastPunktTrainer, "train", failing_train)
    feed = write_lines(tmp_path / "feed.jsonl", [good(1), json.dumps({"text": "trainpoison words. More."}), good(3)])
    report = Index.build([feed], tmp_path / "index")
    assert report.skipped == () and report.articles == 3


# --- the worker-process path (inputs of PARALLEL_INPUT_BYTES or more) ---------------------------------------


def big_feed(path: Path, bad: dict[int, str]) -> dict[str, int]:
    """A JSON Lines file of at least ``SHARD_BYTES`` (shared among the indexing processes), with ``bad`` lines
    (by line number) among good ones, lines ended by \\n, \\r\\n and lone \\r in turn; good id → line."""
    good_lines: dict[str, int] = {}
    ends = [b"\n", b"\r\n", b"\r"]
    with open(path, "wb") as f:
        number = 0
        while f.tell() < searchkit.build.SHARD_BYTES + 200_000 or number < max(bad, default=0):
            number += 1
            if number in bad:
                line = bad[number].encode()
            else:
                line = json.dumps({"id": f"a{number}", "text": f"Grain exports rose. Farmers sold wheat w{number}. "
                                   * 4}).encode()
                good_lines[f"a{number}"] = number
            f.write(line + ends[number % 3])
    return good_lines


BIG_BAD = {7: '{"text": "x \\ud800 y"}', 100: NESTED, 2001: '{"text": 5}', 2002: "[1]",
           2003: '{"id": "\\udc00", "text": "a"}', 5000: '{"text": "unterminated'}


@pytest.mark.slow
def test_bad_lines_of_a_large_file_are_skipped_on_every_indexing_process(tmp_path, poisoned, monkeypatch):
    monkeypatch.setattr(searchkit.build, "_writer_procs", lambda size: 3)  # three shards even on one core
    bad = {**BIG_BAD, 3001: json.dumps({"text": "splitpoison words"}), 3002: json.dumps({"text": "analysispoison"}),
           3003: json.dumps({"text": "splitpoison again"})}
    feed = tmp_path / "feed.jsonl"
    good_lines = big_feed(feed, bad)
    assert feed.stat().st_size >= searchkit.build.SHARD_BYTES
    report = Index.build([feed], tmp_path / "index")
    assert [s.line for s in report.skipped] == sorted(bad)
    assert all(s.path == str(feed) and s.reason for s in report.skipped)
    assert report.articles == len(good_lines)
    with Index.open(tmp_path / "index") as ix:
        for article in ("a1", "a2999", f"a{max(good_lines.values())}"):
            assert [(h.passage.article, h.passage.line) for h in ix.search(f"w{article[1:]}")] == [
                (article, good_lines[article])]


@pytest.mark.slow
def test_the_cli_indexes_a_large_file_with_bad_lines(tmp_path, run_cli):
    feed = tmp_path / "feed.jsonl"
    good_lines = big_feed(feed, BIG_BAD)
    result = run_cli("index", feed, "--index", tmp_path / "index")
    assert result.code == 3, result.stderr
    assert "Traceback" not in result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert [int(s.split("feed.jsonl:")[1].split(":")[0]) for s in skipped] == sorted(BIG_BAD)
    assert f"indexed {len(good_lines):,} articles" in result.stderr
    last = max(good_lines, key=good_lines.get)
    found = run_cli("query", f"w{last[1:]}", "--index", tmp_path / "index", "--json")
    assert [json.loads(line)["line"] for line in found.stdout.splitlines()] == [good_lines[last]]


# --- fuzz ---------------------------------------------------------------------------------------------------

# Text with every code point, lone surrogates included (json.dumps writes them as \udXXX escapes).
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=30)
FIELDS = st.sampled_from(["id", "text", "title", "source", "place", "date", "tags", "authors", "url"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | ANY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=12,
)


def fuzz_line(obj: object, ascii_only: bool) -> bytes:
    if ascii_only:
        return json.dumps(obj).encode()
    # Raw, not escaped: a lone surrogate becomes bytes that are not UTF-8.
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")


BAD_LINES = st.one_of(
    st.tuples(st.dictionaries(FIELDS | ANY_TEXT, JSON_VALUES, max_size=6), st.booleans()).map(lambda t: fuzz_line(*t)),
    st.tuples(JSON_VALUES, st.booleans()).map(lambda t: fuzz_line(*t)),
    st.binary(min_size=1, max_size=60).map(lambda b: b.replace(b"\n", b"_").replace(b"\r", b"_")),
    st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(bad=st.lists(BAD_LINES, min_size=1, max_size=5), ends=st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]),
                                                                       min_size=8, max_size=8))
def test_fuzzed_lines_never_break_a_build_and_good_lines_are_found(tmp_path_factory, bad, ends):
    folder = tmp_path_factory.mktemp("fuzz")
    lines = [good(0).encode()]
    for n, line in enumerate(bad, start=1):
        lines += [line, good(n).encode()]
    raw = b"".join(line + ends[i % len(ends)] for i, line in enumerate(lines))
    (folder / "feed.jsonl").write_bytes(raw)
    try:
        report = Index.build([folder / "feed.jsonl"], folder / "index")
    except SearchkitError as e:  # allowed by the contract, but nothing here should be an error of the run
        pytest.fail(f"the build failed: {e}")
    good_lines = {f"good{n}": 2 * n + 1 for n in range(len(bad) + 1)}
    assert all(s.line is not None and 1 <= s.line <= len(lines) and s.line not in good_lines.values()
               and s.reason and "\n" not in s.reason for s in report.skipped)
    with Index.open(folder / "index") as ix:
        found = {h.passage.article: h.passage.line for n in good_lines
                 for h in ix.search(f"goodmarker{n[4:]}") if h.passage.article in good_lines}
        assert found == good_lines


def test_an_error_a_worker_cannot_send_whole_fails_the_build_with_a_searchkit_error(tmp_path, monkeypatch):
    """An ArticleError pickles but does not unpickle (its constructor takes three arguments): the parent must
    still raise an error of ours, not the TypeError of unpickling it."""
    monkeypatch.setattr(searchkit.build, "_writer_procs", lambda size: 2)

    def failing_articles(self, f):
        raise ArticleError(f, "escaped the reader", 3)

    monkeypatch.setattr(searchkit.build._ArticleReader, "articles", failing_articles)
    for name in ("a.jsonl", "b.jsonl"):
        write_lines(tmp_path / name, [good(1)])
    with pytest.raises(IndexWriteError, match="escaped the reader"):
        Index.build([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], tmp_path / "index")
    assert not Index.exists(tmp_path / "index")  # nothing was committed


WORKER_EXITS = """
import os, sys
import searchkit.build
from searchkit import Index, SearchkitError

searchkit.build._writer_procs = lambda size: 2
articles = searchkit.build._ArticleReader.articles

def exiting_articles(self, f):
    if f.endswith("b.jsonl"):
        os._exit(0)  # a worker gone without a word (and without a failing exit code)
    return articles(self, f)

searchkit.build._ArticleReader.articles = exiting_articles
try:
    Index.build([sys.argv[1], sys.argv[2]], sys.argv[3])
except SearchkitError as e:
    print(e)
    sys.exit(7)
"""


@pytest.mark.slow
def test_a_worker_that_ends_without_a_result_fails_the_build_instead_of_hanging(tmp_path):
    for name in ("a.jsonl", "b.jsonl"):
        write_lines(tmp_path / name, [good(1)])
    result = subprocess.run(
        [sys.executable, "-c", WORKER_EXITS, tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "index"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 7, result.stderr
    assert "an indexing process died" in result.stdout
