"""What each ranking choice bought: searchkit's analysis and weighting variants on the tuning collections only.

    python benchmarks/relevance_ablation.py --out benchmarks/results/relevance_ablation.json

Each variant swaps settings of ``searchkit.schema`` (analyzer, title boost, idf, K1/B, the article score's
weight) or of the plain-words query (repeated words counted or not) or the passage size, builds every tuning
collection through ``Index.build`` and ranks its queries exactly as ``searchkit eval`` does (``evaluate.rank``:
one hit per article, 1,000 deep), scored by ``searchkit.evaluate.score_run``. The held-out collections are
never run here.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
from collections import Counter
from math import inf, log
from multiprocessing import Pool
from pathlib import Path
from typing import NamedTuple

from bm25s.stopwords import STOPWORDS_EN_PLUS
from whoosh import fields, scoring
from whoosh import query as wq
from whoosh.analysis import Analyzer, LowercaseFilter, RegexTokenizer, StemFilter, StemmingAnalyzer, StopFilter

import searchkit.passages as passages
import searchkit.query as query
import searchkit.schema as schema
from searchkit import Index
from searchkit.collections import TUNING, find_collection, read_collection
from searchkit.evaluate import rank, score_run, write_jsonl

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


class WhooshIdfBM25F(scoring.BM25F):
    """searchkit 1.0's weighting: Whoosh's BM25F, its idf ``log(N / (n + 1)) + 1`` per field."""


class PerFieldRobertsonBM25F(scoring.BM25F):
    """The Robertson–Spärck Jones idf, but per field (the title's document frequency for title matches)."""

    def idf(self, searcher, fieldname, text):
        parent = searcher.get_parent()
        n = parent.doc_frequency(fieldname, text)
        return log(1 + (parent.doc_count_all() - n + 0.5) / (n + 0.5))


class Variant(NamedTuple):
    """One ranking configuration; the fields left out are searchkit's defaults."""

    analyzer: Analyzer = schema.ANALYZER
    title_boost: float = schema.TITLE_BOOST
    max_chars: int = passages.MAX_PASSAGE_CHARS
    weighting: type[scoring.BM25F] = schema.RobertsonBM25F
    k1: float = schema.K1
    b: float = schema.B
    k3: float = inf
    """A word repeated n times in the query weighs (k3 + 1)·n / (k3 + n): inf counts each repetition, 0 none."""
    article_weight: float = schema.ARTICLE_WEIGHT
    """0: documents ranked by their best passage alone."""


PORTER = StemmingAnalyzer(cachesize=-1)
NLTK_STOP = RegexTokenizer() | LowercaseFilter() | StopFilter(stoplist=STOPWORDS_EN_PLUS) | StemFilter(lang="en", cachesize=-1)
BEST_PASSAGE = Variant(title_boost=2.0, k1=1.2, b=0.75, article_weight=0.0)
VARIANTS = {
    "1.0 core: Porter, Whoosh idf per field, best passage": BEST_PASSAGE._replace(analyzer=PORTER, weighting=WhooshIdfBM25F),
    "+ Snowball English": BEST_PASSAGE._replace(weighting=WhooshIdfBM25F),
    "+ Robertson-Sparck Jones idf, per field": BEST_PASSAGE._replace(weighting=PerFieldRobertsonBM25F),
    "+ one idf per word": BEST_PASSAGE,
    "+ article score, weight 0.3": BEST_PASSAGE._replace(article_weight=0.3),
    "+ article score, weight 0.5": BEST_PASSAGE._replace(article_weight=0.5),
    "+ article score, weight 1 (whole-document BM25F only)": BEST_PASSAGE._replace(article_weight=1.0),
    "default": Variant(),
    "default, title x1": Variant(title_boost=1.0),
    "default, title x2": Variant(title_boost=2.0),
    "default, K1=1.5": Variant(k1=1.5),
    "default, K1=2.0": Variant(k1=2.0),
    "default, B=0.9": Variant(b=0.9),
    "default, NLTK's 179 stop words (bm25s's en_plus)": Variant(analyzer=NLTK_STOP),
    "default, repeated query words counted once (k3=0)": Variant(k3=0.0),
    "default, repeated query words saturated, k3=1": Variant(k3=1.0),
    "default, repeated query words saturated, k3=3": Variant(k3=3.0),
    "default, repeated query words saturated, k3=8": Variant(k3=8.0),
    "default, whole documents (no passage split)": Variant(max_chars=10**6),
}


def _use(variant: Variant) -> None:
    """Point searchkit's schema, query parser, passage splitter and ranking at one variant (this process only)."""
    columns = {name: schema.SCHEMA[name] for name in schema.SCHEMA.names()}
    columns["title"] = fields.TEXT(analyzer=variant.analyzer, stored=True, field_boost=variant.title_boost)
    columns["body"] = fields.TEXT(analyzer=variant.analyzer, stored=True)
    schema.SCHEMA = query.SCHEMA = fields.Schema(**columns)
    passages.PassageSplitter.__init__.__defaults__ = (variant.max_chars,)
    schema.weighting = lambda: variant.weighting(B=variant.b, K1=variant.k1)
    schema.ARTICLE_WEIGHT = variant.article_weight
    query._plain_words = _PLAIN_WORDS if variant.k3 == inf else functools.partial(_saturated, k3=variant.k3)


_PLAIN_WORDS = query._plain_words


def _saturated(text: str, k3: float) -> wq.Query:
    counts = Counter(t.text for t in schema.SCHEMA["body"].analyzer(text, mode="query"))
    return wq.Or([
        wq.Or([wq.Term(f, word, boost=(k3 + 1) * n / (k3 + n)) for f in schema.SEARCH_FIELDS]) for word, n in counts.items()
    ])


def _measure(job: tuple[str, str]) -> tuple[str, str, dict]:
    variant, name = job
    _use(VARIANTS[variant])
    collection = read_collection(find_collection(name, DATA))
    with tempfile.TemporaryDirectory() as tmp:
        write_jsonl(collection, Path(tmp) / "docs.jsonl")
        Index.build([Path(tmp) / "docs.jsonl"], Path(tmp) / "index")
        with Index.open(Path(tmp) / "index") as ix:
            run = rank(ix, collection.queries)
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
