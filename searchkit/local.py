"""The local backend: one committed generation of an index, searched through Whoosh and the top-k arrays.

Whoosh matches and scores (its query language and postings); the arrays (``topk``) score the matcher trees
Whoosh would make in NumPy where they can, and hold what ranking needs per passage (date, article, id key), so
that Whoosh document numbers never leave this module. Every thread searches with a searcher of its own (Whoosh
readers share file positions), all of them of this one generation.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import whoosh.index
from whoosh import query as wq
from whoosh.searching import Searcher

from . import safepickle, schema, store
from .backend import Counts, Lexicon, Ranked, Ranking, Term, tiebreak
from .bounds import MAX_WHOOSH_POSTINGS, check_whoosh_reach
from .errors import IndexCorrupt, IndexIncompatible, IndexNotFound, IndexUntrusted, PassageNotFound
from .manifests import checked_manifest
from .models import IndexStats, Passage
from .query import ParsedQuery
from .scoring import SEARCH_FIELDS, BM25FWeighting, FrozenStatistics, Statistics, terms_scored_with
from .settings import Settings
from .stats import index_stats
from .vocabulary import Vocabulary

__all__ = ["LocalBackend", "Generation", "open_generation", "ARRAYS_FIRST_QUERY_POSTINGS"]

safepickle.install()  # before any index is read: Whoosh's own unpickling runs whatever code a crafted index names

ARRAYS_FIRST_QUERY_POSTINGS = 50_000
"""A first query walking more postings than this loads the top-k arrays (Whoosh: ~1 µs a posting; NumPy's
import: ~50 ms), as does any query sorted by date or ranked per article (they need the per-passage arrays). At
most ``bounds.MAX_WHOOSH_POSTINGS``, so that no query Whoosh would refuse skips the arrays."""
assert ARRAYS_FIRST_QUERY_POSTINGS <= MAX_WHOOSH_POSTINGS


_MAX_CACHED_FREQUENCIES = 1_000_000
_CACHED_PASSAGES = 1024
"""Passages read for rankings, kept by doc number: the hits of about the last 100 searches, which a search of the
same words again (OR or AND, with highlights or without, the next page) reads again. Reading one decompresses
its block of stored fields and unpickles it (about 50 µs)."""
_SCORABLE = tuple(name for name in schema.SCHEMA.names() if schema.SCHEMA[name].scorable)


class LocalBackend:
    """One generation of an index on disk (``directory``), read-only; paths stored relative to ``root``."""

    def __init__(self, directory: Path, ix: whoosh.index.FileIndex, settings: Settings, root: Path) -> None:
        self.directory = directory
        self.settings = settings
        self.root = root
        self._ix = ix
        self._local = threading.local()
        self._searchers: list[Searcher] = []
        self._lock = threading.RLock()  # ``arrays`` checks the arrays against this thread's searcher
        self._arrays: Any = None
        self._vocabulary: Vocabulary | None = None
        self._warm = False
        self.stories: Callable[[int], Any] | None = None
        """A shard of a sharded index: its passages' stories as found across all its shards (``sharded``), read
        for a generation of that many passages, in place of the generation's own."""
        self.frequencies: dict[tuple[str, bytes], int] = {}
        """Document frequencies read so far (a generation never changes), by ``lexicon`` and ``statistics``: a
        query reads each of its words' once for its bounds, its scores and "did you mean"."""
        self._passage_at: Callable[[int], Passage] = functools.lru_cache(maxsize=_CACHED_PASSAGES)(self._read_passage)
        """The passage of a doc number, the last ``_CACHED_PASSAGES`` read kept."""

    # --- the Backend protocol -----------------------------------------------------------------------------

    def lexicon(self) -> Lexicon:
        return _Lexicon(self)

    def statistics(self, terms: Iterable[Term], *, articles: bool) -> Statistics:
        """This generation's statistics, read as they are needed (``terms`` is not read)."""
        return _ReaderStatistics(self)

    def frozen_statistics(self, terms: Iterable[Term], *, articles: bool) -> FrozenStatistics:
        """The statistics of ``terms`` as a value (a shard's part of a sharded index's statistics)."""
        reader = self.searcher().reader()
        terms = terms_scored_with(terms)
        passage_frequencies = {(f, t): reader.doc_frequency(f, t) for f, t in terms}
        term_counts = {(f, t): reader.frequency(f, t) for f, t in terms}
        lengths = {f: reader.field_length(f) for f in _SCORABLE}
        stats = FrozenStatistics(reader.doc_count_all(), lengths, passage_frequencies, term_counts=term_counts)
        arrays = self.arrays() if articles else None
        if arrays is None:
            return stats
        count, article_lengths, frequencies = arrays.article_statistics({t for f, t in terms if f in SEARCH_FIELDS})
        return FrozenStatistics(stats.passages, lengths, passage_frequencies, count, article_lengths, frequencies,
                                term_counts)

    def rank(
        self, parsed: ParsedQuery, stats: Statistics, limit: int, *, sort: str, per_article: bool,
        facets: Sequence[str] = (), months: bool = False, collapse: bool = False,
    ) -> Ranking:
        searcher = self.searcher()
        context = searcher.context(weighting=BM25FWeighting(stats, self.settings))
        if sort == "score" and not (per_article or facets or months or collapse) and self._arrays is None and \
                not self._warm and parsed.postings <= ARRAYS_FIRST_QUERY_POSTINGS:
            self._warm = True  # the next query loads the arrays
            return self._rank_by_whoosh(searcher, parsed, context, limit)
        arrays, found = self._found(searcher, parsed, stats, context, per_article)
        if arrays is None:  # an index without passages has no arrays
            return Ranking([], Counts(0, {field: {} for field in facets}))
        top = arrays.top(arrays.collapse(found, sort) if collapse else found, limit, sort)
        copies = arrays.copies(found, [docnum for docnum, _, _ in top], sort) if collapse else {}
        ids = self._ids([docnum for docnum, _, _ in top] + [c for others in copies.values() for c in others])
        return Ranking([Ranked(ids[docnum], score, day, tuple(ids[c] for c in copies.get(docnum, ())),
                               int(arrays.story_of[docnum]) if collapse else None)
                        for docnum, score, day in top],
                       arrays.counts(found, facets, months))

    def story_matches(
        self, parsed: ParsedQuery, stats: Statistics, stories: Sequence[int], *, sort: str, per_article: bool,
    ) -> dict[int, list[Ranked]]:
        """The matches here of each of ``stories`` (numbers of ``Ranked.story``): each matching article's first,
        in the order of ``Ranked.key(sort)`` (a shard's part of the copies of stories collapsed over shards)."""
        searcher = self.searcher()
        context = searcher.context(weighting=BM25FWeighting(stats, self.settings))
        arrays, found = self._found(searcher, parsed, stats, context, per_article)
        if arrays is None:
            return {}
        firsts = arrays.story_matches(found, stories, sort)
        ids = self._ids([docnum for docnums in firsts.values() for docnum in docnums], keep=True)
        return {story: [Ranked(ids[d], found.score(d), arrays.day(d), story=story) for d in docnums]
                for story, docnums in firsts.items()}

    def passages(self, ids: Sequence[str]) -> list[Passage]:
        searcher = self.searcher()
        ranked: dict[str, Passage] = getattr(self._local, "ranked", {})  # this thread's last ranking, by ``_ids``
        found = []
        for passage_id in ids:
            passage = ranked.get(passage_id)
            if passage is None:
                # an id holding a lone surrogate is no UTF-8 term: no passage has it
                surrogate = any("\ud800" <= c <= "\udfff" for c in passage_id)
                stored = None if surrogate else searcher.document(id=passage_id)
                if stored is None:
                    raise PassageNotFound(f"no passage with id {passage_id!r}")
                passage = self.to_passage(stored)
            found.append(passage)
        return found

    def vocabulary(self) -> Vocabulary:
        """The generation's words, read at the first call (only a query with a rare or absent word needs them).

        Raises:
            IndexCorrupt: its words file is missing or damaged.
        """
        if self._vocabulary is None:
            with self._lock:
                if self._vocabulary is None:
                    self._vocabulary = Vocabulary.load(self.directory)
        return self._vocabulary

    # --- reading this generation ------------------------------------------------------------------------------

    def searcher(self) -> Searcher:
        """This thread's searcher of the generation."""
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self._ix.searcher()
            with self._lock:
                self._searchers.append(searcher)
            self._local.searcher = searcher
        return searcher

    def arrays(self):
        """The generation's top-k arrays (None in an index without passages), loaded at the first call (NumPy:
        only once a query needs it).

        Raises:
            IndexCorrupt: they are not the arrays of this generation's segments.
        """
        if self._arrays is None:
            with self._lock:
                if self._arrays is None:
                    from .topk import TopK

                    arrays = TopK.load(self.directory)
                    if arrays is not None and not arrays.matches(self.searcher()):
                        raise IndexCorrupt(
                            f"the top-k arrays of {self.directory} do not match its segments; "
                            f"{store.rebuild_hint(self.directory.parent)}"
                        )
                    if arrays is not None and self.stories is not None:
                        arrays.story_of = self.stories(arrays.doc_count)
                    self._arrays = arrays
        return self._arrays

    def to_passage(self, stored: dict) -> Passage:
        """The Passage of a document's stored fields, its path resolved against ``root``."""
        return schema.to_passage(stored, os.path.normpath(os.path.join(self.root, stored["path"])))

    def neighbours(self, passage_id: str) -> list[Passage]:
        """The passages just before and after this one in its article (see ``Index.neighbours``).

        Raises:
            PassageNotFound: no passage has this id.
        """
        passage = self.passages([passage_id])[0]
        near = wq.And([
            wq.Term("article", passage.article),
            wq.NumericRange("position", passage.position - 1, passage.position + 1),
        ])
        around = [self.to_passage(d.fields()) for d in self.searcher().search(near, limit=None, sortedby="position")]
        return [p for p in around if p.id != passage.id and p.path == passage.path]

    def iter_passages(self) -> Iterator[Passage]:
        """Every passage, in index order."""
        for _, stored in self.searcher().reader().iter_docs():
            yield self.to_passage(stored)

    def stats(self, path: Path, manifest: dict) -> IndexStats:
        """Counts of live passages, date range, sources and places, size of the index at ``path`` (``stats``)."""
        return index_stats(self.searcher(), path, manifest)

    def close(self) -> None:
        """Close every thread's searcher and the index."""
        with self._lock:
            searchers, self._searchers = self._searchers, []
        for searcher in searchers:
            searcher.close()
        self._ix.close()

    # --- internals --------------------------------------------------------------------------------------------

    def _ids(self, docnums: Sequence[int], *, keep: bool = False) -> dict[int, str]:
        """The passage ids of ``docnums``; their passages are kept for this thread's next ``passages`` (the hits
        a search shows), which would otherwise look each id up again in every segment; with ``keep``, beside
        those kept before."""
        passages = {docnum: self._passage_at(docnum) for docnum in docnums}
        ranked = {passage.id: passage for passage in passages.values()}
        self._local.ranked = {**getattr(self._local, "ranked", {}), **ranked} if keep else ranked
        return {docnum: passage.id for docnum, passage in passages.items()}

    def _read_passage(self, docnum: int) -> Passage:
        """The passage of a doc number, read from its stored fields (``_passage_at`` keeps the last read)."""
        return self.to_passage(self.searcher().stored_fields(docnum))

    def _found(self, searcher: Searcher, parsed: ParsedQuery, stats: Statistics, context, per_article: bool):
        """The arrays (None in an index without passages) and every match (``topk.Matches``), per article at each
        article's best passage with ``per_article``. This thread's last matches are kept for the same query and
        statistics objects (a sharded search asks a shard for a ranking, then for the copies of its stories)."""
        arrays = self.arrays()
        if arrays is None:
            return None, None
        last = getattr(self._local, "scored", None)
        if last is not None and last[0] is parsed and last[1] is stats and last[2] == per_article:
            return arrays, last[3]
        found = arrays.passage_matches(searcher, parsed.query, parsed.filter, context)
        if found is None:
            check_whoosh_reach(parsed)
            found = self._whoosh_found(searcher, parsed, context)
        if per_article:
            found = arrays.per_article(found, parsed.query, stats, self.settings)
        self._local.scored = (parsed, stats, per_article, found)
        return arrays, found

    def _whoosh_found(self, searcher: Searcher, parsed: ParsedQuery, context):
        """Every match Whoosh scores other than 0, as ``topk.Matches``."""
        import numpy as np

        from .topk import Matches

        matches = sorted((docnum, score) for score, docnum in self._whoosh_matches(searcher, parsed, context) if score)
        return Matches(np.array([d for d, _ in matches], dtype=np.int64), np.array([s for _, s in matches], dtype=float))

    @staticmethod
    def _whoosh_matches(searcher: Searcher, parsed: ParsedQuery, context) -> list[tuple[float, int]]:
        """Every match as (score, doc number), as Whoosh scores it."""
        collector = searcher.collector(limit=None, filter=parsed.filter)
        searcher.search_with_collector(parsed.query, collector, context=context)
        return collector.results().top_n

    def _rank_by_whoosh(self, searcher: Searcher, parsed: ParsedQuery, context, limit: int) -> Ranking:
        """The top ``limit`` by Whoosh alone (and the count of all matches): ids are read for the top and for the
        ties at its cut."""
        matches = sorted(self._whoosh_matches(searcher, parsed, context), key=lambda m: -m[0])
        total = len(matches)
        if len(matches) > limit:
            kth = matches[limit - 1][0]
            matches = [m for m in matches if m[0] >= kth]
        ids = self._ids([docnum for _, docnum in matches])
        ordered = sorted(matches, key=lambda m: (-m[0], tiebreak(ids[m[1]])))[:limit]
        return Ranking([Ranked(ids[docnum], score) for score, docnum in ordered], Counts(total))


