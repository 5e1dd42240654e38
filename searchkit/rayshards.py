"""A sharded index on Ray: one named, restartable actor per shard of a snapshot, searched by scatter-gather.

Each actor holds one shard generation that the snapshot names (``sharded``), opened where the actor runs (the
index directory must be readable there: one machine, or a shared filesystem). A search asks every actor for
its statistics, sums them with the snapshot's, asks every actor for its best ``limit`` with those statistics,
and merges them exactly (``backend.merge``; collapsed, ``shards.merge_stories``). Actors are named after the
index, the snapshot, the shard and its generation, so a second process finds them, and those of a replaced
snapshot are killed (``retire_actors``); an actor that dies is restarted by Ray and its call retried (queries
only read); one that cannot be restored fails the search with ``ShardError`` naming the shard, never a partial
answer.
Ray is imported only here, only when ``ray=`` is given.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import ray
import ray.exceptions

from .backend import Counts, Lexicon, Ranked, Ranking, Term, merge
from .errors import PassageNotFound, SearchkitError, ShardError
from .local import open_generation
from .models import BuildReport, IndexStats, Passage
from .query import ParsedQuery
from .scoring import FrozenStatistics, Statistics
from .settings import Settings
from .sharded import (
    ShardedGeneration, ShardTask, check_shard_statistics, check_story_files, combined_stats, commit_shard,
    read_snapshot, story_column, with_collection,
)
from .shards import distinct, merge_stories
from .vocabulary import Vocabulary

__all__ = [
    "connect", "open_snapshot", "task_runner", "RayBackend", "NAMESPACE", "TASK_RETRIES", "retire_actors", "actor_name",
]

NAMESPACE = "searchkit"
TASK_RETRIES = 3
"""How often a call to an actor that died is retried once Ray has restarted it (queries are read-only)."""
_MAX_CACHED = 100_000
CONNECT_TIMEOUT_SECONDS = 5.0
CALL_TIMEOUT_SECONDS = 120.0
"""How long a search waits for a shard's answer (a restart included) before failing with ``ShardError``."""


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``"auto"``: the one running here), or start one for this process
    (``"local"``); nothing when this process is connected already. This process's own SIGTERM handling is kept
    (a Ray driver's would end it with exit code 15)."""
    if ray.is_initialized():
        return
    kept = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        _init(address)
    finally:
        if kept is not None:
            signal.signal(signal.SIGTERM, kept)


def _init(address: str) -> None:
    options: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": False, "configure_logging": False}
    if address == "local":  # a new instance (not one found running), reachable on the loopback only
        ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", **options)
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address != "auto":  # Ray itself retries an unreachable address for ever
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
        except (OSError, ValueError) as e:
            raise ShardError(f"no Ray cluster answers at {address} ({e}); start one with: ray start --head") from None
    if host in ("127.0.0.1", "localhost"):  # a cluster on the loopback: this driver on it too
        options["_node_ip_address"] = "127.0.0.1"
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ShardError(f"cannot join the Ray cluster at {address}: {_one_line(e)}") from None


class ShardServer:
    """The Ray actor of one shard generation: a ``LocalBackend`` answering the calls of ``RayBackend``."""

    def __init__(self, index: str, shard: dict, settings: dict | None, verify: bool, snapshot: str, manifest: dict) -> None:
        path = Path(index)
        self._generation = open_generation(
            path / shard["name"], verify=verify, settings=None if settings is None else Settings.from_dict(settings),
            generation=(shard["generation"], shard["manifest_crc"]), root=path.resolve().parent,
        )
        self.backend = self._generation.backend
        check_shard_statistics(path, shard, self.backend)
        self.backend.stories = story_column(path, manifest, path / snapshot, shard["name"])
        self.backend.arrays()  # its stories read now: the snapshot's folder may be collected while this actor lives

    def ready(self) -> int:
        return os.getpid()

    def statistics(self, terms: list[Term], articles: bool) -> FrozenStatistics:
        return self.backend.frozen_statistics(terms, articles=articles)

    def rank(
        self, parsed: ParsedQuery, stats: Statistics, limit: int, sort: str, per_article: bool, facets: Sequence[str],
        months: bool, collapse: bool,
    ) -> Ranking:
        return self.backend.rank(
            parsed, stats, limit, sort=sort, per_article=per_article, facets=facets, months=months, collapse=collapse)

    def story_matches(
        self, parsed: ParsedQuery, stats: Statistics, stories: list[int], sort: str, per_article: bool,
    ) -> dict[int, list[Ranked]]:
        return self.backend.story_matches(parsed, stats, stories, sort=sort, per_article=per_article)

    def vocabulary(self) -> Vocabulary:
        return self.backend.vocabulary()

    def passages(self, ids: list[str]) -> dict[str, Passage]:
        """The passages of ``ids`` this shard holds."""
        found = {}
        for passage_id in ids:
            try:
                found[passage_id] = self.backend.passages([passage_id])[0]
            except PassageNotFound:
                continue
        return found

    def neighbours(self, passage_id: str) -> list[Passage] | None:
        try:
            return self.backend.neighbours(passage_id)
        except PassageNotFound:
            return None

    def all_passages(self) -> list[Passage]:
        return list(self.backend.iter_passages())

    def stats(self, path: str, manifest: dict) -> IndexStats:
        return self.backend.stats(Path(path), manifest)

    def settings(self) -> Settings:
        return self.backend.settings

    def lexicon(self, method: str, *args: Any) -> Any:
        """One call of the shard's ``Lexicon`` (iterators as lists)."""
        result = getattr(self.backend.lexicon(), method)(*args)
        return result if isinstance(result, int) else list(result)


def actor_name(path: Path, snapshot: str, shard: dict, ranking: dict | None) -> str:
    """The actor's name: the index (a digest of its real path), the snapshot, the ranking settings it was opened
    with (a digest; ``own``: the index's), the shard and its generation."""
    ranked = "own" if ranking is None else _digest(json.dumps(ranking, sort_keys=True))
    return f"{index_prefix(path)}{snapshot}:{ranked}:{shard['name']}:{shard['generation']}"


def index_prefix(path: Path) -> str:
    """How the names of the actors of the sharded index at ``path`` begin, whatever their snapshot."""
    return f"{_digest(os.path.realpath(path))}:"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()


def retire_actors(path: Path, *, keep: str | None) -> list[str]:
    """Kill the actors of the sharded index at ``path`` that serve another snapshot than ``keep`` (None: any),
    on the cluster this process is connected to; their names. A process still searching through them fails with
    ``ShardError`` until it follows the live snapshot (``Index.refresh``)."""
    from ray.util import list_named_actors

    prefix = index_prefix(path)
    retired = []
    for named in list_named_actors(all_namespaces=True):
        name = named["name"]
        if named["namespace"] != NAMESPACE or not name.startswith(prefix) or \
                (keep is not None and name[len(prefix):].split(":", 1)[0] == keep):
            continue
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
        except ValueError:  # gone already
            continue
        retired.append(name)
    return retired


def open_snapshot(path: Path, *, verify: bool, settings: Settings | None, address: str) -> ShardedGeneration:
    """The live snapshot of the sharded index at ``path``, served by its shards' actors (found by name, or
    started, each opening its shard ``verify``-ing checksums) on the Ray cluster at ``address``; every actor
    has answered once it returns.

    Raises:
        ShardError: an actor cannot be started (a damaged shard: the message names it).
    """
    connect(address)
    lease, manifest = read_snapshot(path)
    try:
        remote = ray.remote(ShardServer)
        actors: list[Any] = []
        ranking = None if settings is None else settings.to_dict()
        check_story_files(path, manifest, lease.directory, verify=verify)
        retire_actors(path, keep=lease.generation)  # a snapshot replaced since: no one opens it any more
        for shard in manifest["shards"]:
            options: dict[str, Any] = dict(
                name=actor_name(path, lease.generation, shard, ranking), namespace=NAMESPACE, get_if_exists=True,
                max_restarts=-1, max_task_retries=TASK_RETRIES, num_cpus=0, scheduling_strategy="SPREAD",
            )
            if address != "local":
                options["lifetime"] = "detached"  # long-lived: later processes find it by name
            actors.append(remote.options(**options).remote(str(path), shard, ranking, verify, lease.generation, manifest))
        backend = RayBackend(path, manifest, actors, lease.directory)
        backend.gather([actor.ready.remote() for actor in actors], "start")
        return ShardedGeneration(backend, manifest, lease)  # type: ignore[arg-type]
    except BaseException:
        lease.release()
        raise


class RayBackend:
    """A ``Backend`` over the actors of one snapshot's shards: scatter, gather, exact merge."""

    def __init__(self, path: Path, manifest: dict, actors: Sequence[Any], directory: Path) -> None:
        self.path = path
        self.manifest = manifest
        self.actors = list(actors)
        self.names = [shard["name"] for shard in manifest["shards"]]
        self.directory = directory
        self.collection = manifest["statistics"]
        self._settings: Settings | None = None
        self._cache: dict[tuple, Any] = {}

    def cached(self, key: tuple, read: Callable[[], Any]) -> Any:
        """``read()``, kept under ``key`` for later calls (bounded: cleared when full)."""
        if key not in self._cache:
            if len(self._cache) > _MAX_CACHED:
                self._cache.clear()
            self._cache[key] = read()
        return self._cache[key]

    def gather(self, refs: list, what: str, names: Sequence[str] | None = None) -> list:
        """The answers of every shard (or of those ``names``) to one call, in shard order.

        Raises:
            ShardError: a shard did not answer (its actor could not be restored, or timed out).
            SearchkitError: what a shard raised (an ``IndexCorrupt`` naming it, a ``QueryError``).
        """
        answers = []
        for name, ref in zip(names or self.names, refs):
            try:
                answers.append(ray.get(ref, timeout=CALL_TIMEOUT_SECONDS))
            except ray.exceptions.RayTaskError as e:
                cause = e.cause if isinstance(getattr(e, "cause", None), BaseException) else None
                if isinstance(cause, SearchkitError):
                    raise cause from None
                raise ShardError(f"{name} of the sharded index at {self.path} failed to {what}: {_one_line(e)}") from None
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError, ray.exceptions.ActorUnavailableError) as e:
                raise ShardError(
                    f"{name} of the sharded index at {self.path} did not answer ({what}): {_one_line(e)}; no partial "
                    f"results are given"
                ) from None
        return answers

    # --- the Backend protocol ----------------------------------------------------------------------------

    def lexicon(self) -> Lexicon:
        return _RayLexicon(self)

    def statistics(self, terms: Iterable[Term], *, articles: bool) -> FrozenStatistics:
        wanted = list(set(terms))
        parts = self.gather([actor.statistics.remote(wanted, articles) for actor in self.actors], "count terms")
        return with_collection(FrozenStatistics.combine(parts), self.collection)

    def rank(
        self, parsed: ParsedQuery, stats: Statistics, limit: int, *, sort: str, per_article: bool,
        facets: Sequence[str] = (), months: bool = False, collapse: bool = False,
    ) -> Ranking:
        query, scored_with = ray.put(parsed), ray.put(stats)  # serialised once for every shard
        rankings = self.gather([
            actor.rank.remote(query, scored_with, limit, sort, per_article, tuple(facets), months, collapse)
            for actor in self.actors
        ], "rank")
        counts = Counts.combine(r.counts for r in rankings)
        if not collapse:
            return Ranking(merge(rankings, limit, sort), counts)
        return Ranking(merge_stories(rankings, limit, sort, lambda stories: self.gather([
            actor.story_matches.remote(query, scored_with, stories, sort, per_article) for actor in self.actors
        ], "find a story's copies")), counts)

    def vocabulary(self) -> Vocabulary:
        return self.cached(("vocabulary",), lambda: Vocabulary.combine(
            self.gather([actor.vocabulary.remote() for actor in self.actors], "read its words")))

    def passages(self, ids: Sequence[str]) -> list[Passage]:
        found: dict[str, Passage] = {}
        for part in self.gather([actor.passages.remote(list(ids)) for actor in self.actors], "fetch passages"):
            found.update(part)
        missing = [passage_id for passage_id in ids if passage_id not in found]
        if missing:
            raise PassageNotFound(f"no passage with id {missing[0]!r} in any shard")
        return [found[passage_id] for passage_id in ids]

    # --- what ``Index`` reads besides -------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self.gather([self.actors[0].settings.remote()], "read its settings", self.names[:1])[0]
        return self._settings

    def neighbours(self, passage_id: str) -> list[Passage]:
        for around in self.gather([actor.neighbours.remote(passage_id) for actor in self.actors], "fetch passages"):
            if around is not None:
                return around
        raise PassageNotFound(f"no passage with id {passage_id!r} in any shard")

    def iter_passages(self) -> Iterator[Passage]:
        for actor, name in zip(self.actors, self.names):
            yield from self.gather([actor.all_passages.remote()], "list its passages", [name])[0]

    def stats(self, path: Path, manifest: dict) -> IndexStats:
        parts = self.gather([
            actor.stats.remote(str(path / shard["name"]), {}) for actor, shard in zip(self.actors, manifest["shards"])
        ], "count its passages")
        return combined_stats(path, manifest, parts)

    def close(self) -> None:
        """Kill this snapshot's actors if a later commit replaced it (no one opens it any more); while it is live,
        they stay for other processes (see README, Sharded indexes)."""
        from . import store

        try:
            live = store.current_generation(self.path)[0]
        except (SearchkitError, OSError):  # the index is gone: so is any use of its actors
            live = None
        if live != self.directory.name and ray.is_initialized():
            retire_actors(self.path, keep=live)


