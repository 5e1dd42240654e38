"""``searchkit serve`` under load, through a commit, beside Datasette serving the same passages by SQLite FTS.

    python benchmarks/serve.py --size 100000 --duration 30 --clients 16 --out benchmarks/results/serve.json

In one run, alternating: searchkit (``searchkit serve``, its ``/api/search``) and Datasette (``datasette serve``,
``/db/passages.json?_search=``, FTS5 with the porter tokenizer, built by sqlite-utils) each take ``--clients``
concurrent clients (threads with keep-alive connections) sending the benchmark query set for ``--duration``
seconds. In the middle of searchkit's run, ``searchkit index`` commits an update that replaces every article of
one file (``edition1`` → ``edition2``). Every 10th request of each client asks for that file's passages: an answer
mixing the two commits is a response whose hits hold both editions, or whose edition is not that of the
generation it names. Reported per engine: throughput, p50/p95/p99, errors, and each server's CPU seconds beside
the wall time; for searchkit also mixed answers, and the seconds from the commit to the first answer from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SENTINEL_ARTICLES = 40
SENTINEL_WORD = "zqxsentinel"
PROBE_EVERY = 10


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    import httpx
    import psutil

    corpus = corpora.generated(args.size)
    work = corpora.CACHE / f"serve-{corpus.name}"
    work.mkdir(parents=True, exist_ok=True)
    sentinel = work / "sentinel" / "sentinel.jsonl"
    pristine = _searchkit_index(corpus, work, sentinel)
    database = fts_database(corpus, work)
    index = work / "index-run"
    shutil.rmtree(index, ignore_errors=True)
    shutil.copytree(pristine, index)  # the run's update must not change the cached index
    _write_sentinel(sentinel, edition=1)
    queries = corpora.queries(corpus, count=240)
    results: dict = {"meta": _meta(args, corpus), "rounds": []}
    for round_number in range(args.rounds):
        for engine in ("searchkit", "datasette"):
            port = _free_port()
            if engine == "searchkit":
                command = [sys.executable, "-m", "searchkit", "serve", "--index", str(index), "--port", str(port)]
                base, probe = f"http://127.0.0.1:{port}", f"/api/search?q={SENTINEL_WORD}&limit=100"
            else:
                command = [sys.executable, "-m", "datasette", "serve", str(database), "--port", str(port),
                           "--setting", "sql_time_limit_ms", "10000", "--setting", "num_sql_threads", "3"]
                base, probe = f"http://127.0.0.1:{port}", None
            server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait_until_up(httpx, base + ("/healthz" if engine == "searchkit" else "/-/versions.json"))
                update = None
                if engine == "searchkit" and round_number == 0:
                    update = (corpus.article_files, sentinel, index)
                record = _load(httpx, psutil.Process(server.pid), engine, base, queries, probe, update, args)
            finally:
                server.terminate()
                server.wait(timeout=30)
            record["round"] = round_number
            results["rounds"].append(record)
            _log(f"{engine} round {round_number}: {record['requests']} requests, {record['throughput_rps']} /s, "
                 f"p50 {record['p50_ms']} p95 {record['p95_ms']} p99 {record['p99_ms']} ms, "
                 f"{record['errors']} errors, server CPU {record['server_cpu_s']} s of {record['wall_s']} s"
                 + (f", {record['mixed_answers']} mixed answers" if "mixed_answers" in record else ""))
    results["summary"] = _summary(results["rounds"])
    _log(json.dumps(results["summary"]))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return results


def _searchkit_index(corpus: corpora.Corpus, work: Path, sentinel: Path) -> Path:
    """The corpus and the sentinel file (edition 1) indexed by ``searchkit index``, cached (rebuilt when the cached
    one is of another schema)."""
    index = work / "index"
    if (index / "CURRENT").is_file():
        from searchkit import Index, IndexIncompatible

        try:
            Index.open(index).close()
        except IndexIncompatible:  # cached by a searchkit of another schema
            shutil.rmtree(index)
    if not (index / "CURRENT").is_file():
        _write_sentinel(sentinel, edition=1)
        _log(f"indexing {corpus.name} with searchkit index")
        subprocess.run([sys.executable, "-m", "searchkit", "index", *map(str, corpus.article_files), str(sentinel),
                        "--index", str(index)], cwd=REPO, check=True, stderr=subprocess.DEVNULL)
    return index


def fts_database(corpus: corpora.Corpus, work: Path) -> Path:
    """The corpus's passages in SQLite with an FTS5 index over title and body (sqlite-utils), cached."""
    database = work / "passages.db"
    if not database.is_file():
        import sqlite_utils

        _log(f"loading {corpus.name} into SQLite FTS5 for Datasette")
        tmp = work / "passages.db.tmp"
        tmp.unlink(missing_ok=True)
        db = sqlite_utils.Database(tmp)
        db["passages"].insert_all(corpus.passages(), pk="id", batch_size=5_000)
        db["passages"].enable_fts(["title", "body"], fts_version="FTS5", tokenize="porter")
        db["passages"].create_index(["source"])
        db["passages"].create_index(["date"])
        db.close()
        tmp.replace(database)
    return database


