"""Index: build or update a Whoosh index of passages, open it, search it, fetch passages, report stats.

An index directory holds generations (see ``store``); the live one holds the Whoosh segments,
``manifest.json`` (versions, counts, per-file fingerprints, the size and CRC-32 of each segment file) and
``punkt.json`` (the sentence splitter learned at the first build with text). Input files are known by their
real path, stored relative to the index directory's parent when under it, so a prebuilt index moves with its
repository; a file moved or renamed is recognised by its content (see ``Index.update``).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import heapq
import json
import os
import posixpath
import shutil
import time as _time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import whoosh.index
from whoosh import query as wq
from whoosh.index import LockError

from . import safepickle, schema, store
from .errors import (
    ArticleError, IndexCorrupt, IndexIncompatible, IndexLocked, IndexNotFound, IndexUntrusted, PassageNotFound,
    QueryError,
)
from .highlight import highlight, match_terms
from .models import BuildReport, Hit, IndexStats, Passage, SkippedFile
from .query import bound_patterns, build_query, check_whoosh_reach, expanded
from .segments import DocumentError, rewrite_segments, write_segments
from .version import __version__

safepickle.install()  # before any index is read: Whoosh's own unpickling runs whatever code a crafted index names

__all__ = ["Index", "Progress", "MANIFEST", "SORTS"]

MANIFEST = store.MANIFEST
PUNKT = "punkt.json"
SORTS = ("score", "date")
ARRAYS_FIRST_QUERY_POSTINGS = 50_000
"""A first query walking more postings than this loads the top-k arrays (Whoosh: ~1 µs a posting; NumPy's
import: ~50 ms); at most ``query.MAX_WHOOSH_POSTINGS``, so that no query Whoosh would refuse skips the arrays."""
PUNKT_SAMPLE_CHARS = 500_000
"""Punkt learns from (at most) this much text of the first build's articles: 0.6 s of training, before any
indexing starts (1 MB took 1.3 s and cut all 19,043 Reuters-21578 articles into the same passages)."""
SMALL_SEGMENT_PASSAGES = 10_000
MAX_SMALL_SEGMENTS = 8
"""A commit leaving more segments of fewer live passages than ``SMALL_SEGMENT_PASSAGES`` re-writes them into new
ones (each update adds a segment or two, and replacing a file leaves its old passages deleted in place)."""
PARALLEL_INPUT_BYTES = 2_000_000
"""Inputs this large are indexed by one process per core (below it, a second process costs more than it saves)."""
MAX_WRITER_PROCS = 4
SHARD_BYTES = 2_000_000
"""A file this large is indexed by all the indexing processes together (see ``_index_files``)."""

# An undated passage holds the date column's default, its largest value: ``sort="date"`` puts it last.
_UNDATED = schema.SCHEMA["date"].default

Progress = Callable[[int, int, str], None]
"""Called as ``progress(files_done, files_total, current_path)`` while indexing."""
Sources = Iterable[str | bytes | os.PathLike] | str | bytes | os.PathLike
"""Files and folders to index: paths, or one path."""


def _reads_segments(method):
    """Whoosh's errors from damaged segment data, raised inside ``method``, become ``IndexCorrupt``."""

    @functools.wraps(method)
    def reading(self, *args, **kwargs):
        with store.damage_is_corruption(self.path):
            return method(self, *args, **kwargs)

    return reading


