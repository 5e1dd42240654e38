"""IR test collections → documents, queries and relevance judgments (the classic formats of ``../shared/data``).

Readers for Cranfield, CISI, CACM, MEDLINE, ADI (the SMART ``.I/.T/.W`` family), TIME, NPL and LISA. Each
folder's SOURCE.md describes its format; the pitfalls it names (Cranfield's query numbering, TIME's ordinal
relevance ids, CACM's empty last query) are handled here. Whitespace in texts is collapsed to single spaces.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import CollectionError

__all__ = [
    "Collection", "CollectionDoc", "COLLECTIONS", "TUNING", "HELD_OUT", "read_collection", "find_collection",
    "shared_data_dir",
]


@dataclass(frozen=True, slots=True)
class CollectionDoc:
    """One document of a test collection: its id as the judgments name it, a title (or None) and its text."""

    id: str
    title: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Collection:
    """A test collection: documents, queries by id, and judgments ``qrels[query_id][doc_id] = grade``.

    Grades are gains: 1 for binary judgments; Cranfield's codes 1 (best) to 4 become 4 to 1.
    """

    name: str
    documents: tuple[CollectionDoc, ...]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


TUNING = ("cranfield", "cisi", "cacm", "medline")
"""Collections the defaults were chosen on."""
HELD_OUT = ("time", "npl", "lisa", "adi")
"""Collections never used to choose anything: the check that the defaults generalise."""


def _clean(text: str) -> str:
    return " ".join(text.split())


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise CollectionError(f"cannot read {path}: {e.strerror or e}") from None


# --- the SMART .I/.T/.W family -----------------------------------------------------------------------------

_SMART_TAG = re.compile(r"^\.([A-Z])(?:[ \t]+(\S.*))?[ \t]*$")


def _smart_records(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``(id, {tag: text})`` for each ``.I id`` record; a tag line is ``.X`` alone on its line."""
    record_id: str | None = None
    fields: dict[str, list[str]] = {}
    tag: str | None = None
    for line in _read(path).splitlines():
        m = _SMART_TAG.match(line)
        if m and (m[1] == "I") == (m[2] is not None):
            if m[1] == "I":
                if record_id is not None:
                    yield record_id, {k: _clean(" ".join(v)) for k, v in fields.items()}
                record_id, fields, tag = m[2].strip(), {}, None
            else:
                tag = m[1]
                fields.setdefault(tag, [])
        elif tag is not None:
            fields[tag].append(line)
    if record_id is not None:
        yield record_id, {k: _clean(" ".join(v)) for k, v in fields.items()}


def _smart_documents(path: Path) -> tuple[CollectionDoc, ...]:
    docs = []
    for doc_id, fields in _smart_records(path):
        title, body = fields.get("T") or None, fields.get("W", "")
        if body or title:
            # A record without an abstract (many in CACM) is its title alone, indexed once as text.
            docs.append(CollectionDoc(doc_id, title if body else None, body or title or ""))
    return tuple(docs)


def _smart_queries(path: Path) -> dict[str, str]:
    queries = {}
    for query_id, fields in _smart_records(path):
        text = _clean(" ".join(fields.get(tag, "") for tag in ("T", "W")))
        if text:  # CACM's query file ends with an empty ``.I 0`` record
            queries[str(int(query_id))] = text
    return queries


def _qrels_columns(path: Path, query: int, doc: int, grade: Callable[[list[str]], int | None]) -> dict:
    qrels: dict[str, dict[str, int]] = {}
    for line in _read(path).splitlines():
        cols = line.split()
        if len(cols) <= max(query, doc):
            continue
        gain = grade(cols)
        if gain is not None and gain > 0:
            qrels.setdefault(str(int(cols[query])), {})[str(int(cols[doc]))] = gain
    return qrels


def _cranfield(folder: Path) -> Collection:
    # The qrels number queries by position (1..225), not by the ``.I`` numbers of cran.qry.
    queries = {str(n): text for n, text in enumerate(_smart_queries(folder / "cran.qry").values(), start=1)}
    grades = {"1": 4, "2": 3, "3": 2, "4": 1}
    qrels = _qrels_columns(folder / "cranqrel", 0, 1, lambda cols: grades.get(cols[2]))
    return Collection("cranfield", _smart_documents(folder / "cran.all.1400"), queries, qrels)


def _smart(name: str, docs: str, queries: str, qrels: str, query_col: int, doc_col: int) -> Callable[[Path], Collection]:
    def read(folder: Path) -> Collection:
        return Collection(
            name,
            _smart_documents(folder / docs),
            _smart_queries(folder / queries),
            _qrels_columns(folder / qrels, query_col, doc_col, lambda cols: 1),
        )

    return read


# --- TIME, NPL, LISA ---------------------------------------------------------------------------------------


def _time(folder: Path) -> Collection:
    articles = re.split(r"^\*TEXT\b.*$", _read(folder / "TIME.ALL"), flags=re.MULTILINE)[1:]
    docs = tuple(CollectionDoc(str(n), None, _clean(re.sub(r"^\*STOP\b.*", "", a, flags=re.M)))
                 for n, a in enumerate(articles, start=1))
    queries = {}
    for block in re.split(r"^\*FIND\s+", _read(folder / "TIME.QUE"), flags=re.MULTILINE)[1:]:
        number, _, text = block.partition("\n")
        queries[str(int(number))] = _clean(re.sub(r"^\*STOP\b.*", "", text, flags=re.M))
    # Relevance ids are 1-based article positions, skipping two (see SOURCE.md): r ≥ 378 is article r - 2.
    qrels: dict[str, dict[str, int]] = {}
    for line in _read(folder / "TIME.REL.ALL").splitlines():
        cols = line.split()
        if len(cols) > 1:
            qrels[str(int(cols[0]))] = {str(r if r <= 370 else r - 2): 1 for r in map(int, cols[1:])}
    return Collection("time", docs, queries, qrels)