def _write_sentinel(path: Path, *, edition: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for n in range(SENTINEL_ARTICLES):
            f.write(json.dumps({
                "id": f"sentinel-{n}", "title": f"Sentinel report {n}", "date": "2020-01-01", "source": "Bench",
                "text": f"The {SENTINEL_WORD} report number {n} of edition{edition}, for the benchmark of serving.",
            }) + "\n")


def _params(query: corpora.BenchQuery, engine: str) -> dict[str, str]:
    words = " ".join(query.words)
    if engine == "searchkit":
        params = {"q": f'"{words}"' if query.phrase else words}
        for name in ("source", "since", "until"):
            if getattr(query, name):
                params[name] = getattr(query, name)
        return params
    params = {"_search": words, "_size": "10", "_shape": "objects"}  # words escaped: Datasette's default
    if query.source:
        params["source"] = query.source
    if query.since:
        params["date__gte"] = query.since
    if query.until:
        params["date__lte"] = query.until
    return params


def _load(httpx, process, engine: str, base: str, queries: list, probe: str | None, update, args) -> dict:
    """``args.clients`` threads sending queries for ``args.duration`` seconds; the update in the middle."""
    path = "/api/search" if engine == "searchkit" else "/passages/passages.json"
    latencies: list[float] = []
    errors: list[str] = []
    editions: dict[str, set[str]] = {}
    mixed: list[str] = []
    first_answer_from: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            sent = number
            while not stop.is_set():
                sent += 1
                started = time.perf_counter()
                try:
                    if probe and sent % PROBE_EVERY == 0:
                        response = c.get(probe)
                    else:
                        response = c.get(path, params=_params(queries[sent % len(queries)], engine))
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:120]}")
                    body = response.json()
                except Exception as e:  # any failure is an error of the run, counted
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}"[:200])
                    continue
                with lock:
                    latencies.append(elapsed)
                    if engine == "searchkit":
                        generation = body["generation"]  # None: a query of stop words, nothing read
                        if generation is not None:
                            first_answer_from.setdefault(generation, time.monotonic())
                        if probe and sent % PROBE_EVERY == 0:
                            seen = {word for hit in body["hits"] for word in ("edition1", "edition2")
                                    if word in hit["text"]}
                            editions.setdefault(generation, set()).update(seen)
                            if len(seen) != 1 or len(body["hits"]) != SENTINEL_ARTICLES:
                                mixed.append(f"{generation}: editions {sorted(seen)}, {len(body['hits'])} hits")

    cpu_before = sum(process.cpu_times()[:2])
    client_cpu_before = time.process_time()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    committed = None
    update_seconds = None
    if update is not None:  # in the middle, and the load goes on for at least a quarter of the run after it
        article_files, sentinel, index = update
        time.sleep(args.duration / 2)
        _write_sentinel(sentinel, edition=2)
        began = time.monotonic()
        before = (index / "CURRENT").read_text()
        writer = subprocess.Popen([sys.executable, "-m", "searchkit", "index", *map(str, article_files),
                                   str(sentinel), "--index", str(index)], cwd=REPO, stderr=subprocess.DEVNULL)
        while (index / "CURRENT").read_text() == before:  # the commit: CURRENT replaced
            assert writer.poll() is None, "searchkit index ended without a commit"
            time.sleep(0.01)
        committed = time.monotonic()
        assert writer.wait() == 0
        update_seconds = round(committed - began, 2)
        time.sleep(max(started + args.duration - committed, args.duration / 4))
    else:
        time.sleep(args.duration)
    stop.set()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    record = {
        "engine": engine,
        "clients": args.clients,
        "requests": len(latencies),
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": _ms(latencies, 50), "p95_ms": _ms(latencies, 95), "p99_ms": _ms(latencies, 99),
        "errors": len(errors), "error_examples": sorted(set(errors))[:5],
        "server_cpu_s": round(sum(process.cpu_times()[:2]) - cpu_before, 2),
        "client_cpu_s": round(time.process_time() - client_cpu_before, 2),
    }
    if engine == "searchkit":
        conflicting = [g for g, seen in editions.items() if len(seen) > 1]
        record["mixed_answers"] = len(mixed) + len(conflicting)
        record["mixed_examples"] = mixed[:5]
        record["editions_by_generation"] = {g: sorted(seen) for g, seen in sorted(editions.items())}
        if committed is not None:
            record["update_s"] = update_seconds
            new = [t for g, t in first_answer_from.items() if "edition2" in editions.get(g, ())]
            record["commit_to_first_answer_s"] = round(min(new) - committed, 2) if new else None
            record["generations_answered"] = len(first_answer_from)
            record["index_generations_on_disk_after"] = sorted(p.name for p in index.glob("gen-*"))
    return record


