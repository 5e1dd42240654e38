"""Where the cold start of a one-shot ``searchkit query`` goes, step by step, against the tantivy one-shot script
and ``sqlite-utils search``.

    python benchmarks/startup.py --size 100000 --out DIR [--runs 15] [--reuse] [--baseline CHECKOUT]

Builds a searchkit and a tantivy index and an SQLite FTS5 table (sqlite-utils) of the same generated corpus
(``--reuse``: keeps those already in ``--work``), compiles the environment's bytecode (as ``latency.py`` does),
then times fresh processes, taking turns: the bare interpreter, each import the query path could pay for, the
tantivy one-shot script, ``sqlite-utils search`` and ``searchkit query`` itself, run by the console script that
pyproject.toml declares (written as pip writes it, so that a stale install does not change what is timed). Each
step has its wall time and CPU time (user + system, of the process and its children); ``searchkit query`` is
judged against issue 16's target (a median of at most 0.10 s) and compared with both peers. A second table
attributes the ``searchkit query`` process's imports (``-X importtime``) to top-level packages. With
``--baseline``, another checkout's ``searchkit query`` (its own console script, that checkout first on
``PYTHONPATH``) is timed among the steps and its imports are attributed too: before and after in one run. Writes
``DIR/startup.json``; prints the tables.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpora  # noqa: E402
from engines import ENGINES  # noqa: E402
from latency import COLD_QUERY, _cold_env, _compile_bytecode, _log, _machine, build_index  # noqa: E402
from serve import fts_database  # noqa: E402

REFERENCE = "tantivy one-shot script"
SQLITE_UTILS = "sqlite-utils search"
QUERY_STEP = "searchkit query"
BASELINE_STEP = "searchkit query, --baseline checkout"
TARGET_S = 0.10  # issue 16, part 5: a one-shot `searchkit query` on a 100k index within 0.10 s, bytecode compiled
IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")
SHOWN_PACKAGES = 15
METHOD = (
    "median and minimum wall time, and median CPU time (user + system, with children, from wait4), of {runs} fresh "
    "processes per step (after one untimed run of each), the steps taking turns; `python -P -c` for the import "
    "steps (so the working directory is not on sys.path, as for an installed command); bytecode compiled first "
    "unless bytecode_compiled is false. Import breakdown: PYTHONPROFILEIMPORTTIME=1 on the same `searchkit query` "
    "command (and the baseline's, taking turns), {runs} runs, median per package: "
    "self = time in the package's own modules, cumulative = its outermost imports including what they import "
    "from other packages"
)


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    corpus = corpora.generated(args.size)
    work = Path(args.work) / corpus.name
    indexes = {name: work / name for name in ("searchkit", "tantivy")}
    for name, index_dir in indexes.items():
        if not (args.reuse and index_dir.is_dir()):
            build_index(name, corpus, index_dir)
    if not args.reuse:
        (work / "passages.db").unlink(missing_ok=True)
    database = fts_database(corpus, work)
    if not args.no_compile:
        _compile_bytecode()
    query_command = [str(_console_script(corpora.REPO, work / "bin")), "query", COLD_QUERY, "--index",
                     str(indexes["searchkit"])]
    commands = {QUERY_STEP: query_command}
    if args.baseline:
        baseline = Path(args.baseline).resolve()
        if not args.no_compile:
            compileall.compile_dir(str(baseline / "searchkit"), quiet=2, workers=0)
        script = _console_script(baseline, work / "baseline-bin")
        commands[BASELINE_STEP] = ["env", f"PYTHONPATH={baseline}", str(script), "query", COLD_QUERY, "--index",
                                   str(indexes["searchkit"])]
    imports: dict[str, list] = {name: [] for name in commands}
    for _ in range(args.runs):  # taking turns, as the timed steps do
        for name, command in commands.items():
            imports[name].append(_import_times(command))
    imported = imports[QUERY_STEP]
    query_modules = {m for run in imported for m in run}
    steps = _steps(indexes, database, query_command, sorted(m for m in query_modules if m.split(".")[0] == "whoosh"))
    if args.baseline:
        steps.append(Step(BASELINE_STEP, commands[BASELINE_STEP]))
    _log(f"timing {len(steps)} steps, {args.runs} runs each")
    times = _timed_runs([step.command for step in steps], args.runs)
    ladder = _ladder(steps, times, query_modules)
    result = {
        "meta": _meta(args, corpus, load_before),
        "target": _target(ladder),
        "ladder": ladder,
        "imports": _by_package(imported),
    }
    if args.baseline:
        result["imports_baseline"] = _by_package(imports[BASELINE_STEP])
    (out / "startup.json").write_text(json.dumps(result, indent=1) + "\n")
    _print_tables(result)
    return result


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="passages in the generated corpus")
    parser.add_argument("--out", required=True, help="folder for startup.json")
    parser.add_argument("--runs", type=int, default=15, help="timed processes per step")
    parser.add_argument("--work", default=str(corpora.CACHE / "startup"), help="where the indexes are built")
    parser.add_argument("--no-compile", action="store_true", help="skip compiling bytecode before timing")
    parser.add_argument("--reuse", action="store_true", help="keep the indexes and the SQLite table already in --work")
    parser.add_argument("--baseline", help="another searchkit checkout whose `searchkit query` to time beside this one")
    return parser.parse_args(argv)


def _console_script(checkout: Path, folder: Path) -> Path:
    """The ``searchkit`` console script of ``checkout``'s pyproject.toml, as pip writes it, in ``folder``."""
    import tomllib

    entry = tomllib.loads((checkout / "pyproject.toml").read_text())["project"]["scripts"]["searchkit"]
    module, _, function = entry.partition(":")
    script = folder / "searchkit"
    folder.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {function}\n"
                      f"if __name__ == '__main__':\n    sys.exit({function}())\n")
    script.chmod(0o755)
    return script


