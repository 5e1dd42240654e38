"""What each ranking choice bought: searchkit's settings and 1.0's analysis and idf on the tuning collections only.

    python benchmarks/relevance_ablation.py --out benchmarks/results/relevance_ablation.json

A variant is a ``searchkit.settings.Settings`` value (title boost, K1, B, k3, article weight, passage size),
plus, for the historical rows only, code that is no longer searchkit's (``_historical``: 1.0's analysis and
idf). Each collection is built through ``Index.build`` once per distinct analysis and ``Settings.BUILD_FIELDS``,
and each variant ranks it through ``Index.open(path, settings=...)`` exactly as ``searchkit eval`` does
(``evaluate.rank``: one hit per article, 1,000 deep), scored by ``evaluate.score_run``. The held-out
collections are never run here.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from math import inf, log
from multiprocessing import Pool
from pathlib import Path
from typing import NamedTuple

from whoosh import fields
from whoosh.analysis import STOP_WORDS, Analyzer, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter

import searchkit.query as query
import searchkit.schema as schema
import searchkit.scoring as scoring
from searchkit import Index
from searchkit.collections import TUNING, find_collection, read_collection, shared_data_dir
from searchkit.evaluate import rank, score_run, write_jsonl
from searchkit.settings import DEFAULT, Settings

DATA = shared_data_dir()

PassageIdf = Callable[[scoring.Statistics, str, bytes], float]


def whoosh_idf(stats: scoring.Statistics, fieldname: str, term: bytes) -> float:
    """searchkit 1.0's idf: Whoosh's ``log(N / (n + 1)) + 1``, per field (the title's frequency for title matches)."""
    return log(stats.passages / (stats.passage_frequency(fieldname, term) + 1)) + 1


def per_field_idf(stats: scoring.Statistics, fieldname: str, term: bytes) -> float:
    """The Robertson–Spärck Jones idf, but per field."""
    return scoring.idf(stats.passage_frequency(fieldname, term), stats.passages)


def _analyzer(stop_words: frozenset[str], stemmer: StemFilter) -> Analyzer:
    return RegexTokenizer() | LowercaseFilter() | StopFilter(stoplist=stop_words) | stemmer


ANALYZERS = {
    "searchkit": schema.ANALYZER,
    "1.0: Porter, Whoosh's 34 stop words": _analyzer(STOP_WORDS, StemFilter(cachesize=-1)),
    "1.1: Snowball English, Whoosh's 34 stop words": _analyzer(STOP_WORDS, StemFilter(lang="en", cachesize=-1)),
}


class Variant(NamedTuple):
    """One ranking configuration: settings, and for the historical rows the analysis and idf they replace."""

    settings: Settings = DEFAULT
    analysis: str = "searchkit"
    """A name in ``ANALYZERS``."""
    passage_idf: PassageIdf = scoring.passage_idf


# searchkit 1.1: Snowball, Whoosh's 34 stop words, title x2, repeated query words counted in full, best passage
BEST_PASSAGE = Variant(DEFAULT.replace(title_boost=2.0, k3=inf, article_weight=0.0),
                       "1.1: Snowball English, Whoosh's 34 stop words")
VARIANTS = {
    "1.0 core: Porter, Whoosh idf per field, best passage": BEST_PASSAGE._replace(
        analysis="1.0: Porter, Whoosh's 34 stop words", passage_idf=whoosh_idf),
    "+ Snowball English": BEST_PASSAGE._replace(passage_idf=whoosh_idf),
    "+ Robertson-Sparck Jones idf, per field": BEST_PASSAGE._replace(passage_idf=per_field_idf),
    "+ one idf per word (searchkit 1.1)": BEST_PASSAGE,
    "+ article score, weight 0.7": BEST_PASSAGE._replace(settings=BEST_PASSAGE.settings.replace(article_weight=0.7)),
    "+ title x1": BEST_PASSAGE._replace(settings=DEFAULT.replace(k3=inf)),
    "+ NLTK's stop words (searchkit's list)": Variant(DEFAULT.replace(k3=inf)),
    "+ repeated query words saturated, k3=8: the default": Variant(),
    "default, article weight 0 (best passage only)": Variant(DEFAULT.replace(article_weight=0.0)),
    "default, article weight 1 (whole-article BM25F only)": Variant(DEFAULT.replace(article_weight=1.0)),
    **{f"default, K1 {k1}": Variant(DEFAULT.replace(k1=k1)) for k1 in (0.9, 1.5, 2.0)},
    **{f"default, B {b}": Variant(DEFAULT.replace(b=b)) for b in (0.5, 0.65, 0.85)},
    **{f"default, passages of at most {n:,} characters": Variant(DEFAULT.replace(max_passage_chars=n))
       for n in (400, 1600)},
}


@contextlib.contextmanager
def _historical(analyzer: Analyzer, passage_idf: PassageIdf) -> Iterator[None]:
    """Run searchkit with code it no longer has (this process only, undone on exit); with searchkit's own
    analyzer and idf, nothing is replaced.

    - ``schema.SCHEMA``: its title and body fields analysed by ``analyzer``. ``build`` creates the index with it
      (its table of contents then carries the analyzer, which the searcher reads), and ``segments`` indexes such
      fields with Whoosh's own ``field.index``, since its analysis of distinct words (``schema.term_of``) applies only
      to fields whose analyzer is ``schema.ANALYZER``.
    - ``query.SCHEMA``: the same schema, whose body analyzer analyses plain query words; and ``query.MAX_TERMS``
      lifted, since Whoosh's 34 stop words leave some long questions more distinct words than today's bound
      (1.0 had none).
    - ``scoring.passage_idf``: the passage-level idf of every BM25F scorer (Whoosh's matchers and the top-k
      arrays both read it); the article-level idf is searchkit's (the historical rows rank by best passage).
    """
    saved = schema.SCHEMA, query.SCHEMA, query.MAX_TERMS, scoring.passage_idf
    if analyzer is not schema.ANALYZER:
        query.MAX_TERMS = sys.maxsize
        columns = {name: schema.SCHEMA[name] for name in schema.SCHEMA.names()}
        for name in scoring.SEARCH_FIELDS:
            columns[name] = copy.copy(columns[name])
            columns[name].analyzer = analyzer
        schema.SCHEMA = query.SCHEMA = fields.Schema(**columns)
    scoring.passage_idf = passage_idf
    try:
        yield
    finally:
        schema.SCHEMA, query.SCHEMA, query.MAX_TERMS, scoring.passage_idf = saved


def _build_key(variant: Variant) -> tuple:
    """What one index serves: its analysis and the settings that shape its passages."""
    return (variant.analysis, *(getattr(variant.settings, name) for name in Settings.BUILD_FIELDS))


def _measure(job: tuple[str, list[str]]) -> list[tuple[str, str, dict]]:
    """Build collection ``name`` once and rank it with each of ``variants`` (which share one build key)."""
    name, variants = job
    first = VARIANTS[variants[0]]
    collection = read_collection(find_collection(name, DATA))
    measured = []
    with tempfile.TemporaryDirectory() as tmp:
        write_jsonl(collection, Path(tmp) / "docs.jsonl")
        with _historical(ANALYZERS[first.analysis], scoring.passage_idf):
            Index.build([Path(tmp) / "docs.jsonl"], Path(tmp) / "index", settings=first.settings)
        for label in variants:
            variant = VARIANTS[label]
            with _historical(ANALYZERS[variant.analysis], variant.passage_idf), \
                    Index.open(Path(tmp) / "index", settings=variant.settings) as ix:
                run = rank(ix, collection.queries)
            metrics = score_run(collection, run).metrics
            measured.append((label, name, {m: metrics[m] for m in ("nDCG@10", "AP")}))
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"shared data {DATA} is absent: nothing to measure")
    builds: dict[tuple, list[str]] = {}
    for label, variant in VARIANTS.items():
        builds.setdefault(_build_key(variant), []).append(label)
    jobs = [(name, labels) for labels in builds.values() for name in TUNING]
    jobs.sort(key=lambda job: -len(job[1]))  # the longest first, so that the two workers finish together
    results: dict[str, dict] = {label: {} for label in VARIANTS}
    with Pool(2) as pool:
        for measured in pool.imap_unordered(_measure, jobs):
            for label, name, metrics in measured:
                results[label][name] = metrics
    print("| variant | " + " | ".join(TUNING) + " | mean nDCG@10 | mean AP |")
    print("|---|" + "---:|" * (len(TUNING) + 2))
    for label, by_collection in results.items():
        cells = [f"{by_collection[c]['nDCG@10']:.3f} / {by_collection[c]['AP']:.3f}" for c in TUNING]
        means = [statistics.mean(by_collection[c][m] for c in TUNING) for m in ("nDCG@10", "AP")]
        print(f"| {label} | " + " | ".join(cells) + f" | {means[0]:.4f} | {means[1]:.4f} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
