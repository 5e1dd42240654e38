"""What the inputs of an index are: empty corpora, sources of the wrong type, an index among its inputs, moved
indexes and inputs, unique passage ids, and file names that are not valid UTF-8 (or are odd in other ways)."""

from __future__ import annotations

import collections
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from searchkit import Index


def passage_count(path: Path) -> int:
    with Index.open(path) as ix:
        return ix.stats().passages


def indexed_paths(path: Path) -> collections.Counter:
    """How many passages each indexed file has."""
    with Index.open(path) as ix:
        return collections.Counter(p.path for p in ix.passages())


def write_article(path: Path, word: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"Title of {word}\n\nThe {word} is in this passage. It has a second sentence.\n")


# --- empty inputs --------------------------------------------------------------------------------------------


def only_bad_files(folder: Path) -> None:
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.bin").write_bytes(b"\0\1\2" * 100)
    (folder / "bad.jsonl").write_bytes(b'{"text": broken\n[1, 2]\n')


EMPTY_CORPORA = {
    "no sources": lambda tmp: [],
    "an empty folder": lambda tmp: [(tmp / "empty").mkdir() or tmp / "empty"],
    "only bad files": lambda tmp: [only_bad_files(tmp / "bad") or tmp / "bad"],
    "a missing path": lambda tmp: [tmp / "missing"],
}


@pytest.mark.parametrize("corpus", EMPTY_CORPORA)
def test_an_empty_corpus_is_a_valid_empty_index_that_updates_add_to(tmp_path, seeds_dir, corpus):
    report = Index.build(EMPTY_CORPORA[corpus](tmp_path), tmp_path / "index")
    assert (report.articles, report.passages, report.files_added) == (0, 0, 0)
    with Index.open(tmp_path / "index") as ix:
        for options in [{}, {"per_article": True}, {"sort": "date"}, {"expand": True}]:
            for text in ["Caspian", "*", "body:[a TO zzzz]", "title:sea*"]:
                assert ix.search(text, **options) == []
        stats = ix.stats()
        assert (stats.passages, stats.articles, stats.files, stats.first_date, stats.last_date) == (0, 0, 0, None, None)
        report = ix.update([seeds_dir])
        assert report.files_added == 5
        # the sentence splitter learns from the first text indexed, not from the empty build
        updated = sorted(p.text for p in ix.passages())
        assert ix.search("Caspian seabed", per_article=True)
    Index.build([seeds_dir], tmp_path / "fresh")
    with Index.open(tmp_path / "fresh") as fresh:
        assert updated == sorted(p.text for p in fresh.passages())


@pytest.mark.slow
def test_empty_corpora_through_the_cli(tmp_path, run_cli):
    (tmp_path / "empty").mkdir()
    only_bad_files(tmp_path / "bad")
    index = tmp_path / "index"
    built = run_cli("index", tmp_path / "empty", "--index", index)
    assert built.code == 0 and "indexed 0 articles, 0 passages" in built.stderr, built.stderr
    for args in [("query", "Caspian"), ("query", "*", "--per-article"), ("query", "*", "--sort", "date", "--json")]:
        result = run_cli(*args, "--index", index)
        assert result.code == 1 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    assert run_cli("check", "--index", index).code == 0
    stats = run_cli("stats", "--index", index, "--json")
    assert stats.code == 0 and json.loads(stats.stdout)["passages"] == 0
    for args in [(tmp_path / "bad",), (tmp_path / "bad", "--rebuild"), (tmp_path / "empty", "--rebuild")]:
        result = run_cli("index", *args, "--index", index)
        assert result.code == (3 if tmp_path / "bad" in args else 0), result.stderr
        assert "Traceback" not in result.stderr and "indexed 0 articles" in result.stderr
    assert run_cli("query", "Caspian", "--index", index).code == 1
    assert run_cli("index", REPO / "seeds", "--index", index).code == 0
    assert run_cli("query", "Caspian", "--index", index).code == 0


# --- the types of sources and path ---------------------------------------------------------------------------


