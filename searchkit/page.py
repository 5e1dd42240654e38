"""Results, passages and errors → the HTML pages of ``searchkit serve``, built from escaped pieces (no search logic).

Every character an article holds goes through ``_text`` (made ``visible``, then HTML-escaped); matches are marked
from the highlight offsets, never by re-parsing text. The URL holds a page's whole state (query and filters), so
each link below is a plain ``<a href>``: the pages work without JavaScript, which only adds keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from urllib.parse import urlencode

from .models import Hit, Passage, Results, display_path
from .render import visible

__all__ = ["search_page", "passage_page", "message_page", "FILTERS"]

FILTERS = ("source", "place", "speaker")
"""Facets that are filters of their own (``Index.search`` keyword arguments); a tag is a ``tags:`` clause."""
TOP_VALUES = 12
"""Values shown per facet (the most frequent)."""
BAR_STEPS = 20
"""Timeline bar heights, in CSS classes ``h0`` … ``h20`` (no inline styles: the page's policy forbids them)."""


def _text(value: object) -> str:
    """Article or user text as HTML: controls made visible (``render.visible``), then escaped (quotes too)."""
    return escape(visible(str(value)), quote=True)


def _url(path: str, state: Mapping[str, str], **changes: str | None) -> str:
    """``path`` with ``state``'s non-empty parameters, ``changes`` applied (None drops one), escaped for an
    attribute."""
    merged = {**state, **changes}
    query = urlencode([(k, v) for k, v in merged.items() if v])
    return escape(f"{path}?{query}" if query else path, quote=True)


def _document(title: str, body: str, *, query: str = "") -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)}</title>"
        '<link rel="stylesheet" href="/static/searchkit.css"></head><body>'
        '<header><a class="brand" href="/">searchkit</a>'
        '<form class="search" action="/" method="get" role="search">'
        f'<input id="q" name="q" type="search" value="{_text(query)}" placeholder="Search the archive"'
        ' aria-label="Search" autocomplete="off"><button type="submit">Search</button></form></header>'
        f"<main>{body}</main>"
        '<footer>Keys: <kbd>/</kbd> search, <kbd>j</kbd>/<kbd>k</kbd> next/previous hit, <kbd>Enter</kbd> open it'
        '</footer><script src="/static/searchkit.js" defer></script></body></html>\n'
    )


def _meta(passage: Passage) -> str:
    parts = [f'<time datetime="{passage.date.isoformat()}">{passage.date.isoformat()}</time>' if passage.date
             else '<span class="undated">undated</span>']
    for name in ("source", "place"):
        value = getattr(passage, name)
        if value:
            parts.append(f'<span class="{name}">{_text(value)}</span>')
    return " · ".join(parts)


def _fragment(hit: Hit) -> Iterable[str]:
    """Each highlight fragment as a paragraph, its matches in ``<mark>``."""
    length = len(hit.passage.text)
    for fragment in hit.highlights:
        text = " ".join(fragment.text.split("\n"))
        pieces = ["…" if fragment.start > 0 else ""]
        at = 0
        for start, end in fragment.matches:
            pieces.append(_text(text[at:start]))
            pieces.append(f"<mark>{_text(text[start:end])}</mark>")
            at = end
        pieces.append(_text(text[at:]))
        pieces.append("…" if fragment.start + len(fragment.text) < length else "")
        yield f'<p class="fragment">{"".join(pieces)}</p>'


def _hit(hit: Hit) -> str:
    p = hit.passage
    link = escape(f"/passages/{p.id}", quote=True)
    title = _text(p.title) if p.title else f"{_text(p.article)} · passage {p.position}"
    speaker = f'<p class="speaker">{_text(p.speaker)}:</p>' if p.speaker else ""
    fragments = "".join(_fragment(hit)) or f'<p class="fragment">{_text(p.text[:240])}</p>'
    copies = ", ".join(
        f'<a href="{escape(f"/passages/{c.id}", quote=True)}">{_text(c.source or c.article)}'
        f'{" " + c.date.isoformat() if c.date else ""}</a>' for c in hit.copies
    )
    also = (f'<p class="copies">+{len(hit.copies)} {"copy" if len(hit.copies) == 1 else "copies"} of this story: '
            f"{copies}</p>" if copies else "")
    return (
        f'<li class="hit" value="{hit.rank}"><div class="meta"><span class="rank">{hit.rank}</span>{_meta(p)}'
        f'<span class="score" title="BM25F score">{hit.score:.3f}</span></div>'
        f'<h2><a class="open" href="{link}">{title}</a></h2>{speaker}{fragments}{also}</li>'
    )


