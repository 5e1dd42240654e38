"""The ``searchkit`` command's entry point, and ``searchkit query`` run without typer or click.

A one-shot query pays for every module it imports (typer and click about 30 ms, rich 15–30 ms, against a 0.10 s
budget). ``main`` parses a plain ``searchkit query TEXT [OPTIONS]`` itself, for the options of ``QUICK_OPTIONS``
each given at most once with a value it can take as it is, and runs it through ``run_query``, which answers plain
words from the index files (``direct``: no Whoosh searcher, no NumPy) and anything else through ``Index.search``,
importing rich only to print to a terminal. Anything else (another command, ``--help``, another option, ``-n5``, ``--``, a value that
is not a plain number) goes to the typer app in ``cli.py``, which parses and reports it as it always has, and
whose ``query`` command runs ``run_query`` too.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import direct, process, render
from .errors import (
    IndexIncompatible, IndexLocked, IndexNotFound, NothingToSearch, PassageNotFound, QueryError, SearchkitError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from .index import Index

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

QUICK_OPTIONS: dict[str, tuple[str, type]] = {
    "--index": ("index", Path), "-i": ("index", Path),
    "--limit": ("limit", int), "-n": ("limit", int),
    "--offset": ("offset", int),
    "--source": ("source", str),
    "--place": ("place", str),
    "--since": ("since", str),
    "--until": ("until", str),
    "--today": ("today", str),
    "--speaker": ("speaker", str),
    "--sort": ("sort", str),
    "--aliases": ("aliases", Path),
    "--per-article": ("per_article", bool),
    "--expand": ("expand", bool),
    "--no-aliases": ("no_aliases", bool),
    "--collapse": ("collapse", bool),
    "--json": ("json", bool),
}
"""The options of ``searchkit query`` that ``main`` parses itself: option → (keyword of ``run_query``, type);
``bool`` for a flag. Each is an option of the typer command of the same name (``tests/test_oneshot.py``)."""
QUERY_DEFAULTS: dict[str, Any] = {
    "index": None, "limit": 10, "offset": 0, "source": None, "place": None, "since": None, "until": None,
    "today": None, "speaker": None, "sort": "score", "per_article": False, "expand": False, "aliases": None,
    "no_aliases": False, "facets": False, "facet": None, "timeline": False, "timeline_by": None, "collapse": False,
    "json": False, "ray": None,
}
"""``run_query``'s keywords with the typer command's defaults (``tests/test_oneshot.py`` compares them)."""
_PLAIN_NUMBER = re.compile(r"[0-9]{1,18}")


def main() -> None:
    """``searchkit``: a plain query run here, anything else by the typer app."""
    given = quick_query(sys.argv[1:])
    if given is None:
        from .cli import app

        app()
    else:
        process.run(lambda: sys.exit(run_query(**given)))


def quick_query(args: list[str]) -> dict[str, Any] | None:
    """``run_query``'s keywords for ``searchkit query`` ``args``, or None where the typer app must parse them."""
    if len(args) < 2 or args[0] != "query":
        return None
    given: dict[str, Any] = {}
    text: str | None = None
    rest = iter(args[1:])
    for arg in rest:
        if not arg.startswith("-"):
            if text is not None:
                return None  # an extra argument: typer's error
            text = arg
            continue
        option, equals, value = arg.partition("=")
        if option not in QUICK_OPTIONS:
            return None
        name, kind = QUICK_OPTIONS[option]
        if name in given or (kind is bool and equals):
            return None
        if kind is bool:
            given[name] = True
            continue
        if not equals:
            value = next(rest, "")
        if not value or value.startswith("-") or (kind is int and not _PLAIN_NUMBER.fullmatch(value)):
            return None  # click says what is wrong with it
        given[name] = kind(value)
    if text is None:
        return None
    return {**QUERY_DEFAULTS, **given, "text": text}


def index_path(given: Path | None) -> Path:
    """The index a command reads: ``--index``, else ``$SEARCHKIT_INDEX``, else ``./index``."""
    return given or Path(os.environ.get("SEARCHKIT_INDEX") or DEFAULT_INDEX)


