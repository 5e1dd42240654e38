"""Reliability costs against input size: peak memory of ``searchkit index``, and what ``Index.open``'s checks cost.

    python benchmarks/reliability.py --sizes 32M,128M,512M --out benchmarks/results-reliability

For each size, writes one generated news-like JSON Lines file (corpora.py's vocabulary, seeded) into a temporary
folder outside the repository (``--work``), indexes it with ``searchkit index`` in a subprocess while sampling
the resident memory of that process and of its children (Whoosh's writer processes) every 50 ms, then times
``Index.open`` as a query opens it (size and modification time of every file, CRC-32 of the metadata) against
``Index.open(verify=True)`` (CRC-32 of every file) and against opening plus a first query. Sizes take a suffix
K, M or G: ``--sizes 1G,2G,4G`` streams multi-gigabyte inputs the same way. Writes ``reliability.json`` and
prints a table; the generated inputs and indexes are deleted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora  # noqa: E402

SAMPLE_SECONDS = 0.05
OPEN_RUNS = 15
UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="25M,50M,100M", help="input sizes, comma-separated (K, M, G suffixes)")
    parser.add_argument("--work", help="folder for the generated inputs and indexes (default: a temp folder)")
    parser.add_argument("--out", help="folder to write reliability.json into")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="searchkit-reliability-", dir=args.work))
    try:
        runs = []
        for size in args.sizes.split(","):
            runs.append(_measure(work, _bytes(size)))
            print(_row(runs[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = {
        "runs": runs,
        "machine": f"{psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM",
        "method": f"peak RSS sampled every {SAMPLE_SECONDS * 1000:.0f} ms; open times: median of {OPEN_RUNS} "
                  "in-process runs after one untimed run (page cache warm)",
    }
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "reliability.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def _bytes(size: str) -> int:
    size = size.strip().upper()
    return int(float(size[:-1]) * UNITS[size[-1]]) if size[-1] in UNITS else int(size)


def write_input(path: Path, size: int, seed: int = 0) -> int:
    """Stream generated articles into one JSON Lines file until it holds ``size`` bytes; returns the articles."""
    written = articles = 0
    with open(path, "w", encoding="utf-8") as f:
        for article in _articles(seed):
            line = json.dumps(article) + "\n"
            f.write(line)
            written += len(line.encode())
            articles += 1
            if written >= size:
                break
    return articles


def _articles(seed: int) -> Iterator[dict]:
    """An endless stream of news-like articles: corpora.py's vocabulary, drawn a million words at a time,
    1–6 paragraphs of 60–120 words (no sentences: only the volume matters here)."""
    rng = np.random.default_rng(seed)
    vocab = corpora._Vocabulary(rng)
    number = 0
    while True:
        words = vocab.words(1_000_000)
        at = 0
        while at + 6 * 120 <= len(words):
            number += 1
            paragraphs = []
            for _ in range(int(rng.integers(1, 7))):
                length = int(rng.integers(60, 121))
                paragraphs.append(" ".join(words[at:at + length]).capitalize() + ".")
                at += length
            yield {
                "id": f"r{seed}-{number}",
                "title": " ".join(words[at:at + 6]).capitalize(),
                "date": (corpora.FIRST_DATE + timedelta(days=int(rng.integers(0, corpora.DAYS)))).isoformat(),
                "source": corpora.SOURCES[number % len(corpora.SOURCES)],
                "place": corpora.PLACES[number % len(corpora.PLACES)],
                "text": "\n\n".join(paragraphs),
            }


def _index(inputs: Path, index: Path) -> dict:
    """Run ``searchkit index`` over ``inputs``, sampling its process tree's resident memory until it ends."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "searchkit", "index", str(inputs), "--index", str(index)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    root = psutil.Process(proc.pid)
    peak_total = peak_main = peak_child = 0
    while proc.poll() is None:
        try:
            main_rss = root.memory_info().rss
            children = [c.memory_info().rss for c in root.children(recursive=True)]
        except psutil.Error:  # a process ended between listing and reading it
            continue
        peak_main = max(peak_main, main_rss)
        peak_child = max([peak_child, *children])
        peak_total = max(peak_total, main_rss + sum(children))
        time.sleep(SAMPLE_SECONDS)
    stderr = proc.stderr.read()
    if proc.returncode not in (0, 3):  # 3: indexed, some inputs skipped
        raise SystemExit(f"searchkit index failed ({proc.returncode}): {stderr[-2000:]}")
    return {
        "index_s": round(time.perf_counter() - began, 1),
        "peak_rss_total_mb": round(peak_total / 2**20, 1),
        "peak_rss_main_mb": round(peak_main / 2**20, 1),
        "peak_rss_child_mb": round(peak_child / 2**20, 1),
    }


def _measure(work: Path, size: int) -> dict:
    from searchkit import Index

    inputs, index = work / "input.jsonl", work / "index"
    articles = write_input(inputs, size)
    try:
        figures = _index(inputs, index)
        files = [f for f in index.rglob("*") if f.is_file()]

        def median_ms(action) -> float:
            action()  # warm the page cache: the figures compare checks, not disk reads
            times = []
            for _ in range(OPEN_RUNS):
                began = time.perf_counter()
                action()
                times.append(time.perf_counter() - began)
            return round(statistics.median(times) * 1000, 2)

        def open_and_query() -> None:
            with Index.open(index) as ix:
                ix.search("Caspian seabed", limit=10)

        open_ms = median_ms(lambda: Index.open(index).close())
        verify_ms = median_ms(lambda: Index.open(index, verify=True).close())
        query_ms = median_ms(open_and_query)
        with Index.open(index) as ix:
            passages = ix.manifest["counts"]["passages"]
        return {
            "input_mb": round(inputs.stat().st_size / 2**20, 1), "articles": articles, "passages": passages,
            **figures,
            "index_mb": round(sum(f.stat().st_size for f in files) / 2**20, 1), "index_files": len(files),
            "open_ms": open_ms, "open_verify_ms": verify_ms, "open_and_first_query_ms": query_ms,
            "open_over_verify": round(open_ms / verify_ms, 3),
            "open_over_open_and_query": round(open_ms / query_ms, 3),
        }
    finally:
        inputs.unlink(missing_ok=True)
        shutil.rmtree(index, ignore_errors=True)


def _row(r: dict) -> str:
    return (f"input {r['input_mb']:,.0f} MB, {r['passages']:,} passages, indexed in {r['index_s']:,.0f} s: peak RSS "
            f"{r['peak_rss_total_mb']:,.0f} MB in all (main {r['peak_rss_main_mb']:,.0f}, largest child "
            f"{r['peak_rss_child_mb']:,.0f}); index {r['index_mb']:,.1f} MB; open {r['open_ms']} ms, "
            f"verify {r['open_verify_ms']} ms ({r['open_over_verify']}x), open + first query "
            f"{r['open_and_first_query_ms']} ms ({r['open_over_open_and_query']}x)")


if __name__ == "__main__":
    main()
