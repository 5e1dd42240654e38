"""Article → list[Passage]: paragraphs merged or cut at Punkt sentence boundaries into bounded passages.

Punkt is trained on the corpus being indexed (nltk's data downloads are not used); its learned parameters
are saved with the index so that later updates split text exactly as the first build did.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .models import Article, Paragraph, Passage
from .settings import DEFAULT

__all__ = ["PassageSplitter", "train_punkt", "punkt_to_json", "punkt_from_json", "passage_id"]

HARD_MAX_PASSAGE_CHARS = 4000
"""A single "sentence" longer than this (no punctuation at all) is cut at whitespace instead."""

_WHITESPACE = re.compile(r"\s+")


def _import_punkt() -> types.ModuleType:
    """``nltk.tokenize.punkt``, without running ``nltk/__init__`` and ``nltk/tokenize/__init__`` when nltk is
    not imported yet: they import all of nltk (and SciPy, when installed), about a second of CPU at every build,
    where Punkt needs six small modules. The packages are stood in for by empty ones while Punkt and its
    modules load, then every ``nltk`` entry is taken out of ``sys.modules`` again, so that a later
    ``import nltk`` runs nltk as usual."""
    if "nltk" in sys.modules:
        return importlib.import_module("nltk.tokenize.punkt")
    spec = importlib.util.find_spec("nltk")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("searchkit needs nltk (pip install nltk)")
    folder = list(spec.submodule_search_locations)[0]
    with _PUNKT_IMPORT:
        for name, path in (("nltk", folder), ("nltk.tokenize", f"{folder}/tokenize")):
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules[name] = package
        try:
            return importlib.import_module("nltk.tokenize.punkt")
        finally:
            for name in [n for n in sys.modules if n == "nltk" or n.startswith("nltk.")]:
                del sys.modules[name]


_PUNKT_IMPORT = threading.Lock()
if TYPE_CHECKING:
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTrainer
else:
    _punkt = _import_punkt()
    PunktParameters, PunktSentenceTokenizer, PunktTrainer = (
        _punkt.PunktParameters, _punkt.PunktSentenceTokenizer, _punkt.PunktTrainer)


def passage_id(article_id: str, position: int, text: str) -> str:
    """A stable id: the same article, position and text always give the same 16 hex digits."""
    digest = hashlib.blake2b(f"{article_id}\x1f{position}\x1f{text}".encode(), digest_size=8)
    return digest.hexdigest()


def train_punkt(texts: Iterable[str], max_chars: int | None = None) -> PunktParameters:
    """Learn abbreviations, collocations and sentence starters from the corpus itself (unsupervised): from all
    of ``texts``, or from the first of them until ``max_chars`` characters are reached (no more are read).
    A text Punkt fails on is left out of the training (it is reported when it is split, if it fails again)."""
    trainer = PunktTrainer()
    total = 0
    for text in texts:
        if max_chars is not None and total >= max_chars:
            break
        try:
            trainer.train(text, finalize=False)
        except Exception:  # one article's odd text must not stop the build before indexing starts
            continue
        total += len(text)
    trainer.finalize_training()
    return trainer.get_params()


def punkt_to_json(params: PunktParameters) -> dict:
    """Punkt parameters as plain JSON (sorted, so identical training gives identical files)."""
    return {
        "abbrev_types": sorted(params.abbrev_types),
        "collocations": sorted(list(c) for c in params.collocations),
        "sent_starters": sorted(params.sent_starters),
        "ortho_context": dict(sorted(params.ortho_context.items())),
    }


def punkt_from_json(data: dict) -> PunktParameters:
    params = PunktParameters()
    params.abbrev_types = set(data["abbrev_types"])
    params.collocations = {tuple(c) for c in data["collocations"]}
    params.sent_starters = set(data["sent_starters"])
    for word, flags in data["ortho_context"].items():
        params.ortho_context[word] = flags
    return params


class PassageSplitter:
    """Cuts articles into passages of at most ``max_chars`` (whole sentences; merged short paragraphs).

    >>> splitter = PassageSplitter(train_punkt(a.text for a in articles))
    >>> passages = splitter.split(articles[0])
    """

    def __init__(self, params: PunktParameters, max_chars: int = DEFAULT.max_passage_chars) -> None:
        self._sentences = PunktSentenceTokenizer(params)
        self.max_chars = max_chars

    def split(self, article: Article) -> list[Passage]:
        units = list(self._units(article))
        spans = self._merge(article.text, units)
        passages = []
        for position, (start, end, speaker) in enumerate(spans):
            text = article.text[start:end]
            passages.append(
                Passage(
                    id=passage_id(article.id, position, text),
                    article=article.id,
                    position=position,
                    text=text,
                    span=(start, end),
                    path=article.path,
                    line=article.line,
                    date=article.date,
                    source=article.source,
                    place=article.place,
                    title=article.title,
                    speaker=speaker,
                    url=article.url,
                    authors=article.authors,
                    tags=article.tags,
                )
            )
        return passages

    def _units(self, article: Article) -> Iterable[tuple[int, int, str | None]]:
        """Paragraphs (cut into sentence groups where too long), each with its carried-over speaker."""
        speaker = None
        for paragraph in article.paragraphs:
            speaker = paragraph.speaker or speaker
            if paragraph.end - paragraph.start <= self.max_chars:
                yield paragraph.start, paragraph.end, speaker
            else:
                for start, end in self._cut(article.text, paragraph):
                    yield start, end, speaker

    def _cut(self, text: str, paragraph: Paragraph) -> Iterable[tuple[int, int]]:
        """Greedy packing of whole sentences into pieces of at most ``max_chars``."""
        piece: tuple[int, int] | None = None
        for s, e in self._sentence_spans(text, paragraph):
            if piece is not None and e - piece[0] <= self.max_chars:
                piece = (piece[0], e)
                continue
            if piece is not None:
                yield piece
            piece = (s, e)
        if piece is not None:
            yield piece

    def _sentence_spans(self, text: str, paragraph: Paragraph) -> Iterable[tuple[int, int]]:
        body = text[paragraph.start:paragraph.end]
        for s, e in self._sentences.span_tokenize(body):
            s, e = s + paragraph.start, e + paragraph.start
            while e - s > HARD_MAX_PASSAGE_CHARS:
                cut = _last_space_before(text, s, s + HARD_MAX_PASSAGE_CHARS)
                yield s, cut
                s = cut
                while s < e and text[s].isspace():
                    s += 1
            if e > s:
                yield s, e

    def _merge(self, text: str, units: list[tuple[int, int, str | None]]) -> list[tuple[int, int, str | None]]:
        """Join consecutive units of the same speaker while the joined span stays within ``max_chars``.

        Units are only joined across whitespace: what lies between two paragraphs may be furniture or a
        speaker label, which must not enter the passage text.
        """
        merged: list[tuple[int, int, str | None]] = []
        for start, end, speaker in units:
            if merged:
                m_start, m_end, m_speaker = merged[-1]
                adjacent = not text[m_end:start].strip()
                if adjacent and m_speaker == speaker and end - m_start <= self.max_chars:
                    merged[-1] = (m_start, end, speaker)
                    continue
            merged.append((start, end, speaker))
        return merged


def _last_space_before(text: str, start: int, limit: int) -> int:
    """The last whitespace position in ``text[start:limit]``, or ``limit`` when there is none."""
    for m in reversed(list(_WHITESPACE.finditer(text, start, limit))):
        if m.start() > start:
            return m.start()
    return limit
