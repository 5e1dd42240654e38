"""Hits (with their facets and timeline), passages, stats and build reports → rich Text (styled in a terminal, plain when piped) or JSON lines.

A hit and a message are also plain text (``hit_plain``: the characters of ``hit_text``), so that a one-shot query
prints them without importing rich where its output is not a terminal; rich is imported by what returns its types.
No search logic: highlights are styled over the match offsets the library computed.
Nothing an article holds reaches the terminal as a control sequence: text is shown through ``visible`` (one
visible character for each control character, so match offsets still hold) and never parsed as rich markup;
JSON keeps the exact text, with every control character escaped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .models import Hit, Passage, display_path

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from .evaluate import Evaluation  # imports ir-measures: only `searchkit eval` pays for it
    from .models import BuildReport, IndexStats

__all__ = [
    "visible", "message", "hit_text", "hit_plain", "hit_json", "passage_text", "passage_json", "stats_table",
    "stats_json", "report_text", "evaluation_table", "evaluation_json", "facets_text", "facets_json", "timeline_text",
    "timeline_json", "suggestion_text", "suggestion_json",
]

MATCH_STYLE = "bold black on yellow"
TOP_FACETS = 10
"""How many sources and places the terminal's stats name, and values of each facet ``--facets`` names (``--json``
has them all)."""
BAR_WIDTH = 40
"""The characters of the longest bar of a timeline."""

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""What a terminal must not receive from an article: C0 controls but tab and line feed (ESC starts every escape
sequence; carriage return and backspace overwrite what was shown), DEL, C1 controls (U+009B is a one-character
CSI), the bidi embeddings, overrides and isolates (they reorder what is shown), and lone surrogates (not
encodable: a traceback)."""
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""What ``json.dumps(ensure_ascii=False)`` leaves raw (it escapes only U+0000–U+001F) that a terminal or a
JavaScript reader must not get raw; escaped as ``\\uXXXX``, the parsed text is unchanged."""


def _shown(match: re.Match) -> str:
    code = ord(match[0])
    if code == 0x0D:
        return " "  # a line end in what was read as one line: a carriage return would let the rest overwrite it
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟, the Control Pictures: ESC is shown as ␛
    return "\u2421" if code == 0x7F else "\ufffd"


def visible(text: str) -> str:
    """``text`` safe to print: each character in ``_UNSAFE`` replaced by one visible character (so offsets
    into ``text`` still hold): C0 controls by their Control Picture (ESC → ␛), carriage return by a space,
    DEL by ␡, C1 controls, bidi controls and lone surrogates by U+FFFD."""
    return _UNSAFE.sub(_shown, text)


def message(line: str) -> Text:
    """A message for stderr that may quote input (a query, a file name): ``visible``, no markup, no emoji."""
    from rich.text import Text

    return Text(visible(line))


def _json(data: object) -> str:
    """One line of JSON, UTF-8 kept readable, every character of ``_JSON_UNSAFE`` escaped."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", json.dumps(data, ensure_ascii=False))


def _meta(passage: Passage) -> str:
    parts = [
        passage.date.isoformat() if passage.date else "undated",
        passage.source or "unknown source",
        passage.place or "",
    ]
    return visible(" · ".join(p for p in parts if p))


def _hit_parts(hit: Hit) -> Iterator[tuple[str, str | None]]:
    """A hit as a few lines: rank, score, metadata, title, speaker, highlighted fragments, id; in pieces, each
    with its style (None: unstyled)."""
    p = hit.passage
    yield f"{hit.rank}. ", "bold"
    yield f"[{hit.score:.3f}] ", "cyan"
    yield _meta(p), "green"
    yield "\n", None
    if p.title:
        yield f"   {visible(p.title)}\n", "bold"
    if p.speaker:
        yield f"   {visible(p.speaker)}:\n", "magenta"
    for fragment in hit.highlights:
        yield "   …" if fragment.start > 0 else "   ", None
        body = visible(" ".join(fragment.text.split("\n")))
        shown = 0
        for start, end in fragment.matches:
            start = max(start, shown)  # overlapping matches: each character once
            if end > start:
                yield body[shown:start], None
                yield body[start:end], MATCH_STYLE
                shown = end
        yield body[shown:], None
        yield "…" if fragment.start + len(fragment.text) < len(p.text) else "", None
        yield "\n", None
    if hit.copies:
        names = ", ".join(copy.source or copy.article for copy in hit.copies)
        yield visible(f"   +{len(hit.copies)} {'copy' if len(hit.copies) == 1 else 'copies'}: {names}\n"), "yellow"
    yield visible(f"   id {p.id} · {display_path(p.path)}:{p.span[0]}-{p.span[1]}"), "dim"


def hit_text(hit: Hit) -> Text:
    """A hit as a few lines, styled: the match in each fragment marked with ``MATCH_STYLE``."""
    from rich.text import Text

    out = Text()
    for part, style in _hit_parts(hit):
        out.append(part, style=style)
    return out


def hit_plain(hit: Hit) -> str:
    """``hit_text``'s characters, without styles: what rich prints of it where output is not a terminal."""
    return "".join(part for part, _ in _hit_parts(hit))


def hit_json(hit: Hit) -> str:
    """One line of JSON: the contract in ``Hit.to_dict``."""
    return _json(hit.to_dict())