class _Closing(Protocol):
    def close(self) -> None: ...


B = TypeVar("B", bound=_Closing)


class Generation(Generic[B]):
    """One committed generation being read: its backend, manifest and reader lease, and how many calls use it."""

    def __init__(self, backend: B, manifest: dict, lease: store.ReaderLease) -> None:
        self.backend = backend
        self.manifest = manifest
        self.lease = lease
        self.users = 0
        self.retired = False

    def close(self) -> None:
        self.backend.close()
        self.lease.release()


def open_generation(
    path: Path, *, verify: bool, settings: Settings | None, generation: tuple[str, int] | None = None,
    root: Path | None = None,
) -> Generation[LocalBackend]:
    """The live generation of the index at ``path`` (or ``generation``: its name and manifest CRC-32), checked
    against its manifest and leased; it ranks with its own settings or with ``settings``. Stored paths are
    relative to ``root`` (default: the index's parent)."""
    if not store.is_store(path):
        if (path / store.MANIFEST).is_file():
            raise IndexIncompatible(f"index at {path} has an older layout; {store.rebuild_hint(path)}")
        raise IndexNotFound(f"no searchkit index at {path} (build one with: searchkit index PATH --index {path})")
    lease = store.ReaderLease(path, generation)
    try:
        manifest, built = checked_manifest(path, lease, verify=verify, settings=settings)
        try:
            ix = whoosh.index.open_dir(str(lease.directory), readonly=True)
            stored = ix.doc_count()
        except IndexUntrusted as e:
            raise IndexUntrusted(e.reason, str(path)) from None
        except Exception as e:  # a damaged TOC surfaces as any of pickle's, struct's or Whoosh's errors
            raise IndexCorrupt(f"index at {path} cannot be read ({e!r}); {store.rebuild_hint(path)}") from None
        if stored != manifest.get("counts", {}).get("passages"):
            ix.close()
            raise IndexCorrupt(
                f"index at {path} holds {stored} passages, its manifest says "
                f"{manifest.get('counts', {}).get('passages')}; {store.rebuild_hint(path)}"
            )
        backend = LocalBackend(lease.directory, ix, settings or built, root or path.resolve().parent)
        return Generation(backend, manifest, lease)
    except BaseException:
        lease.release()
        raise


