"""What each ranking choice bought: searchkit's analysis and weighting variants on the tuning collections only.

    python benchmarks/relevance_ablation.py --out benchmarks/results/relevance_ablation.json

Each variant swaps one setting of ``searchkit.schema`` (analyzer, title boost, idf) or of the plain-words query
(repeated words counted or not) or the passage size, builds every tuning collection through ``Index.build`` and
ranks its queries exactly as ``searchkit eval`` does (best passage per document, 1,000 deep), scored by
``searchkit.evaluate.score_run``. The held-out collections are never run here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from math import log
from multiprocessing import Pool
from pathlib import Path

from whoosh import fields, scoring
from whoosh import query as wq
from whoosh.analysis import StemmingAnalyzer

import searchkit.passages as passages
import searchkit.query as query
import searchkit.schema as schema
from searchkit import Index
from searchkit.collections import TUNING, find_collection, read_collection
from searchkit.evaluate import RUN_DEPTH, score_run, write_jsonl

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


class WhooshIdfBM25F(scoring.BM25F):
    """searchkit 1.0's weighting: Whoosh's BM25F, its idf ``log(N / (n + 1)) + 1`` per field."""


class PerFieldRobertsonBM25F(scoring.BM25F):
    """The Robertson–Spärck Jones idf, but per field (the title's document frequency for title matches)."""

    def idf(self, searcher, fieldname, text):
        parent = searcher.get_parent()
        n = parent.doc_frequency(fieldname, text)
        return log(1 + (parent.doc_count_all() - n + 0.5) / (n + 0.5))


# name: (analyzer, title boost, max passage chars, weighting class, count repeated query words)
DEFAULT = (schema.ANALYZER, schema.TITLE_BOOST, passages.MAX_PASSAGE_CHARS, schema.RobertsonBM25F, True)
PORTER = StemmingAnalyzer(cachesize=-1)
VARIANTS = {
    "1.0 core: Porter, Whoosh idf per field": (PORTER, 2.0, 800, WhooshIdfBM25F, True),
    "+ Snowball English": (schema.ANALYZER, 2.0, 800, WhooshIdfBM25F, True),
    "+ Robertson-Sparck Jones idf, per field": (schema.ANALYZER, 2.0, 800, PerFieldRobertsonBM25F, True),
    "+ one idf per word (the default)": DEFAULT,
    "default, title x1": (schema.ANALYZER, 1.0, 800, schema.RobertsonBM25F, True),
    "default, repeated query words counted once": (*DEFAULT[:4], False),
    "default, whole documents (no passage split)": (schema.ANALYZER, 2.0, 10**6, schema.RobertsonBM25F, True),
}


def _use(analyzer, title_boost: float, max_chars: int) -> None:
    """Point searchkit's schema, query parser and passage splitter at one variant (this process only)."""
    columns = {name: schema.SCHEMA[name] for name in schema.SCHEMA.names()}
    columns["title"] = fields.TEXT(analyzer=analyzer, stored=True, field_boost=title_boost)
    columns["body"] = fields.TEXT(analyzer=analyzer, stored=True)
    schema.SCHEMA = query.SCHEMA = fields.Schema(**columns)
    passages.PassageSplitter.__init__.__defaults__ = (max_chars,)


def _plain(text: str, counted: bool) -> wq.Query:
    counts = Counter(t.text for t in schema.SCHEMA["body"].analyzer(text, mode="query"))
    return wq.Or([
        wq.Or([wq.Term(f, word, boost=n if counted else 1) for f in schema.SEARCH_FIELDS]) for word, n in counts.items()
    ])


def _measure(job: tuple[str, str]) -> tuple[str, str, dict]:
    variant, name = job
    analyzer, title_boost, max_chars, weighting, counted = VARIANTS[variant]
    _use(analyzer, title_boost, max_chars)
    collection = read_collection(find_collection(name, DATA))
    with tempfile.TemporaryDirectory() as tmp:
        write_jsonl(collection, Path(tmp) / "docs.jsonl")
        Index.build([Path(tmp) / "docs.jsonl"], Path(tmp) / "index")
        with Index.open(Path(tmp) / "index") as ix:
            reader = ix._ix.reader()  # a benchmark may look inside: article ids by document number
            articles = [reader.stored_fields(n)["article"] for n in range(reader.doc_count_all())]
            with ix._ix.searcher(weighting=weighting(B=0.75, K1=1.2)) as searcher:
                run = {}
                for qid, text in collection.queries.items():
                    best: dict[str, float] = {}
                    for hit in searcher.search(_plain(text, counted), limit=RUN_DEPTH * 4):
                        best.setdefault(articles[hit.docnum], hit.score)
                    run[qid] = sorted(best.items(), key=lambda item: -item[1])[:RUN_DEPTH]
    metrics = score_run(collection, run).metrics
    return variant, name, {m: metrics[m] for m in ("nDCG@10", "AP")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"shared data {DATA} is absent: nothing to measure")
    results: dict[str, dict] = {v: {} for v in VARIANTS}
    with Pool(2) as pool:
        for variant, name, metrics in pool.imap_unordered(_measure, [(v, c) for v in VARIANTS for c in TUNING]):
            results[variant][name] = metrics
    print("| variant | " + " | ".join(TUNING) + " | mean nDCG@10 | mean AP |")
    print("|---|" + "---:|" * (len(TUNING) + 2))
    for variant, by_collection in results.items():
        cells = [f"{by_collection[c]['nDCG@10']:.3f} / {by_collection[c]['AP']:.3f}" for c in TUNING]
        means = [statistics.mean(by_collection[c][m] for c in TUNING) for m in ("nDCG@10", "AP")]
        print(f"| {variant} | " + " | ".join(cells) + f" | {means[0]:.4f} | {means[1]:.4f} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
