"""Whoosh query + passage text → Highlight fragments: the matched words' offsets, as data (no markup).

Only words that matched are marked: every query term of the body field (stemmed forms included, e.g.
``Seabed`` for ``seabed``), and a phrase's words only where the whole phrase occurs. Negated terms are not.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .models import Highlight
from .schema import ANALYZER, analyze

if TYPE_CHECKING:
    from whoosh import query as wq

__all__ = ["MatchTerms", "match_terms", "highlight"]

_WORDS: re.Pattern = ANALYZER.items[0].expression
"""The words of a text as the analyzer's tokenizer finds them."""
FRAGMENT_CHARS = 240
"""Fragments are about this long: matches within it share a fragment, with context on both sides."""
CONTEXT_CHARS = 60


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

    Without phrases, only the words that can be a query term's are analysed: a term begins as its word does
    (lowercased; the stemmer changes only a word's end), so a word of another first letter is no match.
    """
    if not terms.phrases and "" not in terms.words:
        firsts = frozenset(word[0] for word in terms.words)
        hits = []
        for m in _WORDS.finditer(text):
            if m[0][0].lower()[:1] in firsts:
                analysed = analyze(m[0])
                if analysed and analysed[0][0] in terms.words:
                    hits.append((m.span(), analysed[0][0]))
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