class Index:
    """A searchkit index on disk; a context manager that closes its searcher.

    >>> report = Index.build(["seeds/"], "index/")
    >>> with Index.open("index/") as ix:
    ...     hits = ix.search("Caspian seabed", limit=3)
    """

    def __init__(
        self, path: Path, ix: whoosh.index.Index, manifest: dict, directory: Path,
        lease: store.ReaderLease | None = None,
    ) -> None:
        """Use ``Index.open`` or ``Index.build``."""
        self.path = path
        self.directory = directory
        """The generation this Index reads (a directory inside ``path``)."""
        self.manifest = manifest
        self._ix = ix
        self._lease = lease
        self._searcher = None
        self._topk = None
        self._queries = 0

    # --- opening and building ------------------------------------------------------------------------------

    @staticmethod
    def exists(path: str | os.PathLike) -> bool:
        """Whether ``path`` holds a searchkit index (of any version)."""
        return store.is_store(Path(path)) or (Path(path) / MANIFEST).is_file()

    @classmethod
    def open(cls, path: str | os.PathLike, *, verify: bool = False) -> Index:
        """Open an existing index for searching (and updating): the last commit, until ``close``.

        Every index file is checked against the manifest: its size, and its CRC-32 where it was written to since
        its commit (or is read whole at open); with ``verify``, the CRC-32 of every file. What Whoosh unpickles,
        here and at every later read, admits only what a searchkit index holds (see ``safepickle``): a crafted
        index runs none of its code.

        Raises:
            IndexNotFound: there is no index at ``path``.
            IndexIncompatible: it was built with another schema version; rebuild it.
            IndexCorrupt: files are missing, truncated or damaged; rebuild it.
            IndexUntrusted: files hold what searchkit never writes (a crafted index).
        """
        path = Path(path)
        if not store.is_store(path):
            if (path / MANIFEST).is_file():
                raise IndexIncompatible(f"index at {path} has an older layout; {store.rebuild_hint(path)}")
            raise IndexNotFound(f"no searchkit index at {path} (build one with: searchkit index PATH --index {path})")
        lease = store.ReaderLease(path)
        try:
            return cls._open_generation(path, lease, verify)
        except BaseException:
            lease.release()
            raise

    @classmethod
    def _open_generation(cls, path: Path, lease: store.ReaderLease, verify: bool) -> Index:
        manifest = store.read_manifest(path, lease.generation, lease.manifest_crc)
        version = manifest.get("schema_version")
        if version != schema.SCHEMA_VERSION:
            raise IndexIncompatible(
                f"index at {path} has schema version {version} (built by searchkit "
                f"{manifest.get('searchkit_version')}); this searchkit {__version__} reads version "
                f"{schema.SCHEMA_VERSION}: rebuild it with searchkit index --rebuild"
            )
        problems = store.verify_files(lease.directory, manifest.get("segment_files", {}), checksums=verify)
        if problems:
            raise IndexCorrupt(f"index at {path} is damaged: {'; '.join(problems)}; {store.rebuild_hint(path)}")
        try:
            ix = whoosh.index.open_dir(str(lease.directory), readonly=True)
            stored = ix.doc_count()
        except IndexUntrusted as e:
            raise IndexUntrusted(e.reason, str(path)) from None
        except Exception as e:  # a damaged TOC surfaces as any of pickle's, struct's or Whoosh's errors
            raise IndexCorrupt(f"index at {path} cannot be read ({e!r}); {store.rebuild_hint(path)}") from None
        if stored != manifest.get("counts", {}).get("passages"):
            raise IndexCorrupt(
                f"index at {path} holds {stored} passages, its manifest says {manifest.get('counts', {}).get('passages')}"
                f"; {store.rebuild_hint(path)}"
            )
        return cls(path, ix, manifest, lease.directory, lease)

    @classmethod
    def build(
        cls,
        sources: Sources,
        path: str | os.PathLike,
        *,
        progress: Progress | None = None,
        wait: float = 0.0,
    ) -> BuildReport:
        """Build a new index of ``sources`` (files and folders, or one of them) at ``path``, replacing any index
        there. No sources, or none readable, make a valid empty index.

        The new index is a new generation, made live only when complete: a failed or killed build leaves
        the previous index as it was. An index of the older layout is replaced in place the same way (its
        files are removed once the new generation is live); any other non-empty directory is refused.

        Raises:
            IndexLocked: another process is writing to the index (after waiting ``wait`` seconds).
            IndexWriteError: the disk filled up, or an indexing process died; nothing was committed.
            IndexNotFound: ``path`` is a file, or a non-empty directory that is not a searchkit index.
            TypeError: ``sources`` or ``path`` is not a path (str, bytes or os.PathLike) or paths.
            ValueError: a path holds a NUL byte.
        """
        sources, path = _source_list(sources), Path(_path_text(path, "path"))
        if not store.can_hold_store(path):
            raise IndexNotFound(
                f"{path} exists and is not a searchkit index: nothing was written; choose another --index, "
                f"or empty or remove {path} first"
            )
        with store.full_disk_is_write_error(path), store.write_lock(path, wait=wait):
            report = cls._commit(path, None, sources, progress=progress, prune=False)
            store.collect_garbage(path)
        return report

    def update(
        self,
        sources: Sources,
        *,
        prune: bool = False,
        progress: Progress | None = None,
        wait: float = 0.0,
    ) -> BuildReport:
        """Index new and changed files of ``sources`` (files and folders, or one of them); unchanged files are
        skipped, changed ones replaced.

        Files are known by their real path (links resolved), relative to ``root`` when inside it. A file
        under a new path whose content an indexed file had, that file no longer at its own path, has moved
        (the index, its inputs, or both): it is re-indexed under its new path in place of the old one, never
        beside it. With ``prune``, files indexed before but no longer among ``sources`` are removed. All of it
        is one commit: a failed or killed update leaves the index as it was. Afterwards this Index reads the
        new commit.

        Raises:
            IndexLocked: another process is writing to the index (after waiting ``wait`` seconds).
            IndexWriteError: the disk filled up, or an indexing process died; nothing was committed.
            TypeError: ``sources`` is not a path (str, bytes or os.PathLike) or paths.
            ValueError: a path holds a NUL byte.
        """
        sources = _source_list(sources)
        with store.full_disk_is_write_error(self.path), store.write_lock(self.path, wait=wait):
            base = store.current_generation(self.path)[0]
            report = self._commit(self.path, base, sources, progress=progress, prune=prune)
            reopened = Index.open(self.path)
            self.close()
            self.directory, self.manifest, self._ix, self._lease = (
                reopened.directory, reopened.manifest, reopened._ix, reopened._lease
            )
            store.collect_garbage(self.path)
        return report

    @classmethod
    def _commit(
        cls, path: Path, base: str | None, sources: list[str], *,
        progress: Progress | None, prune: bool,
    ) -> BuildReport:
        """Write a new generation (from ``base``, or empty) with ``sources`` indexed, and make it live."""
        directory = store.new_generation(path, base)
        try:
            if base is None:
                ix, manifest = whoosh.index.create_in(str(directory), schema.SCHEMA), _new_manifest()
            else:
                ix = whoosh.index.open_dir(str(directory))
                manifest = json.loads((directory.parent / base / MANIFEST).read_text(encoding="utf-8"))
            generation = cls(path, ix, manifest, directory)
            with store.forked_children_die_with_this_process():
                report = generation._index(sources, progress=progress, prune=prune)
            generation.close()
            store.publish(path, directory)
        except BaseException:
            # An interrupt (Ctrl-C, SIGTERM) can land just after publish renamed CURRENT: committed, keep it.
            if not (store.is_store(path) and store.current_generation(path)[0] == directory.name):
                shutil.rmtree(directory, ignore_errors=True)
            raise
        return report

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None
        self._ix.close()
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- searching -----------------------------------------------------------------------------------------

    @_reads_segments
    def search(
        self,
        text: str,
        *,
        limit: int = 10,
        source: str | None = None,
        place: str | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        speaker: str | None = None,
        sort: str = "score",
        syntax: bool = True,
        highlights: bool = True,
        per_article: bool = False,
        expand: bool = False,
    ) -> list[Hit]:
        """Ranked passages matching ``text`` (Whoosh query syntax), best first, with highlights.

        ``since``/``until`` are ISO dates or ``date``s (inclusive); ``sort="date"`` orders matches newest first,
        best first within a day.
        ``syntax=False`` reads ``text`` as plain words, any of which may match (see ``build_query``);
        ``highlights=False`` leaves ``Hit.highlights`` empty, for callers that only rank.
        ``per_article=True`` returns one hit per article: its best passage, with the article's score, ranked
        by it (see ``schema.ARTICLE_WEIGHT``).
        ``expand=True`` adds words of the top hits to the query (pseudo-relevance feedback, see ``expand``)
        and searches again; highlights then mark the added words too.

        Raises:
            NothingToSearch: every word of ``text`` is a stop word (a ``QueryError``).
            QueryError: the query, a filter, ``limit`` or ``sort`` is malformed, the query's wildcards, prefixes
                or ranges reach too much of the index (see ``query.bound_patterns``), or ``per_article``
                is combined with ``sort="date"``.
            TypeError: an argument is not of its type.
        """
        _check_types(
            text=(text, str), limit=(limit, int), source=(source, _TEXT), place=(place, _TEXT), since=(since, _DAY),
            until=(until, _DAY), speaker=(speaker, _TEXT), sort=(sort, str), syntax=(syntax, bool),
            highlights=(highlights, bool), per_article=(per_article, bool), expand=(expand, bool),
        )
        if limit < 1:
            raise QueryError(f"limit must be at least 1, got {limit}")
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
        if per_article and sort != "score":
            raise QueryError("per-article results are ranked by score; they cannot be sorted by date")
        parsed = build_query(
            text, source=source, place=place, since=since, until=until, speaker=speaker, syntax=syntax
        )
        searcher = self._searcher_now()
        parsed = bound_patterns(parsed, searcher.reader())
        limit = min(limit, max(1, searcher.doc_count_all()))
        if expand:
            parsed = self._expanded(searcher, parsed, per_article)
        if sort == "date":
            ranked = self._newest(searcher, parsed, limit)
        elif per_article:
            ranked = self._top_articles(searcher, parsed, limit)
        else:
            ranked = self._top(searcher, parsed, limit)
        terms = match_terms(parsed.query, searcher.reader())
        hits = []
        for rank, (docnum, score) in enumerate(ranked, start=1):
            passage = self._passage(searcher.stored_fields(docnum))
            marks = highlight(passage.text, terms) if highlights else ()
            hits.append(Hit(rank, float(score or 0.0), passage, marks))
        return hits

    @_reads_segments
    def get(self, passage_id: str) -> Passage:
        """The passage with this id.

        Raises:
            PassageNotFound: no passage has this id.
            TypeError: ``passage_id`` is not a string.
        """
        _check_types(passage_id=(passage_id, str))
        if any("\ud800" <= c <= "\udfff" for c in passage_id):  # not UTF-8: no id can hold it
            raise PassageNotFound(f"no passage with id {passage_id!r} in {self.path}")
        stored = self._searcher_now().document(id=passage_id)
        if stored is None:
            raise PassageNotFound(f"no passage with id {passage_id!r} in {self.path}")
        return self._passage(stored)

    @_reads_segments
    def neighbours(self, passage_id: str) -> list[Passage]:
        """The passages just before and after this one in its article (zero, one or two, in order).

        Raises:
            PassageNotFound: no passage has this id.
            TypeError: ``passage_id`` is not a string.
        """
        passage = self.get(passage_id)
        near = wq.And([
            wq.Term("article", passage.article),
            wq.NumericRange("position", passage.position - 1, passage.position + 1),
        ])
        docs = self._searcher_now().search(near, limit=None, sortedby="position")
        return [p for p in (self._passage(d.fields()) for d in docs) if p.id != passage.id and p.path == passage.path]

    def passages(self) -> Iterator[Passage]:
        """Every passage in the index, in index order (for exports and integrity checks)."""
        with store.damage_is_corruption(self.path):
            reader = self._searcher_now().reader()
            for _, stored in reader.iter_docs():
                yield self._passage(stored)

    @_reads_segments
    def stats(self) -> IndexStats:
        """Counts, date range, sources and places of the live passages (those a query can find), the bytes the
        index directory occupies, and the manifest (without per-file detail)."""
        searcher = self._searcher_now()
        reader = searcher.reader()
        # The lexicon still holds the dates of replaced (deleted) passages: the range is of dates a live one has.
        dates = list(schema.SCHEMA["date"].sortable_terms(reader, "date"))
        first = next((term for term in dates if reader.postings("date", term).is_active()), None)
        last = next((term for term in reversed(dates) if reader.postings("date", term).is_active()), None)
        counts = self.manifest.get("counts", {})
        return IndexStats(
            path=str(self.path),
            passages=searcher.doc_count(),
            articles=counts.get("articles", 0),
            files=counts.get("files", 0),
            first_date=schema.SCHEMA["date"].from_bytes(first).date() if first else None,
            last_date=schema.SCHEMA["date"].from_bytes(last).date() if last else None,
            sources=self._facet(searcher, "source"),
            places=self._facet(searcher, "place"),
            size_bytes=_occupied_bytes(self.path),
            manifest={k: v for k, v in self.manifest.items() if k != "files"},
        )

    # --- internals -----------------------------------------------------------------------------------------

    @functools.cached_property
    def root(self) -> Path:
        """Where relative stored paths start: the index directory's parent."""
        return self.path.resolve().parent

    def _searcher_now(self):
        if self._searcher is None:
            self._searcher = self._ix.searcher(weighting=schema.weighting())
        else:
            self._searcher = self._searcher.refresh()
        return self._searcher

    def _top(self, searcher, parsed, limit: int) -> list[tuple[int, float]]:
        """The best ``limit`` (docnum, score): from the top-k arrays where they answer exactly, else Whoosh.

        Both give the same ranking. The arrays (and NumPy, whose import costs more than a light query) are
        loaded at this Index's second query, or at its first when that one walks many postings: a one-shot
        ``searchkit query`` of a few rare words stays on Whoosh.
        """
        self._queries += 1
        arrays = self._arrays(
            load=self._queries > 1 or parsed.postings > ARRAYS_FIRST_QUERY_POSTINGS
        )
        ranked = arrays.search(searcher, parsed.query, parsed.filter, limit) if arrays else None
        if ranked is None:
            check_whoosh_reach(parsed)
            results = searcher.search(parsed.query, limit=limit, filter=parsed.filter)
            ranked = [(h.docnum, h.score) for h in results]
        return ranked

    def _arrays(self, *, load: bool):
        """This generation's top-k arrays (None if absent), loaded now if ``load`` and not loaded yet."""
        if self._topk is not None and self._topk.index_dir != self.directory:
            self._topk = None
        if self._topk is None and load:
            from .topk import TopK  # NumPy: only once a query needs it

            self._topk = TopK.load(self.directory)
        return self._topk

    def _top_articles(self, searcher, parsed, limit: int) -> list[tuple[int, float]]:
        """The best ``limit`` articles as (docnum of the best passage, article score); the top-k arrays hold
        the articles' statistics. Where they cannot answer, articles rank by their best passage."""
        arrays = self._arrays(load=True)
        if arrays is not None:
            ranked = arrays.search_articles(searcher, parsed.query, parsed.filter, limit, schema.ARTICLE_WEIGHT)
            if ranked is not None:
                return ranked
        check_whoosh_reach(parsed)
        best: dict[tuple[str, str], tuple[int, float]] = {}
        for docnum, score in self._top(searcher, parsed, max(1, searcher.doc_count_all())):
            stored = searcher.stored_fields(docnum)
            best.setdefault((stored["path"], stored["article"]), (docnum, score))
            if len(best) == limit:  # the next articles' best passages all rank below
                break
        return list(best.values())

    def _newest(self, searcher, parsed, limit: int) -> list[tuple[int, float]]:
        """The first ``limit`` (docnum, score) by date, newest first, then by score, best first (undated last):
        from the top-k arrays where they answer exactly, else from every match as Whoosh scores it."""
        arrays = self._arrays(load=True)
        ranked = arrays.search_by_date(searcher, parsed.query, parsed.filter, limit) if arrays else None
        if ranked is not None:
            return ranked
        check_whoosh_reach(parsed)
        dates = searcher.reader().column_reader("date", translate=False)
        matches = ((hit.docnum, hit.score) for hit in searcher.search(parsed.query, limit=None, filter=parsed.filter))

        def order(match: tuple[int, float]) -> tuple[bool, int, float, int]:
            day = dates[match[0]]
            return (day == _UNDATED, 0 if day == _UNDATED else -day, -match[1], match[0])

        return heapq.nsmallest(limit, matches, key=order)

    def _expanded(self, searcher, parsed, per_article: bool):
        """``parsed`` expanded by words of its top hits (articles' best passages with ``per_article``)."""
        from . import expand

        top = self._top_articles if per_article else self._top
        feedback = [searcher.stored_fields(docnum) for docnum, _ in top(searcher, parsed, expand.FEEDBACK_HITS)]
        words = expand.expansion_words(searcher.reader(), feedback, words=expand.FEEDBACK_WORDS, model=expand.MODEL)
        return expanded(parsed, words, expand.ORIGINAL_WEIGHT)

    def _passage(self, stored: dict) -> Passage:
        return schema.to_passage(stored, os.path.normpath(os.path.join(self.root, stored["path"])))

    def _stored_path(self, path: str) -> str:
        """The key a file is indexed under: its real path (one file reached by two paths is one file),
        relative to ``root`` when inside it (an index moves with its inputs), else absolute."""
        full = os.path.realpath(path)
        root = str(self.root)
        if full.startswith(root + os.sep):
            return Path(os.path.relpath(full, root)).as_posix()
        return full

    def _moved(self, changed: list[tuple[str, str, dict]], known: dict, current_keys: set[str]) -> dict[str, str]:
        """New key → old key of the ``changed`` files that moved: indexed before under a key not among this
        run's inputs, of the same content (the same file name preferred), which no longer holds it."""
        gone_by_content: dict[str, list[str]] = collections.defaultdict(list)
        for old_key, entry in known.items():
            if old_key not in current_keys:
                gone_by_content[entry.get("sha256")].append(old_key)
        moved: dict[str, str] = {}
        claimed: set[str] = set()
        for f, key, fingerprint in changed:
            if key in known or fingerprint["sha256"] not in gone_by_content:
                continue
            name = posixpath.basename(key)
            for old_key in sorted(gone_by_content[fingerprint["sha256"]], key=lambda k: posixpath.basename(k) != name):
                if old_key not in claimed and not self._still_holds(old_key, fingerprint["sha256"], f):
                    moved[key] = old_key
                    claimed.add(old_key)
                    break
        return moved

    def _still_holds(self, key: str, sha256: str, new_path: str) -> bool:
        """Whether the file indexed under ``key`` is still there with this content, and is not the file at
        ``new_path`` under another name (a hard link, or a key written before links were resolved): then the
        file at ``new_path`` is a copy, indexed as a file of its own."""
        old_path = os.path.join(self.root, key)
        try:
            return not os.path.samefile(old_path, new_path) and _fingerprint(old_path)["sha256"] == sha256
        except OSError:
            return False

    @staticmethod
    def _facet(searcher, fieldname: str) -> dict[str, int]:
        """Live passages per value of ``fieldname``, most first, each value as stored (its term is lowercased)."""
        reader = searcher.reader()
        facet = {}
        for term in reader.lexicon(fieldname):
            count = sum(_live_frequency(leaf, fieldname, term) for leaf, _ in reader.leaf_readers())
            if count:
                facet[searcher.document(**{fieldname: term.decode("utf-8")})[fieldname]] = count
        return dict(sorted(facet.items(), key=lambda kv: (-kv[1], kv[0])))

    def _index(self, sources: list[str], *, progress: Progress | None, prune: bool) -> BuildReport:
        from .ingest import iter_input_files  # the indexing path only: keeps nltk out of query start-up
        from .passages import PassageSplitter, punkt_from_json, punkt_to_json, train_punkt

        began = _time.perf_counter()
        skipped: list[SkippedFile] = [SkippedFile(s, "no such file or directory") for s in sources if not os.path.exists(s)]
        files = list(iter_input_files(
            [s for s in sources if os.path.exists(s)], on_error=lambda f, reason: skipped.append(SkippedFile(f, reason)),
            exclude=[self.path],
        ))
        known: dict = self.manifest.setdefault("files", {})
        keys = [self._stored_path(f) for f in files]
        current_keys = set(keys)
        changed: list[tuple[str, str, dict]] = []
        unchanged = 0
        for f, key in zip(files, keys):
            try:
                fingerprint = _fingerprint(f)
            except OSError as e:
                skipped.append(SkippedFile(f, f"cannot read: {e.strerror or e}"))
                continue
            if known.get(key, {}).get("sha256") == fingerprint["sha256"]:
                unchanged += 1
            else:
                changed.append((f, key, fingerprint))
        moved = self._moved(changed, known, current_keys)
        moved_from = set(moved.values())
        removed = [k for k in known if k not in current_keys and k not in moved_from] if prune else []

        punkt_file = self.directory / PUNKT
        if punkt_file.is_file():
            params = punkt_from_json(json.loads(punkt_file.read_text(encoding="utf-8")))
        else:
            sample = _Counted(_ArticleReader(skipped).texts(changed))
            params = train_punkt(sample, max_chars=PUNKT_SAMPLE_CHARS)
            if sample.count:  # learned from no text (an empty build), it is not kept: the first text teaches it
                punkt_file.write_text(json.dumps(punkt_to_json(params), indent=0), encoding="utf-8")
        splitter = PassageSplitter(params)

        new_segments, outcomes = _index_files(self._ix, changed, splitter, progress)
        articles = passages = added = replaced = 0
        try:
            writer = self._ix.writer(compound=False)
        except LockError:
            raise IndexLocked(f"another process is writing to the index at {self.path}") from None
        try:
            for key in removed:
                writer.delete_by_term("path", key)
                del known[key]
            for (f, key, fingerprint), (file_articles, file_passages, file_skipped) in zip(changed, outcomes):
                skipped.extend(file_skipped)
                if file_articles == 0:
                    continue  # a changed file that can no longer be read keeps its indexed passages
                old_key = moved.get(key)
                replaced += key in known or old_key is not None
                added += key not in known and old_key is None
                for stale in (key, old_key):
                    if stale in known:
                        writer.delete_by_term("path", stale)
                        del known[stale]
                known[key] = {**fingerprint, "articles": file_articles, "passages": file_passages}
                articles += file_articles
                passages += file_passages
            writer.segments.extend(new_segments)  # committed with the deletions, in one TOC
            writer.commit(mergetype=functools.partial(_merge_small_segments, self._ix))
        except BaseException:
            writer.cancel()
            raise
        from . import topk  # NumPy: only for writing or answering queries

        if self._ix.doc_count():
            topk.write(self.directory, self._ix)
        else:  # no passages: there may be no segments (Whoosh's EmptyReader), and no query needs arrays
            shutil.rmtree(self.directory / topk.FOLDER, ignore_errors=True)
        seconds = _time.perf_counter() - began
        self._write_manifest(seconds)
        return BuildReport(
            articles=articles,
            passages=passages,
            files_added=added,
            files_replaced=replaced,
            files_unchanged=unchanged,
            files_removed=len(removed),
            skipped=tuple(skipped),
            seconds=seconds,
        )

    def _write_manifest(self, seconds: float) -> None:
        files = self.manifest["files"]
        self.manifest.update(
            searchkit_version=__version__,
            schema_version=schema.SCHEMA_VERSION,
            updated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            build_seconds=round(seconds, 3),
            counts={
                "files": len(files),
                "articles": sum(f["articles"] for f in files.values()),
                "passages": sum(f["passages"] for f in files.values()),
            },
            fingerprint=inputs_fingerprint(files),
            generation=self.directory.name,
            segment_files=store.file_checksums(self.directory, self.manifest.get("segment_files")),
        )
        self.manifest.setdefault("created", self.manifest["updated"])
        (self.directory / MANIFEST).write_text(json.dumps(self.manifest, indent=1, sort_keys=True), encoding="utf-8")


