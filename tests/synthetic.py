"""A seeded synthetic news corpus for the reliability tests: JSON Lines files whose passages need no Punkt.

Every paragraph is shorter than a passage, so passages depend only on the text (never on the sentence model a
build learned): an incremental index and a clean build of the same files must hold the same passages.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = (
    "pipeline gas oil caspian astana almaty border treaty minister president talks trade wheat grain rail "
    "port tariff summit delegation energy uranium bank currency tenge rouble election parliament court "
    "drought harvest cotton water river dam power grid export import customs visa tourism airline steel "
    "copper mine coal investment loan bond inflation budget deficit reform pension school hospital vaccine"
).split()


def article_text(rng: random.Random, paragraphs: int) -> str:
    """Blank-line separated paragraphs of 15-40 words, each ending with a full stop."""
    return "\n\n".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 40))).capitalize() + "."
        for _ in range(paragraphs)
    )


def write_file(path: Path, rng: random.Random, articles: int, tag: str) -> None:
    """One JSON Lines file of ``articles`` dated articles; ``tag`` makes its ids and text distinct."""
    with open(path, "w", encoding="utf-8") as f:
        for n in range(articles):
            day = rng.randint(1, 28)
            obj = {
                "id": f"{tag}-{n}",
                "title": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {tag}",
                "date": f"2019-{rng.randint(1, 12):02d}-{day:02d}",
                "source": rng.choice(["Reuters", "Kazinform", "TASS"]),
                "text": article_text(rng, rng.randint(2, 6)),
            }
            f.write(json.dumps(obj) + "\n")


def write_corpus(folder: Path, seed: int, files: int, articles: int) -> list[Path]:
    """``files`` JSON Lines files of ``articles`` articles each under ``folder``, from ``seed``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(files):
        path = folder / f"feed-{i:04d}.jsonl"
        write_file(path, rng, articles, f"s{seed}f{i}")
        paths.append(path)
    return paths
