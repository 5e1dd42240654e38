"""A plain-text article file → Article: the seed variants (Kazinform ``date YYYY-MM-DD PLACE. AGENCY`` headers,
Kremlin event pages, TCA ``PLACE (TCA) —`` datelines) or any other text, furniture stripped, speakers labelled.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .articletext import (
    MAX_ARTICLE_BYTES, WORD, blank_line_blocks, decode_utf8, is_furniture, line_spans, unexpected_error,
)
from .errors import ArticleError
from .models import Article, Paragraph
from .normalise import MONTH_DAY_YEAR, normalise_place, normalise_source, parse_date

__all__ = ["read_text_article"]

# "date 2017-11-10 ASTANA. KAZINFORM Today, ..." (Kazinform)
_KAZINFORM_HEADER = re.compile(
    r"\A\s*date\s+(?P<date>\S+)\s+(?P<place>[A-Z][A-Z .'’\-]*?)\.\s+(?P<agency>[A-Z][A-Za-z.\-]+)\s+"
)
# "ASTANA (TCA) — On November 9, ..." (The Times of Central Asia)
_DATELINE = re.compile(r"(?P<place>[A-Z][A-Z .'’\-]*[A-Z])\s+\((?P<agency>[A-Za-z.\-]+)\)\s+[—–-]{1,2}\s+")
# "President of Russia Vladimir Putin: Mr Nazarbayev, ..." (a speaker label opening a transcript paragraph)
_SPEAKER = re.compile(r"(?P<label>[A-Z][^\s:.,;!?]*(?: [^\s:.,;!?]+){0,7}):\s+(?=\S)")
_NAME_WORD = re.compile(r"[A-Z][\w’'\-]+")
_TIME_LINE = re.compile(r"\d{1,2}:\d{2}")

_KREMLIN_MENU = frozenset({"events", "news", "transcripts", "photos", "videos", "press releases"})
_KREMLIN_TRAILER = ("Geography", "Topics", "Persons", "Publication status")
_SENTENCE_END = ("." , "!", "?", "…", "»", "”", '"', ":", ";", ")")


def _too_large(size: int) -> str:
    return f"too large ({size:,} bytes; an article may have at most {MAX_ARTICLE_BYTES:,})"


def read_text_article(path: str) -> Article:
    """One plain-text article file → Article; ArticleError when it is too large, binary, not UTF-8 or has no text."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_ARTICLE_BYTES:
                raise ArticleError(path, _too_large(size))
            data = f.read(MAX_ARTICLE_BYTES + 1)
    except OSError as e:
        raise ArticleError(path, f"cannot read: {e.strerror or e}") from None
    if len(data) > MAX_ARTICLE_BYTES:
        raise ArticleError(path, _too_large(len(data)))
    nul = data.find(b"\0")
    if nul >= 0:
        raise ArticleError(path, f"binary file (a NUL byte at offset {nul})")
    text = decode_utf8(path, data)
    if not text.strip():
        raise ArticleError(path, "empty file")
    if not WORD.search(text):
        raise ArticleError(path, "no article text (no words: only punctuation, symbols or control characters)")
    lines = line_spans(text)
    article_id = Path(path).stem
    try:
        # the first layout that recognises the text; any text is a plain article
        fields = (_parse_kremlin(text, lines) or _parse_kazinform(text, lines) or _parse_dateline(text, lines)
                  or _parse_plain(text, lines))
    except Exception as e:  # a layout no parser foresaw: this file is skipped, not the run
        raise ArticleError(path, unexpected_error(e)) from None
    paragraphs = tuple(p for p in fields.pop("paragraphs") if p.end > p.start)
    if not paragraphs:
        raise ArticleError(path, "no article text (only headers or site furniture)")
    return Article(id=article_id, path=path, text=text, paragraphs=paragraphs, **fields)


def _paragraphs_of_blocks(text: str, blocks: list[tuple[int, int]]) -> list[Paragraph]:
    return [Paragraph(s, e) for s, e in blocks if not is_furniture(text[s:e])]


def _parse_plain(text: str, lines: list[tuple[int, int]]) -> dict:
    """Any other text: an opening short line without a full stop, set off by a blank line, is the title."""
    blocks = blank_line_blocks(text, lines)
    title = None
    first = text[blocks[0][0]:blocks[0][1]]
    if len(blocks) > 1 and "\n" not in first and "\r" not in first and len(first) <= 200 and not first.endswith("."):
        title = first
        blocks = blocks[1:]
    return {"title": title, "paragraphs": _paragraphs_of_blocks(text, blocks)}


def _parse_kazinform(text: str, lines: list[tuple[int, int]]) -> dict | None:
    m = _KAZINFORM_HEADER.match(text)
    if m is None:
        return None
    blocks = blank_line_blocks(text, lines)
    blocks[0] = (m.end(), blocks[0][1])
    return {
        "date": parse_date(m["date"]),
        "place": normalise_place(m["place"]),
        "source": normalise_source(m["agency"]),
        "paragraphs": _paragraphs_of_blocks(text, blocks),
    }


