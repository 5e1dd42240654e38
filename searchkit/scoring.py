"""Scoring: the only copy of BM25F, its idf, the k3 query-term saturation and the article score.

Every scorer reads the collection statistics through one ``Statistics`` value, so that an index split into
shards scores as the whole would when it is given the whole's statistics: Whoosh's matchers (through
``BM25FWeighting``), the top-k arrays and the per-article model all call the functions below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from math import inf, log
from typing import Any, Protocol, TypeVar

from whoosh import scoring as whoosh_scoring

from .settings import Settings

__all__ = [
    "Statistics", "FrozenStatistics", "SharedFrequencies", "terms_scored_with", "idf", "bm25", "query_term_weight", "article_score", "BM25FWeighting", "BM25FScorer",
    "SEARCH_FIELDS",
]

SEARCH_FIELDS = ("title", "body")
"""The fields that plain query words search, scored by BM25F with one idf per word."""

Key = TypeVar("Key")
Number = TypeVar("Number", float, Any)  # a float, or a NumPy array of them (the top-k arrays)


class Statistics(Protocol):
    """The collection statistics a query is scored with: of one index, or of all shards of one together.

    Passage level: ``passages`` (Whoosh's count, deleted passages included until their segment is re-written),
    each field's total length, and each (field, term)'s document frequency. Article level (the per-article
    model): ``articles``, each field's total length over articles, and each term's article frequency (articles
    with the term in any search field).
    """

    @property
    def passages(self) -> int: ...

    def passage_length(self, fieldname: str) -> float:
        """The total length of ``fieldname`` over all passages."""

    def passage_frequency(self, fieldname: str, term: bytes) -> int:
        """How many passages hold ``term`` in ``fieldname``."""

    @property
    def articles(self) -> int: ...

    def article_length(self, fieldname: str) -> float:
        """The total length of ``fieldname`` over all articles (a title counted once per article)."""

    def article_frequency(self, term: bytes) -> int:
        """How many articles hold ``term`` in a search field."""

    def term_count(self, fieldname: str, term: bytes) -> float:
        """The total frequency of ``term`` in ``fieldname`` over all passages (pseudo-relevance feedback)."""


@dataclass(frozen=True, slots=True)
class FrozenStatistics:
    """Statistics as plain numbers: a snapshot, or the sum of several shards' (``combine``)."""

    passages: int
    passage_lengths: Mapping[str, float]
    passage_frequencies: Mapping[tuple[str, bytes], int]
    articles: int = 0
    article_lengths: Mapping[str, float] = field(default_factory=dict)
    article_frequencies: Mapping[bytes, int] = field(default_factory=dict)
    term_counts: Mapping[tuple[str, bytes], float] = field(default_factory=dict)

    def passage_length(self, fieldname: str) -> float:
        return self.passage_lengths.get(fieldname, 0)

    def passage_frequency(self, fieldname: str, term: bytes) -> int:
        return self.passage_frequencies.get((fieldname, term), 0)

    def article_length(self, fieldname: str) -> float:
        return self.article_lengths.get(fieldname, 0)

    def article_frequency(self, term: bytes) -> int:
        return self.article_frequencies.get(term, 0)

    def term_count(self, fieldname: str, term: bytes) -> float:
        return self.term_counts.get((fieldname, term), 0)

    @classmethod
    def combine(cls, parts: Iterable[FrozenStatistics]) -> FrozenStatistics:
        """The statistics of the union of disjoint parts (shards that share no passage and no article)."""
        passages = articles = 0
        passage_lengths: dict[str, float] = {}
        article_lengths: dict[str, float] = {}
        passage_frequencies: dict[tuple[str, bytes], int] = {}
        article_frequencies: dict[bytes, int] = {}
        term_counts: dict[tuple[str, bytes], float] = {}
        for part in parts:
            passages += part.passages
            articles += part.articles
            _add(passage_lengths, part.passage_lengths)
            _add(article_lengths, part.article_lengths)
            _add(passage_frequencies, part.passage_frequencies)
            _add(article_frequencies, part.article_frequencies)
            _add(term_counts, part.term_counts)
        return cls(passages, passage_lengths, passage_frequencies, articles, article_lengths, article_frequencies,
                   term_counts)


class SharedFrequencies:
    """``stats`` in which each word of ``shared`` (an alias of a place name, see ``places``) takes the document
    frequencies of the query word it stands for: an alias then scores as that word would, and its weight alone
    ranks it below the word, however rare the alias is."""

    def __init__(self, stats: Statistics, shared: Mapping[bytes, bytes]) -> None:
        self._stats = stats
        self._shared = shared

    @property
    def passages(self) -> int:
        return self._stats.passages

    @property
    def articles(self) -> int:  # read only when asked: a generation's article level loads its arrays
        return self._stats.articles

    def passage_length(self, fieldname: str) -> float:
        return self._stats.passage_length(fieldname)

    def passage_frequency(self, fieldname: str, term: bytes) -> int:
        if fieldname in SEARCH_FIELDS:
            term = self._shared.get(term, term)
        return self._stats.passage_frequency(fieldname, term)

    def article_length(self, fieldname: str) -> float:
        return self._stats.article_length(fieldname)

    def article_frequency(self, term: bytes) -> int:
        return self._stats.article_frequency(self._shared.get(term, term))

    def term_count(self, fieldname: str, term: bytes) -> float:
        return self._stats.term_count(fieldname, term)


def _add(totals: dict[Key, Any], values: Mapping[Key, Any]) -> None:
    for key, value in values.items():
        totals[key] = totals.get(key, 0) + value


def idf(frequency: int, documents: int) -> float:
    """The Robertson–Spärck Jones idf, ``log(1 + (N - n + 0.5) / (n + 0.5))``.

    Whoosh's own idf, ``log(N / (n + 1)) + 1``, never falls below 1, so words found in most passages still add
    a full point each and long natural-language queries drown in them.
    """
    return log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


def passage_idf(stats: Statistics, fieldname: str, term: bytes) -> float:
    """A word's idf over passages: one per word for all search fields, from its largest document frequency among
    them (as in BM25F proper; the largest is the union's lower bound, without merging postings). A headline word
    (repeated on every passage of its article) then weighs in the title what it weighs in a body."""
    names = SEARCH_FIELDS if fieldname in SEARCH_FIELDS else (fieldname,)
    return idf(max(stats.passage_frequency(name, term) for name in names), stats.passages)


def terms_scored_with(terms: Iterable[tuple[str, bytes]]) -> set[tuple[str, bytes]]:
    """The terms whose statistics score ``terms``: a word of a search field takes its idf from every search field."""
    needed: set[tuple[str, bytes]] = set()
    for fieldname, text in terms:
        needed.update((name, text) for name in SEARCH_FIELDS) if fieldname in SEARCH_FIELDS else needed.add((fieldname, text))
    return needed


def average_length(total: float, documents: int) -> float:
    """A field's average length, 1 where it is 0 (no document has the field), as Whoosh computes it."""
    return total / (documents or 1) or 1


def bm25(idf: float, tf: Number, length: Number, average: float, settings: Settings) -> Number:
    """BM25 of one term in one field: operation for operation ``whoosh.scoring.bm25`` (so that the top-k arrays,
    which call this on NumPy arrays, equal Whoosh's scores bit for bit)."""
    k1, b = settings.k1, settings.b
    return idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / average)))