class _Lexicon:
    """This thread's reader of the generation as a ``Lexicon``, its document frequencies kept for the generation
    (``LocalBackend.frequencies``): a query's bounds, its statistics and "did you mean" look up the same words,
    in the search fields from the top-k arrays once they are loaded (a few µs, where Whoosh reads each
    segment's terms table)."""

    def __init__(self, backend: LocalBackend) -> None:
        self._reader = backend.searcher().reader()
        self._frequencies = backend.frequencies
        self._arrays = backend._arrays
        self.schema = self._reader.schema

    def doc_frequency(self, fieldname: str, text: bytes) -> int:
        key = (fieldname, text)
        found = self._frequencies.get(key)
        if found is None:
            if len(self._frequencies) > _MAX_CACHED_FREQUENCIES:
                self._frequencies.clear()
            arrays = self._arrays if fieldname in SEARCH_FIELDS else None
            found = self._frequencies[key] = (arrays.doc_frequency(fieldname, text) if arrays is not None
                                              else self._reader.doc_frequency(fieldname, text))
        return found

    def doc_count(self) -> int:
        return self._reader.doc_count()

    def lexicon(self, fieldname: str) -> Iterator[bytes]:
        return self._reader.lexicon(fieldname)

    def expand_prefix(self, fieldname: str, prefix: str) -> Iterator[bytes]:
        return self._reader.expand_prefix(fieldname, prefix)

    def terms_from(self, fieldname: str, prefix: bytes) -> Iterator[tuple[str, bytes]]:
        return self._reader.terms_from(fieldname, prefix)

    def __getattr__(self, name: str) -> Any:  # the rest of the reader, for Whoosh's range queries (``bounds``)
        return getattr(self._reader, name)


