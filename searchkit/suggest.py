"""Did you mean: a query's rare or absent words → the corpus's own words nearest in spelling (``vocabulary``),
the rest of the query kept as written.

A searched word (title or body, not a stop word, 3 letters or more, no digits) whose term is in no passage, or in
at most ``RARE_PASSAGES`` while a word ``MORE_FREQUENT`` times as frequent is close in spelling, is replaced by the
nearest such word: fewest edits first (optimal string alignment distance: insertions, deletions, substitutions and
transpositions of adjacent letters, at most ``max_edits``), then the most frequent. Words that stem as the query
word does are not suggested (the search finds them already). Metadata clauses (``source:``, ``date:``...),
operators, wildcards and ranges are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from .schema import ANALYZER, SEARCH_FIELDS, STOP_WORDS, analyze
from .vocabulary import MAX_WORD_CHARS, Vocabulary

__all__ = ["suggestion", "max_edits", "RARE_PASSAGES", "MORE_FREQUENT"]

RARE_PASSAGES = 2
"""A word whose term is in at most this many passages is rare (see ``MORE_FREQUENT``)."""
MORE_FREQUENT = 10
"""A rare word is corrected only to a word at least this many times as frequent as it is."""
SHORTEST = 3
"""Shorter words are never corrected: one edit away from a two-letter word is almost every other one."""

_WORDS: re.Pattern = ANALYZER.items[0].expression
"""The words of a text as the analyzer's tokenizer finds them."""
_QUERY_TOKEN = re.compile(r'"[^"]*"?|\[[^\]]*\]?|\{[^}]*\}?|[()]|[^\s()"\[\]{}]+')
"""Query text as ``query`` reads it: phrases, ranges, parentheses and other tokens."""
_FIELD_PREFIX = re.compile(r"([A-Za-z_]\w*):")
_OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"})


class Frequencies(Protocol):
    def doc_frequency(self, fieldname: str, text: bytes) -> int: ...


class Words(Protocol):
    """What ``suggestion`` reads of a backend (a ``backend.Backend``): its terms' document frequencies, and its
    vocabulary."""

    def lexicon(self) -> Frequencies: ...

    def vocabulary(self) -> Vocabulary: ...


def max_edits(word: str) -> int:
    """The most edits a suggestion may be from ``word``: 1 up to 4 letters, 2 up to 10, then 3."""
    return 1 if len(word) <= 4 else 2 if len(word) <= 10 else 3


def suggestion(text: str, backend: Words, *, syntax: bool) -> str | None:
    """``text`` with its rare or absent words replaced by the corpus's nearest words, or None when none is
    (``syntax`` as in ``Index.search``). The vocabulary is read only when a word needs it."""
    lexicon = backend.lexicon()
    vocabulary: Vocabulary | None = None
    out: list[str] = []
    last = 0
    for start, end in _searched_words(text, syntax):
        written = text[start:end]
        word = written.lower()
        passages = _passages(lexicon, word)
        if passages is None or passages > RARE_PASSAGES:
            continue
        if vocabulary is None:
            vocabulary = backend.vocabulary()
        least = 1 if passages == 0 else MORE_FREQUENT * max(passages, vocabulary.frequency(word))
        better = _nearest(word, vocabulary, least)
        if better is not None:
            out += [text[last:start], _cased(better, written)]
            last = end
    return "".join(out) + text[last:] if out else None


def _passages(lexicon: Frequencies, word: str) -> int | None:
    """How many passages hold ``word``'s term (in title or body), or None for a word never corrected."""
    if not (word.isalpha() and SHORTEST <= len(word) <= MAX_WORD_CHARS) or word in STOP_WORDS:
        return None
    term = _term(word)
    if term is None:
        return None
    return max(lexicon.doc_frequency(field, term.encode("utf-8")) for field in SEARCH_FIELDS)


def _term(word: str) -> str | None:
    """The one term the analyzer makes of ``word`` (its stem), or None."""
    terms = analyze(word)
    return terms[0][0] if len(terms) == 1 else None


def _nearest(word: str, vocabulary: Vocabulary, least: int) -> str | None:
    """The vocabulary's word nearest ``word`` in spelling of frequency ``least`` or more, not of ``word``'s
    stem: fewest edits, then most frequent, then first in alphabetical order."""
    from rapidfuzz import process  # only for a query that needs a suggestion, not at start-up
    from rapidfuzz.distance import OSA

    stem, edits_allowed = _term(word), max_edits(word)
    start, end = vocabulary.lengths(len(word) - edits_allowed, len(word) + edits_allowed)
    best: tuple[int, int, str] | None = None
    for candidate, edits, at in process.extract(
        word, vocabulary.words[start:end], scorer=OSA.distance, score_cutoff=edits_allowed, limit=None,
    ):
        count = vocabulary.counts[start + at]
        if count < least or _term(candidate) == stem:
            continue
        key = (int(edits), -count, candidate)
        if best is None or key < best:
            best = key
    return best[2] if best is not None else None


def _cased(word: str, written: str) -> str:
    """``word`` in the case ``written`` has: all capitals, a capital first letter, or lower case."""
    if written.isupper() and len(written) > 1:
        return word.upper()
    if written[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _searched_words(text: str, syntax: bool) -> Iterator[tuple[int, int]]:
    """The spans of the words of ``text`` searched in title and body: all of them for plain words; with query
    syntax, those of words and phrases outside metadata clauses, operators, ranges and patterns."""
    if not syntax:
        yield from (m.span() for m in _WORDS.finditer(text))
        return
    groups: list[str | None] = [None]
    """The field of each open parenthesis (None: the default fields)."""
    pending: str | None = None
    """A ``field:`` waiting for its value (a phrase, or a group)."""
    for m in _QUERY_TOKEN.finditer(text):
        token, start = m[0], m.start()
        field, pending = (pending if pending is not None else groups[-1]), None
        if token == "(":
            groups.append(field)
            continue
        if token == ")":
            if len(groups) > 1:
                groups.pop()
            continue
        if token[0] in "[{" or token in _OPERATORS:
            continue
        if token[0] != '"':
            prefix = _FIELD_PREFIX.match(token)
            if prefix:
                field, start = prefix[1], start + prefix.end()
                if prefix.end() == len(token):
                    pending = field
                    continue
            if "*" in token or "?" in token:  # a pattern, expanded against the index's terms as written
                continue
        if field is None or field in SEARCH_FIELDS:
            yield from (w.span() for w in _WORDS.finditer(text, start, m.end()))
