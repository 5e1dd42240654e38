"""Pseudo-relevance feedback: the top hits of a query → weighted expansion words (Whoosh's ``classify.Expander``).

The words come from the feedback passages' titles and bodies, scored by Whoosh's ``KLModel`` against the index's
collection frequencies; ``query.expanded`` adds them to the query. Whoosh 2.7.4's KLModel keeps the words more
frequent in the feedback than in the collection and, as its log term divides by the word's feedback weight where
Kullback–Leibler divides by its collection weight, ranks them by their frequency in the feedback. The settings were chosen on the tuning
collections only (``benchmarks/expansion_tuning.py``; README, "Ranking quality").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from whoosh.classify import Expander, ExpansionModel, KLModel

from .schema import analyze

__all__ = ["FEEDBACK_HITS", "FEEDBACK_WORDS", "ORIGINAL_WEIGHT", "MODEL", "expansion_words"]

FEEDBACK_HITS = 3
"""Top hits (passages, or articles' best passages with ``per_article``) read for feedback."""
FEEDBACK_WORDS = 40
"""Expansion words added to the query."""
ORIGINAL_WEIGHT = 0.7
"""The original query's share of the expanded query's weight; the expansion words share the rest."""
MODEL: type[ExpansionModel] = KLModel
"""Whoosh's expansion model (see above); its Bo1Model (Bose–Einstein) ranked the tuning collections a little lower."""
FIELD = "body"
"""The field whose collection frequencies the model compares against (titles are analysed the same way)."""


def expansion_words(
    reader, feedback: Iterable[dict], *, words: int, model: type[ExpansionModel]
) -> list[tuple[str, float]]:
    """The ``words`` best expansion words of the ``feedback`` passages (stored fields), with weights in (0, 1].

    The best word weighs 1. Words that occur in no indexed body are left out (Whoosh's ``Expander``).
    """
    expander = Expander(reader, FIELD, model=model)
    for stored in feedback:
        for name in ("title", FIELD):
            expander.add(Counter(term for term, _ in analyze(stored.get(name) or "")).items())
    return [(word, weight) for word, weight in expander.expanded_terms(words, normalize=False) if weight > 0]
