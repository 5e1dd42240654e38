"""Index: the library's entry point — open an index, search it, fetch passages, report stats, build or update it.

A facade: searching goes through ``search.run`` over a ``LocalBackend`` (one committed generation), writing
through ``build.commit``; ``store`` keeps generations on disk. One Index may be shared by threads: each call
reads one generation from start to end, and an update swaps in the next one for later calls.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from . import search, sharded, store, suggest
from .arguments import DAY, TEXT, Sources, check_types, path_text, source_list
from .backend import FACET_FIELDS, SORTS, TIMELINES
from .errors import IndexClosed, IndexNotFound, QueryError
from .local import Generation, LocalBackend, open_generation
from .sharded import ShardedGeneration, SnapshotBackend
from .models import BuildReport, IndexStats, Passage, Results
from .places import place_names
from .query import MAX_OFFSET, build_query
from .settings import DEFAULT, Settings

if TYPE_CHECKING:
    from .build import Progress

__all__ = ["Index", "MANIFEST", "SORTS"]

MANIFEST = store.MANIFEST


class Index:
    """A searchkit index on disk; a context manager, safe to share between threads.

    >>> report = Index.build(["seeds/"], "index/")
    >>> with Index.open("index/") as ix:
    ...     hits = ix.search("Caspian seabed", limit=3)
    """

    def __init__(
        self, path: Path, generation: Generation[LocalBackend] | ShardedGeneration, ranking: Settings | None = None,
        ray: str | None = None,
    ) -> None:
        """Use ``Index.open`` or ``Index.build``."""
        self.path = path
        self._generation: Generation[LocalBackend] | ShardedGeneration | None = generation
        self._ranking = ranking
        """Settings to rank with instead of the index's (``open``), also after updates."""
        self._ray = ray
        """The Ray cluster a sharded index is searched (and updated) on, or None: in this process."""
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        """Held by ``refresh``: threads that refresh at once open the new commit once."""

    # --- opening and building ------------------------------------------------------------------------------

    @staticmethod
    def exists(path: str | os.PathLike) -> bool:
        """Whether ``path`` holds a searchkit index (of any version)."""
        return store.is_store(Path(path)) or (Path(path) / MANIFEST).is_file()

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, verify: bool = False, settings: Settings | None = None,
        ray: str | None = None,
    ) -> Index:
        """Open an existing index for searching (and updating): the last commit, until ``close``.

        A sharded index (``build(..., shards=N)``) is searched as one index: its shards in this process, or, with
        ``ray`` (``"local"``: a Ray instance started for this process; ``"auto"`` or an address: a running
        cluster), through one named, restartable Ray actor per shard (``pip install 'searchkit[ray]'``).

        It ranks with the settings it was built with, or with ``settings`` (for tuning: those that shape
        passages, ``Settings.BUILD_FIELDS``, must be the index's own; updates keep the index's settings). What
        Whoosh unpickles, here and at every later read, admits only what a searchkit index holds (see
        ``safepickle``): a crafted index runs none of its code.

        Every index file is checked against the manifest: its size, and its CRC-32 where it was written to since
        its commit (or is read whole at open); with ``verify``, the CRC-32 of every file.

        Raises:
            IndexNotFound: there is no index at ``path``.
            IndexIncompatible: it was built with another schema version; rebuild it.
            IndexCorrupt: files are missing, truncated or damaged; rebuild it.
            IndexUntrusted: files hold what searchkit never writes (a crafted index).
            ShardError: a shard's Ray actor cannot be started or does not answer (the shard is named).
        """
        path = Path(path_text(path, "path"))
        check_types(ray=(ray, (str, type(None))))
        if ray is not None or sharded.is_sharded(path):
            return cls(path, _open_sharded(path, verify=verify, settings=settings, ray=ray), settings, ray)
        return cls(path, open_generation(path, verify=verify, settings=settings), ranking=settings)

    @classmethod
    def build(
        cls, sources: Sources, path: str | os.PathLike, *, progress: Progress | None = None,
        wait: float = 0.0, settings: Settings = DEFAULT, punkt_from: str | os.PathLike | None = None,
        shards: int | None = None, ray: str | None = None,
    ) -> BuildReport:
        """Build a new index of ``sources`` (files and folders, or one of them) at ``path`` with ``settings``,
        replacing any index there; no sources, or none readable, make a valid empty index. With ``punkt_from`` (another index), sentences are split as that index splits them, instead of
        by a splitter learned from ``sources``: the shards of one corpus cut it into the same passages.

        With ``shards``, a sharded index: ``shards`` shard indexes, each article in the shard its id hashes to,
        built by local processes, or with ``ray`` (as in ``open``) one Ray task per shard; rebuilding a sharded
        index without ``shards`` keeps its number of shards.

        The new index is a new generation, made live only when complete: a failed or killed build leaves
        the previous index as it was. An index of the older layout is replaced in place the same way (its
        files are removed once the new generation is live); any other non-empty directory is refused.

        Raises:
            IndexLocked: another process is writing to the index (after waiting ``wait`` seconds).
            IndexWriteError: the disk filled up, or an indexing process died; nothing was committed.
            IndexNotFound: ``path`` is a file, or a non-empty directory that is not a searchkit index.
            TypeError: ``sources`` or ``path`` is not a path (str, bytes or os.PathLike) or paths.
            ValueError: a path holds a NUL byte.
        """
        sources, path = source_list(sources), Path(path_text(path, "path"))
        check_types(shards=(shards, (int, type(None))), ray=(ray, (str, type(None))))
        if shards is not None or ray is not None or sharded.is_sharded(path):
            return _build_sharded(sources, path, shards=shards, settings=settings, wait=wait, ray=ray,
                                  progress=progress)
        if not store.can_hold_store(path):
            raise IndexNotFound(
                f"{path} exists and is not a searchkit index: nothing was written; choose another --index, "
                f"or empty or remove {path} first"
            )
        from . import build  # the writing code: a search never imports it

        punkt = None
        if punkt_from is not None:
            with cls.open(punkt_from) as other:
                punkt = json.loads((other.directory / build.PUNKT).read_text(encoding="utf-8"))
        with store.full_disk_is_write_error(path), store.write_lock(path, wait=wait):
            report = build.commit(path, None, sources, settings=settings, progress=progress, prune=False, punkt=punkt)
            store.collect_garbage(path)
        return report

    def update(
        self, sources: Sources, *, prune: bool = False, progress: Progress | None = None,
        wait: float = 0.0,
    ) -> BuildReport:
        """Index new and changed files of ``sources`` (files and folders, or one of them) with the index's
        settings; unchanged files are skipped, changed ones replaced; with ``prune``, files indexed before but no
        longer among ``sources`` are removed. Files are known by their real path (links resolved), and a file at
        a new path with the content of an indexed file no longer at its own path has moved (the index, its
        inputs, or both): it is re-indexed in place of the old one, never beside it.

        All of it is one commit: a failed or killed update leaves the index as it was. Calls made afterwards read
        the new commit; calls under way finish on the one they started with. A sharded index updates every shard
        (in local processes, or as Ray tasks when opened with ``ray``) and commits a new snapshot of them.

        Raises:
            IndexLocked: another process is writing to the index (after waiting ``wait`` seconds).
            IndexWriteError: the disk filled up, or an indexing process died; nothing was committed.
            TypeError: ``sources`` is not a path (str, bytes or os.PathLike) or paths.
            ValueError: a path holds a NUL byte.
        """
        sources = source_list(sources)
        with self._reading() as current:
            settings = Settings.from_dict(current.manifest.get("settings", {}))
            is_sharded = isinstance(current, ShardedGeneration)
        if is_sharded:
            report = sharded.update(self.path, sources, prune=prune, wait=wait, progress=progress,
                                    run=_ray_runner(self._ray))
            self._swap(_open_sharded(self.path, verify=False, settings=self._ranking, ray=self._ray))
            return report
        from . import build

        with store.full_disk_is_write_error(self.path), store.write_lock(self.path, wait=wait):
            base = store.current_generation(self.path)[0]
            report = build.commit(self.path, base, sources, settings=settings, progress=progress, prune=prune)
            self._swap(open_generation(self.path, verify=False, settings=self._ranking))
            store.collect_garbage(self.path)
        return report

    def refresh(self) -> bool:
        """Follow a commit made since this Index opened (by another process, ``searchkit index``): later calls
        read it; calls under way finish on the one they started with, which is then released (a writer's
        clean-up may remove it). One read of ``CURRENT`` when nothing changed; the new commit's top-k arrays are
        loaded before it is swapped in, so that no search waits for them.

        Returns:
            Whether a new commit was opened.

        Raises:
            IndexCorrupt: the new commit is damaged (this Index reads on the one it had).
        """
        with self._refreshing:
            with self._reading() as current:
                if store.current_generation(self.path)[0] == current.lease.generation:
                    return False
                is_sharded = isinstance(current, ShardedGeneration)
            new: Generation[LocalBackend] | ShardedGeneration
            if is_sharded:  # a new snapshot: in this process, or served by its own actors on Ray
                new = _open_sharded(self.path, verify=False, settings=self._ranking, ray=self._ray)
            else:
                new = open_generation(self.path, verify=False, settings=self._ranking)
            try:
                with store.damage_is_corruption(self.path):
                    _load_arrays(new.backend)
            except BaseException:
                new.close()
                raise
            self._swap(new)
            return True

    def close(self) -> None:
        """Release the index; calls made afterwards raise ``IndexClosed``. Calls under way finish first."""
        with self._lock:
            generation, self._generation = self._generation, None
        if generation is not None:
            self._retire(generation)

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading ---------------------------------------------------------------------------------------------

    @property
    def manifest(self) -> dict:
        """The manifest of the generation this Index reads."""
        with self._reading() as generation:
            return generation.manifest

    @property
    def settings(self) -> Settings:
        """The settings the index was built with (and ranks with)."""
        with self._reading() as generation:
            return generation.backend.settings

    @property
    def backend(self) -> LocalBackend | SnapshotBackend:
        """The backend of the generation this Index reads, for composing indexes (``shards.ShardedBackend``); it
        stays readable until this Index is closed or updated."""
        with self._reading() as generation:
            return generation.backend

    @property
    def directory(self) -> Path:
        """The generation this Index reads (a directory inside ``path``)."""
        with self._reading() as generation:
            return generation.backend.directory

    def search(
        self, text: str, *, limit: int = 10, source: str | None = None, place: str | None = None,
        since: str | date | None = None, until: str | date | None = None, speaker: str | None = None,
        sort: str = "score", syntax: bool = True, highlights: bool = True, per_article: bool = False,
        expand: bool = False, today: date | None = None, offset: int = 0,
        aliases: bool | str | os.PathLike = True,
        facets: bool | Sequence[str] = False, timeline: str | None = None, collapse: bool = False,
    ) -> Results:
        """Ranked passages matching ``text`` (Whoosh query syntax), best first, with highlights, and
        ``Results.total``, how many matched in all.

        ``since``/``until`` are ``date``s or date phrases (inclusive): ``2019``, ``2019-03``, ``March 2019``,
        ``2019-03-05``, ``5 March 2019``, ``March 5, 2019``, ``yesterday``, ``last week`` (ISO, Monday first),
        ``this month``, ``past 3 days``, ``10 days ago`` (see ``dates``); a month or year as ``since`` starts at its
        first day, as ``until`` includes its last. Relative phrases, in ``date:`` too, count from ``today``
        (default ``date.today()``; fix it for reproducible runs). ``sort="date"`` orders matches newest first, best first
        within a day. ``syntax=False`` reads ``text`` as plain words, any of which may match (see
        ``build_query``); ``highlights=False`` leaves ``Hit.highlights`` empty, for callers that only rank.
        ``per_article=True`` returns one hit per article: its best passage, with the article's score, ranked by it
        (see ``Settings.article_weight``). ``expand=True`` adds words of the top hits to the query
        (pseudo-relevance feedback) and searches again; highlights then mark the added words too. The result's
        ``suggestion`` is ``text`` with its rare or absent words spelled as the corpus spells them ("did you
        mean", see ``suggest``), or None. ``offset`` skips that many of the best hits first (the next page:
        ranks go on from ``offset + 1``; at most ``query.MAX_OFFSET``).
        ``aliases`` widens places by their other names (see README, "Places"): ``place="Astana"`` and
        ``place:astana`` also match passages filed from Nur-Sultan, and the word ``Astana`` also finds
        ``Nur-Sultan`` in text, weighted ``places.ALIAS_WEIGHT``; ``True`` uses the packaged table, a path the
        table plus that file's names (read again when it changes), ``False`` no names but those written.

        Counted over every match, under the same query and filters: ``facets`` (``True``: all of ``source``,
        ``place``, ``speaker``, ``tags``; or some of them) gives ``Results.facets``, matches per value as stored,
        most first (tags: each tag of a match); ``timeline`` (``"month"``, ``"year"``, or ``"auto"``: by month
        when the matches span at most 3 years, else by year) gives ``Results.timeline``, dated matches per
        period, oldest first, with 0 for periods between them without any. With ``per_article``, all of these
        count articles (each by the passage shown).

        ``collapse=True`` returns one hit per story (copies of one agency story, found when the index was
        written; see ``stories``): its first passage in the ranking in use (with ``per_article``, its best
        article), the story's other matching articles in ``Hit.copies``; ``limit`` counts stories (``total``,
        facets and timeline still count matches).

        Raises:
            NothingToSearch: every word of ``text`` is a stop word (a ``QueryError``).
            QueryError: the query, a filter, ``limit``, ``offset``, ``sort``, ``facets`` or ``timeline`` is
                malformed (an unknown field or period), the query's wildcards, prefixes
                or ranges reach too much of the index (see ``bounds``), or ``per_article`` is combined with
                ``sort="date"``.
            AliasesError: the ``aliases`` file cannot be read or is malformed (the message names its line).
            TypeError: an argument is not of its type.
        """
        check_types(
            text=(text, str), limit=(limit, int), source=(source, TEXT), place=(place, TEXT), since=(since, DAY),
            until=(until, DAY), speaker=(speaker, TEXT), sort=(sort, str), syntax=(syntax, bool),
            highlights=(highlights, bool), per_article=(per_article, bool), expand=(expand, bool),
            today=(today, (date, type(None))), offset=(offset, int),
            aliases=(aliases, (bool, str, os.PathLike)),
            facets=(facets, (bool, list, tuple)), timeline=(timeline, TEXT), collapse=(collapse, bool),
        )
        fields = _facet_fields(facets)
        if timeline is not None and timeline not in TIMELINES:
            raise QueryError(f"timeline must be one of {', '.join(TIMELINES)}, got {timeline!r}")
        if limit < 1:
            raise QueryError(f"limit must be at least 1, got {limit}")
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError(f"offset must be from 0 to {MAX_OFFSET:,}, got {offset}")
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
        if per_article and sort != "score":
            raise QueryError("per-article results are ranked by score; they cannot be sorted by date")
        places = place_names(aliases)
        with self._reading() as generation:
            settings = generation.backend.settings
            parsed = build_query(
                text, source=source, place=place, since=since, until=until, speaker=speaker, syntax=syntax,
                settings=settings, today=today, places=places,
            )
            results = search.run(
                generation.backend, parsed, settings, limit=limit, sort=sort, per_article=per_article,
                expand=expand, highlights=highlights, offset=offset, facets=fields, timeline=timeline, collapse=collapse,
            )
            results.suggestion = suggest.suggestion(text, generation.backend, syntax=syntax)
            results.generation = generation.lease.generation
            return results

    def get(self, passage_id: str) -> Passage:
        """The passage with this id.

        Raises:
            PassageNotFound: no passage has this id.
            TypeError: ``passage_id`` is not a string.
        """
        check_types(passage_id=(passage_id, str))
        with self._reading() as generation:
            return generation.backend.passages([passage_id])[0]

    def neighbours(self, passage_id: str) -> list[Passage]:
        """The passages just before and after this one in its article (zero, one or two, in order).

        Raises:
            PassageNotFound: no passage has this id.
            TypeError: ``passage_id`` is not a string.
        """
        check_types(passage_id=(passage_id, str))
        with self._reading() as generation:
            return generation.backend.neighbours(passage_id)

    def passages(self) -> Iterator[Passage]:
        """Every passage in the index, in index order (for exports and integrity checks)."""
        with self._reading() as generation:
            yield from generation.backend.iter_passages()

    def stats(self) -> IndexStats:
        """Counts, date range, sources and places of the live passages (those a query can find), the bytes the
        index directory occupies, and the manifest (without per-file detail)."""
        with self._reading() as generation:
            return generation.backend.stats(self.path, generation.manifest)

    # --- generations -----------------------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Generation[LocalBackend] | ShardedGeneration]:
        """The current generation, kept open until the block ends; Whoosh's errors from damaged segment data
        raised inside become ``IndexCorrupt``."""
        with self._lock:
            generation = self._generation
            if generation is None:
                raise IndexClosed(f"the Index of {self.path} is closed; open it again")
            generation.users += 1
        try:
            with store.damage_is_corruption(self.path):
                yield generation
        finally:
            with self._lock:
                generation.users -= 1
                done = generation.retired and generation.users == 0
            if done:
                generation.close()

    def _swap(self, new: Generation[LocalBackend] | ShardedGeneration) -> None:
        with self._lock:
            old = self._generation
            if old is not None:
                self._generation = new
        if old is None:  # closed while the update ran: it is committed, and this Index stays closed
            new.close()
        else:
            self._retire(old)

    def _retire(self, generation: Generation[LocalBackend] | ShardedGeneration) -> None:
        with self._lock:
            generation.retired = True
            done = generation.users == 0
        if done:
            generation.close()


