"""The fast segment writer writes the segment files Whoosh's own writer writes (byte for byte, but for how the
postings are pickled); a parallel build holds the same passages, scored the same, as a one-process build."""

from __future__ import annotations

import random
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import whoosh.index
from hypothesis import given, settings
from hypothesis import strategies as st

import searchkit.build
import searchkit.pool
from searchkit import Index, schema
from searchkit.ingest import read_articles
from searchkit.passages import PassageSplitter, train_punkt
from searchkit.pool import write_segments
from searchkit.arrays import SegmentArrays
from searchkit.segments import SegmentBuilder
from searchkit.storedfields import BlockCodec

from conftest import REPO, shared_data
from synthetic import write_corpus


POSTINGS_FILES = (".pst", ".trm")
"""Files compared by what Whoosh reads from them: a builder's posting blocks may pickle a position encoding
repeated in a block once (the same bytes object), where Whoosh's writer pickles each copy, and it leaves small
blocks uncompressed; the term file holds offsets into the postings file."""


def _segment_files(folder: Path) -> dict[str, bytes]:
    """Each segment file's bytes but the postings files', by its name without the (random) segment id; the
    commit's TOC left out."""
    return {
        name: p.read_bytes() for p in folder.iterdir() if p.name.startswith("MAIN_") and p.name != "MAIN_WRITELOCK"
        for name in [re.sub(r"^MAIN_[0-9a-z]+", "", p.name)] if name not in POSTINGS_FILES
    }


def _postings(ix) -> dict[tuple[str, bytes], tuple]:
    """Every term's statistics and postings (doc number, weight, value), as Whoosh reads them; an empty value as
    None (a term of one posting, which a builder inlines in the terms table, reads back through Whoosh's
    ``ListMatcher``, whose empty value is "" where a posting block's is None)."""
    found = {}
    with ix.reader() as reader:
        for fieldname, text in reader.all_terms():
            info = reader.term_info(fieldname, text)
            m = reader.postings(fieldname, text)
            postings = []
            while m.is_active():
                postings.append((m.id(), m.weight(), m.value() or None))
                m.next()
            found[fieldname, text] = (info.weight(), info.doc_frequency(), info.min_length(), info.max_length(),
                                      info.max_weight(), info.min_id(), info.max_id(), postings)
    return found


def _both_ways(documents: list[dict], tmp_path: Path) -> tuple[tuple, tuple]:
    """(segment files, postings) as Whoosh's writer (with searchkit's codec) and as ``SegmentBuilder`` write
    ``documents``."""
    by_whoosh, by_builder = tmp_path / "whoosh", tmp_path / "builder"
    for folder in (by_whoosh, by_builder):
        folder.mkdir()
    whoosh_ix = whoosh.index.create_in(str(by_whoosh), schema.SCHEMA)
    writer = whoosh_ix.writer(compound=False, codec=BlockCodec())
    for document in documents:
        writer.add_document(**document)
    writer.commit()
    builder_ix = whoosh.index.create_in(str(by_builder), schema.SCHEMA)
    builder = SegmentBuilder(builder_ix)
    for document in documents:
        builder.add_document(**document)
    segment = builder.finish()
    writer = builder_ix.writer(compound=False)
    writer.segments.append(segment)
    writer.commit(optimize=False)
    return ((_segment_files(by_whoosh), _postings(whoosh_ix)),
            (_segment_files(by_builder), _postings(builder_ix)))


def test_seed_passages_make_the_same_segment_files_as_whoosh(tmp_path, seeds_dir):
    articles = [a for path in sorted(seeds_dir.iterdir()) for a in read_articles(path, on_error=print)]
    splitter = PassageSplitter(train_punkt(a.text for a in articles))
    documents = [schema.to_document(p, "seeds") for a in articles for p in splitter.split(a)]
    by_whoosh, by_builder = _both_ways(documents, tmp_path)
    assert {"._stored.col", "._body_len.col", ".date.col"} <= set(by_whoosh[0])
    assert len(by_whoosh[1]) > 500
    assert by_builder == by_whoosh


