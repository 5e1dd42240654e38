"""The write side: one commit of an index — change detection, Punkt, indexing jobs, deletions, the merge policy,
the top-k arrays and the manifest — written into a new generation that ``store`` makes live atomically.

Paths of input files under the index directory's parent are stored relative to it, so a prebuilt index moves
with its repository.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import os
import posixpath
import shutil
import time as _time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import whoosh.index
from whoosh.index import LockError

from . import schema, store, stories, vocabulary
from .errors import ArticleError, IndexLocked
from .models import Article, BuildReport, SkippedFile
from .pool import rewrite_segments, write_segments
from .segments import DocumentError
from .settings import Settings
from .storedfields import BlockCodec
from .version import __version__

__all__ = ["commit", "Progress", "MANIFEST", "PUNKT", "inputs_fingerprint", "file_fingerprint"]

MANIFEST = store.MANIFEST
PUNKT = "punkt.json"
SMALL_SEGMENT_PASSAGES = 10_000
MAX_SMALL_SEGMENTS = 8
"""A commit leaving more segments of fewer live passages than ``SMALL_SEGMENT_PASSAGES`` re-writes them into new
ones (each update adds a segment or two, and replacing a file leaves its old passages deleted in place)."""
PARALLEL_INPUT_BYTES = 2_000_000
"""Inputs this large are indexed by several processes (below it, a second process costs more than it saves)."""
MAX_WRITER_PROCS = 4
"""At most this many indexing processes, one per core: each holds up to ``pool.SEGMENT_POSTINGS`` postings
in memory (about 200 MB), and the commit's one-process steps bound what more processes would gain."""
SHARD_BYTES = 2_000_000
"""A file this large is indexed by all the indexing processes together (see ``_index_files``)."""

Progress = Callable[[int, int, str], None]
"""Called as ``progress(files_done, files_total, current_path)`` while indexing."""
FileOutcome = tuple[int, int, list[SkippedFile], list[tuple[str, Any]], int]
"""What indexing a file did: articles, passages, what was skipped, (article id, signature) of its articles, and
how many of its articles a shard left to other shards."""


def commit(
    path: Path, base: str | None, sources: list[str], *, settings: Settings,
    progress: Progress | None, prune: bool, punkt: dict | None = None, root: Path | None = None,
    holds: Callable[[Article], bool] | None = None,
) -> BuildReport:
    """Write a new generation of the index at ``path`` (from generation ``base``, or empty) with ``sources``
    indexed, and make it live; a new index learns its sentence splitter from its articles unless given ``punkt``
    (another index's ``punkt.json``). The caller holds the write lock; a failure leaves nothing behind.

    A shard of a sharded index stores paths relative to ``root`` (the sharded index's parent, not its own) and
    indexes only the articles it ``holds``; a file whose articles are all in other shards is still recorded.
    """
    directory = store.new_generation(path, base)
    try:
        if base is None:
            ix, manifest = whoosh.index.create_in(str(directory), schema.SCHEMA), _new_manifest()
        else:
            ix = whoosh.index.open_dir(str(directory))
            manifest = json.loads((directory.parent / base / MANIFEST).read_text(encoding="utf-8"))
        if punkt is not None and base is None:
            (directory / PUNKT).write_text(json.dumps(punkt, indent=0), encoding="utf-8")
        transaction = _Transaction(path, ix, manifest, directory, settings, root, holds, updating=base is not None)
        try:
            with store.forked_children_die_with_this_process():
                report = transaction.run(sources, progress=progress, prune=prune)
        finally:
            ix.close()
        store.publish(path, directory)
    except BaseException:
        # An interrupt (Ctrl-C, SIGTERM) can land just after publish renamed CURRENT: committed, keep it.
        if not (store.is_store(path) and store.current_generation(path)[0] == directory.name):
            shutil.rmtree(directory, ignore_errors=True)
        raise
    return report


