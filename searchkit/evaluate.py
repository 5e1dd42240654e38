"""Ranking quality on a test collection: index it through ``Index.build``, run its queries, score with ir-measures.

A collection document is an article, which may be split into several passages; documents are ranked as
``Index.search(per_article=True)`` ranks articles (whole-document BM25F and best passage, ``Settings.article_weight``).
Metrics come from ``ir-measures`` (pytrec_eval), averaged
over the judged queries: a judged query that retrieves nothing scores 0, it is not dropped.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ir_measures

from .collections import Collection
from .errors import CollectionError, RunFileError
from .index import Index

__all__ = ["Evaluation", "Run", "MEASURES", "RUN_DEPTH", "evaluate", "rank", "score_run", "write_trec_run", "write_jsonl"]

MEASURES = ("nDCG@10", "AP", "P@10", "R@100", "RR")
"""The default measures, by their ir-measures names."""
RUN_DEPTH = 1000
"""Documents ranked per query (the TREC convention); AP and R@100 are computed over them."""

Run = dict[str, list[tuple[str, float]]]
"""A ranking: query id → ``(document id, score)`` best first."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Mean metrics over ``queries`` judged queries, and each query's value (``per_query[measure][qid]``)."""

    collection: str
    queries: int
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]

    def to_dict(self) -> dict:
        """The JSON contract of ``searchkit eval --json``."""
        return {"collection": self.collection, "queries": self.queries, "metrics": self.metrics}


def write_jsonl(collection: Collection, path: str | os.PathLike) -> None:
    """The collection's documents as searchkit JSON Lines articles (``id``, ``title``, ``text``)."""
    with open(path, "w", encoding="utf-8") as f:
        for doc in collection.documents:
            f.write(json.dumps({"id": doc.id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")


def rank(index: Index, queries: Mapping[str, str], *, depth: int = RUN_DEPTH, expand: bool = False) -> Run:
    """Run each query as plain words; documents (articles) ranked one hit per article (``expand``: see
    ``Index.search``)."""
    run: Run = {}
    for query_id, text in queries.items():
        hits = index.search(text, limit=depth, syntax=False, highlights=False, per_article=True, expand=expand)
        run[query_id] = [(hit.passage.article, hit.score) for hit in hits]
    return run


def score_run(collection: Collection, run: Run, measures: Sequence[str] = MEASURES) -> Evaluation:
    """Score ``run`` against the collection's judgments with ir-measures.

    Raises:
        CollectionError: a measure name is not one ir-measures knows.
    """
    parsed = _parse_measures(measures)
    judged = [q for q in collection.queries if collection.qrels.get(q)]
    qrels = [ir_measures.Qrel(q, d, g) for q in judged for d, g in collection.qrels[q].items()]
    scored = [ir_measures.ScoredDoc(q, d, s) for q in judged for d, s in run.get(q, [])]
    per_query: dict[str, dict[str, float]] = {str(m): dict.fromkeys(judged, 0.0) for m in parsed}
    for metric in ir_measures.iter_calc(parsed, qrels, scored):
        per_query[str(metric.measure)][metric.query_id] = float(metric.value)
    metrics = {name: sum(values.values()) / len(judged) for name, values in per_query.items()}
    return Evaluation(collection.name, len(judged), metrics, per_query)


def evaluate(
    collection: Collection,
    *,
    measures: Sequence[str] = MEASURES,
    depth: int = RUN_DEPTH,
    run_file: str | os.PathLike | None = None,
    expand: bool = False,
) -> Evaluation:
    """Index ``collection`` into a temporary index, run every query, and score the ranking.

    With ``run_file``, the ranking is also written there in TREC run format (whole, or not at all); with
    ``expand``, every query is expanded by pseudo-relevance feedback (``Index.search(expand=True)``).

    Raises:
        CollectionError: a measure name is not one ir-measures knows.
        RunFileError: ``run_file`` cannot be written (checked before indexing).

    >>> from searchkit.collections import read_collection
    >>> evaluate(read_collection("../shared/data/cranfield")).metrics["nDCG@10"]  # doctest: +SKIP
    """
    _parse_measures(measures)  # fail before indexing
    pending = _RunFile(run_file) if run_file is not None else None  # and the run file's folder
    try:
        with tempfile.TemporaryDirectory(prefix="searchkit-eval-") as tmp:
            documents = Path(tmp) / f"{collection.name}.jsonl"
            write_jsonl(collection, documents)
            Index.build([documents], Path(tmp) / "index")
            with Index.open(Path(tmp) / "index") as index:
                run = rank(index, collection.queries, depth=depth, expand=expand)
        if pending is not None:
            pending.write(_trec_lines(run, "searchkit"))
    finally:
        if pending is not None:
            pending.discard()
    return score_run(collection, run, measures)


def write_trec_run(run: Run, path: str | os.PathLike, *, tag: str) -> None:
    """Write ``run`` in TREC run format: ``qid Q0 docid rank score tag`` per line (whole, or not at all).

    Raises:
        RunFileError: ``path`` cannot be written.
    """
    pending = _RunFile(path)
    try:
        pending.write(_trec_lines(run, tag))
    finally:
        pending.discard()


class _RunFile:
    """A run file written beside its destination and renamed onto it: opening it checks, before any work, that
    the destination can be written; a failed run never leaves half a file or truncates an older one."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            if self.path.is_dir():
                raise RunFileError(f"cannot write the run file {self.path}: it is a directory")
            self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            self.file = open(self.tmp, "x", encoding="utf-8")
        except OSError as e:
            raise RunFileError(f"cannot write the run file {self.path}: {_reason(e, self.path.parent)}") from None
        self.renamed = False

    def write(self, lines: Iterable[str]) -> None:
        try:
            with self.file:
                self.file.writelines(lines)
            os.replace(self.tmp, self.path)
        except OSError as e:
            raise RunFileError(f"cannot write the run file {self.path}: {_reason(e, self.path.parent)}") from None
        self.renamed = True

    def discard(self) -> None:
        """Remove the partial file, if it was not renamed onto the destination."""
        self.file.close()
        if not self.renamed:
            self.tmp.unlink(missing_ok=True)


def _reason(error: OSError, path: Path) -> str:
    if isinstance(error, FileNotFoundError):
        return f"no folder {path}"
    return error.strerror or str(error)


def _trec_lines(run: Run, tag: str) -> Iterable[str]:
    for query_id, ranked in run.items():
        for position, (doc_id, score) in enumerate(ranked, start=1):
            yield f"{query_id} Q0 {doc_id} {position} {score:.6f} {tag}\n"


def _parse_measures(names: Sequence[str]) -> list:
    parsed = []
    for name in names:
        try:
            parsed.append(ir_measures.parse_measure(name))
        except (ValueError, NameError, SyntaxError, TypeError, KeyError):
            raise CollectionError(f"unknown measure {name!r}; for example: {', '.join(MEASURES)}") from None
    return parsed
