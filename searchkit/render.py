"""Hits, passages, stats and build reports → rich Text (styled in a terminal, plain when piped) or JSON lines.

No search logic: highlights are applied with ``Text.stylize`` over the match offsets the library computed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from .models import BuildReport, Hit, IndexStats, Passage, display_path

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

    from .evaluate import Evaluation  # imports ir-measures: only `searchkit eval` pays for it

__all__ = [
    "hit_text", "hit_json", "passage_text", "passage_json", "stats_table", "stats_json", "report_text",
    "evaluation_table", "evaluation_json",
]

MATCH_STYLE = "bold black on yellow"


def _meta(passage: Passage) -> str:
    parts = [
        passage.date.isoformat() if passage.date else "undated",
        passage.source or "unknown source",
        passage.place or "",
    ]
    return " · ".join(p for p in parts if p)


def hit_text(hit: Hit) -> Text:
    """A hit as a few lines: rank, score, metadata, title, speaker, highlighted fragments, id."""
    p = hit.passage
    out = Text()
    out.append(f"{hit.rank}. ", style="bold")
    out.append(f"[{hit.score:.3f}] ", style="cyan")
    out.append(_meta(p), style="green")
    out.append("\n")
    if p.title:
        out.append(f"   {p.title}\n", style="bold")
    if p.speaker:
        out.append(f"   {p.speaker}:\n", style="magenta")
    for fragment in hit.highlights:
        line = Text("   …" if fragment.start > 0 else "   ")
        body = Text(" ".join(fragment.text.split("\n")))
        for start, end in fragment.matches:
            body.stylize(MATCH_STYLE, start, end)
        line.append_text(body)
        line.append("…" if fragment.start + len(fragment.text) < len(p.text) else "")
        out.append_text(line)
        out.append("\n")
    out.append(f"   id {p.id} · {display_path(p.path)}:{p.span[0]}-{p.span[1]}", style="dim")
    return out


def hit_json(hit: Hit) -> str:
    """One line of JSON: the contract in ``Hit.to_dict``."""
    return json.dumps(hit.to_dict(), ensure_ascii=False)


def passage_text(passage: Passage, neighbours: list[Passage]) -> Group:
    """A whole passage with all its metadata, and its neighbours in the article, abbreviated."""
    from rich.console import Group  # tables and groups: not needed to print hits
    from rich.table import Table

    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    rows = [
        ("id", passage.id),
        ("article", f"{passage.article} (passage {passage.position})"),
        ("date", passage.date.isoformat() if passage.date else "undated"),
        ("source", passage.source),
        ("place", passage.place),
        ("title", passage.title),
        ("speaker", passage.speaker),
        ("authors", ", ".join(passage.authors)),
        ("tags", ", ".join(passage.tags)),
        ("url", passage.url),
        ("file", display_path(passage.path) + (f":{passage.line}" if passage.line else "")),
        ("span", f"{passage.span[0]}-{passage.span[1]}"),
    ]
    for name, value in rows:
        if value:
            fields.add_row(name, value)
    parts: list = [fields, Text(""), Text(passage.text), Text("")]
    for other in neighbours:
        label = "previous" if other.position < passage.position else "next"
        preview = " ".join(other.text.split())
        preview = preview if len(preview) <= 160 else preview[:157] + "…"
        parts.append(Text.assemble((f"{label} ({other.id}): ", "dim bold"), (preview, "dim")))
    return Group(*parts)


def stats_table(stats: IndexStats) -> Table:
    """Counts, date range, facets, size and manifest of an index."""
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    span = f"{stats.first_date} … {stats.last_date}" if stats.first_date else "no dated passages"
    table.add_row("index", stats.path)
    table.add_row("passages", f"{stats.passages:,}")
    table.add_row("articles", f"{stats.articles:,} in {stats.files:,} files")
    table.add_row("dates", span)
    table.add_row("sources", ", ".join(f"{k} ({v})" for k, v in stats.sources.items()) or "-")
    table.add_row("places", ", ".join(f"{k} ({v})" for k, v in stats.places.items()) or "-")
    table.add_row("size", f"{stats.size_bytes / 1e6:.2f} MB")
    for key, value in sorted(stats.manifest.items()):
        table.add_row(f"manifest.{key}", json.dumps(value) if isinstance(value, dict) else str(value))
    return table


def passage_json(passage: Passage, neighbours: list[Passage]) -> str:
    """A passage and its neighbours as one line of JSON."""
    data = {**passage.to_dict(), "neighbours": [n.to_dict() for n in neighbours]}
    return json.dumps(data, ensure_ascii=False)


def stats_json(stats: IndexStats) -> str:
    data = {
        "path": stats.path,
        "passages": stats.passages,
        "articles": stats.articles,
        "files": stats.files,
        "first_date": stats.first_date.isoformat() if stats.first_date else None,
        "last_date": stats.last_date.isoformat() if stats.last_date else None,
        "sources": stats.sources,
        "places": stats.places,
        "size_bytes": stats.size_bytes,
        "manifest": stats.manifest,
    }
    return json.dumps(data, ensure_ascii=False)


def report_text(report: BuildReport, index_path: Path) -> Text:
    """The summary printed after ``searchkit index``: counts, skipped inputs with reasons, seconds."""
    out = Text()
    out.append(
        f"indexed {report.articles:,} articles, {report.passages:,} passages into {index_path} "
        f"in {report.seconds:.2f} s (files: {report.files_added} added, {report.files_replaced} replaced, "
        f"{report.files_unchanged} unchanged, {report.files_removed} removed, {len(report.skipped)} skipped)"
    )
    for skipped in report.skipped:
        out.append(f"\nskipped {skipped}", style="yellow")
    return out


def evaluation_table(evaluation: Evaluation) -> Table:
    """``searchkit eval``'s table: one row per measure, the mean over the judged queries."""
    from rich.table import Table
    table = Table(title=f"{evaluation.collection}: {evaluation.queries} judged queries")
    table.add_column("measure")
    table.add_column("mean", justify="right")
    for name, value in evaluation.metrics.items():
        table.add_row(name, f"{value:.4f}")
    return table


def evaluation_json(evaluation: Evaluation) -> str:
    """``{"collection": NAME, "queries": N, "metrics": {ir-measures name: mean}}`` on one line."""
    return json.dumps(evaluation.to_dict())