def open_index(given: Path | None, ray: str | None = None) -> Index:
    """Open the index; at the default location with none there yet, build it from ./seeds first."""
    from .index import Index  # Whoosh's searcher: not for a query ``direct`` answers

    path = index_path(given)
    if given is None and not Index.exists(path) and Path(DEFAULT_SEEDS).is_dir():
        process.say(render.visible(f"no index at {path}/ yet: building it from {DEFAULT_SEEDS}/ first"))
        Index.build([DEFAULT_SEEDS], path)
    return Index.open(path, ray=ray)


def exit_code(error: SearchkitError | OSError) -> int:
    """The exit code for this kind of error."""
    return next((c for cls, c in EXIT_CODES.items() if isinstance(error, cls)), EXIT_ERROR)


def run_query(
    text: str, *, index: Path | None, limit: int, offset: int, source: str | None, place: str | None,
    since: str | None, until: str | None, today: str | None, speaker: str | None, sort: str, per_article: bool,
    expand: bool, aliases: Path | None, no_aliases: bool, facets: bool, facet: list[str] | None, timeline: bool,
    timeline_by: str | None, collapse: bool, json: bool, ray: str | None,
) -> int:
    """``searchkit query``: search, print the hits (then facets, timeline, suggestion), return the exit code.
    Plain words without filters or options that change the ranking are answered by ``direct`` where it can, else
    (and always otherwise) by ``Index.search``."""
    try:
        day = None
        if today is not None:
            from .dates import parse_day  # here: plain words without --today read no date

            day = parse_day(today, "--today")
        if no_aliases and aliases is not None:
            raise QueryError("--aliases and --no-aliases contradict each other; give one")
        plain = not (source or place or since or until or speaker or per_article or expand or aliases or facets
                     or facet or timeline or timeline_by or collapse or ray) and sort == "score"
        hits = direct.search(index_path(index), text, limit=limit, offset=offset, aliases=not no_aliases) \
            if plain else None
        if hits is None:
            with open_index(index, ray=ray) as ix:
                hits = ix.search(
                    text, limit=limit, source=source, place=place, since=since, until=until, speaker=speaker,
                    sort=sort, per_article=per_article, expand=expand, today=day, offset=offset,
                    aliases=False if no_aliases else aliases or True, facets=facet or facets,
                    timeline=timeline_by or ("auto" if timeline else None), collapse=collapse,
                )
    except NothingToSearch as e:  # not malformed: nothing can match, as when nothing matched
        process.say(render.visible(f"note: {e}"))
        return EXIT_NO_MATCH
    except (SearchkitError, OSError) as e:
        process.say(render.visible(f"error: {e}"))
        return exit_code(e)
    for hit in hits:
        if json:
            _write(render.hit_json(hit))
        else:
            _show(lambda: render.hit_text(hit), lambda: render.hit_plain(hit))
    if hits.facets is not None and (json or hits):
        if json:
            _write(render.facets_json(hits.facets))
        else:
            _console().print(render.facets_text(hits.facets, hits.total or 0))
    if hits.timeline is not None and (json or hits):
        if json:
            _write(render.timeline_json(hits.timeline))
        else:
            _console().print(render.timeline_text(hits.timeline))
    if not hits:
        process.say("no passages matched")
    if hits.suggestion is not None:
        if json:
            _write(render.suggestion_json(hits.suggestion))
        else:
            process.say(render.suggestion_text(hits.suggestion))
    return EXIT_OK if hits else EXIT_NO_MATCH


def _write(line: str) -> None:
    """One line on stdout as it is (JSON, or text already made visible); tabs expanded as rich expands them."""
    sys.stdout.write(line.expandtabs(8) + "\n")
    sys.stdout.flush()  # as rich does after each print: stdout and stderr lines keep their order


def _show(styled: Callable[[], object], plain: Callable[[], str]) -> None:
    """``styled()`` printed by rich where stdout is a terminal (or rich is told to treat it as one), else
    ``plain()``, the same characters."""
    if _terminal(sys.stdout):
        _console().print(styled())
    else:
        _write(plain())


def _terminal(stream: object) -> bool:
    """Whether rich could style output to ``stream``: a terminal, or one forced by ``TTY_COMPATIBLE`` or
    ``FORCE_COLOR`` (rich then decides)."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return True
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


_consoles: list[Console] = []


def _console() -> Console:
    """The rich console on stdout (imported only for styled text, tables and bars)."""
    if not _consoles:
        from rich.console import Console

        _consoles.append(Console(highlight=False, soft_wrap=True))
    return _consoles[0]
