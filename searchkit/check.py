"""Integrity check of an index against its manifest: files, segments, counts, and spans against the sources."""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import whoosh.index

from . import schema, store, vocabulary
from .errors import ArticleError, SearchkitError

__all__ = ["CheckReport", "check_index"]


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What ``check_index`` found: ``problems`` (the index is damaged) and ``notes`` (sources changed)."""

    path: str
    generation: str | None
    passages: int
    files: int
    sources_compared: int
    problems: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def check_index(path: str | os.PathLike, *, root: Path | None = None) -> CheckReport:
    """Verify the live generation of the index at ``path`` (stored paths relative to ``root``, default its
    parent); never raises for a damaged index, reports it. A sharded index is checked shard by shard
    (``sharded.check_sharded``).

    Checks that every file has the size and CRC-32 the manifest recorded, that every segment's stored
    fields and postings read back, that the passage count and each file's passage and article counts match
    the manifest, that the ``words`` file ("did you mean") holds exactly the live passages' words, and that each passage's stored span still cuts its text out of its unchanged source file.
    """
    path = Path(path)
    from . import sharded

    if sharded.is_sharded(path):
        return sharded.check_sharded(path)
    problems: list[str] = []
    notes: list[str] = []

    def report(generation: str | None = None, passages: int = 0, files: int = 0, compared: int = 0) -> CheckReport:
        return CheckReport(str(path), generation, passages, files, compared, tuple(problems), tuple(notes))

    if not store.is_store(path):
        older = (path / store.MANIFEST).is_file()
        problems.append(f"index at {path} has an older layout; {store.rebuild_hint(path)}" if older
                        else f"no searchkit index at {path} (no {store.CURRENT} file)")
        return report()
    try:
        lease = store.ReaderLease(path)
    except SearchkitError as e:
        problems.append(str(e))
        return report()
    try:
        directory = lease.directory
        try:
            manifest = store.read_manifest(path, lease.generation, lease.manifest_crc)
        except SearchkitError as e:
            problems.append(str(e))
            return report(lease.generation)
        if manifest.get("schema_version") != schema.SCHEMA_VERSION:
            problems.append(f"schema version {manifest.get('schema_version')}, this searchkit reads {schema.SCHEMA_VERSION}")
            return report(lease.generation)
        problems.extend(store.verify_files(directory, manifest.get("segment_files", {}), checksums=True))
        if any(_special(directory / name) for name in manifest.get("segment_files", {})):
            return report(lease.generation, files=len(manifest.get("files", {})))  # Whoosh would block on a pipe
        try:
            by_file = _read_segments(directory)
        except Exception as e:  # any decoding failure of Whoosh's files is what check exists to report
            problems.append(f"segments cannot be read ({type(e).__name__}: {' '.join(str(e).split())})")
            return report(lease.generation, files=len(manifest.get("files", {})))
        passages = sum(len(docs) for docs in by_file.values())
        _compare_counts(manifest, by_file, passages, problems)
        _compare_words(directory, by_file, problems)
        compared = _compare_spans(root or path.resolve().parent, manifest, by_file, problems, notes)
        return report(lease.generation, passages, len(by_file), compared)
    finally:
        lease.release()


def _read_segments(directory: Path) -> dict[str, list[dict]]:
    """Stored fields of every live passage grouped by stored path, after reading every posting list."""
    ix = whoosh.index.open_dir(str(directory), readonly=True)
    with ix.reader() as reader:
        for fieldname, text in reader.all_terms():
            reader.postings(fieldname, text).all_ids()
        by_file: dict[str, list[dict]] = defaultdict(list)
        for _, stored in reader.iter_docs():
            by_file[stored["path"]].append(stored)
    return by_file


def _compare_counts(manifest: dict, by_file: dict[str, list[dict]], passages: int, problems: list[str]) -> None:
    counts = manifest.get("counts", {})
    if passages != counts.get("passages"):
        problems.append(f"the index holds {passages} passages, the manifest says {counts.get('passages')}")
    files = manifest.get("files", {})
    for key in sorted(set(files) | set(by_file)):
        docs = by_file.get(key, [])
        want = files.get(key)
        if want is None:
            problems.append(f"{key}: {len(docs)} passages in the index but the file is not in the manifest")
            continue
        articles = len({(d["article"], d.get("line")) for d in docs})
        if len(docs) != want["passages"] or articles != want["articles"]:
            problems.append(
                f"{key}: the index holds {len(docs)} passages of {articles} articles, "
                f"the manifest says {want['passages']} of {want['articles']}"
            )


def _compare_words(directory: Path, by_file: dict[str, list[dict]], problems: list[str]) -> None:
    """Compare the generation's ``words`` with the words of its live passages, counted as the build counts them."""
    try:
        stored = vocabulary.Vocabulary.load(directory)
    except SearchkitError as e:
        problems.append(str(e))
        return
    written = Counter(word for docs in by_file.values() for d in docs for word in vocabulary.stored_words(d))
    live = vocabulary.kept(written)
    differ = sorted({w for w, n in zip(stored.words, stored.counts) if live.get(w) != n}
                    | (live.keys() - set(stored.words)))
    if differ:
        examples = ", ".join(f"{w!r} {stored.frequency(w)} for {live.get(w, 0)}" for w in differ[:3])
        problems.append(f"the words file disagrees with the passages on {len(differ)} words (e.g. {examples})")


