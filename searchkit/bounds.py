"""Query → the index terms its patterns reach, within bounds: no query reaches more of the index than a bound.

Wildcards, prefixes and text ranges are expanded once, against a lexicon (a Whoosh reader, or the union of
several shards' readers), into the terms they match, and counted: terms, the postings they reach and the
vocabulary read to find them. Past a bound the query is refused with a ``QueryError`` that says what to narrow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from whoosh import query as wq

from .errors import QueryError
from .query import ParsedQuery, OrderedOr, _one_line, _union_trees, word_terms

__all__ = [
    "bound_patterns", "check_whoosh_reach", "MAX_EXPANDED_TERMS", "MAX_EXPANDED_POSTINGS", "MAX_SCANNED_TERMS",
    "MAX_WHOOSH_POSTINGS",
]

MAX_EXPANDED_TERMS = 200
"""Index terms that all the wildcards, prefixes and ranges of one query may expand to, together (``MAX_TERMS``
counts the query's text; this counts what its patterns match in the index): each is scored like a word, a pass
over an array of every passage (``kazakh*`` is 6 terms on 100k passages, ``title:[k TO l]`` 149)."""
MAX_EXPANDED_POSTINGS = 500_000
"""Postings (summed document frequencies) those terms may reach together."""
MAX_SCANNED_TERMS = 20_000
"""Index terms that the query's patterns may read to find their matches: a pattern without a literal start
(``*stan``, ``*a*``) reads its field's whole vocabulary (28,000 terms in title and body of 100k passages)."""
MAX_WHOOSH_POSTINGS = 50_000
"""Postings that the terms of a query the top-k arrays cannot score (``NOT``, a date range scored by itself, a
phrase found in as many passages) may reach: Whoosh scores them one at a time in Python (several µs each)."""


def bound_patterns(parsed: ParsedQuery, reader) -> ParsedQuery:
    """``parsed`` with each wildcard, prefix and text range replaced by the index terms it matches (an OR of
    them, each scored as a word), refused where the patterns reach too much of the index.

    Whoosh's own pattern matcher gives every match one constant score, while the top-k arrays (from an Index's
    second query) scored the terms: a pattern ranked differently on a process's first query and the next.

    Counts, over the whole query and its filter, the index terms the patterns expand to, the postings those reach
    and the vocabulary read to find them, against ``MAX_EXPANDED_TERMS``, ``MAX_EXPANDED_POSTINGS`` and
    ``MAX_SCANNED_TERMS``; counting stops at the first bound passed, so a refusal costs no more than the bound.
    Each pattern reads the vocabulary once here, where Whoosh would read it again in every segment and the
    highlighter once more. Date ranges of the filter (``since``, ``until``, ``date:[...]`` beside words) are not
    counted: they restrict by one pass over the dates.

    Raises:
        QueryError: a bound is passed; the message names the pattern where it was and what to narrow.
    """
    budget = _Budget(reader)
    query = _union_trees(parsed.query.accept(lambda node: budget.expand(node, scored=True)))
    restriction = parsed.filter and _union_trees(parsed.filter.accept(lambda node: budget.expand(node, scored=False)))
    return replace(parsed, query=query, filter=restriction, postings=budget.postings + _word_postings(query, reader))


def check_whoosh_reach(parsed: ParsedQuery) -> None:
    """Refuse to have Whoosh score a query whose terms reach more than ``MAX_WHOOSH_POSTINGS`` postings.

    Raises:
        QueryError: the message says what to narrow.
    """
    if parsed.postings > MAX_WHOOSH_POSTINGS:
        raise QueryError(
            f"query too broad: with NOT, a common phrase or a date range scored alone, its words and patterns may reach "
            f"{MAX_WHOOSH_POSTINGS:,} postings, and they reach {parsed.postings:,}; narrow it: rarer words, "
            "a longer prefix, or a date range beside words (a filter)"
        )


def _word_postings(q: wq.Query, reader) -> int:
    """Postings the words (terms and phrases' words) of ``q`` reach, patterns' terms left out (counted apart)."""
    if isinstance(q, _Terms):
        return 0
    if isinstance(q, (wq.Term, wq.Phrase)):
        return sum(reader.doc_frequency(field, text) for field, text in word_terms(q))
    return sum(_word_postings(child, reader) for child in q.children())


class _Terms(OrderedOr):
    """The index terms a pattern matched: an OR, not one of the query's own (``expanded`` tells them apart)."""


class _Budget:
    """What the query's patterns have expanded to so far, against the bounds; each distinct pattern read once."""

    def __init__(self, reader) -> None:
        self.reader = reader
        self.terms = self.postings = self.scanned = 0
        self.expansions: dict[wq.Query, tuple[list[bytes], int]] = {}

    def expand(self, node: wq.Query, *, scored: bool) -> wq.Query:
        """``node``, or the OR of the terms it matches; counted against the bounds."""
        if isinstance(node, wq.Every) and node.fieldname is None:
            self.postings += self.reader.doc_count()
            self._check(node)
            return node
        if not isinstance(node, (wq.MultiTerm, wq.Every, wq.NumericRange)) or node.field() not in self.reader.schema \
                or isinstance(node, wq.NumericRange) and not scored:
            return node
        texts, postings = self._doc_frequencies(node)
        self.postings += postings
        self._check(node)
        if not isinstance(node, wq.MultiTerm):  # Every field, a date range scored by itself: kept, counted
            return node
        if not texts:
            return wq.NullQuery
        to_text = self.reader.schema[node.field()].from_bytes
        return _Terms([wq.Term(node.field(), to_text(btext)) for btext in texts], boost=node.boost)

    def _doc_frequencies(self, node: wq.Query) -> tuple[list[bytes], int]:
        """The terms ``node`` matches and their summed document frequencies (read once per distinct node)."""
        if node not in self.expansions:
            field = node.field()
            texts: list[bytes] = []
            postings = 0
            for btext in _expansion(node, self.reader):
                self.scanned += 1
                if self.scanned > MAX_SCANNED_TERMS:
                    raise QueryError(
                        f"query too broad: its patterns read more than {MAX_SCANNED_TERMS:,} index terms to find "
                        f"their matches (at {_label(node)}); start each pattern with a few letters (e.g. cas*)"
                    )
                if btext is not None:
                    texts.append(btext)
                    postings += self.reader.doc_frequency(field, btext)
                    self._check(node, len(texts))
            self.expansions[node] = (texts, postings)
        texts, postings = self.expansions[node]
        self.terms += len(texts)
        return texts, postings

    def _check(self, node: wq.Query, pending: int = 0) -> None:
        if self.terms + pending > MAX_EXPANDED_TERMS:
            raise QueryError(
                f"query too broad: its wildcards, prefixes and ranges match more than {MAX_EXPANDED_TERMS:,} "
                f"index terms (at {_label(node)}); narrow them: a longer prefix, a smaller range, fewer patterns"
            )
        if self.postings > MAX_EXPANDED_POSTINGS:
            raise QueryError(
                f"query too broad: its wildcards, prefixes and ranges reach more than {MAX_EXPANDED_POSTINGS:,} "
                f"postings (at {_label(node)}); narrow them: a longer prefix, a smaller range, fewer patterns, "
                "or a word instead of a pattern"
            )


def _expansion(leaf: wq.Query, reader) -> Iterator[bytes | None]:
    """The index terms ``leaf`` reads to find its matches: each one it matches, and None for each it reads and
    rejects. Nothing for a leaf of one term (or none)."""
    field = leaf.field()
    if isinstance(leaf, wq.Every) or isinstance(leaf, (wq.Prefix, wq.Wildcard)) and leaf.text in ("", "*"):
        yield from reader.lexicon(field)
    elif isinstance(leaf, wq.Prefix):
        yield from reader.expand_prefix(field, leaf.text)
    elif isinstance(leaf, wq.PatternQuery):  # Wildcard, Regex: the terms after the literal start, one by one
        pattern, start = re.compile(leaf._get_pattern()), leaf._find_prefix(leaf.text)
        to_text = reader.schema[field].from_bytes
        for btext in reader.expand_prefix(field, start) if start else reader.lexicon(field):
            yield btext if pattern.match(to_text(btext)) else None
    elif isinstance(leaf, wq.NumericRange):
        for part in leaf._compile_query(reader).leaves():
            if isinstance(part, wq.Term):
                yield part.text
            else:
                yield from _expansion(part, reader)
    else:  # TermRange (the parser makes no fuzzy terms: ``word~`` is the word)
        yield from leaf._btexts(reader)


def _label(leaf: wq.Query) -> str:
    return _one_line(leaf)[:80]