def _slash_records(path: Path) -> Iterator[tuple[str, list[str]]]:
    """NPL's layout: a number line, then lines, then a line holding only ``/`` (the last may lack it)."""
    lines: list[str] = []
    for line in _read(path).splitlines():
        if line.strip() == "/":
            if lines:
                yield lines[0].strip(), lines[1:]
            lines = []
        elif line.strip() or lines:
            lines.append(line)
    if lines:
        yield lines[0].strip(), lines[1:]


def _npl(folder: Path) -> Collection:
    docs = tuple(CollectionDoc(str(int(n)), None, _clean(" ".join(t))) for n, t in _slash_records(folder / "doc-text"))
    queries = {str(int(n)): _clean(" ".join(t)) for n, t in _slash_records(folder / "query-text")}
    qrels = {str(int(n)): {str(int(d)): 1 for d in " ".join(t).split()} for n, t in _slash_records(folder / "rlv-ass")}
    return Collection("npl", docs, queries, qrels)


def _lisa(folder: Path) -> Collection:
    docs = []
    text = "\n".join(_read(p) for p in sorted(folder.glob("LISA[0-9].[0-9][0-9][0-9]")))
    for record in re.split(r"^\*{10,}\s*$", text, flags=re.MULTILINE):
        m = re.match(r"\s*Document\s+(\d+)\s*\n(.*?)(?:\n\s*\n(.*))?\Z", record, flags=re.DOTALL)
        if m:
            docs.append(CollectionDoc(str(int(m[1])), _clean(m[2]) or None, _clean(m[3] or "") or _clean(m[2])))
    queries = {}
    for block in _read(folder / "LISA.QUE").split("#"):
        m = re.match(r"\s*(\d+)\s*\n(.*)", block, flags=re.DOTALL)
        if m:
            queries[str(int(m[1]))] = _clean(m[2])
    qrels = {}
    for m in re.finditer(r"Query\s+(\d+)\s+\d+\s+Relevant Refs:\s+([\d\s]*?)-1", _read(folder / "LISA.REL")):
        qrels[str(int(m[1]))] = {str(int(d)): 1 for d in m[2].split()}
    return Collection("lisa", tuple(docs), queries, qrels)


COLLECTIONS: dict[str, Callable[[Path], Collection]] = {
    "cranfield": _cranfield,
    "cisi": _smart("cisi", "CISI.ALL", "CISI.QRY", "CISI.REL", 0, 1),
    "cacm": _smart("cacm", "cacm.all", "query.text", "qrels.text", 0, 1),
    "medline": _smart("medline", "MED.ALL", "MED.QRY", "MED.REL", 0, 2),
    "time": _time,
    "npl": _npl,
    "lisa": _lisa,
    "adi": _smart("adi", "ADI.ALL", "ADI.QRY", "ADI.REL", 0, 1),
}
"""Reader of each collection, by its folder name under ``../shared/data``."""


def shared_data_dir() -> Path:
    """Where the shared test collections live: ``$SEARCHKIT_SHARED_DATA``, else ``../shared/data`` beside the
    checkout this package runs from, else ``../shared/data`` from the working directory.

    The one place the library, the tests and the benchmarks locate ``../shared/data``; the folder may be absent.
    """
    if os.environ.get("SEARCHKIT_SHARED_DATA"):
        return Path(os.environ["SEARCHKIT_SHARED_DATA"])
    beside_checkout = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return beside_checkout if beside_checkout.is_dir() else Path.cwd().parent / "shared" / "data"


def find_collection(name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder of a collection: an existing path, or a name looked up in ``data_dir`` (default
    ``shared_data_dir()``).

    Raises:
        CollectionError: there is no such folder.
    """
    given = Path(name_or_path)
    if given.is_dir():
        return given
    folder = Path(data_dir if data_dir is not None else shared_data_dir()) / str(name_or_path)
    if folder.is_dir():
        return folder
    raise CollectionError(
        f"no test collection {str(name_or_path)!r} (looked for {given} and {folder}; set SEARCHKIT_SHARED_DATA "
        f"to the folder holding the collections); known names: {', '.join(COLLECTIONS)}"
    )


def read_collection(folder: str | os.PathLike) -> Collection:
    """Read the collection in ``folder``; its kind is the folder's name (``cranfield``, ``time``, ...).

    Raises:
        CollectionError: the folder is not a known collection, or its files cannot be read.
    """
    folder = Path(folder)
    reader = COLLECTIONS.get(folder.resolve().name.lower())
    if reader is None:
        raise CollectionError(f"{folder} is not a known test collection; known names: {', '.join(COLLECTIONS)}")
    try:
        collection = reader(folder)
    except ValueError as e:  # a query or document number that is not a number: a damaged or foreign file
        raise CollectionError(f"{folder} is not a readable {folder.resolve().name} collection ({e})") from None
    if not collection.documents or not collection.queries or not collection.qrels:
        raise CollectionError(f"{folder} holds no documents, queries or judgments in the {reader.__name__} format")
    return collection