def _parse_dateline(text: str, lines: list[tuple[int, int]]) -> dict | None:
    """A headline, then ``PLACE (AGENCY) — text``; a trailing byline + biography is metadata, not text."""
    blocks = blank_line_blocks(text, lines)
    for i, (start, end) in enumerate(blocks[:3]):
        m = _DATELINE.match(text, start, end)
        if m is not None:
            break
    else:
        return None
    title = " ".join(text[s:e] for s, e in blocks[:i]) or None
    agency = m["agency"]
    body = [(m.end(), end)] + blocks[i + 1:]
    authors: tuple[str, ...] = ()
    for j in range(1, len(body)):
        s, e = body[j]
        line = text[s:e]
        is_name = 2 <= len(line.split()) <= 4 and all(_NAME_WORD.fullmatch(w) for w in line.split())
        next_line = text[body[j + 1][0]:body[j + 1][1]] if j + 1 < len(body) else ""
        if is_name and (next_line.strip().lower() == agency.lower() or j == len(body) - 1):
            authors = (line,)
            body = body[:j]
            break
    else:
        for j, (s, e) in enumerate(body):
            if text[s:e].lower().startswith("view more articles"):
                body = body[:j]
                break
    return {
        "title": title,
        "place": normalise_place(m["place"]),
        "source": normalise_source(agency),
        "authors": authors,
        "paragraphs": _paragraphs_of_blocks(text, body),
    }


def _parse_kremlin(text: str, lines: list[tuple[int, int]]) -> dict | None:
    """A Kremlin event page: menu, title, lead, ``Month D, YYYY``, time, place, body, metadata trailer."""
    nonblank = [(s, e) for s, e in lines if e > s]
    date_at = next((i for i, (s, e) in enumerate(nonblank[:8]) if MONTH_DAY_YEAR.fullmatch(text[s:e])), None)
    if date_at is None:
        return None
    trailer_at = next(
        (i for i, (s, e) in enumerate(nonblank) if i > date_at and text[s:e] in _KREMLIN_TRAILER), None
    )
    if trailer_at is None:
        return None
    head = [text[s:e] for s, e in nonblank[:date_at]]
    menu = 0
    while menu < len(head) - 1 and head[menu].lower() in _KREMLIN_MENU:
        menu += 1
    title = head[menu] if menu < len(head) else None
    lead = nonblank[menu + 1:date_at]
    i = date_at + 1
    if i < trailer_at and _TIME_LINE.fullmatch(text[nonblank[i][0]:nonblank[i][1]]):
        i += 1
    place = None
    if i < trailer_at:
        candidate = text[nonblank[i][0]:nonblank[i][1]]
        if len(candidate.split()) <= 4 and not candidate.endswith(_SENTENCE_END):
            place, i = candidate, i + 1
    if i < trailer_at and title and text[nonblank[i][0]:nonblank[i][1]].rstrip(".") == title.rstrip("."):
        i += 1  # the photo caption repeats the title
    trailer = _kremlin_trailer([text[s:e] for s, e in nonblank[trailer_at:]])
    transcript = "transcripts" in trailer.get("Publication status", "").lower()
    body_lines = [(s, e) for s, e in lead + nonblank[i:trailer_at] if not is_furniture(text[s:e])]
    paragraphs = _join_broken_lines(text, body_lines)
    if transcript:
        paragraphs = _one_label_a_speaker([_with_speaker(text, p) for p in paragraphs], trailer.get("Persons", ()))
    published = parse_date(trailer.get("Publication date", "")) or parse_date(text[slice(*nonblank[date_at])])
    tags = tuple(trailer.get("Geography", ()) + trailer.get("Topics", ()) + trailer.get("Persons", ()))
    return {
        "title": title,
        "date": published,
        "place": place,
        "source": "Kremlin",
        "tags": tags,
        "paragraphs": paragraphs,
    }


def _kremlin_trailer(lines: list[str]) -> dict:
    """``Geography``/``Topics``/``Persons`` lists and the ``key: value`` lines of ``Publication status``."""
    out: dict = {}
    section = None
    for line in lines:
        if line in _KREMLIN_TRAILER:
            section = line
            out.setdefault(section, () if section != "Publication status" else "")
        elif section == "Publication status" or ":" in line and section is None:
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip()
            if key.strip() == "Published in sections":
                out["Publication status"] = value
        elif section is not None and not is_furniture(line):
            out[section] = out[section] + (line,)
    return out


def _join_broken_lines(text: str, lines: list[tuple[int, int]]) -> list[Paragraph]:
    """One paragraph per line, except a line that stops mid-sentence and continues in lower case."""
    paragraphs: list[Paragraph] = []
    for s, e in lines:
        if paragraphs:
            prev = paragraphs[-1]
            if not text[prev.start:prev.end].endswith(_SENTENCE_END) and text[s:e][:1].islower():
                paragraphs[-1] = Paragraph(prev.start, e)
                continue
        paragraphs.append(Paragraph(s, e))
    return paragraphs


def _one_label_a_speaker(paragraphs: list[Paragraph], persons: tuple[str, ...]) -> list[Paragraph]:
    """Each speaker of a transcript under one label: a label ending in another of its labels, or in the name of
    a person its trailer lists ("Nazarbayev Nursultan": "Nursultan Nazarbayev"), is that shorter name. (The
    Kremlin introduces a speaker with their office, "President of Russia Vladimir Putin", then names them.)"""
    names = {p.speaker for p in paragraphs if p.speaker} | {" ".join(n.split()[1:] + n.split()[:1]) for n in persons}
    names = {n for n in names if len(n.split()) >= 2}

    def named(label: str) -> str:
        return min((n for n in names if label.endswith(f" {n}")), key=len, default=label)

    return [Paragraph(p.start, p.end, named(p.speaker)) if p.speaker else p for p in paragraphs]


def _with_speaker(text: str, paragraph: Paragraph) -> Paragraph:
    """Move a leading ``Speaker Name:`` label out of the paragraph text into ``speaker``."""
    m = _SPEAKER.match(text, paragraph.start, paragraph.end)
    if m is None:
        return paragraph
    words = m["label"].split()
    if len(words) < 2 or not all(_NAME_WORD.fullmatch(w) for w in words[-2:]):
        return paragraph
    return Paragraph(m.end(), paragraph.end, m["label"])
