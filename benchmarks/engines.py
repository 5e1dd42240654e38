"""One adapter per engine and setup: build an index of a corpus's passages, then answer benchmark queries (top k).

Every adapter answers with ``(passage id, score, snippet)`` triples, the snippet being what the engine shows a
user (highlighted fragments, or empty when asked for none). Peers come in two setups: ``default`` (the engine's
own analysis over the body field) and ``same work`` (title and body, stemmed by Snowball English or FTS5's
Porter, the title weighted as searchkit's ``title_boost``). Engines import their library only when used. Run
as a script, this module is the subprocess the harness measures:

    python benchmarks/engines.py build ENGINE CORPUS_DIR INDEX_DIR  -> {"wall_s", "cpu_s", "own_peak_rss_mb"}
    python benchmarks/engines.py serve ENGINE INDEX_DIR             -> one JSON reply per JSON request line on stdin

A ``serve`` request is ``{"query": BenchQuery fields, "all_words": bool, "highlights": bool}``; its reply is
``{"wall_ms": .., "cpu_ms": .., "ids": [..]}``, timed inside the worker (``perf_counter``, ``process_time``).
"""

from __future__ import annotations

import json
import resource
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import BenchQuery, Corpus  # noqa: E402

from searchkit.settings import DEFAULT  # noqa: E402

ONESHOT = Path(__file__).resolve().parent / "oneshot"
Result = tuple[str, float, str]
Query = Callable[[BenchQuery, int, bool, bool], list[Result]]
"""``query(q, k, all_words, highlights)``: the top ``k`` of ``q``'s words, all required when ``all_words``."""


class Engine:
    """An engine under test: ``build`` writes an index of the passages, ``open`` returns a ``Query``."""

    name = ""
    setup = ""
    note = ""
    has_oneshot = True
    """Whether ``benchmarks/oneshot/`` holds a one-shot script for this engine's index (cold start)."""

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        raise NotImplementedError

    def open(self, index_dir: Path) -> Query:
        raise NotImplementedError

    def file_kinds(self, index_dir: Path) -> dict[str, int]:
        """Bytes of the index by kind of file (postings, terms, stored fields...)."""
        return _by_kind(index_dir, WHOOSH_KINDS)

    def oneshot(self, index_dir: Path, text: str) -> list[str]:
        """The command of a process that opens the index, runs ``text`` and prints 10 hits (the CLI experience)."""
        return [sys.executable, str(ONESHOT / f"{self.name.replace('-', '_')}_oneshot.py"), str(index_dir), text]


def _query_text(q: BenchQuery, conjunction: str) -> str:
    """The query in Whoosh's or tantivy's syntax: a phrase, or the words joined by ``conjunction``."""
    return f'"{" ".join(q.words)}"' if q.phrase else conjunction.join(q.words)


class Searchkit(Engine):
    name = "searchkit"
    setup = "searchkit"
    note = "public API (Index.search); built from the article files as `searchkit index` does"

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        from searchkit import Index

        Index.build(corpus.article_files, index_dir)

    def open(self, index_dir: Path) -> Query:
        from searchkit import Index, QueryError
        from searchkit.passages import passage_id

        ix = Index.open(index_dir)

        def query(q: BenchQuery, k: int, all_words: bool, highlights: bool) -> list[Result]:
            text = _query_text(q, " AND " if all_words else " ")
            try:
                hits = ix.search(text, limit=k, source=q.source, since=q.since, until=q.until, highlights=highlights)
            except QueryError:  # nothing to search (a word only searchkit's analyzer drops), or refused as too
                return []  # broad (a phrase of common words at 1M): no hits, counted out of "matched"
            # the id within the article, as passages.jsonl gives the peers (the index's ids are scoped by path too)
            return [(passage_id(h.passage.article, h.passage.position, h.passage.text), h.score,
                     " … ".join(f.text for f in h.highlights)) for h in hits]

        return query

    def file_kinds(self, index_dir: Path) -> dict[str, int]:
        return _by_kind(index_dir, SEARCHKIT_KINDS)

    def oneshot(self, index_dir: Path, text: str) -> list[str]:
        script = Path(sys.executable).with_name("searchkit")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "searchkit"]
        return [*command, "query", text, "--index", str(index_dir)]