def _ms(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000, 2)


def _summary(rounds: list[dict]) -> dict:
    """Per engine over its rounds: requests, errors, the worst p95 and p99; p95 ratio searchkit / Datasette."""
    out: dict = {}
    for engine in ("searchkit", "datasette"):
        mine = [r for r in rounds if r["engine"] == engine]
        out[engine] = {
            "requests": sum(r["requests"] for r in mine), "errors": sum(r["errors"] for r in mine),
            "p50_ms": max(r["p50_ms"] or 0 for r in mine), "p95_ms": max(r["p95_ms"] or 0 for r in mine),
            "p99_ms": max(r["p99_ms"] or 0 for r in mine),
            "throughput_rps": min(r["throughput_rps"] for r in mine),
        }
    out["searchkit"]["mixed_answers"] = sum(r.get("mixed_answers", 0) for r in rounds)
    out["p95_ratio_searchkit_to_datasette"] = round(out["searchkit"]["p95_ms"] / out["datasette"]["p95_ms"], 3) \
        if out["datasette"]["p95_ms"] else None
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(httpx, url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _meta(args: argparse.Namespace, corpus: corpora.Corpus) -> dict:
    import psutil

    return {
        "command": "python benchmarks/serve.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "corpus": corpus.name, "passages": corpus.passage_count() + SENTINEL_ARTICLES,
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start",
        "method": "alternating rounds; each engine in its own server process, the clients in this one (threads, "
                  "httpx keep-alive); latency = request sent to JSON parsed; top 10 hits per query; Datasette's "
                  "table search (_search: FTS5 MATCH of the escaped words, rows in primary-key order, as Datasette "
                  "0.65 returns them: no relevance ranking) with its count of all matches, as its page shows",
    }


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="passages of the generated corpus")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per engine and round")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds (the update runs in the first)")
    parser.add_argument("--out", default=None, help="write the results JSON here")
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
