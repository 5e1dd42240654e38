"""Input paths → Articles: which files are inputs (the walk), and each file's format sniffed and read by its reader
(``plaintext`` or ``jsonlines``). Offsets in ``Article.paragraphs`` index ``Article.text`` exactly.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from . import store
from .errors import ArticleError
from .jsonlines import read_jsonl
from .models import Article
from .normalise import normalise_source, parse_date  # re-exported: part of this module's public names
from .plaintext import read_text_article

__all__ = ["read_articles", "normalise_source", "parse_date", "iter_input_files", "JSONL_SUFFIXES"]

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
_SNIFF_BYTES = 8192


def read_articles(path: str | os.PathLike, on_error: Callable[[ArticleError], None] | None = None) -> Iterator[Article]:
    """Yield the articles of one file: one for a text article, one per line for JSON Lines.

    Raises:
        ArticleError: the whole file is unreadable, empty, binary or not UTF-8. A bad line of a JSON Lines
            file (any failure to read it as an article, see ``jsonlines``) is passed to ``on_error``
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
        yield from read_jsonl(path_str, on_error)
    else:
        yield read_text_article(path_str)


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
