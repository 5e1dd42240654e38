"""Restricted unpickling for everything Whoosh reads from an index directory, installed at Whoosh's read sites.

Whoosh pickles its schema and segment list (the TOC), every document's stored fields, posting blocks and their
headers, inlined postings and the terms table's extras (Whoosh's ``Positions`` format pickles each posting's
positions too; searchkit's ``CompactPositions`` stores bytes, and a schema naming ``Positions`` is refused);
``pickle.loads`` of a crafted file runs any code it names. ``install`` gives each of Whoosh's read sites (the module-level names it
calls) a loader that admits only the classes and functions a searchkit index holds (``ALLOWED``) and raises
``IndexUntrusted`` naming anything else, before it is imported or called; stored fields must also have the
types searchkit writes. It also drops Whoosh's loaders of older TOC formats (they unpickle with a permissive
renaming unpickler; searchkit never wrote those formats) and confines the file names Whoosh opens to the index
directory. Writing is unchanged.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import types
from datetime import datetime
from typing import Any

from .errors import IndexUntrusted

__all__ = ["ALLOWED", "STORED_TYPES", "loads", "load", "stored_fields_loads", "install"]


def _latin1_bytes(text: str, encoding: str) -> bytes:
    # Protocol 2 (the TOC's schema; stored fields) pickles bytes as _codecs.encode(str, "latin1").
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise IndexUntrusted(f"a pickled _codecs.encode({encoding!r}), which searchkit never writes")
    return text.encode("latin-1")


def _empty_bytes(*args: object) -> bytes:
    # Protocol 2 pickles b"" as bytes(); bytes(n) of a crafted n would allocate n bytes.
    if args:
        raise IndexUntrusted("a pickled bytes(...) call with arguments, which searchkit never writes")
    return b""


def _regex(pattern: str | bytes, flags: int) -> re.Pattern:
    # The tokenizers' compiled expressions; re.DEBUG would print the pattern's parse at every open.
    if not isinstance(flags, int) or flags & re.DEBUG:
        raise IndexUntrusted(f"a pickled regular expression with flags {flags!r}, which searchkit never writes")
    return re.compile(pattern, flags)


_SUBSTITUTES: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_bytes,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
    ("re", "_compile"): _regex,
}
"""Functions a pickle calls at load time with arguments it chooses: replaced by ones that check them."""

ALLOWED: frozenset[tuple[str, str]] = frozenset({
    # the schema (TOC): searchkit's fields, their formats, columns and analyzers
    ("whoosh.fields", "Schema"), ("whoosh.fields", "ID"), ("whoosh.fields", "STORED"), ("whoosh.fields", "NUMERIC"),
    ("whoosh.fields", "DATETIME"), ("whoosh.fields", "TEXT"), ("whoosh.fields", "KEYWORD"),
    ("whoosh.formats", "Existence"), ("whoosh.formats", "Frequency"), ("searchkit.positions", "CompactPositions"),
    ("whoosh.columns", "NumericColumn"),
    ("whoosh.analysis.analyzers", "CompositeAnalyzer"), ("whoosh.analysis.tokenizers", "RegexTokenizer"),
    ("whoosh.analysis.tokenizers", "IDTokenizer"), ("whoosh.analysis.filters", "LowercaseFilter"),
    ("whoosh.analysis.filters", "StopFilter"), ("whoosh.analysis.filters", "StripFilter"),
    ("whoosh.analysis.morph", "StemFilter"), ("whoosh.lang.porter", "stem"),
    # the segment list (TOC)
    ("whoosh.codec.whoosh3", "W3Segment"), ("whoosh.codec.whoosh3", "W3Codec"), ("searchkit.storedfields", "BlockCodec"), ("collections", "defaultdict"),
    # stored values (a passage's date) and the builtins pickle protocol 2 names (Python 2 spellings included)
    ("datetime", "datetime"),
    ("builtins", "int"), ("builtins", "set"), ("builtins", "frozenset"),
    ("__builtin__", "int"), ("__builtin__", "long"), ("__builtin__", "set"), ("__builtin__", "frozenset"),
    *_SUBSTITUTES,
})
"""Every (module, name) a searchkit index's pickles refer to: recorded from builds, updates (deletions, merged
segments), queries of every kind, ``get``, ``stats`` and ``check``, and nothing else."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _FOUND.get((module, name))
        if found is None:
            if (module, name) not in ALLOWED:
                raise IndexUntrusted(f"a pickled reference to {module}.{name}, which searchkit never writes")
            found = _FOUND[module, name] = _SUBSTITUTES.get((module, name)) or super().find_class(module, name)
        return found

    def persistent_load(self, pid: object) -> Any:
        raise IndexUntrusted("a pickled persistent reference, which searchkit never writes")


