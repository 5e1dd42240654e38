"""Helpers of the sharded-index tests: Reuters-21578 as JSON Lines files, a seeded set of queries of every kind,
and the comparison of a sharded index's answers with one index's."""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from conftest import REPO, shared_data

from searchkit import QueryError

KINDS = (
    "word", "words", "phrase", "and", "or", "not", "field", "range", "prefix", "dates", "place", "date sort",
    "per article", "expand", "facets", "misspelled", "collapse",
)
SHARDS = 3
"""The shards of the sharded indexes the tests compare with one index."""
COPY = "-copy"
"""The end of the id of a story's wire copy (``reuters_files``)."""


def reuters_files(
    folder: Path, *, articles: int | None, per_file: int = 500, copies: int = 0,
) -> tuple[list[Path], list[dict]]:
    """The first ``articles`` Reuters-21578 stories with a body (all with None), as JSON Lines files of
    ``per_file`` stories in ``folder``, and then a file of wire copies of ``copies`` of them (evenly spread;
    another agency's dateline and sign-off, the id ending in ``COPY``: the copy of a story is in another shard
    than its original two times in three); skips the test where the data is absent."""
    source = shared_data("reuters21578")
    sys.path.insert(0, str(REPO))
    from benchmarks.corpora import _reuters_articles  # the benchmarks' reader of the SGML files

    stories = [story for _, story in zip(range(articles or 10**9), _reuters_articles(source))]
    folder.mkdir(parents=True, exist_ok=True)
    parts = [stories[start:start + per_file] for start in range(0, len(stories), per_file)]
    if copies:
        parts.append([
            {**s, "id": s["id"] + COPY, "source": "TCA", "text": f"ALMATY (TCA) - {s['text']}\n\nTCA correspondent reports."}
            for s in stories[::max(1, len(stories) // copies)][:copies]
        ])
    files = []
    for n, part in enumerate(parts):
        file = folder / (f"reuters-{n:03d}.jsonl" if n < len(parts) - bool(copies) else "copies.jsonl")
        file.write_text("".join(json.dumps(s) + "\n" for s in part), encoding="utf-8")
        files.append(file)
    return files, [s for part in parts for s in part]


def queries(stories: list[dict], count: int, seed: int = 0) -> list[tuple[str, str, dict]]:
    """``count`` (kind, text, keyword arguments) queries, the kinds of ``KINDS`` in turn, drawn from the stories'
    words (frequent and rare), phrases, dates and places."""
    rng = random.Random(seed)
    texts = [re.findall(r"[a-z]{4,}", s["text"].lower()) for s in stories]
    df = Counter(w for words in texts for w in set(words))
    vocabulary = sorted(w for w, n in df.items() if n >= 2)
    places = sorted({s["place"] for s in stories if s.get("place")})
    days = sorted({date.fromisoformat(s["date"]) for s in stories})

    def word() -> str:
        return rng.choice(vocabulary)

    def span() -> tuple[str, str]:
        start = rng.choice(days)
        return start.isoformat(), (start + timedelta(days=rng.randint(0, 20))).isoformat()

    out: list[tuple[str, str, dict]] = []
    while len(out) < count:
        kind = KINDS[len(out) % len(KINDS)]
        if kind == "word":
            out.append((kind, word(), {}))
        elif kind == "words":
            out.append((kind, f"{word()} {word()} {word()}", {}))
        elif kind == "phrase":
            words = rng.choice([t for t in texts if len(t) > 2])
            at = rng.randrange(len(words) - 1)
            out.append((kind, f'"{words[at]} {words[at + 1]}"', {}))
        elif kind in ("and", "or", "not"):
            out.append((kind, f"{word()} {kind.upper()} {word()}", {}))
        elif kind == "field":
            out.append((kind, f"title:{word()} {word()}", {}))
        elif kind == "range":
            since, until = span()
            out.append((kind, f"{word()} date:[{since} TO {until}]", {}))
        elif kind == "prefix":
            out.append((kind, f"{word()[:5]}* {word()}", {}))
        elif kind == "dates":
            since, until = span()
            out.append((kind, f"{word()} {word()}", {"since": since, "until": until}))
        elif kind == "place":
            out.append((kind, word(), {"place": rng.choice(places)}))
        elif kind == "date sort":
            out.append((kind, f"{word()} {word()}", {"sort": "date"}))
        elif kind == "per article":
            out.append((kind, f"{word()} {word()}", {"per_article": True}))
        elif kind == "facets":
            out.append((kind, f"{word()} {word()}", {"facets": True, "timeline": rng.choice(["month", "year"])}))
        elif kind == "collapse":  # words of a story with a copy (when there are some), in each ranking
            copied = [t for s, t in zip(stories, texts) if s["id"].endswith(COPY)] or texts
            words = rng.choice(copied)
            options = rng.choice([{}, {"sort": "date"}, {"per_article": True}, {"facets": True}])
            out.append((kind, f"{rng.choice(words)} {rng.choice(words)}", {"collapse": True, **options}))
        elif kind == "misspelled":  # a word with two letters swapped: "did you mean" over every shard's words
            spelled = list(word())
            at = rng.randrange(len(spelled) - 1)
            spelled[at], spelled[at + 1] = spelled[at + 1], spelled[at]
            out.append((kind, f"{''.join(spelled)} {word()}", {}))
        else:
            out.append((kind, word(), {"expand": True}))
    return out


def answers(ix, text: str, options: dict, limit: int = 10) -> tuple[list, tuple] | str:
    """What a search answers: (id, score, highlights, story copies) per hit and what it counted (total, facets,
    timeline, suggestion), or the message of the QueryError it raises."""
    try:
        results = ix.search(text, limit=limit, **options)
    except QueryError as e:
        return f"QueryError: {e}"
    counted = (results.total, results.facets, results.timeline, results.suggestion)
    return [(h.passage.id, h.score, h.highlights, h.copies) for h in results], counted


def assert_same_answers(one, sharded, cases: list[tuple[str, str, dict]], expected: dict | None = None) -> Counter:
    """Every case answered alike by ``one`` index and the ``sharded`` one: ids and order, scores within 1e-9,
    highlights, story copies; returns how many hits were compared per kind (and, as ``"copies"``, how many
    copies). ``expected`` keeps ``one``'s answers by case, for another comparison with it."""
    compared: Counter = Counter()
    kept = {} if expected is None else expected
    for kind, text, options in cases:
        case = (text, json.dumps(options, sort_keys=True))
        if case not in kept:
            kept[case] = answers(one, text, options)
        expected_answer, got_answer = kept[case], answers(sharded, text, options)
        if isinstance(expected_answer, str) or isinstance(got_answer, str):
            assert got_answer == expected_answer, (kind, text, options)
            continue
        (expected, expected_counts), (got, got_counts) = expected_answer, got_answer
        assert got_counts == expected_counts, (kind, text, options)  # total, facets, timeline, suggestion
        assert [h[0] for h in got] == [h[0] for h in expected], (kind, text, options)
        assert all(abs(g[1] - e[1]) <= 1e-9 for g, e in zip(got, expected)), (kind, text, options)
        assert [h[2] for h in got] == [h[2] for h in expected], (kind, text, options)
        assert [h[3] for h in got] == [h[3] for h in expected], (kind, text, options)
        compared[kind] += len(expected)
        compared["copies"] += sum(len(h[3]) for h in expected)
    return compared
