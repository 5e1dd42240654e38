"""A fair benchmark of searchkit against its peers: the same passages, the same query words, interleaved.

    python benchmarks/latency.py --sizes 10000,100000 --out DIR

Every engine indexes the same passages, each build in its own process (wall and CPU seconds, children included;
peak memory of the process tree; index size by kind of file). Then one worker process per engine opens its
index and the harness drives them in lock step: query i runs on every engine, in an order that rotates, before
query i + 1, in each query kind (OR, AND, OR with highlights). Every engine is given the same words: the
queries less searchkit's stop words and one-letter words (queries left empty are dropped). Peers run in two
setups: their defaults over the body, and the same work as searchkit (title and body, stemmed). The same run
checks what the corpora cannot show: a 1k-passage build by searchkit and by raw Whoosh, and ``startup.py``'s
cold start at 100k. Writes ``DIR/results.json`` (one record per engine and size), ``DIR/meta.json`` (machine,
load, method), ``DIR/checks.json`` (the two checks) and ``DIR/results.md`` (the tables the README quotes,
ending with every target of issue 16 and its verdict), and prints the tables.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import time
import warnings
from importlib.metadata import version
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora  # noqa: E402
from engines import ENGINES, Engine  # noqa: E402

HERE = Path(__file__).resolve().parent
COLD_QUERY = "Caspian seabed"
COLD_METHOD = (
    "median wall time of {runs} runs (after one untimed run) of a fresh process that opens the index, runs "
    f"{COLD_QUERY!r} and prints 10 hits; bytecode of the environment and searchkit compiled first (compileall), "
    "as an installed package runs"
)
KINDS = {"or": (False, False), "and": (True, False), "or+highlights": (False, True)}
"""Query kind → (every word required, highlights)."""
WARM_UP = 20
MEMORY_POLL_S = 0.05
BASELINE = "whoosh"
BUILD_TARGET = 11_000
"""Issue 16, part 2: passages per CPU second at 100k and 1M, 4 × searchkit 1.0's 2,786 (rounded)."""
COLD_TARGET_S = 0.10
"""Issue 16, part 5: a one-shot ``searchkit query`` on a 100k index, as ``startup.py`` measures it."""


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        records = json.loads((out / "results.json").read_text())
        checks = json.loads((out / "checks.json").read_text()) if (out / "checks.json").is_file() else {}
        _report(records, json.loads((out / "meta.json").read_text()), checks, out)
        return records
    meta = _meta(args)
    if not args.no_compile:
        _compile_bytecode()
    records: list[dict] = []
    for corpus, query_count in _corpora(args):
        load_before = os.getloadavg()
        queries, changed, dropped = corpora.without_stop_words(corpora.queries(corpus, count=query_count))
        meta["queries"][corpus.name] = {"generated": query_count, "changed": changed, "dropped": dropped,
                                        "kept": len(queries)}
        work = Path(args.work) / corpus.name
        work.mkdir(parents=True, exist_ok=True)
        size, corpus_bytes = corpus.passage_count(), _text_bytes(corpus)
        engines = [ENGINES[name] for name in args.engines.split(",")
                   if name != BASELINE or size <= args.baseline_up_to]
        if len(engines) < len(args.engines.split(",")):
            meta["skipped"][corpus.name] = f"{BASELINE} (above --baseline-up-to {args.baseline_up_to:,} passages)"
        rows = {}
        for engine in engines:
            built = build_index(engine.name, corpus, work / engine.name)
            rows[engine.name] = _build_record(engine, corpus, size, corpus_bytes, built, work / engine.name)
        for engine in engines:
            if engine.has_oneshot:
                runs = _cold_times([engine.oneshot(work / engine.name, COLD_QUERY)], args.cold_runs)[0]
                rows[engine.name]["cold_s"] = round(statistics.median(runs), 4)
        for name, latency in interleaved(engines, work, queries).items():
            rows[name]["latency"] = latency
        meta["load_average"][corpus.name] = {"before": _rounded(load_before), "after": _rounded(os.getloadavg())}
        records.extend(rows.values())
        if not args.keep_indexes:
            for engine in engines:
                shutil.rmtree(work / engine.name, ignore_errors=True)
    _add_ratios(records)
    checks = {}
    if args.build_check:
        checks["build"] = build_check(args.build_check, args.build_check_runs, Path(args.work) / "build-check")
    if args.startup_size:
        checks["startup"] = startup(args, out / "startup")
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (out / "results.json").write_text(json.dumps(records, indent=1) + "\n")
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / "checks.json").write_text(json.dumps(checks, indent=1) + "\n")
    _report(records, meta, checks, out)
    return records


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="passages per generated corpus, comma-separated")
    parser.add_argument("--out", required=True, help="folder for results.json, meta.json and results.md")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of: {', '.join(ENGINES)}")
    parser.add_argument("--corpus", choices=("generated", "reuters"), default="generated",
                        help="generated (seeded, one per size) or reuters (Reuters-21578 whole; --sizes ignored)")
    parser.add_argument("--queries", default="240", help="queries generated (at least the 8 seed examples), before "
                                                          "stop words are stripped: one count, or one per size")
    parser.add_argument("--baseline-up-to", type=int, default=100_000,
                        help=f"build raw Whoosh ({BASELINE}) only for corpora of at most this many passages (its 1M "
                             "build takes hours; --build-check compares it with searchkit)")
    parser.add_argument("--build-check", type=int, default=None,
                        help="passages of a build-only comparison of searchkit with raw Whoosh, issue 16's 1k build "
                             "(default 1000 for generated corpora; 0 skips)")
    parser.add_argument("--build-check-runs", type=int, default=3, help="builds per engine in the build check, taking "
                                                                       "turns")
    parser.add_argument("--startup-size", type=int, default=None,
                        help="passages of the corpus startup.py measures the cold start on (default 100000 for "
                             "generated corpora; 0 skips)")
    parser.add_argument("--startup-runs", type=int, default=15, help="startup.py's timed processes per step")
    parser.add_argument("--cold-runs", type=int, default=5, help="timed one-shot processes per engine and size")
    parser.add_argument("--work", default=str(corpora.CACHE / "runs"), help="where indexes are built")
    parser.add_argument("--keep-indexes", action="store_true", help="keep the built indexes under --work")
    parser.add_argument("--no-compile", action="store_true", help="skip compiling bytecode before cold starts")
    parser.add_argument("--render-only", action="store_true",
                        help="only rewrite results.md and the tables from DIR/results.json and DIR/meta.json")
    args = parser.parse_args(argv)
    generated = args.corpus == "generated"
    args.build_check = (1000 if generated else 0) if args.build_check is None else args.build_check
    args.startup_size = (100_000 if generated else 0) if args.startup_size is None else args.startup_size
    return args


