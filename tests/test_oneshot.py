"""The one-shot query path (``oneshot.py``): what a ``searchkit query`` process imports, and that the quick
parser and the typer app run a query alike.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from searchkit import Index, render
from searchkit.oneshot import QUERY_DEFAULTS, QUICK_OPTIONS, quick_query

NEVER_IMPORTED_BY_A_QUERY = {
    "nltk": "Punkt: only a build splits sentences (and `import nltk` pulls in scipy.stats where scipy is installed)",
    "scipy": "imported by nltk",
    "typer": "the typer app: a plain query is parsed by oneshot.py",
    "click": "typer's parser",
    "rich": "rich prints to a terminal only; piped hits and JSON lines are plain text",
    "rapidfuzz": "did you mean: only for a rare or absent word",
    "rensa": "MinHash: only a build computes signatures",
    "numpy": "the top-k arrays: only for a query walking many postings (or sorted by date, or per article)",
    "urllib.request": "imported by whoosh.compat for a download helper (whooshcompat.py)",
    "http.client": "imported by urllib.request",
    "importlib.metadata": "the version: read only when printed or written",
    "multiprocessing": "the build's processes",
    "searchkit.build": "the writing code",
    "searchkit.cli": "the typer app",
    "searchkit.passages": "the build's passage splitter",
}
"""Module → why a one-shot query (or ``import searchkit``) must not import it: each costs the 0.10 s budget of a
one-shot query (issue 16, part 5) some milliseconds to more than a second."""
NEVER_IMPORTED_BY_PLAIN_WORDS = {
    "whoosh.index": "Whoosh's index and TOC: plain words are answered from the index files (direct.py)",
    "whoosh.searching": "Whoosh's searcher",
    "whoosh.query": "Whoosh's query language (85 modules with its parser: about 0.1 s)",
    "whoosh.qparser": "Whoosh's query parser",
    "whoosh.codec.whoosh3": "Whoosh's codec: the stored column is read by blockcolumn.py alone",
    "searchkit.index": "the library's Index: Whoosh's searcher",
    "searchkit.query": "the query parser (Whoosh's)",
    "searchkit.backend": "the ranking seam (imports searchkit.query)",
    "searchkit.topk": "the top-k arrays in NumPy",
    "searchkit.arrays": "NumPy",
    "searchkit.check": "check_index: imported by `import searchkit` until its exports became lazy",
    "searchkit.records": "the build's and stats' records: their dataclasses' methods compiled at import",
    "searchkit.dates": "date phrases: only for --today, filters and date: clauses",
    "hashlib": "OpenSSL's hashes: passage ids are made by a build",
    "shutil": "with bz2 and lzma: only a build copies and removes files",
    "html": "imported by whoosh.compat for escape (whooshcompat.py)",
    "queue": "imported by whoosh.compat for its multiprocess writer (whooshcompat.py)",
    "whoosh.fields": "the Whoosh schema (schema.SCHEMA): made when first asked for",
    "whoosh.lang.morph_en": "imported by whoosh.query.terms",
    "whoosh.lang.snowball.danish": "Snowball's other languages: the analyzer stems English alone (whooshcompat.py)",
    "whoosh.columns": "Whoosh's columns: blockcolumn.py reads the stored column without their base classes",
}
"""Module → why ``searchkit query`` of plain words (without filters, other sorts or ranking options) must not import
it, besides ``NEVER_IMPORTED_BY_A_QUERY``."""
IMPORTTIME = re.compile(r"import time:\s+\d+ \|\s+\d+ \| +(\S+)")


@pytest.fixture(scope="module")
def common_index(tmp_path_factory) -> Path:
    """Six articles that all hold "pipeline" (never rare: no "did you mean"), one a tab in its text."""
    folder = tmp_path_factory.mktemp("oneshot")
    lines = [
        json.dumps({
            "id": f"a{n}", "title": f"Pipeline report {n}", "date": f"2020-0{n + 1}-01", "source": "Reuters",
            "place": "Astana",
            "text": f"The pipeline across the steppe carried oil in month {n}.\tIts operator said the pipeline "
                    f"would grow.\n\nA second paragraph about the weather in Astana, number {n}.",
        })
        for n in range(6)
    ]
    (folder / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    Index.build([folder / "articles.jsonl"], folder / "index")
    return folder / "index"


def _imported(args: list[str], cwd: Path = REPO) -> set[str]:
    """The modules a ``python -X importtime ARGS`` process imports (stdout piped: not a terminal)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {m[1] for m in map(IMPORTTIME.match, proc.stderr.splitlines()) if m}


def _forbidden(modules: set[str], never: dict[str, str] = NEVER_IMPORTED_BY_A_QUERY) -> dict[str, str]:
    return {name: why for name, why in never.items() if any(m == name or m.startswith(name + ".") for m in modules)}


@pytest.mark.parametrize("options", [["--json"], [], ["-n", "3", "--offset", "1"], ["--no-aliases"]],
                         ids=["json", "plain", "options", "no-aliases"])
def test_a_query_of_plain_words_imports_only_what_it_needs(common_index, options):
    modules = _imported(["-m", "searchkit", "query", "pipeline operator", "--index", str(common_index), *options])
    assert "searchkit.direct" in modules and "searchkit.blockcolumn" in modules  # it did search
    assert _forbidden(modules) == {}
    assert _forbidden(modules, NEVER_IMPORTED_BY_PLAIN_WORDS) == {}


