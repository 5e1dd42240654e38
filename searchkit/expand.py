"""Pseudo-relevance feedback: the top hits of a query → weighted expansion words (Whoosh's ``classify`` models).

The words come from the feedback passages' titles and bodies, scored by Whoosh's ``KLModel`` against the
collection frequencies of a ``Statistics`` value; ``query.expanded`` adds them to the query. Whoosh 2.7.4's
KLModel keeps the words more frequent in the feedback than in the collection and, as its log term divides by the
word's feedback weight where Kullback–Leibler divides by its collection weight, ranks them by their frequency
in the feedback. The settings (``Settings.feedback_*``) were chosen on the tuning collections only
(``benchmarks/expansion_tuning.py``; README, "Ranking quality").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from whoosh.classify import Bo1Model, ExpansionModel, KLModel

from .models import Passage
from .schema import analyze
from .scoring import Statistics

__all__ = ["MODELS", "FIELD", "feedback_words", "expansion_words"]

MODELS: dict[str, type[ExpansionModel]] = {"kl": KLModel, "bo1": Bo1Model}
"""Whoosh's expansion models by their ``Settings.feedback_model`` names."""
FIELD = "body"
"""The field whose collection frequencies the model compares against (titles are analysed the same way)."""


def feedback_words(passages: Iterable[Passage]) -> Counter[str]:
    """Each analysed word's count over the feedback passages' titles and bodies."""
    counts: Counter[str] = Counter()
    for passage in passages:
        for text in (passage.title, passage.text):
            counts.update(term for term, _ in analyze(text or ""))
    return counts


def expansion_words(stats: Statistics, counts: Counter[str], *, words: int, model: str) -> list[tuple[str, float]]:
    """The ``words`` best expansion words of the feedback ``counts``, with weights in (0, 1] (the best weighs 1),
    as Whoosh's ``Expander.expanded_terms(normalize=False)`` ranks them. Words in no indexed body are left out."""
    scorer = MODELS[model](stats.passages, stats.passage_length(FIELD))
    total = sum(counts.values())
    scored = []
    best = 0.0
    for word, weight in counts.items():
        text = word.encode("utf-8")
        if stats.passage_frequency(FIELD, text):
            score = scorer.score(weight, stats.term_count(FIELD, text), total)
            best = max(best, score)
            scored.append((score, word))
    ranked = sorted(((score / best if best else score, word) for score, word in scored), key=lambda x: (-x[0], x[1]))
    return [(word, weight) for weight, word in ranked[:words] if weight > 0]
