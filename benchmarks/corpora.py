"""Benchmark corpora: a seeded generator of news-like JSON Lines, the Reuters-21578 loader, and the query set.

Every corpus is a folder: ``articles/`` holds JSON Lines article files (what ``searchkit index`` reads) and
``passages.jsonl`` the passages searchkit's own splitter makes of them, which the peer engines index, so that
every engine holds the same passages. Corpora are cached outside the repository (``$SEARCHKIT_BENCH_CACHE`` or
``~/.cache/searchkit-bench``) and never committed.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from searchkit.collections import shared_data_dir

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SHARED_DATA = shared_data_dir()
CACHE = Path(os.environ.get("SEARCHKIT_BENCH_CACHE", Path.home() / ".cache" / "searchkit-bench"))

GENERATOR_VERSION = 2
"""Bumped whenever the generator's output changes, so cached corpora are regenerated."""
ARTICLES_PER_FILE = 5_000
ENGLISH_WORDS = 30_000
SEED_WORD_SHARE = 0.12
"""The share of words drawn from the seeds' vocabulary (the domain words: Caspian, Astana, seabed, ...)."""
SEED_PHRASE_SHARE = 0.25
"""The chance that a sentence carries a run of 2–4 consecutive words copied from a seed article."""
RUN_WORDS = (2, 4)
"""The fewest and most words in a seed run."""

SOURCES = ("Kazinform", "Kremlin", "The Times of Central Asia", "Reuters", "TASS", "Interfax", "Xinhua", "Akorda")
PLACES = ("Astana", "Almaty", "Moscow", "Tashkent", "Ashgabat", "Bishkek", "Baku", "Beijing", "Aktau", "Atyrau")
FIRST_DATE = date(2015, 1, 1)
DAYS = 3_650
SEED_QUERIES = (
    "Caspian seabed",
    "Caspian Sea legal status",
    '"Caspian seabed"',
    "Nazarbayev Putin",
    "interregional cooperation forum",
    "oil gas pipeline",
    "Kazakhstan Russia",
    "Turkmenistan",
)


