"""searchkit: passage-level full-text search for news archives (BM25F on Whoosh, highlighted hits)."""

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
from .check import CheckReport, check_index
from .index import Index
from .models import Article, BuildReport, Highlight, Hit, IndexStats, Passage, Results, SkippedFile, StoryCopy
from .settings import Settings

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


def __getattr__(name: str) -> str:
    """``__version__``, read from the package's metadata when first asked for (``version.py``)."""
    if name == "__version__":
        from .version import installed_version

        return installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
