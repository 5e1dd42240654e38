"""One generation → IndexStats: its live passages' counts, date range, sources and places, and its size on disk."""

from __future__ import annotations

import os
from pathlib import Path

from whoosh.searching import Searcher

from . import schema
from .models import IndexStats

__all__ = ["index_stats"]


def index_stats(searcher: Searcher, path: Path, manifest: dict) -> IndexStats:
    """Counts, date range, sources and places of the live passages (those a query can find), the bytes the index
    directory at ``path`` occupies, and ``manifest`` (without per-file detail)."""
    reader = searcher.reader()
    date_field = schema.SCHEMA["date"]
    # The lexicon still holds the dates of replaced (deleted) passages: the range is of dates a live one has.
    dates = list(date_field.sortable_terms(reader, "date"))
    first = next((term for term in dates if reader.postings("date", term).is_active()), None)
    last = next((term for term in reversed(dates) if reader.postings("date", term).is_active()), None)
    counts = manifest.get("counts", {})
    return IndexStats(
        path=str(path),
        passages=searcher.doc_count(),
        articles=counts.get("articles", 0),
        files=counts.get("files", 0),
        first_date=date_field.from_bytes(first).date() if first else None,
        last_date=date_field.from_bytes(last).date() if last else None,
        sources=_facet(searcher, "source"),
        places=_facet(searcher, "place"),
        size_bytes=_occupied_bytes(path),
        manifest={k: v for k, v in manifest.items() if k != "files"},
    )


def _facet(searcher: Searcher, fieldname: str) -> dict[str, int]:
    """Live passages per value of ``fieldname``, most first, each value as stored (its term is lowercased)."""
    reader = searcher.reader()
    facet = {}
    for term in reader.lexicon(fieldname):
        count = sum(_live_frequency(leaf, fieldname, term) for leaf, _ in reader.leaf_readers())
        if count:
            facet[searcher.document(**{fieldname: term.decode("utf-8")})[fieldname]] = count
    return dict(sorted(facet.items(), key=lambda kv: (-kv[1], kv[0])))


def _live_frequency(leaf, fieldname: str, term: bytes) -> int:
    """Live passages of one segment holding ``term`` (its document frequency counts deleted ones too)."""
    if not leaf.has_deletions():
        return leaf.doc_frequency(fieldname, term)
    if (fieldname, term) not in leaf:
        return 0
    return sum(1 for _ in leaf.postings(fieldname, term).all_ids())


def _occupied_bytes(path: Path) -> int:
    """The bytes of every file under ``path``, each file once (generations share files as hard links)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(folder, name))
            except OSError:  # removed meanwhile by a writer
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total
