"""Every ranking and passage setting in one frozen value, written into an index's manifest and read back at open."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["Settings", "DEFAULT", "FEEDBACK_MODELS"]

FEEDBACK_MODELS = ("kl", "bo1")


@dataclass(frozen=True, slots=True)
class Settings:
    """How an index cuts passages and ranks them. The defaults were chosen on the tuning collections only
    (README, "Ranking quality"); ``benchmarks/relevance_ablation.py`` builds variants of this value.

    >>> Settings().replace(k1=0.9).k1
    0.9
    """

    k1: float = 1.2
    """BM25's term-frequency saturation (Whoosh's and Lucene's default)."""
    b: float = 0.75
    """BM25's length normalisation (Whoosh's and Lucene's default)."""
    k3: float = 8.0
    """BM25's query-term saturation (Robertson et al., Okapi at TREC): a word repeated n times in a plain-words
    query weighs (k3 + 1)·n / (k3 + n): 1 for n = 1, 1.8 for 2, 2.45 for 3; ``inf`` counts every repetition."""
    title_boost: float = 1.0
    """A title word's weight against a body word's (every passage repeats its article's title, so a title word
    already counts in each); 2 ranked the tuning collections worse."""
    article_weight: float = 0.7
    """Per-article ranking: an article's score is this share of its BM25F score as one whole document plus the
    rest of its best passage's score (Callan, 1994); 0 ranks articles by their best passage alone."""
    max_passage_chars: int = 800
    """Paragraphs are merged up to this length and longer ones cut at sentence boundaries to fit it."""
    punkt_sample_chars: int = 500_000
    """Punkt learns from (at most) this much text of the first build's articles: 0.24 CPU s of training (1 MB took
    0.51 and cut all 19,043 Reuters-21578 articles into the same passages; ``benchmarks/punkt_sample.py``)."""
    feedback_hits: int = 3
    """Pseudo-relevance feedback (``search(expand=True)``): top hits read for expansion words."""
    feedback_words: int = 40
    """Expansion words added to the query."""
    feedback_original_weight: float = 0.7
    """The original query's share of the expanded query's weight; the expansion words share the rest."""
    feedback_model: str = "kl"
    """Whoosh's expansion model scoring the feedback words: ``"kl"`` (its KLModel) or ``"bo1"`` (Bose–Einstein),
    which ranked the tuning collections a little lower."""

    BUILD_FIELDS = ("max_passage_chars", "punkt_sample_chars")
    """The settings that shape an index's passages; the others only rank, and may differ at ``Index.open``."""

    def __post_init__(self) -> None:
        for name in ("k1", "max_passage_chars", "punkt_sample_chars", "feedback_hits", "feedback_words"):
            if not getattr(self, name) > 0:
                raise ValueError(f"setting {name} must be positive, got {getattr(self, name)!r}")
        for name in ("b", "article_weight", "feedback_original_weight"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"setting {name} must be between 0 and 1, got {getattr(self, name)!r}")
        if not self.k3 >= 0 or not self.title_boost > 0:
            raise ValueError(f"settings k3 and title_boost must be positive, got {self.k3!r}, {self.title_boost!r}")
        if self.feedback_model not in FEEDBACK_MODELS:
            raise ValueError(f"setting feedback_model must be one of {', '.join(FEEDBACK_MODELS)}, got {self.feedback_model!r}")

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (unknown names raise TypeError)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``settings`` object."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Settings:
        """Settings read back from a manifest; a missing entry takes its default.

        Raises:
            ValueError: ``data`` is not an object of known names with numbers of the right kind.
        """
        if not isinstance(data, dict):
            raise ValueError(f"settings must be an object, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown settings {', '.join(map(str, unknown))}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if known[name].type in ("str", str):
                if not isinstance(value, str):
                    raise ValueError(f"setting {name} must be a string, got {value!r}")
                values[name] = value
                continue
            kind = int if known[name].type in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, (int, float)) or kind is int and not isinstance(value, int):
                raise ValueError(f"setting {name} must be a number, got {value!r}")
            values[name] = kind(value)
        return cls(**values)


DEFAULT = Settings()
"""searchkit's settings."""
