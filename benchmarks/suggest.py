"""Did you mean: the intended word first on misspelled queries built from a corpus, against Whoosh's corrector.

    python benchmarks/suggest.py [--corpus reuters|generated] [--size 100000] [--queries 400] [--out benchmarks/results]

Builds (or reuses, under ``$SEARCHKIT_BENCH_CACHE/suggest-<corpus>/``) a searchkit index, then makes two-word
queries from its own words (``Vocabulary``; words of 5 to 12 letters found at least 5 times): a frequent
context word and a word misspelled by one edit — deletion, insertion, substitution, transposition, in turn, at
a seeded random place — or by a transliteration variant (``TRANSLITERATIONS``: Tokayev → Tokaev, Gorbachev →
Gorbachov, Khomeini → Homeini...). A misspelling that is itself a term of the index is not one and is drawn
again. A query counts as right when ``Results.suggestion`` is the intended query exactly (the context word left
alone). Whoosh 2.7.4's ``ReaderCorrector`` (``searcher.corrector("body").suggest``, maxdist 2) gets the same
misspelled words as its query parser hands them over (stemmed), for every ``--whoosh-every``-th query (it takes
seconds a word); it suggests stems, so it is counted right when its first suggestion is the intended word's stem. Correctly spelled queries of the same words measure
how often a suggestion is made where none is needed. Latency: the suggestion alone (``suggest.suggestion``)
and a whole ``Index.search`` of the correct query, warm, median and p95, wall and CPU; and, in fresh processes,
the first misspelled query against the first correct one (the vocabulary's load and rapidfuzz's import).
Writes ``OUT/suggest.json``; exits 1 when the intended word is first for fewer than ``TARGET`` of the queries.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora  # noqa: E402

from searchkit import Index  # noqa: E402
from searchkit.schema import analyze  # noqa: E402
from searchkit.suggest import suggestion  # noqa: E402
from searchkit.vocabulary import FILE, Vocabulary  # noqa: E402

TARGET = 0.90
EDITS = ("deletion", "insertion", "substitution", "transposition")
TRANSLITERATIONS = (
    ("ayev", "aev"), ("yev", "ev"), ("ev", "ov"), ("kh", "h"), ("q", "k"), ("ya", "ia"), ("yu", "iu"),
    ("ei", "ey"), ("ou", "u"), ("ts", "tz"), ("iy", "i"), ("sh", "sch"), ("j", "dj"), ("ph", "f"),
)
"""Romanisation variants (pattern → variant) news spells names with; each rule applied to corpus words holding it."""
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def build_index(corpus_name: str, size: int) -> tuple[Path, float]:
    corpus = corpora.reuters() if corpus_name == "reuters" else corpora.generated(size)
    index = corpora.CACHE / f"suggest-{corpus.name}"
    seconds = 0.0
    try:
        Index.open(index).close()
    except Exception:
        began = time.perf_counter()
        Index.build(corpus.article_files, index)
        seconds = time.perf_counter() - began
    return index, seconds


def misspell(word: str, edit: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    if edit == "deletion":
        return word[:i] + word[i + 1:]
    if edit == "insertion":
        return word[:i] + rng.choice(LETTERS) + word[i:]
    if edit == "substitution":
        return word[:i] + rng.choice(LETTERS.replace(word[i], "")) + word[i + 1:]
    i = rng.randrange(len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def query_set(ix: Index, count: int, seed: int) -> list[dict]:
    """Misspelled two-word queries: ``count`` by one edit (the four kinds in turn), then transliterations."""
    vocabulary = Vocabulary.load(ix.directory)
    lexicon = ix.backend.lexicon()

    def is_term(word: str) -> bool:
        terms = analyze(word)
        return bool(terms) and any(lexicon.doc_frequency(f, terms[0][0].encode()) for f in ("title", "body"))

    frequent = [w for w, n in zip(vocabulary.words, vocabulary.counts) if n >= 5 and 5 <= len(w) <= 12]
    context = [w for w, n in zip(vocabulary.words, vocabulary.counts) if n >= 100 and 4 <= len(w) <= 10]
    rng = random.Random(seed)
    queries = []
    while len(queries) < count:
        edit = EDITS[len(queries) % len(EDITS)]
        word = rng.choice(frequent)
        wrong = misspell(word, edit, rng)
        if wrong != word and not is_term(wrong):
            queries.append({"kind": edit, "context": rng.choice(context), "word": word, "misspelled": wrong})
    for pattern, variant in TRANSLITERATIONS:
        holding = [w for w in frequent if pattern in w]
        for word in rng.sample(holding, min(8, len(holding))):
            at = rng.choice([i for i in range(len(word)) if word.startswith(pattern, i)])
            wrong = word[:at] + variant + word[at + len(pattern):]
            if not is_term(wrong):
                queries.append({"kind": "transliteration", "context": rng.choice(context), "word": word,
                                "misspelled": wrong})
    return queries


def timed(call) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered), 3), "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3)}


def fresh_process(index: Path, text: str) -> tuple[float, float]:
    """Wall and CPU ms of opening the index and running one query in a new process (after its imports)."""
    script = (
        "import sys, time; from searchkit import Index\n"
        "w, c = time.perf_counter(), time.process_time()\n"
        "with Index.open(sys.argv[1]) as ix: ix.search(sys.argv[2])\n"
        "print((time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(index), text], capture_output=True, text=True, check=True)
    wall, cpu = map(float, out.stdout.split())
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=("reuters", "generated"), default="reuters")
    parser.add_argument("--size", type=int, default=100_000, help="passages of the generated corpus")
    parser.add_argument("--queries", type=int, default=400, help="misspelled queries by one edit")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fresh-runs", type=int, default=5)
    parser.add_argument("--whoosh-every", type=int, default=8,
                        help="give Whoosh's corrector every n-th query only (it takes seconds a word)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    try:
        index, build_seconds = build_index(args.corpus, args.size)
    except corpora.CorpusUnavailable as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 0

    with Index.open(index) as ix:
        queries = query_set(ix, args.queries, args.seed)
        backend = ix.backend
        _, load_ms, load_cpu_ms = timed(lambda: Vocabulary.load(ix.directory))
        suggestion("warm up", backend, syntax=True)  # rapidfuzz imported, the vocabulary read
        corrector = backend.searcher().corrector("body")
        by_kind: dict[str, list[bool]] = {}
        whoosh_right, whoosh_wall, ours_on_whoosh_set = [], [], []
        suggest_wall, suggest_cpu, search_wall, search_cpu = [], [], [], []
        false_suggestions = 0
        wrong_examples = []
        for q in queries:
            text, intended = f"{q['context']} {q['misspelled']}", f"{q['context']} {q['word']}"
            got, wall, cpu = timed(lambda: suggestion(text, backend, syntax=True))
            suggest_wall.append(wall)
            suggest_cpu.append(cpu)
            right = got == intended
            by_kind.setdefault(q["kind"], []).append(right)
            if not right and len(wrong_examples) < 25:
                wrong_examples.append({"query": text, "intended": intended, "suggestion": got})
            if len(suggest_wall) % args.whoosh_every == 1:
                stem = analyze(q["misspelled"])[0][0]
                first, wall, _ = timed(lambda: corrector.suggest(stem, limit=1, maxdist=2))
                whoosh_wall.append(wall)
                whoosh_right.append(bool(first) and first[0] == analyze(q["word"])[0][0])
                ours_on_whoosh_set.append(right)
            results, wall, cpu = timed(lambda: ix.search(intended))
            search_wall.append(wall)
            search_cpu.append(cpu)
            false_suggestions += results.suggestion is not None
        fresh = {
            name: [fresh_process(index, text) for _ in range(args.fresh_runs)]
            for name, text in (("misspelled", f"{queries[0]['context']} {queries[0]['misspelled']}"),
                               ("correct", f"{queries[0]['context']} {queries[0]['word']}"))
        }
        passages = ix.stats().passages
        vocabulary = Vocabulary.load(ix.directory)
        vocabulary_bytes = (ix.directory / FILE).stat().st_size

    right_all = [r for rights in by_kind.values() for r in rights]
    record = {
        "corpus": args.corpus if args.corpus == "reuters" else f"generated-{args.size}",
        "passages": passages,
        "vocabulary_words": len(vocabulary.words),
        "vocabulary_bytes": vocabulary_bytes,
        "build_s": round(build_seconds, 2) or None,
        "queries": len(right_all),
        "intended_first": round(sum(right_all) / len(right_all), 4),
        "intended_first_by_kind": {k: {"queries": len(v), "intended_first": round(sum(v) / len(v), 4)}
                                   for k, v in by_kind.items()},
        "whoosh_comparison": {
            "queries": len(whoosh_right),
            "searchkit_intended_first": round(sum(ours_on_whoosh_set) / len(whoosh_right), 4),
            "whoosh_corrector_stem_first": round(sum(whoosh_right) / len(whoosh_right), 4),
            "whoosh_corrector_wall": summary(whoosh_wall),
        },
        "correct_queries_with_a_suggestion": round(false_suggestions / len(right_all), 4),
        "suggestion_warm": {"wall": summary(suggest_wall), "cpu": summary(suggest_cpu)},
        "search_of_correct_query_warm": {"wall": summary(search_wall), "cpu": summary(search_cpu)},
        "suggestion_to_search_p50": round(statistics.median(suggest_wall) / statistics.median(search_wall), 2),
        "vocabulary_load_ms": {"wall": round(load_ms, 2), "cpu": round(load_cpu_ms, 2)},
        "fresh_process_open_and_query_ms": {
            name: {"wall_p50": round(statistics.median(w for w, _ in runs), 1),
                   "cpu_p50": round(statistics.median(c for _, c in runs), 1)} for name, runs in fresh.items()
        },
        "wrong_examples": wrong_examples,
        "target": TARGET,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / ("suggest.json" if args.corpus == "reuters" else f"suggest-generated-{args.size}.json")
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in record.items() if k != "wrong_examples"}, indent=1))
    return 0 if record["intended_first"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
