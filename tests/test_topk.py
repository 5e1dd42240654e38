"""The NumPy top-k arrays rank exactly as plain Whoosh BM25F does: same passages, same order, same scores.

The corpus has several segments (an update adds one) and deleted documents (a changed file is replaced),
the cases where a columnar copy of the postings could drift from Whoosh's own.
"""

from __future__ import annotations

import json
import random
import re

import pytest
import whoosh.index

from searchkit import Index
from searchkit.backend import tiebreak
from searchkit.local import LocalBackend
from searchkit.query import build_query
from searchkit.schema import STOP_WORDS
from searchkit.scoring import BM25FWeighting
from searchkit.settings import DEFAULT
from searchkit.topk import TopK

SOURCES = ("Kazinform", "Reuters", "TASS", "Xinhua")
PLACES = ("Astana", "Moscow", "Baku")


def _articles(rng: random.Random, vocabulary: list[str], count: int, prefix: str) -> list[str]:
    lines = []
    for n in range(count):
        paragraphs = [" ".join(rng.choices(vocabulary, k=rng.randint(20, 90))) + "." for _ in range(rng.randint(1, 4))]
        lines.append(json.dumps({
            "id": f"{prefix}{n}",
            "title": " ".join(rng.choices(vocabulary, k=rng.randint(2, 7))),
            "date": f"20{rng.randint(10, 20)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}" if rng.random() < 0.9 else None,
            "source": rng.choice(SOURCES),
            "place": rng.choice(PLACES),
            "text": "\n\n".join(paragraphs),
        }))
    return lines


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, seeds_dir):
    """An index over three JSON Lines files built, updated (new file) and updated again (one file changed)."""
    rng = random.Random(7)
    words = sorted({w.lower() for f in seeds_dir.iterdir() for w in re.findall(r"[A-Za-z]{3,}", f.read_text())})
    vocabulary = words[:60] * 8 + words  # some words very common, most rare
    root = tmp_path_factory.mktemp("topk")
    (root / "a.jsonl").write_text("\n".join(_articles(rng, vocabulary, 300, "a")))
    (root / "b.jsonl").write_text("\n".join(_articles(rng, vocabulary, 200, "b")))
    Index.build([root / "a.jsonl", root / "b.jsonl"], root / "index")
    (root / "c.jsonl").write_text("\n".join(_articles(rng, vocabulary, 150, "c")))
    with Index.open(root / "index") as ix:
        ix.update([root / "a.jsonl", root / "b.jsonl", root / "c.jsonl"])
    (root / "b.jsonl").write_text("\n".join(_articles(rng, vocabulary, 120, "b2")))
    with Index.open(root / "index") as ix:
        ix.update([root / "a.jsonl", root / "b.jsonl", root / "c.jsonl"])
    queries = [" ".join(rng.sample(words, k)) for k in (1, 2, 3) for _ in range(25)]
    queries += [" ".join(words[i:i + 2]) for i in range(0, 40, 2)]  # common words: many ties to break
    for n, line in enumerate((root / "a.jsonl").read_text().splitlines()[:40]):  # phrases that occur
        record = json.loads(line)
        tokens = [w for w in re.findall(r"[a-z]{3,}", (record["title"] if n % 4 == 0 else record["text"]).lower())
                  if w not in STOP_WORDS]
        if len(tokens) < 4:
            continue
        at = rng.randrange(max(1, len(tokens) - 3))
        phrase = f'"{" ".join(tokens[at:at + 2 + n % 2])}"'
        queries.append([phrase, f"title:{phrase}", f"{phrase} OR {rng.choice(words)}", f"{phrase} AND {tokens[-1]}"][n % 4])
    with Index.open(root / "index") as ix:
        return root / "index", ix.directory, queries


def test_the_index_has_segments_and_deletions(corpus):
    _, generation, _ = corpus
    with whoosh.index.open_dir(str(generation)).reader() as reader:
        assert len(reader.leaf_readers()) > 1
        assert reader.has_deletions()


def _whoosh_searcher(path, generation):
    """A plain Whoosh searcher of the generation, scoring with BM25F over the generation's own statistics."""
    backend = LocalBackend(generation, whoosh.index.open_dir(str(generation)), DEFAULT, path.parent)
    searcher = backend.searcher()
    searcher.weighting = BM25FWeighting(backend.statistics((), articles=False), DEFAULT)
    return searcher


@pytest.mark.parametrize("filters", [
    {},
    {"source": "Reuters"},
    {"since": "2014-01-01", "until": "2017-12-31"},
    {"place": "baku", "since": "2012-01-01"},
])
def test_ranking_is_identical_to_whoosh_bm25f(corpus, filters):
    """Every passage's score from the arrays equals Whoosh's, bit for bit (phrases too); the top 10 are Whoosh's
    best, equal scores ordered by passage id."""
    path, generation, queries = corpus
    arrays = TopK.load(generation)
    assert arrays is not None
    phrases_found = 0
    with _whoosh_searcher(path, generation) as searcher, Index.open(path) as ix:
        for text in queries:
            parsed = build_query(text, **filters)
            plain = searcher.search(parsed.query, limit=None, filter=parsed.filter)
            expected = {hit.docnum: hit.score for hit in plain}
            found = arrays.passage_matches(searcher, parsed.query, parsed.filter, searcher.context())
            assert dict(zip(found.docs.tolist(), found.scores.tolist())) == expected, text
            phrases_found += '"' in text and bool(expected)
            best = sorted(plain, key=lambda hit: (-hit.score, tiebreak(hit["id"])))[:10]
            hits = ix.search(text, limit=10, **filters)
            assert [(h.passage.id, h.score) for h in hits] == [(hit["id"], hit.score) for hit in best], text
    assert phrases_found >= 5


def test_queries_the_arrays_cannot_answer_are_scored_by_whoosh(corpus):
    path, generation, _ = corpus
    with Index.open(path) as ix:
        ix.search("caspian")  # warm: the next query would use the arrays where they can answer
        negated = ix.search("caspian OR seabed NOT forum", limit=5)
        with _whoosh_searcher(path, generation) as searcher:
            parsed = build_query("caspian OR seabed NOT forum")
            assert TopK.load(generation).passage_matches(searcher, parsed.query, parsed.filter, searcher.context()) is None
            plain = searcher.search(parsed.query, limit=None, filter=parsed.filter)
            best = sorted(plain, key=lambda hit: (-hit.score, tiebreak(hit["id"])))[:5]
            assert [(h.passage.id, h.score) for h in negated] == [(hit["id"], hit.score) for hit in best]


def test_stale_arrays_are_not_used(corpus):
    path, generation, _ = corpus
    with _whoosh_searcher(path, generation) as searcher:
        arrays = TopK.load(generation)
        arrays.generation -= 1
        parsed = build_query("caspian")
        assert arrays.passage_matches(searcher, parsed.query, parsed.filter, searcher.context()) is None