@pytest.mark.parametrize("one_source", [str, Path, os.fsencode], ids=["str", "Path", "bytes"])
def test_one_path_given_alone_is_one_source(tmp_path, seeds_dir, monkeypatch, one_source):
    shutil.copytree(seeds_dir, tmp_path / "seeds")
    monkeypatch.chdir(tmp_path)  # relative: read as characters, "seeds" never names "/" (as a str path would)
    report = Index.build(one_source("seeds"), "index")
    assert report.files_added == 5 and not report.skipped
    with Index.open("index") as ix:
        assert ix.update(one_source("seeds")).files_unchanged == 5
        assert ix.stats().files == 5


WRONG_SOURCES = [None, 5, 2.5, [5], [None], ["ok", object()], {"a": 1}.values(), ["a\0b"], "a\0b"]


@pytest.mark.parametrize("sources", WRONG_SOURCES, ids=repr)
def test_sources_of_the_wrong_type_are_refused_naming_the_argument(tmp_path, seed_index, sources):
    with pytest.raises((TypeError, ValueError), match="^sources"):
        Index.build(sources, tmp_path / "index")
    assert not (tmp_path / "index").exists()  # refused before anything is written
    with Index.open(seed_index) as ix, pytest.raises((TypeError, ValueError), match="^sources"):
        ix.update(sources)


@pytest.mark.parametrize("path", [None, 5, ["index"], "ind\0ex"], ids=repr)
def test_an_index_path_of_the_wrong_type_is_refused_naming_the_argument(seeds_dir, path):
    with pytest.raises((TypeError, ValueError), match="^path"):
        Index.build([seeds_dir], path)


# names of nothing: neither they nor their characters (were a str read as characters) are "." or "/"
PATHS = st.one_of(st.text(max_size=8), st.binary(max_size=8)).filter(
    lambda p: not os.path.lexists(p) and not set(os.fsdecode(p)) & {".", "/"}
)
ANYTHING = st.recursive(
    st.one_of(st.none(), st.integers(), st.floats(), st.booleans(), PATHS),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner), st.dictionaries(PATHS, inner)),
    max_leaves=5,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sources=ANYTHING)
def test_any_sources_argument_builds_or_is_refused_as_a_type_or_value(tmp_path_factory, sources):
    target = tmp_path_factory.mktemp("fuzz") / "index"
    try:
        Index.build(sources, target)
    except (TypeError, ValueError) as e:
        assert str(e).startswith("sources") and not target.exists()
    else:
        assert passage_count(target) == 0  # nothing of these names exists in the test's folder


# --- an index among its inputs -------------------------------------------------------------------------------


@pytest.fixture
def repo_copy(tmp_path, seeds_dir) -> Path:
    """A folder holding seeds/ and an index/ of them, as the repository does."""
    repo = tmp_path / "repo"
    shutil.copytree(seeds_dir, repo / "seeds")
    Index.build([repo / "seeds"], repo / "index")
    return repo


@pytest.mark.slow
def test_indexing_the_folder_that_holds_the_index_never_indexes_the_index(repo_copy, run_cli):
    for _ in range(3):
        result = run_cli("index", ".", cwd=repo_copy)
        assert result.code == 0 and "skipped" not in result.stderr.split(")", 1)[1], result.stderr
    assert "5 unchanged" in result.stderr.replace("\n", " ")
    assert set(indexed_paths(repo_copy / "index")) == {str(p) for p in (repo_copy / "seeds").iterdir()}


def fake_index(folder: Path, *entries: str) -> None:
    """A folder laid out as a searchkit index (files; names ending in / are folders), each file an article."""
    for entry in entries:
        if entry.endswith("/"):
            (folder / entry).mkdir(parents=True)
        else:
            write_article(folder / entry, "indexfileword")


INDEX_LAYOUTS = {
    "live index": ("CURRENT", "gen-000004/", "gen-000004/manifest.json", "gen-000004/_MAIN_1.toc", "writer.lock"),
    "first build under way": ("writer.lock", "gen-000001/", "gen-000001/MAIN_x.seg"),
}


@pytest.mark.parametrize("layout", INDEX_LAYOUTS)
def test_index_directories_found_among_the_inputs_are_skipped(tmp_path, layout):
    inputs = tmp_path / "inputs"
    write_article(inputs / "article.txt", "articleword")
    fake_index(inputs / "deep" / "some-index", *INDEX_LAYOUTS[layout])
    write_article(inputs / "not-an-index" / "CURRENT", "currentword")  # a CURRENT alone is an article
    older = inputs / "older-index"
    older.mkdir()
    (older / "manifest.json").write_text(json.dumps({"format": "searchkit-index", "files": {}}))
    write_article(older / "_MAIN_1.toc", "olderword")
    report = Index.build([inputs], tmp_path / "index")
    assert not report.skipped
    assert {Path(p).name for p in indexed_paths(tmp_path / "index")} == {"article.txt", "CURRENT"}