def _timed_runs(commands: list[list[str]], runs: int) -> list[list[tuple[float, float]]]:
    """(wall, CPU) seconds of ``runs`` fresh processes of each command, after one untimed run of each; the
    commands take turns, so that a change in the machine's load falls on all of them alike. CPU: user + system
    of the process and its children (``wait4``)."""
    env = _cold_env()
    for command in commands:
        subprocess.run(command, capture_output=True, env=env, check=False)
    times: list[list[tuple[float, float]]] = [[] for _ in commands]
    for _ in range(runs):
        for command, timings in zip(commands, times):
            began = time.perf_counter()
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            stderr = proc.stderr.read() if proc.stderr else b""
            _, status, usage = os.wait4(proc.pid, 0)
            timings.append((time.perf_counter() - began, usage.ru_utime + usage.ru_stime))
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"failed: {shlex.join(command)}\n{stderr.decode(errors='replace')[-3000:]}")
    return times


@dataclass(frozen=True)
class Step:
    """A rung of the ladder: a command to time, and the modules it imports when it is an import step."""

    name: str
    command: list[str]
    imports: tuple[str, ...] = ()


def _steps(indexes: dict[str, Path], database: Path, query_command: list[str], whoosh_modules: list[str]) -> list[Step]:
    """The ladder, from the bare interpreter up to ``searchkit query``."""
    def importing(*modules: str, name: str | None = None) -> Step:
        code = f"import {', '.join(modules)}"
        return Step(name or code, [sys.executable, "-P", "-c", code], modules)

    return [
        Step("python -c pass", [sys.executable, "-P", "-c", "pass"]),
        importing("tantivy"),
        Step(REFERENCE, ENGINES["tantivy"].oneshot(indexes["tantivy"], COLD_QUERY)),
        Step(SQLITE_UTILS, [str(Path(sys.executable).with_name("sqlite-utils")), "search", str(database), "passages",
                            COLD_QUERY, "--limit", "10"]),
        importing("whoosh.index"),
        importing(*whoosh_modules, name=f"import whoosh: the {len(whoosh_modules)} modules of the query"),
        importing("typer"),
        importing("rich.console"),
        importing("numpy"),
        importing("nltk.tokenize.punkt"),  # not the query's: what every build pays before indexing starts
        importing("searchkit"),
        importing("searchkit.cli"),  # the typer app: other commands, and queries the one-shot path leaves to it
        Step(QUERY_STEP, query_command),
    ]


