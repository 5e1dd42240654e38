"""The index directory on disk: immutable generations switched by an atomic pointer, and the locks around them.

Whoosh commits by renaming a new TOC into place and then deletes the files the old TOC named; the manifest is
a separate file, and nothing is fsynced. So a searchkit index keeps each commit in its own directory::

    index/CURRENT        names the live generation and its manifest's CRC-32; replaced atomically, last step of a commit
    index/writer.lock    locked by the one writer (a POSIX lock); holds its pid, host and start time
    index/gen-000007/    Whoosh segments + manifest.json + punkt.json + reader.lock (shared-locked by readers)

A writer hard-links the live generation's files into a new directory, lets Whoosh commit there, writes the
manifest (with each file's size and CRC-32), fsyncs, and replaces ``CURRENT``. A crash at any point before that
replace leaves the previous generation live; the leftover directory is removed by the next writer. Old
generations are removed once no reader holds their ``reader.lock``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pickle
import re
import signal
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from stat import S_ISREG

from .errors import IndexCorrupt, IndexLocked, IndexUntrusted, IndexWriteError, SearchkitError

__all__ = [
    "CURRENT",
    "WRITER_LOCK",
    "READER_LOCK",
    "is_store",
    "is_older_layout",
    "can_hold_store",
    "current_generation",
    "read_manifest",
    "ReaderLease",
    "write_lock",
    "new_generation",
    "publish",
    "collect_garbage",
    "file_checksums",
    "verify_files",
    "damage_is_corruption",
    "full_disk_is_write_error",
]

CURRENT = "CURRENT"
WRITER_LOCK = "writer.lock"
READER_LOCK = "reader.lock"
_GENERATION = re.compile(r"gen-(\d{6,})")
MANIFEST = "manifest.json"
_OLDER_LAYOUT = re.compile(r"punkt\.json|\.manifest\.json\.tmp|topk|\.topk\.tmp|_?MAIN_.+")
"""Entries of an older-layout index besides its manifest: removed once a generation replaced it."""
_NOT_LINKED = frozenset({READER_LOCK, MANIFEST})
"""Files of the live generation that a new generation does not share (its own lock; a manifest it rewrites)."""
_LOCK_POLL_SECONDS = 0.1


def is_store(path: Path) -> bool:
    """Whether ``path`` holds a generational index (published at least once)."""
    return (path / CURRENT).is_file()


def is_older_layout(path: Path) -> bool:
    """Whether ``path`` holds an index of the layout before generations (its manifest beside Whoosh's files)."""
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("format") == "searchkit-index"
    except (OSError, ValueError, AttributeError):
        return False


def can_hold_store(path: Path) -> bool:
    """Whether a new generation may be written inside ``path``: absent, empty, only our own entries, or an
    index (of this layout or the older one)."""
    if not path.exists():
        return True
    if not path.is_dir():
        return False
    if is_store(path) or is_older_layout(path):
        return True
    ours = {CURRENT, WRITER_LOCK, f"{CURRENT}.tmp"}
    return all(name in ours or _GENERATION.fullmatch(name) for name in os.listdir(path))


def current_generation(path: Path) -> tuple[str, int]:
    """The name of the live generation and the CRC-32 of its manifest.

    Raises:
        IndexCorrupt: ``CURRENT`` is unreadable or names no generation directory.
    """
    try:
        name, crc = (path / CURRENT).read_text(encoding="ascii").split()
        manifest_crc = int(crc)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise IndexCorrupt(f"{path / CURRENT} is unreadable ({e}); {rebuild_hint(path)}") from None
    if not _GENERATION.fullmatch(name) or not (path / name).is_dir():
        raise IndexCorrupt(f"{path / CURRENT} names {name!r}, which is not a generation here; {rebuild_hint(path)}")
    return name, manifest_crc


def read_manifest(path: Path, generation: str, manifest_crc: int) -> dict:
    """The manifest of ``generation``, checked against the CRC-32 that ``CURRENT`` recorded.

    Raises:
        IndexCorrupt: the manifest is missing, damaged or not JSON.
    """
    file = path / generation / MANIFEST
    if file.exists() and not file.is_file():  # a named pipe would block the read for ever
        raise IndexCorrupt(f"{file} is not a regular file; {rebuild_hint(path)}")
    try:
        data = file.read_bytes()
    except OSError as e:
        raise IndexCorrupt(f"{file} is unreadable ({e.strerror or e}); {rebuild_hint(path)}") from None
    if zlib.crc32(data) != manifest_crc:
        raise IndexCorrupt(f"{file} fails its CRC-32 check (damaged); {rebuild_hint(path)}")
    try:
        return json.loads(data)
    except ValueError as e:
        raise IndexCorrupt(f"{file} is not JSON ({e}); {rebuild_hint(path)}") from None


def rebuild_hint(path: Path) -> str:
    """The one-line advice that ends every corruption message."""
    return f"rebuild it with: searchkit index PATH... --index {path} --rebuild"


class ReaderLease:
    """A shared lock on the live generation, so that no writer removes it while it is read.

    Opening resolves ``CURRENT`` and locks that generation; if a writer removed it in between, it tries again.
    With ``generation`` (and its manifest's CRC-32), that generation is locked instead (a shard generation that a
    sharded index's snapshot names); it is ``IndexCorrupt`` when it is gone.
    """

    def __init__(self, path: Path, generation: tuple[str, int] | None = None) -> None:
        self.path = path
        for _ in range(100):
            name, self.manifest_crc = generation or current_generation(path)
            self._fd = _open_lock_file(path / name / READER_LOCK, os.O_RDONLY)
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_SH)
                if (path / name / READER_LOCK).exists():
                    self.generation = name
                    return
                os.close(self._fd)
            elif (path / name).is_dir():  # no lock file to hold (read-only copy): read without one
                self.generation = name
                return
            if generation is not None:
                raise IndexCorrupt(f"generation {name} of {path} is gone; {rebuild_hint(path)}")
        raise IndexCorrupt(f"cannot settle on a generation of {path}: it changes faster than it can be opened")

    @property
    def directory(self) -> Path:
        return self.path / self.generation

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextmanager
def write_lock(path: Path, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the index's writer lock; waits up to ``wait`` seconds for another writer to finish.

    The lock is a POSIX record lock on ``writer.lock``: the kernel releases it when its holder exits or is
    killed, so a lock left by a dead process is taken over at once, and unlike ``flock`` it is not inherited by
    forked children (the indexing processes), which could outlive a killed holder. POSIX locks do not
    exclude two writers of one process, so this process's own writers are tracked in ``_HELD``. The file names
    the holder, for the error message.

    Raises:
        IndexLocked: another writer holds the lock (after waiting ``wait`` seconds).
    """
    path.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(path)
    fd = os.open(path / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while not _try_lock(fd, key):
            if time.monotonic() >= deadline:
                raise IndexLocked(_locked_message(path, fd, wait))
            time.sleep(_LOCK_POLL_SECONDS)
        import socket  # writers only: a search never takes this lock

        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            _HELD.discard(key)
            fcntl.lockf(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_HELD: set[str] = set()
"""Index paths whose writer lock this process holds."""


def _try_lock(fd: int, key: str) -> bool:
    if key in _HELD:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    _HELD.add(key)
    return True


@contextmanager
def forked_children_die_with_this_process() -> Iterator[None]:
    """Inside the block, a process forked by this one (the indexing processes) is killed when this one dies.

    Without it a SIGKILLed writer leaves its indexing processes blocked on their queue for ever. Linux only
    (``prctl(PR_SET_PDEATHSIG)``); elsewhere, and for processes forked outside the block, nothing changes.
    """
    global _FORK_HOOKED, _CHILDREN_DIE
    if not _FORK_HOOKED:
        import ctypes  # builds only: not imported by a search

        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            prctl = None
        if prctl is not None:
            os.register_at_fork(after_in_child=lambda: _CHILDREN_DIE and prctl(_PR_SET_PDEATHSIG, signal.SIGKILL))
        _FORK_HOOKED = True
    _CHILDREN_DIE = True
    try:
        yield
    finally:
        _CHILDREN_DIE = False


_PR_SET_PDEATHSIG = 1
_FORK_HOOKED = _CHILDREN_DIE = False


def new_generation(path: Path, base: str | None) -> Path:
    """Create the next generation directory; with ``base``, it starts as hard links to that generation's files."""
    import shutil  # writing only: with bz2 and lzma it takes a one-shot query a few milliseconds
    numbers = [int(m[1]) for m in map(_GENERATION.fullmatch, os.listdir(path)) if m]
    target = path / f"gen-{max(numbers, default=0) + 1:06d}"
    target.mkdir()
    if base is not None:
        for entry in os.scandir(path / base):
            if entry.is_file() and entry.name not in _NOT_LINKED:
                try:
                    os.link(entry.path, target / entry.name)
                except OSError:  # no hard links on this filesystem: copy
                    shutil.copy2(entry.path, target / entry.name)
    (target / READER_LOCK).touch()
    return target


def publish(path: Path, generation: Path) -> None:
    """Make ``generation`` live: fsync its files, then atomically replace ``CURRENT`` (the commit point)."""
    for folder, _, files in os.walk(generation):
        for name in files:
            _fsync(os.path.join(folder, name))
        _fsync(folder)
    tmp = path / f"{CURRENT}.tmp"
    manifest_crc = _crc32(generation / MANIFEST)
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{generation.name} {manifest_crc}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path / CURRENT)
    _fsync(path)