def _corpora(args: argparse.Namespace) -> Iterator[tuple[corpora.Corpus, int]]:
    """Each corpus with the number of queries to generate for it."""
    sizes = [int(s) for s in args.sizes.split(",")] if args.corpus == "generated" else [0]
    counts = [int(c) for c in args.queries.split(",")]
    if len(counts) not in (1, len(sizes)):
        raise SystemExit(f"--queries: one count, or one per size ({len(sizes)}), not {len(counts)}")
    counts *= len(sizes) // len(counts)
    if args.corpus == "reuters":
        try:
            yield corpora.reuters(), counts[0]
        except corpora.CorpusUnavailable as e:
            raise SystemExit(f"skipped: {e}") from None
        return
    for size, count in zip(sizes, counts):
        _log(f"corpus of {size} passages (cached in {corpora.CACHE})")
        yield corpora.generated(size), count


def _text_bytes(corpus: corpora.Corpus) -> int:
    """The corpus's size: its passages' text, UTF-8."""
    return sum(len(p["body"].encode()) for p in corpus.passages())


def _compile_bytecode() -> None:
    """Compile the environment's and searchkit's bytecode, as an install does (this machine sets
    PYTHONDONTWRITEBYTECODE, so nothing would be cached otherwise)."""
    paths = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")} | {str(corpora.REPO / "searchkit")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(paths):
            compileall.compile_dir(path, quiet=2, workers=0)


# --- builds ---------------------------------------------------------------------------------------------------


