"""Article → passages: exact source spans, bounded sizes, stable ids, speaker carry-over."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from searchkit import Index
from searchkit.ingest import read_articles
from searchkit.passages import PassageSplitter, punkt_from_json, punkt_to_json, train_punkt


@pytest.fixture(scope="module")
def seed_articles(seeds_dir):
    return [a for f in sorted(seeds_dir.iterdir()) for a in read_articles(f)]


@pytest.fixture(scope="module")
def splitter(seed_articles):
    return PassageSplitter(train_punkt(a.text for a in seed_articles))


def test_spans_are_exact_source_text(seed_articles, splitter):
    for article in seed_articles:
        source = Path(article.path).read_bytes().decode("utf-8-sig")
        for passage in splitter.split(article):
            start, end = passage.span
            assert source[start:end] == passage.text
            assert passage.text == passage.text.strip() and passage.text


def test_passages_are_bounded_and_cover_the_body_in_order(seed_articles, splitter):
    for article in seed_articles:
        passages = splitter.split(article)
        assert [p.position for p in passages] == list(range(len(passages)))
        assert all(a.span[1] <= b.span[0] for a, b in zip(passages, passages[1:]))
        assert all(len(p.text) <= splitter.max_chars for p in passages)
        body = "".join(article.text[p.start:p.end] for p in article.paragraphs)
        assert "".join("".join(p.text.split()) for p in passages) == "".join(body.split())


def test_long_paragraph_is_cut_between_sentences(tmp_path, splitter):
    sentences = [f"Sentence number {i} talks about the Caspian seabed and the forum." for i in range(40)]
    path = tmp_path / "long.txt"
    path.write_text("A long one\n\n" + " ".join(sentences) + "\n", encoding="utf-8")
    [article] = list(read_articles(path))
    passages = splitter.split(article)
    assert len(passages) > 1
    for p in passages:
        assert p.text.startswith("Sentence number") and p.text.endswith("forum.")
        assert len(p.text) <= splitter.max_chars


def test_speaker_carries_over_until_the_next_speaker(seed_articles, splitter):
    kremlin = next(a for a in seed_articles if a.source == "Kremlin")
    passages = splitter.split(kremlin)
    assert passages[0].speaker is None
    thanks = next(p for p in passages if "Thank you for the joint work" in p.text)
    assert thanks.speaker == "Vladimir Putin"
    last = passages[-1]
    assert last.text.endswith("Thank you all.") and last.speaker == "Vladimir Putin"


def test_ids_are_stable_across_builds(tmp_path, seeds_dir):
    def ids(path):
        Index.build([seeds_dir], path)
        with Index.open(path) as ix:
            return {h.passage.id for h in ix.search("forum OR Kazakhstan OR Russia", limit=1000)}

    first, second = ids(tmp_path / "one"), ids(tmp_path / "two")
    assert first and first == second


def test_punkt_parameters_round_trip(seed_articles):
    params = train_punkt(a.text for a in seed_articles)
    again = punkt_from_json(punkt_to_json(params))
    assert punkt_to_json(again) == punkt_to_json(params)


def test_a_build_imports_punkt_without_the_rest_of_nltk(tmp_path, seeds_dir):
    """nltk's package imports all of nltk and SciPy (about a second of every build); a later ``import nltk``
    still gets all of it."""
    script = (
        "import sys\n"
        "from searchkit import Index\n"
        f"Index.build([{str(seeds_dir)!r}], {str(tmp_path / 'index')!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('nltk', 'scipy')))\n"
        "import nltk\n"
        "print(nltk.probability.FreqDist.__name__, nltk.tokenize.punkt.PunktTrainer.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["[]", "FreqDist PunktTrainer"]
