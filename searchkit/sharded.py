"""A sharded index: shard indexes, each holding the articles whose id hashes to it, and snapshots naming them.

    DIR/CURRENT, DIR/writer.lock    the sharded index's own generations (``store``): each one a snapshot
    DIR/gen-000003/manifest.json    names one generation of every shard, with their collection statistics
    DIR/gen-000003/shard-000.stories.npy ...   each shard's stories, found across all shards at the commit
    DIR/shard-000/ ... shard-NNN/   each an index of its own (``store``), written only through DIR

A commit writes a new generation of every shard (in local processes, or one Ray task per shard), then a
snapshot naming them, made live by replacing ``DIR/CURRENT`` (the commit point). A query reads the shard
generations its snapshot names, never a shard's own latest: shard generations never change, so the document
frequencies it sums from them, and the passage count and field lengths the snapshot records, are those of one
commit, and no query mixes two. The articles of all shards are clustered into stories together (``stories``),
so that a story's copies in several shards collapse as in one index. Shard generations (and the folders of
shards a rebuild no longer has) are removed only once no snapshot still kept names them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import schema, store
from .backend import Term
from .check import CheckReport, check_index
from .errors import IndexCorrupt, IndexIncompatible, IndexNotFound, PassageNotFound, SearchkitError
from .local import Generation, LocalBackend, open_generation
from .models import Article, BuildReport, IndexStats, Passage, SkippedFile
from .scoring import FrozenStatistics
from .settings import Settings
from .shards import ShardedBackend
from .version import installed_version

if TYPE_CHECKING:
    from .build import Progress

__all__ = [
    "FORMAT", "ShardTask", "ShardHolds", "shard_of", "is_sharded", "create", "update", "commit_shard", "open_snapshot",
    "ShardedGeneration", "SnapshotBackend", "check_sharded", "snapshot_statistics", "story_column",
    "check_story_files",
]

FORMAT = "searchkit-sharded"
"""The ``format`` of a sharded index's manifest."""
_SHARD = "shard-{:03d}"