def _facets(facets: Mapping[str, Mapping[str, int]], state: Mapping[str, str]) -> str:
    """Each facet's most frequent values as links that apply the value as a filter, or drop it when applied."""
    out = []
    for field, counts in facets.items():
        if not counts:
            continue
        items = []
        for value, count in sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))[:TOP_VALUES]:
            if field in FILTERS:
                applied = state.get(field) == value
                href = _url("/", state, **{field: None if applied else value, "offset": None})
            else:
                clause = f'{field}:"{value}"'
                query = state.get("q", "")
                applied = clause in query
                changed = " ".join(query.replace(clause, " ").split()) if applied else f"{query} {clause}".strip()
                href = _url("/", state, q=changed, offset=None)
            mark = ' class="applied" aria-current="true"' if applied else ""
            items.append(f'<li><a{mark} href="{href}"><span class="value">{_text(value)}</span>'
                         f'<span class="count">{count:,}</span></a></li>')
        out.append(f'<section class="facet" data-field="{_text(field)}"><h3>{_text(field)}</h3>'
                   f'<ul>{"".join(items)}</ul></section>')
    return "".join(out)


def _timeline(timeline: list[tuple[str, int]], state: Mapping[str, str]) -> str:
    """Hits per period as bars; a bar narrows the dates to its period, and widens them again when applied."""
    if not timeline:
        return ""
    most = max(count for _, count in timeline) or 1
    bars = []
    for period, count in timeline:
        applied = state.get("since") == period and state.get("until") == period
        href = _url("/", state, since=None if applied else period, until=None if applied else period, offset=None)
        mark = " applied" if applied else ""
        height = round(BAR_STEPS * count / most)
        bars.append(f'<a class="bar{mark}" href="{href}" title="{_text(period)}: {count:,}" '
                    f'data-period="{_text(period)}">'
                    f'<span class="h{height}"></span></a>')
    first, last = _text(timeline[0][0]), _text(timeline[-1][0])
    by = "month" if len(timeline[0][0]) == 7 else "year"  # "2017-11" or "2017"
    return (f'<section class="timeline"><h3>By {by}</h3><div class="bars">{"".join(bars)}</div>'
            f'<div class="span"><span>{first}</span><span>{last}</span></div></section>')


def _applied(state: Mapping[str, str]) -> str:
    """The filters in force, each with a link that drops it."""
    chips = []
    for name in ("source", "place", "speaker", "since", "until"):
        if state.get(name):
            chips.append(f'<a class="chip" href="{_url("/", state, **{name: None, "offset": None})}" '
                         f'title="drop this filter">{name}: {_text(state[name])} ×</a>')
    return f'<p class="applied-filters">{"".join(chips)}</p>' if chips else ""


def _options(state: Mapping[str, str]) -> str:
    """Links that change the order (best first, newest first) and one hit per article, keeping the rest."""
    by_date = state.get("sort") == "date"
    per_article = state.get("per_article") in ("1", "true")
    order = (f'<a href="{_url("/", state, sort=None, offset=None)}">best first</a> · <b>newest first</b>' if by_date
             else f'<b>best first</b> · <a href="{_url("/", state, sort="date", per_article=None, offset=None)}">'
                  "newest first</a>")
    grouping = (f'<a class="applied" href="{_url("/", state, per_article=None, offset=None)}">one per article ×</a>'
                if per_article else
                f'<a href="{_url("/", state, per_article="1", sort=None, offset=None)}">one per article</a>')
    return f'<span class="options">{order} · {grouping}</span>'


