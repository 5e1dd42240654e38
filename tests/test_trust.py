"""An index directory from elsewhere runs no code: a crafted pickle at each place Whoosh unpickles is refused.

Each crafted index is a real seed index with one kind of pickled data replaced by (or extended with) a pickle
whose loading runs ``touch MARKER``; its manifest and ``CURRENT`` are rewritten to match, as whoever crafts
the directory can do, so the integrity checks pass and only the unpickling stands between it and the code.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shlex
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import whoosh.codec.whoosh3
import whoosh.columns
import whoosh.filedb.structfile
import whoosh.index
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from whoosh.filedb.structfile import StructFile

from searchkit import Index, IndexCorrupt, IndexUntrusted, SearchkitError, check_index
from searchkit import store
from searchkit.positions import CompactPositions
from searchkit.safepickle import ALLOWED

CRAFTED = [
    {"id": "crafted-1", "article": "c1", "path": "seeds/crafted.txt", "position": 0, "span": (0, 26),
     "body": "Caspian wordalpha wordbeta", "title": "Caspian crafted"},
    {"id": "crafted-2", "article": "c2", "path": "seeds/crafted.txt", "position": 0, "span": (0, 26),
     "body": "Caspian wordgamma wordbeta", "title": "Caspian crafted"},
]
"""Passages added through Whoosh's own writer with one of its pickling functions replaced (see ``with_writer``):
two share ``wordbeta`` (a posting block), ``wordalpha`` is in one (postings inlined in the term's entry)."""


class RunsCode:
    """Unpickled, runs a shell command that creates ``marker``: what a crafted index carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def generation_of(index: Path) -> Path:
    return index / (index / "CURRENT").read_text().split()[0]


def seal(index: Path, added_passages: int = 0) -> None:
    """Rewrite the manifest's file sizes and CRC-32s (and passage count), and CURRENT's CRC of the manifest."""
    generation = generation_of(index)
    manifest_file = generation / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["segment_files"] = store.file_checksums(generation)
    manifest["counts"]["passages"] += added_passages
    manifest_file.write_text(json.dumps(manifest))
    (index / "CURRENT").write_text(f"{generation.name} {zlib.crc32(manifest_file.read_bytes())}\n")


def toc_file(index: Path) -> Path:
    (toc,) = generation_of(index).glob("_MAIN_*.toc")
    return toc


def split_toc(data: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """Whoosh 2.7.4's TOC as (the header up to its version, the version and release, the pickled schema, the
    generation and an unused int, the pickled segment list); the schema is a length-prefixed string."""
    f = StructFile(io.BytesIO(data))
    for _ in range(3):
        f.read_varint()
    f.read_int()
    version_at = f.tell()
    f.read_int()
    for _ in range(3):
        f.read_varint()
    schema_at = f.tell()
    schema = f.read_string()
    middle_at = f.tell()
    f.read_int()
    f.read_int()
    segments_at = f.tell()
    assert isinstance(pickle.loads(data[segments_at:]), list)  # the split is right: the rest is the segment list
    return (data[:version_at], data[version_at:schema_at], schema, data[middle_at:segments_at],
            data[segments_at:])


def with_toc(index: Path, *, version: int | None = None, schema: bytes | None = None,
             segments: bytes | None = None) -> None:
    """Replace the TOC's version, pickled schema or pickled segment list."""
    toc = toc_file(index)
    head, release, old_schema, middle, old_segments = split_toc(toc.read_bytes())
    if version is not None:
        release = version.to_bytes(4, "big", signed=True) + release[4:]
    string = io.BytesIO()
    StructFile(string).write_string(old_schema if schema is None else schema)
    toc.write_bytes(head + release + string.getvalue() + middle + (old_segments if segments is None else segments))
    seal(index)


def with_writer(index: Path, module, name: str, wrap: Callable) -> None:
    """Add ``CRAFTED`` as a new segment, written by Whoosh with ``module.name`` (a pickling function) wrapped."""
    ix = whoosh.index.open_dir(str(generation_of(index)))
    original = getattr(module, name)
    setattr(module, name, wrap(original))
    try:
        writer = ix.writer()
        for doc in CRAFTED:
            writer.add_document(**doc)
        writer.commit(merge=False)
    finally:
        setattr(module, name, original)
    seal(index, added_passages=len(CRAFTED))


def segments_pickle(index: Path, change: Callable[[list], None]) -> bytes:
    segments = pickle.loads(split_toc(toc_file(index).read_bytes())[4])
    change(segments)
    return pickle.dumps(segments, -1)


def outside_segment(index: Path, segments: list) -> None:
    """Point the segment at a copy of its files outside the generation directory (a file name with ``..``)."""
    (segment,) = segments
    elsewhere = index / "elsewhere"
    elsewhere.mkdir()
    for file in generation_of(index).glob(f"MAIN_{segment.segid}*"):
        shutil.copy(file, elsewhere / file.name)
    segment.segid = f"x/../../elsewhere/MAIN_{segment.segid}"


