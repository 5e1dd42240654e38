"""Per-article search: one hit per article, its best passage shown, articles ranked by whole-article BM25F
mixed with the best passage's score (``Settings.article_weight``), checked against a direct computation.

The corpus has several segments (an update adds one), a deleted article (a changed file), articles without
titles and articles long enough to be cut into several passages.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from math import log

import pytest
from whoosh.util.numeric import byte_to_length, length_to_byte

from searchkit import Index, QueryError, schema
from searchkit.settings import DEFAULT

QUERIES = ("caspian pipeline", "caspian caspian seabed", "forum", "oil gas president", "water summit agreement")


def _lines(rng: random.Random, vocabulary: list[str], count: int, prefix: str) -> str:
    articles = []
    for n in range(count):
        paragraphs = [" ".join(rng.choices(vocabulary, k=rng.randint(30, 150))) + "." for _ in range(rng.randint(1, 5))]
        article = {"id": f"{prefix}{n}", "text": "\n\n".join(paragraphs), "source": rng.choice(["Reuters", "TASS"])}
        if rng.random() < 0.8:
            article["title"] = " ".join(rng.choices(vocabulary, k=rng.randint(2, 6)))
        articles.append(json.dumps(article))
    return "\n".join(articles)


@pytest.fixture(scope="module")
def index(tmp_path_factory, seeds_dir):
    yield from _index(tmp_path_factory, seeds_dir, DEFAULT)


@pytest.fixture(scope="module")
def whole_article_index(tmp_path_factory, seeds_dir):
    """The same corpus ranked by whole-article BM25F alone (``article_weight=1``)."""
    yield from _index(tmp_path_factory, seeds_dir, DEFAULT.replace(article_weight=1.0))


def _index(tmp_path_factory, seeds_dir, settings):
    rng = random.Random(11)
    words = sorted({w.lower() for f in seeds_dir.iterdir() for w in re.findall(r"[A-Za-z]{3,}", f.read_text())})
    vocabulary = words[:40] * 6 + words + ["caspian", "pipeline", "seabed", "forum"] * 3
    root = tmp_path_factory.mktemp("articles")
    (root / "a.jsonl").write_text(_lines(rng, vocabulary, 60, "a"))
    (root / "b.jsonl").write_text(_lines(rng, vocabulary, 40, "b"))
    Index.build([root / "a.jsonl"], root / "index", settings=settings)
    with Index.open(root / "index") as ix:
        ix.update([root / "a.jsonl", root / "b.jsonl"])
    (root / "b.jsonl").write_text(_lines(rng, vocabulary, 30, "b"))  # "b0".."b29" replace "b0".."b39"
    with Index.open(root / "index") as ix:
        ix.update([root / "a.jsonl", root / "b.jsonl"])
    with Index.open(root / "index") as ix:
        yield ix


def _whole_article_bm25f(ix: Index, text: str) -> dict[tuple[str, str], float]:
    """BM25F over each article as one document, from its passages' text: the definition, computed directly.

    A passage's length counts as Whoosh stores it (one byte: exact up to ~100 words, then within ~3%)."""
    analyse = lambda s: [t.text for t in schema.ANALYZER(s or "")]  # noqa: E731
    stored_length = lambda words: byte_to_length(length_to_byte(len(words)))  # noqa: E731
    titles: dict[tuple[str, str], list[str]] = {}
    bodies: dict[tuple[str, str], list[str]] = {}
    lengths: dict[str, Counter] = {"title": Counter(), "body": Counter()}
    for p in ix.passages():
        key = (p.path, p.article)
        titles[key] = analyse(p.title)
        lengths["title"][key] = stored_length(titles[key])
        bodies.setdefault(key, []).extend(analyse(p.text))
        lengths["body"][key] += stored_length(analyse(p.text))
    fields = {"title": ({k: Counter(v) for k, v in titles.items()}, DEFAULT.title_boost),
              "body": ({k: Counter(v) for k, v in bodies.items()}, 1.0)}
    articles = len(titles)
    scores = dict.fromkeys(titles, 0.0)
    for word, repeats in Counter(analyse(text)).items():
        n = sum(1 for k in titles if fields["title"][0][k][word] or fields["body"][0][k][word])
        idf = log(1 + (articles - n + 0.5) / (n + 0.5))
        for name, (counts, boost) in fields.items():
            average = sum(lengths[name].values()) / articles
            for key in titles:
                tf = counts[key][word] * boost
                norm = (1 - DEFAULT.b) + DEFAULT.b * lengths[name][key] / average
                query_weight = (DEFAULT.k3 + 1) * repeats / (DEFAULT.k3 + repeats)
                scores[key] += query_weight * idf * tf * (DEFAULT.k1 + 1) / (tf + DEFAULT.k1 * norm)
    return scores