class RawWhoosh(Engine):
    name = "whoosh"
    setup = "baseline"
    note = "Whoosh 2.7.4 default schema (StandardAnalyzer: its own stop words, no stemming) over title and body, " \
           "default writer, hit.highlights()"

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        from whoosh import fields, index

        schema = fields.Schema(
            id=fields.ID(stored=True),
            title=fields.TEXT(stored=True),
            body=fields.TEXT(stored=True),
            date=fields.DATETIME(stored=True),
            source=fields.ID(stored=True),
        )
        index_dir.mkdir(parents=True, exist_ok=True)
        writer = index.create_in(str(index_dir), schema).writer()
        for p in corpus.passages():
            doc = {"id": p["id"], "body": p["body"]}
            doc.update({k: p[k] for k in ("title", "source") if p[k]})
            if p["date"]:
                doc["date"] = datetime.fromisoformat(p["date"])
            writer.add_document(**doc)
        writer.commit()

    def open(self, index_dir: Path) -> Query:
        from whoosh import index
        from whoosh import query as wq
        from whoosh.qparser import MultifieldParser, OrGroup

        searcher = index.open_dir(str(index_dir)).searcher()
        parser = MultifieldParser(["title", "body"], searcher.schema, group=OrGroup)

        def query(q: BenchQuery, k: int, all_words: bool, highlights: bool) -> list[Result]:
            filters = []
            if q.source:
                filters.append(wq.Term("source", q.source))
            if q.since and q.until:
                filters.append(wq.DateRange("date", datetime.fromisoformat(q.since), datetime.fromisoformat(q.until)))
            parsed = parser.parse(_query_text(q, " AND " if all_words else " "))
            hits = searcher.search(parsed, limit=k, filter=wq.And(filters) if filters else None)
            return [(h["id"], h.score, h.highlights("body") if highlights else "") for h in hits]

        return query


class Sqlite(Engine):
    """SQLite FTS5 over title and body (``same work``) or its defaults over the body alone (``default``)."""

    def __init__(self, same_work: bool) -> None:
        self.same_work = same_work
        self.name = "sqlite-fts5" if same_work else "sqlite-fts5-default"
        self.setup = "same work" if same_work else "default"
        self.has_oneshot = same_work
        self.columns = ("title", "body") if same_work else ("body",)
        weights = f"{DEFAULT.title_boost}, 1.0"
        self.rank = f"bm25(passages, {weights})" if same_work else "bm25(passages)"
        self.note = (f"SQLite FTS5 (porter unicode61) over title and body, ORDER BY bm25(title {DEFAULT.title_boost}, "
                     "body 1.0), snippet() of the body" if same_work else
                     "SQLite FTS5 defaults (unicode61) over the body, ORDER BY bm25(), snippet()")

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(index_dir / "fts.db")
        tokenize = ", tokenize='porter unicode61'" if self.same_work else ""
        db.execute(f"CREATE VIRTUAL TABLE passages USING fts5({', '.join(self.columns)}, pid UNINDEXED, "
                   f"date UNINDEXED, source UNINDEXED{tokenize})")
        marks = ", ".join("?" * (len(self.columns) + 3))
        with db:
            db.executemany(
                f"INSERT INTO passages VALUES ({marks})",
                ((*(p[c] for c in self.columns), p["id"], p["date"], p["source"]) for p in corpus.passages()),
            )
        db.close()

    def open(self, index_dir: Path) -> Query:
        db = sqlite3.connect(index_dir / "fts.db")
        body = self.columns.index("body")

        def query(q: BenchQuery, k: int, all_words: bool, highlights: bool) -> list[Result]:
            snippet = f"snippet(passages, {body}, '[', ']', '…', 24)" if highlights else "''"
            sql = f"SELECT pid, {self.rank}, {snippet} FROM passages WHERE passages MATCH ?"
            args: list = [_fts5_match(q, all_words)]
            if q.source:
                sql += " AND source = ?"
                args.append(q.source)
            if q.since:
                sql += " AND date BETWEEN ? AND ?"
                args.extend([q.since, q.until])
            sql += f" ORDER BY {self.rank} LIMIT ?"
            return [(pid, -score, text) for pid, score, text in db.execute(sql, [*args, k])]

        return query

    def file_kinds(self, index_dir: Path) -> dict[str, int]:
        """Bytes by FTS5 shadow table (``dbstat``): the inverted index, stored rows, document sizes..."""
        db = sqlite3.connect(index_dir / "fts.db")
        sizes = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
        db.close()
        kinds: Counter[str] = Counter()
        for table, size in sizes.items():
            kinds[FTS5_KINDS.get(table.removeprefix("passages_"), table)] += size
        return dict(kinds)


