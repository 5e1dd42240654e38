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

from whoosh import fields, scoring
from whoosh import query as wq
from whoosh.analysis import STOP_WORDS, Analyzer, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter

import searchkit.passages as passages
import searchkit.query as query
import searchkit.schema as schema
from searchkit import Index
from searchkit.collections import TUNING, find_collection, read_collection, shared_data_dir
from searchkit.evaluate import rank, score_run, write_jsonl

DATA = shared_data_dir()


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
    k3: float = schema.K3
    """A word repeated n times in the query weighs (k3 + 1)·n / (k3 + n): inf counts each repetition, 0 none."""
    article_weight: float = schema.ARTICLE_WEIGHT
    """0: documents ranked by their best passage alone."""


def _analyzer(stemmer: Analyzer, stop_words) -> Analyzer:
    return RegexTokenizer() | LowercaseFilter() | StopFilter(stoplist=stop_words) | stemmer


SNOWBALL, PORTER = StemFilter(lang="en", cachesize=-1), StemFilter(cachesize=-1)
WHOOSH_STOP = _analyzer(SNOWBALL, STOP_WORDS)
# searchkit 1.1: Snowball, Whoosh's 34 stop words, title x2, repeated query words counted in full, best passage
BEST_PASSAGE = Variant(analyzer=WHOOSH_STOP, title_boost=2.0, k3=inf, article_weight=0.0)
VARIANTS = {
    "1.0 core: Porter, Whoosh idf per field, best passage": BEST_PASSAGE._replace(
        analyzer=_analyzer(PORTER, STOP_WORDS), weighting=WhooshIdfBM25F),
    "+ Snowball English": BEST_PASSAGE._replace(weighting=WhooshIdfBM25F),
    "+ Robertson-Sparck Jones idf, per field": BEST_PASSAGE._replace(weighting=PerFieldRobertsonBM25F),
    "+ one idf per word (searchkit 1.1)": BEST_PASSAGE,
    "+ article score, weight 0.7": BEST_PASSAGE._replace(article_weight=0.7),
    "+ title x1": BEST_PASSAGE._replace(article_weight=0.7, title_boost=1.0),
    "+ NLTK's stop words (searchkit's list)": Variant(k3=inf),
    "+ repeated query words saturated, k3=8: the default": Variant(),
    "default, article weight 0 (best passage only)": Variant(article_weight=0.0),
    "default, article weight 1 (whole-article BM25F only)": Variant(article_weight=1.0),
    **{f"default, K1 {k1}": Variant(k1=k1) for k1 in (0.9, 1.5, 2.0)},
    **{f"default, B {b}": Variant(b=b) for b in (0.5, 0.65, 0.85)},
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
    query._plain_words = functools.partial(_saturated, k3=variant.k3)


def _saturated(text: str, k3: float) -> wq.Query:
    counts = Counter(t.text for t in schema.SCHEMA["body"].analyzer(text, mode="query"))
    return wq.Or([
        wq.Or([wq.Term(f, word, boost=n if k3 == inf else (k3 + 1) * n / (k3 + n)) for f in schema.SEARCH_FIELDS])
        for word, n in counts.items()
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
