"""Choosing the query-expansion settings (``searchkit.expand``) on the tuning collections only.

    python benchmarks/expansion_tuning.py --out benchmarks/results/expansion_tuning.json

Each tuning collection is built once through ``Index.build``; its queries are then ranked as ``searchkit eval
--expand`` ranks them (``evaluate.rank(expand=True)``: one hit per article, 1,000 deep) under each setting of
the grid (expansion model, feedback hits, expansion words, the original query's weight), and without expansion
as the baseline. The held-out collections are never run here. A setting is worth keeping only if it gains on
every tuning collection (on nDCG@10 and AP); of those, the one with the best mean nDCG@10 is chosen.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
from pathlib import Path

from multiprocessing import Pool

from whoosh.classify import Bo1Model, KLModel

import searchkit.expand as expand
from searchkit import Index
from searchkit.collections import TUNING, find_collection, read_collection, shared_data_dir
from searchkit.evaluate import rank, score_run, write_jsonl

DATA = shared_data_dir()
MODELS = {"Bo1": Bo1Model, "KL": KLModel}
GRID = {"model": list(MODELS), "hits": [3, 5, 10], "words": [10, 20, 40], "original": [0.5, 0.7]}
MEASURES = ("nDCG@10", "AP")


def settings() -> list[tuple[str, int, int, float]]:
    """Every (model, feedback hits, expansion words, original weight) of the grid."""
    return list(itertools.product(*GRID.values()))


def measure(name: str) -> dict[str, dict[str, float]]:
    """nDCG@10 and AP of one collection without expansion (``"none"``) and under each setting of the grid."""
    collection = read_collection(find_collection(name, DATA))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_jsonl(collection, Path(tmp) / "docs.jsonl")
        Index.build([Path(tmp) / "docs.jsonl"], Path(tmp) / "index")
        with Index.open(Path(tmp) / "index") as ix:
            metrics = score_run(collection, rank(ix, collection.queries), MEASURES).metrics
            results["none"] = metrics
            for model, hits, words, original in settings():
                expand.MODEL, expand.FEEDBACK_HITS, expand.FEEDBACK_WORDS = MODELS[model], hits, words
                expand.ORIGINAL_WEIGHT = original
                run = rank(ix, collection.queries, expand=True)
                setting = label(model, hits, words, original)
                results[setting] = score_run(collection, run, MEASURES).metrics
                print(name, setting, " / ".join(f"{results[setting][m]:.4f}" for m in MEASURES), file=sys.stderr)
    return results


def label(model: str, hits: int, words: int, original: float) -> str:
    return f"{model}, {hits} hits, {words} words, original {original}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"shared data {DATA} is absent: nothing to measure")
    with Pool(2) as pool:
        by_collection = dict(zip(TUNING, pool.map(measure, TUNING)))
    variants = list(by_collection[TUNING[0]])
    print("| setting | " + " | ".join(TUNING) + " | mean nDCG@10 | mean AP | gains on every collection |")
    print("|---|" + "---:|" * (len(TUNING) + 2) + "---|")
    rows = []
    for variant in variants:
        cells = [f"{by_collection[c][variant]['nDCG@10']:.3f} / {by_collection[c][variant]['AP']:.3f}" for c in TUNING]
        means = [statistics.mean(by_collection[c][variant][m] for c in TUNING) for m in MEASURES]
        every = all(by_collection[c][variant][m] > by_collection[c]["none"][m] for c in TUNING for m in MEASURES)
        rows.append((means, every, variant, f"| {variant} | " + " | ".join(cells)
                     + f" | {means[0]:.4f} | {means[1]:.4f} | " + ("yes" if every else "no") + " |"))
    rows.sort(key=lambda r: r[0], reverse=True)
    for *_, row in rows:
        print(row)
    chosen = next((variant for _, every, variant, _ in rows if every), None)
    print(f"\nbest mean nDCG@10 among the settings that gain on every tuning collection on both measures: {chosen}")
    if args.out:
        args.out.write_text(json.dumps({"grid": GRID, "collections": by_collection}, indent=1) + "\n")


if __name__ == "__main__":
    main()