def shard_of(article_id: str, shards: int) -> int:
    """The shard of an article: the first 8 bytes of the BLAKE2b of its id, modulo the number of shards."""
    digest = hashlib.blake2b(article_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


@dataclass(frozen=True, slots=True)
class ShardHolds:
    """Whether an article belongs to shard ``shard`` of ``shards`` (a picklable predicate for ``build.commit``)."""

    shard: int
    shards: int

    def __call__(self, article: Article) -> bool:
        return shard_of(article.id, self.shards) == self.shard


@dataclass(frozen=True, slots=True)
class ShardTask:
    """One shard's part of a commit, run in a process or a Ray task (``commit_shard``)."""

    path: str
    base: str | None
    sources: tuple[str, ...]
    settings: Settings
    prune: bool
    punkt: dict | None
    root: str
    holds: ShardHolds
    wait: float


def commit_shard(task: ShardTask) -> BuildReport:
    """Commit one shard (under its own writer lock), without removing its older generations."""
    from .build import commit  # the writing code: a search never imports it

    path = Path(task.path)
    with store.full_disk_is_write_error(path), store.write_lock(path, wait=task.wait):
        return commit(
            path, task.base, list(task.sources), settings=task.settings, progress=None, prune=task.prune,
            punkt=task.punkt, root=Path(task.root), holds=task.holds,
        )


Runner = Callable[[Sequence[ShardTask]], list[BuildReport]]
"""Runs shard tasks (in local processes, or on Ray: ``rayshards.run_tasks``) and returns their reports in order."""


def is_sharded(path: Path) -> bool:
    """Whether ``path`` holds a sharded index (its live manifest says so)."""
    try:
        name, manifest_crc = store.current_generation(path)
        return store.read_manifest(path, name, manifest_crc).get("format") == FORMAT  # never blocks on a pipe
    except (SearchkitError, OSError, ValueError, AttributeError):
        return False


def create(
    sources: list[str], path: Path, *, shards: int, settings: Settings, wait: float, run: Runner | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """A new sharded index of ``sources`` at ``path``, ``shards`` shards (see ``Index.build``)."""
    if not (is_sharded(path) or _can_hold_sharded(path)):
        raise IndexNotFound(
            f"{path} exists and is not a sharded searchkit index: nothing was written; choose another --index, "
            f"or empty or remove {path} first"
        )
    return _commit(path, sources, shards, settings=settings, prune=False, wait=wait,
                   punkt=_learn_punkt(sources, path, settings), run=run, progress=progress)


def _can_hold_sharded(path: Path) -> bool:
    """Whether a sharded index may be written at ``path``: absent, empty, or what a failed first build left."""
    if not path.exists():
        return True
    return path.is_dir() and all(
        name in (store.WRITER_LOCK, f"{store.CURRENT}.tmp") or _LEFT.fullmatch(name) for name in os.listdir(path)
    )


_LEFT = re.compile(r"gen-\d{6,}|shard-\d{3}")


def update(
    path: Path, sources: list[str], *, prune: bool, wait: float, run: Runner | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Index new and changed files of ``sources`` into every shard of the sharded index at ``path``, from the
    generations its live snapshot names (read under the writer lock), and commit a new snapshot with the
    index's settings (see ``Index.update``)."""
    return _commit(path, sources, None, settings=None, prune=prune, wait=wait, punkt=None, run=run,
                   progress=progress)


def _commit(
    path: Path, sources: list[str], shards: int | None, *, settings: Settings | None, prune: bool, wait: float,
    punkt: dict | None, run: Runner | None, progress: Progress | None,
) -> BuildReport:
    """Commit every shard, then the snapshot naming them: ``shards`` new shards, or (None) the live snapshot's
    shards updated."""
    began = time.perf_counter()
    root = str(path.resolve().parent)
    with store.full_disk_is_write_error(path), store.write_lock(path, wait=wait):
        if shards is None:
            live, crc = store.current_generation(path)
            snapshot = store.read_manifest(path, live, crc)
            bases: list[str | None] = [shard["generation"] for shard in snapshot["shards"]]
            settings = Settings.from_dict(snapshot.get("settings", {}))
            created = snapshot.get("created")
        else:
            bases, created = [None] * shards, None
        assert settings is not None
        count = len(bases)
        tasks = [
            ShardTask(str(path / _SHARD.format(n)), base, tuple(sources), settings, prune, punkt, root,
                      ShardHolds(n, count), wait)
            for n, base in enumerate(bases)
        ]
        if progress:
            progress(0, count, "")
        reports = (run or _run_in_processes)(tasks)
        if progress:
            progress(count, count, "")
        entries = [_shard_entry(path, n, Path(root)) for n in range(count)]
        manifest = {
            "format": FORMAT,
            "searchkit_version": installed_version(),
            "schema_version": schema.SCHEMA_VERSION,
            "updated": (updated := datetime.now(timezone.utc).isoformat(timespec="seconds")),
            "created": created or updated,
            "assignment": "blake2b-64(article id) mod shards",
            "settings": settings.to_dict(),
            "shards": entries,
            "statistics": _summed([entry["statistics"] for entry in entries]),
            "counts": {
                "files": entries[0]["counts"]["files"],
                "articles": sum(entry["counts"]["articles"] for entry in entries),
                "passages": sum(entry["counts"]["passages"] for entry in entries),
            },
        }
        generation = store.new_generation(path, None)
        manifest["stories"] = _write_stories(path, generation, entries)
        manifest.update(generation=generation.name, build_seconds=round(time.perf_counter() - began, 3),
                        story_files=store.file_checksums(generation))
        (generation / store.MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        store.publish(path, generation)
        _collect_garbage(path, count)
    return _combined(reports, time.perf_counter() - began)


def _run_in_processes(tasks: Sequence[ShardTask]) -> list[BuildReport]:
    """The shard tasks in forked processes, one per core at most."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(len(tasks), os.cpu_count() or 1)
    if workers <= 1:
        return [commit_shard(task) for task in tasks]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(commit_shard, tasks))


def _learn_punkt(sources: list[str], path: Path, settings: Settings) -> dict | None:
    """The sentence splitter one index of ``sources`` would learn (the same sample, in the same order), so that
    every shard cuts its articles into the passages one index would."""
    from .ingest import iter_input_files, read_articles
    from .passages import punkt_to_json, train_punkt

    files = list(iter_input_files([s for s in sources if os.path.exists(s)], on_error=lambda f, reason: None,
                                  exclude=[path]))
    readable = [f for f in files if os.access(f, os.R_OK)]
    seen = [0]

    def texts() -> Iterator[str]:
        for f in readable:
            try:
                for article in read_articles(f, on_error=lambda error: None):
                    seen[0] += 1
                    yield article.text
            except Exception:  # as build's sample: the file's errors are reported when it is indexed
                continue

    params = train_punkt(texts(), max_chars=settings.punkt_sample_chars)
    return punkt_to_json(params) if seen[0] else None


def _shard_entry(path: Path, n: int, root: Path) -> dict:
    """The snapshot's record of shard ``n``'s live generation: name, manifest CRC-32, counts and statistics."""
    shard = path / _SHARD.format(n)
    name, crc = store.current_generation(shard)
    generation = open_generation(shard, verify=False, settings=None, generation=(name, crc), root=root)
    try:
        stats = generation.backend.frozen_statistics((), articles=True)
        return {
            "name": shard.name, "generation": name, "manifest_crc": crc,
            "counts": generation.manifest["counts"], "statistics": snapshot_statistics(stats),
        }
    finally:
        generation.close()


def _write_stories(path: Path, generation: Path, entries: list[dict]) -> dict[str, str]:
    """Cluster the articles of every shard together, as one index of them clusters its own (``stories``), and
    write each shard's story column (``arrays.story_column``) into the snapshot ``generation``: copies of one
    story in two shards are one story. Returns each shard's file (a shard without passages has none)."""
    import numpy as np

    from . import arrays, stories

    directories = [path / entry["name"] / entry["generation"] for entry in entries]
    parts = [stories.read(directory) for directory in directories]
    keys = [key for part_keys, _ in parts for key in part_keys]
    story_ids = stories.story_ids(keys, np.concatenate([signatures for _, signatures in parts]))
    first = max(story_ids.values(), default=-1) + 1  # then every shard's articles without a signature, each its own
    files = {}
    for entry, directory in zip(entries, directories):
        if arrays.read_meta(directory) is None:
            continue
        column, first = arrays.story_column(directory, story_ids, first)
        files[entry["name"]] = f"{entry['name']}.{STORIES_SUFFIX}"
        np.save(generation / files[entry["name"]], column, allow_pickle=False)
    return files


STORIES_SUFFIX = "stories.npy"
"""A snapshot's story column of a shard: ``shard-000.stories.npy``, one story number per document."""


def story_column(path: Path, manifest: dict, directory: Path, shard: str) -> Callable[[int], Any] | None:
    """How shard ``shard`` of the snapshot at ``directory`` reads its story column (for ``LocalBackend.stories``):
    a function of its document count, or None when it has none (no passages).

    Raises:
        IndexCorrupt: (when called) the file is missing or not a column of that length.
    """
    name = manifest.get("stories", {}).get(shard)
    if name is None:
        return None

    def read(length: int) -> Any:
        import numpy as np

        try:
            column = np.load(directory / name, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise IndexCorrupt(f"the stories of {shard} of the sharded index at {path} cannot be read ({e})") from None
        if column.ndim != 1 or column.dtype.kind != "i" or len(column) != length:
            raise IndexCorrupt(f"the stories of {shard} of the sharded index at {path} do not match its passages")
        return column

    return read


def snapshot_statistics(stats: FrozenStatistics) -> dict:
    """The collection-wide part of ``stats`` as the snapshot records it (no term's frequencies)."""
    return {
        "passages": stats.passages, "passage_lengths": dict(stats.passage_lengths),
        "articles": stats.articles, "article_lengths": dict(stats.article_lengths),
    }


def _summed(parts: list[dict]) -> dict:
    summed = FrozenStatistics.combine(
        FrozenStatistics(p["passages"], p["passage_lengths"], {}, p["articles"], p["article_lengths"]) for p in parts
    )
    return snapshot_statistics(summed)


def _combined(reports: list[BuildReport], seconds: float) -> BuildReport:
    """One report of every shard's: every shard reads every file, so file counts are each shard's; articles
    and passages are summed; a file skipped by several shards is listed once."""
    skipped: dict[SkippedFile, None] = {}
    for report in reports:
        skipped.update(dict.fromkeys(report.skipped))
    first = reports[0]
    return BuildReport(
        articles=sum(r.articles for r in reports), passages=sum(r.passages for r in reports),
        files_added=first.files_added, files_replaced=first.files_replaced, files_unchanged=first.files_unchanged,
        files_removed=first.files_removed, skipped=tuple(skipped), seconds=seconds,
    )


def _collect_garbage(path: Path, count: int) -> None:
    """Remove the snapshots no reader holds, then the shard generations no kept snapshot names, and the folders of
    shards beyond ``count`` (a rebuild with fewer shards) once no kept snapshot names them."""
    store.collect_garbage(path)
    named: dict[str, set[str]] = {}
    for entry in os.scandir(path):
        try:
            kept = json.loads((Path(entry.path) / store.MANIFEST).read_bytes())
        except (OSError, ValueError):
            continue
        for shard in kept.get("shards", ()):
            named.setdefault(shard["name"], set()).add(shard["generation"])
    for n in range(count):
        name = _SHARD.format(n)
        store.collect_garbage(path / name, keep=frozenset(named.get(name, ())))
    for name in sorted(os.listdir(path)):
        if re.fullmatch(r"shard-\d{3}", name) and int(name[6:]) >= count and name not in named:
            shutil.rmtree(path / name)


# --- reading -------------------------------------------------------------------------------------------------


class ShardedGeneration(Generation["SnapshotBackend"]):
    """One snapshot being read: its shard generations (leased), its manifest, and how many calls use it."""


def read_snapshot(path: Path) -> tuple[store.ReaderLease, dict]:
    """The live snapshot of the sharded index at ``path``, leased, and its manifest (schema version checked)."""
    lease = store.ReaderLease(path)
    try:
        manifest = store.read_manifest(path, lease.generation, lease.manifest_crc)
        if manifest.get("schema_version") != schema.SCHEMA_VERSION or "stories" not in manifest:
            raise IndexIncompatible(
                f"sharded index at {path} has schema version {manifest.get('schema_version')}"
                f"{'' if 'stories' in manifest else ', without stories across its shards'}; this searchkit "
                f"{installed_version()} reads version {schema.SCHEMA_VERSION}: rebuild it with searchkit index --rebuild"
            )
        return lease, manifest
    except BaseException:
        lease.release()
        raise


def open_snapshot(path: Path, *, verify: bool, settings: Settings | None) -> ShardedGeneration:
    """The live snapshot of the sharded index at ``path``: every shard generation it names, opened and checked
    against the statistics it recorded for it.

    Raises:
        IndexCorrupt: a shard's files are damaged or missing, or differ from the snapshot (the shard is named).
    """
    lease, manifest = read_snapshot(path)
    opened: list[Generation[LocalBackend]] = []
    try:
        root = path.resolve().parent
        check_story_files(path, manifest, lease.directory, verify=verify)
        for shard in manifest["shards"]:
            generation = open_generation(path / shard["name"], verify=verify, settings=settings,
                                         generation=(shard["generation"], shard["manifest_crc"]), root=root)
            opened.append(generation)
            check_shard_statistics(path, shard, generation.backend)
            generation.backend.stories = story_column(path, manifest, lease.directory, shard["name"])
        backend = SnapshotBackend(opened, manifest, lease.directory)
        return ShardedGeneration(backend, manifest, lease)
    except BaseException:
        for generation in opened:
            generation.close()
        lease.release()
        raise


def check_story_files(path: Path, manifest: dict, directory: Path, *, verify: bool) -> None:
    """Raise ``IndexCorrupt`` unless the snapshot's story columns are the files it recorded (sizes; CRC-32 where
    ``store.verify_files`` checks them, every one with ``verify``)."""
    problems = store.verify_files(directory, manifest.get("story_files", {}), checksums=verify)
    if problems:
        raise IndexCorrupt(f"the snapshot of the sharded index at {path} is damaged: {'; '.join(problems)}; "
                           f"{store.rebuild_hint(path)}")


def check_shard_statistics(path: Path, shard: dict, backend: LocalBackend) -> None:
    """Raise ``IndexCorrupt`` naming the shard unless its passage count and field lengths are the snapshot's."""
    stats = backend.frozen_statistics((), articles=False)
    recorded = shard["statistics"]
    if stats.passages != recorded["passages"] or dict(stats.passage_lengths) != recorded["passage_lengths"]:
        raise IndexCorrupt(
            f"shard {shard['name']} of the sharded index at {path} does not hold what its snapshot recorded "
            f"({stats.passages} passages, recorded {recorded['passages']}); rebuild it with: searchkit index "
            f"PATH... --index {path} --rebuild"
        )


class SnapshotBackend(ShardedBackend):
    """The shards of one snapshot, searched in this process with the snapshot's collection statistics."""

    def __init__(self, generations: Sequence[Generation[LocalBackend]], manifest: dict, directory: Path) -> None:
        super().__init__([generation.backend for generation in generations], shared_stories=True)
        self.generations = list(generations)
        self.directory = directory
        self.settings = self.shards[0].settings
        self.collection = manifest["statistics"]

    def statistics(self, terms: Iterable[Term], *, articles: bool) -> FrozenStatistics:
        """The shards' frequencies of ``terms``, with the passage count and lengths the snapshot recorded."""
        return with_collection(super().statistics(terms, articles=articles), self.collection)

    def neighbours(self, passage_id: str) -> list[Passage]:
        for shard in self.shards:
            try:
                return shard.neighbours(passage_id)
            except PassageNotFound:
                continue
        raise PassageNotFound(f"no passage with id {passage_id!r} in any shard")

    def iter_passages(self) -> Iterator[Passage]:
        return itertools.chain.from_iterable(shard.iter_passages() for shard in self.shards)

    def stats(self, path: Path, manifest: dict) -> IndexStats:
        return combined_stats(path, manifest, [
            shard.stats(path / entry["name"], generation.manifest)
            for shard, entry, generation in zip(self.shards, manifest["shards"], self.generations)
        ])

    def close(self) -> None:
        for generation in self.generations:
            generation.close()


def with_collection(stats: FrozenStatistics, collection: dict) -> FrozenStatistics:
    """``stats`` with the collection-wide numbers of a snapshot (``snapshot_statistics``)."""
    return dataclasses.replace(
        stats, passages=collection["passages"], passage_lengths=collection["passage_lengths"],
        articles=collection["articles"], article_lengths=collection["article_lengths"],
    )


def combined_stats(path: Path, manifest: dict, parts: list[IndexStats]) -> IndexStats:
    """One ``IndexStats`` of every shard's: counts summed, the widest date range, facets summed."""

    def summed(facets: Iterable[dict[str, int]]) -> dict[str, int]:
        total: dict[str, int] = {}
        for facet in facets:
            for value, count in facet.items():
                total[value] = total.get(value, 0) + count
        return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))

    firsts = [p.first_date for p in parts if p.first_date]
    lasts = [p.last_date for p in parts if p.last_date]
    counts = manifest.get("counts", {})
    return IndexStats(
        path=str(path), passages=sum(p.passages for p in parts), articles=counts.get("articles", 0),
        files=counts.get("files", 0), first_date=min(firsts, default=None), last_date=max(lasts, default=None),
        sources=summed(p.sources for p in parts), places=summed(p.places for p in parts),
        size_bytes=sum(p.size_bytes for p in parts), manifest={k: v for k, v in manifest.items() if k != "story_files"},
    )


def check_sharded(path: Path) -> CheckReport:
    """``check_index`` of every shard of the live snapshot, each problem prefixed with the shard's name, and of
    the snapshot's record of each shard (its live generation, counts and statistics)."""
    problems: list[str] = []
    notes: list[str] = []
    passages = compared = 0
    try:
        lease, manifest = read_snapshot(path)
    except SearchkitError as e:
        return CheckReport(str(path), None, 0, 0, 0, (str(e),))
    try:
        try:
            check_story_files(path, manifest, lease.directory, verify=True)
        except IndexCorrupt as e:
            problems.append(str(e))
        for shard in manifest["shards"]:
            shard_path = path / shard["name"]
            live = store.current_generation(shard_path)[0] if store.is_store(shard_path) else None
            if live != shard["generation"]:
                problems.append(f"{shard['name']}: its live generation is {live}, the snapshot names "
                                f"{shard['generation']} (an interrupted update: run searchkit index again)")
                continue
            report = check_index(shard_path, root=path.resolve().parent)
            problems.extend(f"{shard['name']}: {problem}" for problem in report.problems)
            notes.extend(f"{shard['name']}: {note}" for note in report.notes)
            passages += report.passages
            compared = max(compared, report.sources_compared)
            if report.ok:
                try:
                    generation = open_generation(shard_path, verify=False, settings=None,
                                                 generation=(shard["generation"], shard["manifest_crc"]),
                                                 root=path.resolve().parent)
                except SearchkitError as e:
                    problems.append(f"{shard['name']}: {e}")
                    continue
                try:
                    check_shard_statistics(path, shard, generation.backend)
                except IndexCorrupt as e:
                    problems.append(str(e))
                finally:
                    generation.close()
        if passages != manifest["counts"]["passages"] and not problems:
            problems.append(f"the shards hold {passages} passages, the snapshot records {manifest['counts']['passages']}")
        files = manifest["counts"]["files"]
        return CheckReport(str(path), lease.generation, passages, files, compared, tuple(problems), tuple(notes))
    finally:
        lease.release()