def collect_garbage(path: Path, keep: frozenset[str] = frozenset()) -> list[str]:
    """Remove every generation but the live one (and those in ``keep``) that no reader holds, and the files of an
    older-layout index this one replaced (call with the writer lock held)."""
    import shutil  # writing only: with bz2 and lzma it takes a one-shot query a few milliseconds
    live = current_generation(path)[0] if is_store(path) else None
    removed = []
    for name in sorted(os.listdir(path)):
        if name == live or name in keep or not _GENERATION.fullmatch(name):
            continue
        fd = _open_lock_file(path / name / READER_LOCK, os.O_RDONLY)
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if fd is not None:
                os.close(fd)
            continue  # a reader still has it open
        try:
            trash = path / f".trash-{name}"
            os.replace(path / name, trash)
            (trash / READER_LOCK).unlink(missing_ok=True)  # a reader that locked it late sees it is gone
        finally:
            if fd is not None:
                os.close(fd)
        shutil.rmtree(trash, ignore_errors=True)
        removed.append(name)
    for name in os.listdir(path):
        if name.startswith(".trash-"):
            shutil.rmtree(path / name, ignore_errors=True)
    if live is not None and is_older_layout(path):
        for name in os.listdir(path):
            if _OLDER_LAYOUT.fullmatch(name) and (path / name).is_dir():
                shutil.rmtree(path / name)
            elif _OLDER_LAYOUT.fullmatch(name):
                (path / name).unlink()
        (path / MANIFEST).unlink()  # last: until then, the next writer knows there is more to remove
    return removed