def test_long_posting_lists_make_the_same_segment_files_as_whoosh(tmp_path):
    """Hundreds of passages over a small vocabulary: posting lists run over several 128-posting blocks."""
    rng = random.Random(7)
    words = "the gas pipeline of a treaty and Caspian talks at Astana's border on 12 May".split()
    documents = [
        {"id": f"p{n}", "article": f"a{n // 3}", "path": "f", "position": n % 3, "span": (0, 1),
         "title": " ".join(rng.choices(words, k=4)), "body": " ".join(rng.choices(words, k=rng.randint(0, 60))),
         "source": rng.choice(["reuters", "tass"]), "tags": "energy,trade"}
        for n in range(400)
    ]
    by_whoosh, by_builder = _both_ways(documents, tmp_path)
    assert max(len(postings) for *_, postings in by_whoosh[1].values()) > 3 * 128
    assert by_builder == by_whoosh


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("aAeIsyzİß.'’-_ 01\n")) | st.characters(), max_size=80),
                min_size=1, max_size=5))
def test_any_text_makes_the_same_segment_files_as_whoosh(tmp_path_factory, bodies):
    documents = [{"id": f"p{n}", "article": "a", "path": "f", "position": n, "span": (0, 1), "body": body}
                 for n, body in enumerate(bodies)]
    by_whoosh, by_builder = _both_ways(documents, tmp_path_factory.mktemp("any"))
    assert by_builder == by_whoosh


def _reuters_stories(count: int | None = None) -> list[dict]:
    """The first ``count`` Reuters-21578 stories with a body (all with None); skips where the data is absent."""
    source = shared_data("reuters21578")
    sys.path.insert(0, str(REPO))
    from benchmarks.corpora import _reuters_articles  # the benchmarks' reader of the SGML files

    return [story for _, story in zip(range(count or 10**9), _reuters_articles(source))]


@pytest.mark.slow
def test_every_reuters_word_gets_the_term_whooshs_analyzer_makes_of_it():
    """The indexer stems each distinct word once (``schema.term_of``): over the whole Reuters vocabulary, as
    written, that term is the one Whoosh's own analyzer chain makes of the word."""
    words = {word for story in _reuters_stories() for text in (story.get("title") or "", story["text"])
             for word in schema.written_words(text)}
    assert len(words) > 40_000
    differ = {}
    for word in sorted(words):
        by_whoosh = [token.text for token in schema.ANALYZER(word)]
        expected = by_whoosh[0] if by_whoosh else None
        if schema.term_of(word) != expected or len(by_whoosh) > 1:
            differ[word] = (schema.term_of(word), by_whoosh)
    assert not differ


def test_reuters_stories_make_the_same_segment_files_as_whoosh(tmp_path):
    documents = [{"id": story["id"], "article": story["id"], "path": "reuters", "position": 0, "span": (0, 1),
                  "title": story.get("title") or None, "body": story["text"]} for story in _reuters_stories(300)]
    by_whoosh, by_builder = _both_ways(documents, tmp_path)
    assert len(by_whoosh[1]) > 5_000
    assert by_builder == by_whoosh


def test_a_builder_counts_every_word_token_of_the_searched_fields(tmp_path, seeds_dir):
    """What a builder gives ``words``: each word token as written (stop words and one-letter words too) of the
    searched fields, counted over its documents."""
    articles = [a for path in sorted(seeds_dir.iterdir()) for a in read_articles(path, on_error=print)]
    splitter = PassageSplitter(train_punkt(a.text for a in articles))
    documents = [schema.to_document(p, "seeds") for a in articles for p in splitter.split(a)]
    saved: list[Counter] = []
    builder = SegmentBuilder(whoosh.index.create_in(str(tmp_path), schema.SCHEMA),
                             words=lambda folder, segment, words: saved.append(Counter(words)))
    for document in documents:
        builder.add_document(**document)
    builder.finish()
    expected = Counter(word for document in documents for field in schema.SEARCH_FIELDS if document.get(field)
                       for word in schema.written_words(document[field]))
    assert {"the", "a", "Astana"} <= set(expected)
    assert saved == [expected]


