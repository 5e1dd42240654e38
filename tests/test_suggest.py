"""Did you mean: suggestions from the corpus's own words, through the library and the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from searchkit import Index
from searchkit.shards import ShardedBackend
from searchkit.suggest import suggestion
from searchkit.vocabulary import Vocabulary


def write_feed(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": f"{path.stem}-{i}", "text": t}) + "\n" for i, t in enumerate(texts)),
                    encoding="utf-8")
    return path


# --- the library, on the seeds ---------------------------------------------------------------------------------


def test_misspelled_words_get_the_corpus_spelling(seed_index):
    with Index.open(seed_index) as ix:
        results = ix.search("Caspain seabd")
        assert list(results) == []
        assert results.suggestion == "Caspian seabed"
        assert ix.search(results.suggestion)  # the suggestion finds what was meant


def test_a_correctly_spelled_query_gets_no_suggestion(seed_index):
    with Index.open(seed_index) as ix:
        for text in ("Caspian seabed", "Nazarbayev Putin", "interregional cooperation forum", '"Caspian seabed"'):
            assert ix.search(text).suggestion is None, text


@pytest.mark.parametrize("text, expected", [
    ("Nazarbaev", "Nazarbayev"),
    ("CASPAIN", "CASPIAN"),
    ('"Caspain seabd"', '"Caspian seabed"'),
    ("title:Caspain AND source:kazinform", "title:Caspian AND source:kazinform"),
    ("(forum OR Caspain) NOT Chelyabinsk", "(forum OR Caspian) NOT Chelyabinsk"),
    ("Caspain date:2017 source:Kazinfrm", "Caspian date:2017 source:Kazinfrm"),  # metadata values left alone
])
def test_the_rest_of_the_query_is_kept_as_written(seed_index, text, expected):
    with Index.open(seed_index) as ix:
        assert ix.search(text).suggestion == expected


@pytest.mark.parametrize("text", ["Caspain*", "source:Kazinfrm", "Caspian qx", "Caspian 2O17"])
def test_patterns_metadata_short_words_and_digits_are_not_corrected(seed_index, text):
    with Index.open(seed_index) as ix:
        assert ix.search(text).suggestion is None


def test_plain_words_are_corrected_without_syntax(seed_index):
    with Index.open(seed_index) as ix:
        assert ix.search("Caspain: seabd?", syntax=False).suggestion == "Caspian: seabed?"


# --- rare words, updates and prunes ------------------------------------------------------------------------------


def test_a_rare_word_is_corrected_only_to_a_far_more_frequent_one(tmp_path):
    common = write_feed(tmp_path / "common.jsonl", [f"President Tokayev met delegation {i}." for i in range(12)])
    rare = write_feed(tmp_path / "rare.jsonl", ["Tokaev spoke.", "A zebrafish study.", "Zebrafish.", "A zebrafesh typo."])
    Index.build([common, rare], tmp_path / "index")
    with Index.open(tmp_path / "index") as ix:
        hits = ix.search("Tokaev")
        assert len(hits) == 1 and hits.suggestion == "Tokayev"  # found once; 12 passages spell it otherwise
        assert ix.search("zebrafesh").suggestion is None  # rare, but its neighbour is no more frequent
        assert ix.search("zebrafsh").suggestion == "zebrafish"  # absent: the more frequent of two as close


def test_a_word_only_in_a_replaced_or_removed_file_is_no_longer_suggested(tmp_path):
    names = write_feed(tmp_path / "names.jsonl", ["President Tokayev opened the forum."])
    fish = write_feed(tmp_path / "fish.jsonl", ["The zebrafish study.", "Caviar from the Caspian."])
    Index.build([tmp_path], tmp_path / "index")
    with Index.open(tmp_path / "index") as ix:
        assert ix.search("zebrafsh").suggestion == "zebrafish"
        assert ix.search("Tokaev").suggestion == "Tokayev"
        write_feed(fish, ["Caviar from the Caspian."])  # replaced: the zebrafish is gone
        ix.update([tmp_path])
        assert ix.search("zebrafsh").suggestion is None
        assert ix.search("Caspain").suggestion == "Caspian"
        names.unlink()
        ix.update([tmp_path], prune=True)
        assert ix.search("Tokaev").suggestion is None


def test_the_words_of_an_updated_index_are_those_of_a_clean_build(tmp_path):
    """Many updates (replacing files, pruning, small segments merged by the merge policy) count the live
    passages' words exactly as one build of the same files does."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    index = tmp_path / "index"
    Index.build([], index)
    with Index.open(index) as ix:
        for n in range(12):  # more than build.MAX_SMALL_SEGMENTS small segments: they are merged
            write_feed(inputs / f"feed{n}.jsonl", [f"Word{n} appears with Caspian and seabed{n % 3}.", "Tokayev."])
            if n % 4 == 3:
                write_feed(inputs / f"feed{n - 2}.jsonl", [f"Replaced text with sturgeon{n}."])
            if n == 9:
                (inputs / "feed0.jsonl").unlink()
            ix.update([inputs], prune=True)
        updated = Vocabulary.load(ix.directory)
        segments = len(list(ix.directory.glob("*.pst")))
    Index.build([inputs], tmp_path / "clean")
    with Index.open(tmp_path / "clean") as clean:
        built = Vocabulary.load(clean.directory)
    assert segments < 12  # the merge policy ran
    assert dict(zip(updated.words, updated.counts)) == dict(zip(built.words, built.counts))
    assert "sturgeon" not in updated.words and "sturgeonlike" not in updated.words
    assert "tokayev" in updated.words


def test_shards_suggest_from_their_words_together(tmp_path):
    first = write_feed(tmp_path / "a.jsonl", ["Tokayev spoke."])
    second = write_feed(tmp_path / "b.jsonl", ["The zebrafish study."])
    Index.build([first], tmp_path / "one")
    Index.build([second], tmp_path / "two")
    with Index.open(tmp_path / "one") as one, Index.open(tmp_path / "two") as two:
        backend = ShardedBackend([one.backend, two.backend])
        assert suggestion("Tokaev zebrafsh", backend, syntax=True) == "Tokayev zebrafish"


# --- the CLI ---------------------------------------------------------------------------------------------------------


def test_cli_says_did_you_mean_on_stderr(run_cli, seed_index):
    result = run_cli("query", "Caspain seabd", "--index", seed_index)
    assert result.code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["no passages matched", "did you mean: Caspian seabed?"]


def test_cli_json_ends_with_the_suggestion(run_cli, seed_index):
    result = run_cli("query", "Caspain seabd", "--index", seed_index, "--json")
    assert result.code == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"suggestion": "Caspian seabed"}]
    spelled = run_cli("query", "Caspian seabed", "--index", seed_index, "--json")
    assert spelled.code == 0
    lines = [json.loads(line) for line in spelled.stdout.splitlines()]
    assert lines and all("rank" in line for line in lines)
    assert "did you mean" not in spelled.stderr


def test_the_vocabulary_and_rapidfuzz_are_read_only_when_a_word_needs_them(seed_index):
    script = (
        "import sys; from searchkit import Index\n"
        "with Index.open(sys.argv[1]) as ix:\n"
        "    ix.search(sys.argv[2])\n"
        "    print('rapidfuzz' in sys.modules, ix.backend._vocabulary is not None)\n"
    )
    for text, read in (("forum Nazarbayev", "False False"), ("forum Nazarbaev", "True True")):
        out = subprocess.run([sys.executable, "-c", script, str(seed_index), text], capture_output=True, text=True,
                             check=True)
        assert out.stdout.split() == read.split(), text
