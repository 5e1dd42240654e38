"""Places by any name: the table of renamed places (``places.csv``, plus a user's file) → the names of each
place, by which a query's place filter and its place-name words are widened.

Read by ``query`` at search time (the widening itself is ``placewords``), so a changed table or file needs no
reindex; stored places stay as written.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from .errors import AliasesError
from .schema import analyze, written_words

__all__ = ["PlaceName", "PlaceNames", "place_names", "may_name_a_place", "read_table", "ALIAS_WEIGHT", "COLUMNS"]

ALIAS_WEIGHT = 0.8
"""The weight of a query word's other names against the word itself: ``Astana`` also finds ``Nur-Sultan``,
each alias scored as a word (or a phrase of its words) at this fraction of the word's weight."""
COLUMNS = ("place", "name", "from", "to", "text", "source")
"""The table's columns, in its header; ``text`` may be left out of a user's file (every name then ``yes``)."""
_REQUIRED = frozenset(COLUMNS) - {"text"}
_YEAR = re.compile(r"\d{1,4}")


@dataclass(frozen=True, slots=True)
class PlaceName:
    """One name of a place: the place's key (its current name), the name, the years it was in use (``start`` or
    ``end`` None: open), whether the name stands for the place in text too (``text``), and the source."""

    place: str
    name: str
    start: int | None
    end: int | None
    text: bool
    source: str


class PlaceNames:
    """Every name of every place of a table: the place filter's names and the query words' aliases."""

    def __init__(self, rows: Iterable[PlaceName]) -> None:
        self.rows = tuple(rows)
        self._places: dict[str, set[str]] = {}  # name key → the keys of the places it names
        self._names: dict[str, set[str]] = {}  # place key → its names' keys
        self._words: dict[str, set[tuple[str, ...]]] = {}  # place key → its text names' analysed words
        for row in self.rows:
            place, name = _key(row.place), _key(row.name)
            self._places.setdefault(name, set()).add(place)
            self._names.setdefault(place, set()).add(name)
            words = tuple(word for word, _ in analyze(row.name))
            if row.text and words:
                self._words.setdefault(place, set()).add(words)
        for row in self.rows:  # a place's key is one of its names, in text too unless a row of it says otherwise
            place = _key(row.place)
            if place not in self._names[place]:
                self._names[place].add(place)
                self._places.setdefault(place, set()).add(place)
                words = tuple(word for word, _ in analyze(row.place))
                if words:
                    self._words.setdefault(place, set()).add(words)
        self._word_places: dict[tuple[str, ...], set[str]] = {}
        for place, names in self._words.items():
            for words in names:
                self._word_places.setdefault(words, set()).add(place)
        self.longest = max(map(len, self._word_places), default=0)
        """The most words of one name (``placewords.with_place_names`` looks for names of up to this many words)."""

    def names(self, name: str) -> list[str]:
        """Every name (lower-cased, as the place field indexes it) of every place called ``name``, or ``[name]``."""
        places = self._places.get(_key(name), ())
        found = sorted({other for place in places for other in self._names[place]})
        return found or [_key(name)]

    def aliases(self, words: tuple[str, ...]) -> list[tuple[str, ...]]:
        """The analysed words of the other text names of every place whose text name analyses to ``words``."""
        places = self._word_places.get(words, ())
        return sorted({other for place in places for other in self._words[place]} - {words})


def _key(name: str) -> str:
    return " ".join(name.split()).lower()