class _Transaction:
    """One commit in the making: the new generation's Whoosh index and manifest."""

    def __init__(
        self, path: Path, ix, manifest: dict, directory: Path, settings: Settings, root: Path | None,
        holds: Callable[[Article], bool] | None, *, updating: bool,
    ) -> None:
        self.path = path
        self.updating = updating
        """Whether the generation starts from a previous one (its files hard-linked in)."""
        self._ix = ix
        self.manifest = manifest
        self.directory = directory
        self.settings = settings
        self.root = root or path.resolve().parent
        """Where relative stored paths start: the index directory's parent."""
        self.holds = holds

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
            return not os.path.samefile(old_path, new_path) and file_fingerprint(old_path)["sha256"] == sha256
        except OSError:
            return False

    def run(self, sources: list[str], *, progress: Progress | None, prune: bool) -> BuildReport:
        """Index ``sources`` into this generation and write its manifest."""
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
                fingerprint = file_fingerprint(f)
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
        read_ahead = _ReadAhead(keep=_writer_procs(sum(fp["size"] for _, _, fp in changed)) == 1)
        if punkt_file.is_file():
            params = punkt_from_json(json.loads(punkt_file.read_text(encoding="utf-8")))
        else:
            sample = _Counted(read_ahead.texts(changed))
            params = train_punkt(sample, max_chars=self.settings.punkt_sample_chars)
            if sample.count:  # learned from no text (an empty build), it is not kept: the first text teaches it
                punkt_file.write_text(json.dumps(punkt_to_json(params), indent=0), encoding="utf-8")
        splitter = PassageSplitter(params, max_chars=self.settings.max_passage_chars)

        if changed:
            stories.check_library()
        new_segments, outcomes = _index_files(self._ix, changed, splitter, progress, read_ahead, self.holds)
        articles = passages = added = replaced = 0
        deleted: list[str] = list(removed)
        sketched: list[tuple[stories.Key, Any]] = []
        try:
            writer = self._ix.writer(compound=False, codec=BlockCodec())
        except LockError:
            raise IndexLocked(f"another process is writing to the index at {self.path}") from None
        deleted_words: collections.Counter[str] = collections.Counter()
        try:
            with self._ix.searcher() as searcher:  # the passages to delete, for their words
                for key in removed:
                    _delete_file(writer, searcher, key, deleted_words)
                    del known[key]
                for (f, key, fingerprint), (file_articles, file_passages, file_skipped, file_sketches, elsewhere) in zip(
                        changed, outcomes):
                    skipped.extend(file_skipped)
                    if file_articles + elsewhere == 0:
                        continue  # a changed file that can no longer be read keeps its indexed passages
                    old_key = moved.get(key)
                    replaced += key in known or old_key is not None
                    added += key not in known and old_key is None
                    for stale in (key, old_key):
                        if stale is not None and stale in known:
                            _delete_file(writer, searcher, stale, deleted_words)
                            del known[stale]
                            deleted.append(stale)
                    sketched.extend(((key, article_id), signature) for article_id, signature in file_sketches)
                    known[key] = {**fingerprint, "articles": file_articles, "passages": file_passages}
                    articles += file_articles
                    passages += file_passages
            # Before Whoosh's commit, which may merge the new segments away with their words files.
            vocabulary.commit(self.directory, [s.segment_id() for s in new_segments], deleted_words, base=self.updating)
            writer.segments.extend(new_segments)  # committed with the deletions, in one TOC
            writer.commit(mergetype=functools.partial(_merge_small_segments, self._ix))
        except BaseException:
            writer.cancel()
            raise
        from . import arrays  # NumPy: only for writing or answering queries

        story_ids = self._stories(deleted, sketched)
        if self._ix.doc_count():
            arrays.write(self.directory, self._ix, story_ids)
        else:  # no passages: there may be no segments (Whoosh's EmptyReader), and no query needs arrays
            shutil.rmtree(self.directory / arrays.FOLDER, ignore_errors=True)
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

    def _stories(self, deleted: list[str], sketched: list[tuple[stories.Key, Any]]) -> dict[stories.Key, int]:
        """Keep the signatures of the articles still indexed, with those just ``sketched`` (the files ``deleted``
        drop theirs), and number the stories they form."""
        import numpy as np

        keys, signatures = stories.kept(*stories.read(self.directory), deleted)
        if sketched:
            keys += [key for key, _ in sketched]
            signatures = np.concatenate([signatures, np.stack([signature for _, signature in sketched])])
        stories.write(self.directory, keys, signatures)
        return stories.story_ids(keys, signatures)

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
            settings=self.settings.to_dict(),
            stories=stories.SETTINGS,
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

    def articles(self, f: str) -> Iterator:
        from .articletext import unexpected_error
        from .ingest import read_articles

        def on_error(error: ArticleError) -> None:
            self.skipped.append(_skipped(error))

        try:
            yield from read_articles(f, on_error=on_error)
        except ArticleError as e:
            on_error(e)
        except Exception as e:  # a reader's failure no check foresaw skips the rest of this file, not the run
            on_error(ArticleError(f, unexpected_error(e)))


def _skipped(error: ArticleError) -> SkippedFile:
    return SkippedFile(error.path, error.reason, error.line)


class _ReadAhead:
    """The articles of the files that Punkt's sample read to their end, with the bad lines reading them skipped:
    in a one-process build (``keep``), indexing takes them from here rather than reading those files a second
    time (at most the sample's text is kept)."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self._files: dict[str, tuple[list[Article], list[SkippedFile]]] = {}

    def texts(self, changed: list[tuple[str, str, dict]]) -> Iterator[str]:
        """The articles' texts, streamed, file after file. A file whose reading fails is not kept: the failure is
        reported when it is read to be indexed."""
        from .ingest import read_articles

        for f, _, _ in changed:
            articles: list[Article] = []
            skipped: list[SkippedFile] = []
            try:
                for article in read_articles(f, on_error=lambda error: skipped.append(_skipped(error))):
                    if self.keep:
                        articles.append(article)
                    yield article.text
            except Exception:  # ArticleError, or any other: reported when the file is read to be indexed
                continue
            if self.keep:
                self._files[f] = (articles, skipped)

    def articles(self, f: str, skipped: list[SkippedFile]) -> Iterable[Article]:
        """``f``'s articles (kept ones, once, or read now), what reading it skips recorded in ``skipped``."""
        if f not in self._files:
            return _ArticleReader(skipped).articles(f)
        articles, read_skipped = self._files.pop(f)
        skipped.extend(read_skipped)
        return articles