def query_term_weight(repeats: int, k3: float) -> float:
    """The weight of a word written ``repeats`` times in a plain-words query: ``(k3 + 1)·n / (k3 + n)``."""
    return float(repeats) if k3 == inf else (k3 + 1) * repeats / (k3 + repeats)


def article_score(whole: Number, best_passage: Number, weight: float) -> Number:
    """An article's score: ``weight`` × its BM25F score as one document + the rest × its best passage's."""
    return weight * whole + (1 - weight) * best_passage


class BM25FWeighting(whoosh_scoring.BM25F):
    """Whoosh's BM25F scorer fed from a ``Statistics`` value (idf per word, average lengths) and ``Settings``."""

    def __init__(self, stats: Statistics, settings: Settings) -> None:
        super().__init__(B=settings.b, K1=settings.k1)
        self.stats = stats
        self.settings = settings

    def idf(self, searcher, fieldname: str, text: bytes) -> float:
        return passage_idf(self.stats, fieldname, text)

    def scorer(self, searcher, fieldname: str, text: bytes, qf: int = 1):
        if not searcher.schema[fieldname].scorable:
            return whoosh_scoring.WeightScorer.for_(searcher, fieldname, text)
        return BM25FScorer(searcher, fieldname, text, self, qf)


class BM25FScorer(whoosh_scoring.BM25FScorer):
    """Whoosh's BM25F scorer over ``bm25`` and the weighting's statistics, without block-quality skipping
    (``UnionMatcher.skip_to_quality`` can loop for ever on a float tie, which these idf values hit on wide
    wildcard unions such as ``*a*``)."""

    def __init__(self, searcher, fieldname: str, text: bytes, weighting: BM25FWeighting, qf: int) -> None:
        # Whoosh's __init__ would read the idf and average length from the searcher: set them from the statistics.
        stats = weighting.stats
        self.idf = passage_idf(stats, fieldname, text)
        self.avgfl = average_length(stats.passage_length(fieldname), stats.passages)
        self.B, self.K1, self.qf = weighting.B, weighting.K1, qf
        self.settings = weighting.settings
        self.setup(searcher, fieldname, text)

    def supports_block_quality(self) -> bool:
        return False

    def _score(self, weight: float, length: float) -> float:
        return bm25(self.idf, weight, length, self.avgfl, self.settings)
