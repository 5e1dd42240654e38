"""Frozen records shared by every step: Passage → Hit (with Highlight, StoryCopy) and Results; Article, BuildReport
and IndexStats (``records``) too, imported when first asked for."""

from __future__ import annotations

import os
from dataclasses import dataclass
import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .records import Article, BuildReport, IndexStats, Paragraph, SkippedFile

__all__ = [
    "Passage", "Highlight", "StoryCopy", "Hit", "Results", "display_path",
    "Paragraph", "Article", "SkippedFile", "BuildReport", "IndexStats",
]


@dataclass(frozen=True, slots=True)
class Passage:
    """A searchable unit of an article: ``span`` are character offsets of ``text`` in its source."""

    id: str
    article: str
    position: int
    text: str
    span: tuple[int, int]
    path: str
    line: int | None = None
    date: datetime.date | None = None
    source: str | None = None
    place: str | None = None
    title: str | None = None
    speaker: str | None = None
    url: str | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def to_dict(self, cwd: Path | None = None) -> dict:
        """JSON-ready fields; ``path`` is relative to ``cwd`` (default: the working directory) when under it."""
        return {
            "id": self.id,
            "article": self.article,
            "position": self.position,
            "date": self.date.isoformat() if self.date else None,
            "source": self.source,
            "place": self.place,
            "title": self.title,
            "speaker": self.speaker,
            "tags": list(self.tags),
            "authors": list(self.authors),
            "url": self.url,
            "text": self.text,
            "path": display_path(self.path, cwd),
            "line": self.line,
            "span": list(self.span),
        }


@dataclass(frozen=True, slots=True)
class Highlight:
    """A fragment of a passage; ``matches`` are ``(start, end)`` offsets into ``text`` (this fragment).

    ``start`` is where the fragment begins in the passage text, so ``start + match[0]`` is a passage offset.
    """

    text: str
    start: int
    matches: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict:
        return {"text": self.text, "start": self.start, "matches": [list(m) for m in self.matches]}


@dataclass(frozen=True, slots=True)
class StoryCopy:
    """Another article of a hit's story (a copy of the same agency story) that matched: ``id`` is its best
    matching passage."""

    article: str
    source: str | None
    date: datetime.date | None
    id: str

    def to_dict(self) -> dict:
        return {"article": self.article, "source": self.source,
                "date": self.date.isoformat() if self.date else None, "id": self.id}


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked result: the passage, its rank (1-based), BM25F score and highlight fragments; with
    ``collapse``, the other matching copies of its story."""

    rank: int
    score: float
    passage: Passage
    highlights: tuple[Highlight, ...]
    copies: tuple[StoryCopy, ...] = ()

    def to_dict(self, cwd: Path | None = None) -> dict:
        """The JSON contract of one hit (see README, "JSON output"): the passage plus rank, score, highlights,
        copies."""
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            **self.passage.to_dict(cwd),
            "highlights": [h.to_dict() for h in self.highlights],
            "copies": [c.to_dict() for c in self.copies],
        }


class Results(list[Hit]):
    """The hits of one search, best first (a list of ``Hit``), and what was counted over every match.

    The counts are ``None`` unless the search asked for them (see ``Index.search``).
    """

    generation: str | None = None
    """The commit the search read (``gen-NNNNNN``, see ``store``): every hit comes from it."""

    def __init__(
        self, hits: list[Hit], *, total: int | None = None, facets: dict[str, dict[str, int]] | None = None,
        timeline: list[tuple[str, int]] | None = None, suggestion: str | None = None,
    ) -> None:
        super().__init__(hits)
        self.total = total
        """How many passages (or articles, stories) matched in all, not only those returned."""
        self.facets = facets
        """``{field: {value: count}}`` over every match, under the same filters."""
        self.timeline = timeline
        """``[(period, count), ...]`` over every match: hits per month ("2017-11") or year ("2017"), oldest first."""
        self.suggestion = suggestion
        """A query spelled as the corpus spells it, when the query's words are rare or absent ("did you mean")."""


def display_path(path: str, cwd: Path | None = None) -> str:
    """``path`` relative to ``cwd`` (default: the working directory) where it lies under it."""
    base = os.path.abspath(cwd or os.getcwd())
    full = os.path.abspath(path)
    if full == base or full.startswith(base + os.sep):
        return os.path.relpath(full, base)
    return full


_RECORDS = frozenset({"Paragraph", "Article", "SkippedFile", "BuildReport", "IndexStats"})


def __getattr__(name: str) -> Any:
    """The records of ``records``, imported when first asked for."""
    if name not in _RECORDS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import records

    return getattr(records, name)
