"""A minimal tantivy-py one-shot query: open the index, run one query, print 10 hits with snippets."""

import sys

import tantivy

index = tantivy.Index.open(sys.argv[1])
searcher = index.searcher()
query = index.parse_query(sys.argv[2], ["title", "body"], field_boosts={"title": 1.0})
snippets = tantivy.SnippetGenerator.create(searcher, query, index.schema, "body")
for score, address in searcher.search(query, 10).hits:
    doc = searcher.doc(address)
    print(f"{score:.3f} {doc['pid'][0]} {snippets.snippet_from_doc(doc).to_html()}")