def file_checksums(directory: Path, known: dict[str, dict] | None = None) -> dict[str, dict]:
    """``{relative path: {"size", "mtime_ns", "crc32"}}`` of the index files in ``directory`` and its folders.

    A file hard-linked from the previous generation, unchanged since, keeps its ``known`` entry: linked files
    are never rewritten.
    """
    known = known or {}
    sums: dict[str, dict] = {}
    for folder, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            file = Path(folder, name)
            relative = file.relative_to(directory).as_posix()
            if name.startswith(".") or relative in (READER_LOCK, MANIFEST) or name.endswith("LOCK"):
                continue
            stat = file.stat()
            previous = known.get(relative)
            linked = previous is not None and previous.get("mtime_ns") == stat.st_mtime_ns and stat.st_nlink > 1
            sums[relative] = previous if previous is not None and linked else {
                "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "crc32": _crc32(file)
            }
    return sums


def verify_files(directory: Path, expected: dict[str, dict], *, checksums: bool) -> list[str]:
    """Problems with the files of a generation: missing, wrong size, or wrong CRC-32.

    Without ``checksums`` (a read of the whole index), the CRC-32 is checked only where it is cheap or needed:
    for the files read whole at open (Whoosh's TOC, the Punkt model), and for every file whose size or
    modification time differs from the manifest's, i.e. written to since its commit (one ``stat`` a file).
    """
    problems = []
    for name, want in sorted(expected.items()):
        file = directory / name
        try:
            stat = file.stat()
        except OSError:
            problems.append(f"{name} is missing")
            continue
        if not S_ISREG(stat.st_mode):  # a named pipe would block the read for ever
            problems.append(f"{name} is not a regular file")
            continue
        if stat.st_size != want["size"]:
            problems.append(
                f"{name} is {stat.st_size} bytes, the manifest says {want['size']} (truncated or overwritten)"
            )
            continue
        touched = stat.st_mtime_ns != want.get("mtime_ns")
        if (checksums or touched or name.endswith(".toc") or name == "punkt.json") and _crc32(file) != want["crc32"]:
            problems.append(f"{name} fails its CRC-32 check (its content changed since it was written)")
    return problems