def facets_text(facets: dict[str, dict[str, int]], total: int) -> Table:
    """Each facet field's largest values with their counts, under a line saying how many matches were counted."""
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("facets", Text(f"of all {total:,} matches"))
    for name, counts in facets.items():
        table.add_row(name, Text(visible(_top_counts(counts))))  # a str cell would be read as markup
    return table


def facets_json(facets: dict[str, dict[str, int]]) -> str:
    """``{"facets": {field: {value: count}}}`` on one line."""
    return _json({"facets": facets})


def timeline_text(timeline: list[tuple[str, int]]) -> Text:
    """A bar chart of matches per period, a line each, oldest first (the longest bar ``BAR_WIDTH`` wide)."""
    from rich.text import Text

    if not timeline:
        return Text("timeline: no dated matches")
    most = max(count for _, count in timeline)
    width = len(timeline[0][0])
    out = Text(f"timeline: {sum(count for _, count in timeline):,} dated matches by {_PERIODS[width]}")
    for period, count in timeline:
        out.append(f"\n{period} ", style="bold")
        out.append("█" * max(1, round(count / most * BAR_WIDTH)) if count else "", style="cyan")
        out.append(f" {count:,}")
    return out


_PERIODS = {4: "year", 7: "month"}
"""A timeline's period by the length of its names (``2017``, ``2017-11``)."""


def timeline_json(timeline: list[tuple[str, int]]) -> str:
    """``{"timeline": [{"period": "2017-11", "count": N}, ...]}`` on one line."""
    return _json({"timeline": [{"period": period, "count": count} for period, count in timeline]})


def suggestion_text(suggestion: str) -> str:
    """``did you mean: <query>?``, the query made visible."""
    return visible(f"did you mean: {suggestion}?")


def suggestion_json(suggestion: str) -> str:
    """One line of JSON, after the hits: ``{"suggestion": <query>}``."""
    return _json({"suggestion": suggestion})


def passage_text(passage: Passage, neighbours: list[Passage]) -> Group:
    """A whole passage with all its metadata, and its neighbours in the article, abbreviated."""
    from rich.console import Group  # tables and groups: not needed to print hits
    from rich.table import Table
    from rich.text import Text

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
            fields.add_row(name, Text(visible(value)))  # a str cell would be read as markup
    parts: list = [fields, Text(""), Text(visible(passage.text)), Text("")]
    for other in neighbours:
        label = "previous" if other.position < passage.position else "next"
        preview = " ".join(other.text.split())
        preview = preview if len(preview) <= 160 else preview[:157] + "…"
        parts.append(Text.assemble((visible(f"{label} ({other.id}): "), "dim bold"), (visible(preview), "dim")))
    return Group(*parts)


def stats_table(stats: IndexStats) -> Table:
    """A summary to read: counts, date range, the largest sources and places, size, and what built the index
    (``stats_json`` has every source and place and the manifest)."""
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    manifest = stats.manifest
    span = f"{stats.first_date} … {stats.last_date}" if stats.first_date else "no dated passages"
    rows = [
        ("index", f"{stats.path} ({manifest.get('generation', '?')})"),
        ("passages", f"{stats.passages:,}"),
        ("articles", f"{stats.articles:,} in {stats.files:,} files"),
        ("dates", span),
        ("sources", _top_counts(stats.sources)),
        ("places", _top_counts(stats.places)),
        ("size", f"{stats.size_bytes / 1e6:.2f} MB"),
        ("built", f"by searchkit {manifest.get('searchkit_version', '?')} (schema {manifest.get('schema_version', '?')})"
                  f", created {manifest.get('created', '?')}, updated {manifest.get('updated', '?')}"),
    ]
    for name, value in rows:
        table.add_row(name, Text(visible(value)))  # a str cell would be read as markup
    return table


def _top_counts(counts: dict[str, int]) -> str:
    """``name (count)`` of the ``TOP_FACETS`` largest, and how many more there are."""
    shown = ", ".join(f"{name} ({count:,})" for name, count in list(counts.items())[:TOP_FACETS])
    more = len(counts) - TOP_FACETS
    return f"{shown}, and {more:,} more (--json lists them)" if more > 0 else shown or "-"


def passage_json(passage: Passage, neighbours: list[Passage]) -> str:
    """A passage and its neighbours as one line of JSON."""
    data = {**passage.to_dict(), "neighbours": [n.to_dict() for n in neighbours]}
    return _json(data)


def stats_json(stats: IndexStats) -> str:
    """The stats as one line of JSON: every source and place, and the manifest (without per-file detail)."""
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
    return _json(data)


def report_text(report: BuildReport, index_path: Path) -> Text:
    """The summary printed after ``searchkit index``: counts, skipped inputs with reasons, seconds."""
    from rich.text import Text

    out = Text()
    out.append(visible(
        f"indexed {report.articles:,} articles, {report.passages:,} passages into {index_path} "
        f"in {report.seconds:.2f} s (files: {report.files_added} added, {report.files_replaced} replaced, "
        f"{report.files_unchanged} unchanged, {report.files_removed} removed, {len(report.skipped)} skipped)"
    ))
    for skipped in report.skipped:
        out.append(visible(f"\nskipped {skipped}"), style="yellow")
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