def _best_passages(ix: Index, text: str, **kwargs) -> dict[tuple[str, str], object]:
    """Each article's first hit in the passage ranking (its best passage), in ranking order."""
    best = {}
    for hit in ix.search(text, limit=100_000, highlights=False, **kwargs):
        best.setdefault((hit.passage.path, hit.passage.article), hit)
    return best


def test_one_hit_per_article_its_best_passage(index):
    assert any(p.position > 0 for p in index.passages())  # some articles are several passages
    for text in QUERIES:
        best = _best_passages(index, text, syntax=False)
        hits = index.search(text, limit=1000, syntax=False, per_article=True)
        assert len(hits) == len(best) > 0
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        for hit in hits:
            assert hit.passage.id == best[(hit.passage.path, hit.passage.article)].passage.id
        assert hits[0].highlights  # the shown passage is highlighted as any hit


def test_article_score_mixes_whole_article_bm25f_and_best_passage(index, whole_article_index):
    for text in QUERIES:
        whole = _whole_article_bm25f(index, text)
        best = _best_passages(index, text, syntax=False)
        for hit in index.search(text, limit=1000, syntax=False, per_article=True):
            key = (hit.passage.path, hit.passage.article)
            expected = DEFAULT.article_weight * whole[key] + (1 - DEFAULT.article_weight) * best[key].score
            assert hit.score == pytest.approx(expected, rel=1e-9), (text, key)
    assert whole_article_index.settings.article_weight == 1.0
    hits = whole_article_index.search("caspian caspian seabed", limit=1000, syntax=False, per_article=True)
    whole = _whole_article_bm25f(whole_article_index, "caspian caspian seabed")
    assert [h.score for h in hits] == pytest.approx(sorted((s for s in whole.values() if s), reverse=True), rel=1e-9)


def test_filters_choose_the_passages_shown(index):
    best = _best_passages(index, "caspian forum", source="Reuters")
    hits = index.search("caspian forum", limit=1000, source="Reuters", per_article=True)
    assert {h.passage.id for h in hits} == {hit.passage.id for hit in best.values()}
    assert {h.passage.source for h in hits} == {"Reuters"}


def test_queries_without_an_article_score_rank_articles_by_their_best_passage(index):
    best = _best_passages(index, '"caspian pipeline" OR seabed')
    hits = index.search('"caspian pipeline" OR seabed', limit=5, per_article=True)
    assert [(h.passage.id, h.score) for h in hits] == [(h.passage.id, h.score) for h in list(best.values())[:5]]


def test_per_article_results_cannot_be_sorted_by_date(index):
    with pytest.raises(QueryError, match="per-article"):
        index.search("caspian", sort="date", per_article=True)


def test_cli_per_article(run_cli, seed_index):
    result = run_cli("query", "forum", "--index", seed_index, "--per-article", "--json")
    assert result.code == 0, result.stderr
    articles = [(hit["path"], hit["article"]) for hit in map(json.loads, result.stdout.splitlines())]
    assert len(articles) == len(set(articles)) > 1