def _ladder(steps: list[Step], times: list[list[tuple[float, float]]], query_modules: set[str]) -> list[dict]:
    """One record per step: median and minimum wall seconds, median CPU seconds, the median over the bare
    interpreter's, the ratios of its median to the tantivy script's and to ``sqlite-utils search``'s and, for an
    import step, whether ``searchkit query`` imports those modules at all."""
    medians = {step.name: statistics.median(wall for wall, _ in t) for step, t in zip(steps, times)}
    bare, tantivy, sqlite_utils = medians["python -c pass"], medians[REFERENCE], medians[SQLITE_UTILS]
    return [
        {
            "step": step.name,
            "command": shlex.join(step.command),
            "median_s": round(medians[step.name], 4),
            "min_s": round(min(wall for wall, _ in t), 4),
            "cpu_median_s": round(statistics.median(cpu for _, cpu in t), 4),
            "over_interpreter_s": round(medians[step.name] - bare, 4),
            "ratio_to_tantivy": round(medians[step.name] / tantivy, 3),
            "ratio_to_sqlite_utils": round(medians[step.name] / sqlite_utils, 3),
            "imported_by_query": set(step.imports) <= query_modules if step.imports else None,
        }
        for step, t in zip(steps, times)
    ]


def _target(ladder: list[dict]) -> dict:
    """Part 5's target: ``searchkit query``'s median wall time at most ``TARGET_S``, with the peers beside it."""
    rows = {r["step"]: r for r in ladder}
    query = rows[QUERY_STEP]
    return {
        "target_s": TARGET_S,
        "searchkit_query_median_s": query["median_s"],
        "searchkit_query_cpu_median_s": query["cpu_median_s"],
        "met": query["median_s"] <= TARGET_S,
        "ratio_to_tantivy": query["ratio_to_tantivy"],
        "ratio_to_sqlite_utils": query["ratio_to_sqlite_utils"],
        "interpreter_median_s": rows["python -c pass"]["median_s"],
    }


