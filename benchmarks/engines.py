"""One adapter per engine: build an index of a corpus's passages, then answer benchmark queries (top k).

Every adapter answers with ``(passage id, score, snippet)`` triples, the snippet being what the engine shows
a user (highlighted fragments; empty for bm25s, which has no highlighter). Engines import their library only
when used. Run as a script, this module is the subprocess the harness measures:

    python benchmarks/engines.py build ENGINE CORPUS_DIR INDEX_DIR     -> {"build_s": .., "peak_rss_mb": ..}
    python benchmarks/engines.py query ENGINE INDEX_DIR QUERIES_JSON   -> {"latencies_ms": [..], "hits": [..]}
"""

from __future__ import annotations

import json
import resource
import sqlite3
import sys
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import BenchQuery, Corpus  # noqa: E402

ONESHOT = Path(__file__).resolve().parent / "oneshot"
Result = tuple[str, float, str]


class Engine:
    """An engine under test: ``build`` writes an index of the passages, ``open`` returns a query function."""

    name = ""
    highlights = True
    note = ""

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        raise NotImplementedError

    def open(self, index_dir: Path):
        """A function ``query(q: BenchQuery, k: int) -> list[Result]`` over the opened index."""
        raise NotImplementedError

    def oneshot(self, index_dir: Path, text: str) -> list[str]:
        """The command of a process that opens the index, runs ``text`` and prints 10 hits (the CLI experience)."""
        return [sys.executable, str(ONESHOT / f"{self.name.replace('-', '_')}_oneshot.py"), str(index_dir), text]


class Searchkit(Engine):
    name = "searchkit"
    note = "public API (Index.search) with highlights; built from the article files as `searchkit index` does"

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        from searchkit import Index

        Index.build(corpus.article_files, index_dir)

    def open(self, index_dir: Path):
        from searchkit import Index, NothingToSearch

        ix = Index.open(index_dir)

        def query(q: BenchQuery, k: int) -> list[Result]:
            text = f'"{" ".join(q.words)}"' if q.phrase else " ".join(q.words)
            try:
                hits = ix.search(text, limit=k, source=q.source, since=q.since, until=q.until)
            except NothingToSearch:  # a query of stop words: no engine's index holds them
                return []
            return [(h.passage.id, h.score, " … ".join(f.text for f in h.highlights)) for h in hits]

        return query

    def oneshot(self, index_dir: Path, text: str) -> list[str]:
        script = Path(sys.executable).with_name("searchkit")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "searchkit"]
        return [*command, "query", text, "--index", str(index_dir)]


class RawWhoosh(Engine):
    name = "whoosh"
    note = "Whoosh 2.7.4 default schema (StandardAnalyzer, BM25F), default writer, hit.highlights()"

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

    def open(self, index_dir: Path):
        from whoosh import index
        from whoosh import query as wq
        from whoosh.qparser import MultifieldParser, OrGroup

        searcher = index.open_dir(str(index_dir)).searcher()
        parser = MultifieldParser(["title", "body"], searcher.schema, group=OrGroup)

        def query(q: BenchQuery, k: int) -> list[Result]:
            text = f'"{" ".join(q.words)}"' if q.phrase else " ".join(q.words)
            filters = []
            if q.source:
                filters.append(wq.Term("source", q.source))
            if q.since:
                filters.append(wq.DateRange("date", datetime.fromisoformat(q.since), datetime.fromisoformat(q.until)))
            hits = searcher.search(parser.parse(text), limit=k, filter=wq.And(filters) if filters else None)
            return [(h["id"], h.score, h.highlights("body")) for h in hits]

        return query


class Sqlite(Engine):
    name = "sqlite-fts5"
    note = "SQLite FTS5 (porter unicode61), ORDER BY bm25(title 2.0, body 1.0), snippet()"

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(index_dir / "fts.db")
        db.execute(
            "CREATE VIRTUAL TABLE passages USING fts5(title, body, pid UNINDEXED, date UNINDEXED, "
            "source UNINDEXED, tokenize='porter unicode61')"
        )
        with db:
            db.executemany(
                "INSERT INTO passages VALUES (?, ?, ?, ?, ?)",
                ((p["title"], p["body"], p["id"], p["date"], p["source"]) for p in corpus.passages()),
            )
        db.close()

    def open(self, index_dir: Path):
        db = sqlite3.connect(index_dir / "fts.db")

        def query(q: BenchQuery, k: int) -> list[Result]:
            sql = (
                "SELECT pid, bm25(passages, 2.0, 1.0), snippet(passages, 1, '[', ']', '…', 24) "
                "FROM passages WHERE passages MATCH ?"
            )
            args: list = [_fts5_match(q)]
            if q.source:
                sql += " AND source = ?"
                args.append(q.source)
            if q.since:
                sql += " AND date BETWEEN ? AND ?"
                args.extend([q.since, q.until])
            sql += " ORDER BY bm25(passages, 2.0, 1.0) LIMIT ?"
            return [(pid, -score, snippet) for pid, score, snippet in db.execute(sql, [*args, k])]

        return query


def _fts5_match(q: BenchQuery) -> str:
    quoted = [f'"{w}"' for w in q.words]
    return f'"{" ".join(q.words)}"' if q.phrase else " OR ".join(quoted)