def build_index(engine: str, corpus: corpora.Corpus, index_dir: Path) -> dict:
    """A fresh index of ``corpus`` in ``index_dir``, built by ``engines.py build`` in a process of its own: what
    that reports (``wall_s``, ``cpu_s`` with its children, ``own_peak_rss_mb``) and ``peak_rss_mb``, the largest
    resident memory of its process tree, sampled every 50 ms."""
    import psutil

    _log(f"{corpus.name}: {engine}: building")
    shutil.rmtree(index_dir, ignore_errors=True)
    load = os.getloadavg()[0]
    command = [sys.executable, str(HERE / "engines.py"), "build", engine, str(corpus.folder), str(index_dir)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [tree, *tree.children(recursive=True)]))
        except psutil.Error:  # a process of the tree ended while being read
            pass
        time.sleep(MEMORY_POLL_S)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{stderr[-3000:]}")
    built = json.loads(stdout.strip().splitlines()[-1])
    built["peak_rss_mb"] = max(peak / 2**20, built["own_peak_rss_mb"])
    built["load_before"] = round(load, 2)
    _log(f"{corpus.name}: {engine}: built in {built['wall_s']:.1f} s wall, {built['cpu_s']:.1f} s CPU")
    return built


def _build_record(engine: Engine, corpus: corpora.Corpus, size: int, corpus_bytes: int, built: dict,
                  index_dir: Path) -> dict:
    by_kind = dict(sorted(engine.file_kinds(index_dir).items(), key=lambda kv: -kv[1]))
    index_bytes = sum(by_kind.values())
    return {
        "engine": engine.name,
        "setup": engine.setup,
        "corpus": corpus.name,
        "size": size,
        "corpus_bytes": corpus_bytes,
        "build_wall_s": round(built["wall_s"], 3),
        "build_cpu_s": round(built["cpu_s"], 3),
        "passages_per_s": round(size / built["wall_s"], 1),
        "passages_per_cpu_s": round(size / built["cpu_s"], 1),
        "peak_rss_mb": round(built["peak_rss_mb"], 1),
        "load_before_build": built["load_before"],
        "index_bytes": index_bytes,
        "index_to_corpus": round(index_bytes / corpus_bytes, 3),
        "index_bytes_by_kind": by_kind,
        "cold_s": None,
        "note": engine.note,
    }


# --- interleaved queries --------------------------------------------------------------------------------------


