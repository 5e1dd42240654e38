"""The one-shot query path (``direct``): plain words answered from the index files exactly as ``Index.search``
answers them, and everything else left to it."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from synthetic import WORDS, write_corpus, write_file
from searchkit import Index, direct, render


@pytest.fixture(scope="module")
def updated_index(tmp_path_factory) -> Path:
    """A synthetic corpus indexed, then updated with a changed file and a new one: several segments, deleted
    passages among them."""
    root = tmp_path_factory.mktemp("direct")
    files = write_corpus(root / "feeds", seed=16, files=4, articles=30)
    Index.build(files, root / "index")
    write_file(files[1], random.Random(5), 30, "changed")
    write_file(root / "feeds" / "new.jsonl", random.Random(6), 20, "new")
    with Index.open(root / "index") as ix:
        ix.update([root / "feeds"])
    return root / "index"


def _queries() -> list[str]:
    rng = random.Random(16)
    plain = [w for w in WORDS if w not in ("astana", "almaty", "caspian")]  # place names: Index.search widens them
    queries = [" ".join(rng.choice(plain) for _ in range(rng.randint(1, 6))) for _ in range(60)]
    return queries + ["Pipeline", "OIL oil Oil", "the pipeline of the border", "talks talks talks", "Tariffs",
                      "changed", "grain S16F2", "gas 2019 wheat"]


def _same(ix: Index, path: Path, text: str, limit: int, offset: int, aliases: bool = True) -> bool | None:
    """Whether ``direct`` answers as ``Index.search`` does (None: it declined)."""
    found = direct.search(path, text, limit=limit, offset=offset, aliases=aliases)
    if found is None:
        return None
    expected = ix.search(text, limit=limit, offset=offset, aliases=aliases)
    assert [h.to_dict() for h in found] == [h.to_dict() for h in expected], text
    assert (found.total, found.suggestion, found.generation) == (expected.total, expected.suggestion,
                                                                 expected.generation), text
    return True


@pytest.mark.parametrize("limit, offset", [(10, 0), (3, 2), (60, 0), (5, 10_000)])
def test_plain_words_are_answered_as_index_search_answers(updated_index, limit, offset):
    with Index.open(updated_index) as ix:
        answered = [_same(ix, updated_index, text, limit, offset) for text in _queries()]
    assert answered.count(True) >= len(answered) - 2  # not vacuous: it answers plain words


def test_without_aliases_place_names_are_plain_words(updated_index):
    with Index.open(updated_index) as ix:
        assert _same(ix, updated_index, "astana pipeline caspian", 10, 0, aliases=False)
        assert _same(ix, updated_index, "astana pipeline caspian", 10, 0, aliases=True) is None


@pytest.mark.parametrize("text", [
    "pipeline AND gas", '"oil pipeline"', "title:oil", "oil*", "oil -gas", "the of", "", "  ", "pipelnie",
    "Astana", "oil almaty", "can't", "oil (gas)",
], ids=repr)
def test_what_it_leaves_to_index_search(updated_index, text):
    assert direct.search(updated_index, text, limit=10, offset=0, aliases=True) is None


@pytest.mark.parametrize("limit, offset", [(0, 0), (10, -1), (10, 10_001)])
def test_bad_bounds_are_index_search_errors(updated_index, limit, offset):
    assert direct.search(updated_index, "oil", limit=limit, offset=offset, aliases=True) is None


def test_nothing_there_is_left_to_index_search(tmp_path):
    assert direct.search(tmp_path / "none", "oil", limit=10, offset=0, aliases=True) is None
    assert direct.search(tmp_path, "oil", limit=10, offset=0, aliases=True) is None


def test_an_index_without_field_lengths_is_left_to_index_search(updated_index, tmp_path):
    """An index written before ``meta.json`` held the fields' lengths is searched by ``Index.search``."""
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(updated_index, copy)
    generation = (copy / "CURRENT").read_text().split()[0]
    meta_file = copy / generation / "topk" / "meta.json"
    meta = json.loads(meta_file.read_text())
    del meta["field_lengths"]
    meta_file.write_text(json.dumps(meta))
    assert direct.search(copy, "oil", limit=10, offset=0, aliases=True) is None


@pytest.mark.parametrize("options", [["--json"], [], ["-n", "3", "--offset", "2", "--json"], ["--no-aliases"]],
                         ids=" ".join)
def test_the_command_prints_what_index_search_finds(updated_index, options):
    """``searchkit query`` (answered by ``direct``) prints the hits ``Index.search`` finds, as ``render`` prints
    them."""
    text = "oil pipeline tariff"
    proc = subprocess.run([sys.executable, "-m", "searchkit", "query", text, "--index", str(updated_index), *options],
                          capture_output=True, text=True, cwd=REPO)
    limit = int(options[options.index("-n") + 1]) if "-n" in options else 10
    offset = int(options[options.index("--offset") + 1]) if "--offset" in options else 0
    with Index.open(updated_index) as ix:
        hits = ix.search(text, limit=limit, offset=offset, aliases="--no-aliases" not in options)
    show = render.hit_json if "--json" in options else render.hit_plain
    assert hits and proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == "".join(show(hit).expandtabs(8) + "\n" for hit in hits)


def test_every_word_of_a_place_name_may_name_a_place():
    """``places.may_name_a_place`` is true of every word of every name of the packaged table (so that ``direct``
    declines every query ``Index.search`` widens by place names), and false of other words."""
    from searchkit.places import may_name_a_place, place_names
    from searchkit.schema import analyze

    names = place_names(True)
    assert names is not None
    words = {word for row in names.rows for name in (row.name, row.place) for word, _ in analyze(name)}
    assert len(words) > 100 and all(may_name_a_place(frozenset({word})) for word in words)
    assert not may_name_a_place(frozenset({"pipelin", "oil", "tariff"}))


def test_a_boosted_title_scores_as_index_search_scores(tmp_path):
    from searchkit import Settings

    files = write_corpus(tmp_path / "feeds", seed=3, files=2, articles=20)
    Index.build(files, tmp_path / "index", settings=Settings().replace(title_boost=2.5))
    with Index.open(tmp_path / "index") as ix:
        assert all(_same(ix, tmp_path / "index", text, 10, 0)
                   for text in ("oil", "grain tariff s3f1", "Bank bank loan"))


def test_a_sharded_index_is_left_to_index_search(tmp_path):
    files = write_corpus(tmp_path / "feeds", seed=4, files=2, articles=10)
    Index.build(files, tmp_path / "index", shards=2)
    assert direct.search(tmp_path / "index", "oil", limit=10, offset=0, aliases=True) is None
