"""Article → passages: exact source spans, bounded sizes, stable ids, speaker carry-over."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from searchkit import Index
from searchkit.ingest import read_articles
from searchkit.passages import (
    FastPunktTrainer, PassageSplitter, PunktTrainer, punkt_from_json, punkt_to_json, train_punkt,
)


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


def _trained(trainer, texts) -> dict:
    for text in texts:
        trainer.train(text, finalize=False)
    trainer.finalize_training()
    return punkt_to_json(trainer.get_params())


_WORDS = ("the minister said talks would resume after a pause in trade and oil output across the region while "
          "officials met in the capital to discuss tariffs").split()
_PIECES = ("Mr.", "Dr.", "Inc.", "U.S.", "approx.,", "ex-Gov.", "J. S. Bach", "St. Petersburg", "3. Symphony",
           "No. 5", "1.5", "...", "?", "!", "\u201cQuoted.\u201d", "(Reuters)", "e.g. this", "A.", "vs.", "Jan. 5",
           "5. Oktober", "iii. below", "--", "B. Smith", "2nd.", "pp. 12-14")


def _tricky_texts(seed: int, count: int) -> list[str]:
    """Texts dense in what Punkt learns from: abbreviations (rare ones before a comma or a lower-case word),
    initials and ordinals before words (collocations), frequent sentence starters, ellipses, lines and
    paragraphs (some opening with a word seen nowhere else, after an ellipsis)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        paragraphs = []
        for _ in range(rng.randint(1, 6)):
            sentences = []
            for _ in range(rng.randint(1, 8)):
                words = [rng.choice(_WORDS) for _ in range(rng.randint(2, 14))]
                for _ in range(rng.randint(0, 3)):
                    words.insert(rng.randrange(len(words) + 1), rng.choice(_PIECES))
                starter = rng.choice(["However", "Meanwhile", "But", "The", "In"])
                sentences.append(" ".join([starter, *words]) + rng.choice([".", ".", "?", "!", "...", ". "]))
            paragraphs.append((" " if rng.random() < 0.7 else "\n").join(sentences))
            if len(paragraphs) > 1 and rng.random() < 0.2:  # a paragraph's first word after an ellipsis
                paragraphs[-2] += " ..."
                paragraphs[-1] = "Zephyr " + paragraphs[-1]
        texts.append(("\n\n" if rng.random() < 0.8 else "\n \n").join(paragraphs))
    return texts


@pytest.mark.parametrize("seed", [0, 1])
def test_the_fast_punkt_trainer_learns_what_nltks_learns(seed_articles, seed):
    texts = [a.text for a in seed_articles] + _tricky_texts(seed, 300)
    learned = _trained(FastPunktTrainer(), texts)
    assert learned == _trained(PunktTrainer(), texts)
    assert all(learned[key] for key in ("abbrev_types", "collocations", "sent_starters", "ortho_context"))


def test_the_fast_punkt_trainer_finds_the_words_nltk_finds():
    """Its word pattern runs in ``re``, nltk's in ``regex``: the same words, whitespace of every kind included
    (``re``'s ``\\s`` matches four control characters more)."""
    rng = random.Random(0)
    alphabet = [chr(c) for c in [*range(0x40), 0x85, 0xA0, 0x1680, 0x2000, 0x200A, 0x200B, 0x2028, 0x2029, 0x202F,
                                 0x205F, 0x3000, 0x180E, 0xFEFF, 0x2018, 0x2019, 0x201C, 0x201D, 0xAB, 0xBB]]
    alphabet += [*"ab.,;:-!?\"'()[]{}*@&#`", *" " * 8]
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) for _ in range(20_000)]
    words, nltk_words = FastPunktTrainer()._words.findall, PunktTrainer()._lang_vars.word_tokenize
    assert [words(line) for line in lines] == [nltk_words(line) for line in lines]


@pytest.mark.slow
def test_the_fast_punkt_trainer_learns_from_reuters_what_nltks_learns():
    from conftest import REPO, shared_data

    source = shared_data("reuters21578")
    sys.path.insert(0, str(REPO))
    from benchmarks.corpora import _reuters_articles

    texts = [story["text"] for _, story in zip(range(3000), _reuters_articles(source))]
    learned = _trained(FastPunktTrainer(), texts)
    assert learned == _trained(PunktTrainer(), texts)
    assert all(learned[key] for key in ("abbrev_types", "collocations", "sent_starters"))


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
