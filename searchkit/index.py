"""Index: build or update a Whoosh index of passages, open it, search it, fetch passages, report stats.

An index directory holds generations (see ``store``); the live one holds the Whoosh segments,
``manifest.json`` (versions, counts, per-file fingerprints, the size and CRC-32 of each segment file) and
``punkt.json`` (the sentence splitter learned at the first build). Paths of input files under the index
directory's parent are stored relative to it, so a prebuilt index moves with its repository.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import os
import shutil
import time as _time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import whoosh.index
from whoosh import query as wq
from whoosh import sorting
from whoosh.index import LockError

from . import schema, store
from .errors import (
    ArticleError, IndexCorrupt, IndexIncompatible, IndexLocked, IndexNotFound, PassageNotFound, QueryError,
)
from .highlight import highlight, match_terms
from .models import BuildReport, Hit, IndexStats, Passage, SkippedFile
from .query import build_query, expanded
from .segments import rewrite_segments, write_segments
from .version import __version__

__all__ = ["Index", "Progress", "MANIFEST", "SORTS"]

MANIFEST = store.MANIFEST
PUNKT = "punkt.json"
SORTS = ("score", "date")
ARRAYS_FIRST_QUERY_POSTINGS = 50_000
"""A first query walking more postings than this loads the top-k arrays (Whoosh: ~1 µs a posting; NumPy's
import: ~50 ms)."""
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

# An undated passage holds the column's default, its largest value: sort it as the oldest instead.
_UNDATED = schema.SCHEMA["date"].default
_BY_DATE = sorting.TranslateFacet(lambda v: -1 if v == _UNDATED else v, sorting.FieldFacet("date"))

Progress = Callable[[int, int, str], None]
"""Called as ``progress(files_done, files_total, current_path)`` while indexing."""


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
        its commit (or is read whole at open); with ``verify``, the CRC-32 of every file.

        Raises:
            IndexNotFound: there is no index at ``path``.
            IndexIncompatible: it was built with another schema version; rebuild it.
            IndexCorrupt: files are missing, truncated or damaged; rebuild it.
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
        sources: Iterable[str | os.PathLike],
        path: str | os.PathLike,
        *,
        progress: Progress | None = None,
        wait: float = 0.0,
    ) -> BuildReport:
        """Build a new index of ``sources`` (files and folders) at ``path``, replacing any index there.

        The new index is a new generation, made live only when complete: a failed or killed build leaves
        the previous index as it was. An index of the older layout is replaced in place the same way (its
        files are removed once the new generation is live); any other non-empty directory is refused.

        Raises:
            IndexLocked: another process is writing to the index (after waiting ``wait`` seconds).
            IndexWriteError: the disk filled up, or an indexing process died; nothing was committed.
            IndexNotFound: ``path`` is a file, or a non-empty directory that is not a searchkit index.
        """
        path = Path(path)
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
        sources: Iterable[str | os.PathLike],
        *,
        prune: bool = False,
        progress: Progress | None = None,
        wait: float = 0.0,
    ) -> BuildReport:
        """Index new and changed files of ``sources``; unchanged files are skipped, changed ones replaced.

        With ``prune``, files indexed before but no longer among ``sources`` are removed. All of it is one
        commit: a failed or killed update leaves the index as it was. Afterwards this Index reads the new
        commit.

        Raises:
            IndexLocked: another process is writing to the index (after waiting ``wait`` seconds).
            IndexWriteError: the disk filled up, or an indexing process died; nothing was committed.
        """
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
        cls, path: Path, base: str | None, sources: Iterable[str | os.PathLike], *,
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
        since: str | None = None,
        until: str | None = None,
        speaker: str | None = None,
        sort: str = "score",
        syntax: bool = True,
        highlights: bool = True,
        per_article: bool = False,
        expand: bool = False,
    ) -> list[Hit]:
        """Ranked passages matching ``text`` (Whoosh query syntax), best first, with highlights.

        ``since``/``until`` are ISO dates (inclusive); ``sort="date"`` orders matches newest first.
        ``syntax=False`` reads ``text`` as plain words, any of which may match (see ``build_query``);
        ``highlights=False`` leaves ``Hit.highlights`` empty, for callers that only rank.
        ``per_article=True`` returns one hit per article: its best passage, with the article's score, ranked
        by it (see ``schema.ARTICLE_WEIGHT``).
        ``expand=True`` adds words of the top hits to the query (pseudo-relevance feedback, see ``expand``)
        and searches again; highlights then mark the added words too.

        Raises:
            QueryError: the query, a filter, ``limit`` or ``sort`` is malformed, or ``per_article`` is
                combined with ``sort="date"``.
        """
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
        if expand:
            parsed = self._expanded(searcher, parsed, per_article)
        if sort == "date":
            newest = searcher.search(parsed.query, limit=limit, filter=parsed.filter, sortedby=_BY_DATE, reverse=True)
            # Sorted results carry sort keys, not scores: score just those passages to report BM25F,
            # then order them newest first, best first within a day, undated last.
            scored = searcher.search(parsed.query, limit=limit, filter={hit.docnum for hit in newest})
            results = sorted(scored, key=lambda hit: (hit.get("date") is not None, hit.get("date") or datetime.min, hit.score), reverse=True)
            ranked = [(hit.docnum, hit.score) for hit in results]
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
        """
        stored = self._searcher_now().document(id=passage_id)
        if stored is None:
            raise PassageNotFound(f"no passage with id {passage_id!r} in {self.path}")
        return self._passage(stored)

    @_reads_segments
    def neighbours(self, passage_id: str) -> list[Passage]:
        """The passages just before and after this one in its article (zero, one or two, in order)."""
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
            load=self._queries > 1 or parsed.query.estimate_size(searcher.reader()) > ARRAYS_FIRST_QUERY_POSTINGS
        )
        ranked = arrays.search(searcher, parsed.query, parsed.filter, limit) if arrays else None
        if ranked is None:
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
        best: dict[tuple[str, str], tuple[int, float]] = {}
        for docnum, score in self._top(searcher, parsed, max(1, searcher.doc_count_all())):
            stored = searcher.stored_fields(docnum)
            best.setdefault((stored["path"], stored["article"]), (docnum, score))
        return list(best.values())[:limit]

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
        full = os.path.abspath(path)
        root = str(self.root)
        if full.startswith(root + os.sep):
            return Path(os.path.relpath(full, root)).as_posix()
        return full

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

    def _index(self, sources: Iterable[str | os.PathLike], *, progress: Progress | None, prune: bool) -> BuildReport:
        from .ingest import iter_input_files  # the indexing path only: keeps nltk out of query start-up
        from .passages import PassageSplitter, punkt_from_json, punkt_to_json, train_punkt

        began = _time.perf_counter()
        sources = [os.fspath(s) for s in sources]
        skipped: list[SkippedFile] = [SkippedFile(s, "no such file or directory") for s in sources if not os.path.exists(s)]
        files = list(iter_input_files(
            [s for s in sources if os.path.exists(s)], on_error=lambda f, reason: skipped.append(SkippedFile(f, reason))
        ))
        known: dict = self.manifest.setdefault("files", {})
        changed: list[tuple[str, str, dict]] = []
        unchanged = 0
        for f in files:
            try:
                fingerprint = _fingerprint(f)
            except OSError as e:
                skipped.append(SkippedFile(f, f"cannot read: {e.strerror or e}"))
                continue
            key = self._stored_path(f)
            if known.get(key, {}).get("sha256") == fingerprint["sha256"]:
                unchanged += 1
            else:
                changed.append((f, key, fingerprint))
        current_keys = {self._stored_path(f) for f in files}
        removed = [k for k in known if k not in current_keys] if prune else []

        punkt_file = self.directory / PUNKT
        if punkt_file.is_file():
            params = punkt_from_json(json.loads(punkt_file.read_text(encoding="utf-8")))
        else:
            params = train_punkt(_ArticleReader(skipped).texts(changed), max_chars=PUNKT_SAMPLE_CHARS)
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
                if key in known:
                    writer.delete_by_term("path", key)
                replaced += key in known
                added += key not in known
                known[key] = {**fingerprint, "articles": file_articles, "passages": file_passages}
                articles += file_articles
                passages += file_passages
            writer.segments.extend(new_segments)  # committed with the deletions, in one TOC
            writer.commit(mergetype=functools.partial(_merge_small_segments, self._ix))
        except BaseException:
            writer.cancel()
            raise
        from . import topk  # NumPy: only for writing or answering queries

        topk.write(self.directory, self._ix)
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
            except ArticleError:
                continue

    def articles(self, f: str) -> Iterator:
        from .ingest import read_articles

        def on_error(error: ArticleError) -> None:
            self.skipped.append(SkippedFile(error.path, error.reason, error.line))

        try:
            yield from read_articles(f, on_error=on_error)
        except ArticleError as e:
            on_error(e)


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
        file_skipped: list[SkippedFile] = []
        file_articles = file_passages = 0
        for n, article in enumerate(_ArticleReader(file_skipped).articles(f)):
            if n % shards == shard:
                file_articles += 1
                for passage in splitter.split(article):
                    add(schema.to_document(passage, key))
                    file_passages += 1
        return file_articles, file_passages, file_skipped if shard == 0 else []

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
    return segments, per_file


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


def _writer_procs(input_bytes: int) -> int:
    """Indexing processes: one per core (each writing its own segments) for large inputs."""
    return min(os.cpu_count() or 1, MAX_WRITER_PROCS) if input_bytes >= PARALLEL_INPUT_BYTES else 1


def _new_manifest() -> dict:
    return {"format": "searchkit-index", "files": {}}
