"""A JSON Lines file → Articles, one per line (ended by ``\n``, ``\r\n`` or a lone ``\r``), streamed with each
line bounded; a bad line is skipped with its reason and the rest of the file read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from .articletext import (
    MAX_ARTICLE_BYTES, WORD, blank_line_blocks, decode_utf8, is_furniture, line_spans, unexpected_error,
)
from .errors import ArticleError
from .models import Article, Paragraph
from .normalise import normalise_source, parse_date

__all__ = ["read_jsonl", "MAX_LINE_ERRORS"]

MAX_LINE_ERRORS = 100
"""Bad lines reported one by one per file; the rest are counted in one last report."""
_READ_BYTES = 1 << 16
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""What a surrogate looks like escaped in a JSON line: only lines holding one are searched for a lone one."""
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "true or false", type(None): "null"}


def read_jsonl(path: str, on_error: Callable[[ArticleError], None] | None) -> Iterator[Article]:
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
    if errors > MAX_LINE_ERRORS and on_error is not None:
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
        obj = json.loads(decode_utf8(path, raw, number), parse_constant=_absent, parse_int=_json_int)
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
    if not WORD.search(text):
        raise ArticleError(path, "no article text (no words: only punctuation, symbols or control characters)", number)
    paragraphs = tuple(
        Paragraph(s, e) for s, e in blank_line_blocks(text, line_spans(text)) if not is_furniture(text[s:e])
    )
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
