"""A minimal raw-Whoosh one-shot query: open the index, run one query, print 10 highlighted hits."""

import sys

from whoosh import index
from whoosh.qparser import MultifieldParser, OrGroup

ix = index.open_dir(sys.argv[1])
with ix.searcher() as searcher:
    q = MultifieldParser(["title", "body"], ix.schema, group=OrGroup).parse(sys.argv[2])
    for hit in searcher.search(q, limit=10):
        print(f"{hit.score:.3f} {hit['id']} {hit.highlights('body')}")
