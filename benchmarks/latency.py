"""Query latency, build throughput and cold start of searchkit and its peers as the corpus grows.

    python benchmarks/latency.py --sizes 1000,10000,100000 --out DIR

Every engine indexes the same passages and answers the same queries in the same run, each step in its own
subprocess (so memory figures and caches do not leak between engines). Writes ``DIR/results.json`` (one record
per engine and size, with ratios to every peer), ``DIR/meta.json`` (machine, method) and ``DIR/latency.png``,
``DIR/build.png``; prints a table.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora  # noqa: E402
from engines import ENGINES  # noqa: E402

HERE = Path(__file__).resolve().parent
COLD_QUERY = "Caspian seabed"
COLD_METHOD = (
    "median wall time of {runs} runs (after one untimed run) of a fresh process that opens the index, runs "
    f"{COLD_QUERY!r} and prints 10 hits; bytecode of the environment and searchkit compiled first (compileall), "
    "as an installed package runs"
)


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        records = json.loads((out / "results.json").read_text())
        _report(records, out)
        return records
    if not args.no_compile:
        _compile_bytecode()
    engines = [ENGINES[name] for name in args.engines.split(",")]
    records: list[dict] = []
    for corpus in _corpora(args):
        size = corpus.passage_count()
        queries = corpora.queries(corpus, count=args.queries)
        work = Path(args.work) / corpus.name
        work.mkdir(parents=True, exist_ok=True)
        queries_file = work / "queries.json"
        queries_file.write_text(json.dumps([q.to_dict() for q in queries]))
        for engine in engines:
            index_dir = work / engine.name
            built = build_index(engine.name, corpus, index_dir)
            _log(f"{corpus.name}: {engine.name}: querying")
            answered = _run_json([sys.executable, str(HERE / "engines.py"), "query", engine.name,
                                  str(index_dir), str(queries_file)])
            latencies = answered["latencies_ms"]
            records.append({
                "engine": engine.name,
                "corpus": corpus.name,
                "size": size,
                "build_s": round(built["build_s"], 3),
                "passages_per_s": round(size / built["build_s"], 1),
                "index_bytes": _disk_bytes(index_dir),
                "peak_rss_mb": round(built["peak_rss_mb"], 1),
                "queries": len(latencies),
                "p50_ms": round(_percentile(latencies, 50), 3),
                "p95_ms": round(_percentile(latencies, 95), 3),
                "p99_ms": round(_percentile(latencies, 99), 3),
                "matched_queries": sum(1 for h in answered["hits"] if h),
                "highlights": engine.highlights,
                "cold_s": round(_cold(engine.oneshot(index_dir, COLD_QUERY), args.cold_runs), 4),
                "note": engine.note,
            })
            if not args.keep_indexes:
                shutil.rmtree(index_dir, ignore_errors=True)
    _add_ratios(records)
    _add_exponents(records)
    (out / "results.json").write_text(json.dumps(records, indent=1) + "\n")
    (out / "meta.json").write_text(json.dumps(_meta(args), indent=1) + "\n")
    _report(records, out)
    return records


def _report(records: list[dict], out: Path) -> None:
    """The plots and ``results.md`` beside ``results.json``, and the tables on the terminal."""
    _plot(records, out)
    (out / "results.md").write_text(_markdown(records))
    _print_tables(records)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="passages per generated corpus, comma-separated")
    parser.add_argument("--out", required=True, help="folder for results.json, meta.json and the plots")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of: {', '.join(ENGINES)}")
    parser.add_argument("--corpus", choices=("generated", "reuters"), default="generated",
                        help="generated (seeded, one per size) or reuters (Reuters-21578 whole; --sizes ignored)")
    parser.add_argument("--queries", type=int, default=240, help="how many queries (at least the 8 seed examples)")
    parser.add_argument("--cold-runs", type=int, default=5, help="timed one-shot processes per engine and size")
    parser.add_argument("--work", default=str(corpora.CACHE / "runs"), help="where indexes are built")
    parser.add_argument("--keep-indexes", action="store_true", help="keep the built indexes under --work")
    parser.add_argument("--no-compile", action="store_true", help="skip compiling bytecode before cold starts")
    parser.add_argument("--render-only", action="store_true",
                        help="only redraw the plots, results.md and tables from DIR/results.json")
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


def _compile_bytecode() -> None:
    """Compile the environment's and searchkit's bytecode, as an install does (this machine sets
    PYTHONDONTWRITEBYTECODE, so nothing would be cached otherwise)."""
    paths = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")} | {str(corpora.REPO / "searchkit")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(paths):
            compileall.compile_dir(path, quiet=2, workers=0)


def build_index(engine: str, corpus: corpora.Corpus, index_dir: Path) -> dict:
    """A fresh index of ``corpus`` in ``index_dir``, built by ``engines.py build`` in a process of its own;
    what that reports (``build_s``, ``peak_rss_mb``)."""
    _log(f"{corpus.name}: {engine}: building")
    shutil.rmtree(index_dir, ignore_errors=True)
    built = _run_json([sys.executable, str(HERE / "engines.py"), "build", engine, str(corpus.folder), str(index_dir)])
    _log(f"{corpus.name}: {engine}: built in {built['build_s']:.1f} s")
    return built


def _run_json(command: list[str]) -> dict:
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cold(command: list[str], runs: int) -> float:
    return statistics.median(_cold_times([command], runs)[0])


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


def _disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


RATIO_FIELDS = ("p50_ms", "p95_ms", "p99_ms", "cold_s", "passages_per_s")


def _add_ratios(records: list[dict]) -> None:
    """``ratios[peer][field]`` = this engine's figure / the peer's, same size, same run (< 1 is faster for
    latencies and cold start; > 1 is faster for passages_per_s)."""
    for r in records:
        r["ratios"] = {
            peer["engine"]: {f: round(r[f] / peer[f], 3) if peer[f] else None for f in RATIO_FIELDS}
            for peer in records
            if peer["size"] == r["size"] and peer["corpus"] == r["corpus"] and peer["engine"] != r["engine"]
        }


def _add_exponents(records: list[dict]) -> None:
    """``p50_exponent``/``p95_exponent``: latency grows as size**exponent from the engine's previous size."""
    for r in records:
        smaller = [p for p in records if p["engine"] == r["engine"] and p["size"] < r["size"]]
        if not smaller:
            r["p50_exponent"] = r["p95_exponent"] = None
            continue
        prev = max(smaller, key=lambda p: p["size"])
        growth = math.log(r["size"] / prev["size"])
        for field in ("p50", "p95"):
            a, b = prev[f"{field}_ms"], r[f"{field}_ms"]
            r[f"{field}_exponent"] = round(math.log(b / a) / growth, 3) if a > 0 and b > 0 else None


