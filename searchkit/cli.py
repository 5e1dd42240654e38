"""The ``searchkit`` command: a thin typer layer over ``searchkit.Index``; flags map onto method kwargs.

Results go to stdout, messages and progress to stderr. Exit codes: 0 something matched (or indexed),
1 nothing matched, 2 usage error / bad query / missing or unreadable index, 3 indexed but inputs skipped;
128 + N ended by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP); a closed stdout pipe ends it by SIGPIPE.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from . import process, render, store
from .check import check_index
from .errors import SearchkitError
from .index import Index
from .oneshot import DEFAULT_INDEX, EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, exit_code, index_path, open_index, run_query
from .process import Interrupted, cancel_raising_again, received
from .version import installed_version

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _App(typer.Typer):
    """The typer app, run as ``process.run`` runs a command: ended by a signal or a closed pipe, never with a
    traceback."""

    def __call__(self, *args, **kwargs):
        return process.run(lambda: super(_App, self).__call__(*args, **kwargs))


def _say(line: str) -> None:
    """One line on stderr (it may quote a path), if stderr is still there (a hung-up terminal is gone)."""
    process.say(render.visible(line))


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
    stderr.print(render.message(f"error: {error}"), soft_wrap=True)
    return typer.Exit(exit_code(error))


def _version_callback(value: bool) -> None:
    if value:
        stdout.print(f"searchkit {installed_version()}", markup=False)
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
    path = index_path(index)
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
    except Interrupted as e:
        raise _index_interrupted(e.signum, path, live_before) from None
    if received:
        raise _index_interrupted(received[0], path, live_before)
    stderr.print(render.report_text(report, path))
    raise typer.Exit(EXIT_SKIPPED if report.skipped else EXIT_OK)


def _index_interrupted(signum: int, path: Path, live_before: str | None) -> typer.Exit:
    """Say whether the interrupted run committed; exit 128 + the signal."""
    cancel_raising_again()
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
    raise typer.Exit(run_query(
        text, index=index, limit=limit, offset=offset, source=source, place=place, since=since, until=until,
        today=today, speaker=speaker, sort=sort, per_article=per_article, expand=expand, aliases=aliases,
        no_aliases=no_aliases, facets=facets, facet=facet, timeline=timeline, timeline_by=timeline_by,
        collapse=collapse, json=json, ray=ray,
    ))


@app.command()
def show(
    passage_id: str = typer.Argument(..., help="A passage id, as printed by query."),
    index: Optional[Path] = IndexOption,
    json: bool = typer.Option(False, "--json", help="The passage and its neighbours as one JSON object."),
) -> None:
    """Print a whole passage with its metadata and its neighbours in the article."""
    try:
        with open_index(index) as ix:
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
        with open_index(index) as ix:
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
        result = check_index(index_path(index))
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
        open_index(index).close()  # the default location: built from ./seeds first, as for query
        serve_index(index_path(index), host=host, port=port, ray=ray)
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
