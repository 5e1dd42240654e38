"""Build speed alone: passages per CPU second of searchkit's build against raw Whoosh's and a baseline checkout's.

    python benchmarks/build_speed.py --sizes 1000,10000,100000 --baseline DIR [--rounds 3] [--out FILE]
    python benchmarks/build_speed.py --stages --sizes 100000 [--baseline DIR] [--rounds 1]

``--baseline DIR`` is another version's source tree (a folder holding its ``searchkit`` package, e.g. ``git
archive main | tar -x -C DIR``); its builds run the same ``engines.py build`` (``Index.build`` of the corpus's
article files) with ``PYTHONPATH=DIR``. Each build runs in a fresh process; the engines take turns in every
round (the order rotating), so a busy machine weighs on all of them alike. CPU seconds are user + system of the
build and its children (searchkit's indexing processes), from start to finish of ``Index.build`` (process start
and imports of the harness excluded, searchkit's own imports included as ``Index.build`` makes them). Prints
and writes (``--out``) the median of each engine's rounds and the ratios to searchkit's.

``--stages`` times the steps of a build instead, one process (no indexing processes), in a fresh process per
version and round: CPU seconds of reading the article files, training Punkt, splitting articles into passage
documents, their story sketches, analysing the documents into a segment builder (``add_document``), and writing
the segments (``finish``, with the top-k arrays' copy and the words); the commit, the index-wide arrays and the
stories' clustering are left out. Prints each stage's median and its microseconds per passage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parse_args(argv)
    if args.stages_of:
        print(json.dumps(_stage_times(Path(args.stages_of))))
        return []
    if args.stages:
        return _stages(args)
    runs = [("searchkit", "searchkit", REPO), ("whoosh", "whoosh", REPO)]
    if args.baseline:
        runs.insert(1, ("baseline", "searchkit", Path(args.baseline).resolve()))
    records = []
    work = Path(tempfile.mkdtemp(prefix="build-speed-", dir=args.work))
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            corpus = corpora.generated(size)
            passages = corpus.passage_count()
            built: dict[str, list[dict]] = {name: [] for name, _, _ in runs}
            for round_no in range(args.rounds):
                for name, engine, source in runs[round_no % len(runs):] + runs[:round_no % len(runs)]:
                    built[name].append(_build(engine, source, corpus, work / name))
                    print(f"{size} {name} round {round_no + 1}: {built[name][-1]['wall_s']:.2f} s wall, "
                          f"{built[name][-1]['cpu_s']:.2f} s CPU", file=sys.stderr, flush=True)
            for name, _, _ in runs:
                cpu = statistics.median(b["cpu_s"] for b in built[name])
                wall = statistics.median(b["wall_s"] for b in built[name])
                records.append({"engine": name, "size": passages, "rounds": args.rounds, "cpu_s": round(cpu, 3),
                                "wall_s": round(wall, 3), "passages_per_cpu_s": round(passages / cpu, 1),
                                "passages_per_wall_s": round(passages / wall, 1)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(_table(records))
    if args.out:
        Path(args.out).write_text(json.dumps({"load": os.getloadavg(), "records": records}, indent=1) + "\n")
    return records


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="passages per generated corpus, comma-separated")
    parser.add_argument("--baseline", help="another version's source tree (holding its searchkit package)")
    parser.add_argument("--rounds", type=int, default=3, help="builds of each engine per size (median reported)")
    parser.add_argument("--work", default=None, help="where indexes are built (a temporary folder, removed)")
    parser.add_argument("--out", help="a JSON file for the records")
    parser.add_argument("--stages", action="store_true", help="time the steps of a one-process build instead")
    parser.add_argument("--stages-of", help=argparse.SUPPRESS)  # one version's stage times, in this process
    return parser.parse_args(argv)


STAGES = ("read", "punkt", "split", "sketch", "analyse", "write")


def _stages(args: argparse.Namespace) -> list[dict]:
    """``--stages``: each version's stage CPU seconds (median of its rounds), the versions taking turns."""
    versions = [("searchkit", REPO)] + ([("baseline", Path(args.baseline).resolve())] if args.baseline else [])
    records = []
    for size in (int(s) for s in args.sizes.split(",")):
        corpus = corpora.generated(size)
        timed: dict[str, list[dict]] = {name: [] for name, _ in versions}
        for round_no in range(args.rounds):
            for name, source in versions[round_no % len(versions):] + versions[:round_no % len(versions)]:
                done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--stages-of",
                                       str(corpus.folder)], capture_output=True, text=True,
                                      env={**os.environ, "PYTHONPATH": str(source)})
                if done.returncode != 0:
                    raise SystemExit(f"{name} stages failed:\n{done.stderr[-3000:]}")
                timed[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"{size} {name} round {round_no + 1}: {timed[name][-1]}", file=sys.stderr, flush=True)
        for name, _ in versions:
            passages = timed[name][0]["passages"]
            cpu = {stage: statistics.median(t[stage] for t in timed[name]) for stage in STAGES}
            records.append({"engine": name, "size": passages, "rounds": args.rounds, "cpu_s": cpu})
    lines = ["| passages | version | " + " | ".join(STAGES) + " | total | passages / CPU s |",
             "|---:|---|" + "---:|" * (len(STAGES) + 2)]
    for r in records:
        total = sum(r["cpu_s"].values())
        cells = [f"{r['cpu_s'][stage]:.2f} s ({r['cpu_s'][stage] / r['size'] * 1e6:.0f} µs)" for stage in STAGES]
        lines.append(f"| {r['size']:,} | {r['engine']} | " + " | ".join(cells)
                     + f" | {total:.2f} s | {r['size'] / total:,.0f} |")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text(json.dumps({"load": os.getloadavg(), "records": records}, indent=1) + "\n")
    return records


