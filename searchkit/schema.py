"""The Whoosh side of the contract: fields, analyzer, and Passage ↔ document dicts (scoring is ``scoring``)."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from whoosh.analysis import IDAnalyzer, LowercaseFilter, RegexTokenizer, SimpleAnalyzer, StemFilter, StopFilter

from .models import Passage
from .scoring import SEARCH_FIELDS
from .whooshcompat import english_snowball_only

if TYPE_CHECKING:
    from whoosh import fields

    SCHEMA: fields.Schema

__all__ = [
    "SCHEMA", "SCHEMA_VERSION", "ANALYZER", "analyze", "term_of", "written_words", "SEARCH_FIELDS", "STOP_WORDS",
    "to_document", "to_passage", "indexed_id",
]

SCHEMA_VERSION = 8
"""Bumped whenever fields or analysis change: an index of another version must be rebuilt."""

STOP_WORDS = frozenset("""
about above after again against all am an and any are as at be because been before being below between both but by
can did do does doing down during each few for from further had has have having he her here hers herself him
himself his how if in into is it its itself just me more most my myself no nor not now of off on once only or other
our ours ourselves out over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which while who whom why will
with you your yours yourself yourselves
""".split())
"""NLTK's English stop words, less the pieces of "n't" contractions it lists ("didn", "won", "don"): "won" and
"Don" are words in news. Unlike Whoosh's list it keeps "us" (the US) and "may" (the month). One-letter tokens
are dropped anyway."""

with english_snowball_only():  # StemFilter(lang="en") would otherwise import Whoosh's 14 Snowball languages
    ANALYZER = (RegexTokenizer() | LowercaseFilter() | StopFilter(stoplist=STOP_WORDS)
                | StemFilter(lang="en", cachesize=-1))
"""Word tokens, lower-cased, stop words and one-letter tokens (a possessive's ``s``) removed, stemmed by Snowball
English (Porter2, Whoosh's own: no nltk import at query time); used at index and query time. Chosen on the tuning
collections (README, "Ranking quality"): Snowball over Porter, NLTK's stop words over Whoosh's 34."""


Tokens = Callable[[str], list[tuple[str, tuple[int, int]]]]
TermOf = Callable[[str], str | None]


def _one_loop(analyzer) -> tuple[Tokens, TermOf | None]:
    """``text -> [(term, (start, end))]`` as ``analyzer`` indexes it (a term's position is its list index), and
    for indexing alone, ``word -> term`` of one word token as written (``None`` for a word the analyzer drops).

    For Whoosh's standard stemming chain (RegexTokenizer | LowercaseFilter | StopFilter | StemFilter) the same
    steps run in one loop, configured from the analyzer's own parts: about five times faster than Whoosh's
    chain of generators, which matters for every passage indexed and every hit highlighted. Any other
    analyzer runs as it is (and has no word-to-term function).
    """
    parts: Any = getattr(analyzer, "items", ())
    if [type(p) for p in parts] != [RegexTokenizer, LowercaseFilter, StopFilter, StemFilter] or parts[0].gaps \
            or not parts[2].renumber:
        # The analyzer reuses one Token object: read each as it comes.
        return lambda text: [(t.text, (t.startchar, t.endchar)) for t in analyzer(text, chars=True, mode="index")], None
    words, stop, stemming = parts[0].expression, parts[2], parts[3]
    stops, shortest, longest, unstemmed, stem = stop.stops, stop.min, stop.max, stemming.ignore, stemming._stem
    terms: dict[str, str | None] = {}  # a word as written → its term, or None for a stop word

    def term(written: str) -> str | None:
        word = written.lower()
        if len(word) < shortest or longest is not None and len(word) > longest or word in stops:
            return None
        return word if word in unstemmed else stem(word)

    def tokens(text: str) -> list[tuple[str, tuple[int, int]]]:
        if len(terms) > _MAX_CACHED_WORDS:
            terms.clear()
        out = []
        for m in words.finditer(text):
            written = m.group()
            found = terms.get(written, _UNSEEN)
            if found is _UNSEEN:
                found = terms[written] = term(written)
            if found is not None:
                out.append((found, m.span()))
        return out

    def cached_term(written: str) -> str | None:
        found = terms.get(written, _UNSEEN)
        if found is _UNSEEN:
            if len(terms) > _MAX_CACHED_WORDS:
                terms.clear()
            found = terms[written] = term(written)
        return found

    return tokens, cached_term


def _whole(words: re.Pattern) -> re.Pattern:
    """The same words without capturing groups, so that ``findall`` returns them whole (no match objects)."""
    return re.compile(re.sub(r"(?<!\\)\((?!\?)", "(?:", words.pattern), words.flags)


_UNSEEN: Any = object()
_MAX_CACHED_WORDS = 1_000_000


analyze, _term_of = _one_loop(ANALYZER)
"""``analyze(text)``: the terms of ``ANALYZER`` with their character spans, in order: what the index and the
highlighter see."""
if _term_of is None:  # ANALYZER is the standard chain, which ``_one_loop`` always reads in one loop
    raise TypeError("schema.ANALYZER is not the standard stemming chain")
term_of: TermOf = _term_of
"""``term_of(word)``: the term ``ANALYZER`` makes of one word token as written (``None``: a stop word or a
one-letter word), kept for the words seen (as ``analyze`` keeps them); the indexer (``segments``) applies it once
per distinct word of a segment, ``highlight`` to the words that may match a query term."""
written_words: Callable[[str], list[str]] = _whole(ANALYZER.items[0].expression).findall
"""Every word token of a text as written (stop words too), as ``ANALYZER``'s tokenizer finds them: ``ANALYZER``
keeps those whose ``term_of`` is not ``None``, numbering them on from the first one's position among all words."""


def __getattr__(name: str) -> Any:
    """``SCHEMA``, made when first asked for: reading an index without Whoosh's searcher (``direct``) analyses text
    and rebuilds passages, and Whoosh's fields take it some milliseconds to import."""
    if name != "SCHEMA":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    global SCHEMA
    SCHEMA = _schema()
    return SCHEMA


def _schema() -> fields.Schema:
    """The fields of a passage as Whoosh indexes and stores them: the text fields' positions as
    ``CompactPositions``, the date tiered every ``DATE_SHIFT_STEP`` bits."""
    from whoosh import fields

    from .positions import CompactPositions

    def text(analyzer) -> fields.TEXT:
        field = fields.TEXT(analyzer=analyzer, stored=True)
        field.format = CompactPositions(field_boost=field.format.field_boost)
        return field

    date = fields.DATETIME(stored=True, sortable=True)
    date.shift_step = DATE_SHIFT_STEP
    key = IDAnalyzer(lowercase=True)
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        article=fields.ID(stored=True),
        path=fields.ID(stored=True),
        line=fields.STORED(),
        position=fields.NUMERIC(int, stored=True, sortable=True),
        span=fields.STORED(),
        date=date,
        source=fields.ID(stored=True, analyzer=key),
        place=fields.ID(stored=True, analyzer=key),
        title=text(ANALYZER),
        body=text(ANALYZER),
        speaker=text(SimpleAnalyzer()),
        tags=fields.KEYWORD(stored=True, commas=True, lowercase=True),
        authors=fields.KEYWORD(stored=True, commas=True, lowercase=True),
        url=fields.STORED(),
    )


DATE_SHIFT_STEP = 40
"""The date field's trie levels: every 40 bits of its microseconds (a day is 2^36), so each date is indexed at two
levels, the day and about 12.7 days. Whoosh's default of 8 bits indexed each date at eight levels, five of them
(shifts 0 to 32, none coarser than a day) with the same postings; a range of days expands to as many terms at
either step (the coarse terms inside it, the days at its edges)."""


def to_document(passage: Passage, path: str) -> dict:
    """The Whoosh document of a passage; ``path`` is the path as stored (see ``Index``), and the id is
    ``indexed_id(passage.id, path, passage.line)``."""
    doc: dict[str, Any] = {
        "id": indexed_id(passage.id, path, passage.line),
        "article": passage.article,
        "path": path,
        "line": passage.line,
        "position": passage.position,
        "span": passage.span,
        "body": passage.text,
        "url": passage.url,
    }
    if passage.date is not None:
        doc["date"] = datetime.combine(passage.date, time())
    for name in ("source", "place", "title", "speaker"):
        value = getattr(passage, name)
        if value:
            doc[name] = value
    if passage.tags:
        doc["tags"] = ",".join(passage.tags)
    if passage.authors:
        doc["authors"] = ",".join(passage.authors)
    return doc


def indexed_id(passage_id: str, path: str, line: int | None) -> str:
    """A passage's id in the index: its id within its article, scoped by the stored path and the line (two
    files, or two lines of one, may hold the same article id and text); 16 hex digits, the same at every build
    of the same inputs."""
    import hashlib  # here: OpenSSL's hashes take a search that never builds a few milliseconds to load

    return hashlib.blake2b(f"{path}\x1f{line}\x1f{passage_id}".encode(), digest_size=8).hexdigest()


def to_passage(stored: dict, path: str) -> Passage:
    """Rebuild a Passage from a document's stored fields; ``path`` as the caller resolves it."""
    when = stored.get("date")
    return Passage(
        id=stored["id"],
        article=stored["article"],
        position=stored["position"],
        text=stored["body"],
        span=tuple(stored["span"]),
        path=path,
        line=stored.get("line"),
        date=when.date() if isinstance(when, datetime) else when if isinstance(when, date) else None,
        source=stored.get("source"),
        place=stored.get("place"),
        title=stored.get("title"),
        speaker=stored.get("speaker"),
        url=stored.get("url"),
        authors=tuple(stored["authors"].split(",")) if stored.get("authors") else (),
        tags=tuple(stored["tags"].split(",")) if stored.get("tags") else (),
    )
