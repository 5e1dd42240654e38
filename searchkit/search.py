"""One search through a ``Backend``: parsed query → statistics → (feedback) → ranking → passages → hits.

The same steps whatever the backend holds (one generation, or shards together): the statistics come from the
backend for the terms the query reaches there, so a sharded backend scores with the whole collection's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from whoosh import query as wq

from .backend import Backend, Counts, Ranked, Term
from .bounds import bound_patterns
from .highlight import highlight, match_terms
from .models import Hit, Results, StoryCopy
from .query import ParsedQuery, expanded, word_terms
from .scoring import SharedFrequencies, Statistics
from .settings import Settings

__all__ = ["run", "query_terms", "AUTO_MONTHS"]

AUTO_MONTHS = 36
"""``timeline="auto"`` counts by month when the matches span at most this many months, else by year."""


def run(
    backend: Backend, parsed: ParsedQuery, settings: Settings, *, limit: int, sort: str, per_article: bool,
    expand: bool, highlights: bool, offset: int = 0, facets: Sequence[str] = (), timeline: str | None = None,
    collapse: bool = False,
) -> Results:
    """The hits of ``parsed`` (validated by the caller), best first, the first ``offset`` skipped, with the count
    of all matches and, if asked for, their facets and timeline (see ``Index.search``).

    Raises:
        QueryError: the query's wildcards, prefixes or ranges reach too much of the index (``bounds``).
    """
    parsed = bound_patterns(parsed, backend.lexicon())
    stats = _statistics(backend, parsed, per_article)
    if expand:
        parsed = _expanded(backend, parsed, stats, settings, per_article)
        stats = _statistics(backend, parsed, per_article)
    ranked = backend.rank(parsed, stats, limit + offset, sort=sort, per_article=per_article, facets=facets,
                          months=timeline is not None, collapse=collapse)
    shown = ranked[offset:]
    passages = backend.passages([r.passage_id for r in shown])
    terms = match_terms(parsed.query) if highlights and shown else None
    counts = ranked.counts
    copies = _copies(backend, shown)
    return Results(
        [Hit(rank, r.score, passage, highlight(passage.text, terms) if terms is not None else (), copies[r.passage_id])
         for rank, (r, passage) in enumerate(zip(shown, passages), start=offset + 1)],
        total=counts.total,
        facets={field: _most_first(counts.facets.get(field, {})) for field in facets} if facets else None,
        timeline=_timeline(counts, timeline) if timeline is not None else None,
    )


def _most_first(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _timeline(counts: Counts, period: str) -> list[tuple[str, int]]:
    """Matches per month (``"2017-11"``) or year (``"2017"``), oldest first, every period from the first to the last
    (0 where none matched); ``auto``: by month when they span at most ``AUTO_MONTHS`` months, else by year."""
    months = sorted(counts.months.items())
    if not months:
        return []
    first, last = (int(months[i][0][:4]) * 12 + int(months[i][0][5:]) - 1 for i in (0, -1))
    if period == "month" or period == "auto" and last - first < AUTO_MONTHS:
        names = [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(first, last + 1)]
        by_period = counts.months
    else:
        names = [f"{year:04d}" for year in range(first // 12, last // 12 + 1)]
        by_period = {}
        for month, count in months:
            by_period[month[:4]] = by_period.get(month[:4], 0) + count
    return [(name, by_period.get(name, 0)) for name in names]


def _copies(backend: Backend, ranked: list[Ranked]) -> dict[str, tuple[StoryCopy, ...]]:
    """Each ranked passage's story copies (``collapse``), by passage id."""
    copies = {p.id: StoryCopy(p.article, p.source, p.date, p.id)
              for p in backend.passages([c for r in ranked for c in r.copies])}
    return {r.passage_id: tuple(copies[c] for c in r.copies) for r in ranked}


def query_terms(parsed: ParsedQuery) -> Iterator[Term]:
    """The terms of the scored part of ``parsed`` (its patterns expanded by ``bounds``): words and phrases' words."""
    for leaf in _scored_leaves(parsed.query):
        yield from word_terms(leaf)


def _statistics(backend: Backend, parsed: ParsedQuery, per_article: bool) -> Statistics:
    """The statistics of the query's terms; place-name aliases scored with their query word's (``places``)."""
    stats = backend.statistics(query_terms(parsed), articles=per_article)
    return SharedFrequencies(stats, parsed.shared) if parsed.shared else stats


def _expanded(backend: Backend, parsed: ParsedQuery, stats: Statistics, settings: Settings, per_article: bool) -> ParsedQuery:
    """``parsed`` expanded by words of its top hits (articles' best passages with ``per_article``)."""
    from . import expand as feedback  # Whoosh's classify: only for a search that expands, not at start-up

    top = backend.rank(parsed, stats, settings.feedback_hits, sort="score", per_article=per_article)
    passages = backend.passages([r.passage_id for r in top])
    counted = feedback.feedback_words(passages)
    words_stats = backend.statistics(((feedback.FIELD, word.encode("utf-8")) for word in counted), articles=False)
    words = feedback.expansion_words(words_stats, counted, words=settings.feedback_words, model=settings.feedback_model)
    return expanded(parsed, words, settings.feedback_original_weight)


def _scored_leaves(q: wq.Query) -> Iterator[wq.Query]:
    """The leaves of ``q`` that are scored: not under NOT, not the excluded side of an exclusion."""
    if isinstance(q, wq.Not):
        return
    if isinstance(q, wq.AndNot):
        yield from _scored_leaves(q.a)
        return
    if q.is_leaf():
        yield q
        return
    for child in q.children():
        yield from _scored_leaves(child)
