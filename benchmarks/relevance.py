"""Ranking quality of searchkit and its peers on the IR test collections, measured in the same run.

    python benchmarks/relevance.py                       # every collection in ../shared/data
    python benchmarks/relevance.py cranfield adi --out benchmarks/results/relevance.json   # and relevance.md

Every engine indexes the same documents (title and text) and runs the same queries as plain words (lower-cased,
punctuation removed, so no engine sees query syntax), ranks ``RUN_DEPTH`` documents, and is scored by the same
ir-measures code as ``searchkit eval``. searchkit goes through its public path (``searchkit.evaluate``: JSON
Lines → ``Index.build`` → passages → ``Index.search(per_article=True)``: one hit per document); the peers index whole
documents:

- whoosh: Whoosh 2.7.4 with a default schema (TEXT fields: StandardAnalyzer, no stemming), BM25F defaults,
  MultifieldParser over title and body with OrGroup (its default AndGroup would need every word);
- sqlite-fts5: FTS5 with ``tokenize='porter unicode61'``, words OR-ed, ``ORDER BY bm25(docs, 0, title_boost, 1)``;
- tantivy: tantivy-py with the ``en_stem`` tokenizer, ``parse_query`` over title^title_boost and body;
- bm25s: bm25s (Lucene BM25, k1=1.5, b=0.75) with its English stop words and PyStemmer's English Snowball
  stemmer, as its README recommends.

FTS5 and tantivy weight the title as searchkit does (``searchkit.settings.DEFAULT.title_boost``, read here so they
stay in step); Whoosh's default schema and bm25s have no field weights.

searchkit+expand is searchkit with every query expanded by pseudo-relevance feedback (``searchkit eval --expand``).

For each collection it prints every measure side by side, then searchkit minus each peer on nDCG@10 and AP
with a two-sided paired t-test over the queries (scipy.stats.ttest_rel), and searchkit+expand minus searchkit.
Collections are grouped into the tuning set (searchkit's defaults were chosen on these) and the held-out set
(never used to choose anything).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from scipy import stats

from searchkit import __version__
from searchkit.collections import HELD_OUT, TUNING, Collection, find_collection, read_collection, shared_data_dir
from searchkit.evaluate import MEASURES, RUN_DEPTH, Evaluation, Run, evaluate, score_run
from searchkit.settings import DEFAULT

REPO = Path(__file__).resolve().parent.parent
DATA = shared_data_dir()
TESTED = ("nDCG@10", "AP")
"""Measures compared with a paired significance test."""
EXPANDED = "searchkit+expand"

console = Console(highlight=False, width=150)


def plain_words(text: str) -> str:
    """The query as every peer receives it: lower-cased words, punctuation and operators gone."""
    return " ".join(re.findall(r"\w+", text.lower()))


def rank_whoosh(collection: Collection, depth: int) -> Run:
    from whoosh import fields
    from whoosh.filedb.filestore import RamStorage
    from whoosh.qparser import MultifieldParser, OrGroup

    schema = fields.Schema(id=fields.ID(stored=True), title=fields.TEXT(), body=fields.TEXT())
    ix = RamStorage().create_index(schema)
    with ix.writer() as writer:
        for doc in collection.documents:
            writer.add_document(id=doc.id, title=doc.title or "", body=doc.text)
    parser = MultifieldParser(["title", "body"], schema, group=OrGroup)
    run: Run = {}
    with ix.searcher() as searcher:
        for qid, text in collection.queries.items():
            hits = searcher.search(parser.parse(plain_words(text)), limit=depth)
            run[qid] = [(hit["id"], hit.score) for hit in hits]
    return run


def rank_sqlite(collection: Collection, depth: int) -> Run:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body, tokenize='porter unicode61')")
    db.executemany("INSERT INTO docs VALUES (?, ?, ?)", ((d.id, d.title or "", d.text) for d in collection.documents))
    bm25 = f"bm25(docs, 0.0, {DEFAULT.title_boost!r}, 1.0)"
    run: Run = {}
    for qid, text in collection.queries.items():
        match = " OR ".join(f'"{w}"' for w in plain_words(text).split())
        rows = db.execute(
            f"SELECT id, {bm25} FROM docs WHERE docs MATCH ? ORDER BY {bm25} LIMIT ?", (match, depth),
        ) if match else []
        run[qid] = [(doc_id, -score) for doc_id, score in rows]
    return run


def rank_tantivy(collection: Collection, depth: int) -> Run:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", tokenizer_name="en_stem")
    builder.add_text_field("body", tokenizer_name="en_stem")
    index = tantivy.Index(builder.build())
    writer = index.writer()
    for doc in collection.documents:
        writer.add_document(tantivy.Document(id=doc.id, title=doc.title or "", body=doc.text))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    run: Run = {}
    for qid, text in collection.queries.items():
        words = plain_words(text)
        if not words:
            run[qid] = []
            continue
        query = index.parse_query(words, ["title", "body"], field_boosts={"title": DEFAULT.title_boost})
        run[qid] = [(searcher.doc(address)["id"][0], score) for score, address in searcher.search(query, depth).hits]
    return run


def rank_bm25s(collection: Collection, depth: int) -> Run:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = [d.id for d in collection.documents]
    corpus = [f"{d.title or ''}\n{d.text}" for d in collection.documents]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    run: Run = {}
    for qid, text in collection.queries.items():
        tokens = bm25s.tokenize([plain_words(text)], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
        if not tokens[0]:
            run[qid] = []
            continue
        docs, scores = retriever.retrieve(tokens, k=min(depth, len(ids)), show_progress=False)
        run[qid] = [(ids[d], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]
    return run


PEERS: dict[str, Callable[[Collection, int], Run]] = {
    "whoosh": rank_whoosh,
    "sqlite-fts5": rank_sqlite,
    "tantivy": rank_tantivy,
    "bm25s": rank_bm25s,
}


def compare(collection: Collection, depth: int = RUN_DEPTH) -> dict:
    """Every engine's metrics on ``collection`` and searchkit's paired differences to each peer."""
    began = time.perf_counter()
    results: dict[str, Evaluation] = {"searchkit": evaluate(collection, depth=depth)}
    seconds = {"searchkit": time.perf_counter() - began}
    began = time.perf_counter()
    results[EXPANDED] = evaluate(collection, depth=depth, expand=True)
    seconds[EXPANDED] = time.perf_counter() - began
    for name, rank in PEERS.items():
        began = time.perf_counter()
        results[name] = score_run(collection, rank(collection, depth))
        seconds[name] = time.perf_counter() - began
    ours = results["searchkit"]
    return {
        "group": "tuning" if collection.name in TUNING else "held-out" if collection.name in HELD_OUT else "other",
        "queries": ours.queries,
        "documents": len(collection.documents),
        "metrics": {name: result.metrics for name, result in results.items()},
        "tests": {name: paired(ours, results[name]) for name in PEERS},
        "expansion": paired(results[EXPANDED], ours),
        "seconds": seconds,
    }


def paired(a: Evaluation, b: Evaluation) -> dict[str, dict[str, float]]:
    """``a`` minus ``b`` on each tested measure, with the paired t-test's p over the queries."""
    tests = {}
    for measure in TESTED:
        ours = [a.per_query[measure][q] for q in a.per_query[measure]]
        theirs = [b.per_query[measure][q] for q in a.per_query[measure]]
        p = float(stats.ttest_rel(ours, theirs).pvalue) if ours != theirs else 1.0
        tests[measure] = {"difference": a.metrics[measure] - b.metrics[measure], "p": p}
    return tests