def _import_times(command: list[str]) -> dict[str, tuple[int, int, int]]:
    """``-X importtime`` of one run of ``command``: module → (self µs, cumulative µs, nesting depth)."""
    proc = subprocess.run(command, capture_output=True, text=True,
                          env={**_cold_env(), "PYTHONPROFILEIMPORTTIME": "1"})
    if proc.returncode not in (0, 1):
        raise SystemExit(f"failed: {' '.join(command)}\n{proc.stderr[-3000:]}")
    return {
        m[4]: (int(m[1]), int(m[2]), len(m[3]) // 2)
        for m in map(IMPORTTIME_LINE.match, proc.stderr.splitlines()) if m
    }


@dataclass
class PackageImports:
    """One top-level package's share of one process's imports (microseconds, as ``-X importtime`` gives them)."""

    self_us: int = 0
    cumulative_us: int = 0
    modules: int = 0
    importers: Counter[str] = field(default_factory=Counter)


def _attribute(modules: dict[str, tuple[int, int, int]]) -> dict[str, PackageImports]:
    """Each top-level package's imports in one run of the process.

    Self time is summed over the package's own modules (so all packages add up to all import time); cumulative
    time over its outermost imports, those not nested in another import of the same package, so it includes what
    they import from other packages. ``importers`` credits that cumulative time to the package of the import that
    pulled each one in ("-": the command itself or the interpreter's start-up). ``-X importtime`` lists a module
    after the modules it imports, so the list is walked backwards to see each import's ancestors first.
    """
    packages: dict[str, PackageImports] = {}
    ancestors: list[tuple[int, str]] = []  # (depth, package) of the imports enclosing the current one
    for name, (self_us, cumulative_us, depth) in reversed(modules.items()):
        while ancestors and ancestors[-1][0] >= depth:
            ancestors.pop()
        package = name.split(".")[0]
        share = packages.setdefault(package, PackageImports())
        share.self_us += self_us
        share.modules += 1
        if all(p != package for _, p in ancestors):
            share.cumulative_us += cumulative_us
            share.importers[ancestors[-1][1] if ancestors else "-"] += cumulative_us
        ancestors.append((depth, package))
    return packages


def _by_package(runs: list[dict[str, tuple[int, int, int]]]) -> list[dict]:
    """Every top-level package the process imported, with its median self and cumulative milliseconds over the
    runs and the package that imported most of it; most cumulative time first."""
    shares = [_attribute(modules) for modules in runs]
    records = []
    for package in {p for run in shares for p in run}:
        in_runs = [run.get(package, PackageImports()) for run in shares]
        records.append({
            "package": package,
            "kind": _kind(package),
            "imported_mostly_by": sum((s.importers for s in in_runs), Counter()).most_common(1)[0][0],
            "modules": max(s.modules for s in in_runs),
            "self_ms": round(statistics.median(s.self_us for s in in_runs) / 1000, 2),
            "cumulative_ms": round(statistics.median(s.cumulative_us for s in in_runs) / 1000, 2),
        })
    return sorted(records, key=lambda r: -r["cumulative_ms"])


def _kind(package: str) -> str:
    if package == "searchkit":
        return "searchkit"
    if package in sys.stdlib_module_names:
        return "stdlib"
    if package.startswith("__editable__"):
        return "editable-install finder"  # `pip install -e` only; absent from an installed wheel
    return "third-party"


def _meta(args: argparse.Namespace, corpus: corpora.Corpus, load_before: tuple[float, float, float]) -> dict:
    return {
        "command": "python benchmarks/startup.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": _machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "versions": {p: version(p) for p in ("whoosh", "tantivy", "sqlite-utils", "typer", "rich", "numpy")},
        "corpus": corpus.name,
        "passages": corpus.passage_count(),
        "query": COLD_QUERY,
        "runs": args.runs,
        "bytecode_compiled": not args.no_compile,
        "reused_indexes": args.reuse,
        "method": METHOD.format(runs=args.runs),
    }


def _print_tables(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    meta, ladder, target = result["meta"], result["ladder"], result["target"]
    table = Table(title=f"cold start, {meta['passages']:,} passages, {meta['runs']} runs a step (target: searchkit "
                        f"query ≤ {TARGET_S:.2f} s: {target['searchkit_query_median_s']:.3f} s, "
                        f"{'met' if target['met'] else 'not met'}; load {meta['load_average_before'][0]:.1f})")
    for column in ("step", "median s", "min s", "CPU s", "over python s", "÷ tantivy script", "÷ sqlite-utils",
                   "query imports it"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for r in ladder:
        table.add_row(r["step"], f"{r['median_s']:.3f}", f"{r['min_s']:.3f}", f"{r['cpu_median_s']:.3f}",
                      f"{r['over_interpreter_s']:.3f}", f"{r['ratio_to_tantivy']:.2f}",
                      f"{r['ratio_to_sqlite_utils']:.2f}", _yes_no(r["imported_by_query"]))
    console.print(table)
    for key, name in (("imports", QUERY_STEP), ("imports_baseline", BASELINE_STEP)):
        if key in result:
            _print_imports(console, result[key], name)


def _print_imports(console, imports: list[dict], name: str) -> None:
    from rich.table import Table

    all_ms = sum(r["self_ms"] for r in imports)
    breakdown = Table(title=f"imports of `{name}` by top-level package (top {SHOWN_PACKAGES} by cumulative; "
                            f"all imports {all_ms:.0f} ms of self time, under -X importtime)")
    for column in ("package", "kind", "imported mostly by", "modules", "self ms", "cumulative ms"):
        breakdown.add_column(column, justify="right" if column.endswith(("modules", "ms")) else "left")
    for r in imports[:SHOWN_PACKAGES]:
        breakdown.add_row(r["package"], r["kind"], r["imported_mostly_by"], str(r["modules"]), f"{r['self_ms']:.1f}",
                          f"{r['cumulative_ms']:.1f}")
    console.print(breakdown)


def _yes_no(flag: bool | None) -> str:
    return "" if flag is None else "yes" if flag else "no"


if __name__ == "__main__":
    main()
