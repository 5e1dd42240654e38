"""Build speed alone: passages per CPU second of searchkit's build against raw Whoosh's and a baseline checkout's.

    python benchmarks/build_speed.py --sizes 1000,10000,100000 --baseline DIR [--rounds 3] [--out FILE]

``--baseline DIR`` is another version's source tree (a folder holding its ``searchkit`` package, e.g. ``git
archive main | tar -x -C DIR``); its builds run the same ``engines.py build`` (``Index.build`` of the corpus's
article files) with ``PYTHONPATH=DIR``. Each build runs in a fresh process; the engines take turns in every
round (the order rotating), so a busy machine weighs on all of them alike. CPU seconds are user + system of the
build and its children (searchkit's indexing processes), from start to finish of ``Index.build`` (process start
and imports of the harness excluded, searchkit's own imports included as ``Index.build`` makes them). Prints
and writes (``--out``) the median of each engine's rounds and the ratios to searchkit's.
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
    return parser.parse_args(argv)


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
