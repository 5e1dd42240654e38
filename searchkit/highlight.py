"""Whoosh query + passage text → Highlight fragments: the matched words' offsets, as data (no markup).

Only words that matched are marked: every query term of the body field (stemmed forms included, e.g.
``Seabed`` for ``seabed``), and a phrase's words only where the whole phrase occurs. Negated terms are not.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from .models import Highlight
from .schema import ANALYZER, analyze, term_of

if TYPE_CHECKING:
    from whoosh import query as wq

__all__ = ["MatchTerms", "match_terms", "highlight"]

_WORDS: re.Pattern = ANALYZER.items[0].expression
"""The words of a text as the analyzer's tokenizer finds them."""
assert _WORDS.pattern == r"\w+(\.?\w+)*", "_words_beginning finds the words of Whoosh's default word pattern"
FRAGMENT_CHARS = 240
"""Fragments are about this long: matches within it share a fragment, with context on both sides."""
CONTEXT_CHARS = 60
_BEGUN_OTHERWISE = {"die": "dy", "lie": "ly", "tie": "ty"}
"""Terms → how else their words may begin: Snowball English's exceptional forms dying, lying and tying. Every
other word's term begins with the word's first two letters (or, one letter long, with its first): its rules
change a word from the third letter on (``tests/test_highlight_tokens.py`` checks the 300,000 commonest
English words)."""


class MatchTerms:
    """The words and phrases of a query that can match in one field, expanded against an index reader."""

    __slots__ = ("words", "phrases")

    def __init__(self, words: frozenset[str], phrases: tuple[tuple[str, ...], ...]) -> None:
        self.words = words
        self.phrases = phrases


def match_terms(q: wq.Query, fieldname: str = "body") -> MatchTerms:
    """Collect the positive terms of ``q`` in ``fieldname``: its words, and its phrases (``bounds`` has replaced
    its wildcards, prefixes and ranges by the terms they match)."""
    from whoosh import query as wq  # here: the one-shot path (``direct``) highlights without Whoosh's queries

    words: set[str] = set()
    phrases: list[tuple[str, ...]] = []

    def visit(node: wq.Query) -> None:
        if isinstance(node, wq.Not):
            return
        if isinstance(node, wq.AndNot):
            visit(node.a)
            return
        if isinstance(node, wq.Phrase):
            if node.fieldname == fieldname:
                phrases.append(tuple(node.words))
            return
        if node.is_leaf():
            if getattr(node, "fieldname", None) != fieldname:
                return
            if isinstance(node, wq.Term):
                words.add(node.text)
            return
        for child in node.children():
            visit(child)

    visit(q)
    return MatchTerms(frozenset(words), tuple(phrases))


def highlight(text: str, terms: MatchTerms, top: int = 3) -> tuple[Highlight, ...]:
    """Up to ``top`` fragments of ``text`` around matched words, in text order.

    Fragments are chosen by how many distinct terms and matches they hold, ties broken by position
    (Whoosh's own fragment choice breaks ties by memory address, so snippets could change run to run).
    """
    hits = _hits(text, terms)
    if not hits:
        return (Highlight(text[:_word_end(text, FRAGMENT_CHARS)], 0, ()),)
    groups: list[list[tuple[tuple[int, int], str]]] = [[hits[0]]]
    for hit in hits[1:]:
        if hit[0][1] - groups[-1][0][0][0] <= FRAGMENT_CHARS - 2 * CONTEXT_CHARS:
            groups[-1].append(hit)
        else:
            groups.append([hit])
    best = sorted(groups, key=lambda g: (-len({w for _, w in g}), -len(g), g[0][0][0]))[:top]
    return tuple(_fragment(text, g) for g in sorted(best, key=lambda g: g[0][0][0]))


def _hits(text: str, terms: MatchTerms) -> list[tuple[tuple[int, int], str]]:
    """The matched words of ``text``: their spans and terms, in text order.

    Without phrases, only the words that can be a query term's are analysed: a term begins with its word's
    first two letters, lowercased (Snowball English changes a word from its third letter on, but for the words
    of ``_BEGUN_OTHERWISE``), so a word beginning otherwise is no match, and most words are not stemmed.
    """
    if not terms.phrases and "" not in terms.words:
        firsts = frozenset(word[0] for word in terms.words)
        beginnings = tuple({word[:2] for word in terms.words}
                           | {_BEGUN_OTHERWISE[word] for word in terms.words if word in _BEGUN_OTHERWISE})
        hits = []
        for m in _words_beginning(text, firsts):
            written = m[0]
            if written.lower().startswith(beginnings):
                term = term_of(written)
                if term is not None and term in terms.words:
                    hits.append((m.span(), term))
        return hits
    tokens = analyze(text)
    words = [w for w, _ in tokens]
    spans = [span for _, span in tokens]
    matched = [w in terms.words for w in words]
    for phrase in terms.phrases:
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i:i + n]) == phrase:
                matched[i:i + n] = [True] * n
    return [(spans[i], words[i]) for i in range(len(words)) if matched[i]]


def _words_beginning(text: str, firsts: frozenset[str]) -> list[re.Match]:
    """The words of ``text`` (as ``_WORDS`` finds them) that may begin with one of ``firsts`` once lowercased, in
    text order: the regular expression engine passes over the others, where a loop over every word would test
    each in Python. The caller tests each word found (see ``_beginning``)."""
    if len(firsts) == 1:
        return list(_beginning(next(iter(firsts))).finditer(text))
    found = {m.start(): m for first in firsts for m in _beginning(first).finditer(text)}
    return [found[start] for start in sorted(found)]


@functools.lru_cache(maxsize=256)
def _beginning(first: str) -> re.Pattern:
    """The words (as ``_WORDS`` finds them) whose first character is ``first`` in either case, if it is ASCII,
    or any character outside ASCII (whose lowercase may begin with an ASCII letter, as ``İ``'s does with ``i``).

    A word begins where ``_WORDS`` would begin one: at a word character that follows neither a word character
    nor a dot after one (``_WORDS`` runs on through both). The first character is matched before the lookbehinds
    (which then reach one further back): a pattern that begins with a character set is searched for that set,
    several times faster than one tried at every position. One pattern per character, kept: compiling one takes
    about 0.25 ms, more than the search it saves.
    """
    kept = sorted({ord(first), ord(first.upper())}) if first.isascii() else []
    bounds = [-1, *kept, 128]  # the ASCII characters between kept ones, as ranges (quicker to compile than a list)
    others = "".join(f"\\x{low + 1:02x}-\\x{high - 1:02x}" for low, high in zip(bounds, bounds[1:]) if high - low > 1)
    return re.compile(rf"[^{others}](?<=\w)(?<!\w[\s\S])(?<!\w\.[\s\S])\w*(?:\.?\w+)*", _WORDS.flags)


def _fragment(text: str, group: list[tuple[tuple[int, int], str]]) -> Highlight:
    first, last = group[0][0][0], group[-1][0][1]
    start = max(0, first - CONTEXT_CHARS)
    if start > 0:
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else first
    end = min(len(text), last + CONTEXT_CHARS)
    if end < len(text):
        end = max(last, _word_end(text, end))
    return Highlight(text[start:end], start, tuple((s - start, e - start) for (s, e), _ in group))


def _word_end(text: str, limit: int) -> int:
    """End of the last whole word within ``limit`` characters."""
    if len(text) <= limit:
        return len(text)
    space = text.rfind(" ", 0, limit)
    return space if space > 0 else limit
