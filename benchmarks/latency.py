"""A fair benchmark of searchkit against its peers: the same passages, the same query words, interleaved.

    python benchmarks/latency.py --sizes 10000,100000 --out DIR

Every engine indexes the same passages, each build in its own process (wall and CPU seconds, children included;
peak memory of the process tree; index size by kind of file). Then one worker process per engine opens its
index and the harness drives them in lock step: query i runs on every engine, in an order that rotates, before
query i + 1, in each query kind (OR, AND, OR with highlights). Every engine is given the same words: the
queries less searchkit's stop words and one-letter words (queries left empty are dropped). Peers run in two
setups: their defaults over the body, and the same work as searchkit (title and body, stemmed). Writes
``DIR/results.json`` (one record per engine and size), ``DIR/meta.json`` (machine, load, method) and
``DIR/results.md`` (the tables the README quotes), and prints the tables.
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


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        records = json.loads((out / "results.json").read_text())
        _report(records, json.loads((out / "meta.json").read_text()), out)
        return records
    meta = _meta(args)
    if not args.no_compile:
        _compile_bytecode()
    engines = [ENGINES[name] for name in args.engines.split(",")]
    records: list[dict] = []
    for corpus in _corpora(args):
        load_before = os.getloadavg()
        queries, changed, dropped = corpora.without_stop_words(corpora.queries(corpus, count=args.queries))
        meta["queries"][corpus.name] = {"generated": args.queries, "changed": changed, "dropped": dropped,
                                        "kept": len(queries)}
        work = Path(args.work) / corpus.name
        work.mkdir(parents=True, exist_ok=True)
        size, corpus_bytes = corpus.passage_count(), _text_bytes(corpus)
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
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (out / "results.json").write_text(json.dumps(records, indent=1) + "\n")
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    _report(records, meta, out)
    return records


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="passages per generated corpus, comma-separated")
    parser.add_argument("--out", required=True, help="folder for results.json, meta.json and results.md")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of: {', '.join(ENGINES)}")
    parser.add_argument("--corpus", choices=("generated", "reuters"), default="generated",
                        help="generated (seeded, one per size) or reuters (Reuters-21578 whole; --sizes ignored)")
    parser.add_argument("--queries", type=int, default=240, help="queries generated (at least the 8 seed examples), "
                                                                  "before stop words are stripped")
    parser.add_argument("--cold-runs", type=int, default=5, help="timed one-shot processes per engine and size")
    parser.add_argument("--work", default=str(corpora.CACHE / "runs"), help="where indexes are built")
    parser.add_argument("--keep-indexes", action="store_true", help="keep the built indexes under --work")
    parser.add_argument("--no-compile", action="store_true", help="skip compiling bytecode before cold starts")
    parser.add_argument("--render-only", action="store_true",
                        help="only rewrite results.md and the tables from DIR/results.json and DIR/meta.json")
    return parser.parse_args(argv)


def _corpora(args: argparse.Namespace):
    if args.corpus == "reuters":
        try:
            yield corpora.reuters()
        except corpora.CorpusUnavailable as e:
            raise SystemExit(f"skipped: {e}") from None
        return
    for size in (int(s) for s in args.sizes.split(",")):
        _log(f"corpus of {size} passages (cached in {corpora.CACHE})")
        yield corpora.generated(size)


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
    every engine (the order rotating by one engine each time) before query i + 1; ``WARM_UP`` queries first."""
    _log(f"{work.name}: {len(queries)} queries × {len(KINDS)} kinds, interleaved over {len(engines)} engines")
    workers = [Worker(engine, work / engine.name) for engine in engines]
    try:
        for q in queries[:WARM_UP]:
            for kind in KINDS:
                for worker in workers:
                    worker.ask(q, kind)
        replies: dict[str, dict[str, list[dict]]] = {w.name: {kind: [] for kind in KINDS} for w in workers}
        turn = 0
        for q in queries:
            for kind in KINDS:
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


def _report(records: list[dict], meta: dict, out: Path) -> None:
    text = _markdown(records, meta)
    (out / "results.md").write_text(text)
    print(text)


def _markdown(records: list[dict], meta: dict) -> str:
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
        "| cold s |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in records:
        cold = "-" if r["cold_s"] is None else f"{r['cold_s']:.3f}"
        lines.append(
            f"| {r['engine']} | {r['setup']} | {r['size']:,} | {r['build_wall_s']:.1f} | {r['build_cpu_s']:.1f} | "
            f"{r['passages_per_cpu_s']:,.0f} | {r['peak_rss_mb']:.0f} | {r['index_bytes'] / 2**20:.1f} | "
            f"{r['index_to_corpus']:.2f} | {cold} |")
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
    lines += ["", "Issue 16's targets that one run of this harness can show:", ""]
    lines += [f"- {line}" for line in _targets(records)]
    return "\n".join(lines) + "\n"


def _targets(records: list[dict]) -> list[str]:
    """Parts 3 and 4 of issue 16 as this run measured them (parts 2 and 5 need a baseline run and startup.py):
    a verdict at the size each target names, the figure alone at other sizes."""
    out = []
    for r in (r for r in records if r["engine"] == "searchkit"):
        size, lat, ratios = r["size"], r["latency"], r.get("ratios", {})
        small = _verdict(r["index_to_corpus"] <= 2, size, 10**6)
        out.append(f"{size:,}: index ÷ corpus {r['index_to_corpus']:.2f}{small} (≤ 2 at 1M)")
        slower = lat["and"]["p50_ms"] > lat["or"]["p50_ms"] or lat["and"]["p95_ms"] > lat["or"]["p95_ms"]
        out.append(f"{size:,}: AND p50 / p95 {lat['and']['p50_ms']:.2f} / {lat['and']['p95_ms']:.2f} ms, OR "
                   f"{lat['or']['p50_ms']:.2f} / {lat['or']['p95_ms']:.2f}{_verdict(not slower, size, size)} "
                   "(AND no slower than OR)")
        for peer, bound, target, what in (("sqlite-fts5", 1.0, 10**5, "below FTS5's at 100k"),
                                          ("sqlite-fts5-default", 1.0, 10**5, "below FTS5's at 100k"),
                                          ("tantivy", 10.0, 10**6, "within 10× tantivy's at 1M")):
            ratio = ratios.get(peer, {}).get("or+highlights p50")
            if ratio is not None:
                verdict = _verdict(ratio < bound, size, target)
                out.append(f"{size:,}: OR + highlights p50 {ratio:.2f}× {peer}'s{verdict} (p50 {what})")
    return out


def _verdict(met: bool, size: int, target_size: int) -> str:
    """``: met`` or ``: not met`` when ``size`` is the target's own (within 1%: a corpus may fall short of its
    nominal size), else nothing."""
    if abs(size - target_size) > target_size / 100:
        return ""
    return ": met" if met else ": not met"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