def print_collection(name: str, result: dict) -> None:
    table = Table(title=f"{name} ({result['group']}: {result['documents']} documents, {result['queries']} judged queries)")
    table.add_column("engine")
    for measure in MEASURES:
        table.add_column(measure, justify="right")
    for measure in TESTED:
        table.add_column(f"Δ {measure} (p)", justify="right")
    for engine, metrics in result["metrics"].items():
        best = {m: max(r[m] for r in result["metrics"].values()) for m in MEASURES}
        cells = [f"[bold]{metrics[m]:.4f}[/]" if metrics[m] == best[m] else f"{metrics[m]:.4f}" for m in MEASURES]
        test = result["tests"].get(engine) or (result["expansion"] if engine == EXPANDED else None)
        deltas = [f"{test[m]['difference']:+.4f} ({test[m]['p']:.3f})" if test else "" for m in TESTED]
        table.add_row(engine, *cells, *deltas)
    console.print(table)


def print_summary(results: dict) -> None:
    engines = list(next(iter(results.values()))["metrics"])
    table = Table(title="nDCG@10 / AP per collection (best in bold)")
    table.add_column("collection")
    table.add_column("set")
    for engine in engines:
        table.add_column(engine, justify="right")
    for name, result in results.items():
        cells = []
        for engine in engines:
            m = result["metrics"][engine]
            cell = []
            for measure in TESTED:
                best = max(r[measure] for r in result["metrics"].values())
                cell.append(f"[bold]{m[measure]:.3f}[/]" if m[measure] == best else f"{m[measure]:.3f}")
            cells.append(" / ".join(cell))
        table.add_row(name, result["group"], *cells)
    console.print(table)


