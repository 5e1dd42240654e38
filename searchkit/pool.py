"""Index jobs → new segments, over one process per core: forked processes take jobs from a shared queue as they
become free, each writing its own segments (``segments.SegmentBuilder``, a new one every ``SEGMENT_POSTINGS``)."""

from __future__ import annotations

import multiprocessing
import pickle
import queue
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from whoosh.codec.base import Segment
from whoosh.index import FileIndex
from whoosh.reading import SegmentReader

from .errors import IndexWriteError, SearchkitError
from .segments import DocumentError, PostingsCopy, SaveWords, SegmentBuilder

__all__ = ["write_segments", "rewrite_segments", "SEGMENT_POSTINGS"]

SEGMENT_POSTINGS = 3_000_000
"""Postings held in memory before they are written out as a segment (a text field's as tokens, 12 bytes each)."""

Job = TypeVar("Job")
Add = Callable[[dict], None]
IndexJob = Callable[[Job, Add], Any]
"""``index_job(job, add)`` calls ``add(document)`` for each document of ``job`` and returns its outcome; ``add``
raises ``DocumentError`` for a document that cannot be analysed (nothing of it added: the job may go on)."""


def write_segments(
    ix: FileIndex,
    jobs: Sequence[Job],
    index_job: IndexJob,
    *,
    procs: int = 1,
    progress: Callable[[int, Job], None] | None = None,
    copy: Callable[[], PostingsCopy] | None = None,
    words: SaveWords | None = None,
) -> tuple[list[Segment], list[Any]]:
    """Run ``index_job`` over ``jobs``, writing the documents into new segments of ``ix`` (not committed);
    ``copy`` and ``words`` as in ``SegmentBuilder``.

    With ``procs`` > 1, that many forked processes take jobs from a shared queue as they become free, each
    writing its own segments. ``progress(done, job)`` is called as each job finishes. Returns the segments and
    each job's outcome, in the order of ``jobs``.
    """
    procs = min(procs, len(jobs))
    if procs <= 1:
        return _write(ix, iter(range(len(jobs))), jobs, index_job, progress, copy, words)
    context = multiprocessing.get_context("fork")
    tasks, messages = context.Queue(), context.Queue()
    for i in [*range(len(jobs)), *[None] * procs]:
        tasks.put(i)
    workers = [context.Process(target=_worker, args=(ix, jobs, index_job, copy, words, tasks, messages), daemon=True)
               for _ in range(procs)]
    for worker in workers:
        worker.start()
    segments: list[Segment] = []
    outcomes: list[Any] = [None] * len(jobs)
    done = finished = 0
    try:
        while finished < len(workers):
            try:
                kind, payload = messages.get(timeout=1.0)
            except queue.Empty:
                exited = [w.exitcode for w in workers if w.exitcode is not None]
                # A worker that ended sent all it had before it did: one without a result died.
                if any(code != 0 for code in exited) or len(exited) > finished:
                    raise IndexWriteError(
                        "an indexing process died (killed, or out of memory?): nothing was committed, the index "
                        "is as it was; run searchkit index again"
                    ) from None
                continue
            if kind == "error":
                raise payload
            if kind == "done":
                done += 1
                if progress:
                    progress(done, jobs[payload])
            else:
                worker_segments, worker_outcomes = payload
                segments.extend(worker_segments)
                for i, outcome in worker_outcomes.items():
                    outcomes[i] = outcome
                finished += 1
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
            worker.join()
    return segments, outcomes


def rewrite_segments(
    ix: FileIndex, segments: Sequence[Segment], copy: Callable[[], PostingsCopy] | None = None,
) -> list[Segment]:
    """New segments of ``ix`` holding the live documents of ``segments``, as stored (every field of the schema
    must be stored): Whoosh's merge, without Whoosh's per-posting writer. ``copy`` as in ``SegmentBuilder``."""
    if not all(field.stored for _, field in ix.schema.items()):
        raise TypeError("rewrite_segments: the schema has fields that are not stored")

    def index_job(segment: Segment, add: Add) -> None:
        reader = SegmentReader(ix.storage, ix.schema, segment)
        try:
            for _, stored in reader.iter_docs():
                add(stored)
        finally:
            reader.close()

    rewritten, _ = write_segments(ix, segments, index_job, copy=copy)
    return rewritten


def _worker(ix: FileIndex, jobs: Sequence[Job], index_job: IndexJob, copy, words, tasks, messages) -> None:
    try:
        taken: list[int] = []

        def take() -> Iterator[int]:
            while (i := tasks.get()) is not None:
                taken.append(i)
                yield i

        segments, outcomes = _write(
            ix, take(), jobs, index_job, lambda done, job: messages.put(("done", taken[-1])), copy, words
        )
        messages.put(("result", (segments, dict(zip(taken, outcomes)))))
    except BaseException as e:  # to the parent, which raises it
        messages.put(("error", _portable(e)))


def _portable(error: BaseException) -> BaseException:
    """``error`` as the parent can raise it: itself if it is ours, an OSError or an interrupt and survives
    pickling (an error the queue cannot pickle is dropped, unseen), else an ``IndexWriteError`` naming it."""
    if isinstance(error, (SearchkitError, OSError)) or not isinstance(error, Exception):
        try:
            pickle.loads(pickle.dumps(error))
            return error
        except Exception:
            pass
    message = " ".join(str(error).split())[:200]
    return IndexWriteError(
        f"an indexing process failed ({type(error).__name__}: {message}): nothing was committed, the index is as it was"
    )


def _write(
    ix: FileIndex, order: Iterator[int], jobs: Sequence[Job], index_job: IndexJob,
    progress: Callable[[int, Job], None] | None, copy: Callable[[], PostingsCopy] | None, words: SaveWords | None,
) -> tuple[list[Segment], list[Any]]:
    """Run the jobs numbered by ``order`` into segments of ``ix``; their outcomes in that order."""
    segments: list[Segment] = []
    outcomes: list[Any] = []
    builder = SegmentBuilder(ix, copy, words)

    def add(document: dict) -> None:
        nonlocal builder
        try:
            builder.add_document(**document)
        except Exception as e:
            raise DocumentError(f"a document cannot be indexed: {e!r}") from e
        if builder.postings >= SEGMENT_POSTINGS:
            segments.append(builder.finish())
            builder = SegmentBuilder(ix, copy, words)

    try:
        for i in order:
            outcomes.append(index_job(jobs[i], add))
            if progress:
                progress(len(outcomes), jobs[i])
    except BaseException:
        builder.discard()
        raise
    if builder.doc_count():
        segments.append(builder.finish())
    else:
        builder.discard()
    return segments, outcomes
