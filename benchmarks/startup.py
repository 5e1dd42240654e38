"""Where the cold start of a one-shot ``searchkit query`` goes, step by step, against the tantivy one-shot script.

    python benchmarks/startup.py --size 100000 --out DIR [--runs 15]

Builds a searchkit and a tantivy index of the same generated corpus, compiles the environment's bytecode (as
``latency.py`` does), then times fresh processes, taking turns: the bare interpreter, each import the query
path pays for, the tantivy one-shot script and ``searchkit query`` itself. Each step is compared with the
budget of issue 3 (1.2 × the tantivy script). A second table attributes the ``searchkit query`` process's
imports (``-X importtime``) to top-level packages. Writes ``DIR/startup.json``; prints both tables.
"""

from __future__ import annotations

import argparse
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
from latency import COLD_QUERY, _cold_env, _cold_times, _compile_bytecode, _log, _machine, build_index  # noqa: E402

REFERENCE = "tantivy one-shot script"
QUERY_STEP = "searchkit query"
BUDGET_RATIO = 1.2  # issue 3: searchkit query within 1.2 × the tantivy script
IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")
SHOWN_PACKAGES = 15
METHOD = (
    "median and minimum wall time of {runs} fresh processes per step (after one untimed run of each), the steps "
    "taking turns; `python -P -c` for the import steps (so the working directory is not on sys.path, as for an "
    "installed command); bytecode compiled first unless bytecode_compiled is false. Import breakdown: "
    "PYTHONPROFILEIMPORTTIME=1 on the same `searchkit query` command, {runs} runs, median per package: "
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
        build_index(name, corpus, index_dir)
    if not args.no_compile:
        _compile_bytecode()
    query_command = ENGINES["searchkit"].oneshot(indexes["searchkit"], COLD_QUERY)
    imported = [_import_times(query_command) for _ in range(args.runs)]
    query_modules = {m for run in imported for m in run}
    steps = _steps(indexes, query_command, sorted(m for m in query_modules if m.split(".")[0] == "whoosh"))
    _log(f"timing {len(steps)} steps, {args.runs} runs each")
    times = _cold_times([step.command for step in steps], args.runs)
    result = {
        "meta": _meta(args, corpus, load_before),
        "ladder": _ladder(steps, times, query_modules),
        "imports": _by_package(imported),
    }
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
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Step:
    """A rung of the ladder: a command to time, and the modules it imports when it is an import step."""

    name: str
    command: list[str]
    imports: tuple[str, ...] = ()


def _steps(indexes: dict[str, Path], query_command: list[str], whoosh_modules: list[str]) -> list[Step]:
    """The ladder, from the bare interpreter up to ``searchkit query``."""
    def importing(*modules: str, name: str | None = None) -> Step:
        code = f"import {', '.join(modules)}"
        return Step(name or code, [sys.executable, "-P", "-c", code], modules)

    return [
        Step("python -c pass", [sys.executable, "-P", "-c", "pass"]),
        importing("tantivy"),
        Step(REFERENCE, ENGINES["tantivy"].oneshot(indexes["tantivy"], COLD_QUERY)),
        importing("whoosh.index"),
        importing(*whoosh_modules, name=f"import whoosh: the {len(whoosh_modules)} modules of the query"),
        importing("typer"),
        importing("rich.console"),
        importing("numpy"),
        importing("nltk.tokenize.punkt"),  # not the query's: what every build pays before indexing starts
        importing("searchkit.cli"),
        Step(QUERY_STEP, query_command),
    ]


def _ladder(steps: list[Step], times: list[list[float]], query_modules: set[str]) -> list[dict]:
    """One record per step: median and minimum seconds, the median over the bare interpreter's, the ratio to the
    tantivy script's median (``over_budget`` when the step alone exceeds 1.2 × that) and, for an import step,
    whether ``searchkit query`` imports those modules at all."""
    medians = {step.name: statistics.median(t) for step, t in zip(steps, times)}
    bare, reference = medians["python -c pass"], medians[REFERENCE]
    return [
        {
            "step": step.name,
            "command": shlex.join(step.command),
            "median_s": round(medians[step.name], 4),
            "min_s": round(min(t), 4),
            "over_interpreter_s": round(medians[step.name] - bare, 4),
            "ratio_to_tantivy": round(medians[step.name] / reference, 3),
            "over_budget": medians[step.name] > BUDGET_RATIO * reference,
            "imported_by_query": set(step.imports) <= query_modules if step.imports else None,
        }
        for step, t in zip(steps, times)
    ]


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
        "versions": {p: version(p) for p in ("whoosh", "tantivy", "typer", "rich", "numpy")},
        "corpus": corpus.name,
        "passages": corpus.passage_count(),
        "query": COLD_QUERY,
        "runs": args.runs,
        "bytecode_compiled": not args.no_compile,
        "budget_ratio": BUDGET_RATIO,
        "method": METHOD.format(runs=args.runs),
    }


def _print_tables(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    meta, ladder = result["meta"], result["ladder"]
    reference = next(r for r in ladder if r["step"] == REFERENCE)["median_s"]
    table = Table(title=f"cold start, {meta['passages']:,} passages, {meta['runs']} runs a step (budget: "
                        f"{BUDGET_RATIO} × the tantivy script = {BUDGET_RATIO * reference:.3f} s)")
    for column in ("step", "median s", "min s", "over python s", "÷ tantivy script", f"alone > {BUDGET_RATIO}×",
                   "query imports it"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for r in ladder:
        table.add_row(r["step"], f"{r['median_s']:.3f}", f"{r['min_s']:.3f}", f"{r['over_interpreter_s']:.3f}",
                      f"{r['ratio_to_tantivy']:.2f}", _yes_no(r["over_budget"]), _yes_no(r["imported_by_query"]))
    console.print(table)
    imports = result["imports"]
    all_ms = sum(r["self_ms"] for r in imports)
    breakdown = Table(title=f"imports of `{QUERY_STEP}` by top-level package (top {SHOWN_PACKAGES} by cumulative; "
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
