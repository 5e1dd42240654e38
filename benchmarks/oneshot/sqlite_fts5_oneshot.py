"""A minimal SQLite FTS5 one-shot query: open the database, run one query, print 10 snippets."""

import sqlite3
import sys

db = sqlite3.connect(sys.argv[1] + "/fts.db")
match = " OR ".join(f'"{w}"' for w in sys.argv[2].split())
sql = (
    "SELECT pid, bm25(passages, 1.0, 1.0), snippet(passages, 1, '[', ']', '…', 24) FROM passages "
    "WHERE passages MATCH ? ORDER BY bm25(passages, 1.0, 1.0) LIMIT 10"
)
for pid, score, snippet in db.execute(sql, [match]):
    print(f"{-score:.3f} {pid} {snippet}")