class _Recorded:
    """A ``PostingsCopy`` of the top-k arrays' fields that keeps what a builder gives it."""

    fields = SegmentArrays.fields
    stored = SegmentArrays.stored

    def __init__(self) -> None:
        self.given: list[tuple] = []

    def add(self, field, term, docs, weights) -> None:
        self.given.append((field, term, list(docs), list(weights)))

    def add_value(self, docnum, field, value) -> None:
        self.given.append((docnum, field, value))

    def save(self, index_dir, segment_id, doc_count, lengths) -> None:
        self.given.append((doc_count, {field: list(by_doc) for field, by_doc in lengths.items()}))


def _copied_from_whoosh(documents: list[dict], folder: Path) -> list[tuple]:
    """What a ``_Recorded`` copy takes from a segment of ``documents`` written by Whoosh's own writer: each
    document's stored values, then each field's terms' doc numbers and weights, then the field lengths."""
    ix = whoosh.index.create_in(str(folder), schema.SCHEMA)
    writer = ix.writer(compound=False)
    for document in documents:
        writer.add_document(**document)
    writer.commit()
    given: list[tuple] = []
    with ix.reader() as reader:
        for docnum, document in enumerate(documents):
            given += [(docnum, name, document[name]) for name in sorted(document)
                      if name in _Recorded.stored and document[name] is not None]
        for field in sorted(_Recorded.fields):
            for term in reader.lexicon(field) if field in reader.indexed_field_names() else ():
                m = reader.postings(field, term)
                docs, weights = [], []
                while m.is_active():
                    docs.append(m.id())
                    weights.append(m.weight())
                    m.next()
                given.append((field, term, docs, weights))
        scored = sorted({name for document in documents for name in document
                         if document[name] is not None and schema.SCHEMA[name].scorable})
        given.append((len(documents), {field: [reader.doc_field_length(d, field) or 0 for d in range(len(documents))]
                                       for field in scored}))
    return given


def test_the_top_k_arrays_take_the_postings_whoosh_writes(tmp_path, seeds_dir):
    """The arrays are fed from the builder's postings (not read back): the same terms, doc numbers, weights,
    stored values and lengths as a segment Whoosh's own writer makes of the same passages."""
    articles = [a for path in sorted(seeds_dir.iterdir()) for a in read_articles(path, on_error=print)]
    splitter = PassageSplitter(train_punkt(a.text for a in articles))
    documents = [schema.to_document(p, "seeds") for a in articles for p in splitter.split(a)]
    documents += [{"id": f"p{n}", "article": "a", "path": "f", "position": n, "span": (0, 1), "body": body}
                  for n, body in enumerate(["", "the of and", "Gas gas GAS pipeline", "İstanbul ß 12.5"])]
    (tmp_path / "whoosh").mkdir()
    (tmp_path / "builder").mkdir()
    builder = SegmentBuilder(whoosh.index.create_in(str(tmp_path / "builder"), schema.SCHEMA), _Recorded)
    for document in documents:
        builder.add_document(**document)
    recorded = builder._copy
    builder.finish()
    expected = _copied_from_whoosh(documents, tmp_path / "whoosh")
    assert len(expected) > 500
    assert recorded.given == expected