def test_a_built_index_placed_among_the_inputs_is_skipped(tmp_path, seeds_dir, repo_copy):
    inputs = tmp_path / "inputs"
    write_article(inputs / "article.txt", "articleword")
    shutil.copytree(repo_copy / "index", inputs / "archive" / "old-index")
    Index.build([inputs], tmp_path / "index")
    assert [Path(p).name for p in indexed_paths(tmp_path / "index")] == ["article.txt"]


@pytest.mark.slow
def test_paths_into_the_index_are_reported_not_indexed(repo_copy, run_cli):
    index = repo_copy / "index"
    generation = next(index.glob("gen-*"))
    os.symlink(index, repo_copy / "link-to-index")
    into = [index, index / "CURRENT", generation, generation / "manifest.json", repo_copy / "link-to-index",
            f"{repo_copy}/seeds/../index", repo_copy / "link-to-index" / "CURRENT"]
    with Index.open(index) as ix:
        report = ix.update(into + [repo_copy / "seeds"])
    assert report.files_unchanged == 5 and report.files_added == 0
    assert len(report.skipped) == len(into) and all("searchkit index" in s.reason for s in report.skipped)
    result = run_cli("index", "index", "seeds", "--index", "link-to-index", cwd=repo_copy)
    assert result.code == 3 and "index: in the searchkit index" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert passage_count(index) == 30


@pytest.mark.slow
def test_an_index_given_by_a_link_or_a_relative_path_is_not_its_own_input(repo_copy, run_cli):
    os.symlink("index", repo_copy / "ix")
    for index in ["ix", "./seeds/../index", str(repo_copy / "ix")]:
        result = run_cli("index", ".", "--index", index, cwd=repo_copy)
        assert result.code == 0 and "0 added" in result.stderr, result.stderr
    assert passage_count(repo_copy / "index") == 30
    report = Index.build([repo_copy], repo_copy / "sub" / "new")  # a first build, into its inputs
    assert report.files_added == 5 and not report.skipped


# --- moving an index or its inputs ---------------------------------------------------------------------------


def search_counts(path: Path) -> tuple[int, int, collections.Counter]:
    with Index.open(path) as ix:
        hits = ix.search("Caspian OR Kazakhstan OR forum", limit=1000)
        return ix.stats().passages, ix.stats().files, collections.Counter(h.passage.text for h in hits)


@pytest.mark.slow
def test_an_index_moved_away_from_its_inputs_is_not_doubled_by_an_update(repo_copy, tmp_path, run_cli):
    before = search_counts(repo_copy / "index")
    shutil.move(repo_copy / "index", tmp_path / "elsewhere")
    with Index.open(tmp_path / "elsewhere") as ix:
        report = ix.update([repo_copy / "seeds"])
        assert report.files_added == 0 and report.files_replaced == 5
    assert search_counts(tmp_path / "elsewhere") == before
    result = run_cli("index", repo_copy / "seeds", "--index", tmp_path / "elsewhere")
    assert result.code == 0 and "5 unchanged" in result.stderr.replace("\n", " ")
    assert search_counts(tmp_path / "elsewhere") == before
    with Index.open(tmp_path / "elsewhere") as ix:  # the passages point at where the files are now
        assert {Path(p.path).parent for p in ix.passages()} == {(repo_copy / "seeds").resolve()}
    # moved together with its inputs (the repository cloned elsewhere), it stays current, with the same keys
    shutil.move(tmp_path / "elsewhere", repo_copy / "index")  # moved back beside its inputs
    with Index.open(repo_copy / "index") as ix:
        assert ix.update([repo_copy / "seeds"]).files_replaced == 5
        fingerprint, ids = ix.manifest["fingerprint"], {p.id for p in ix.passages()}
    shutil.move(repo_copy, tmp_path / "cloned")
    result = run_cli("index", "seeds", cwd=tmp_path / "cloned")
    assert result.code == 0 and "5 unchanged" in result.stderr.replace("\n", " ")
    with Index.open(tmp_path / "cloned" / "index") as ix:
        assert ix.manifest["fingerprint"] == fingerprint and {p.id for p in ix.passages()} == ids
    with Index.open(REPO / "index") as prebuilt:  # the committed index: keys relative to the repository
        assert prebuilt.manifest["fingerprint"] == fingerprint