def _facet_fields(facets: bool | Sequence[str]) -> tuple[str, ...]:
    """The facet fields ``facets`` asks for (``True``: all), each once, in ``FACET_FIELDS`` order.

    Raises:
        QueryError: one of them is not a facet field.
    """
    if isinstance(facets, bool):
        return FACET_FIELDS if facets else ()
    for name in facets:
        if not isinstance(name, str):
            raise TypeError(f"facets must be field names, got {type(name).__name__}")
        if name not in FACET_FIELDS:
            raise QueryError(f"unknown facet field {name!r}; facets are {', '.join(FACET_FIELDS)}")
    return tuple(name for name in FACET_FIELDS if name in facets)


def _load_arrays(backend: object) -> None:
    """Load a new commit's top-k arrays (every shard's in this process; on Ray each actor loads its own as it
    starts)."""
    if isinstance(backend, LocalBackend):
        backend.arrays()
    elif isinstance(backend, SnapshotBackend):
        for shard in backend.shards:
            shard.arrays()


# --- sharded indexes -----------------------------------------------------------------------------------------


def _open_sharded(path: Path, *, verify: bool, settings: Settings | None, ray: str | None) -> ShardedGeneration:
    """The live snapshot of a sharded index, searched in this process or (``ray``) through Ray actors."""
    if not sharded.is_sharded(path):
        open_generation(path, verify=False, settings=None).close()  # the error for what is there instead
        raise IndexNotFound(f"{path} is an index of one shard: open it without ray")
    if ray is None:
        return sharded.open_snapshot(path, verify=verify, settings=settings)
    from .rayshards import open_snapshot  # Ray: only with ray=

    return open_snapshot(path, verify=verify, settings=settings, address=ray)


def _ray_runner(ray: str | None) -> sharded.Runner | None:
    """Shard tasks run on Ray (``ray``) or, with None, in local processes."""
    if ray is None:
        return None
    from .rayshards import task_runner

    return task_runner(ray)


def _build_sharded(
    sources: list[str], path: Path, *, shards: int | None, settings: Settings, wait: float, ray: str | None,
    progress: Progress | None,
) -> BuildReport:
    if shards is None:
        if not sharded.is_sharded(path):
            raise ValueError("ray= builds a sharded index: give shards= too (--shards N)")
        lease, manifest = sharded.read_snapshot(path)
        lease.release()
        shards = len(manifest["shards"])
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    return sharded.create(sources, path, shards=shards, settings=settings, wait=wait, run=_ray_runner(ray),
                          progress=progress)