def read_table(path: str | os.PathLike) -> list[PlaceName]:
    """The rows of a table of place names (CSV, UTF-8, a header of ``COLUMNS``; see README, "Places").

    Raises:
        AliasesError: the file cannot be read, or a line is malformed; the message names the file and line.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise AliasesError(f"cannot read aliases file {os.fsdecode(path)}: {e.strerror or e}") from None
    return _parse(data, os.fsdecode(path))


def _parse(data: bytes, where: str) -> list[PlaceName]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise AliasesError(f"aliases file {where}, line {line}: not UTF-8") from None
    lines = text.splitlines()
    reader = csv.reader(lines, strict=True)
    try:
        header = [column.strip().lower() for column in next(reader, [])]
        if _REQUIRED - set(header) or set(header) - set(COLUMNS) or len(set(header)) != len(header):
            raise AliasesError(
                f"aliases file {where}, line 1: the header must name the columns {','.join(COLUMNS)} "
                f"(text may be left out), got {','.join(header)[:200] or 'nothing'}"
            )
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            line = reader.line_num
            if len(values) != len(header):
                raise AliasesError(f"aliases file {where}, line {line}: {len(values)} columns, the header has {len(header)}")
            rows.append(_row(dict(zip(header, (v.strip() for v in values))), f"aliases file {where}, line {line}"))
    except csv.Error as e:
        raise AliasesError(f"aliases file {where}, line {reader.line_num}: {e}") from None
    return rows


def _row(fields: dict[str, str], where: str) -> PlaceName:
    for column in ("place", "name", "source"):
        if not fields[column]:
            raise AliasesError(f"{where}: no {column}")
    start, end = _year(fields["from"], "from", where), _year(fields["to"], "to", where)
    if start is not None and end is not None and start > end:
        raise AliasesError(f"{where}: from {start} is after to {end}")
    text = fields.get("text", "").lower()
    if text not in ("", "yes", "no"):
        raise AliasesError(f"{where}: text must be yes, no or blank, got {fields['text'][:60]!r}")
    return PlaceName(fields["place"], fields["name"], start, end, text != "no", fields["source"])


def _year(value: str, column: str, where: str) -> int | None:
    if not value:
        return None
    if not _YEAR.fullmatch(value):
        raise AliasesError(f"{where}: {column} must be a year (up to 4 digits) or blank, got {value[:60]!r}")
    return int(value)


def may_name_a_place(terms: frozenset[str]) -> bool:
    """Whether any of ``terms`` (analysed query words) may be a word of a name of a place of the packaged table:
    query words of which none is are never widened by ``place_names(True)`` (``placewords.with_place_names``).
    The table's words are read from its text, every column's (more than its names'), without parsing its rows,
    and only those that begin as one of the terms does are analysed (the stemmer keeps a word's first letter):
    ``PlaceNames`` parses and analyses every name, about 10 ms of a one-shot query."""
    firsts = {term[:1] for term in terms}
    words = {word for word in written_words(_PACKAGED.read_text(encoding="utf-8")) if word[:1].lower() in firsts}
    return any(term in terms for word in words for term, _ in analyze(word))


_PACKAGED = Path(__file__).parent / "places.csv"


@cache
def _packaged() -> tuple[PlaceName, ...]:
    # Beside this module, read directly: importlib.resources (with zipfile) costs a one-shot query about 5 ms.
    data = _PACKAGED.read_bytes()
    return tuple(_parse(data, "searchkit/places.csv"))


@lru_cache(maxsize=8)
def _combined(path: str | None, stamp: tuple[int, int] | None) -> PlaceNames:
    """The packaged table plus the file at ``path`` as it was at ``stamp`` (its time and size: re-read when it
    changes)."""
    return PlaceNames(_packaged() + (tuple(read_table(path)) if path is not None else ()))


def place_names(aliases: bool | str | os.PathLike) -> PlaceNames | None:
    """The names a search widens by: None (``False``), the packaged table (``True``), or the packaged table plus
    the rows of the file ``aliases``.

    Raises:
        AliasesError: the file cannot be read, or a line of it is malformed.
    """
    if aliases is False:
        return None
    if aliases is True:
        return _combined(None, None)
    path = os.fsdecode(aliases)
    try:
        status = os.stat(path)
    except OSError as e:
        raise AliasesError(f"cannot read aliases file {path}: {e.strerror or e}") from None
    return _combined(os.path.abspath(path), (status.st_mtime_ns, status.st_size))
