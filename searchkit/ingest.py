"""Article files → Article: format sniffing, metadata (dates, places, sources, tags), furniture stripping.

Two formats: plain-text articles (the seed variants: Kazinform ``date YYYY-MM-DD PLACE. AGENCY`` headers,
Kremlin event pages, TCA ``PLACE (TCA) —`` datelines, or any other text) and JSON Lines, one article per line
(ended by ``\n``, ``\r\n`` or a lone ``\r``); a bad line is skipped with its reason, the rest of the file read.
Offsets in ``Article.paragraphs`` index ``Article.text`` exactly; nothing is rewritten.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

from . import store
from .errors import ArticleError
from .models import Article, Paragraph

__all__ = ["read_articles", "normalise_source", "parse_date", "iter_input_files", "JSONL_SUFFIXES"]

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
MAX_ARTICLE_BYTES = 2 * 1024 * 1024
"""A text file or JSON line larger than this is skipped: no news article is, and splitting one costs minutes."""
MAX_LINE_ERRORS = 100
"""Bad lines reported one by one per file; the rest are counted in one last report."""
_SNIFF_BYTES = 8192

# Canonical agency name → spellings seen in bylines, datelines and JSON feeds (compared case-insensitively).
_AGENCIES: dict[str, tuple[str, ...]] = {
    "Kazinform": ("kazinform", "kazinform international news agency", "inform.kz", "kazakhstan today"),
    "Kremlin": ("kremlin", "kremlin.ru", "president of russia", "en.kremlin.ru"),
    "The Times of Central Asia": ("the times of central asia", "times of central asia", "tca", "timesca.com"),
    "Reuters": ("reuters", "thomson reuters"),
    "TASS": ("tass", "itar-tass"),
    "RIA Novosti": ("ria novosti", "ria"),
    "Interfax": ("interfax", "interfax-kazakhstan"),
    "Associated Press": ("associated press", "ap"),
    "Agence France-Presse": ("agence france-presse", "afp"),
    "Xinhua": ("xinhua",),
    "Akorda": ("akorda", "akorda.kz"),
    "Tengrinews": ("tengrinews", "tengri news"),
}
_ALIAS_TO_AGENCY = {alias: name for name, aliases in _AGENCIES.items() for alias in aliases}

_MONTHS = ("january february march april may june july august september october november december").split()
_MONTH_DAY_YEAR = re.compile(
    r"(?P<month>" + "|".join(_MONTHS) + r")\s+(?P<day>\d{1,2}),\s*(?P<year>\d{4})", re.IGNORECASE
)
_ISO_DATE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})")

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
_WORD = re.compile(r"\w")
"""An article needs one word character (what the analyzer's tokens are made of) to be searchable."""

# Lines that are site furniture wherever they appear: short, with no sentence in them ("Subscribe to our
# channel" is furniture, "Subscribers to the service grew. ..." is text).
_FURNITURE = re.compile(
    r"(?:\*\s*){3}|<\s*(?:…|\.\.\.)\s*>|divider|text version|view more articles[^.!?]{0,60}|share|print|"
    r"(?:back to|go to) top|advertisement|subscribe\b[^.!?]{0,80}",
    re.IGNORECASE,
)
_KREMLIN_MENU = frozenset({"events", "news", "transcripts", "photos", "videos", "press releases"})
_KREMLIN_TRAILER = ("Geography", "Topics", "Persons", "Publication status")
_SENTENCE_END = ("." , "!", "?", "…", "»", "”", '"', ":", ";", ")")


def read_articles(path: str | os.PathLike, on_error: Callable[[ArticleError], None] | None = None) -> Iterator[Article]:
    """Yield the articles of one file: one for a text article, one per line for JSON Lines.

    Raises:
        ArticleError: the whole file is unreadable, empty, binary or not UTF-8. A bad line of a JSON Lines
            file (any failure to read it as an article, see ``_article_of_json``) is passed to ``on_error``
            instead (raised when ``on_error`` is None) and the rest is read.
    """
    path_str = os.fspath(path)
    try:
        with open(path_str, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError as e:
        raise ArticleError(path_str, f"cannot read: {e.strerror or e}") from None
    opens_object = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")
    jsonl = Path(path_str).suffix.lower() in JSONL_SUFFIXES
    # A NUL in a JSON Lines file spoils one line (reported as such), not the whole file.
    if b"\0" in head and not (jsonl and opens_object):
        raise ArticleError(path_str, "binary file (contains NUL bytes)")
    if jsonl or opens_object:
        yield from _read_jsonl(path_str, on_error)
    else:
        yield _read_text_article(path_str)


def iter_input_files(
    paths: list[str | os.PathLike],
    on_error: Callable[[str, str], None] | None = None,
    *,
    exclude: Iterable[str | os.PathLike] = (),
) -> Iterator[str]:
    """Every regular file under ``paths`` (folders recursively, hidden entries and folder links skipped),
    sorted, each once.

    Searchkit index directories are never inputs: one met in a folder is skipped silently (an index kept
    beside its articles, as ``searchkit index .`` with ``./index``), and so is each folder of ``exclude``
    (the index being written). A given path in one, unreadable folders, broken or looping links, pipes,
    sockets or devices, and names that are not valid UTF-8 are passed to ``on_error(path, reason)`` (ignored
    when None): reading a pipe would block the run.
    """
    def report(path: str, reason: str) -> None:
        if on_error is not None:
            on_error(path, reason)

    def walk_error(error: OSError) -> None:
        report(error.filename, f"cannot read: {error.strerror or error}")

    excluded = {os.path.realpath(os.fspath(p)) for p in exclude}

    def is_index(folder: str) -> bool:
        return os.path.realpath(folder) in excluded or _is_index_directory(folder)

    seen: set[tuple[int, int]] = set()
    for given in paths:
        p = os.fspath(given)
        if not _is_utf8(p):
            report(p, _NOT_UTF8_NAME)
            continue
        holder = _index_holding(p, is_index)
        if holder is not None:
            report(p, f"in the searchkit index {holder}: an index is never an input")
            continue
        if os.path.isdir(p):
            found: list[str] = []
            for root, dirs, files in os.walk(p, onerror=walk_error, followlinks=False):
                kept = []
                for d in sorted(dirs):
                    if d.startswith("."):
                        continue
                    if not _is_utf8(d):
                        report(os.path.join(root, d), _NOT_UTF8_NAME)
                    elif not is_index(os.path.join(root, d)):
                        kept.append(d)
                dirs[:] = kept
                for name in files:
                    if name.startswith("."):
                        continue
                    if _is_utf8(name):
                        found.append(os.path.join(root, name))
                    else:
                        report(os.path.join(root, name), _NOT_UTF8_NAME)
            candidates = sorted(found)
        else:
            candidates = [p]
        for c in candidates:
            try:
                status = os.stat(c)
            except OSError as e:
                report(c, f"cannot read: {e.strerror or e}")
                continue
            if not stat.S_ISREG(status.st_mode):
                report(c, "not a regular file (a pipe, socket or device)")
                continue
            file_id = (status.st_dev, status.st_ino)  # one file reached by links, hard links or two paths
            if file_id not in seen:
                seen.add(file_id)
                yield c


_NOT_UTF8_NAME = "file name is not valid UTF-8 (rename it to index it)"
_GENERATION_DIR = re.compile(r"gen-\d{6,}")
"""The names of an index's generation folders (see ``store``)."""


def _is_utf8(name: str) -> bool:
    """Whether a file name (as Python decodes it, undecodable bytes as lone surrogates) is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_index_directory(folder: str) -> bool:
    """Whether ``folder`` is laid out as a searchkit index: ``CURRENT`` (or, while its first build runs, the
    writer's lock) beside generation folders, or the older layout's manifest."""
    if os.path.isfile(os.path.join(folder, store.CURRENT)) or os.path.isfile(os.path.join(folder, store.WRITER_LOCK)):
        try:
            names = os.listdir(folder)
        except OSError:
            return False
        return any(_GENERATION_DIR.fullmatch(n) and os.path.isdir(os.path.join(folder, n)) for n in names)
    return os.path.isfile(os.path.join(folder, store.MANIFEST)) and store.is_older_layout(Path(folder))


def _index_holding(path: str, is_index: Callable[[str], bool]) -> str | None:
    """The index folder that ``path`` is (or lies in, links resolved), or None."""
    here = os.path.realpath(path)
    while True:
        if is_index(here):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def normalise_source(name: str | None) -> str | None:
    """Map an agency name as written (any case, a typo, an abbreviation) to its canonical name.

    >>> normalise_source("KAZIFORM")
    'Kazinform'
    """
    if name is None:
        return None
    key = " ".join(name.split()).strip(" .,").lower()
    if not key:
        return None
    if key in _ALIAS_TO_AGENCY:
        return _ALIAS_TO_AGENCY[key]
    close = difflib.get_close_matches(key, _ALIAS_TO_AGENCY, n=1, cutoff=0.8)
    if close and len(key) > 3:
        return _ALIAS_TO_AGENCY[close[0]]
    return " ".join(name.split())


def parse_date(value: object) -> date | None:
    """An ISO 8601 date or datetime, or ``Month D, YYYY``; None when absent or not a real date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    m = _ISO_DATE.match(text) or _MONTH_DAY_YEAR.match(text)
    if m is None:
        return None
    month = m["month"]
    month_number = int(month) if month.isdigit() else _MONTHS.index(month.lower()) + 1
    try:
        return date(int(m["year"]), month_number, int(m["day"]))
    except ValueError:
        return None


def _decode(path: str, data: bytes, line: int | None = None) -> str:
    """UTF-8 text, without the BOM it may open with (any JSON line may: files concatenated with cat keep theirs)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ArticleError(path, f"not UTF-8 (invalid byte 0x{data[e.start]:02x} at offset {e.start})", line) from None


def _place(raw: str) -> str:
    """``NUR-SULTAN`` → ``Nur-Sultan``; mixed-case names are kept as written."""
    raw = " ".join(raw.split()).strip(" .,")
    return raw.title() if raw.isupper() else raw


# --- plain-text articles -----------------------------------------------------------------------------------

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


def _lines(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each line's content, line terminators excluded, whitespace trimmed."""
    spans = []
    for m in _LINE.finditer(text):
        if m.start() == len(text) and m.end() == m.start():
            break
        start, end = m.start(), m.end()
        while end > start and text[end - 1] in "\r\n":
            end -= 1
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        spans.append((start, end))
    return spans


def _blocks(text: str, lines: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Blank-line separated blocks of lines, as ``(start, end)`` spans."""
    blocks, current = [], None
    for start, end in lines:
        if start == end:
            if current:
                blocks.append(current)
            current = None
        elif current is None:
            current = (start, end)
        else:
            current = (current[0], end)
    if current:
        blocks.append(current)
    return blocks


def _is_furniture(line: str) -> bool:
    return bool(_FURNITURE.fullmatch(line.strip()))


def _too_large(size: int) -> str:
    return f"too large ({size:,} bytes; an article may have at most {MAX_ARTICLE_BYTES:,})"


def _read_text_article(path: str) -> Article:
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
    text = _decode(path, data)
    if not text.strip():
        raise ArticleError(path, "empty file")
    if not _WORD.search(text):
        raise ArticleError(path, "no article text (no words: only punctuation, symbols or control characters)")
    lines = _lines(text)
    article_id = Path(path).stem
    try:
        for parse in (_parse_kremlin, _parse_kazinform, _parse_dateline, _parse_plain):
            fields = parse(text, lines)
            if fields is not None:
                break
    except Exception as e:  # a layout no parser foresaw: this file is skipped, not the run
        raise ArticleError(path, unexpected_error(e)) from None
    paragraphs = tuple(p for p in fields.pop("paragraphs") if p.end > p.start)
    if not paragraphs:
        raise ArticleError(path, "no article text (only headers or site furniture)")
    return Article(id=article_id, path=path, text=text, paragraphs=paragraphs, **fields)


def _paragraphs_of_blocks(text: str, blocks: list[tuple[int, int]]) -> list[Paragraph]:
    return [Paragraph(s, e) for s, e in blocks if not _is_furniture(text[s:e])]


def _parse_plain(text: str, lines: list[tuple[int, int]]) -> dict:
    """Any other text: an opening short line without a full stop, set off by a blank line, is the title."""
    blocks = _blocks(text, lines)
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
    blocks = _blocks(text, lines)
    blocks[0] = (m.end(), blocks[0][1])
    return {
        "date": parse_date(m["date"]),
        "place": _place(m["place"]),
        "source": normalise_source(m["agency"]),
        "paragraphs": _paragraphs_of_blocks(text, blocks),
    }


def _parse_dateline(text: str, lines: list[tuple[int, int]]) -> dict | None:
    """A headline, then ``PLACE (AGENCY) — text``; a trailing byline + biography is metadata, not text."""
    blocks = _blocks(text, lines)
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
        "place": _place(m["place"]),
        "source": normalise_source(agency),
        "authors": authors,
        "paragraphs": _paragraphs_of_blocks(text, body),
    }


def _parse_kremlin(text: str, lines: list[tuple[int, int]]) -> dict | None:
    """A Kremlin event page: menu, title, lead, ``Month D, YYYY``, time, place, body, metadata trailer."""
    nonblank = [(s, e) for s, e in lines if e > s]
    date_at = next((i for i, (s, e) in enumerate(nonblank[:8]) if _MONTH_DAY_YEAR.fullmatch(text[s:e])), None)
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
    body_lines = [(s, e) for s, e in lead + nonblank[i:trailer_at] if not _is_furniture(text[s:e])]
    paragraphs = _join_broken_lines(text, body_lines)
    if transcript:
        paragraphs = [_with_speaker(text, p) for p in paragraphs]
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
        elif section is not None and not _is_furniture(line):
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


def _with_speaker(text: str, paragraph: Paragraph) -> Paragraph:
    """Move a leading ``Speaker Name:`` label out of the paragraph text into ``speaker``."""
    m = _SPEAKER.match(text, paragraph.start, paragraph.end)
    if m is None:
        return paragraph
    words = m["label"].split()
    if len(words) < 2 or not all(_NAME_WORD.fullmatch(w) for w in words[-2:]):
        return paragraph
    return Paragraph(m.end(), paragraph.end, m["label"])


# --- JSON Lines --------------------------------------------------------------------------------------------


_READ_BYTES = 1 << 16
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""What a surrogate looks like escaped in a JSON line: only lines holding one are searched for a lone one."""
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "true or false", type(None): "null"}


def _read_jsonl(path: str, on_error: Callable[[ArticleError], None] | None) -> Iterator[Article]:
    """One article per line, streamed: memory holds one line (at most ``MAX_ARTICLE_BYTES``) at a time."""
    errors = 0

    def report(error: ArticleError) -> None:
        nonlocal errors
        errors += 1
        if on_error is None:
            raise error
        if errors <= MAX_LINE_ERRORS:
            on_error(error)

    stem = Path(path).stem
    any_line = False
    number = 0
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ArticleError(path, f"cannot read: {e.strerror or e}") from None
    try:
        with f:
            for number, raw in enumerate(_bounded_lines(f), start=1):
                if raw is None:
                    any_line = True
                    report(ArticleError(path, f"line too long (an article may have at most {MAX_ARTICLE_BYTES:,} bytes)", number))
                    continue
                if not raw.strip():
                    continue
                any_line = True
                try:
                    article = _article_of_json(path, stem, number, raw)
                except ArticleError as e:
                    report(e)
                    continue
                except Exception as e:  # whatever one line breaks in the reader, the rest of the file is read
                    report(ArticleError(path, unexpected_error(e), number))
                    continue
                yield article
    except OSError as e:
        report(ArticleError(path, f"cannot read: {e.strerror or e}", number + 1))
    if errors > MAX_LINE_ERRORS:
        on_error(ArticleError(path, f"{errors - MAX_LINE_ERRORS:,} more bad lines (only the first {MAX_LINE_ERRORS} are listed)"))
    if not any_line:
        raise ArticleError(path, "empty file")


def _bounded_lines(f) -> Iterator[bytes | None]:
    """The lines of a binary file, ended by ``\\n``, ``\\r\\n`` or a lone ``\\r`` (ends excluded); None for a line
    longer than ``MAX_ARTICLE_BYTES``, which is skipped unkept."""
    parts: list[bytes] = []  # the current line so far (dropped once it is too long)
    size = 0
    pending_lf = False  # the last chunk ended in "\r": a "\n" opening the next one belongs to that line end
    while chunk := f.read(_READ_BYTES):
        if pending_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        pending_lf = chunk.endswith(b"\r")
        for piece in chunk.splitlines(keepends=True):
            body = piece.rstrip(b"\r\n")
            size += len(body)
            if size <= MAX_ARTICLE_BYTES:
                parts.append(body)
            elif parts:
                parts.clear()
            if len(body) < len(piece):
                yield b"".join(parts) if size <= MAX_ARTICLE_BYTES else None
                parts.clear()
                size = 0
    if size:
        yield b"".join(parts) if size <= MAX_ARTICLE_BYTES else None


def _article_of_json(path: str, stem: str, number: int, raw: bytes) -> Article:
    """One JSON Lines line → Article. The line is skipped (ArticleError) when it is not a JSON object of valid
    Unicode with article text; metadata of the wrong type (an object for a title, null, NaN) is left out."""
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ArticleError(path, f"binary data (a NUL byte at column {nul + 1})", number)
    try:
        obj = json.loads(_decode(path, raw, number), parse_constant=_absent, parse_int=_json_int)
    except json.JSONDecodeError as e:
        raise ArticleError(path, f"malformed JSON ({e.msg} at column {e.colno})", number) from None
    except RecursionError:
        raise ArticleError(path, "malformed JSON (nested too deeply)", number) from None
    if not isinstance(obj, dict):
        raise ArticleError(path, f"expected a JSON object, got {_json_type(obj)}", number)
    if _SURROGATE_ESCAPE.search(raw):
        where = _lone_surrogate(obj)
        if where is not None:
            raise ArticleError(path, f"invalid Unicode: a lone surrogate (\\ud800-\\udfff escape) {where}", number)
    text = obj.get("text")
    if text is not None and not isinstance(text, str):
        raise ArticleError(path, f"'text' is {_json_type(text)}, expected a string", number)
    if not text or not text.strip():
        raise ArticleError(path, "missing or empty 'text'", number)
    if not _WORD.search(text):
        raise ArticleError(path, "no article text (no words: only punctuation, symbols or control characters)", number)
    paragraphs = tuple(Paragraph(s, e) for s, e in _blocks(text, _lines(text)) if not _is_furniture(text[s:e]))
    if not paragraphs:
        raise ArticleError(path, "no article text (only site furniture)", number)
    article_id = obj.get("id")
    return Article(
        id=_id_text(article_id) or f"{stem}:{number}",
        path=path,
        text=text,
        paragraphs=paragraphs,
        line=number,
        date=parse_date(obj.get("date")),
        source=normalise_source(_str_or_none(obj.get("source"))),
        place=_str_or_none(obj.get("place")),
        title=_str_or_none(obj.get("title")),
        url=_str_or_none(obj.get("url")),
        authors=_str_tuple(obj.get("authors")),
        tags=_str_tuple(obj.get("tags")),
    )


def unexpected_error(error: BaseException) -> str:
    """A one-line reason for an error no check foresaw (its type and message, at most 200 characters)."""
    message = " ".join(str(error).split()).encode("utf-8", "backslashreplace").decode("utf-8")
    message = message if len(message) <= 200 else message[:199] + "…"
    return f"cannot be indexed ({type(error).__name__}{': ' + message if message else ''})"


def _absent(constant: str) -> None:
    """``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, but Python's json writes them) read as null."""
    return None


def _json_int(digits: str) -> int | None:
    """An integer; None (as null) for one too long for Python to convert (``sys.int_info.str_digits_check_threshold``)."""
    try:
        return int(digits)
    except ValueError:
        return None


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), "a number")


def _lone_surrogate(obj: dict) -> str | None:
    """Where in ``obj`` (keys too, at any depth) a string holds a lone surrogate: ``in 'field'``; None if nowhere."""
    for key, value in obj.items():
        if _SURROGATE.search(key):
            return "in a key"
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                found = _SURROGATE.search(item) is not None
            elif isinstance(item, dict):
                found = any(_SURROGATE.search(k) for k in item)
                stack.extend(item.values())
            elif isinstance(item, list):
                found = False
                stack.extend(item)
            else:
                found = False
            if found:
                return f"in {_field_name(key)}"
    return None


def _field_name(key: str) -> str:
    return f"'{key}'" if len(key) <= 40 and key.isprintable() else "a field"


def _id_text(value: object) -> str | None:
    """An id as given (a non-blank string, or a number); None for anything else."""
    if isinstance(value, str):
        return value if value.strip() else None
    return _str_or_none(value)


def _str_or_none(value: object) -> str | None:
    """A string or a finite number as text, spaces collapsed; None for null, true/false, arrays and objects."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        text = str(value)
    else:
        return None
    text = " ".join(text.split())
    return text or None


def _str_tuple(value: object) -> tuple[str, ...]:
    """A list of strings (or one string); items of other types are left out."""
    items = value if isinstance(value, list) else [value]
    return tuple(t for t in (_str_or_none(v) for v in items) if t)