@dataclass(frozen=True)
class Corpus:
    """A cached corpus: ``articles/*.jsonl`` for searchkit, ``passages.jsonl`` for the peers."""

    name: str
    folder: Path

    @property
    def articles_folder(self) -> Path:
        return self.folder / "articles"

    @property
    def article_files(self) -> list[Path]:
        return sorted(self.articles_folder.glob("*.jsonl"))

    @property
    def passages_file(self) -> Path:
        return self.folder / "passages.jsonl"

    def passages(self) -> Iterator[dict]:
        """The passages as dicts: id, title, body, date (ISO or None), source, place."""
        with open(self.passages_file, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    def passage_count(self) -> int:
        with open(self.passages_file, "rb") as f:
            return sum(1 for _ in f)


class CorpusUnavailable(Exception):
    """The corpus cannot be made here (its source data is absent)."""


# --- the generator --------------------------------------------------------------------------------------------


def generated(passages: int, seed: int = 0) -> Corpus:
    """A generated corpus of exactly ``passages`` passages (one per paragraph of 450–780 characters)."""
    folder = CACHE / f"generated-v{GENERATOR_VERSION}-seed{seed}-{passages}"
    if not (folder / "passages.jsonl").is_file():
        write_generated(folder / "articles", passages, seed)
        _write_passages(folder)
    return Corpus(f"generated-{passages}", folder)


class _Vocabulary:
    """English words by their real frequencies (wordfreq) mixed with the seeds' words and word runs."""

    def __init__(self, rng: np.random.Generator) -> None:
        from wordfreq import top_n_list, word_frequency

        english = [w for w in top_n_list("en", ENGLISH_WORDS) if w.isalpha()]
        weights = np.array([word_frequency(w, "en") for w in english])
        seed_texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.iterdir()) if p.is_file()]
        seed_tokens = [t for text in seed_texts for t in re.findall(r"[A-Za-z][A-Za-z'\-]*", text)]
        seed_counts: dict[str, int] = {}
        for t in seed_tokens:
            seed_counts[t] = seed_counts.get(t, 0) + 1
        self.rng = rng
        self.english_p = weights / weights.sum()
        counts = np.array(list(seed_counts.values()), dtype=float)
        self.domain_p = counts / counts.sum()
        runs = [" ".join(seed_tokens[start:start + length]) for length in range(RUN_WORDS[0], RUN_WORDS[1] + 1)
                for start in range(len(seed_tokens) - length + 1)]
        self.words_end = len(english) + len(seed_counts)
        """Units below this are single words (English, then the seeds' words); the rest are seed runs."""
        self.units = np.array([*english, *seed_counts, *runs], dtype=object)
        self.runs = len(runs)
        variants = [[u for u in self.units], [u[:1].upper() + u[1:] for u in self.units]]
        variants += [[u + "." for u in variant] for variant in variants]
        self.spelled = np.array([u for variant in variants for u in variant], dtype=object)
        """Every unit in four spellings, unit i's at ``i + v * len(units)``: as is, capitalised, and both with a
        full stop."""
        self.lengths = np.fromiter((len(u) for u in self.spelled), dtype=np.int64, count=len(self.spelled))

    def word_ids(self, n: int) -> np.ndarray:
        """``n`` word units, each a seed word with chance ``SEED_WORD_SHARE``, else an English one."""
        english = self.rng.choice(len(self.english_p), size=n, p=self.english_p)
        domain = len(self.english_p) + self.rng.choice(len(self.domain_p), size=n, p=self.domain_p)
        return np.where(self.rng.random(n) < SEED_WORD_SHARE, domain, english)

    def words(self, n: int) -> list[str]:
        return self.units[self.word_ids(n)].tolist()

    def sentences(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` sentences of 6–24 units, a quarter of them with one unit replaced by a seed run: each unit's
        spelling (capitalised first, a full stop last), and where each sentence starts."""
        sizes = self.rng.integers(6, 25, size=n)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        units = self.word_ids(int(sizes.sum()))
        with_run = self.rng.random(n) < SEED_PHRASE_SHARE
        at = starts + (self.rng.random(n) * sizes).astype(np.int64)
        run_ids = self.words_end + self.rng.integers(0, self.runs, size=n)
        units[at[with_run]] = run_ids[with_run]
        units[starts] += len(self.units)  # capitalised
        units[starts + sizes - 1] += 2 * len(self.units)  # full stop
        return units, starts


def write_generated(folder: Path, passages: int, seed: int) -> None:
    """JSON Lines article files of exactly ``passages`` paragraphs in all, ``ARTICLES_PER_FILE`` articles a
    file, drawn from a seeded generator in bulk (one file's words at once): the same seed, the same bytes."""
    rng = np.random.default_rng(seed)
    vocab = _Vocabulary(rng)
    folder.mkdir(parents=True, exist_ok=True)
    made = number = file_number = 0
    while made < passages:
        counts = rng.integers(1, 7, size=ARTICLES_PER_FILE)
        counts = counts[: int(np.searchsorted(np.cumsum(counts), passages - made)) + 1]
        counts[-1] -= max(0, int(counts.sum()) - (passages - made))
        texts = _paragraphs(vocab, rng, int(counts.sum()))
        title_sizes = rng.integers(4, 10, size=len(counts))
        title_words = vocab.words(int(title_sizes.sum()))
        days = rng.integers(0, DAYS, size=len(counts))
        sources = rng.integers(0, len(SOURCES), size=len(counts))
        places = rng.integers(0, len(PLACES), size=len(counts))
        lines = []
        paragraph_ends, title_ends = np.cumsum(counts), np.cumsum(title_sizes)
        for i in range(len(counts)):
            number += 1
            lines.append(json.dumps({
                "id": f"g{seed}-{number}",
                "title": " ".join(title_words[title_ends[i] - title_sizes[i]:title_ends[i]]).capitalize(),
                "date": (FIRST_DATE + timedelta(days=int(days[i]))).isoformat(),
                "source": SOURCES[sources[i]],
                "place": PLACES[places[i]],
                "text": "\n\n".join(texts[paragraph_ends[i] - counts[i]:paragraph_ends[i]]),
            }, ensure_ascii=False))
        made += int(counts.sum())
        (folder / f"{file_number:05d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        file_number += 1


def _paragraphs(vocab: _Vocabulary, rng: np.random.Generator, n: int) -> list[str]:
    """``n`` paragraphs of 450–780 characters (never merged, never split: one passage each): whole units from
    the start of a sentence to the last that fits, a full stop last; the next paragraph starts a sentence."""
    targets = rng.integers(450, 780, size=n)
    units, starts = vocab.sentences(n * 12)
    ends = np.cumsum(vocab.lengths[units] + 1)  # ends[j]: characters of units 0..j, each with the space after it
    spans = []
    begin = 0
    for target in targets.tolist():
        before = ends[begin - 1] if begin else 0
        end = int(np.searchsorted(ends, before + target + 1, side="right"))  # the last unit that fits, exclusive
        assert end < len(units), "the sentences drawn ran out"  # n * 12 of them: a paragraph takes about 5
        spans.append((begin, end))
        begin = int(starts[np.searchsorted(starts, end)])
    last = np.array([end - 1 for _, end in spans])
    units[last] = np.where(units[last] >= 2 * len(vocab.units), units[last], units[last] + 2 * len(vocab.units))
    spelled = vocab.spelled[units[: spans[-1][1]]].tolist()
    return [" ".join(spelled[begin:end]) for begin, end in spans]


# --- Reuters-21578 --------------------------------------------------------------------------------------------


def reuters() -> Corpus:
    """Reuters-21578 from ``../shared/data/reuters21578`` (every story with a body).

    Raises:
        CorpusUnavailable: the data is absent.
    """
    source = SHARED_DATA / "reuters21578"
    if not source.is_dir():
        raise CorpusUnavailable(f"Reuters-21578 is absent at {source} (set SEARCHKIT_SHARED_DATA to its folder)")
    folder = CACHE / "reuters21578"
    if not (folder / "passages.jsonl").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        _write_articles(folder, _reuters_articles(source))
        _write_passages(folder)
    return Corpus("reuters21578", folder)


_STORY = re.compile(r"<REUTERS[^>]*NEWID=\"(\d+)\"[^>]*>(.*?)</REUTERS>", re.S)
_FIELD = {name: re.compile(rf"<{name}>(.*?)</{name}>", re.S) for name in ("DATE", "TITLE", "BODY", "PLACES")}


def _reuters_articles(source: Path) -> Iterator[dict]:
    for sgm in sorted(source.glob("reut2-*.sgm")):
        for m in _STORY.finditer(sgm.read_text(encoding="latin-1")):
            story = m[2]
            body = _FIELD["BODY"].search(story)
            if not body:
                continue
            title = _FIELD["TITLE"].search(story)
            places = re.findall(r"<D>(.*?)</D>", (_FIELD["PLACES"].search(story) or ["", ""])[1])
            when = datetime.strptime(_FIELD["DATE"].search(story)[1].split()[0], "%d-%b-%Y").date()
            text = _unescape(body[1]).replace("\n    ", "\n\n").strip()
            yield {
                "id": f"reuters-{m[1]}",
                "title": _unescape(title[1]) if title else None,
                "date": when.isoformat(),
                "source": "Reuters",
                "place": places[0] if places else None,
                "text": text,
            }


def _unescape(text: str) -> str:
    return re.sub(r"&#\d+;", " ", html.unescape(text.replace("&#3;", ""))).strip()


# --- shared: article files and passages ----------------------------------------------------------------------


def _write_articles(folder: Path, articles: Iterator[dict]) -> None:
    (folder / "articles").mkdir(exist_ok=True)
    out = None
    for number, article in enumerate(articles):
        if number % ARTICLES_PER_FILE == 0:
            if out:
                out.close()
            out = open(folder / "articles" / f"{number // ARTICLES_PER_FILE:05d}.jsonl", "w", encoding="utf-8")
        out.write(json.dumps(article, ensure_ascii=False) + "\n")
    if out:
        out.close()


def _write_passages(folder: Path) -> None:
    """Split the articles with searchkit's own reader and splitter, as ``searchkit index`` does."""
    from searchkit.settings import DEFAULT
    from searchkit.ingest import read_articles
    from searchkit.passages import PassageSplitter, train_punkt

    files = sorted((folder / "articles").glob("*.jsonl"))

    texts = (article.text for f in files for article in read_articles(f))
    splitter = PassageSplitter(train_punkt(texts, max_chars=DEFAULT.punkt_sample_chars))
    tmp = folder / "passages.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for f in files:
            for article in read_articles(f):
                for p in splitter.split(article):
                    record = {
                        "id": p.id,
                        "title": p.title,
                        "body": p.text,
                        "date": p.date.isoformat() if p.date else None,
                        "source": p.source,
                        "place": p.place,
                    }
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(folder / "passages.jsonl")


# --- queries --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchQuery:
    """One benchmark query: words (a phrase when ``phrase``), optionally restricted by source or dates."""

    words: tuple[str, ...]
    phrase: bool = False
    source: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def kind(self) -> str:
        if self.source or self.since:
            return "filtered"
        return "phrase" if self.phrase else f"{len(self.words)}-word"

    def to_dict(self) -> dict:
        return asdict(self)


def queries(corpus: Corpus, count: int = 240, seed: int = 1) -> list[BenchQuery]:
    """A fixed, seeded query set: 1–3 words mixing rare and common terms, phrases, filtered queries, seed examples.

    Words are drawn from the corpus's first passages (bands of document frequency), so every query can match.
    """
    rng = np.random.default_rng(seed)
    sample = [p for _, p in zip(range(3000), corpus.passages())]
    token_lists = [re.findall(r"[A-Za-z]{3,}", p["body"].lower()) for p in sample]
    df: dict[str, int] = {}
    for tokens in token_lists:
        for t in set(tokens):
            df[t] = df.get(t, 0) + 1
    ranked = sorted(df, key=lambda t: (-df[t], t))
    common = ranked[: max(1, len(ranked) // 50)]
    middle = ranked[len(common): len(ranked) // 5] or common
    rare = ranked[len(ranked) // 5:] or common
    bands = (common, middle, rare)

    def word() -> str:
        band = bands[int(rng.choice(3, p=(0.3, 0.4, 0.3)))]
        return band[int(rng.integers(0, len(band)))]

    out: list[BenchQuery] = [BenchQuery(_words(q), phrase=q.startswith('"')) for q in SEED_QUERIES]
    while len(out) < count:
        roll = rng.random()
        if roll < 0.7:
            out.append(BenchQuery(tuple(word() for _ in range(int(rng.integers(1, 4))))))
        elif roll < 0.85:
            tokens = token_lists[int(rng.integers(0, len(token_lists)))]
            at = int(rng.integers(0, max(1, len(tokens) - 2)))
            out.append(BenchQuery(tuple(tokens[at:at + 2]), phrase=True))
        else:
            other = sample[int(rng.integers(0, len(sample)))]
            if roll < 0.93 and other["source"] or not other["date"]:
                out.append(BenchQuery((word(), word()), source=other["source"]))
            else:
                start = date.fromisoformat(other["date"]) - timedelta(days=int(rng.integers(0, 90)))
                out.append(BenchQuery((word(), word()), since=start.isoformat(),
                                      until=(start + timedelta(days=180)).isoformat()))
    return out


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.strip('"').split())


def without_stop_words(queries: list[BenchQuery]) -> tuple[list[BenchQuery], int, int]:
    """The queries less the words searchkit's analyzer drops (its stop words, one-letter words), so that every
    engine is given the same words; a phrase left with one word becomes that word, a query left empty is dropped.

    Returns:
        The queries kept, how many of them changed, and how many were dropped.
    """
    from searchkit.schema import STOP_WORDS

    kept: list[BenchQuery] = []
    changed = dropped = 0
    for q in queries:
        words = tuple(w for w in q.words if len(w) > 1 and w.lower() not in STOP_WORDS)
        if not words:
            dropped += 1
        elif words == q.words:
            kept.append(q)
        else:
            changed += 1
            kept.append(replace(q, words=words, phrase=q.phrase and len(words) > 1))
    return kept, changed, dropped
