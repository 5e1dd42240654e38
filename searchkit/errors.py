"""The errors searchkit raises: one base class, one subclass per thing that can go wrong."""

from __future__ import annotations


class SearchkitError(Exception):
    """Base class of every error searchkit raises on purpose."""


class ArticleError(SearchkitError):
    """An input file (or one line of it) is unreadable, empty, binary or not UTF-8."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class QueryError(SearchkitError):
    """The query text or a filter is malformed; the message names the problem."""


class NothingToSearch(QueryError):
    """Every word of the query is a stop word (or a single letter): no index holds them, nothing can match."""


class IndexNotFound(SearchkitError):
    """There is no searchkit index at the given path."""


class IndexIncompatible(SearchkitError):
    """The index was written by a searchkit whose schema this version cannot read."""


class IndexLocked(SearchkitError):
    """Another process is writing to the index."""


class IndexClosed(SearchkitError):
    """The ``Index`` was closed; open the index again to use it."""


class PassageNotFound(SearchkitError):
    """No passage in the index has the given id."""


class IndexCorrupt(SearchkitError):
    """Index files are missing, truncated or damaged; the message names them and says how to rebuild."""


class IndexUntrusted(IndexCorrupt):
    """Index files hold what searchkit never writes (a pickled reference to other code, a file name outside
    the index): a crafted or foreign index, refused before any of it runs; ``reason`` names what was found."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        where = f"index at {path}" if path is not None else "index"
        super().__init__(
            f"{where} refused: its files hold {reason} (a crafted or foreign index; nothing in it was run); "
            f"rebuild it from its sources, or use an index you built"
        )


class IndexWriteError(SearchkitError):
    """A build or update could not be written whole (the disk is full, an indexing process died); nothing was
    committed."""


class CollectionError(SearchkitError):
    """A test collection cannot be found or read (see ``searchkit.collections``)."""


class RunFileError(SearchkitError):
    """An evaluation's TREC run file cannot be written where it was asked for; the message says why."""


class AliasesError(SearchkitError):
    """A file of place names (``aliases=``) cannot be read or is malformed; the message names the file and line."""


class ShardError(SearchkitError):
    """A sharded index cannot be built or searched on Ray: no cluster answers at the address, or a shard's task
    or actor failed (cannot start, or died and was not restored in time; the message names the shard). No
    partial results are returned."""