def _compare_spans(
    root: Path, manifest: dict, by_file: dict[str, list[dict]], problems: list[str], notes: list[str]
) -> int:
    """Compare stored passages with their unchanged source files; returns how many files were compared."""
    from .ingest import read_articles  # the reading code only when a check runs: kept out of query start-up

    compared = 0
    for key, docs in sorted(by_file.items()):
        source = Path(os.path.normpath(os.path.join(root, key)))
        changed = _changed_source(source, manifest.get("files", {}).get(key, {}))
        if changed:
            notes.append(f"{key}: {changed}, spans not compared")
            continue
        compared += 1
        by_line: dict[int | None, list[dict]] = defaultdict(list)
        for d in docs:
            by_line[d.get("line")].append(d)
        try:
            for article in read_articles(source, on_error=lambda error: None):
                for d in by_line.pop(article.line, []):
                    start, end = d["span"]
                    if article.text[start:end] != d["body"]:
                        where = f"{key}:{article.line}" if article.line is not None else key
                        problems.append(f"{where}: passage {d['id']} span {start}-{end} no longer matches its text")
        except ArticleError as e:
            problems.append(f"{key}: an unchanged source file no longer reads ({e.reason})")
            continue
        for line in by_line:
            problems.append(f"{key}: passages of line {line} match no article in the source file")
    return compared




_FILE_TYPES = {
    stat.S_IFIFO: "a named pipe", stat.S_IFDIR: "a directory", stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
}


def _special(file: Path) -> bool:
    """Whether ``file`` exists and is not a regular file (verify_files names it)."""
    return file.exists() and not file.is_file()


def _changed_source(source: Path, indexed: dict) -> str | None:
    """None if ``source`` is still the regular file that was indexed, else why not (for a note).

    Only a regular file of the indexed size is opened: a named pipe would block the read for ever, a device
    could be endless, and a file that grew (huge) has changed without reading it.
    """
    changed = "source changed since it was indexed (run searchkit index)"
    try:
        info = os.stat(source)
    except FileNotFoundError:
        return "source file absent"
    except OSError as e:  # a symlink loop, a folder it may not enter
        return f"source file unreadable ({e.strerror or e})"
    if not stat.S_ISREG(info.st_mode):
        return f"source is no longer a regular file (it is {_FILE_TYPES.get(stat.S_IFMT(info.st_mode), 'special')})"
    if info.st_size != indexed.get("size", info.st_size):
        return changed
    try:
        # O_NONBLOCK: a named pipe put in its place since the stat must not block the open (fstat then tells).
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        return f"source file unreadable ({e.strerror or e})"
    digest = hashlib.sha256()
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "source is no longer a regular file"
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return None if digest.hexdigest() == indexed.get("sha256") else changed
