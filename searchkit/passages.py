"""Article → list[Passage]: paragraphs merged or cut at Punkt sentence boundaries into bounded passages.

Punkt is trained on the corpus being indexed (nltk's data downloads are not used); its learned parameters
are saved with the index so that later updates split text exactly as the first build did.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import importlib
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

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
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktToken, PunktTrainer
    from nltk.tokenize.punkt import _ORTHO_BEG_UC, _ORTHO_MAP, _ORTHO_MID_UC
    from nltk.tokenize.punkt import _re_non_punct
else:
    _punkt = _import_punkt()
    PunktParameters, PunktSentenceTokenizer, PunktToken, PunktTrainer = (
        _punkt.PunktParameters, _punkt.PunktSentenceTokenizer, _punkt.PunktToken, _punkt.PunktTrainer)
    _ORTHO_BEG_UC, _ORTHO_MAP, _ORTHO_MID_UC = _punkt._ORTHO_BEG_UC, _punkt._ORTHO_MAP, _punkt._ORTHO_MID_UC
    _re_non_punct = _punkt._re_non_punct


def _untimed(pattern: Any) -> Any:
    """The compiled pattern under nltk's time limit on every match (``nltk.redos.TimedPattern``, which costs more
    than the match itself), for Punkt's patterns that training matches: they take linear time."""
    return getattr(pattern, "_rx", pattern)


_NUMERIC, _ELLIPSIS, _INITIAL, _ALPHA, _NON_PUNCT = (_untimed(pattern) for pattern in (
    PunktToken._RE_NUMERIC, PunktToken._RE_ELLIPSIS, PunktToken._RE_INITIAL, PunktToken._RE_ALPHA, _re_non_punct))
_WHITE_SPACE = r"\t-\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""Unicode's White_Space: what ``\\s`` matches in the ``regex`` module nltk compiles its patterns with (``re``'s
``\\s`` also matches U+001C–U+001F)."""


def _word_pattern(pattern: str) -> re.Pattern[str]:
    """nltk's word tokenizer (a ``regex`` pattern, ``VERBOSE``) compiled by ``re``, which finds the same words in
    half the time: its ``\\s`` and ``\\S`` spelled out as ``regex`` reads them."""
    spelled = re.sub(r"(?<!\\)\\([sS])", lambda m: f"[{'^' if m[1] == 'S' else ''}{_WHITE_SPACE}]", pattern)
    return re.compile(spelled, re.VERBOSE)


_MIDDLE, _START, _UNSURE = range(3)
"""A token's context in ``PunktTrainer._get_orthography_data``: ``"internal"``, ``"initial"``, ``"unknown"``."""


class _TokenKinds(dict):
    """Token text → (type, type without its final period, period-final, ellipsis, number, initial, alphabetic,
    not punctuation, first letter lower-case, orthographic flag in each context), as a ``PunktToken`` of it
    derives them, by the same patterns; worked out when first asked for."""

    def __missing__(self, tok: str) -> tuple:
        lower = tok.lower()
        typ = "##number##" if _NUMERIC.match(lower) else lower  # PunktToken's _RE_NUMERIC.sub, anchored at both ends
        case = "lower" if tok[0].islower() else "upper" if tok[0].isupper() else "none"
        flags = tuple(_ORTHO_MAP.get((context, case), 0) for context in ("internal", "initial", "unknown"))
        kind = self[tok] = (
            typ, typ[:-1] if len(typ) > 1 and typ[-1] == "." else typ, tok.endswith("."), bool(_ELLIPSIS.match(tok)),
            typ.startswith("##number##"), bool(_INITIAL.match(tok)), bool(_ALPHA.match(tok)),
            bool(_NON_PUNCT.search(typ)), case == "lower", flags)
        return kind


class _TypeCounts(collections.Counter):
    """Tokens by type: ``FreqDist`` as the trainer reads it (``counts[type]``, ``N()``), counted at C speed (a
    ``FreqDist`` counts each type through its own ``__setitem__``)."""

    total_count = 0

    def N(self) -> int:  # noqa: N802 (FreqDist's name)
        return self.total_count