def test_inputs_moved_or_renamed_are_recognised_not_doubled(tmp_path, seeds_dir):
    inputs = tmp_path / "inputs" / "seeds"
    shutil.copytree(seeds_dir, inputs)
    index = tmp_path / "deep" / "index"  # the inputs are outside its parent: stored as absolute paths
    Index.build([inputs], index)
    before = search_counts(index)
    shutil.move(inputs, tmp_path / "moved")
    first = sorted((tmp_path / "moved").iterdir())[0]
    first.rename(first.with_name("renamed.txt"))
    with Index.open(index) as ix:
        report = ix.update([tmp_path / "moved"], prune=True)
        assert (report.files_added, report.files_replaced, report.files_removed) == (0, 5, 0)
    assert search_counts(index) == before
    assert {Path(p).parent for p in indexed_paths(index)} == {(tmp_path / "moved").resolve()}


@pytest.mark.slow
def test_one_file_reached_by_two_paths_is_one_file(repo_copy, run_cli):
    os.symlink("seeds", repo_copy / "link")
    with Index.open(repo_copy / "index") as ix:
        for given in ["link", "seeds/", "link/../seeds", "link/./", "seeds/../link"]:
            report = ix.update([f"{repo_copy}/{given}"])
            assert (report.files_added, report.files_replaced, report.files_unchanged) == (0, 0, 5), given
        (repo_copy / "hard").mkdir()
        for f in (repo_copy / "seeds").iterdir():
            os.link(f, repo_copy / "hard" / f.name)
        report = ix.update([repo_copy / "seeds", repo_copy / "hard"])  # hard links: one file, indexed once
        assert (report.files_added, report.files_unchanged) == (0, 5)
        assert ix.update([repo_copy / "hard"]).files_added == 0
    result = run_cli("index", "./link", cwd=repo_copy)
    assert result.code == 0 and "0 added" in result.stderr, result.stderr
    assert passage_count(repo_copy / "index") == 30


def test_a_copy_beside_the_original_is_a_file_of_its_own(repo_copy):
    original = sorted((repo_copy / "seeds").iterdir())[0]
    (repo_copy / "copies").mkdir()
    shutil.copy(original, repo_copy / "copies" / original.name)
    with Index.open(repo_copy / "index") as ix:
        assert ix.update([repo_copy / "seeds", repo_copy / "copies"]).files_added == 1
        passages = list(ix.passages())
        assert len({p.id for p in passages}) == len(passages)
        by_file = collections.Counter(Path(p.path).parent.name for p in passages if Path(p.path).name == original.name)
        assert by_file["seeds"] == by_file["copies"] > 0
        for p in passages:  # every passage is reachable by its id
            assert ix.get(p.id).path == p.path


# --- unique passage ids --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_same_article_in_two_files_or_two_lines_has_distinct_stable_ids(tmp_path, run_cli):
    line = json.dumps({"id": "same-id", "title": "Same", "text": "The duplicated grainword article. Second sentence."})
    (tmp_path / "inputs" / "b").mkdir(parents=True)
    (tmp_path / "inputs" / "a.jsonl").write_text(line + "\n" + line + "\n")
    (tmp_path / "inputs" / "b" / "a.jsonl").write_text(line + "\n")
    write_article(tmp_path / "inputs" / "t.txt", "grainword")
    write_article(tmp_path / "inputs" / "b" / "t.txt", "grainword")
    ids = []
    for name in ["one", "two"]:
        Index.build([tmp_path / "inputs"], tmp_path / name)
        with Index.open(tmp_path / name) as ix:
            hits = ix.search("grainword", limit=100)
            assert len(hits) == 5 and len({h.passage.id for h in hits}) == 5
            for hit in hits:
                found = ix.get(hit.passage.id)
                assert (found.path, found.line) == (hit.passage.path, hit.passage.line)
            ids.append(sorted(h.passage.id for h in hits))
    assert ids[0] == ids[1]
    for hit_id in ids[0]:
        shown = run_cli("show", hit_id, "--index", tmp_path / "one", "--json")
        assert shown.code == 0 and json.loads(shown.stdout)["id"] == hit_id