@pytest.mark.slow
def test_a_parallel_build_holds_and_ranks_what_a_one_process_build_does(tmp_path, monkeypatch):
    files = write_corpus(tmp_path / "feeds", seed=11, files=6, articles=40)
    one = Index.build(files, tmp_path / "one")
    monkeypatch.setattr(searchkit.build, "_writer_procs", lambda input_bytes: 2)
    monkeypatch.setattr(searchkit.build, "SHARD_BYTES", 0)  # and every file shared by both processes
    done: list[tuple[int, int, str]] = []
    two = Index.build(files, tmp_path / "two", progress=lambda *args: done.append(args))
    assert (two.articles, two.passages, two.files_added) == (one.articles, one.passages, one.files_added)
    assert [d for d, _, _ in done] == list(range(len(files) + 1))
    assert len(list((tmp_path / "two").glob("gen-*/*.pst"))) == 2  # a segment per process
    with Index.open(tmp_path / "one") as a, Index.open(tmp_path / "two") as b:
        assert sorted(p.id for p in a.passages()) == sorted(p.id for p in b.passages())
        for query in ("pipeline", "caspian gas", '"trade wheat"', "tariff NOT oil", "source:tass border"):
            ranked_a = [(h.passage.id, h.score) for h in a.search(query, limit=10_000)]
            ranked_b = [(h.passage.id, h.score) for h in b.search(query, limit=10_000)]
            assert ranked_a, query
            # The same passages and scores; sums may round differently in the last bit (Whoosh shapes its
            # union trees by each segment's term statistics).
            assert dict(ranked_b) == pytest.approx(dict(ranked_a), rel=1e-12), query
            assert [s for _, s in ranked_b] == pytest.approx([s for _, s in ranked_a], rel=1e-12), query


@pytest.mark.slow
def test_a_commit_keeps_large_segments_as_the_builders_wrote_them(tmp_path, monkeypatch):
    """Whoosh's default merge policy would re-write most of them through its own writer at every commit."""
    written: list[int] = []

    def recording(*args, **kwargs):
        segments, outcomes = write_segments(*args, **kwargs)
        written.append(len(segments))
        return segments, outcomes

    monkeypatch.setattr(searchkit.pool, "SEGMENT_POSTINGS", 400)
    monkeypatch.setattr(searchkit.build, "SMALL_SEGMENT_PASSAGES", 1)  # every segment is large
    monkeypatch.setattr(searchkit.build, "write_segments", recording)
    files = write_corpus(tmp_path / "feeds", seed=5, files=3, articles=60)
    Index.build(files[:2], tmp_path / "index")
    before = _segment_ids(tmp_path / "index")
    with Index.open(tmp_path / "index") as ix:
        ix.update(files)
    after = _segment_ids(tmp_path / "index")
    assert written[0] >= 12 and len(before) == written[0]
    assert before < after and len(after) == written[0] + written[1]


@pytest.mark.slow
def test_many_small_segments_are_rewritten_into_one_holding_their_live_passages(tmp_path):
    files = write_corpus(tmp_path / "feeds", seed=8, files=12, articles=8)
    Index.build(files[:1], tmp_path / "index")
    counts = []
    for n in range(2, len(files) + 1):
        if n == 6:  # a replaced file: its old passages are deleted in their segment
            files[0].write_text(write_corpus(tmp_path / "other", seed=9, files=1, articles=5)[0].read_text())
        with Index.open(tmp_path / "index") as ix:
            ix.update(files[:n])
        counts.append(len(_segment_ids(tmp_path / "index")))
    limit = searchkit.build.MAX_SMALL_SEGMENTS
    # Each update adds a segment; the one that would leave limit + 1 small segments rewrote them into one.
    assert counts == [*range(2, limit + 1), *range(1, len(counts) - limit + 2)]
    Index.build(files, tmp_path / "fresh")
    with Index.open(tmp_path / "index") as ix, Index.open(tmp_path / "fresh") as fresh:
        assert sorted(p.id for p in ix.passages()) == sorted(p.id for p in fresh.passages())
        for query in ("pipeline", "caspian gas", '"trade wheat"', "tariff NOT oil", "source:tass border"):
            ranked = {h.passage.id: h.score for h in ix.search(query, limit=10_000)}
            assert ranked == pytest.approx({h.passage.id: h.score for h in fresh.search(query, limit=10_000)},
                                           rel=1e-9), query


def _segment_ids(index_path: Path) -> set[str]:
    with Index.open(index_path) as ix, whoosh.index.open_dir(str(ix.directory)).reader() as reader:
        return {leaf.segment().segment_id() for leaf, _ in reader.leaf_readers()}