def outside_topk(index: Path, marker: Path) -> None:
    """The top-k arrays' table names a segment file outside the index (a copy of the real one)."""
    meta_file = generation_of(index) / "topk" / "meta.json"
    meta = json.loads(meta_file.read_text())
    (segment,) = meta["segments"]
    shutil.copy(generation_of(index) / f"{segment[0]}.topk", index / "elsewhere.topk")
    segment[0] = "../elsewhere"
    meta_file.write_text(json.dumps(meta))
    seal(index)


EVERYTHING = ("open", "verify", "query", "query block", "phrase", "per article", "show", "stats", "check")
# kind → (how to craft it, the reads that must refuse it; every other read may answer but must not run code)
CRAFTS: dict[str, tuple[Callable[[Path, Path], None], tuple[str, ...]]] = {
    "TOC: schema": (lambda ix, m: with_toc(ix, schema=pickle.dumps(RunsCode(m), 2)), EVERYTHING),
    "TOC: segment list": (lambda ix, m: with_toc(ix, segments=pickle.dumps([RunsCode(m)], -1)), EVERYTHING),
    "TOC: older format": (lambda ix, m: with_toc(ix, version=-110, schema=pickle.dumps(RunsCode(m), 2)), EVERYTHING),
    "TOC: segment file outside the index": (
        lambda ix, m: with_toc(ix, segments=segments_pickle(ix, lambda s: outside_segment(ix, s))), EVERYTHING),
    "stored fields": (
        lambda ix, m: with_writer(ix, whoosh.columns, "dumps", lambda f: lambda v, *a: pickle.dumps(RunsCode(m), 2)),
        ("query", "query block", "per article", "show", "check")),
    "postings (blocks, block headers, inlined)": (
        lambda ix, m: with_writer(ix, whoosh.codec.whoosh3, "dumps",
                                  lambda f: lambda v, *a: pickle.dumps(RunsCode(m), 2)),
        ("query", "query block", "per article", "show", "check")),
    # positions are byte gaps (``CompactPositions``), never unpickled: a pickle there is read as gaps, and runs nothing
    "positions": (
        lambda ix, m: with_writer(ix, CompactPositions, "encode",
                                  lambda f: lambda self, positions: pickle.dumps(RunsCode(m), 2)),
        ()),
    "terms table extras": (
        lambda ix, m: with_writer(ix, whoosh.filedb.structfile, "dump_pickle",
                                  lambda f: lambda obj, file, *a: f(RunsCode(m) if isinstance(obj, dict) else obj,
                                                                    file, *a)),
        EVERYTHING),
    "top-k arrays: segment file outside the index": (lambda ix, m: outside_topk(ix, m), ("per article",)),
}


@pytest.fixture(scope="module")
def clean_index(tmp_path_factory, seeds_dir) -> Path:
    path = tmp_path_factory.mktemp("trust") / "index"
    Index.build([seeds_dir], path)
    return path


@pytest.fixture(params=CRAFTS)
def crafted(request, clean_index, tmp_path) -> tuple[Path, Path, tuple[str, ...]]:
    index, marker = tmp_path / "index", tmp_path / "MARKER"
    shutil.copytree(clean_index, index)
    craft, refused = CRAFTS[request.param]
    craft(index, marker)
    assert not marker.exists()
    return index, marker, refused


def test_a_crafted_index_runs_no_code_and_every_read_that_reaches_it_refuses_it(crafted, run_cli):
    index, marker, refused = crafted
    reads = {
        "query": ("query", "wordalpha", "--index", index),
        "query block": ("query", "Caspian OR wordbeta", "--index", index, "--limit", "50"),
        "phrase": ("query", '"wordalpha wordbeta"', "--index", index),
        "per article": ("query", "Caspian", "--per-article", "--index", index),
        "show": ("show", "crafted-1", "--index", index),
        "stats": ("stats", "--index", index),
        "check": ("check", "--index", index),
    }
    for read, args in reads.items():
        result = run_cli(*args)
        assert not marker.exists(), f"{read} ran the crafted index's code"
        assert "Traceback" not in result.stderr, (read, result.stderr)
        if read in refused:
            assert result.code == 2, (read, result.code, result.stdout, result.stderr)
            if read != "check":
                assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (read, result.stderr)
            # a segment added by Whoosh's writer has no top-k arrays: reads that need them refuse the mismatch first
            mismatch = read == "per article" and "top-k arrays" in result.stderr and "do not match" in result.stderr
            assert mismatch or "refused" in result.stderr + result.stdout or "format -110" in result.stderr + result.stdout, (
                read, result.stderr, result.stdout)
        else:
            assert result.code in (0, 1, 2), (read, result.stderr)
            assert result.code != 2 or read == "check" or result.stderr.startswith("error: "), (read, result.stderr)
    for verify in (False, True):
        opened = ("verify" if verify else "open") in refused
        try:
            with Index.open(index, verify=verify) as ix:
                assert not opened, f"Index.open(verify={verify}) took a crafted index"
                ix.search("Caspian OR wordbeta", limit=50)
                ix.search('"wordalpha wordbeta"')
        except SearchkitError as e:
            assert isinstance(e, IndexCorrupt), repr(e)
            assert str(index) in str(e) and "\n" not in str(e)
        assert not marker.exists()
    report = check_index(index)
    assert not marker.exists()
    if "check" in refused:
        assert not report.ok


