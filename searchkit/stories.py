"""Stories: the copies of one agency story republished by several outlets, found when the index is written.

Each article's body (the text its passages come from: datelines and agency headers are already stripped by
ingest) is sketched as a MinHash signature over its word shingles (rensa). At every commit the generation's
signatures are banded (LSH), the candidate pairs verified by their estimated Jaccard similarity, and joined
into stories (union-find). Signatures are kept in the generation, so an update sketches only what it indexes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import IndexCorrupt, IndexIncompatible

if TYPE_CHECKING:  # NumPy and rensa: imported by the write path only, never at a query's start-up
    import numpy as np

    from .models import Article

__all__ = [
    "SETTINGS", "Key", "sketch", "shingles", "story_ids", "read", "write", "kept", "check_settings", "check_library",
    "SIGNATURES", "KEYS",
]

NUM_PERM = 128
SEED = 21578
BITS = 16
"""Each MinHash value is kept to its low 16 bits (b-bit MinHash): two different values agree by chance once in
65,536, which adds nothing measurable to an estimated Jaccard or a band's collisions, at half the bytes."""
SHINGLE_WORDS = 3
"""Shingles of three words: a changed word changes three of them, a new dateline or agency line a handful."""
BAND_ROWS = 3
BANDS = NUM_PERM // BAND_ROWS
"""42 bands of 3 rows: two articles of Jaccard 0.5 share a band with probability 1 - (1 - 0.5³)⁴² = 0.996,
unrelated ones (0.01) with 0.00004."""
THRESHOLD = 0.5
"""Candidates whose signatures agree on at least this share of their values (estimated Jaccard) are copies."""
BUCKET_WINDOW = 16
"""In a band, each article is compared with the next 16 of its bucket (not all: a bucket of many near-empty
articles would cost pairs by the square); other bands give copies more chances."""
LIBRARY, LIBRARY_VERSION, ALGORITHM_VERSION = "rensa", "0.5.0", 2
SETTINGS = {
    "library": LIBRARY, "version": LIBRARY_VERSION, "algorithm": f"RMinHash v{ALGORITHM_VERSION}",
    "num_perm": NUM_PERM, "bits": BITS, "seed": SEED, "shingle": f"{SHINGLE_WORDS} words", "bands": BANDS,
    "rows": BAND_ROWS, "threshold": THRESHOLD,
}
"""What shapes a signature and a story, recorded in the manifest: an index of other settings is rebuilt, never
mixed with signatures of these."""
SIGNATURES = "stories.npy"
KEYS = "stories.json"
"""The generation's signatures (one row per article) and the articles they belong to (stored path, article id;
each path written once, the articles naming it by its number)."""

Key = tuple[str, str]
"""An article: its stored path and its article id."""

_WORD = re.compile(r"\w+")


def sketch(article: Article) -> np.ndarray | None:
    """The MinHash signature of the article's body (``NUM_PERM`` values of ``BITS`` bits, uint16), or None when it
    has no word."""
    import numpy as np
    from rensa import RMinHash

    sketched = shingles(" ".join(article.text[p.start:p.end] for p in article.paragraphs))
    if not sketched:
        return None
    minhash = RMinHash(num_perm=NUM_PERM, seed=SEED)
    minhash.update(sketched)
    return (np.array(minhash.digest(), dtype=np.uint32) & (1 << BITS) - 1).astype(np.uint16)


def shingles(text: str) -> list[str]:
    """The word shingles a body is sketched over (repeats included: a MinHash sees a set): each run of
    ``SHINGLE_WORDS`` lower-cased words, or all of them in a shorter text."""
    words = _WORD.findall(text.lower())
    if len(words) <= SHINGLE_WORDS:
        return [" ".join(words)] if words else []
    return list(map(" ".join, zip(*(words[i:] for i in range(SHINGLE_WORDS)))))


def story_ids(keys: Sequence[Key], signatures: np.ndarray) -> dict[Key, int]:
    """Each article's story: the same number for the articles of one cluster of copies (0, 1, ...).

    The articles are clustered in the order of their keys, not of ``keys``: the same articles make the same
    stories however they are listed (one index's signatures, or every shard's of a sharded index together).
    """
    order = sorted(range(len(keys)), key=keys.__getitem__)
    roots = _clusters(signatures[order])
    numbers: dict[int, int] = {}
    return {keys[row]: numbers.setdefault(int(root), len(numbers)) for row, root in zip(order, roots)}