def _meta(args: argparse.Namespace) -> dict:
    return {
        "command": "python benchmarks/latency.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": _machine(),
        "cold_method": COLD_METHOD.format(runs=args.cold_runs),
        "warm_method": "one process per engine; the index opened once, 20 warm-up queries, then every query "
                       "timed once for its top 10 (with the engine's highlights)",
        "bytecode_compiled": not args.no_compile,
        "engines": {name: e.note for name, e in ENGINES.items()},
    }


def _machine() -> str:
    """Architecture, CPUs, memory and kernel, as ``meta.json`` records them."""
    import psutil

    return (f"{platform.machine()}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}")


def _plot(records: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = list(dict.fromkeys(r["engine"] for r in records))
    for name, fields, ylabel in (
        ("latency", ("p50_ms", "p95_ms"), "warm query latency, ms (top 10; solid p50, dashed p95)"),
        ("build", ("passages_per_s",), "build throughput, passages/s"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, engine in enumerate(engines):
            rows = sorted((r for r in records if r["engine"] == engine), key=lambda r: r["size"])
            for field, style in zip(fields, ("-", "--")):
                ax.plot([r["size"] for r in rows], [r[field] for r in rows], style, marker="o", color=f"C{i}",
                        label=engine if style == "-" else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("corpus size, passages")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=110)
        plt.close(fig)


def _markdown(records: list[dict]) -> str:
    """The figures as Markdown tables (the README's Performance section quotes them)."""
    lines = [
        "| engine | passages | build s | passages/s | index MB | peak RSS MB | p50 ms | p95 ms | p99 ms | highlights "
        "| cold s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    for r in records:
        lines.append(
            f"| {r['engine']} | {r['size']:,} | {r['build_s']:.1f} | {r['passages_per_s']:,.0f} | "
            f"{r['index_bytes'] / 2**20:.1f} | {r['peak_rss_mb']:.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {'yes' if r['highlights'] else 'no'} | {r['cold_s']:.3f} |"
        )
    lines += ["", "searchkit ÷ peer, same run (latency, cold: < 1 is faster; passages/s: > 1 is faster):", "",
              "| passages | peer | p50 | p95 | p99 | cold | passages/s |", "|--:|---|--:|--:|--:|--:|--:|"]
    for r in records:
        if r["engine"] == "searchkit":
            for peer, ratio in r["ratios"].items():
                cells = " | ".join(f"{ratio[f]:.2f}" if ratio[f] is not None else "-" for f in RATIO_FIELDS)
                lines.append(f"| {r['size']:,} | {peer} | {cells} |")
    return "\n".join(lines) + "\n"


def _print_tables(records: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    table = Table(title="searchkit and its peers (same passages, same queries, same run)")
    for column in ("engine", "size", "build s", "passages/s", "index MB", "peak RSS MB", "p50 ms", "p95 ms",
                   "p99 ms", "highlights", "cold s", "p50 exp."):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for r in records:
        table.add_row(
            r["engine"], f"{r['size']:,}", f"{r['build_s']:.1f}", f"{r['passages_per_s']:,.0f}",
            f"{r['index_bytes'] / 2**20:.1f}", f"{r['peak_rss_mb']:.0f}", f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}", f"{r['p99_ms']:.2f}", "yes" if r["highlights"] else "no", f"{r['cold_s']:.3f}",
            "" if r["p50_exponent"] is None else f"{r['p50_exponent']:.2f}",
        )
    console.print(table)
    ratios = Table(title="searchkit ÷ peer (latency and cold: < 1 is faster; passages/s: > 1 is faster)")
    for column in ("size", "peer", "p50", "p95", "p99", "cold", "passages/s"):
        ratios.add_column(column, justify="right")
    for r in records:
        if r["engine"] != "searchkit":
            continue
        for peer, ratio in r["ratios"].items():
            ratios.add_row(f"{r['size']:,}", peer, *(f"{ratio[f]:.2f}" if ratio[f] is not None else "-"
                                                     for f in RATIO_FIELDS))
    console.print(ratios)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
