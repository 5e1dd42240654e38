"""Index documents → Whoosh segments: Whoosh's file format without Whoosh's per-posting path, over all cores.

Whoosh's SegmentWriter sends every posting through a sorting pool (pickled to disk and merged back) and then
through several Python calls into the postings writer: most of a build's time. ``SegmentBuilder`` writes the
same W3 codec files with the same codec objects — any Whoosh reader opens them, and a test checks that they
hold exactly what Whoosh's own writer makes — but groups postings by term in memory as documents arrive,
analyses the stemmed text fields in one loop (``schema.analyze``), and hands the postings writer a whole block
at a time. A builder becomes a finished segment every ``SEGMENT_POSTINGS`` postings, which bounds memory;
``write_segments`` spreads files over one process per core, each writing its own segments.
"""

from __future__ import annotations

import multiprocessing
import queue
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from whoosh.codec.base import Segment
from whoosh.formats import Positions
from whoosh.index import FileIndex
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

from .errors import IndexWriteError
from .schema import ANALYZER, analyze

__all__ = ["SegmentBuilder", "write_segments", "SEGMENT_POSTINGS"]

SEGMENT_POSTINGS = 3_000_000
"""Postings held in memory before they are written out as a segment (about 70 bytes each)."""

Job = TypeVar("Job")
Add = Callable[[dict], None]
IndexJob = Callable[[Job, Add], Any]
"""``index_job(job, add)`` calls ``add(document)`` for each document of ``job`` and returns its outcome."""


class _TermPostings:
    __slots__ = ("docs", "weights", "values", "lengths")

    def __init__(self) -> None:
        self.docs = array("I")
        self.weights = array("f")
        self.values: list[bytes] = []
        self.lengths = array("I")


class SegmentBuilder(SegmentWriter):
    """Writes one new segment of ``ix``; ``finish()`` returns it (the caller commits it, see ``write_segments``).

    Takes the documents ``IndexWriter.add_document`` takes, for schemas without term vectors or spelling
    fields; per-field and per-document boosts (``_boost`` keys) are not supported.
    """

    def __init__(self, ix: FileIndex) -> None:
        super().__init__(ix, _lk=False, compound=False)
        if any(field.vector or field.separate_spelling() for _, field in self.schema.items()):
            raise TypeError("SegmentBuilder: the schema has term vectors or spelling fields")
        self._postings: dict[str, dict[bytes, _TermPostings]] = {}
        self.postings = 0
        """Postings added so far."""

    def add_document(self, **fields: Any) -> None:
        docnum = self.docnum
        perdoc = self.perdocwriter
        perdoc.start_doc(docnum)
        for name in sorted(fields):
            value = fields[name]
            if value is None:
                continue
            field = self.schema[name]
            length = 0
            if field.indexed:
                items = _text_items(field, value) if _analyzed_here(field) else list(field.index(value))
                if field.scorable:
                    length = sum(freq for _, freq, _, _ in items)
                # The length Whoosh's postings writer records: the stored (one-byte) approximation.
                posting_length = byte_to_length(length_to_byte(length)) if length else 0
                terms = self._postings.setdefault(name, {}) if items else {}
                for btext, _, weight, vbytes in items:
                    postings = terms.get(btext)
                    if postings is None:
                        postings = terms[btext] = _TermPostings()
                    postings.docs.append(docnum)
                    postings.weights.append(weight)
                    postings.values.append(vbytes)
                    postings.lengths.append(posting_length)
                self.postings += len(items)
            perdoc.add_field(name, field, value if field.stored else None, length)
            if field.column_type:
                perdoc.add_column_value(name, field.column_type, field.to_column_value(value))
        perdoc.finish_doc()
        self._added = True
        self.docnum += 1

    def finish(self) -> Segment:
        """Write the postings out and close the segment's files.

        Whoosh's writers share one temporary folder per index, where per-document writers spool columns:
        builders in other processes may still be using it, so the commit's writer removes it, not a builder.
        """
        segment = self._finalize_segment()
        self.is_closed = True
        return segment

    def discard(self) -> None:
        """Close without keeping anything (the files left behind are not in any commit)."""
        self._close_segment()
        self.is_closed = True

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        fieldwriter = self.fieldwriter
        block = self.codec._blocklimit
        for name in sorted(self._postings):
            terms = self._postings.pop(name)
            fieldwriter.start_field(name, self.schema[name])
            writer = fieldwriter._postwriter
            for btext in sorted(terms):
                postings = terms.pop(btext)
                fieldwriter.start_term(btext)
                for start in range(0, len(postings.docs), block):
                    if start:
                        writer._write_block()
                    end = start + block
                    # What W3PostingsWriter.add_posting accumulates, a block at a time.
                    writer._ids = postings.docs[start:end]
                    writer._weights = postings.weights[start:end]
                    writer._values = [v for v in postings.values[start:end] if v]
                    lengths = [n for n in postings.lengths[start:end] if n]
                    writer._minlength = min(lengths) if lengths else None
                    writer._maxlength = max(lengths, default=0)
                    writer._maxweight = max(0, max(writer._weights))
                fieldwriter.finish_term()
            fieldwriter.finish_field()
        fieldwriter.close()