def test_what_is_refused_is_named(clean_index, tmp_path):
    index, marker = tmp_path / "index", tmp_path / "MARKER"
    shutil.copytree(clean_index, index)
    with_toc(index, schema=pickle.dumps(RunsCode(marker), 2))
    with pytest.raises(IndexUntrusted, match=r"posix\.system|os\.system") as raised:
        Index.open(index)
    assert raised.value.path == str(index) and not marker.exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(module=st.sampled_from(["os", "posix", "subprocess", "builtins", "__builtin__", "shutil", "io", "pickle",
                               "importlib", "whoosh.index", "searchkit.store", "sys", "codecs", "_codecs",
                               "collections", "functools", "operator", "types", "ctypes", "runpy", "numpy"]),
       name=st.sampled_from(["system", "eval", "exec", "getattr", "__import__", "open", "rmtree", "loads",
                             "import_module", "run_path", "partial", "attrgetter", "methodcaller", "FunctionType",
                             "Popen", "encode", "decode", "OrderedDict", "setattr", "apply", "compile", "bytes"]),
       protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_no_global_outside_the_allow_list_is_ever_imported(clean_index, tmp_path_factory, module, name, protocol):
    """A schema pickle naming any function or class off the allow-list (by any pickle protocol) is refused
    before it is imported or called."""
    assume((module, name) not in ALLOWED)
    index = tmp_path_factory.mktemp("fuzz") / "index"
    shutil.copytree(clean_index, index)
    payload = (b"\x80" + bytes([protocol]) if protocol >= 2 else b"") + \
        f"c{module}\n{name}\n(tR.".encode()
    with_toc(index, schema=payload)
    with pytest.raises(IndexUntrusted, match=f"{module}.{name}"):
        Index.open(index)
    shutil.rmtree(index)


def test_the_seed_index_and_a_fresh_build_still_open_search_and_check(seed_index, clean_index, tmp_path, seeds_dir):
    for path in (seed_index, clean_index, Path(__file__).resolve().parent.parent / "index"):
        with Index.open(path, verify=True) as ix:
            hits = ix.search("Caspian seabed", limit=5)
            assert hits and ix.get(hits[0].passage.id).id == hits[0].passage.id
            assert ix.search('"Caspian Sea"') and ix.search("Casp*") and ix.stats().passages > 0
        assert check_index(path).ok


@pytest.mark.parametrize("call", [b"c_codecs\nencode\n(Vtext\nVrot13\ntR.", b"cre\n_compile\n(Vx\nI128\ntR.",
                                  b"c__builtin__\nbytes\n(I1000\ntR."])
def test_the_functions_a_schema_pickle_may_call_refuse_arguments_searchkit_never_writes(clean_index, tmp_path, call):
    """Pickle protocol 2 calls _codecs.encode(text, "latin1"), bytes() and re._compile(pattern, flags) to rebuild
    bytes and compiled patterns: any other encoding, a bytes(n) allocation or re.DEBUG (printing) is refused."""
    index = tmp_path / "index"
    shutil.copytree(clean_index, index)
    with_toc(index, schema=b"\x80\x02" + call)
    with pytest.raises(IndexUntrusted, match="never writes"):
        Index.open(index)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5),
                    st.binary(max_size=5), st.datetimes())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
                      | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(stored=VALUES | st.fixed_dictionaries({name: VALUES | SCALARS for name in CRAFTED[0]}))
def test_crafted_stored_values_of_admitted_types_raise_only_searchkit_errors(clean_index, tmp_path_factory, stored):
    """Stored fields of the wrong shape (a list, an int for a title, a three-number span, ...) made only of
    admitted types: every read raises a SearchkitError or answers, never another exception."""
    index = tmp_path_factory.mktemp("stored") / "index"
    shutil.copytree(clean_index, index)
    with_writer(index, whoosh.columns, "dumps", lambda f: lambda v, *a: pickle.dumps(stored, 2))
    with Index.open(index) as ix:
        for read in (lambda: ix.search("wordalpha"), lambda: ix.search("Caspian OR wordbeta", limit=50),
                     lambda: ix.get("crafted-1"), lambda: ix.neighbours("crafted-1"), lambda: list(ix.passages()),
                     lambda: ix.search("Caspian", per_article=True, limit=50)):
            try:
                read()
            except SearchkitError:
                pass
    shutil.rmtree(index)