DECODING_ERRORS = (
    zlib.error, struct.error, EOFError, pickle.UnpicklingError, UnicodeDecodeError, ValueError, KeyError, IndexError,
    OSError,
)
"""What decoding damaged segment data raises (Whoosh's readers also raise their ``FileFormatError`` for a file's
header: ``damage_is_corruption``)."""


@contextmanager
def damage_is_corruption(path: Path) -> Iterator[None]:
    """Report Whoosh's decoding errors inside the block as ``IndexCorrupt`` (searchkit's own errors pass; an
    ``IndexUntrusted`` gains the index's path)."""
    from whoosh.filedb.filetables import FileFormatError  # here: a one-shot query (``direct``) reads no Whoosh file

    try:
        yield
    except IndexUntrusted as e:
        raise e if e.path is not None else IndexUntrusted(e.reason, str(path)) from None
    except (*DECODING_ERRORS, FileFormatError) as e:
        if isinstance(e, SearchkitError):
            raise
        raise IndexCorrupt(
            f"index at {path} could not be read ({type(e).__name__}: {' '.join(str(e).split())}); "
            f"see searchkit check --index {path}, then {rebuild_hint(path)}"
        ) from None


_FULL = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file size limit reached"}
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")
"""NumPy's message for a short write (no errno): what a full disk looks like to ``np.save``."""


@contextmanager
def full_disk_is_write_error(path: Path) -> Iterator[None]:
    """Report a full disk (or quota, or file size limit) met inside the block, in this process or an indexing
    process, as one ``IndexWriteError`` naming the index; other errors pass.

    Use it around a whole build or update: every write comes before the commit point (``publish``), and a
    failed commit leaves the previous generation live.
    """
    try:
        yield
    except OSError as e:
        reason = _FULL.get(e.errno) if e.errno is not None else "disk full" if _SHORT_WRITE.search(str(e)) else None
        if reason is None:
            raise
        raise IndexWriteError(
            f"{reason} writing the index at {path}: nothing was committed, the index is as it was; "
            f"free space and run again"
        ) from None


def _crc32(path: str | Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _open_lock_file(path: Path, flags: int) -> int | None:
    try:
        return os.open(path, flags | os.O_NONBLOCK)  # a named pipe put there must not block the open
    except (FileNotFoundError, PermissionError):
        return None


def _read_holder(fd: int) -> dict | None:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data.strip() else None
    except (OSError, ValueError):
        return None


def _locked_message(path: Path, fd: int, wait: float) -> str:
    holder = _read_holder(fd) or {}
    who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')} (since {holder.get('started', '?')})"
    waited = f" after waiting {wait:g}s" if wait else ""
    return f"the index at {path} is being written by {who}{waited}; retry later or pass --wait SECONDS"


def _fsync(path: str | Path) -> None:
    """Flush a file's (or a directory's entries') data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
