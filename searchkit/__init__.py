"""searchkit: passage-level full-text search for news archives (BM25F on Whoosh, highlighted hits)."""

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
from .version import __version__

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
