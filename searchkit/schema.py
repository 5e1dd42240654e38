"""The Whoosh side of the contract: fields, analyzer, BM25F weighting, and Passage ↔ document dicts."""

from __future__ import annotations

from datetime import date, datetime, time

from whoosh import fields, scoring
from whoosh.analysis import IDAnalyzer, SimpleAnalyzer, StemmingAnalyzer

from .models import Passage

__all__ = ["SCHEMA", "SCHEMA_VERSION", "ANALYZER", "SEARCH_FIELDS", "weighting", "to_document", "to_passage"]

SCHEMA_VERSION = 1
"""Bumped whenever fields or analysis change: an index of another version must be rebuilt."""

ANALYZER = StemmingAnalyzer(cachesize=-1)
"""Word tokens, lower-cased, English stop words removed, Porter-stemmed; used at index and query time."""

TITLE_BOOST = 2.0
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


def weighting() -> scoring.WeightingModel:
    """BM25F with Whoosh's defaults (B=0.75, K1=1.2); the title's field boost weights it above the body."""
    return scoring.BM25F(B=0.75, K1=1.2)


def to_document(passage: Passage, path: str) -> dict:
    """The Whoosh document of a passage; ``path`` is the path as stored (see ``Index``)."""
    doc = {
        "id": passage.id,
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
