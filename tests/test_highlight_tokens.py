"""The one-loop tokenizer (index and highlighter) yields exactly the tokens (terms and character spans) of the analyzer."""

from __future__ import annotations

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