class Worker:
    """One engine's ``engines.py serve`` process, its index open, answering one request at a time."""

    def __init__(self, engine: Engine, index_dir: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "engines.py"), "serve", engine.name, str(index_dir)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.name = engine.name
        self._read()  # {"ready": true}: the index is open

    def ask(self, q: corpora.BenchQuery, kind: str) -> dict:
        all_words, highlights = KINDS[kind]
        request = {"query": q.to_dict(), "all_words": all_words, "highlights": highlights}
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def _read(self) -> dict:
        assert self.proc.stdout
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.name} worker ended (exit code {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait()


def interleaved(engines: list[Engine], work: Path, queries: list[corpora.BenchQuery]) -> dict[str, dict]:
    """Every engine's latency per query kind: the engines' workers all open at once, query i of each kind run on
    every engine (the order rotating by one engine each time) before query i + 1, the kinds' order rotating by
    one kind each query (the first kind of a query's words pays for the postings it is first to read, on every
    engine alike); ``WARM_UP`` queries first."""
    _log(f"{work.name}: {len(queries)} queries × {len(KINDS)} kinds, interleaved over {len(engines)} engines")
    workers = [Worker(engine, work / engine.name) for engine in engines]
    try:
        for q in queries[:WARM_UP]:
            for kind in KINDS:
                for worker in workers:
                    worker.ask(q, kind)
        replies: dict[str, dict[str, list[dict]]] = {w.name: {kind: [] for kind in KINDS} for w in workers}
        turn = 0
        kinds = list(KINDS)
        for n, q in enumerate(queries):
            for kind in kinds[n % len(kinds):] + kinds[:n % len(kinds)]:
                for worker in workers[turn % len(workers):] + workers[:turn % len(workers)]:
                    replies[worker.name][kind].append(worker.ask(q, kind))
                turn += 1
    finally:
        for worker in workers:
            worker.close()
    reference = replies.get("searchkit")
    return {name: {kind: _latency(answers, reference[kind] if reference else None) for kind, answers in kinds.items()}
            for name, kinds in replies.items()}


def _latency(answers: list[dict], reference: list[dict] | None) -> dict:
    wall = [a["wall_ms"] for a in answers]
    cpu = [a["cpu_ms"] for a in answers]
    out = {
        "queries": len(answers),
        "p50_ms": round(_percentile(wall, 50), 3),
        "p95_ms": round(_percentile(wall, 95), 3),
        "p99_ms": round(_percentile(wall, 99), 3),
        "mean_ms": round(statistics.fmean(wall), 3),
        "cpu_p50_ms": round(_percentile(cpu, 50), 3),
        "cpu_p95_ms": round(_percentile(cpu, 95), 3),
        "matched": sum(1 for a in answers if a["ids"]),
    }
    if reference:
        # how alike the engines' answers are: the share of searchkit's top 10 that this engine also returns
        shares = [len(set(a["ids"]) & set(r["ids"])) / len(r["ids"]) for a, r in zip(answers, reference) if r["ids"]]
        out["top10_overlap_with_searchkit"] = round(statistics.fmean(shares), 3) if shares else None
    return out


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _add_ratios(records: list[dict]) -> None:
    """``ratios[peer]`` on each searchkit record: searchkit's figure / the peer's, same corpus, same run (< 1 is
    faster for latencies and smaller for index size; > 1 is faster for passages per CPU second)."""
    for r in records:
        if r["engine"] != "searchkit":
            continue
        r["ratios"] = {}
        for peer in records:
            if peer["corpus"] != r["corpus"] or peer["engine"] == r["engine"]:
                continue
            ratio = {f"{kind} {p}": _ratio(r["latency"][kind][f"{p}_ms"], peer["latency"][kind][f"{p}_ms"])
                     for kind in KINDS for p in ("p50", "p95")}
            ratio["passages_per_cpu_s"] = _ratio(r["passages_per_cpu_s"], peer["passages_per_cpu_s"])
            ratio["index_to_corpus"] = _ratio(r["index_to_corpus"], peer["index_to_corpus"])
            r["ratios"][peer["engine"]] = ratio


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


# --- issue 16's checks outside the interleaved run: the 1k build and the cold start ------------------------------


def build_check(size: int, runs: int, work: Path) -> dict:
    """Medians of ``runs`` builds of a ``size``-passage generated corpus by searchkit and by raw Whoosh, the
    engines taking turns: ``{"size", "runs", engine: {"wall_s", "cpu_s", "passages_per_cpu_s"}}``."""
    corpus = corpora.generated(size)
    times: dict[str, list[dict]] = {"searchkit": [], BASELINE: []}
    for _ in range(runs):
        for engine, builds in times.items():
            builds.append(build_index(engine, corpus, work / engine))
    shutil.rmtree(work, ignore_errors=True)
    out: dict = {"size": size, "runs": runs}
    for engine, builds in times.items():
        wall, cpu = (statistics.median(b[key] for b in builds) for key in ("wall_s", "cpu_s"))
        out[engine] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "passages_per_cpu_s": round(size / cpu, 1)}
    return out


def startup(args: argparse.Namespace, out: Path) -> dict:
    """Run ``startup.py`` (its own builds of a searchkit and a tantivy index) into ``out``: its ``startup.json``
    less the import breakdown, and the median seconds of its ``searchkit query`` step."""
    command = [sys.executable, str(HERE / "startup.py"), "--size", str(args.startup_size), "--out", str(out),
               "--runs", str(args.startup_runs), "--work", str(Path(args.work) / "startup")]
    _log(f"cold start: {' '.join(command[1:])}")
    proc = subprocess.run(command + (["--no-compile"] if args.no_compile else []), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{proc.stderr[-3000:]}")
    if not args.keep_indexes:
        shutil.rmtree(Path(args.work) / "startup", ignore_errors=True)
    result = json.loads((out / "startup.json").read_text())
    from startup import QUERY_STEP

    query = next(step for step in result["ladder"] if step["step"] == QUERY_STEP)
    return {"size": args.startup_size, "runs": args.startup_runs, "query_median_s": query["median_s"],
            "ladder": result["ladder"]}


# --- cold starts (also used by startup.py) --------------------------------------------------------------------


def _cold_times(commands: list[list[str]], runs: int) -> list[list[float]]:
    """Wall times in seconds of ``runs`` fresh processes of each command, after one untimed run of each. The
    commands take turns, so that a change in the machine's load falls on all of them alike."""
    env = _cold_env()
    for command in commands:
        subprocess.run(command, capture_output=True, env=env, check=False)
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for command, timings in zip(commands, times):
            began = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, env=env)
            timings.append(time.perf_counter() - began)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"one-shot process failed: {' '.join(command)}\n{proc.stderr.decode()[-2000:]}")
    return times