def _stage_times(folder: Path) -> dict:
    """CPU seconds of each step of a one-process build of the article files under ``folder`` (see ``--stages``),
    and the passages indexed."""
    import time

    import whoosh.index

    from searchkit import schema, stories, vocabulary
    from searchkit.arrays import SegmentArrays
    from searchkit.ingest import read_articles
    from searchkit.passages import PassageSplitter, train_punkt
    from searchkit.pool import SEGMENT_POSTINGS
    from searchkit.segments import SegmentBuilder
    from searchkit.settings import Settings

    times = dict.fromkeys(STAGES, 0.0)
    clock = time.process_time
    began = clock()
    files = sorted(str(p) for p in (folder / "articles").iterdir())
    articles = [article for f in files for article in read_articles(f)]
    times["read"] = clock() - began
    began = clock()
    settings = Settings()
    splitter = PassageSplitter(train_punkt((a.text for a in articles), max_chars=settings.punkt_sample_chars),
                               max_chars=settings.max_passage_chars)
    times["punkt"] = clock() - began
    passages = 0
    with tempfile.TemporaryDirectory() as index_dir:
        ix = whoosh.index.create_in(index_dir, schema.SCHEMA)
        builder = SegmentBuilder(ix, SegmentArrays, vocabulary.save_segment_words)
        for article in articles:
            began = clock()
            documents = [schema.to_document(passage, article.path) for passage in splitter.split(article)]
            split = clock()
            for document in documents:
                builder.add_document(**document)
                if builder.postings >= SEGMENT_POSTINGS:
                    analysed = clock()
                    builder.finish()
                    times["write"] += clock() - analysed
                    builder = SegmentBuilder(ix, SegmentArrays, vocabulary.save_segment_words)
            analysed = clock()
            stories.sketch(article)
            times["split"] += split - began
            times["analyse"] += analysed - split
            times["sketch"] += clock() - analysed
            passages += len(documents)
        began = clock()
        builder.finish()
        times["write"] += clock() - began
    return {**times, "passages": passages}


def _build(engine: str, source: Path, corpus: corpora.Corpus, index_dir: Path) -> dict:
    """One build in a fresh process: ``engines.py build``'s wall and CPU seconds (children included)."""
    shutil.rmtree(index_dir, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run([sys.executable, str(HERE / "engines.py"), "build", engine, str(corpus.folder),
                           str(index_dir)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{engine} build failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(records: list[dict]) -> str:
    lines = ["| passages | engine | CPU s | wall s | passages / CPU s | CPU ÷ searchkit's |",
             "|---:|---|---:|---:|---:|---:|"]
    ours = {r["size"]: r for r in records if r["engine"] == "searchkit"}
    for r in records:
        ratio = r["cpu_s"] / ours[r["size"]]["cpu_s"]
        lines.append(f"| {r['size']:,} | {r['engine']} | {r['cpu_s']:.2f} | {r['wall_s']:.2f} | "
                     f"{r['passages_per_cpu_s']:,.0f} | {ratio:.2f}× |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