def _pages(results: Results, state: Mapping[str, str], offset: int, limit: int) -> str:
    links = []
    if offset > 0:
        previous = _url("/", state, offset=str(offset - limit) if offset > limit else None)
        links.append(f'<a rel="prev" href="{previous}">← previous</a>')
    more = len(results) == limit and (results.total is None or offset + limit < results.total)
    if more:
        links.append(f'<a rel="next" href="{_url("/", state, offset=str(offset + limit))}">next →</a>')
    return f'<nav class="pages">{"".join(links)}</nav>' if links else ""


def search_page(
    state: Mapping[str, str], results: Results | None, *, error: str | None = None, took_ms: float | None = None,
    corpus: str = "", offset: int = 0, limit: int = 10,
) -> str:
    """The search page: the box, then the error line, or the hits with facets, timeline and pages (or, with no
    query yet, what the index holds: ``corpus``)."""
    query = state.get("q", "")
    body = []
    if error is not None:
        body.append(f'<p class="error" role="alert">{_text(error)}</p>')
    elif results is None:
        body.append(f'<p class="intro">{_text(corpus)}</p>')
    else:
        shown = (f"{results.total:,} matches" if results.total is not None else
                 f"{len(results)} hits") + (f" in {took_ms:.0f} ms" if took_ms is not None else "")
        if results.suggestion:
            suggested = _url("/", state, q=results.suggestion, offset=None)
            body.append(f'<p class="suggestion">Did you mean <a href="{suggested}">'
                        f"{_text(results.suggestion)}</a>?</p>")
        side = (_facets(results.facets, state) if results.facets else "")
        timeline = _timeline(results.timeline, state) if results.timeline else ""
        hits = "".join(_hit(hit) for hit in results)
        listing = (f'<ol class="hits" start="{offset + 1}">{hits}</ol>' if hits
                   else '<p class="none">No passages matched.</p>')
        aside = f'<aside class="facets">{side}</aside>' if side else ""
        body.append(
            f'<div class="layout{"" if side else " single"}">{aside}<section class="results">'
            f'<p class="summary">{shown}{_options(state)}</p>{_applied(state)}{timeline}{listing}'
            f'{_pages(results, state, offset, limit)}</section></div>'
        )
    title = f"{query} · searchkit" if query else "searchkit"
    return _document(title, "".join(body), query=query)


def passage_page(passage: Passage, neighbours: list[Passage]) -> str:
    """One whole passage with its metadata, source file and span, and links to its neighbours."""
    p = passage
    rows = [
        ("id", p.id), ("article", f"{p.article} (passage {p.position})"),
        ("date", p.date.isoformat() if p.date else "undated"), ("source", p.source), ("place", p.place),
        ("speaker", p.speaker), ("authors", ", ".join(p.authors)), ("tags", ", ".join(p.tags)), ("url", p.url),
        ("file", display_path(p.path) + (f":{p.line}" if p.line else "")), ("span", f"{p.span[0]}-{p.span[1]}"),
    ]
    table = "".join(f"<tr><th>{name}</th><td>{_text(value)}</td></tr>" for name, value in rows if value)
    around = []
    for other in neighbours:
        label = "previous" if other.position < p.position else "next"
        preview = " ".join(other.text.split())
        preview = preview if len(preview) <= 200 else preview[:197] + "…"
        around.append(f'<li><a rel="{label}" href="{escape(f"/passages/{other.id}", quote=True)}">'
                      f'<span class="label">{label}</span> {_text(preview)}</a></li>')
    paragraphs = "".join(f"<p>{_text(part)}</p>" for part in p.text.split("\n") if part.strip())
    body = (
        f'<article class="passage"><h1>{_text(p.title or p.article)}</h1><p class="meta">{_meta(p)}</p>'
        f'<div class="text">{paragraphs}</div><table class="fields">{table}</table>'
        f'<ul class="neighbours">{"".join(around)}</ul></article>'
    )
    return _document(f"{p.title or p.article} · searchkit", body)


def message_page(title: str, message: str) -> str:
    """A page that says one thing: not found, or an error line."""
    body = f'<h1>{_text(title)}</h1><p class="error" role="alert">{_text(message)}</p>'
    return _document(f"{title} · searchkit", body)