class _Counted:
    """An iterator of texts that counts those it has yielded."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._texts = iter(texts)
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        text = next(self._texts)
        self.count += 1
        return text


class _ArticleReader:
    """Reads articles, recording unreadable files and bad lines in ``skipped``."""

    def __init__(self, skipped: list[SkippedFile]) -> None:
        self.skipped = skipped

    def texts(self, changed: list[tuple[str, str, dict]]) -> Iterator[str]:
        """The articles' texts, streamed, errors ignored (they are reported when the files are read to be
        indexed)."""
        from .ingest import read_articles

        for f, _, _ in changed:
            try:
                for article in read_articles(f, on_error=lambda error: None):
                    yield article.text
            except Exception:  # ArticleError, or any other: reported when the file is read to be indexed
                continue

    def articles(self, f: str) -> Iterator:
        from .ingest import read_articles, unexpected_error

        def on_error(error: ArticleError) -> None:
            self.skipped.append(SkippedFile(error.path, error.reason, error.line))

        try:
            yield from read_articles(f, on_error=on_error)
        except ArticleError as e:
            on_error(e)
        except Exception as e:  # a reader's failure no check foresaw skips the rest of this file, not the run
            on_error(ArticleError(f, unexpected_error(e)))


def _index_files(
    ix, changed: list[tuple[str, str, dict]], splitter, progress: Progress | None,
) -> tuple[list, list[tuple[int, int, list[SkippedFile]]]]:
    """Index the ``changed`` files' passages into new segments of ``ix`` (uncommitted); per file, the counts
    of articles and passages indexed and what was skipped.

    Large inputs are indexed by one process per core; a file of ``SHARD_BYTES`` or more is shared among them
    (each reads all of it and indexes every n-th article), so that one big JSON Lines file uses every core.
    """
    procs = _writer_procs(sum(fp["size"] for _, _, fp in changed))
    jobs = [(file_no, shard, shards) for file_no, (_, _, fp) in enumerate(changed)
            for shards in [procs if fp["size"] >= SHARD_BYTES else 1] for shard in range(shards)]

    def index_job(job: tuple[int, int, int], add: Callable[[dict], None]) -> tuple[int, int, list[SkippedFile]]:
        file_no, shard, shards = job
        f, key, _ = changed[file_no]
        read_skipped: list[SkippedFile] = []
        split_skipped: list[SkippedFile] = []
        file_articles = file_passages = 0
        for n, article in enumerate(_ArticleReader(read_skipped).articles(f)):
            if n % shards == shard:
                added = _index_article(article, splitter, key, add, split_skipped)
                file_articles += added > 0
                file_passages += added
        # Every shard reads the whole file and meets the same bad lines: the first one reports them.
        return file_articles, file_passages, (read_skipped if shard == 0 else []) + split_skipped

    shards_left = collections.Counter(file_no for file_no, _, _ in jobs)
    files_done = 0

    def job_done(_: int, job: tuple[int, int, int]) -> None:
        nonlocal files_done
        shards_left[job[0]] -= 1
        if shards_left[job[0]] == 0:
            files_done += 1
            if progress:
                progress(files_done, len(changed), changed[job[0]][0])

    from .topk import SegmentArrays  # NumPy: only for writing or answering queries

    if progress:
        progress(0, len(changed), changed[0][0] if changed else "")
    segments, outcomes = write_segments(ix, jobs, index_job, procs=procs, progress=job_done, copy=SegmentArrays)
    per_file: list[tuple[int, int, list[SkippedFile]]] = [(0, 0, []) for _ in changed]
    for (file_no, _, _), (file_articles, file_passages, file_skipped) in zip(jobs, outcomes):
        a, p, k = per_file[file_no]
        per_file[file_no] = (a + file_articles, p + file_passages, k + file_skipped)
    # Shards report the articles they could not split in turn: in line order, as one process would.
    per_file = [(a, p, sorted(k, key=lambda skip: skip.line or 0)) for a, p, k in per_file]
    return segments, per_file


def _index_article(article, splitter, key: str, add: Callable[[dict], None], skipped: list[SkippedFile]) -> int:
    """Add the passages of one article; the number added. An article that cannot be split or analysed is
    recorded in ``skipped`` (with its line) instead of stopping the run."""
    from .ingest import unexpected_error

    try:
        documents = [schema.to_document(passage, key) for passage in splitter.split(article)]
    except Exception as e:  # Punkt, the id hash or a field conversion failing on this article's text
        skipped.append(SkippedFile(article.path, unexpected_error(e), article.line))
        return 0
    for added, document in enumerate(documents):
        try:
            add(document)
        except DocumentError as e:
            kept = f"; its first {added} passages are indexed" if added else ""
            skipped.append(SkippedFile(article.path, unexpected_error(e.__cause__ or e) + kept, article.line))
            return added
    return len(documents)


def _merge_small_segments(ix, writer, segments: list) -> list:
    """The commit's merge policy: once more than ``MAX_SMALL_SEGMENTS`` segments hold fewer than
    ``SMALL_SEGMENT_PASSAGES`` live passages each, their passages are re-written into new segments; large segments
    are left alone. (Whoosh's default policy re-wrote most of a 1M-passage index at the commit, through its own
    one-process writer, for minutes.)"""
    from .topk import SegmentArrays

    small = [s for s in segments if s.doc_count() < SMALL_SEGMENT_PASSAGES]
    if len(small) <= MAX_SMALL_SEGMENTS:
        return segments
    kept = [s for s in segments if s.doc_count() >= SMALL_SEGMENT_PASSAGES]
    return kept + rewrite_segments(ix, small, copy=SegmentArrays)


_TEXT = (str, type(None))
_DAY = (str, date, type(None))


def _check_types(**arguments: tuple[object, type | tuple[type, ...]]) -> None:
    """Raise TypeError naming the first argument whose value is not of its type(s) (a bool is not an int)."""
    for name, (value, types) in arguments.items():
        types = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            expected = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def inputs_fingerprint(files: dict) -> str:
    """One sha256 over the sorted (path, content sha256) pairs of the indexed files."""
    digest = hashlib.sha256()
    for key in sorted(files):
        digest.update(f"{key}\0{files[key]['sha256']}\n".encode())
    return digest.hexdigest()


def _live_frequency(leaf, fieldname: str, term: bytes) -> int:
    """Live passages of one segment holding ``term`` (its document frequency counts deleted ones too)."""
    if not leaf.has_deletions():
        return leaf.doc_frequency(fieldname, term)
    if (fieldname, term) not in leaf:
        return 0
    return sum(1 for _ in leaf.postings(fieldname, term).all_ids())


def _occupied_bytes(path: Path) -> int:
    """The bytes of every file under ``path``, each file once (generations share files as hard links)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(folder, name))
            except OSError:  # removed meanwhile by a writer
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def _fingerprint(path: str) -> dict:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


def _source_list(sources: object) -> list[str]:
    """``sources`` as a list of paths (one path given alone is one source)."""
    if isinstance(sources, (str, bytes, os.PathLike)):
        return [_path_text(sources, "sources")]
    if not isinstance(sources, Iterable):
        raise TypeError(f"sources must be a path or an iterable of paths, got {type(sources).__name__}")
    return [_path_text(source, "sources") for source in sources]


def _path_text(path: object, argument: str) -> str:
    """``path`` (str, bytes or os.PathLike) as a str, undecodable bytes as lone surrogates (``os.fsdecode``)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{argument}: expected a path (str, bytes or os.PathLike), got {type(path).__name__} {path!r:.60}")
    text = os.fsdecode(path)
    if "\0" in text:
        raise ValueError(f"{argument}: a path cannot hold a NUL byte, got {text!r:.60}")
    return text


def _writer_procs(input_bytes: int) -> int:
    """Indexing processes: one per core (each writing its own segments) for large inputs."""
    return min(os.cpu_count() or 1, MAX_WRITER_PROCS) if input_bytes >= PARALLEL_INPUT_BYTES else 1


def _new_manifest() -> dict:
    return {"format": "searchkit-index", "files": {}}
