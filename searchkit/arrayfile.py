"""The layout of the top-k arrays' files, read without NumPy: a segment's ``.topk`` file (named one-dimensional
arrays behind a JSON table of contents) and a generation's table of its arrays (``topk/meta.json``). ``arrays``
writes them and maps them as NumPy arrays; ``direct`` reads the few values a one-shot query needs.
"""

from __future__ import annotations

import json
import mmap
import re
from pathlib import Path

from .errors import IndexCorrupt, IndexUntrusted
from .scoring import SEARCH_FIELDS

__all__ = ["FOLDER", "FORMAT", "SEGMENT_EXT", "MAGIC", "Table", "read_meta", "table", "mapped"]

FOLDER = "topk"
"""A generation's per-passage columns and their table (``meta.json``)."""
FORMAT = 7
SEGMENT_EXT = ".topk"
"""A segment's arrays file is named like its Whoosh files, so that Whoosh deletes it with the segment."""
MAGIC = b"searchkit-topk 1\n"
Table = dict[str, tuple[str, int, int]]
"""Array name → (NumPy dtype string, number of values, byte offset of the first value in the file)."""
_DTYPE = re.compile(r"[<>|=]?([biuf][1248]|S\d{1,9})")
"""The dtypes ``arrays`` writes (numbers, fixed-length bytes): never objects, records or sub-arrays."""


def mapped(file: Path) -> mmap.mmap:
    """The file mapped read-only."""
    with open(file, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def table(data: mmap.mmap, name: str) -> Table:
    """The table of contents of the ``.topk`` file ``name`` mapped as ``data``.

    Raises:
        ValueError: it is no such file, or its table is malformed.
    """
    if data[:len(MAGIC)] != MAGIC:
        raise ValueError(f"{name} is not a top-k arrays file")
    size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 8], "little")
    head_end = len(MAGIC) + 8 + size
    contents = json.loads(data[len(MAGIC) + 8:head_end])
    start = -(-head_end // 8) * 8
    found: Table = {}
    for array_name, entry in contents.items() if isinstance(contents, dict) else ():
        dtype, count, position = entry if isinstance(entry, list) and len(entry) == 3 else (None, None, None)
        if not (isinstance(dtype, str) and _DTYPE.fullmatch(dtype) and isinstance(count, int)
                and isinstance(position, int) and count >= 0 and position >= 0):
            raise ValueError(f"{name} has a malformed table of contents")
        found[array_name] = (dtype, count, start + position)
    return found


def read_meta(index_dir: Path) -> dict | None:
    """The generation's table of its arrays (``topk/meta.json``), or None when there is none (or of another
    format).

    Raises:
        IndexCorrupt: it is not what ``arrays.write`` writes (``IndexUntrusted``: it names a file outside the index).
    """
    file = index_dir / FOLDER / "meta.json"
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("fields") != list(SEARCH_FIELDS):
        return None
    _check_meta(file, meta)
    return meta


_SEGMENT_ID = re.compile(r"[A-Za-z0-9_]+")
"""Whoosh's segment ids (``MAIN_`` and random letters and digits): never a path."""


def _check_meta(file: Path, meta: dict) -> None:
    """Refuse a ``meta.json`` whose values are not of the types ``arrays.write`` writes, or that names other files."""
    segments = meta.get("segments")
    if not (isinstance(meta.get("generation"), int) and isinstance(meta.get("doc_count"), int)
            and meta["doc_count"] >= 0 and isinstance(segments, list)
            and all(isinstance(s, list) and len(s) == 3 and isinstance(s[0], str)
                    and all(isinstance(n, int) and n >= 0 for n in s[1:]) for s in segments)):
        raise IndexCorrupt(f"{file} is not a top-k arrays table (damaged or crafted)")
    for segment_id, _, _ in segments:
        if not _SEGMENT_ID.fullmatch(segment_id):
            raise IndexUntrusted(f"a segment id {segment_id!r} in {file.name}, which names no file of the index")
