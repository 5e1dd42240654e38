"""The corpus's own words, unstemmed, for "did you mean" (``suggest``): each generation's ``words`` file holds
the lower-cased words of its live passages' titles and bodies, each with how often it occurs in them.

Each indexing process counts the words of the segments it writes (a ``<segment>.words`` file beside each, see
``segments.SaveWords``); the commit adds them to the previous generation's words and takes away the words of the
passages it deletes (read again from their stored text), then removes the segments' files. So the file counts
exactly the live passages' words, and a word only in a replaced or removed file is gone with it.
"""

from __future__ import annotations

import bisect
import os
import sys
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import IndexCorrupt
from .schema import SEARCH_FIELDS, STOP_WORDS, written_words
from .store import rebuild_hint

__all__ = ["Vocabulary", "FILE", "SEGMENT_EXT", "MAX_WORD_CHARS", "kept", "save_segment_words", "commit", "stored_words"]

FILE = "words"
SEGMENT_EXT = ".words"
"""A segment's words file is named like its Whoosh files, so that Whoosh deletes it with the segment."""
MAX_WORD_CHARS = 32
"""Longer words are not kept: nobody types them to be corrected, and each costs every suggestion a comparison."""
_MAGIC = b"searchkit-words 1\n"


class Vocabulary:
    """Words (lower-cased; shortest first, then in alphabetical order) and their frequencies: occurrences in the
    titles and bodies of the live passages (a title once per passage it heads)."""

    def __init__(self, words: list[str], counts: array) -> None:
        self.words = words
        self.counts = counts

    @classmethod
    def load(cls, directory: Path) -> Vocabulary:
        """The words of the generation in ``directory``.

        Raises:
            IndexCorrupt: its ``words`` file is missing or is not what ``commit`` writes.
        """
        return cls(*_read(directory / FILE))

    @classmethod
    def combine(cls, parts: Iterable[Vocabulary]) -> Vocabulary:
        """The words of several indexes together (shards), frequencies summed."""
        counts: Counter[str] = Counter()
        for part in parts:
            counts.update(dict(zip(part.words, part.counts)))
        words = sorted(counts, key=_order)
        return cls(words, array("q", (counts[w] for w in words)))

    def frequency(self, word: str) -> int:
        """How often ``word`` (lower-cased) occurs; 0 when it does not."""
        at = bisect.bisect_left(self.words, _order(word), key=_order)
        return self.counts[at] if at < len(self.words) and self.words[at] == word else 0

    def lengths(self, shortest: int, longest: int) -> tuple[int, int]:
        """Where the words of ``shortest`` to ``longest`` characters are: ``words[start:end]``."""
        return bisect.bisect_left(self.words, shortest, key=len), bisect.bisect_right(self.words, longest, key=len)


def kept(written: Mapping[str, int]) -> Counter[str]:
    """Counts of word tokens as written → counts of the vocabulary's words: lower-cased, letters only, 2 to
    ``MAX_WORD_CHARS`` characters, no stop words (no digits, codes or abbreviations with dots)."""
    out: Counter[str] = Counter()
    for token, n in written.items():
        word = token.lower()
        if word.isalpha() and 2 <= len(word) <= MAX_WORD_CHARS and word not in STOP_WORDS:
            out[word] += n
    return out


def save_segment_words(index_dir: str, segment_id: str, written: Counter) -> None:
    """``segments.SaveWords``: the words of one new segment, beside it."""
    _write(Path(index_dir) / f"{segment_id}{SEGMENT_EXT}", kept(written))


def stored_words(stored: Mapping[str, object]) -> list[str]:
    """The word tokens (as written) of a passage's stored searched fields, as the segment builder counts them."""
    words: list[str] = []
    for name in SEARCH_FIELDS:
        value = stored.get(name)
        if isinstance(value, str):
            words.extend(written_words(value))
    return words


def commit(directory: Path, segment_ids: Iterable[str], deleted: Counter, *, base: bool) -> None:
    """Write the ``words`` of the generation in ``directory``: the previous generation's (``base``: hard-linked
    in, replaced by a new file, never written through), plus those of the new segments ``segment_ids``, less the
    ``deleted`` passages' word tokens (``stored_words``); then remove every segment's words file.

    Raises:
        IndexCorrupt: a words file is missing or damaged.
    """
    counts: Counter[str] = Counter(dict(zip(*_read(directory / FILE)))) if base else Counter()
    for segment_id in segment_ids:
        counts.update(dict(zip(*_read(directory / f"{segment_id}{SEGMENT_EXT}"))))
    counts.subtract(kept(deleted))
    _write(directory / FILE, counts)
    for file in directory.glob(f"*{SEGMENT_EXT}"):
        file.unlink()


def _write(file: Path, counts: Mapping[str, int]) -> None:
    """The words of ``counts`` with a positive count, shortest first: a header, the counts (int64), the words
    (UTF-8, one a line). Written beside ``file`` and renamed over it: a hard-linked old file is never changed."""
    words = sorted((w for w, n in counts.items() if n > 0), key=_order)
    numbers = array("q", (counts[w] for w in words))
    if sys.byteorder == "big":
        numbers.byteswap()
    temporary = file.with_name(f".{file.name}.tmp")
    with open(temporary, "wb") as f:
        f.write(_MAGIC + len(words).to_bytes(8, "little") + numbers.tobytes() + "\n".join(words).encode("utf-8"))
    os.replace(temporary, file)


def _order(word: str) -> tuple[int, str]:
    """The order of a vocabulary's words: by length (the words near another in spelling are near it in length),
    then alphabetical."""
    return len(word), word


def _read(file: Path) -> tuple[list[str], array]:
    """The words and counts ``_write`` wrote.

    Raises:
        IndexCorrupt: the file is missing or holds anything else.
    """
    damaged = IndexCorrupt(f"{file} is missing or damaged; {rebuild_hint(file.parent.parent)}")
    try:
        data = file.read_bytes()
    except OSError:
        raise damaged from None
    head = len(_MAGIC) + 8
    count = int.from_bytes(data[len(_MAGIC):head], "little")
    if not data.startswith(_MAGIC) or len(data) < head + 8 * count:
        raise damaged
    numbers = array("q")
    numbers.frombytes(data[head:head + 8 * count])
    if sys.byteorder == "big":
        numbers.byteswap()
    try:
        words = data[head + 8 * count:].decode("utf-8").split("\n") if count else []
    except UnicodeDecodeError:
        raise damaged from None
    if len(words) != count:
        raise damaged
    return words, numbers
