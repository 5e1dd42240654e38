"""Index build/update through the library: manifest, idempotence, replacement, bad files, failure safety."""

from __future__ import annotations

import shutil

import pytest

from conftest import edit_manifest
from searchkit import Index, IndexIncompatible, IndexNotFound, PassageNotFound
from searchkit.schema import SCHEMA_VERSION


@pytest.fixture
def corpus(tmp_path, seeds_dir):
    """A writable copy of the seeds, with the index beside it."""
    shutil.copytree(seeds_dir, tmp_path / "seeds")
    return tmp_path


def _all_ids(ix: Index) -> set[str]:
    return {h.passage.id for h in ix.search("forum OR Kazakhstan OR Russia OR the", limit=10_000)}


def test_build_writes_manifest_with_counts_and_fingerprint(corpus):
    report = Index.build([corpus / "seeds"], corpus / "index")
    assert (report.articles, report.files_added, report.skipped) == (5, 5, ())
    with Index.open(corpus / "index") as ix:
        manifest = ix.manifest
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["counts"] == {"files": 5, "articles": 5, "passages": report.passages}
    assert sorted(manifest["files"]) == sorted(f"seeds/{p.name}" for p in (corpus / "seeds").iterdir())
    assert len(manifest["fingerprint"]) == 64
    with Index.open(corpus / "index") as ix:
        assert ix.stats().passages == report.passages


def test_reindexing_unchanged_input_adds_nothing(corpus):
    Index.build([corpus / "seeds"], corpus / "index")
    with Index.open(corpus / "index") as ix:
        before, count = _all_ids(ix), ix.stats().passages
        report = ix.update([corpus / "seeds"])
        assert (report.files_unchanged, report.files_added, report.passages) == (5, 0, 0)
        assert _all_ids(ix) == before
        assert ix.stats().passages == count


def test_changed_file_replaces_its_passages(corpus):
    Index.build([corpus / "seeds"], corpus / "index")
    seed = corpus / "seeds" / "004_1c9a91d3e2df1cb5.txt"
    seed.write_text(seed.read_text(encoding="utf-8").replace("Electric Engines", "Zeppelin Airships"), encoding="utf-8")
    with Index.open(corpus / "index") as ix:
        total = ix.stats().passages
        report = ix.update([corpus / "seeds"])
        assert (report.files_replaced, report.files_unchanged) == (1, 4)
        assert ix.search("zeppelin") and not ix.search("engines")
        assert ix.stats().passages == total


def test_prune_removes_files_no_longer_given(corpus):
    Index.build([corpus / "seeds"], corpus / "index")
    (corpus / "seeds" / "004_1c9a91d3e2df1cb5.txt").unlink()
    with Index.open(corpus / "index") as ix:
        assert ix.update([corpus / "seeds"]).files_removed == 0
        assert ix.search("Atameken")
        assert ix.update([corpus / "seeds"], prune=True).files_removed == 1
        assert not ix.search("Atameken")
        assert ix.stats().files == 4


def test_bad_file_is_reported_and_the_rest_indexed(corpus):
    (corpus / "seeds" / "broken.txt").write_bytes(b"\xff\xfe\x00\x01binary")
    (corpus / "seeds" / "empty.txt").write_text("")
    report = Index.build([corpus / "seeds", corpus / "missing.txt"], corpus / "index")
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
    assert set(reasons) == {"broken.txt", "empty.txt", "missing.txt"}
    assert "binary" in reasons["broken.txt"] and "empty" in reasons["empty.txt"]
    assert report.articles == 5


def test_a_first_build_reads_the_files_of_punkts_sample_once(corpus, monkeypatch):
    """Punkt's sample reads the files first; indexing takes their articles, and what their reading skipped, from
    that reading."""
    import searchkit.ingest

    (corpus / "seeds" / "feed.jsonl").write_text('{"text": "A good line. Of words."}\nnot json\n{"text": ""}\n')
    read = searchkit.ingest.read_articles
    reads: list[str] = []

    def counted(path, **kwargs):
        reads.append(str(path))
        return read(path, **kwargs)

    monkeypatch.setattr(searchkit.ingest, "read_articles", counted)
    report = Index.build([corpus / "seeds"], corpus / "index")
    assert sorted(reads) == sorted(str(f) for f in (corpus / "seeds").iterdir())
    assert report.articles == 6
    assert [(s.path.rsplit("/", 1)[-1], s.line) for s in report.skipped] == [("feed.jsonl", 2), ("feed.jsonl", 3)]


def test_failed_build_leaves_the_previous_index_intact(corpus):
    Index.build([corpus / "seeds"], corpus / "index")
    with Index.open(corpus / "index") as ix:
        before = _all_ids(ix)

    def explode(done, total, path):
        if done == 2:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        Index.build([corpus / "seeds"], corpus / "index", progress=explode)
    with Index.open(corpus / "index") as ix:
        assert _all_ids(ix) == before
    assert [p.name for p in corpus.iterdir() if p.name.startswith(".")] == []