class FastPunktTrainer(PunktTrainer):
    """nltk's ``PunktTrainer`` with its pass over one text (``train``) done on token strings: what nltk derives
    from a token's text (its type, case, number or initial...) is worked out once per distinct token, where nltk
    makes a ``PunktToken`` of every token and matches its regular expressions each time; a token's mark (sentence
    break, abbreviation, ellipsis) once per distinct token of the text; the orthographic contexts followed one by
    one only where they are not the middle of a sentence. The same statistics, so the same parameters
    (``tests/test_passages.py`` compares them with nltk's), in about a fifth of the CPU; ``finalize_training`` and
    the log-likelihoods are nltk's own."""

    def __init__(self) -> None:
        super().__init__()
        self._words = _word_pattern(self._lang_vars._word_tokenizer_re().pattern)
        self._kinds = _TokenKinds()
        self._type_fdist = _TypeCounts()

    def train(self, text: str, verbose: bool = False, finalize: bool = True) -> None:
        """``PunktTrainer.train``: gather the statistics of ``text`` (``finalize``: and derive the parameters)."""
        toks: list[str] = []
        line_starts: dict[int, bool] = {}  # each line's first token → whether it starts a paragraph (_tokenize_words)
        parastart = False
        findall = self._words.findall
        for line in text.split("\n"):
            if not line.strip():
                parastart = True
                continue
            words = findall(line)
            if words:
                line_starts[len(toks)] = parastart
                toks += words
                parastart = False
        typed = list(map(self._kinds.__getitem__, toks))
        self._finalized = False
        params, type_fdist = self._params, self._type_fdist
        type_fdist.update([kind[0] for kind in typed])
        type_fdist.total_count += len(typed)
        self._num_period_toks += sum([kind[2] for kind in typed])
        abbrevs = params.abbrev_types
        # Only these types can be (re)classified: nltk passes over the others.
        candidates = {kind[0] for kind in typed if kind[0].endswith(".") or kind[0] in abbrevs}
        for abbr, score, is_add in self._reclassify_abbrev_types(candidates):
            if score >= self.ABBREV:
                if is_add:
                    abbrevs.add(abbr)
            elif not is_add:
                abbrevs.remove(abbr)
        # The first pass: each token a sentence break (1), an abbreviation (2), an ellipsis (3) or none (0), by its
        # text alone (the abbreviations stay as they are during the pass): once per distinct token.
        sent_end, kinds = self._lang_vars.sent_end_chars, self._kinds
        counts = collections.Counter(toks)
        mark_of: dict[str, int] = {}
        for tok in counts:
            kind = kinds[tok]
            if tok in sent_end:
                mark_of[tok] = 1
            elif kind[3]:
                mark_of[tok] = 3
            elif kind[2] and not tok.endswith(".."):
                word = tok[:-1].lower()
                mark_of[tok] = 2 if word in abbrevs or word.split("-")[-1] in abbrevs else 1
            else:
                mark_of[tok] = 0
        marks = list(map(mark_of.__getitem__, toks))
        self._sentbreak_count += sum(counts[tok] for tok, mark in mark_of.items() if mark == 1)
        # The orthographic contexts (_get_orthography_data): a token's context follows from the token before it
        # and whether it starts a line or a paragraph; it is the middle of a sentence but after a marked token or
        # at a line's start. Those few are followed one by one; the others add their flag once per distinct token.
        ortho = params.ortho_context
        odd = sorted({*line_starts, *(i + 1 for i in itertools.compress(range(len(toks) - 1), marks))})
        for i in odd:
            if i == 0:
                context = _MIDDLE
            elif marks[i - 1] == 1:
                context = _UNSURE if typed[i - 1][4] or typed[i - 1][5] else _START
            else:
                context = _UNSURE if marks[i - 1] else _MIDDLE
            if i in line_starts:
                if line_starts[i] and context != _UNSURE:
                    context = _START
                if context == _MIDDLE:
                    context = _UNSURE
            kind = typed[i]
            if flag := kind[9][context]:
                ortho[kind[1] if marks[i] == 1 else kind[0]] |= flag
        odd_counts = collections.Counter([toks[i] for i in odd])
        for tok, count in counts.items():
            kind = kinds[tok]
            if count > odd_counts[tok] and (flag := kind[9][_MIDDLE]):
                ortho[kind[1] if mark_of[tok] == 1 else kind[0]] |= flag
        # Pairs whose first token ends in a period: rare abbreviations, sentence starters, collocations.
        starters: collections.Counter[str] = collections.Counter()
        collocations: collections.Counter[tuple[str, str]] = collections.Counter()
        for i in itertools.compress(range(len(toks) - 1), [kind[2] for kind in typed]):
            kind1, mark1, tok2, kind2 = typed[i], marks[i], toks[i + 1], typed[i + 1]
            if mark1 == 1:  # _is_rare_abbrev_type
                typ = kind1[1]
                if typ not in abbrevs and type_fdist[typ] + type_fdist[typ[:-1]] < self.ABBREV_BACKOFF:
                    if tok2[:1] in self._lang_vars.internal_punctuation:
                        abbrevs.add(kind1[1])
                    elif kind2[8]:
                        typ2ortho = ortho[kind2[1] if marks[i + 1] == 1 else kind2[0]]
                        if typ2ortho & _ORTHO_BEG_UC and not typ2ortho & _ORTHO_MID_UC:
                            abbrevs.add(kind1[1])
            ordinal_or_initial = kind1[4] or kind1[5]
            if mark1 == 1 and not ordinal_or_initial and kind2[6]:
                starters[kind2[0]] += 1
            if (self.INCLUDE_ALL_COLLOCS or self.INCLUDE_ABBREV_COLLOCS and mark1 == 2
                    or mark1 == 1 and ordinal_or_initial) and kind1[7] and kind2[7]:
                collocations[kind1[1], kind2[1] if marks[i + 1] == 1 else kind2[0]] += 1
        self._sent_starter_fdist.update(starters)
        self._collocation_fdist.update(collocations)
        if finalize:
            self.finalize_training(verbose)


def passage_id(article_id: str, position: int, text: str) -> str:
    """A stable id: the same article, position and text always give the same 16 hex digits."""
    digest = hashlib.blake2b(f"{article_id}\x1f{position}\x1f{text}".encode(), digest_size=8)
    return digest.hexdigest()


def train_punkt(texts: Iterable[str], max_chars: int | None = None) -> PunktParameters:
    """Learn abbreviations, collocations and sentence starters from the corpus itself (unsupervised): from all
    of ``texts``, or from the first of them until ``max_chars`` characters are reached (no more are read).
    A text Punkt fails on is left out of the training (it is reported when it is split, if it fails again)."""
    trainer = FastPunktTrainer()
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
