"""What both article readers share: bytes → text (the size bound, UTF-8), text → paragraph blocks (lines, blank
lines, site furniture), and the one-line reason given for a failure no check foresaw.
"""

from __future__ import annotations

import re

from .errors import ArticleError

__all__ = [
    "MAX_ARTICLE_BYTES", "WORD", "decode_utf8", "line_spans", "blank_line_blocks", "is_furniture", "unexpected_error",
]

MAX_ARTICLE_BYTES = 2 * 1024 * 1024
"""A text file or JSON line larger than this is skipped: no news article is, and splitting one costs minutes."""
WORD = re.compile(r"\w")
"""An article needs one word character (what the analyzer's tokens are made of) to be searchable."""

# Lines that are site furniture wherever they appear: short, with no sentence in them ("Subscribe to our
# channel" is furniture, "Subscribers to the service grew. ..." is text).
_FURNITURE = re.compile(
    r"(?:\*\s*){3}|<\s*(?:…|\.\.\.)\s*>|divider|text version|view more articles[^.!?]{0,60}|share|print|"
    r"(?:back to|go to) top|advertisement|subscribe\b[^.!?]{0,80}",
    re.IGNORECASE,
)


def decode_utf8(path: str, data: bytes, line: int | None = None) -> str:
    """UTF-8 text, without the BOM it may open with (any JSON line may: files concatenated with cat keep theirs)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ArticleError(path, f"not UTF-8 (invalid byte 0x{data[e.start]:02x} at offset {e.start})", line) from None


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


def line_spans(text: str) -> list[tuple[int, int]]:
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


def blank_line_blocks(text: str, lines: list[tuple[int, int]]) -> list[tuple[int, int]]:
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


def is_furniture(line: str) -> bool:
    return bool(_FURNITURE.fullmatch(line.strip()))


def unexpected_error(error: BaseException) -> str:
    """A one-line reason for an error no check foresaw (its type and message, at most 200 characters)."""
    message = " ".join(str(error).split()).encode("utf-8", "backslashreplace").decode("utf-8")
    message = message if len(message) <= 200 else message[:199] + "…"
    return f"cannot be indexed ({type(error).__name__}{': ' + message if message else ''})"