def _analyzed_here(field) -> bool:
    return field.analyzer is ANALYZER and type(field.format) is Positions


def _text_items(field, text: str) -> list[tuple[bytes, int, float, bytes]]:
    """What ``field.index(text)`` yields for an ``ANALYZER`` field with positions, from one analysis loop."""
    tokens = analyze(text)
    if not tokens:
        return []
    # Whoosh's StopFilter numbers the kept words on from the first one's position among all words.
    first = len(_WORDS.findall(text, 0, tokens[0][1][0]))
    positions: dict[str, list[int]] = {}
    for position, (term, _) in enumerate(tokens, start=first):
        positions.setdefault(term, []).append(position)
    encode, boost = field.format.encode, field.format.field_boost
    return [(term.encode("utf-8"), len(p), len(p) * boost, encode(p)) for term, p in positions.items()]


_WORDS = ANALYZER.items[0].expression


def write_segments(
    ix: FileIndex,
    jobs: Sequence[Job],
    index_job: IndexJob,
    *,
    procs: int = 1,
    progress: Callable[[int, Job], None] | None = None,
) -> tuple[list[Segment], list[Any]]:
    """Run ``index_job`` over ``jobs``, writing the documents into new segments of ``ix`` (not committed).

    With ``procs`` > 1, that many forked processes take jobs from a shared queue as they become free, each
    writing its own segments. ``progress(done, job)`` is called as each job finishes. Returns the segments and
    each job's outcome, in the order of ``jobs``.
    """
    procs = min(procs, len(jobs))
    if procs <= 1:
        return _write(ix, iter(range(len(jobs))), jobs, index_job, progress)
    context = multiprocessing.get_context("fork")
    tasks, messages = context.Queue(), context.Queue()
    for i in [*range(len(jobs)), *[None] * procs]:
        tasks.put(i)
    workers = [context.Process(target=_worker, args=(ix, jobs, index_job, tasks, messages), daemon=True)
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
                if any(w.exitcode not in (None, 0) for w in workers):
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


def _worker(ix: FileIndex, jobs: Sequence[Job], index_job: IndexJob, tasks, messages) -> None:
    try:
        taken: list[int] = []

        def take() -> Iterator[int]:
            while (i := tasks.get()) is not None:
                taken.append(i)
                yield i

        segments, outcomes = _write(ix, take(), jobs, index_job, lambda done, job: messages.put(("done", taken[-1])))
        messages.put(("result", (segments, dict(zip(taken, outcomes)))))
    except BaseException as e:  # to the parent, which raises it
        messages.put(("error", e))


def _write(
    ix: FileIndex, order: Iterator[int], jobs: Sequence[Job], index_job: IndexJob,
    progress: Callable[[int, Job], None] | None,
) -> tuple[list[Segment], list[Any]]:
    """Run the jobs numbered by ``order`` into segments of ``ix``; their outcomes in that order."""
    segments: list[Segment] = []
    outcomes: list[Any] = []
    builder = SegmentBuilder(ix)

    def add(document: dict) -> None:
        nonlocal builder
        builder.add_document(**document)
        if builder.postings >= SEGMENT_POSTINGS:
            segments.append(builder.finish())
            builder = SegmentBuilder(ix)

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