class _RayLexicon:
    """The vocabulary of every shard as one, each call one scatter-gather round: terms merged in order, document
    frequencies summed (and kept: the snapshot's generations never change)."""

    def __init__(self, backend: RayBackend) -> None:
        self._backend = backend
        self.schema = _schema()

    def _scatter(self, method: str, *args: Any) -> list:
        backend = self._backend
        return backend.gather([actor.lexicon.remote(method, *args) for actor in backend.actors], "read its terms")

    def doc_count(self) -> int:
        return self._backend.cached(("doc_count",), lambda: sum(self._scatter("doc_count")))

    def doc_frequency(self, fieldname: str, text: bytes) -> int:
        key = ("doc_frequency", fieldname, text)
        return self._backend.cached(key, lambda: sum(self._scatter("doc_frequency", fieldname, text)))

    def lexicon(self, fieldname: str) -> Iterator[bytes]:
        return distinct(heapq.merge(*self._scatter("lexicon", fieldname)))

    def expand_prefix(self, fieldname: str, prefix: str) -> Iterator[bytes]:
        return distinct(heapq.merge(*self._scatter("expand_prefix", fieldname, prefix)))

    def terms_from(self, fieldname: str, prefix: bytes) -> Iterator[tuple[str, bytes]]:
        return distinct(heapq.merge(*self._scatter("terms_from", fieldname, prefix)))


def _schema():
    from .schema import SCHEMA

    return SCHEMA


def task_runner(address: str):
    """A ``sharded.Runner`` running each shard's commit as one Ray task on the cluster at ``address``."""

    def run(tasks: Sequence[ShardTask]) -> list[BuildReport]:
        connect(address)
        remote = ray.remote(num_cpus=1, max_retries=0)(commit_shard)
        refs = [remote.options(scheduling_strategy="SPREAD").remote(task) for task in tasks]
        reports = []
        for task, ref in zip(tasks, refs):
            try:
                reports.append(ray.get(ref))
            except ray.exceptions.RayTaskError as e:
                if isinstance(getattr(e, "cause", None), SearchkitError):
                    raise e.cause from None
                raise ShardError(f"{Path(task.path).name}: its build task failed: {_one_line(e)}") from None
            except ray.exceptions.RayError as e:
                raise ShardError(f"{Path(task.path).name}: its build task did not finish: {_one_line(e)}") from None
        return reports

    return run


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
