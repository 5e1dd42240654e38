"""The real CLI in a subprocess: every command, exit codes, stdout/stderr split, the JSON contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import edit_manifest
from searchkit import __version__, schema

JSON_KEYS = {"rank", "score", "id", "article", "position", "date", "source", "place", "title", "speaker", "tags",
             "authors", "url", "text", "highlights", "path", "line", "span"}


def test_query_prints_ranked_highlighted_passages(run_cli, seed_index):
    result = run_cli("query", "Caspian seabed", "--index", seed_index)
    assert result.code == 0, result.stderr
    first = result.stdout.split("\n2. ")[0]
    assert first.startswith("1. [") and "2017-11-09 · Kremlin · Chelyabinsk" in first
    assert "Delimitation of the Seabed" in first and "id " in first
    assert "\x1b[" not in result.stdout  # piped: plain text, no escape codes
    assert result.stderr == ""


def test_query_json_contract(run_cli, seed_index, seeds_dir):
    result = run_cli("query", "Caspian seabed", "--index", seed_index, "--json", "--limit", "3")
    assert result.code == 0
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert 1 <= len(hits) <= 3 and [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    for hit in hits:
        assert JSON_KEYS <= set(hit)
        assert hit["path"].startswith("seeds/")  # relative to the working directory (the repo)
        source = (seeds_dir.parent / hit["path"]).read_bytes().decode("utf-8-sig")
        assert source[hit["span"][0]:hit["span"][1]] == hit["text"]
        for fragment in hit["highlights"]:
            assert hit["text"][fragment["start"]:fragment["start"] + len(fragment["text"])] == fragment["text"]
            assert all(fragment["text"][s:e].lower() in ("caspian", "seabed") for s, e in fragment["matches"])
    assert hits[0]["date"] == "2017-11-09" and hits[0]["source"] == "Kremlin"


@pytest.mark.parametrize("args, code, message", [
    (["query", "zzyzx"], 1, "no passages matched"),
    (["query", '"Caspian'], 2, "error: unbalanced quote"),
    (["query", "foo:bar"], 2, "error: unknown field 'foo'"),
    (["query", "forum", "--since", "2017-02-30"], 2, "error: since must be a date"),
    (["query", "forum", "--sort", "title"], 2, "error: sort must be one of"),
    (["query", "forum", "--limit", "0"], 2, "error: limit must be at least 1"),
    (["show", "ffffffffffffffff"], 1, "error: no passage with id"),
])
def test_exit_codes_and_one_line_errors(run_cli, seed_index, args, code, message):
    result = run_cli(*args, "--index", seed_index)
    assert result.code == code
    assert result.stderr.strip().startswith(message) and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_missing_index_is_a_clear_error(run_cli, tmp_path):
    result = run_cli("query", "forum", "--index", tmp_path / "nope")
    assert result.code == 2 and result.stderr.startswith("error: no searchkit index at")
    assert len(result.stderr.strip().splitlines()) == 1


def test_incompatible_index_is_a_clear_error(run_cli, tmp_path, seed_index):
    copy = tmp_path / "index"
    shutil.copytree(seed_index, copy)
    edit_manifest(copy, schema_version=-1)
    result = run_cli("stats", "--index", copy)
    assert result.code == 2 and "rebuild" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_query_builds_the_default_index_from_seeds_when_missing(run_cli, tmp_path, seeds_dir):
    shutil.copytree(seeds_dir, tmp_path / "seeds")
    result = run_cli("query", "Caspian seabed", cwd=tmp_path, env={"SEARCHKIT_INDEX": ""})
    assert result.code == 0
    assert result.stderr.strip() == "no index at index/ yet: building it from seeds/ first"
    assert "Delimitation of the Seabed" in result.stdout.split("\n2. ")[0]
    again = run_cli("query", "Caspian seabed", cwd=tmp_path, env={"SEARCHKIT_INDEX": ""})
    assert again.code == 0 and again.stderr == ""


def test_filters_and_sort_flags(run_cli, seed_index):
    result = run_cli("query", "forum", "--index", seed_index, "--json", "--limit", "50", "--source", "kazinform",
                     "--since", "2017-11-01", "--until", "2017-11-30", "--sort", "date")
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert hits and all(h["source"] == "Kazinform" and "2017-11-01" <= h["date"] <= "2017-11-30" for h in hits)
    assert [h["date"] for h in hits] == sorted((h["date"] for h in hits), reverse=True)
    speaker = run_cli("query", "cooperation", "--index", seed_index, "--json", "--speaker", "Vladimir Putin")
    assert speaker.code == 0
    assert all("Vladimir Putin" in json.loads(line)["speaker"] for line in speaker.stdout.splitlines())
    place = run_cli("query", "forum", "--index", seed_index, "--json", "--place", "Nur-Sultan", "--no-aliases")
    assert {json.loads(line)["place"] for line in place.stdout.splitlines()} == {"Nur-Sultan"}


@pytest.mark.slow
def test_index_command_reports_and_skips_bad_files(run_cli, tmp_path, seeds_dir):
    shutil.copytree(seeds_dir, tmp_path / "seeds")
    (tmp_path / "seeds" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    result = run_cli("index", "seeds", "--index", "idx", cwd=tmp_path)
    assert result.code == 3
    assert "indexed 5 articles" in result.stderr and "5 added" in result.stderr
    assert "skipped seeds/image.png: binary file" in result.stderr
    assert result.stdout == ""
    again = run_cli("index", "seeds", "--index", "idx", cwd=tmp_path)
    assert "indexed 0 articles" in again.stderr and "5 unchanged" in again.stderr
    query = run_cli("query", "Caspian", "--index", "idx", cwd=tmp_path)
    assert query.code == 0


@pytest.mark.slow
def test_index_rebuild_and_prune(run_cli, tmp_path, seeds_dir):
    shutil.copytree(seeds_dir, tmp_path / "seeds")
    assert run_cli("index", "seeds", "--index", "idx", cwd=tmp_path).code == 0
    (tmp_path / "seeds" / "004_1c9a91d3e2df1cb5.txt").unlink()
    pruned = run_cli("index", "seeds", "--index", "idx", "--prune", cwd=tmp_path)
    assert pruned.code == 0 and "1 removed" in pruned.stderr
    rebuilt = run_cli("index", "seeds", "--index", "idx", "--rebuild", cwd=tmp_path)
    assert rebuilt.code == 0 and "4 added" in rebuilt.stderr


def test_show_prints_passage_metadata_and_neighbours(run_cli, seed_index):
    top = json.loads(run_cli("query", "Caspian seabed", "--index", seed_index, "--json").stdout.splitlines()[0])
    result = run_cli("show", top["id"], "--index", seed_index)
    assert result.code == 0
    assert top["text"].split("\n")[0] in result.stdout
    for label in ("id", "article", "date", "source", "place", "title", "tags", "file", "span", "previous", "next"):
        assert label in result.stdout
    data = json.loads(run_cli("show", top["id"], "--index", seed_index, "--json").stdout)
    assert data["id"] == top["id"] and [n["position"] for n in data["neighbours"]] == [top["position"] - 1,
                                                                                      top["position"] + 1]


def test_stats(run_cli, seed_index):
    result = run_cli("stats", "--index", seed_index)
    assert result.code == 0
    for text in ("passages", "5 in 5 files", "2017-11-09 … 2019-10-09", "Kazinform", "Nur-Sultan", f"schema {schema.SCHEMA_VERSION}"):
        assert text in result.stdout
    data = json.loads(run_cli("stats", "--index", seed_index, "--json").stdout)
    assert data["articles"] == 5 and data["sources"]["Kremlin"] > 0 and data["manifest"]["counts"]["files"] == 5


def test_version_and_help(run_cli):
    version = run_cli("--version")
    assert version.code == 0 and version.stdout.strip() == f"searchkit {__version__}"
    for command in ("index", "query", "show", "stats"):
        helped = run_cli(command, "--help")
        assert helped.code == 0 and "Usage:" in helped.stdout
    usage = run_cli("query")
    assert usage.code == 2 and "Error: Missing argument" in usage.stderr and "Traceback" not in usage.stderr


def test_index_of_only_missing_paths_is_an_error_and_creates_nothing(run_cli, tmp_path):
    result = run_cli("index", "nowhere", "--index", "idx", cwd=tmp_path)
    assert result.code == 2 and result.stderr.strip() == "error: no such file or directory: nowhere"
    assert not (tmp_path / "idx").exists()


@pytest.mark.slow
def test_jsonl_articles_through_the_cli(run_cli, tmp_path):
    lines = [{"id": "r1", "date": "1987-03-02", "source": "REUTERS", "place": "HOUSTON", "title": "Oil prices",
              "text": "Crude oil prices rose.\n\nOPEC ministers meet in Vienna next week.", "tags": ["crude"]},
             {"id": "r2", "date": "1987-03-03", "text": "Grain exports to the Soviet Union fell."}]
    (tmp_path / "feed.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    indexed = run_cli("index", "feed.jsonl", "--index", "idx", cwd=tmp_path)
    assert indexed.code == 3 and "skipped feed.jsonl:3: malformed JSON" in indexed.stderr
    result = run_cli("query", "OPEC Vienna", "--index", "idx", "--json", cwd=tmp_path)
    hit = json.loads(result.stdout.splitlines()[0])
    assert (hit["article"], hit["path"], hit["line"], hit["date"], hit["source"]) == ("r1", "feed.jsonl", 1,
                                                                                     "1987-03-02", "Reuters")
    assert lines[0]["text"][hit["span"][0]:hit["span"][1]] == hit["text"]


def ascii_escaped(text: str) -> str:
    """``text`` as searchkit writes it to a stream that cannot encode it: JSON escapes, astral as pairs."""
    return "".join(c if ord(c) < 128 else "".join(f"\\u{u:04x}" for u in divmod_surrogates(ord(c))) for c in text)


def divmod_surrogates(code: int) -> tuple[int, ...]:
    if code <= 0xFFFF:
        return (code,)
    code -= 0x10000
    return 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)


NARROW_STDOUT = {"ascii": {"PYTHONIOENCODING": "ascii"},
                 "C locale": {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}}
HARD_TEXT = {"id": "u1", "date": "2020-01-02", "source": "Agence Québec", "place": "Zürich",
             "title": "Ωmega “quoted” headline", "tags": ["naïve", "日本"],
             "text": "Pipeline talks in Zürich — “quoted” café, 中文 words, emoji 😀 and e\u0301 combining.\n\n"
                     "Second paragraph: pipeline in עברית and العربية, zero\u200bwidth."}


@pytest.fixture(scope="module")
def hard_index(tmp_path_factory):
    from searchkit import Index

    root = tmp_path_factory.mktemp("hard")
    (root / "hard.jsonl").write_text(json.dumps(HARD_TEXT, ensure_ascii=False) + "\n", encoding="utf-8")
    Index.build([root / "hard.jsonl"], root / "index")
    return root / "index"


@pytest.mark.slow
@pytest.mark.parametrize("narrow", NARROW_STDOUT)
def test_output_a_narrow_stdout_cannot_encode_is_escaped_never_a_crash(run_cli, hard_index, narrow):
    env = NARROW_STDOUT[narrow]
    passage_id = json.loads(run_cli("query", "pipeline", "--index", hard_index, "--json").stdout.splitlines()[0])["id"]
    for args in (["query", "pipeline"], ["show", passage_id], ["stats"]):
        utf8 = run_cli(*args, "--index", hard_index)
        result = run_cli(*args, "--index", hard_index, env=env)
        assert result.code == 0 and result.stderr == "", result.stderr
        assert result.stdout == ascii_escaped(utf8.stdout)
    for args in (["query", "pipeline", "--json"], ["show", passage_id, "--json"], ["stats", "--json"]):
        utf8 = run_cli(*args, "--index", hard_index)
        result = run_cli(*args, "--index", hard_index, env=env)
        assert result.code == 0 and result.stderr == "", result.stderr
        assert result.stdout.isascii()
        assert [json.loads(line) for line in result.stdout.splitlines()] == [
            json.loads(line) for line in utf8.stdout.splitlines()]
    hit = json.loads(run_cli("query", "pipeline", "--json", "--index", hard_index, env=env).stdout.splitlines()[0])
    assert hit["text"] in HARD_TEXT["text"] and (hit["source"], hit["place"]) == ("Agence Québec", "Zürich")


@pytest.mark.slow
def test_eval_checks_its_run_file_before_indexing_and_writes_it_whole(run_cli, tmp_path, tiny_collection):
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    for run, reason in [("missing/dir/run.txt", "no folder missing/dir"), ("folder", "it is a directory"),
                        ("a-file/run.txt", "Not a directory"), ("", "it is a directory")]:  # "": the working dir
        result = run_cli("eval", tiny_collection, "--run", run, cwd=tmp_path)
        assert result.code == 2 and result.stdout == ""
        assert result.stderr.strip().splitlines() == [f"error: cannot write the run file {run or '.'}: {reason}"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "adi", "folder"]
    (tmp_path / "run.txt").write_text("an older run\n")
    result = run_cli("eval", tiny_collection, "--run", "run.txt", "--json", cwd=tmp_path)
    assert result.code == 0 and json.loads(result.stdout)["queries"] == 2
    lines = (tmp_path / "run.txt").read_text().splitlines()
    assert lines[0].split()[:4] == ["1", "Q0", "1", "1"] and all(line.endswith(" searchkit") for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "adi", "folder", "run.txt"]  # no temporary file


@pytest.mark.parametrize(("files", "message"), [
    ({"ADI.REL": "x y z\n"}, "is not a readable adi collection"),  # judgments numbered by words
    ({"ADI.QRY": ".I abc\n.W\nfoo\n"}, "is not a readable adi collection"),
    ({"ADI.REL": "1 1 0 0.0\n2 two 0 0.0\n"}, "is not a readable adi collection"),
])
def test_eval_of_a_damaged_collection_is_one_line(run_cli, tiny_collection, files, message):
    for name, text in files.items():
        (tiny_collection / name).write_text(text)
    result = run_cli("eval", tiny_collection)
    assert result.code == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


@pytest.mark.slow
def test_index_wait_must_be_a_number_of_seconds(run_cli, tmp_path, seeds_dir):
    """``--wait nan`` waited for ever on a held lock (no time is >= NaN); negative waits are refused alike."""
    index = tmp_path / "index"
    index.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, index / "writer.lock"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        for wait in ("nan", "-1", "-inf"):
            result = subprocess.run([sys.executable, "-m", "searchkit", "index", seeds_dir, "--index", index,
                                     "--wait", wait], capture_output=True, text=True, timeout=60)
            assert result.returncode == 2
            assert result.stderr.strip().splitlines() == [
                f"error: --wait must be a number of seconds, 0 or more; got {float(wait)}"]
    finally:
        holder.kill()
        holder.wait()
    assert run_cli("index", seeds_dir, "--index", index, "--wait", "0.5").code == 0


HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
import time
time.sleep(600)
"""