class Tantivy(Engine):
    name = "tantivy"
    note = "tantivy-py (en_stem), parse_query over title^2 and body, SnippetGenerator on body"

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        import tantivy

        index_dir.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(_tantivy_schema(), path=str(index_dir))
        writer = index.writer()
        for p in corpus.passages():
            writer.add_document(tantivy.Document(
                pid=p["id"], title=p["title"] or "", body=p["body"], source=p["source"] or "",
                day=_day(p["date"]),
            ))
        writer.commit()
        writer.wait_merging_threads()

    def open(self, index_dir: Path):
        import tantivy

        schema = _tantivy_schema()
        index = tantivy.Index(schema, path=str(index_dir))
        searcher = index.searcher()

        def query(q: BenchQuery, k: int) -> list[Result]:
            text = f'"{" ".join(q.words)}"' if q.phrase else " ".join(q.words)
            parsed = index.parse_query(text, ["title", "body"], field_boosts={"title": 2.0})
            clauses = [(tantivy.Occur.Must, parsed)]
            if q.source:
                clauses.append((tantivy.Occur.Must, tantivy.Query.term_query(schema, "source", q.source)))
            if q.since:
                clauses.append((tantivy.Occur.Must, tantivy.Query.range_query(
                    schema, "day", tantivy.FieldType.Integer, _day(q.since), _day(q.until))))
            full = parsed if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)
            snippets = tantivy.SnippetGenerator.create(searcher, full, schema, "body")
            out = []
            for score, address in searcher.search(full, k).hits:
                doc = searcher.doc(address)
                out.append((doc["pid"][0], score, snippets.snippet_from_doc(doc).to_html()))
            return out

        return query


def _tantivy_schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("pid", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("body", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("source", stored=True, tokenizer_name="raw")
    builder.add_integer_field("day", stored=True, indexed=True, fast=True)
    return builder.build()


def _day(iso: str | None) -> int:
    return date.fromisoformat(iso).toordinal() if iso else 0


class Bm25s(Engine):
    name = "bm25s"
    highlights = False
    note = "bm25s (no stemming, English stop words); no highlights, phrases scored as bags of words, filters as weight masks"

    def build(self, corpus: Corpus, index_dir: Path) -> None:
        import bm25s
        import numpy as np

        ids, texts, sources, days = [], [], [], []
        for p in corpus.passages():
            ids.append(p["id"])
            texts.append(f"{p['title'] or ''}\n{p['body']}")
            sources.append(p["source"] or "")
            days.append(_day(p["date"]))
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        retriever.save(str(index_dir), show_progress=False)
        (index_dir / "meta.json").write_text(json.dumps({"ids": ids, "sources": sources}))
        np.save(index_dir / "days.npy", np.array(days, dtype=np.int64))

    def open(self, index_dir: Path):
        import bm25s
        import numpy as np

        retriever = bm25s.BM25.load(str(index_dir), mmap=True, show_progress=False)
        meta = json.loads((index_dir / "meta.json").read_text())
        ids = meta["ids"]
        sources = np.array(meta["sources"], dtype=object)
        days = np.load(index_dir / "days.npy")

        def query(q: BenchQuery, k: int) -> list[Result]:
            tokens = bm25s.tokenize([" ".join(q.words)], stopwords="en", show_progress=False)
            if not tokens.vocab:
                return []
            mask = None
            if q.source or q.since:
                mask = np.ones(len(ids), dtype=bool)
                if q.source:
                    mask &= sources == q.source
                if q.since:
                    mask &= (days >= _day(q.since)) & (days <= _day(q.until))
                mask = mask.astype(np.float32)
            docs, scores = retriever.retrieve(tokens, k=min(k, len(ids)), show_progress=False, weight_mask=mask)
            return [(ids[d], float(s), "") for d, s in zip(docs[0], scores[0]) if s > 0]

        return query


ENGINES: dict[str, Engine] = {e.name: e for e in (Searchkit(), RawWhoosh(), Sqlite(), Tantivy(), Bm25s())}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process plus its largest child (Whoosh's writer processes), in MiB.

    ``VmHWM`` rather than ``ru_maxrss`` for this process: the latter keeps the parent's peak across exec.
    """
    status = Path("/proc/self/status").read_text()
    own_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    return (own_kb + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def _main(argv: list[str]) -> None:
    command, engine = argv[0], ENGINES[argv[1]]
    if command == "build":
        corpus = Corpus(Path(argv[2]).name, Path(argv[2]))
        began = time.perf_counter()
        engine.build(corpus, Path(argv[3]))
        print(json.dumps({"build_s": time.perf_counter() - began, "peak_rss_mb": _peak_rss_mb()}))
    elif command == "query":
        run = engine.open(Path(argv[2]))
        queries = [BenchQuery(**{**q, "words": tuple(q["words"])}) for q in json.loads(Path(argv[3]).read_text())]
        for q in queries[:20]:  # warm-up: caches, lazily loaded structures
            run(q, 10)
        latencies, hits = [], []
        for q in queries:
            began = time.perf_counter()
            results = run(q, 10)
            latencies.append((time.perf_counter() - began) * 1000)
            hits.append([r[0] for r in results])
        print(json.dumps({"latencies_ms": latencies, "hits": hits}))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])
