"""One story once: precision and recall of the duplicate pairs ``stories`` finds, and what it adds to a build.

    python benchmarks/duplicates.py [--stories 2000] [--background 6000] [--builds 2] [--out FILE]

A labelled set of wire copies is generated from Reuters-21578 stories (``../shared/data``): each of ``--stories``
originals is republished 1-4 times by other agencies, each copy with a random non-empty combination of edits —
a new dateline and agency line, trimmed (its last 10-30% of words cut), words changed (2-6% replaced), a
paragraph added (from another story) — among ``--background`` other Reuters stories (non-copies). The set is
indexed with ``searchkit`` and the stories read back from the index.

The truth is every pair of articles whose word shingles (``stories.shingles``) have a Jaccard similarity of at
least 0.5, found exactly (all pairs, with a prefix filter; Reuters' own near-duplicates count too). Recall: the
share of those pairs put in one story. Precision: the share of the pairs put in one story that belong to one
true story — linked, directly or through others, by being copies of one original or at least 0.5 alike (a
Reuters story re-sent with changes links its original's copies to its own). Targets: recall >= 0.95, precision >= 0.99. The build is timed ``--builds`` times
with and without sketching (``stories.sketch`` returning nothing), alternately, wall and CPU seconds (indexing
processes included); target: at most +10%.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import corpora  # noqa: E402
from searchkit import Index, stories  # noqa: E402

AGENCIES = ("Kazinform", "TCA", "AFP", "AP", "Xinhua", "TASS", "Interfax", "Trend")
PLACES = ("ALMATY", "ASTANA", "MOSCOW", "TASHKENT", "BAKU", "BEIJING", "LONDON", "NEW YORK")
EDITS = ("dateline", "trim", "words", "paragraph")
THRESHOLD = 0.5
SEED = 21578


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=2000, help="originals republished as copies")
    parser.add_argument("--background", type=int, default=6000, help="other stories (non-copies)")
    parser.add_argument("--builds", type=int, default=2, help="timed builds with and without sketching, each")
    parser.add_argument("--thresholds", default="0.4,0.45", help="other verification thresholds to compare, on the "
                        "same signatures")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    try:
        corpus = corpora.reuters()
    except corpora.CorpusUnavailable as e:
        raise SystemExit(f"skipped: {e}") from None
    originals, articles = wire_copies(corpus, args.stories, args.background)
    work = Path(tempfile.mkdtemp(prefix="searchkit-duplicates-"))
    try:
        folder = work / "articles"
        folder.mkdir()
        for n in range(0, len(articles), 5000):
            with open(folder / f"{n // 5000:03d}.jsonl", "w", encoding="utf-8") as out:
                out.writelines(json.dumps(a) + "\n" for a in articles[n:n + 5000])
        timings = time_builds(folder, work / "index", args.builds)
        with Index.open(work / "index") as ix:
            keys, signatures = stories.read(ix.directory)
        cpu = time.process_time()
        found = stories.story_ids(keys, signatures)
        timings["cluster_cpu_s"] = round(time.process_time() - cpu, 3)
        timings["sketch_ms_per_article"] = sketch_cost(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"stories": args.stories, "background": args.background, "articles": len(articles),
              "copies": len(articles) - args.stories - args.background, "settings": stories.SETTINGS,
              **measure(articles, originals, {article: story for (_, article), story in found.items()}), **timings}
    result["other_thresholds"] = {}
    chosen = stories.THRESHOLD
    for threshold in map(float, args.thresholds.split(",") if args.thresholds else ()):
        stories.THRESHOLD = threshold
        try:
            other = stories.story_ids(keys, signatures)
        finally:
            stories.THRESHOLD = chosen
        figures = measure(articles, originals, {article: story for (_, article), story in other.items()})
        result["other_thresholds"][str(threshold)] = {k: figures[k] for k in ("recall", "precision", "predicted_pairs")}
    report(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def wire_copies(corpus: corpora.Corpus, count: int, background: int) -> tuple[dict[str, str], list[dict]]:
    """Originals, their copies and other stories, shuffled; and each article's original (copies and originals)."""
    rng = random.Random(SEED)
    pool = [a for f in corpus.article_files for a in map(json.loads, f.read_text(encoding="utf-8").splitlines())
            if len(a["text"].split()) >= 60]
    rng.shuffle(pool)
    chosen, others = pool[:count], pool[count:count + background]
    vocabulary = [w for a in others[:500] for w in a["text"].split()]
    articles, originals = list(others), {}
    for original in chosen:
        originals[original["id"]] = original["id"]
        articles.append(original)
        for n in range(rng.randint(1, 4)):
            edits = [e for e in EDITS if rng.random() < 0.5] or [rng.choice(EDITS)]
            copy = republished(original, edits, rng, vocabulary, rng.choice(others)["text"])
            copy["id"] = f"{original['id']}-copy{n}-{'+'.join(edits)}"
            originals[copy["id"]] = original["id"]
            articles.append(copy)
    rng.shuffle(articles)
    return originals, articles