# --- file names ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_names_that_are_not_utf8_are_reported_and_skipped(tmp_path, run_cli):
    inputs = tmp_path / "inputs"
    write_article(inputs / "good.txt", "goodword")
    root = os.fsencode(inputs)
    with open(root + b"/bad\xff.txt", "w") as f:
        f.write("Bad\n\nThe badnameword passage.\n")
    os.mkdir(root + b"/dir\xfe")
    with open(root + b"/dir\xfe/inside.txt", "w") as f:
        f.write("Inside\n\nThe insideword passage.\n")
    given = os.fsdecode(root + b"/given\xc3(.txt")
    write_article(Path(given), "givenword")
    report = Index.build([inputs, given], tmp_path / "index")
    reasons = {os.fsencode(s.path): s.reason for s in report.skipped}
    assert set(reasons) == {root + b"/bad\xff.txt", root + b"/dir\xfe", root + b"/given\xc3(.txt"}
    assert all("not valid UTF-8" in reason for reason in reasons.values())
    assert [Path(p).name for p in indexed_paths(tmp_path / "index")] == ["good.txt"]
    result = run_cli("index", inputs, "--index", tmp_path / "cli-index")
    assert result.code == 3 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("not valid UTF-8") == 3
    assert run_cli("query", "goodword", "--index", tmp_path / "cli-index").code == 0


ODD_NAMES = ["-rf", "--index", "new\nline.txt", "tab\there.txt", "esc\x1b[2J.txt", " lead and trail ", "\u202eevil.txt",
             "ünïcödé.jsonl.txt", "x" * 250 + ".txt", "*?[].txt", "back\\slash.txt"]


@pytest.mark.slow
def test_odd_but_valid_names_are_indexed_faithfully(tmp_path, run_cli):
    inputs = tmp_path / "inputs"
    for n, name in enumerate(ODD_NAMES):
        write_article(inputs / name, f"oddword{n}")
    os.mkdir(os.fsencode(inputs) + b"/bad\x80dir")  # and one that is not UTF-8, so the run reaches every path
    report = Index.build([inputs], tmp_path / "index")
    assert len(report.skipped) == 1
    with Index.open(tmp_path / "index") as ix:
        for n, name in enumerate(ODD_NAMES):
            [hit] = ix.search(f"oddword{n}")
            assert hit.passage.path == str(inputs / name)
    bad = os.fsdecode(b"bad\x80dir")  # passed to the CLI as the bytes b"bad\x80dir"
    result = run_cli("index", "--index", tmp_path / "cli-index", "--", "-rf", "--index", bad, cwd=inputs)
    assert result.code == 3 and "Traceback" not in result.stderr and "not valid UTF-8" in result.stderr, result.stderr
    assert {Path(p).name for p in indexed_paths(tmp_path / "cli-index")} == {"-rf", "--index"}


NAME_BYTES = st.binary(min_size=1, max_size=60).filter(  # a file name, not hidden, not read as JSON Lines
    lambda b: b"/" not in b and b"\0" not in b and not b.startswith(b".")
    and not b.lower().endswith((b".json", b".jsonl", b".ndjson"))
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAME_BYTES, min_size=1, max_size=6, unique=True))
def test_any_file_name_is_indexed_or_skipped_with_its_reason(tmp_path_factory, names):
    inputs = tmp_path_factory.mktemp("names")
    for n, name in enumerate(names):
        with open(os.fsencode(inputs) + b"/" + name, "w") as f:
            f.write(f"Name {n}\n\nThe fuzzword{n} passage.\n")
    report = Index.build([inputs], inputs.parent / (inputs.name + "-index"))
    skipped = {os.fsencode(s.path) for s in report.skipped}
    with Index.open(inputs.parent / (inputs.name + "-index")) as ix:
        for n, name in enumerate(names):
            path = os.fsencode(inputs) + b"/" + name
            hits = ix.search(f"fuzzword{n}")
            try:
                name.decode("utf-8")
            except UnicodeDecodeError:
                assert path in skipped and hits == []
            else:
                assert [os.fsencode(h.passage.path) for h in hits] == [path] and path not in skipped
