"""The one-loop tokenizer (index and highlighter) yields exactly the tokens (terms and character spans) of the analyzer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchkit.schema import analyze as _analyze
from searchkit.schema import ANALYZER


def _by_analyzer(text: str) -> list[tuple[str, tuple[int, int]]]:
    return [(t.text, (t.startchar, t.endchar)) for t in ANALYZER(text, chars=True, mode="index")]


def test_seed_articles_tokenize_as_the_analyzer_does(seeds_dir):
    for path in sorted(seeds_dir.iterdir()):
        text = path.read_text(encoding="utf-8")
        assert _analyze(text) == _by_analyzer(text), path.name


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aAeIoUsyzİß.'’-_ 0123\n\tçñ")) | st.characters(), max_size=200))
def test_any_text_tokenizes_as_the_analyzer_does(text):
    assert _analyze(text) == _by_analyzer(text)


WORDS = st.sampled_from(["running", "Runs", "RUN", "skies", "sky", "dying", "die", "İstanbul", "istanbul", "ﬁsh",
                         "yelling", "Yell", "U.S.", "a.b", "ΣΑΣ", "σας", "x2", "café", "Caspian", "kayak",
                         "\u212aayaks", "x.kayak", "_kayak", "3kayak", "été", "lying", "lie", "tying", "ties", "cries",
                         "aing"])


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS | st.just("the")
                | st.text(alphabet=st.sampled_from(list("aAyYsİkK\u212a_.'’- 0\n")), max_size=6)
                | st.tuples(st.sampled_from(list(".’-_é")), WORDS).map("".join), max_size=40)
       .map(" ".join), st.lists(WORDS, min_size=1, max_size=3))
def test_highlights_mark_every_word_whose_term_is_searched(text, words):
    """Every word of the text whose term is a query word's, and only those, is marked (all fragments shown): words
    joined by dots and underscores, and words whose lowercase begins otherwise than they do (``\u212a``, the
    Kelvin sign, lowercases to ``k``) or follow punctuation, as the analyzer tokenizes them."""
    from searchkit.highlight import highlight, match_terms
    from searchkit.query import build_query

    terms = match_terms(build_query(" ".join(f"body:{w}" for w in words), syntax=True).query)
    marked = {(f.start + s, f.start + e) for f in highlight(text, terms, top=10_000) for s, e in f.matches}
    assert marked == {span for term, span in _analyze(text) if term in terms.words}


@pytest.mark.slow
def test_highlights_mark_every_english_word_by_its_term():
    """Each of the 300,000 commonest English words (``wordfreq``), searched by its own term, is marked: the
    highlighter analyses only the words that begin as a query term does, which must hold for every word's term."""
    wordfreq = pytest.importorskip("wordfreq", reason="wordfreq (the bench extra) lists the words")
    from searchkit.highlight import MatchTerms, highlight

    missed = []
    for word in wordfreq.top_n_list("en", 300_000):
        for term, span in _analyze(word):
            fragments = highlight(word, MatchTerms(frozenset({term}), ()))
            marked = {(f.start + s, f.start + e) for f in fragments for s, e in f.matches}
            if span not in marked:
                missed.append((word, term))
    assert not missed