def republished(original: dict, edits: list[str], rng: random.Random, vocabulary: list[str], other: str) -> dict:
    """A copy of ``original`` with ``edits`` applied."""
    agency = rng.choice(AGENCIES)
    paragraphs = original["text"].split("\n\n")
    if "trim" in edits:
        words = " ".join(paragraphs).split()
        paragraphs = [" ".join(words[:max(20, int(len(words) * rng.uniform(0.7, 0.9)))])]
    if "words" in edits:
        share = rng.uniform(0.02, 0.06)
        paragraphs = [" ".join(rng.choice(vocabulary) if rng.random() < share else w for w in p.split())
                      for p in paragraphs]
    if "paragraph" in edits:
        added = " ".join(other.split()[:rng.randint(30, 60)])
        paragraphs.insert(rng.randint(0, len(paragraphs)), added)
    if "dateline" in edits:
        paragraphs[0] = f"{rng.choice(PLACES)}, {rng.randint(1, 28)} March ({agency}) - {paragraphs[0]}"
        paragraphs.append(f"{agency} correspondent reports.")
    return {**original, "source": agency, "text": "\n\n".join(paragraphs)}


def measure(articles: list[dict], originals: dict[str, str], found: dict[str, int]) -> dict:
    """Precision and recall of the pairs put in one story, against the pairs at least ``THRESHOLD`` alike."""
    ids = [a["id"] for a in articles]
    sets = [set(stories.shingles(a["text"])) for a in articles]
    similar = similar_pairs(sets)
    by_story = defaultdict(list)
    for i, article in enumerate(ids):
        by_story[found[article]].append(i)
    predicted = {pair for members in by_story.values() for pair in itertools.combinations(sorted(members), 2)}

    def copies(i: int, j: int) -> bool:
        return ids[i] in originals and originals.get(ids[i]) == originals.get(ids[j])

    true_story = _components(len(ids), similar, [originals.get(article) for article in ids])
    correct = sum(1 for i, j in predicted if true_story[i] == true_story[j])
    labelled = {pair for pair in similar if copies(*pair)}
    missed_by_edits = Counter(ids[j].rsplit("-", 1)[-1] if "copy" in ids[j] else ids[i].rsplit("-", 1)[-1]
                              for i, j in similar - predicted if copies(i, j))
    return {
        "similar_pairs": len(similar), "similar_copy_pairs": len(labelled),
        "similar_other_pairs": len(similar) - len(labelled), "predicted_pairs": len(predicted),
        "recall": round(len(similar & predicted) / len(similar), 4) if similar else None,
        "recall_copies": round(len(labelled & predicted) / len(labelled), 4) if labelled else None,
        "precision": round(correct / len(predicted), 4) if predicted else None,
        "missed_copy_pairs_by_edits": dict(missed_by_edits.most_common()),
    }


