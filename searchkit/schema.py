"""The Whoosh side of the contract: fields, analyzer, BM25F weighting, and Passage ↔ document dicts."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, time
from collections.abc import Callable
from math import log

from whoosh import fields, scoring
from whoosh.analysis import IDAnalyzer, LowercaseFilter, RegexTokenizer, SimpleAnalyzer, StemFilter, StopFilter

from .models import Passage

__all__ = [
    "SCHEMA", "SCHEMA_VERSION", "ANALYZER", "analyze", "index_terms", "SEARCH_FIELDS", "TITLE_BOOST", "ARTICLE_WEIGHT", "K1", "B",
    "K3", "STOP_WORDS", "RobertsonBM25F", "weighting",
    "to_document", "to_passage", "indexed_id",
]

SCHEMA_VERSION = 3
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

ANALYZER = RegexTokenizer() | LowercaseFilter() | StopFilter(stoplist=STOP_WORDS) | StemFilter(lang="en", cachesize=-1)
"""Word tokens, lower-cased, stop words and one-letter tokens (a possessive's ``s``) removed, stemmed by Snowball
English (Porter2, Whoosh's own: no nltk import at query time); used at index and query time. Chosen on the tuning
collections (README, "Ranking quality"): Snowball over Porter, NLTK's stop words over Whoosh's 34."""


Tokens = Callable[[str], list[tuple[str, tuple[int, int]]]]
Terms = Callable[[str], tuple[int, list[str]]]


def _one_loop(analyzer) -> tuple[Tokens, Terms | None]:
    """``text -> [(term, (start, end))]`` as ``analyzer`` indexes it (a term's position is its list index), and
    for indexing alone, ``text -> (position of the first term, [term, ...])`` (positions run on from it).

    For Whoosh's standard stemming chain (RegexTokenizer | LowercaseFilter | StopFilter | StemFilter) the same
    steps run in one loop, configured from the analyzer's own parts: about five times faster than Whoosh's
    chain of generators, which matters for every passage indexed and every hit highlighted. Any other
    analyzer runs as it is (and has no terms-only function).
    """
    parts = getattr(analyzer, "items", ())
    if [type(p) for p in parts] != [RegexTokenizer, LowercaseFilter, StopFilter, StemFilter] or parts[0].gaps \
            or not parts[2].renumber:
        # The analyzer reuses one Token object: read each as it comes.
        return lambda text: [(t.text, (t.startchar, t.endchar)) for t in analyzer(text, chars=True, mode="index")], None
    words, stop, stemming = parts[0].expression, parts[2], parts[3]
    # The same words without capturing groups, so that ``findall`` returns them whole (no match objects).
    whole_words = re.compile(re.sub(r"(?<!\\)\((?!\?)", "(?:", words.pattern), words.flags)
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

    def terms_only(text: str) -> tuple[int, list[str]]:
        # Whoosh's StopFilter numbers the kept words on from the first one's position among all words.
        if len(terms) > _MAX_CACHED_WORDS:
            terms.clear()
        out: list[str] = []
        before = 0
        for written in whole_words.findall(text):
            found = terms.get(written, _UNSEEN)
            if found is _UNSEEN:
                found = terms[written] = term(written)
            if found is not None:
                out.append(found)
            elif not out:
                before += 1
        return before, out

    return tokens, terms_only


_UNSEEN = object()
_MAX_CACHED_WORDS = 1_000_000


analyze, index_terms = _one_loop(ANALYZER)
"""The terms of ``ANALYZER`` with their character spans, in order: what the index and the highlighter see; and
``index_terms(text)``, the same terms without spans (the first one's position, then the terms), for indexing."""

TITLE_BOOST = 1.0
"""A title word weighs as a body word (every passage repeats its article's title, so a title word already counts
in each); 2 ranked the tuning collections worse (README, "Ranking quality")."""
ARTICLE_WEIGHT = 0.7
"""Per-article ranking (``Index.search(per_article=True)``, ``searchkit eval``): an article's score is this
share of its BM25F score as one whole document plus the rest of its best passage's score (Callan, 1994)."""
K1 = 1.2
B = 0.75
"""BM25's term-frequency saturation and length normalisation: Whoosh's (and Lucene's) defaults."""
K3 = 8.0
"""BM25's query-term saturation (Robertson et al., Okapi at TREC): a word repeated n times in a plain-words query
weighs (K3 + 1)·n / (K3 + n): 1 for n = 1, 1.8 for 2, 2.45 for 3."""
SEARCH_FIELDS = ("title", "body")
"""The fields that plain query words search."""

_KEY = IDAnalyzer(lowercase=True)

SCHEMA = fields.Schema(
    id=fields.ID(stored=True, unique=True),
    article=fields.ID(stored=True),
    path=fields.ID(stored=True),
    line=fields.STORED(),
    position=fields.NUMERIC(int, stored=True, sortable=True),
    span=fields.STORED(),
    date=fields.DATETIME(stored=True, sortable=True),
    source=fields.ID(stored=True, analyzer=_KEY),
    place=fields.ID(stored=True, analyzer=_KEY),
    title=fields.TEXT(analyzer=ANALYZER, stored=True, field_boost=TITLE_BOOST),
    body=fields.TEXT(analyzer=ANALYZER, stored=True),
    speaker=fields.TEXT(analyzer=SimpleAnalyzer(), stored=True),
    tags=fields.KEYWORD(stored=True, commas=True, lowercase=True),
    authors=fields.KEYWORD(stored=True, commas=True, lowercase=True),
    url=fields.STORED(),
)


class RobertsonBM25F(scoring.BM25F):
    """BM25F with one Robertson–Spärck Jones idf per word, ``log(1 + (N - n + 0.5) / (n + 0.5))``, for all fields.

    Whoosh's own idf, ``log(N / (n + 1)) + 1``, never falls below 1, so words found in most passages ("study",
    "problem", "interested") still add a full point each and long natural-language queries drown in them; and it
    is computed per field, so a headline word (repeated on every passage of its article) weighs less in the title
    than a rare mention in a body. Here ``n`` is the word's largest document frequency over the search fields
    (as in BM25F proper, one idf per word; the largest is the union's lower bound, without merging postings).
    """

    def scorer(self, searcher, fieldname: str, text: bytes, qf: int = 1):
        # Whoosh's block-quality skipping (UnionMatcher.skip_to_quality) can loop for ever on a float tie, which
        # these idf values hit on wide wildcard unions (``*a*``): switch it off, keep the BM25FScorer (top-k arrays).
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        scorer.supports_block_quality = _never
        return scorer

    def idf(self, searcher, fieldname: str, text: bytes) -> float:
        parent = searcher.get_parent()
        fieldnames = SEARCH_FIELDS if fieldname in SEARCH_FIELDS else (fieldname,)
        n = max(parent.doc_frequency(name, text) for name in fieldnames)
        total = parent.doc_count_all()
        return log(1 + (total - n + 0.5) / (n + 0.5))


def _never() -> bool:
    return False


def weighting() -> scoring.WeightingModel:
    """BM25F (``K1``, ``B``) with one Robertson–Spärck Jones idf per word."""
    return RobertsonBM25F(B=B, K1=K1)


def to_document(passage: Passage, path: str) -> dict:
    """The Whoosh document of a passage; ``path`` is the path as stored (see ``Index``), and the id is
    ``indexed_id(passage.id, path, passage.line)``."""
    doc = {
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