def test_build_refuses_a_directory_that_is_not_an_index_and_changes_nothing(corpus, run_cli):
    notes = corpus / "seeds"
    before = {f.name: f.read_bytes() for f in notes.iterdir()}
    for rebuild in ([], ["--rebuild"]):
        result = run_cli("index", notes, "--index", notes, *rebuild)
        assert result.code == 2, result.stderr
        assert f"error: {notes} exists and is not a searchkit index: nothing was written" in result.stderr
        assert "Traceback" not in result.stderr
    assert {f.name: f.read_bytes() for f in notes.iterdir()} == before
    (corpus / "a-file").write_text("not a folder")
    with pytest.raises(IndexNotFound, match="is not a searchkit index"):
        Index.build([notes], corpus / "a-file")
    assert (corpus / "a-file").read_text() == "not a folder"


def test_open_missing_and_incompatible_indexes(corpus):
    with pytest.raises(IndexNotFound, match="no searchkit index"):
        Index.open(corpus / "nowhere")
    Index.build([corpus / "seeds"], corpus / "index")
    edit_manifest(corpus / "index", schema_version=SCHEMA_VERSION + 100)
    with pytest.raises(IndexIncompatible, match="rebuild"):
        Index.open(corpus / "index")


def test_prebuilt_index_moves_with_its_folder(corpus):
    Index.build([corpus / "seeds"], corpus / "index")
    moved = corpus / "elsewhere"
    shutil.copytree(corpus, moved)
    with Index.open(moved / "index") as ix:
        hit = ix.search("seabed")[0]
        assert hit.passage.path == str(moved / "seeds" / "003_9cb6d1b06f34c5b0.txt")


def test_get_and_neighbours(seed_index):
    with Index.open(seed_index) as ix:
        hit = ix.search('"Caspian Sea" seabed')[0]
        assert ix.get(hit.passage.id) == hit.passage
        around = ix.neighbours(hit.passage.id)
        assert [p.position for p in around] == [hit.passage.position - 1, hit.passage.position + 1]
        assert all(p.article == hit.passage.article for p in around)
        with pytest.raises(PassageNotFound):
            ix.get("0000000000000000")


def test_a_changed_file_that_became_unreadable_keeps_its_passages(corpus):
    Index.build([corpus / "seeds"], corpus / "index")
    seed = corpus / "seeds" / "004_1c9a91d3e2df1cb5.txt"
    seed.write_bytes(b"\x00\x01 now binary")
    with Index.open(corpus / "index") as ix:
        report = ix.update([corpus / "seeds"])
        assert [s.reason.split(" ")[0] for s in report.skipped] == ["binary"]
        assert ix.search("Atameken") and ix.stats().files == 5


def test_refresh_follows_another_writers_commit_and_releases_the_old_one(seeds_dir, tmp_path, run_cli):
    path = tmp_path / "index"
    Index.build([seeds_dir], path)
    with Index.open(path) as ix:
        assert ix.refresh() is False
        first = ix.search("forum").generation
        new = tmp_path / "new"
        new.mkdir()
        (new / "cloves.txt").write_text("Zanzibar cloves\n\nZanzibar exports cloves to the world market.\n")
        assert run_cli("index", new, "--index", path).code == 0
        assert ix.search("zanzibar") == [] and (path / first).is_dir()  # still the commit it opened
        assert ix.refresh() is True and ix.refresh() is False
        found = ix.search("zanzibar")
        assert found and found.generation != first
        (new / "more.txt").write_text("Zanzibar spices\n\nSpices of Zanzibar reach the port.\n")
        assert run_cli("index", new, "--index", path).code == 0
        assert not (path / first).exists()  # released by refresh: the next writer removed it


def test_a_call_under_way_at_refresh_finishes_on_its_commit(seeds_dir, tmp_path, run_cli):
    path = tmp_path / "index"
    Index.build([seeds_dir], path)
    with Index.open(path) as ix:
        before = [p.id for p in ix.passages()]
        first = ix.directory.name
        reading = ix.passages()  # a generator: it reads one commit from its first passage to its last
        started = [next(reading).id]
        new = tmp_path / "new"
        new.mkdir()
        (new / "cloves.txt").write_text("Zanzibar cloves\n\nZanzibar exports cloves to the world market.\n")
        assert run_cli("index", new, "--index", path).code == 0
        assert ix.refresh() is True and ix.directory.name != first
        assert started + [p.id for p in reading] == before  # the old commit, whole, after the swap
        assert len(list(ix.passages())) == len(before) + 1
        assert run_cli("index", new, "--index", path).code == 0
        assert not (path / first).exists()  # released when the call ended
