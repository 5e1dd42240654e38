"""searchkit: passage-level full-text search for news archives (BM25F on Whoosh, highlighted hits)."""

from typing import TYPE_CHECKING, Any

from .whooshcompat import import_whoosh_compat

import_whoosh_compat()  # first: every searchkit module that imports Whoosh is imported after this line

from .errors import (
    AliasesError,
    ArticleError,
    CollectionError,
    IndexClosed,
    IndexCorrupt,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    IndexUntrusted,
    IndexWriteError,
    ShardError,
    NothingToSearch,
    PassageNotFound,
    QueryError,
    SearchkitError,
)

if TYPE_CHECKING:
    from .check import CheckReport, check_index
    from .index import Index
    from .models import Article, BuildReport, Highlight, Hit, IndexStats, Passage, Results, SkippedFile, StoryCopy
    from .settings import Settings

_LAZY = {
    "Index": "index", "Settings": "settings", "check_index": "check", "CheckReport": "check",
    **dict.fromkeys(("Article", "BuildReport", "Highlight", "Hit", "IndexStats", "Passage", "Results", "SkippedFile",
                     "StoryCopy"), "models"),
}
"""Exports imported when first asked for: a one-shot query (``oneshot``) imports only the modules it runs."""

__all__ = [
    "Index",
    "Settings",
    "Article",
    "Passage",
    "Hit",
    "Results",
    "Highlight",
    "StoryCopy",
    "BuildReport",
    "IndexStats",
    "SkippedFile",
    "check_index",
    "CheckReport",
    "SearchkitError",
    "ArticleError",
    "QueryError",
    "NothingToSearch",
    "IndexNotFound",
    "IndexIncompatible",
    "IndexCorrupt",
    "IndexClosed",
    "IndexUntrusted",
    "IndexLocked",
    "IndexWriteError",
    "ShardError",
    "PassageNotFound",
    "CollectionError",
    "AliasesError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """The exports of ``_LAZY``, and ``__version__`` (``version.py``), imported when first asked for."""
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from .version import installed_version

        return installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