def markdown(results: dict) -> str:
    """The README table: nDCG@10 / AP per collection and engine (best in bold), and searchkit minus the best peer."""
    engines = list(next(iter(results.values()))["metrics"])
    lines = [
        "| collection | set | " + " | ".join(engines)
        + " | searchkit − best peer: nDCG@10 (p), AP (p) | searchkit+expand − searchkit: nDCG@10 (p), AP (p) |",
        "|---|---|" + "---:|" * len(engines) + "---|---|",
    ]
    for name, result in sorted(results.items(), key=lambda kv: (kv[1]["group"] != "tuning", kv[0])):
        metrics = result["metrics"]
        cells = []
        for engine in engines:
            parts = []
            for measure in TESTED:
                value = f"{metrics[engine][measure]:.3f}"
                parts.append(f"**{value}**" if metrics[engine][measure] == max(m[measure] for m in metrics.values()) else value)
            cells.append(" / ".join(parts))
        deltas = []
        for measure in TESTED:
            peer = max(PEERS, key=lambda e: metrics[e][measure])
            test = result["tests"][peer][measure]
            deltas.append(f"{test['difference']:+.3f} ({test['p']:.2f}, {peer})")
        gains = [f"{result['expansion'][m]['difference']:+.3f} ({result['expansion'][m]['p']:.2f})" for m in TESTED]
        lines.append(f"| {name} | {result['group']} | " + " | ".join(cells) + " | " + ", ".join(deltas) + " | "
                     + ", ".join(gains) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collections", nargs="*", default=[*TUNING, *HELD_OUT], help="names under ../shared/data, or paths")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--depth", type=int, default=RUN_DEPTH, help="documents ranked per query")
    args = parser.parse_args(argv)
    if not DATA.is_dir() and not all(Path(c).is_dir() for c in args.collections):
        sys.exit(f"shared data {DATA} is absent: nothing to measure")
    results = {}
    for name in args.collections:
        collection = read_collection(find_collection(name, DATA))
        results[collection.name] = compare(collection, args.depth)
        print_collection(collection.name, results[collection.name])
    print_summary(results)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "command": "python benchmarks/relevance.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "searchkit": __version__,
            "python": platform.python_version(),
            "depth": args.depth,
            "collections": results,
        }, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(markdown(results))


if __name__ == "__main__":
    main()
