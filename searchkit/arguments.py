"""The library's argument checks: a value of the wrong type is a TypeError naming its argument, raised before any
work is done (never an AttributeError from deep inside)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date

__all__ = ["Sources", "TEXT", "DAY", "check_types", "source_list", "path_text"]

Sources = Iterable[str | bytes | os.PathLike] | str | bytes | os.PathLike
"""Files and folders to index: paths, or one path."""
TEXT = (str, type(None))
"""An optional text argument."""
DAY = (str, date, type(None))
"""An optional date, as a date phrase (``2019-03-05``, ``March 2019``, ``last week``: see ``dates``) or a ``date``."""


def check_types(**arguments: tuple[object, type | tuple[type, ...]]) -> None:
    """Raise TypeError naming the first argument whose value is not of its type(s) (a bool is not an int)."""
    for name, (value, types) in arguments.items():
        types = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            expected = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def source_list(sources: object) -> list[str]:
    """``sources`` as a list of paths (one path given alone is one source)."""
    if isinstance(sources, (str, bytes, os.PathLike)):
        return [path_text(sources, "sources")]
    if not isinstance(sources, Iterable):
        raise TypeError(f"sources must be a path or an iterable of paths, got {type(sources).__name__}")
    return [path_text(source, "sources") for source in sources]


def path_text(path: object, argument: str) -> str:
    """``path`` (str, bytes or os.PathLike) as a str, undecodable bytes as lone surrogates (``os.fsdecode``)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{argument}: expected a path (str, bytes or os.PathLike), got {type(path).__name__} {path!r:.60}")
    text = os.fsdecode(path)
    if "\0" in text:
        raise ValueError(f"{argument}: a path cannot hold a NUL byte, got {text!r:.60}")
    return text