class _ReaderStatistics:
    """A generation's statistics for any term, read from its Whoosh reader (and, per article, its arrays)."""

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend
        self._lexicon = _Lexicon(backend)
        self._reader = backend.searcher().reader()
        self.passages = self._reader.doc_count_all()
        self._articles: tuple[int, dict[str, float]] | None = None

    def passage_length(self, fieldname: str) -> float:
        return self._reader.field_length(fieldname)

    def passage_frequency(self, fieldname: str, term: bytes) -> int:
        return self._lexicon.doc_frequency(fieldname, term)

    def term_count(self, fieldname: str, term: bytes) -> float:
        return self._reader.frequency(fieldname, term)

    @property
    def articles(self) -> int:
        return self._article_level()[0]

    def article_length(self, fieldname: str) -> float:
        return self._article_level()[1].get(fieldname, 0)

    def article_frequency(self, term: bytes) -> int:
        arrays = self._backend.arrays()
        return arrays.article_statistics([term])[2][term] if arrays is not None else 0

    def _article_level(self) -> tuple[int, dict[str, float]]:
        if self._articles is None:
            arrays = self._backend.arrays()
            count, lengths, _ = arrays.article_statistics(()) if arrays is not None else (0, {}, {})
            self._articles = (count, lengths)
        return self._articles
