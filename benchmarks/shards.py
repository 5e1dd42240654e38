"""Sharded indexes: build time of 1 vs N shards (local processes, Ray tasks), and query latency of one index vs
N shards in this process vs N shards on Ray actors; plus one index's latency as it grows (the per-shard curve
the README's capacity plan reads).

    python benchmarks/shards.py --work /tmp/shards-bench --out benchmarks/results-shards

On Reuters-21578 (``../shared/data``; skipped with a message where absent), in one run: every configuration
answers the same queries (``corpora.queries``), plain and with ``collapse=True``, each once untimed then
``--runs`` times, the configurations interleaved query by query; figures are
p50 and p95 of wall milliseconds, CPU milliseconds of this process beside them (Ray's actors run in other
processes: their CPU is not counted), and ratios to one index. Ray runs on a local instance of ``--cpus`` CPUs
started by this script, on the loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import CorpusUnavailable, queries, reuters  # noqa: E402

from searchkit import Index, QueryError  # noqa: E402


def cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (the local indexing processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_build(files: list[Path], path: Path, **options) -> dict:
    shutil.rmtree(path, ignore_errors=True)
    wall, cpu = time.perf_counter(), cpu_seconds()
    report = Index.build(files, path, **options)
    return {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(cpu_seconds() - cpu, 2),
            "passages": report.passages}


def latencies(indexes: dict[str, Index], cases: list, runs: int) -> dict[str, dict]:
    """Each index's p50 and p95 wall milliseconds (CPU p50 beside) over ``cases``, the indexes interleaved: every
    query asked of each in turn, once untimed, then ``runs`` times."""
    walls: dict[str, list[float]] = {name: [] for name in indexes}
    cpus: dict[str, list[float]] = {name: [] for name in indexes}
    for text, options in cases:
        for ix in indexes.values():
            ix.search(text, **options)
    for _ in range(runs):
        for text, options in cases:
            for name, ix in indexes.items():
                wall, cpu = time.perf_counter(), time.process_time()
                ix.search(text, **options)
                walls[name].append(1000 * (time.perf_counter() - wall))
                cpus[name].append(1000 * (time.process_time() - cpu))
    figures = {}
    for name in indexes:
        ordered = sorted(walls[name])
        figures[name] = {"p50_ms": round(statistics.median(ordered), 2),
                         "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
                         "cpu_p50_ms": round(statistics.median(cpus[name]), 2)}
    return figures


def searchable(ix: Index, text: str, options: dict) -> bool:
    """Whether the query is one a search answers (not only stop words, not too broad)."""
    try:
        ix.search(text, **options)
    except QueryError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="where the indexes are built (replaced)")
    parser.add_argument("--out", type=Path, help="folder for shards.json")
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--queries", type=int, default=120)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--no-curve", dest="curve", action="store_false", help="skip the per-shard curve")
    args = parser.parse_args()
    try:
        corpus = reuters()
    except CorpusUnavailable as e:
        sys.exit(f"skipped: {e}")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    from searchkit.rayshards import NAMESPACE

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, namespace=NAMESPACE,
             _node_ip_address="127.0.0.1", log_to_driver=False)
    files = corpus.article_files
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    cases = [(" ".join(q.words) if not q.phrase else f'"{" ".join(q.words)}"',
              {"source": q.source, "since": q.since, "until": q.until, "limit": 10})
             for q in queries(corpus, args.queries)]
    result: dict = {"corpus": corpus.name, "files": len(files), "shards": args.shards, "queries": len(cases),
                    "runs": args.runs, "cpu_count": os.cpu_count(), "ray_cpus": args.cpus,
                    "ray_version": ray.__version__}
    result["build"] = {
        "one index": timed_build(files, work / "one"),
        f"{args.shards} shards, local processes": timed_build(files, work / "local", shards=args.shards),
        f"{args.shards} shards, Ray tasks": timed_build(files, work / "ray", shards=args.shards, ray="auto"),
    }
    with Index.open(work / "one") as one, Index.open(work / "local") as local, \
            Index.open(work / "local", ray="auto") as on_ray:
        cases = [case for case in cases if searchable(one, *case)]
        result["queries"] = len(cases)
        indexes = {"one index": one, f"{args.shards} shards in process": local, f"{args.shards} shards on Ray": on_ray}
        query = latencies(indexes, cases, args.runs)
        collapsed = latencies(indexes, [(text, {**options, "collapse": True}) for text, options in cases], args.runs)
    for figures in (query, collapsed):
        base = figures["one index"]["p95_ms"]
        for row in figures.values():
            row["p95_ratio_to_one_index"] = round(row["p95_ms"] / base, 2)
    result["query"] = query
    result["query, collapse=True"] = collapsed
    if args.curve:  # the per-shard curve: one index of the first k files (a shard of that many passages)
        curve = []
        for count in range(1, len(files) + 1):
            path = work / f"curve-{count}"
            built = timed_build(files[:count], path)
            with Index.open(path) as ix:
                curve.append({"passages": built["passages"], **latencies({"ix": ix}, cases, args.runs)["ix"]})
            shutil.rmtree(path)
        result["per_shard_curve"] = curve
    ray.shutdown()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "shards.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