_FOUND: dict[tuple[str, str], Any] = {}
"""What each admitted (module, name) resolved to."""


def loads(data: bytes, *_: object, **__: object) -> Any:
    """``pickle.loads`` admitting only ``ALLOWED``.

    Raises:
        IndexUntrusted: the pickle refers to anything else (nothing of it is imported or called).
    """
    if not _NAMES_OR_PERSISTS.search(data):
        # No byte that could be an opcode naming a global (or a persistent id): nothing callable can be reached,
        # so pickle's own loads is as safe, and 4x faster on the few bytes of a term's inlined posting.
        return pickle.loads(data)
    # An unpickler reads its file once per opcode unless the file can peek (then in 128 KB chunks): a peeking
    # reader halves the cost of a posting block or a passage; for a few bytes it costs more.
    file = io.BytesIO(data)
    return _RestrictedUnpickler(io.BufferedReader(file) if len(data) > _PEEK_FROM_BYTES else file).load()


_NAMES_OR_PERSISTS = re.compile(rb"[ci\x93\x82\x83\x84PQ]")
"""GLOBAL, INST, STACK_GLOBAL, EXT1/2/4 (the opcodes that call ``find_class``), PERSID, BINPERSID."""
_PEEK_FROM_BYTES = 200


def load(file: io.BufferedIOBase, *_: object, **__: object) -> Any:
    """``pickle.load`` admitting only ``ALLOWED`` (see ``loads``)."""
    return _RestrictedUnpickler(file).load()


STORED_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,), "article": (str,), "path": (str,), "body": (str,), "position": (int,), "span": (tuple, list),
    "line": (int, type(None)), "url": (str, type(None)), "date": (datetime,), "source": (str,), "place": (str,),
    "title": (str,), "speaker": (str,), "tags": (str,), "authors": (str,),
}
"""The types of the stored fields ``schema.to_document`` writes (other names pass: a later version's fields)."""


def stored_fields_loads(data: bytes, *_: object, **__: object) -> dict:
    """A passage's stored fields (``loads``), checked against ``STORED_TYPES``, so that a crafted value of an
    admitted type (an int for a title) is refused here rather than failing wherever it is used.

    Raises:
        IndexUntrusted: not a dict of those types.
    """
    stored = loads(data)
    if not isinstance(stored, dict):
        raise IndexUntrusted(f"stored fields that are a {type(stored).__name__}, not a dict")
    for name, value in stored.items():
        if not isinstance(value, STORED_TYPES.get(name, object)):
            raise IndexUntrusted(f"a stored {name!r} of type {type(value).__name__}, which searchkit never writes")
    span = stored.get("span", (0, 0))
    if len(span) != 2 or not all(isinstance(n, int) for n in span):
        raise IndexUntrusted("a stored 'span' that is not two integers, which searchkit never writes")
    return stored


def _confined(storage: Any, name: str) -> str:
    # Whoosh names its files from the TOC's segment ids: a crafted id such as "x/../../secret" reaches outside.
    if not isinstance(name, str) or os.sep in name or (os.altsep and os.altsep in name) or name in ("", ".", ".."):
        raise IndexUntrusted(f"the file name {name!r}, outside the index directory")
    return os.path.abspath(os.path.join(storage.folder, name))


def install() -> None:
    """Give Whoosh's read sites the restricted loaders (each Whoosh module calls the loader it bound at import,
    ``from whoosh.compat import loads``), drop its older-TOC loaders, and confine its file names."""
    import whoosh.codec.whoosh3  # here, not at the top: the one-shot query path unpickles stored fields without them
    import whoosh.columns
    import whoosh.filedb.filestore
    import whoosh.filedb.structfile
    import whoosh.index

    whoosh.index.pickle = types.SimpleNamespace(loads=loads, dumps=pickle.dumps, PicklingError=pickle.PicklingError)
    whoosh.index.toc_loaders = {}
    whoosh.filedb.structfile.load_pickle = load
    whoosh.codec.whoosh3.loads = loads
    whoosh.columns.loads = stored_fields_loads  # its one pickled column in Whoosh's codec: the stored fields
    whoosh.filedb.filestore.FileStorage._fpath = _confined
