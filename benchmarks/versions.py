"""Two searchkit checkouts compared on one generated corpus: each builds its own index (`searchkit index`, wall and
CPU seconds, size by kind of file), then one worker process per checkout answers the same queries, interleaved
query by query in alternating order (OR, AND, OR with highlights; wall and CPU time inside the worker), and the
answers (ids, scores, highlights) are compared.

    python benchmarks/versions.py --a ../main --b . --size 100000 --out benchmarks/results-size/versions
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import corpora  # noqa: E402
from benchmarks.engines import SEARCHKIT_KINDS, _by_kind  # noqa: E402

KINDS = ("or", "and", "or+highlights")
WORKER = Path(__file__).resolve().with_name("versions_worker.py")
"""Run with the checkout's searchkit on PYTHONPATH (and nothing of this one's)."""


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    corpus = corpora.generated(args.size)
    queries, _, _ = corpora.without_stop_words(corpora.queries(corpus, args.queries))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    checkouts = {"a": Path(args.a).resolve(), "b": Path(args.b).resolve()}
    builds = {name: _build(checkout, corpus, work / name) for name, checkout in checkouts.items()}
    latency, same = _interleaved(checkouts, work, queries)
    result = {"size": args.size, "checkouts": {k: str(v) for k, v in checkouts.items()}, "builds": builds,
              "latency": latency, "identical_answers": same, "answers": len(queries) * len(KINDS),
              "load_average": os.getloadavg(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1))
    (out / "results.md").write_text(_render(result))
    print(_render(result))
    return result


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="the first checkout (a folder holding searchkit/)")
    parser.add_argument("--b", required=True, help="the second checkout")
    parser.add_argument("--size", type=int, default=100_000, help="passages of the generated corpus")
    parser.add_argument("--queries", type=int, default=240, help="queries generated")
    parser.add_argument("--work", default=str(corpora.CACHE / "runs" / "versions"), help="where indexes are built")
    parser.add_argument("--out", default="benchmarks/results-size/versions", help="folder for results.json and .md")
    return parser.parse_args(argv)


def _env(checkout: Path) -> dict[str, str]:
    """The environment of a process of ``checkout`` (run from it, so that ``-m searchkit`` is its own)."""
    return {**os.environ, "PYTHONPATH": str(checkout)}


def _build(checkout: Path, corpus: corpora.Corpus, index: Path) -> dict:
    """Build ``corpus`` into ``index`` with ``checkout``'s CLI (afresh): wall and CPU seconds, bytes by kind."""
    subprocess.run(["rm", "-rf", str(index)], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "searchkit", "index", *map(str, corpus.article_files), "--index",
                    str(index)], env=_env(checkout), cwd=checkout, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    by_kind = dict(sorted(_by_kind(index, SEARCHKIT_KINDS).items(), key=lambda kv: -kv[1]))
    corpus_bytes = sum(len(p["body"].encode("utf-8")) for p in corpus.passages())
    return {"wall_s": wall, "cpu_s": cpu, "index_bytes": sum(by_kind.values()), "by_kind": by_kind,
            "corpus_bytes": corpus_bytes}


def _interleaved(checkouts: dict[str, Path], work: Path, queries: list) -> tuple[dict, int]:
    """Every query of every kind on both workers, the order alternating; a first round warms up."""
    workers = {name: subprocess.Popen([sys.executable, str(WORKER), str(work / name)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(checkout),
                                      cwd=checkout)
               for name, checkout in checkouts.items()}
    for worker in workers.values():
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    times: dict[str, dict[str, list[tuple[float, float]]]] = {n: {k: [] for k in KINDS} for n in workers}
    same = 0
    for timed in (False, True):
        for i, q in enumerate(queries):
            for kind in KINDS:
                ask = {"text": f'"{" ".join(q.words)}"' if q.phrase else (" AND " if kind == "and" else " ").join(
                    q.words), "source": q.source, "since": q.since, "until": q.until,
                       "highlights": kind == "or+highlights"}
                order = list(workers) if i % 2 == 0 else list(reversed(workers))
                replies = {name: _ask(workers[name], ask) for name in order}
                if timed:
                    for name, reply in replies.items():
                        times[name][kind].append((reply["wall_ms"], reply["cpu_ms"]))
                    same += len({r["answer"] for r in replies.values()}) == 1
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()
    return {name: {kind: _summary(values) for kind, values in kinds.items()} for name, kinds in times.items()}, same


def _ask(worker: subprocess.Popen, ask: dict) -> dict:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(json.dumps(ask) + "\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())


def _summary(values: list[tuple[float, float]]) -> dict:
    walls, cpus = sorted(w for w, _ in values), sorted(c for _, c in values)
    return {"p50_ms": statistics.median(walls), "p95_ms": walls[int(0.95 * (len(walls) - 1))],
            "cpu_p50_ms": statistics.median(cpus)}


def _render(r: dict) -> str:
    a, b = r["builds"]["a"], r["builds"]["b"]
    lines = [f"Run of {r['when']}, {r['size']:,} passages; a = {r['checkouts']['a']}, b = {r['checkouts']['b']}; "
             f"load average after: {', '.join(f'{x:.2f}' for x in r['load_average'])}.", "",
             "| checkout | build wall s | build CPU s | index MB | index ÷ corpus |", "|---|--:|--:|--:|--:|"]
    for name, build in (("a", a), ("b", b)):
        lines.append(f"| {name} | {build['wall_s']:.1f} | {build['cpu_s']:.1f} | {build['index_bytes'] / 2**20:.1f} | "
                     f"{build['index_bytes'] / build['corpus_bytes']:.2f} |")
    lines += ["", "Index size by kind of file, MB (b ÷ a):", "", "| kind | a | b | b ÷ a |", "|---|--:|--:|--:|"]
    for kind in sorted(set(a["by_kind"]) | set(b["by_kind"]), key=lambda k: -max(a["by_kind"].get(k, 0),
                                                                                  b["by_kind"].get(k, 0))):
        x, y = a["by_kind"].get(kind, 0), b["by_kind"].get(kind, 0)
        lines.append(f"| {kind} | {x / 2**20:.1f} | {y / 2**20:.1f} | {y / x if x else float('nan'):.2f} |")
    lines += ["", "Warm latency, top 10, interleaved: p50 / p95 wall ms (CPU p50 ms), and b ÷ a of the CPU p50:", "",
              "| kind | a | b | b ÷ a CPU p50 |", "|---|--:|--:|--:|"]
    for kind in KINDS:
        la, lb = r["latency"]["a"][kind], r["latency"]["b"][kind]
        lines.append(f"| {kind} | {la['p50_ms']:.2f} / {la['p95_ms']:.2f} ({la['cpu_p50_ms']:.2f}) | "
                     f"{lb['p50_ms']:.2f} / {lb['p95_ms']:.2f} ({lb['cpu_p50_ms']:.2f}) | "
                     f"{lb['cpu_p50_ms'] / la['cpu_p50_ms']:.3f} |")
    lines += ["", f"Identical answers (ids, scores, highlights): {r['identical_answers']} of {r['answers']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