def _cold_env() -> dict[str, str]:
    """The environment of a timed one-shot process: bytecode caches allowed (this machine sets
    PYTHONDONTWRITEBYTECODE), a fixed terminal width."""
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# --- meta and the report --------------------------------------------------------------------------------------


def _meta(args: argparse.Namespace) -> dict:
    return {
        "command": "python benchmarks/latency.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": _machine(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_average": {},
        "skipped": {},
        "queries": {},
        "versions": {"whoosh": version("whoosh"), "sqlite": sqlite3.sqlite_version, "tantivy": version("tantivy")},
        "queries_method": "corpora.queries (seeded: 1–3 words from bands of document frequency, phrases, source- "
                          "and date-filtered queries, the seed examples) less searchkit's stop words and one-letter "
                          "words, given to every engine alike; a phrase stays a phrase in every kind",
        "warm_method": f"one worker process per engine, every index open at once; {WARM_UP} queries of each kind "
                       "untimed, then every query once per kind (or: any word; and: every word; or+highlights: any "
                       "word, with the engine's highlights) for its top 10 ids, query i on every engine (the order "
                       "rotating) before query i + 1; wall (perf_counter) and CPU (process_time) timed in the worker",
        "build_method": "one process per engine and size; wall seconds; CPU seconds user + system of the process "
                        "and its waited-for children (RUSAGE_CHILDREN: searchkit's indexing processes); peak memory: "
                        f"the largest summed RSS of the process tree, sampled every {MEMORY_POLL_S * 1000:.0f} ms "
                        "(at least the process's own VmHWM); corpus bytes: the passages' text, UTF-8",
        "cold_method": COLD_METHOD.format(runs=args.cold_runs),
        "build_check_method": f"{args.build_check} generated passages built {args.build_check_runs} times by "
                              f"searchkit and by raw Whoosh, taking turns, as the builds above; medians",
        "startup_method": f"benchmarks/startup.py --size {args.startup_size} --runs {args.startup_runs}: the median "
                          "wall time of a one-shot `searchkit query` (its ladder's last step), bytecode compiled",
        "bytecode_compiled": not args.no_compile,
        "engines": {name: {"setup": e.setup, "note": e.note} for name, e in ENGINES.items()},
    }


def _machine() -> str:
    """Architecture, CPUs, memory and kernel, as ``meta.json`` records them."""
    import psutil

    return (f"{platform.machine()}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}")


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                platform.processor())


def _rounded(load: tuple[float, float, float]) -> list[float]:
    return [round(x, 2) for x in load]


def _report(records: list[dict], meta: dict, checks: dict, out: Path) -> None:
    text = _markdown(records, meta, checks)
    (out / "results.md").write_text(text)
    print(text)