FTS5_KINDS = {"data": "postings and terms", "idx": "terms", "content": "stored fields", "docsize": "field lengths",
              "config": "manifest", "sqlite_schema": "manifest"}


def _fts5_match(q: BenchQuery, all_words: bool) -> str:
    if q.phrase:
        return f'"{" ".join(q.words)}"'
    return (" AND " if all_words else " OR ").join(f'"{w}"' for w in q.words)


class Tantivy(Engine):
    """tantivy-py over title and body stemmed (``same work``) or its default tokenizer over the body (``default``)."""

    def __init__(self, same_work: bool) -> None:
        self.same_work = same_work
        self.name = "tantivy" if same_work else "tantivy-default"
        self.setup = "same work" if same_work else "default"
        self.has_oneshot = same_work
        self.fields = ["title", "body"] if same_work else ["body"]
        self.boosts = {"title": DEFAULT.title_boost} if same_work else {}
        self.note = (f"tantivy-py (en_stem: Snowball English) over title^{DEFAULT.title_boost} and body, "
                     "SnippetGenerator on the body" if same_work else
                     "tantivy-py default tokenizer over the body, SnippetGenerator")

    def schema(self):
        import tantivy

        tokenizer = "en_stem" if self.same_work else "default"
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("pid", stored=True, tokenizer_name="raw")
        for field in self.fields:
            builder.add_text_field(field, stored=True, tokenizer_name=tokenizer)
        builder.add_text_field("source", stored=True, tokenizer_name="raw")
        builder.add_integer_field("day", stored=True, indexed=True, fast=True)
        return builder.build()

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        import tantivy

        index_dir.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(self.schema(), path=str(index_dir))
        writer = index.writer()
        for p in corpus.passages():
            text = {field: p[field] or "" for field in self.fields}
            writer.add_document(tantivy.Document(pid=p["id"], source=p["source"] or "", day=_day(p["date"]), **text))
        writer.commit()
        writer.wait_merging_threads()

    def open(self, index_dir: Path) -> Query:
        import tantivy

        schema = self.schema()
        index = tantivy.Index(schema, path=str(index_dir))
        searcher = index.searcher()

        def query(q: BenchQuery, k: int, all_words: bool, highlights: bool) -> list[Result]:
            parsed = index.parse_query(_query_text(q, " AND " if all_words else " "), self.fields,
                                       field_boosts=self.boosts)
            clauses = [(tantivy.Occur.Must, parsed)]
            if q.source:
                clauses.append((tantivy.Occur.Must, tantivy.Query.term_query(schema, "source", q.source)))
            if q.since:
                clauses.append((tantivy.Occur.Must, tantivy.Query.range_query(
                    schema, "day", tantivy.FieldType.Integer, _day(q.since), _day(q.until))))
            full = parsed if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)
            snippets = tantivy.SnippetGenerator.create(searcher, full, schema, "body") if highlights else None
            out = []
            for score, address in searcher.search(full, k).hits:
                doc = searcher.doc(address)
                out.append((doc["pid"][0], score, snippets.snippet_from_doc(doc).to_html() if snippets else ""))
            return out

        return query

    def file_kinds(self, index_dir: Path) -> dict[str, int]:
        return _by_kind(index_dir, TANTIVY_KINDS)