def _clusters(signatures: np.ndarray) -> np.ndarray:
    """Each row's cluster, named by one of its rows: rows joined where a band meets and the verification holds."""
    import numpy as np

    parent = list(range(len(signatures)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs = _candidates(signatures)
    if len(pairs):
        agree = (signatures[pairs[:, 0]] == signatures[pairs[:, 1]]).mean(axis=1)
        for a, b in pairs[agree >= THRESHOLD].tolist():
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(i) for i in range(len(signatures))], dtype=np.int64)


def _candidates(signatures: np.ndarray) -> np.ndarray:
    """Distinct row pairs ``(a, b)``, ``a < b``, that agree on all rows of some band."""
    import numpy as np

    n = len(signatures)
    found = []
    for band in range(BANDS):
        rows = signatures[:, band * BAND_ROWS:(band + 1) * BAND_ROWS].astype(np.uint64)
        # the band's values as one key (a collision between different values only adds a candidate)
        keys = rows[:, 0]
        for column in range(1, BAND_ROWS):
            keys = keys * np.uint64(0x9E3779B97F4A7C15) + rows[:, column]
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        for step in range(1, min(BUCKET_WINDOW, n - 1) + 1):
            same = ordered[step:] == ordered[:-step]
            if not same.any():
                break
            a, b = order[:-step][same], order[step:][same]
            found.append(np.minimum(a, b) * n + np.maximum(a, b))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1)


def read(directory: Path) -> tuple[list[Key], np.ndarray]:
    """The articles and signatures kept in the generation at ``directory`` (none in an index without them).

    Raises:
        IndexCorrupt: the files are not what ``write`` writes.
    """
    import numpy as np

    keys_file, signatures_file = directory / KEYS, directory / SIGNATURES
    if not keys_file.is_file():
        return [], np.zeros((0, NUM_PERM), dtype=np.uint16)
    try:
        table = json.loads(keys_file.read_text(encoding="utf-8"))
        paths, keys = table["paths"], table["keys"]
        signatures = np.load(signatures_file, allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IndexCorrupt(f"{directory} has unreadable story signatures ({e})") from None
    if not (isinstance(paths, list) and all(isinstance(p, str) for p in paths) and isinstance(keys, list)
            and all(isinstance(k, list) and len(k) == 2 and type(k[0]) is int and 0 <= k[0] < len(paths)
                    and isinstance(k[1], str) for k in keys)
            and signatures.dtype == np.uint16 and signatures.shape == (len(keys), NUM_PERM)):
        raise IndexCorrupt(f"{directory} has story signatures that do not match their articles")
    return [(paths[path], article) for path, article in keys], signatures


def write(directory: Path, keys: Sequence[Key], signatures: np.ndarray) -> None:
    """Keep the articles' signatures in the generation at ``directory`` (replacing files linked from the last)."""
    import numpy as np

    paths = {path: n for n, path in enumerate(dict.fromkeys(path for path, _ in keys))}
    table = {"paths": list(paths), "keys": [[paths[path], article] for path, article in keys]}
    for name, save in ((SIGNATURES, lambda f: np.save(f, signatures, allow_pickle=False)),
                       (KEYS, lambda f: f.write(json.dumps(table).encode("utf-8")))):
        staging = directory / f".{name}.tmp"
        with open(staging, "wb") as f:
            save(f)
        os.replace(staging, directory / name)


def kept(keys: Sequence[Key], signatures: np.ndarray, removed_paths: Iterable[str]) -> tuple[list[Key], np.ndarray]:
    """The articles and signatures of files other than ``removed_paths`` (replaced, moved or pruned)."""
    removed = set(removed_paths)
    rows = [i for i, (path, _) in enumerate(keys) if path not in removed]
    return [keys[i] for i in rows], signatures[rows]


def check_settings(manifest: dict, path: Path) -> None:
    """Refuse an index whose stories were found with other settings than this searchkit's.

    Raises:
        IndexIncompatible: they differ; rebuild it.
    """
    recorded = manifest.get("stories")
    if recorded != SETTINGS:
        raise IndexIncompatible(
            f"index at {path} found its stories with other sketch settings ({recorded}); this searchkit uses "
            f"{SETTINGS}: rebuild it with searchkit index --rebuild"
        )


def check_library() -> None:
    """Refuse to sketch with another rensa than the one the index format pins.

    Raises:
        IndexIncompatible: another version is installed.
    """
    from importlib.metadata import version

    from rensa import RMinHash

    installed = version(LIBRARY)
    if installed != LIBRARY_VERSION or RMinHash.ALGORITHM_VERSION != ALGORITHM_VERSION:
        raise IndexIncompatible(
            f"searchkit sketches stories with {LIBRARY}=={LIBRARY_VERSION}; {installed} is installed "
            f"(pip install {LIBRARY}=={LIBRARY_VERSION})"
        )