def _index_files(
    ix, changed: list[tuple[str, str, dict]], splitter, progress: Progress | None, read_ahead: _ReadAhead,
    holds: Callable[[Article], bool] | None = None,
) -> tuple[list, list[FileOutcome]]:
    """Index the ``changed`` files' passages (of the articles ``ix`` ``holds``) into new segments of ``ix``
    (uncommitted); per file, the counts of articles and passages indexed, what was skipped, the indexed
    articles' signatures (``stories``), and the count of articles read but held elsewhere. A file ``read_ahead``
    kept is not read again.

    Large inputs are indexed by one process per core; a file of ``SHARD_BYTES`` or more is shared among them
    (each reads all of it and indexes every n-th article), so that one big JSON Lines file uses every core.
    """
    procs = _writer_procs(sum(fp["size"] for _, _, fp in changed))
    jobs = [(file_no, shard, shards) for file_no, (_, _, fp) in enumerate(changed)
            for shards in [procs if fp["size"] >= SHARD_BYTES else 1] for shard in range(shards)]

    def index_job(job: tuple[int, int, int], add: Callable[[dict], None]) -> FileOutcome:
        file_no, shard, shards = job
        f, key, _ = changed[file_no]
        read_skipped: list[SkippedFile] = []
        split_skipped: list[SkippedFile] = []
        sketches: list[tuple[str, Any]] = []
        file_articles = file_passages = elsewhere = 0
        for n, article in enumerate(read_ahead.articles(f, read_skipped)):
            if n % shards != shard:
                continue
            if holds is not None and not holds(article):
                elsewhere += 1
                continue
            added = _index_article(article, splitter, key, add, split_skipped)
            file_articles += added > 0
            file_passages += added
            signature = stories.sketch(article) if added else None
            if signature is not None:
                sketches.append((article.id, signature))
        # Every shard reads the whole file and meets the same bad lines: the first one reports them.
        return file_articles, file_passages, (read_skipped if shard == 0 else []) + split_skipped, sketches, elsewhere

    shards_left = collections.Counter(file_no for file_no, _, _ in jobs)
    files_done = 0

    def job_done(_: int, job: tuple[int, int, int]) -> None:
        nonlocal files_done
        shards_left[job[0]] -= 1
        if shards_left[job[0]] == 0:
            files_done += 1
            if progress:
                progress(files_done, len(changed), changed[job[0]][0])

    from .arrays import SegmentArrays  # NumPy: only for writing or answering queries

    if progress:
        progress(0, len(changed), changed[0][0] if changed else "")
    segments, outcomes = write_segments(
        ix, jobs, index_job, procs=procs, progress=job_done, copy=SegmentArrays, words=vocabulary.save_segment_words,
    )
    per_file: list[FileOutcome] = [(0, 0, [], [], 0) for _ in changed]
    for (file_no, _, _), (file_articles, file_passages, file_skipped, file_sketches, file_elsewhere) in zip(
            jobs, outcomes):
        a, p, k, s, e = per_file[file_no]
        per_file[file_no] = (a + file_articles, p + file_passages, k + file_skipped, s + file_sketches, e + file_elsewhere)
    # Shards report the articles they could not split in turn: in line order, as one process would.
    per_file = [(a, p, sorted(k, key=lambda skip: skip.line or 0), s, e) for a, p, k, s, e in per_file]
    return segments, per_file


def _index_article(article, splitter, key: str, add: Callable[[dict], None], skipped: list[SkippedFile]) -> int:
    """Add the passages of one article; the number added. An article that cannot be split or analysed is
    recorded in ``skipped`` (with its line) instead of stopping the run."""
    from .articletext import unexpected_error

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


def _delete_file(writer, searcher, key: str, words: collections.Counter[str]) -> None:
    """Delete the passages of the file indexed under ``key``, counting their word tokens into ``words`` (they
    leave the vocabulary with them)."""
    for docnum in searcher.document_numbers(path=key):
        words.update(vocabulary.stored_words(searcher.stored_fields(docnum)))
    writer.delete_by_term("path", key)


def _merge_small_segments(ix, writer, segments: list) -> list:
    """The commit's merge policy: once more than ``MAX_SMALL_SEGMENTS`` segments hold fewer than
    ``SMALL_SEGMENT_PASSAGES`` live passages each, their passages are re-written into new segments; large segments
    are left alone. (Whoosh's default policy re-wrote most of a 1M-passage index at the commit, through its own
    one-process writer, for minutes.)"""
    from .arrays import SegmentArrays

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


def file_fingerprint(path: str) -> dict:
    """The sha256 and size of a file's contents."""
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
