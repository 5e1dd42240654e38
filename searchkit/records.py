"""Frozen records of the write side and of stats: Article (with its Paragraphs), BuildReport (with SkippedFile)
and IndexStats. ``models`` re-exports them, imported when first asked for: a query does not pay for making their
classes (a dataclass's methods are compiled as it is made: about a millisecond each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

__all__ = ["Paragraph", "Article", "SkippedFile", "BuildReport", "IndexStats"]


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A run of body text: ``Article.text[start:end]``, with the speaker it opens with (transcripts)."""

    start: int
    end: int
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """One news article as read from a file, with its metadata and the body paragraphs of ``text``.

    ``text`` is what the offsets point into: the whole decoded file for plain-text articles,
    the ``text`` value of the JSON object for JSON Lines (then ``line`` is its 1-based line).
    """

    id: str
    path: str
    text: str
    paragraphs: tuple[Paragraph, ...]
    line: int | None = None
    date: date | None = None
    source: str | None = None
    place: str | None = None
    title: str | None = None
    url: str | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """An input that was not indexed (or one bad line of it), and why."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What one ``Index.build`` / ``Index.update`` run did."""

    articles: int
    passages: int
    files_added: int
    files_replaced: int
    files_unchanged: int
    files_removed: int
    skipped: tuple[SkippedFile, ...] = field(default=())
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class IndexStats:
    """Counts and facets of an index's live passages, the bytes its directory occupies, and its manifest."""

    path: str
    passages: int
    articles: int
    files: int
    first_date: date | None
    last_date: date | None
    sources: dict[str, int]
    places: dict[str, int]
    size_bytes: int
    manifest: dict
