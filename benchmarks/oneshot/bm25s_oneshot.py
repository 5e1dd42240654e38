"""A minimal bm25s one-shot query: load the index, run one query, print 10 hits (bm25s has no highlights)."""

import json
import sys

import bm25s

retriever = bm25s.BM25.load(sys.argv[1], mmap=True, show_progress=False)
ids = json.load(open(sys.argv[1] + "/meta.json"))["ids"]
docs, scores = retriever.retrieve(bm25s.tokenize([sys.argv[2]], stopwords="en", show_progress=False), k=10,
                                  show_progress=False)
for d, s in zip(docs[0], scores[0]):
    print(f"{s:.3f} {ids[d]}")