def _components(count: int, pairs: set[tuple[int, int]], labels: list[str | None]) -> list[int]:
    """Each article's true story: articles of one label, and the ends of each pair, joined transitively."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    links = [*pairs, *((first.setdefault(label, i), i) for i, label in enumerate(labels) if label is not None)]
    for a, b in links:
        parent[root(a)] = root(b)
    return [root(i) for i in range(count)]


def similar_pairs(sets: list[set[str]]) -> set[tuple[int, int]]:
    """Every pair ``(i, j)``, ``i < j``, of Jaccard at least ``THRESHOLD``, exactly: two such sets share one of
    the rarest ``|s| - ceil(t|s|) + 1`` shingles of each (the prefix filter), so only pairs sharing one are
    compared."""
    import math

    frequency = Counter(s for shingle_set in sets for s in shingle_set)
    postings = defaultdict(list)
    for i, shingle_set in enumerate(sets):
        rarest = sorted(shingle_set, key=lambda s: (frequency[s], s))
        for s in rarest[:len(rarest) - math.ceil(THRESHOLD * len(rarest)) + 1]:
            postings[s].append(i)
    candidates = {(a, b) for docs in postings.values() for a, b in itertools.combinations(docs, 2)}
    return {(a, b) for a, b in candidates
            if len(sets[a] & sets[b]) >= THRESHOLD * len(sets[a] | sets[b])}


def time_builds(folder: Path, index: Path, builds: int) -> dict:
    """The best wall and CPU seconds of ``builds`` builds with sketching and as many without, alternately."""
    sketch = stories.sketch
    runs: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
    for _, mode in itertools.product(range(builds), ("without", "with")):
        stories.sketch = sketch if mode == "with" else (lambda article: None)  # forked indexing processes too
        try:
            shutil.rmtree(index, ignore_errors=True)
            cpu, wall = _cpu(), time.perf_counter()
            Index.build([folder], index)
            runs[mode].append((time.perf_counter() - wall, _cpu() - cpu))
        finally:
            stories.sketch = sketch
    best = {mode: (min(w for w, _ in r), min(c for _, c in r)) for mode, r in runs.items()}
    return {
        "build_wall_s": {mode: round(b[0], 3) for mode, b in best.items()},
        "build_cpu_s": {mode: round(b[1], 3) for mode, b in best.items()},
        "build_wall_ratio": round(best["with"][0] / best["without"][0], 4),
        "build_cpu_ratio": round(best["with"][1] / best["without"][1], 4),
        "cpu_count": os.cpu_count(),
    }


def sketch_cost(folder: Path) -> float:
    """CPU milliseconds ``stories.sketch`` takes per article of ``folder``, read as indexing reads them."""
    from searchkit.ingest import read_articles

    read = [article for path in sorted(folder.iterdir()) for article in read_articles(path)]
    cpu = time.process_time()
    for article in read:
        stories.sketch(article)
    return round((time.process_time() - cpu) * 1000 / len(read), 4)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def report(r: dict) -> None:
    print(f"{r['articles']:,} articles: {r['stories']:,} originals, {r['copies']:,} copies, "
          f"{r['background']:,} other stories")
    print(f"pairs at Jaccard >= {THRESHOLD}: {r['similar_pairs']:,} ({r['similar_copy_pairs']:,} labelled copies, "
          f"{r['similar_other_pairs']:,} Reuters' own); put in one story: {r['predicted_pairs']:,}")
    print(f"recall {r['recall']} (copies: {r['recall_copies']}), precision {r['precision']}  "
          f"(targets: >= 0.95, >= 0.99); missed copy pairs by edits: {r['missed_copy_pairs_by_edits']}")
    print(f"build: wall {r['build_wall_s']['without']:.2f} -> {r['build_wall_s']['with']:.2f} s "
          f"(x{r['build_wall_ratio']}), CPU {r['build_cpu_s']['without']:.2f} -> {r['build_cpu_s']['with']:.2f} s "
          f"(x{r['build_cpu_ratio']}); target: x1.10 at most")
    print(f"sketching: {r['sketch_ms_per_article']} ms an article; the commit's clustering: {r['cluster_cpu_s']} s CPU")
    for threshold, figures in r["other_thresholds"].items():
        print(f"verified at {threshold} instead: recall {figures['recall']}, precision {figures['precision']}")


if __name__ == "__main__":
    main()
