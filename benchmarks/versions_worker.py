"""The worker of ``versions.py``: opens an index with the searchkit on PYTHONPATH and answers one JSON query a line
(top 10: ids, scores and highlights, with the wall and CPU milliseconds the search took)."""

import json
import sys
import time

from searchkit import Index, NothingToSearch


def main(index: str) -> None:
    ix = Index.open(index)
    print("ready", flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            hits = ix.search(ask["text"], limit=10, source=ask["source"], since=ask["since"], until=ask["until"],
                             highlights=ask["highlights"])
            answer = repr([(h.passage.id, h.score, [(f.start, f.matches) for f in h.highlights]) for h in hits])
        except NothingToSearch:
            answer = "[]"
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(json.dumps({"wall_ms": wall * 1e3, "cpu_ms": cpu * 1e3, "answer": answer}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