def _day(iso: str | None) -> int:
    return date.fromisoformat(iso).toordinal() if iso else 0


# --- index size by kind of file -------------------------------------------------------------------------------

WHOOSH_KINDS = {".trm": "terms", ".pst": "postings (with positions)", ".fln": "field lengths",
                ".sto": "stored fields", ".dci": "stored fields", ".dcz": "stored fields", ".toc": "manifest",
                ".seg": "compound segment (every kind)", ".lock": "locks",
                "WRITELOCK": "locks"}
SEARCHKIT_KINDS = {**WHOOSH_KINDS, "._stored.col": "stored fields", "_len.col": "field lengths", ".col": "columns",
                   ".topk": "top-k arrays", "topk/": "top-k arrays", "punkt.json": "Punkt model", ".json": "manifest",
                   "CURRENT": "manifest", "/stories.npy": "story signatures", "/stories.json": "story signatures",
                   "/words": "vocabulary"}
TANTIVY_KINDS = {".idx": "postings", ".pos": "positions", ".term": "terms", ".store": "stored fields",
                 ".fast": "columns", ".fieldnorm": "field lengths", ".json": "manifest", ".lock": "locks"}


def _by_kind(index_dir: Path, kinds: dict[str, str]) -> dict[str, int]:
    """Bytes of every file under ``index_dir`` by kind: that of the longest key of ``kinds`` its path ends with (a
    key ending in ``/`` is a folder the file lies in), else the file's extension."""
    by_kind: Counter[str] = Counter()
    for f in index_dir.rglob("*"):
        if f.is_file():
            path = "/" + f.relative_to(index_dir).as_posix()
            matching = [k for k in kinds if (f"/{k}" in path if k.endswith("/") else path.endswith(k))]
            by_kind[kinds[max(matching, key=len)] if matching else f.suffix or f.name] += f.stat().st_size
    return dict(by_kind)


ENGINES: dict[str, Engine] = {e.name: e for e in (
    Searchkit(), RawWhoosh(), Sqlite(same_work=False), Sqlite(same_work=True), Tantivy(same_work=False),
    Tantivy(same_work=True),
)}


# --- the measured subprocess ----------------------------------------------------------------------------------


def _cpu_s() -> float:
    """CPU seconds of this process and every child it waited for (searchkit's indexing processes), user + system."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def _own_peak_rss_mb() -> float:
    """This process's own peak resident memory (``VmHWM``: ``ru_maxrss`` keeps the parent's peak across exec)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def _serve(engine: Engine, index_dir: Path) -> None:
    """Answer one request line at a time, in lock step with the harness (which waits for each reply)."""
    run = engine.open(index_dir)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        q = BenchQuery(**{**request["query"], "words": tuple(request["query"]["words"])})
        wall, cpu = time.perf_counter(), time.process_time()
        results = run(q, 10, request["all_words"], request["highlights"])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(json.dumps({"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "ids": [r[0] for r in results]}), flush=True)


def _main(argv: list[str]) -> None:
    command, engine = argv[0], ENGINES[argv[1]]
    if command == "build":
        corpus = Corpus(Path(argv[2]).name, Path(argv[2]))
        wall, cpu = time.perf_counter(), _cpu_s()
        engine.build(corpus, Path(argv[3]))
        print(json.dumps({"wall_s": time.perf_counter() - wall, "cpu_s": _cpu_s() - cpu,
                          "own_peak_rss_mb": _own_peak_rss_mb()}))
    elif command == "serve":
        _serve(engine, Path(argv[2]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])
