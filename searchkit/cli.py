"""The ``searchkit`` command: a thin typer layer over ``searchkit.Index``; flags map onto method kwargs.

Results go to stdout, messages and progress to stderr. Exit codes: 0 something matched (or indexed),
1 nothing matched, 2 usage error / bad query / missing or unreadable index, 3 indexed but inputs skipped;
128 + N ended by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP); a closed stdout pipe ends it by SIGPIPE.
"""

from __future__ import annotations

import codecs
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import render, store
from .check import check_index
from .dates import parse_day
from .errors import (
    IndexIncompatible, IndexLocked, IndexNotFound, NothingToSearch, PassageNotFound, QueryError, SearchkitError,
)
from .index import Index
from .version import __version__

EXIT_OK, EXIT_NO_MATCH, EXIT_ERROR, EXIT_SKIPPED = 0, 1, 2, 3
EXIT_CODES: dict[type[SearchkitError], int] = {
    PassageNotFound: EXIT_NO_MATCH,
    QueryError: EXIT_ERROR,
    IndexNotFound: EXIT_ERROR,
    IndexIncompatible: EXIT_ERROR,
    IndexLocked: EXIT_ERROR,
    SearchkitError: EXIT_ERROR,
}
DEFAULT_INDEX = "index"
DEFAULT_SEEDS = "seeds"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""Signals that end a command through ``_Interrupted`` (cleanup runs) instead of their default action."""


class _Interrupted(BaseException):
    """Raised by a signal of ``ENDING_SIGNALS``: a BaseException, so the library's cleanup (``finally``, the
    removal of an uncommitted generation) runs and nothing catches it as an error; exit 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)  # picklable: an indexing process hands it to the parent
        self.signum = signum


_received: list[int] = []
"""The signals received: one raised where Python ignores exceptions (an at-fork hook, a ``__del__``) is lost as
an exception, not as a signal."""


_armed: list[int] = []
"""The signals of ``ENDING_SIGNALS`` this process handles (not those it was started ignoring)."""
_fork_hooked: list[bool] = []


def _raise_interrupted(signum: int, frame: object) -> None:
    _received.append(signum)
    for ending in _armed:
        signal.signal(ending, signal.SIG_DFL)  # a second Ctrl-C ends the process at once (the commit is crash-safe)
    raise _Interrupted(signum)


def _unraisable(unraisable) -> None:
    """``sys.unraisablehook``: an ``_Interrupted`` raised where Python cannot propagate it (an at-fork hook as
    the indexing processes start, a ``__del__``) is raised again 50 ms later, by a timer, in the code running then
    (raised from here, it would land in the same place)."""
    if isinstance(unraisable.exc_value, _Interrupted) and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, _raise_again)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
    elif not isinstance(unraisable.exc_value, _Interrupted):
        sys.__unraisablehook__(unraisable)


def _forking() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, _armed)  # held until the child ignores them (pending: the parent's)


def _forked_in_parent() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _armed)


def _forked_in_child() -> None:
    # An indexing process leaves these signals to its parent, which kills it and removes what it wrote; raised
    # in the child outside its job, one would print multiprocessing's traceback.
    for ending in _armed:
        signal.signal(ending, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _armed)


def _raise_again(signum: int, frame: object) -> None:
    raise _Interrupted(_received[0])


def _cancel_raising_again() -> None:
    """Once an ``_Interrupted`` is being handled: a pending timer would raise another (or, at exit, kill)."""
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)