WORDS = ["pipeline", "Zürich", "café", "中文", "😀", "quoted", "talks", "Québec", '"pipeline talks"', "pipe*",
         "title:Ωmega", "source:québec", "date:[2020-01-01 TO 2020-12-31]", "NOT", "OR", "(", ")", "é\u0301"]
ARGUMENT = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    st.text(min_size=1, max_size=12).filter(lambda t: "\0" not in t),
    st.binary(min_size=1, max_size=8).filter(lambda b: b"\0" not in b).map(os.fsdecode),  # a non-UTF-8 argv
)
COMMANDS = st.one_of(
    st.tuples(st.just("query"), ARGUMENT,
              st.sampled_from([(), ("--json",), ("--per-article",), ("--sort", "date"), ("--limit", "1")])),
    st.tuples(st.just("show"), ARGUMENT, st.sampled_from([(), ("--json",)])),
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(command=COMMANDS)
def test_cli_argument_values_on_an_ascii_stdout_never_crash(hard_index, command):
    name, value, flags = command
    result = subprocess.run([sys.executable, "-m", "searchkit", name, os.fsencode(value), *flags, "--index",
                             hard_index], capture_output=True, env={**os.environ, "PYTHONIOENCODING": "ascii"},
                            timeout=120)
    stderr = result.stderr.decode("ascii")  # everything written is ASCII: what it cannot encode, escaped
    assert result.returncode in (0, 1, 2) and "Traceback" not in stderr, stderr
    assert result.stdout.isascii()
    if result.returncode == 2:
        assert stderr.strip().splitlines()[-1].startswith(("error: ", "Error: "))
    if "--json" in flags and result.returncode == 0:
        assert all(isinstance(json.loads(line), dict) for line in result.stdout.splitlines())