def _markdown(records: list[dict], meta: dict, checks: dict) -> str:
    """The figures as Markdown tables (the README's Performance section quotes them)."""
    loads = "; ".join(f"{name}: {v['before'][0]:.2f} before, {v['after'][0]:.2f} after"
                      for name, v in meta["load_average"].items())
    lines = [
        f"Run of {meta['when']}–{meta.get('finished', '?')} on {meta['cpu']}, {meta['cores']} cores "
        f"({meta['machine']}); 1-minute load average {loads}.",
        "",
    ]
    for name, q in meta["queries"].items():
        lines.append(f"- {name}: {q['generated']} queries generated; searchkit's stop words and one-letter words "
                     f"removed from every engine's queries: {q['changed']} changed, {q['dropped']} left empty and "
                     f"dropped, {q['kept']} run.")
    lines += [
        "",
        "Build and size (corpus = the passages' text, UTF-8; CPU = user + system, indexing processes included):",
        "",
        "| engine | setup | passages | wall s | CPU s | passages / CPU s | peak RSS MB | index MB | index ÷ corpus "
        "| cold s | load |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in records:
        cold = "-" if r["cold_s"] is None else f"{r['cold_s']:.3f}"
        load = r.get("load_before_build")
        lines.append(
            f"| {r['engine']} | {r['setup']} | {r['size']:,} | {r['build_wall_s']:.1f} | {r['build_cpu_s']:.1f} | "
            f"{r['passages_per_cpu_s']:,.0f} | {r['peak_rss_mb']:.0f} | {r['index_bytes'] / 2**20:.1f} | "
            f"{r['index_to_corpus']:.2f} | {cold} | {'-' if load is None else f'{load:.1f}'} |")
    lines += ["", "load: the 1-minute load average when the build began."]
    lines += [f"Not run on {name}: {what}." for name, what in meta.get("skipped", {}).items()]
    lines += ["", "Warm latency, top 10, ms: p50 / p95 wall (CPU p50); interleaved, same words for every engine; "
                  "overlap = share of searchkit's top 10 the engine also returns (OR):", "",
              "| engine | setup | passages | OR | AND | OR + highlights | matched (OR) | overlap |",
              "|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in records:
        cells = [f"{lat['p50_ms']:.2f} / {lat['p95_ms']:.2f} ({lat['cpu_p50_ms']:.2f})"
                 for lat in (r["latency"][kind] for kind in KINDS)]
        overlap = r["latency"]["or"].get("top10_overlap_with_searchkit")
        lines.append(f"| {r['engine']} | {r['setup']} | {r['size']:,} | {' | '.join(cells)} | "
                     f"{r['latency']['or']['matched']}/{r['latency']['or']['queries']} | "
                     f"{'-' if overlap is None else f'{overlap:.2f}'} |")
    lines += ["", "Index size by kind of file, MB:", "", "| engine | passages | by kind |", "|---|--:|---|"]
    for r in records:
        kinds = ", ".join(f"{kind} {size / 2**20:.1f}" for kind, size in r["index_bytes_by_kind"].items())
        lines.append(f"| {r['engine']} | {r['size']:,} | {kinds} |")
    lines += ["", "searchkit ÷ peer, same run (latency and size: < 1 is faster or smaller; passages per CPU s: > 1 is "
                  "faster):", "",
              "| passages | peer | setup | OR p50 | OR p95 | AND p50 | AND p95 | OR+hl p50 | OR+hl p95 "
              "| passages / CPU s | index ÷ corpus |",
              "|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    setups = {r["engine"]: r["setup"] for r in records}
    for r in records:
        for peer, ratio in r.get("ratios", {}).items():
            cells = " | ".join("-" if v is None else f"{v:.2f}" for v in ratio.values())
            lines.append(f"| {r['size']:,} | {peer} | {setups[peer]} | {cells} |")
    if "build" in checks:
        check = checks["build"]
        lines += ["", f"Build check, {check['size']:,} passages, medians of {check['runs']} builds per engine, taking "
                      "turns:", "", "| engine | wall s | CPU s | passages / CPU s |", "|---|--:|--:|--:|"]
        lines += [f"| {engine} | {check[engine]['wall_s']:.2f} | {check[engine]['cpu_s']:.2f} | "
                  f"{check[engine]['passages_per_cpu_s']:,.0f} |" for engine in ("searchkit", BASELINE)]
    lines += ["", "Issue 16's targets in this run:", "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {target} | {measured} | {verdict} |" for target, measured, verdict in _targets(records, checks)]
    return "\n".join(lines) + "\n"


def _targets(records: list[dict], checks: dict) -> list[tuple[str, str, str]]:
    """Every target of issue 16 as (target, what this run measured, verdict): ``met``, ``not met``, or ``not in
    this run`` when the run lacks the size or the check the target names."""
    searchkit = {r["size"]: r for r in records if r["engine"] == "searchkit"}
    out = []
    for size in (10**5, 10**6):
        r = _at(searchkit, size)
        out.append((f"build ≥ {BUILD_TARGET:,} passages / CPU s at {_size_name(size)}",
                    *((f"{r['passages_per_cpu_s']:,.0f} ({r['build_cpu_s']:.1f} CPU s, {r['build_wall_s']:.1f} wall s)",
                       _met(r["passages_per_cpu_s"] >= BUILD_TARGET)) if r else _absent())))
    check = checks.get("build")
    if check:
        ours, theirs = check["searchkit"], check[BASELINE]
        out.append((f"{check['size']:,}-passage build no slower than raw Whoosh's (CPU s)",
                    f"{ours['cpu_s']:.2f} vs {theirs['cpu_s']:.2f} CPU s ({ours['wall_s']:.2f} vs "
                    f"{theirs['wall_s']:.2f} wall s)", _met(ours["cpu_s"] <= theirs["cpu_s"], check["size"], 1000)))
    else:
        out.append(("1k-passage build no slower than raw Whoosh's (CPU s)", *_absent()))
    r = _at(searchkit, 10**6)
    out.append(("index ÷ corpus ≤ 2 at 1M",
                *((f"{r['index_to_corpus']:.2f}", _met(r["index_to_corpus"] <= 2)) if r else _absent())))
    for size, r in sorted(searchkit.items()):
        orq, andq = r["latency"]["or"], r["latency"]["and"]
        out.append((f"AND no slower than OR at {_size_name(size)} (p50, p95)",
                    f"AND {andq['p50_ms']:.2f} / {andq['p95_ms']:.2f} ms, OR {orq['p50_ms']:.2f} / "
                    f"{orq['p95_ms']:.2f} ms",
                    _met(andq["p50_ms"] <= orq["p50_ms"] and andq["p95_ms"] <= orq["p95_ms"])))
    for peer, bound, size, what in (("sqlite-fts5", 1.0, 10**5, "below FTS5's (same work)"),
                                    ("sqlite-fts5-default", 1.0, 10**5, "below FTS5's (default)"),
                                    ("tantivy", 10.0, 10**6, "within 10× tantivy's (same work)")):
        r = _at(searchkit, size)
        ratio = r.get("ratios", {}).get(peer, {}).get("or+highlights p50") if r else None
        out.append((f"OR + highlights p50 {what} at {_size_name(size)}",
                    *((f"{ratio:.2f}× ({r['latency']['or+highlights']['p50_ms']:.2f} ms)", _met(ratio < bound))
                      if r and ratio is not None else _absent())))
    cold = checks.get("startup")
    out.append((f"one-shot `searchkit query` ≤ {COLD_TARGET_S:.2f} s at 100k (startup.py)",
                *((f"{cold['query_median_s']:.3f} s (median of {cold['runs']}, {cold['size']:,} passages)",
                   _met(cold["query_median_s"] <= COLD_TARGET_S, cold["size"], 10**5))
                  if cold else _absent())))
    return out


def _at(by_size: dict[int, dict], size: int) -> dict | None:
    """The record of the corpus of ``size`` passages (within 1%: a corpus may fall short of its nominal size)."""
    return next((r for s, r in by_size.items() if _near(s, size)), None)


def _near(size: int, target_size: int) -> bool:
    return abs(size - target_size) <= target_size / 100


def _size_name(size: int) -> str:
    return f"{size // 10**6}M" if size >= 10**6 else f"{size // 1000}k"


def _met(met: bool, size: int | None = None, target_size: int | None = None) -> str:
    """The verdict; ``not in this run`` when a check ran at another ``size`` than the target's."""
    if size is not None and target_size is not None and not _near(size, target_size):
        return f"not in this run (the target is at {_size_name(target_size)})"
    return "met" if met else "**not met**"


def _absent() -> tuple[str, str]:
    return "-", "not in this run"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
