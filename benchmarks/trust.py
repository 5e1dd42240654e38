"""What the restricted unpickling costs: ``Index.open`` and queries on the seed index and a 20k-passage index.

    python benchmarks/trust.py                       # this checkout's searchkit
    PYTHONPATH=/path/to/other/checkout python benchmarks/trust.py --label before

Builds (once, cached beside the corpus) an index of corpora.py's generated corpus of ``--passages`` passages,
then, in this process, times for each index the median of ``--runs`` repetitions of: ``Index.open`` +
``close``; ``Index.open(verify=True)``; a first query after open (Whoosh answers it: schema, segment list,
postings, stored fields and highlights all unpickled); warm queries (plain words, a phrase: positions are
unpickled, a date sort); ``get`` of a passage; and reading every stored passage (``Index.passages``). Prints a
JSON line per index; compare two runs (one per checkout) to see the cost of the guard.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora  # noqa: E402

from searchkit import Index  # noqa: E402

QUERIES = {"words": "oil gas pipeline", "phrase": '"Caspian seabed"', "rare": "Turkmenistan"}


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parse_args(argv)
    corpus = corpora.generated(args.passages)
    built = corpus.folder / "searchkit-index"
    if not Index.exists(built):
        Index.build(corpus.article_files, built)
    records = [_measure(name, path, args.runs) for name, path in (("seeds", corpora.REPO / "index"),
                                                                  (corpus.name, built))]
    for record in records:
        print(json.dumps({"label": args.label, **record}))
    return records


def _measure(name: str, path: Path, runs: int) -> dict:
    def median_ms(action) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
        return round(statistics.median(times) * 1000, 3)

    def first_query() -> None:
        with Index.open(path) as ix:
            ix.search(QUERIES["rare"], limit=10)

    record = {"index": name,
              "open_ms": median_ms(lambda: Index.open(path).close()),
              "open_verify_ms": median_ms(lambda: Index.open(path, verify=True).close()),
              "open_first_query_ms": median_ms(first_query)}
    with Index.open(path) as ix:
        passages = ix.stats().passages
        record["passages"] = passages
        some_id = ix.search(QUERIES["words"], limit=1)[0].passage.id
        for label, text in QUERIES.items():
            ix.search(text, limit=10)
            record[f"query_{label}_ms"] = median_ms(lambda: ix.search(text, limit=10))
        record["query_date_sort_ms"] = median_ms(lambda: ix.search(QUERIES["words"], limit=10, sort="date"))
        record["get_ms"] = median_ms(lambda: ix.get(some_id))
        record["all_passages_ms"] = median_ms(lambda: sum(1 for _ in ix.passages()))
    return record


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=20_000, help="size of the generated corpus")
    parser.add_argument("--runs", type=int, default=15, help="repetitions per timing (the median is reported)")
    parser.add_argument("--label", default="this checkout", help="a name for this run in the output")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