def _escape_unencodable(error: UnicodeError) -> tuple[str, int]:
    """What the output stream cannot encode, as JSON escapes (``\\u00e9``, astral characters as surrogate pairs):
    ``--json`` lines stay valid JSON on an ASCII stdout, and terminal text stays readable."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escaped = []
    for char in error.object[error.start:error.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped), error.end


codecs.register_error("searchkit-escape", _escape_unencodable)


class _App(typer.Typer):
    """The typer app, run the way Unix tools end: by a signal, or on a closed pipe, never with a traceback."""

    def __call__(self, *args, **kwargs):
        if hasattr(signal, "SIGPIPE"):
            # A closed stdout (``| head``) ends the process as it ends ``cat``: no BrokenPipeError, and never
            # exit 1, which means "nothing matched".
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        for stream in (sys.stdout, sys.stderr):
            if hasattr(stream, "reconfigure"):  # None where started with the descriptor closed
                # An article's text (or a lone surrogate) that an ASCII or Latin-1 stdout cannot encode.
                stream.reconfigure(errors="searchkit-escape")
        handled = threading.current_thread() is threading.main_thread()
        previous = {s: signal.getsignal(s) for s in ENDING_SIGNALS} if handled else {}
        _armed[:] = [s for s, handler in previous.items() if handler is not signal.SIG_IGN]  # nohup: stays ignored
        for ending in _armed:
            signal.signal(ending, _raise_interrupted)
        if _armed and hasattr(signal, "pthread_sigmask") and not _fork_hooked:
            os.register_at_fork(before=_forking, after_in_parent=_forked_in_parent, after_in_child=_forked_in_child)
            _fork_hooked.append(True)
        unraisable_hook, sys.unraisablehook = sys.unraisablehook, _unraisable
        try:
            return super().__call__(*args, **kwargs)
        except _Interrupted as e:
            _cancel_raising_again()
            _say(f"interrupted ({signal.Signals(e.signum).name})")
            sys.exit(128 + e.signum)
        except SystemExit as e:
            code = e.code or 0
            if _received and isinstance(code, int) and code < 128:  # the signal's exception was swallowed
                _say(f"interrupted ({signal.Signals(_received[0]).name})")
                sys.exit(128 + _received[0])
            raise
        finally:
            _cancel_raising_again()
            sys.unraisablehook = unraisable_hook
            for ending, handler in previous.items():
                signal.signal(ending, handler)


def _say(line: str) -> None:
    """One line on stderr (it may quote a path), if stderr is still there (a hung-up terminal is gone)."""
    try:
        stderr.print(render.message(line), soft_wrap=True)
    except OSError:
        pass


app = _App(
    help="Passage-level full-text search for news archives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # usage errors as click prints them: "Error: <one line>", no box drawing
)
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False)

IndexOption = typer.Option(
    None, "--index", "-i", help=f"Index directory [default: $SEARCHKIT_INDEX or ./{DEFAULT_INDEX}]", show_default=False
)


RayOption = typer.Option(
    None, "--ray", metavar="ADDRESS",
    help="A sharded index on Ray: local (a Ray instance for this command), auto, or a cluster's address.",
)


def _fail(error: SearchkitError | OSError) -> typer.Exit:
    """Print ``error: <one line>`` on stderr; the exit code for this kind of error."""
    code = next((c for cls, c in EXIT_CODES.items() if isinstance(error, cls)), EXIT_ERROR)
    stderr.print(render.message(f"error: {error}"), soft_wrap=True)
    return typer.Exit(code)


def _index_path(given: Optional[Path]) -> Path:
    return given or Path(os.environ.get("SEARCHKIT_INDEX") or DEFAULT_INDEX)


def _open(given: Optional[Path], ray: Optional[str] = None) -> Index:
    """Open the index; at the default location with none there yet, build it from ./seeds first."""
    path = _index_path(given)
    if given is None and not Index.exists(path) and Path(DEFAULT_SEEDS).is_dir():
        stderr.print(render.message(f"no index at {path}/ yet: building it from {DEFAULT_SEEDS}/ first"))
        Index.build([DEFAULT_SEEDS], path)
    return Index.open(path, ray=ray)


def _version_callback(value: bool) -> None:
    if value:
        stdout.print(f"searchkit {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version."),
) -> None:
    """Index news articles into dated passages and search them with ranked, highlighted results."""


@app.command("index")
def index_command(
    paths: list[Path] = typer.Argument(..., help="Article files and folders (searched recursively)."),
    index: Optional[Path] = IndexOption,
    rebuild: bool = typer.Option(False, "--rebuild", help="Build a new index instead of updating the existing one."),
    prune: bool = typer.Option(False, "--prune", help="Remove indexed files that are no longer among PATHS."),
    wait: float = typer.Option(0.0, "--wait", metavar="SECONDS", help="Wait this long for another writer to finish."),
    shards: Optional[int] = typer.Option(
        None, "--shards", min=1, help="Build a sharded index of N shards (each article in the shard its id hashes to)."
    ),
    ray: Optional[str] = RayOption,
) -> None:
    """Build or update an index from article files (plain text or JSON Lines)."""
    path = _index_path(index)
    live_before = _live_generation(path)
    if not wait >= 0:  # also NaN, which would wait for ever on a held lock
        stderr.print(f"error: --wait must be a number of seconds, 0 or more; got {wait}", markup=False)
        raise typer.Exit(EXIT_ERROR)
    if not any(p.exists() for p in paths):
        stderr.print(render.message(f"error: no such file or directory: {', '.join(map(str, paths))}"))
        raise typer.Exit(EXIT_ERROR)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # index only

    try:
        with Progress(
            TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}", markup=False), console=stderr, transient=True,
            disable=not stderr.is_terminal,  # piped: no bar, and no blank line where it was
        ) as bar:
            task = bar.add_task("", total=None)

            def progress(done: int, total: int, current: str) -> None:
                name = render.visible(Path(current).name) if current else ""
                bar.update(task, completed=done, total=total, description=name)

            if rebuild or shards is not None or not Index.exists(path):
                report = Index.build(paths, path, progress=progress, wait=wait, shards=shards, ray=ray)
            else:
                with Index.open(path, ray=ray) as ix:
                    report = ix.update(paths, prune=prune, progress=progress, wait=wait)
    except (SearchkitError, OSError) as e:
        raise _fail(e) from None
    except _Interrupted as e:
        raise _index_interrupted(e.signum, path, live_before) from None
    if _received:
        raise _index_interrupted(_received[0], path, live_before)
    stderr.print(render.report_text(report, path))
    raise typer.Exit(EXIT_SKIPPED if report.skipped else EXIT_OK)


def _index_interrupted(signum: int, path: Path, live_before: str | None) -> typer.Exit:
    """Say whether the interrupted run committed; exit 128 + the signal."""
    _cancel_raising_again()
    # CURRENT is replaced atomically: whichever generation it names now is the whole truth.
    if _live_generation(path) != live_before:
        outcome = f"the commit had completed: the index at {path} holds this run"
    elif live_before is None:
        outcome = f"nothing was committed, there is no index at {path}"
    else:
        outcome = f"nothing was committed, the index at {path} is as it was"
    _say(f"interrupted ({signal.Signals(signum).name}): {outcome}")
    return typer.Exit(128 + signum)


def _live_generation(path: Path) -> str | None:
    """The generation ``CURRENT`` names at ``path``, or None where there is no readable index."""
    try:
        return store.current_generation(path)[0] if store.is_store(path) else None
    except (SearchkitError, OSError):
        return None


@app.command()
def query(
    text: str = typer.Argument(..., help='Query: words, "phrases", AND/OR/NOT, field:value, date:[A TO B].'),
    index: Optional[Path] = IndexOption,
    limit: int = typer.Option(10, "--limit", "-n", help="How many hits to show."),
    offset: int = typer.Option(0, "--offset", help="Skip this many of the best hits first (the next page)."),
    source: Optional[str] = typer.Option(None, help="Only passages from this source (agency)."),
    place: Optional[str] = typer.Option(None, help="Only passages with this dateline place."),
    since: Optional[str] = typer.Option(
        None, help='Only passages dated on or after this: 2019, 2019-03, "March 2019", 2019-03-05, "last week", '
        '"past 3 days", yesterday... (a month or year: from its first day).'
    ),
    until: Optional[str] = typer.Option(
        None, help="Only passages dated on or before this (a date phrase as --since; a month or year: to its last day)."
    ),
    today: Optional[str] = typer.Option(
        None, help="The day relative dates count from, YYYY-MM-DD (default: today), for reproducible runs."
    ),
    speaker: Optional[str] = typer.Option(None, help="Only passages spoken by this speaker (transcripts)."),
    sort: str = typer.Option("score", help="Order: score (best first) or date (newest first)."),
    per_article: bool = typer.Option(
        False, "--per-article", help="One hit per article (its best passage), articles ranked as whole stories."
    ),
    expand: bool = typer.Option(
        False, "--expand", help="Add words of the top hits to the query and search again (pseudo-relevance feedback)."
    ),
    aliases: Optional[Path] = typer.Option(
        None, "--aliases", help="A CSV file of place names adding to the packaged table (see README, Places)."
    ),
    no_aliases: bool = typer.Option(
        False, "--no-aliases", help="Match places and words only by the names written, not by a place's other names."
    ),
    facets: bool = typer.Option(
        False, "--facets", help="After the hits, every match counted by source, place, speaker and tags."
    ),
    facet: Optional[list[str]] = typer.Option(
        None, "--facet", metavar="FIELD", help="Count by this field only (source, place, speaker or tags; repeatable)."
    ),
    timeline: bool = typer.Option(
        False, "--timeline", help="After the hits, a bar chart of every match per month (within 3 years) or year."
    ),
    timeline_by: Optional[str] = typer.Option(
        None, "--timeline-by", metavar="PERIOD", help="The timeline's period: month or year (implies --timeline)."
    ),
    collapse: bool = typer.Option(
        False, "--collapse", help="One hit per story: copies of one agency story (other outlets) listed under it."
    ),
    json: bool = typer.Option(
        False, "--json", help="One JSON object per hit per line; then one each for the facets, the timeline and a "
        "suggestion (did you mean), when there are."
    ),
    ray: Optional[str] = RayOption,
) -> None:
    """Search the index: ranked passages with highlighted matches; "did you mean" for rare or absent words."""
    try:
        day = None if today is None else parse_day(today, "--today")
        if no_aliases and aliases is not None:
            raise QueryError("--aliases and --no-aliases contradict each other; give one")
        with _open(index, ray=ray) as ix:
            hits = ix.search(
                text, limit=limit, source=source, place=place, since=since, until=until, speaker=speaker, sort=sort,
                per_article=per_article, expand=expand, today=day, offset=offset,
                aliases=False if no_aliases else aliases or True,
                facets=facet or facets, timeline=timeline_by or ("auto" if timeline else None), collapse=collapse,
            )
    except NothingToSearch as e:  # not malformed: nothing can match, as when nothing matched
        stderr.print(f"note: {e}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_NO_MATCH) from None
    except (SearchkitError, OSError) as e:
        raise _fail(e) from None
    for hit in hits:
        if json:
            stdout.out(render.hit_json(hit), highlight=False)
        else:
            stdout.print(render.hit_text(hit))
    if hits.facets is not None and (json or hits):
        if json:
            stdout.out(render.facets_json(hits.facets), highlight=False)
        else:
            stdout.print(render.facets_text(hits.facets, hits.total or 0))
    if hits.timeline is not None and (json or hits):
        if json:
            stdout.out(render.timeline_json(hits.timeline), highlight=False)
        else:
            stdout.print(render.timeline_text(hits.timeline))
    if not hits:
        stderr.print("no passages matched", markup=False)
    if hits.suggestion is not None:
        if json:
            stdout.out(render.suggestion_json(hits.suggestion), highlight=False)
        else:
            stderr.print(render.suggestion_text(hits.suggestion), soft_wrap=True)
    raise typer.Exit(EXIT_OK if hits else EXIT_NO_MATCH)


@app.command()
def show(
    passage_id: str = typer.Argument(..., help="A passage id, as printed by query."),
    index: Optional[Path] = IndexOption,
    json: bool = typer.Option(False, "--json", help="The passage and its neighbours as one JSON object."),
) -> None:
    """Print a whole passage with its metadata and its neighbours in the article."""
    try:
        with _open(index) as ix:
            passage = ix.get(passage_id)
            neighbours = ix.neighbours(passage_id)
    except (SearchkitError, OSError) as e:
        raise _fail(e) from None
    if json:
        stdout.out(render.passage_json(passage, neighbours), highlight=False)
    else:
        stdout.print(render.passage_text(passage, neighbours))


@app.command()
def stats(
    index: Optional[Path] = IndexOption,
    json: bool = typer.Option(False, "--json", help="The stats as one JSON object: every source and place, "
                              "and the manifest."),
) -> None:
    """Print a summary of the index: counts, date range, largest sources and places, size, what built it."""
    try:
        with _open(index) as ix:
            result = ix.stats()
    except (SearchkitError, OSError) as e:
        raise _fail(e) from None
    if json:
        stdout.out(render.stats_json(result), highlight=False)
    else:
        stdout.print(render.stats_table(result))


@app.command()
def check(index: Optional[Path] = IndexOption) -> None:
    """Verify the index against its manifest and source files; exit 2 naming each problem found."""
    try:
        result = check_index(_index_path(index))
    except (SearchkitError, OSError) as e:
        raise _fail(e) from None
    for note in result.notes:
        stderr.print(render.message(f"note: {note}"), soft_wrap=True)
    if not result.ok:
        for problem in result.problems:
            stderr.print(render.message(f"error: {problem}"), soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    stderr.print(render.message(
        f"ok: {result.path} ({result.generation}): {result.passages} passages of {result.files} files match the "
        f"manifest; spans checked against {result.sources_compared} source files"
    ), soft_wrap=True)


@app.command()
def serve(
    index: Optional[Path] = IndexOption,
    host: str = typer.Option("127.0.0.1", help="Address to listen on (another than loopback: anyone who can reach "
                             "it can search the index; there is no authentication)."),
    port: int = typer.Option(8765, help="Port to listen on."),
    ray: Optional[str] = RayOption,
) -> None:
    """Serve the index over HTTP: a JSON search API and a search page (needs: pip install 'searchkit[serve]')."""
    try:
        from .server import serve as serve_index  # Starlette and uvicorn: only this command imports them
    except ImportError as e:
        missing = (e.name or "").partition(".")[0]
        if missing not in ("starlette", "uvicorn"):
            raise
        stderr.print(f"error: searchkit serve needs {missing}: pip install 'searchkit[serve]'", markup=False)
        raise typer.Exit(EXIT_ERROR) from None

    if host not in LOOPBACK:
        _say(f"warning: serving on {host}, beyond this machine: there is no authentication, anyone who can reach "
             f"it can search the index")
    try:
        _open(index).close()  # the default location: built from ./seeds first, as for query
        serve_index(_index_path(index), host=host, port=port, ray=ray)
    except (SearchkitError, OSError) as e:
        raise _fail(e) from None


@app.command("eval")
def eval_command(
    collection: str = typer.Argument(
        ..., help="A test collection: its name under ../shared/data (cranfield, cisi, cacm, medline, time, npl, "
        "lisa, adi) or its folder."
    ),
    metrics: Optional[list[str]] = typer.Option(
        None, "--metrics", "-m", show_default=False,
        help="ir-measures names; repeat the option or separate with commas [default: nDCG@10,AP,P@10,R@100,RR].",
    ),
    run: Optional[Path] = typer.Option(None, "--run", help="Also write the ranking here as a TREC run file."),
    expand: bool = typer.Option(False, "--expand", help="Expand every query by pseudo-relevance feedback."),
    json: bool = typer.Option(False, "--json", help="One JSON object: collection, queries, metrics."),
) -> None:
    """Index a test collection into a temporary index, run its queries, and report ranking quality."""
    from .collections import find_collection, read_collection  # ir-measures: only this command pays for it
    from .evaluate import MEASURES, evaluate

    measures = [m.strip() for option in metrics or () for m in option.split(",") if m.strip()] or MEASURES
    try:
        result = evaluate(read_collection(find_collection(collection)), measures=measures, run_file=run, expand=expand)
    except (SearchkitError, OSError) as e:
        raise _fail(e) from None
    if json:
        stdout.out(render.evaluation_json(result), highlight=False)
    else:
        stdout.print(render.evaluation_table(result))