@pytest.mark.parametrize("options", [["--since", "2020"], ["--source", "Reuters", "--json"]], ids=["since", "source"])
def test_any_other_query_imports_only_what_it_needs(common_index, options):
    modules = _imported(["-m", "searchkit", "query", "pipeline", "--index", str(common_index), *options])
    assert "searchkit.index" in modules and "whoosh.searching" in modules  # it did search, through Index.search
    assert _forbidden(modules) == {}


def test_import_searchkit_is_lean():
    modules = _imported(["-c", "import searchkit; searchkit.Index"])
    assert _forbidden(modules) == {}
    assert "http.client" not in modules


def test_whoosh_compat_still_downloads_through_urllib(tmp_path):
    """After ``import searchkit`` no stand-in is left in ``sys.modules``, and Whoosh's ``urlretrieve``, ``htmlescape``
    and ``queue`` work."""
    source, target = tmp_path / "source.txt", tmp_path / "copy.txt"
    source.write_text("fetched")
    code = (
        "import sys, searchkit, whoosh.compat\n"
        "assert 'urllib.request' not in sys.modules\n"
        f"whoosh.compat.urlretrieve({source.as_uri()!r}, {str(target)!r})\n"
        "import urllib.request\n"
        "assert urllib.request.urlopen is not None and urllib.request.__file__\n"
        "assert 'html' not in sys.modules and 'queue' not in sys.modules\n"
        "assert whoosh.compat.htmlescape('<a>') == '&lt;a&gt;'\n"
        "import queue, whoosh.multiproc\n"
        "assert whoosh.compat.queue.Empty is queue.Empty and whoosh.multiproc.queue.Queue is queue.Queue\n"
        "assert 'whoosh.lang.snowball' not in sys.modules\n"
        "import whoosh.lang.snowball\n"
        "assert len(whoosh.lang.snowball.classes) == 14 and whoosh.lang.stemmer_for_language('fr')('chevaux')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == "fetched"


def _query_command():
    import typer.main

    from searchkit.cli import app

    return typer.main.get_command(app).commands["query"]  # type: ignore[attr-defined]


def test_the_quick_options_are_the_query_commands():
    params = {p.name: p for p in _query_command().params}
    for option, (name, kind) in QUICK_OPTIONS.items():
        assert option in params[name].opts, option
        assert params[name].is_flag == (kind is bool), option
    assert {name: p.default for name, p in params.items() if name != "text"} == QUERY_DEFAULTS


@pytest.mark.parametrize("args", [
    ["query"], ["query", "--help"], ["stats", "x"], ["query", "a", "b"], ["query", "-a"], ["query", "a", "--"],
    ["query", "a", "--limit", "-1"], ["query", "a", "--limit", "2x"], ["query", "a", "-n5"], ["query", "a", "--limit"],
    ["query", "a", "--json=yes"], ["query", "a", "-n", "1", "-n", "2"], ["query", "a", "--facets"],
    ["query", "a", "--ray", "local"], ["query", "a", "--source", ""],
])
def test_what_the_quick_parser_leaves_to_typer(args):
    assert quick_query(args) is None


def test_the_quick_parser_takes_options_as_typer_does():
    given = quick_query(["query", "--index=ix", "oil", "-n", "3", "--json", "--since", "2019 march"])
    assert given == {**QUERY_DEFAULTS, "text": "oil", "index": Path("ix"), "limit": 3, "json": True,
                     "since": "2019 march"}


CASES = [
    ["pipeline"], ["pipeline", "--json"], ["pipeline", "-n", "2", "--offset", "1"], ["pipeline", "--per-article"],
    ["pipeline", "--sort", "date", "--json"], ["weather Astana", "--collapse"], ["nothingmatchesthis"],
    ["the"], ["title:(", "--json"], ["pipeline", "--today", "2020-13-01"], ["pipeline", "--sort", "sideways"],
    ["pipelne"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a))
def test_quick_and_typer_paths_run_a_query_alike(common_index, args):
    """The same stdout, stderr and exit code from the one-shot path (``python -m searchkit``) and the typer app."""
    argv = ["query", *args, "--index", str(common_index)]
    quick = subprocess.run([sys.executable, "-m", "searchkit", *argv], capture_output=True, text=True, cwd=REPO)
    typer_app = subprocess.run([sys.executable, "-c", "from searchkit.cli import app; app()", *argv],
                               capture_output=True, text=True, cwd=REPO)
    assert (quick.returncode, quick.stdout, quick.stderr) == (typer_app.returncode, typer_app.stdout,
                                                              typer_app.stderr)
    assert quick.returncode in (0, 1, 2) and "Traceback" not in quick.stderr


def test_a_missing_index_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "searchkit", "query", "oil", "--index", str(tmp_path / "none")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_plain_hits_are_what_rich_prints_when_piped(common_index):
    from rich.console import Console

    with Index.open(common_index) as ix:
        hits = ix.search("pipeline operator", limit=6)
    assert hits and any("\t" in render.hit_plain(hit) for hit in hits)
    for hit in hits:
        out = io.StringIO()
        Console(file=out, highlight=False, soft_wrap=True, width=40).print(render.hit_text(hit))
        assert out.getvalue() == render.hit_plain(hit).expandtabs(8) + "\n"
