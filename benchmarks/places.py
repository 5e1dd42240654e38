"""What widening places by their other names costs: the same queries with ``aliases=True`` and ``aliases=False``.

    python benchmarks/places.py --work /tmp/places-bench --out benchmarks/results-places

On Reuters-21578 (``../shared/data``; skipped with a message where absent), indexed once into ``--work``: place
names of 1987 text (Peking, Bombay, Leningrad, Rangoon...) as words, alone and beside common words. Each query runs ``--runs`` times each way, alternating, after a warm-up; the figures are the
median wall and CPU milliseconds, their ratios (widened / as written) and the hits each way. Also timed: reading
the packaged table (the first search of a process pays it once).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import CorpusUnavailable, reuters  # noqa: E402

from searchkit import Index, places  # noqa: E402

QUERIES: tuple[tuple[str, str | None], ...] = (
    ("Peking", None), ("Bombay", None), ("Leningrad", None), ("Rangoon", None), ("Burma", None), ("Kiev", None),
    ("Zaire", None), ("Calcutta", None), ("Peking wheat", None), ("Leningrad grain", None), ("Zaire copper", None),
    ("Kampuchea rice", None),
)
"""Reuters-21578's place field holds its PLACES codes (``ussr``, ``china``), not datelines: the place filter's
widening (an OR of a place's names in the filter mask) is not timed here."""


def timed(ix: Index, text: str, place: str | None, aliases: bool) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    hits = ix.search(text, place=place, limit=10, aliases=aliases, highlights=True)
    return time.perf_counter() - wall, time.process_time() - cpu, len(hits)


def table_load(runs: int) -> dict:
    """Reading and analysing the packaged table, from its bytes to the name maps."""
    walls, cpus = [], []
    for _ in range(runs):
        places._packaged.cache_clear()
        places._combined.cache_clear()
        wall, cpu = time.perf_counter(), time.process_time()
        places.place_names(True)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"rows": len(places._packaged()), "wall_ms": 1000 * statistics.median(walls),
            "cpu_ms": 1000 * statistics.median(cpus)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="where the Reuters index is built (kept)")
    parser.add_argument("--out", type=Path, help="folder for places.json")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    try:
        corpus = reuters()
    except CorpusUnavailable as e:
        print(f"skipped: {e}", file=sys.stderr)
        return
    index = args.work / "reuters-index"
    if not Index.exists(index):
        Index.build(corpus.article_files, index)
    started = time.process_time(), time.perf_counter()
    rows = []
    with Index.open(index) as ix:
        for text, place in QUERIES:
            for aliases in (True, False):
                timed(ix, text, place, aliases)  # warm: arrays, frequencies
            measured: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
            for _ in range(args.runs):
                for aliases in (True, False):
                    measured[aliases].append(timed(ix, text, place, aliases))
            on, off = measured[True], measured[False]
            row = {
                "query": text, "place": place,
                "wall_ms": [1000 * statistics.median(r[0] for r in m) for m in (on, off)],
                "cpu_ms": [1000 * statistics.median(r[1] for r in m) for m in (on, off)],
                "hits": [on[0][2], off[0][2]],
            }
            row["ratio"] = row["wall_ms"][0] / row["wall_ms"][1]
            row["cpu_ratio"] = row["cpu_ms"][0] / row["cpu_ms"][1]
            rows.append(row)
            print(f"{text!r:22} place={place!s:8} widened {row['wall_ms'][0]:7.2f} ms (cpu {row['cpu_ms'][0]:6.2f})"
                  f"  as written {row['wall_ms'][1]:7.2f} ms (cpu {row['cpu_ms'][1]:6.2f})  ×{row['ratio']:.2f} (cpu ×{row['cpu_ratio']:.2f})"
                  f"  hits {row['hits'][0]}/{row['hits'][1]}")
    cpu_s, wall_s = time.process_time() - started[0], time.perf_counter() - started[1]
    load = table_load(args.runs)
    print(f"table: {load['rows']} rows read in {load['wall_ms']:.1f} ms (cpu {load['cpu_ms']:.1f} ms), once a process")
    print(f"median ratio ×{statistics.median(r['ratio'] for r in rows):.2f} (cpu ×"
          f"{statistics.median(r['cpu_ratio'] for r in rows):.2f}); run {wall_s:.1f} s wall, {cpu_s:.1f} s CPU")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        result = {"corpus": corpus.name, "runs": args.runs, "queries": rows, "table": load,
                  "wall_s": wall_s, "cpu_s": cpu_s}
        (args.out / "places.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
