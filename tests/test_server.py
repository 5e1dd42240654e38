"""searchkit serve: the JSON API and the pages through Starlette's TestClient, the live index against the real
``searchkit index``, and the real server (``searchkit serve`` on a free port) under faults."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install -e '.[serve,test]'")
pytest.importorskip("httpx", reason="the test extra (httpx, for Starlette's TestClient) is not installed")

import httpx  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from searchkit import Index, Results, page  # noqa: E402
from searchkit.query import MAX_OFFSET  # noqa: E402
from searchkit.server import MAX_LIMIT, create_app  # noqa: E402

from conftest import REPO, free_port, require_bench_extra, serving  # noqa: E402

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_TEXT = 'Caspian talks "><img src=x onerror=alert(2)> & more <b>bold</b> claims'


@pytest.fixture(scope="module")
def client(seed_index):
    with TestClient(create_app(seed_index)) as c:
        yield c


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    record = {"id": "x1", "title": HOSTILE_TITLE, "text": HOSTILE_TEXT, "source": "<i>Agency</i>",
              "place": '"Baku"', "date": "2019-03-05"}
    (folder / "hostile.jsonl").write_text(json.dumps(record) + "\n")
    path = folder / "index"
    Index.build([folder / "hostile.jsonl"], path)
    return path


def cli_json_hits(run_cli, *args: str) -> list[dict]:
    result = run_cli("query", *args, "--json", cwd=Path.cwd())
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def cli_error(run_cli, *args: str) -> str:
    result = run_cli("query", *args, cwd=Path.cwd())
    assert result.code == 2 and result.stderr.startswith("error: "), result.stderr
    return result.stderr.strip().removeprefix("error: ")


# --- the JSON API ---------------------------------------------------------------------------------------------


def test_search_hits_are_the_json_contract_of_the_cli(client, seed_index, run_cli):
    response = client.get("/api/search", params={"q": "Caspian seabed", "limit": 5, "since": "2017"})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "Caspian seabed"
    assert body["hits"] == cli_json_hits(run_cli, "Caspian seabed", "--limit", "5", "--since", "2017", "--index", str(seed_index))
    assert body["took_ms"] > 0 and body["offset"] == 0
    assert body["generation"] == response.headers["x-searchkit-generation"] == Index.open(seed_index).directory.name
    assert set(body) >= {"query", "total", "took_ms", "hits", "facets", "timeline"}


def test_filters_sort_and_flags_map_onto_search_arguments(client, seed_index, run_cli):
    params = {"q": "forum", "source": "Kremlin", "sort": "date", "limit": 20}
    hits = client.get("/api/search", params=params).json()["hits"]
    assert hits and {h["source"] for h in hits} == {"Kremlin"}
    assert hits == cli_json_hits(run_cli, "forum", "--source", "Kremlin", "--sort", "date", "--limit", "20",
                                 "--index", str(seed_index))
    articles = client.get("/api/search", params={"q": "forum", "per_article": "1", "limit": 20}).json()["hits"]
    assert len({h["article"] for h in articles}) == len(articles)
    relative = client.get("/api/search", params={"q": "forum", "since": "yesterday", "today": "2019-10-10"}).json()
    assert relative["hits"] and {h["date"] for h in relative["hits"]} == {"2019-10-09"}


def test_aliases_is_on_unless_turned_off_as_the_cli(client, seed_index, run_cli):
    widened = client.get("/api/search", params={"q": "forum", "place": "Astana", "limit": 50}).json()["hits"]
    written = client.get("/api/search", params={"q": "forum", "place": "Astana", "limit": 50, "aliases": "0"}).json()
    assert {h["place"] for h in written["hits"]} == {"Astana"} and {h["place"] for h in widened} > {"Astana"}
    assert written["hits"] == cli_json_hits(run_cli, "forum", "--place", "Astana", "--limit", "50", "--no-aliases",
                                            "--index", str(seed_index))


def test_offset_pages_through_one_ranking(client):
    whole = client.get("/api/search", params={"q": "forum", "limit": 12}).json()["hits"]
    pages = [client.get("/api/search", params={"q": "forum", "limit": 4, "offset": start}).json()["hits"]
             for start in (0, 4, 8)]
    assert [h["id"] for page in pages for h in page] == [h["id"] for h in whole]
    assert [h["rank"] for page in pages for h in page] == list(range(1, len(whole) + 1))


@pytest.mark.parametrize("params", [
    {"q": '"unbalanced'}, {"q": "(forum"}, {"q": "nosuchfield:x"}, {"q": "forum", "since": "next week"},
    {"q": ""}, {"q": "forum", "sort": "random"},
])
def test_a_malformed_query_or_filter_is_400_with_the_cli_line(client, seed_index, run_cli, params):
    response = client.get("/api/search", params=params)
    assert response.status_code == 400
    assert response.json() == {"error": response.json()["error"]}
    args = [params["q"]] + [a for k, v in params.items() if k != "q" for a in (f"--{k}", v)]
    assert response.json()["error"] == cli_error(run_cli, *args, "--index", str(seed_index))


@pytest.mark.parametrize("params, message", [
    ({"q": "forum", "limit": str(MAX_LIMIT + 1)}, f"limit must be at most {MAX_LIMIT}"),
    ({"q": "forum", "limit": "ten"}, "limit must be a whole number"),
    ({"q": "forum", "limit": "0"}, "limit must be at least 1"),
    ({"q": "forum", "offset": "-1"}, "offset must be a whole number"),
    ({"q": "forum", "offset": str(MAX_OFFSET + 1)}, f"offset must be from 0 to {MAX_OFFSET:,}"),
    ({"q": "forum", "expand": "maybe"}, "expand must be 1, 0, true or false"),
    ({"q": "forum", "collapse": "2"}, "collapse must be 1, 0, true or false"),
    ({"q": "forum", "today": "10/10/2019"}, "today must be a day as YYYY-MM-DD"),
    ({"q": "forum", "colour": "red"}, "unknown parameter 'colour'"),
    ({"q": "x" * 10_001}, "query is longer than 10000 characters"),
    ({"q": "forum", "place": "x" * 501}, "place is longer than 500 characters"),
])
def test_parameters_out_of_bounds_are_400(client, params, message):
    response = client.get("/api/search", params=params)
    assert response.status_code == 400 and response.json()["error"].startswith(message), response.text


def test_a_repeated_parameter_is_400(client):
    response = client.get("/api/search?q=forum&source=Kremlin&source=Kazinform")
    assert response.status_code == 400 and response.json() == {"error": "parameter source is given more than once"}


def test_a_query_of_stop_words_is_no_hits_with_a_note(client):
    body = client.get("/api/search", params={"q": "the of and"}).json()
    assert body["hits"] == [] and "stop word" in body["note"]


def test_passages_with_neighbours_as_show_json(client, seed_index, run_cli):
    hit = client.get("/api/search", params={"q": "Caspian seabed", "limit": 1}).json()["hits"][0]
    response = client.get(f"/api/passages/{hit['id']}")
    assert response.status_code == 200
    shown = run_cli("show", hit["id"], "--json", "--index", str(seed_index), cwd=Path.cwd())
    assert response.json() == json.loads(shown.stdout)
    assert response.json()["neighbours"]


def test_an_unknown_id_is_404(client):
    response = client.get("/api/passages/0000000000000000")
    assert response.status_code == 404 and response.json() == {"error": "no passage with id '0000000000000000'"}
    page = client.get("/passages/0000000000000000")
    assert page.status_code == 404 and "no passage with id" in page.text
    assert client.get("/api/nothing").json() == {"error": "Not Found"}


def test_stats_and_health(client, seed_index, run_cli):
    stats = client.get("/api/stats")
    assert stats.status_code == 200
    assert stats.json() == json.loads(run_cli("stats", "--json", "--index", str(seed_index)).stdout)
    assert client.get("/healthz").json() == {"ok": True, "generation": Index.open(seed_index).directory.name}


def test_a_damaged_index_is_500_with_one_line(seed_index, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(seed_index, copy)
    with TestClient(create_app(copy)) as damaged:
        generation = copy / (copy / "CURRENT").read_text().split()[0]
        for file in generation.iterdir():
            if file.suffix in (".trm", ".pst") or file.name.endswith("_stored.col"):
                file.write_bytes(b"\xff" * file.stat().st_size)  # same size: a mapped file is never cut short
        for url in ("/api/search?q=forum", "/api/passages/273a3d866caf8740"):
            response = damaged.get(url)
            assert response.status_code == 500, response.text
            error = response.json()["error"]
            assert "\n" not in error and "Traceback" not in error and "rebuild it with: searchkit index" in error
        page = damaged.get("/?q=forum")
        assert page.status_code == 500 and "rebuild it with" in page.text and "Traceback" not in page.text


def test_an_unexpected_error_is_500_with_one_line(seed_index, tmp_path):
    """Anything but a searchkit error (here a passage id holding a NUL, which Whoosh cannot take) is one line."""
    with TestClient(create_app(seed_index), raise_server_exceptions=False) as c:
        for url in ("/api/passages/a%00b", "/passages/a%00b"):
            response = c.get(url)
            assert response.status_code in (404, 500) and "Traceback" not in response.text


# --- the pages ------------------------------------------------------------------------------------------------


def test_the_page_shows_hits_with_marked_matches(client):
    response = client.get("/", params={"q": "Caspian seabed"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<mark>Caspian</mark>' in html and '<mark>Seabed</mark>' in html.replace("seabed", "Seabed")
    assert 'value="Caspian seabed"' in html and 'href="/passages/' in html
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere: it works offline


def test_the_page_shows_the_error_line(client):
    response = client.get("/", params={"q": "(forum"})
    assert response.status_code == 400 and "unbalanced parenthesis: &#x27;(&#x27; is not closed" in response.text


def test_the_front_page_says_what_the_index_holds(client):
    response = client.get("/")
    assert response.status_code == 200 and "passages of 5 articles" in response.text


def test_pagination_links_keep_the_state(client):
    html = client.get("/", params={"q": "forum", "limit": 3, "source": "Kremlin"}).text
    assert 'href="/?q=forum&amp;limit=3&amp;source=Kremlin&amp;offset=3"' in html
    second = client.get("/", params={"q": "forum", "limit": 3, "source": "Kremlin", "offset": 3}).text
    assert 'rel="prev" href="/?q=forum&amp;limit=3&amp;source=Kremlin"' in second and '<ol class="hits" start="4">' in second


def test_order_and_per_article_links_switch_each_other_off(client):
    html = client.get("/", params={"q": "forum", "per_article": "1"}).text
    assert 'href="/?q=forum&amp;sort=date">newest first</a>' in html and 'href="/?q=forum">one per article ×' in html
    by_date = client.get("/", params={"q": "forum", "sort": "date"}).text
    assert '<b>newest first</b>' in by_date and 'href="/?q=forum&amp;per_article=1">one per article' in by_date


def test_the_passage_page(client):
    hit = client.get("/api/search", params={"q": "Caspian seabed", "limit": 1}).json()["hits"][0]
    html = client.get(f"/passages/{hit['id']}").text
    assert hit["id"] in html and f"{hit['span'][0]}-{hit['span'][1]}" in html and 'rel="next"' in html


def test_facets_and_timeline_are_links_that_apply_and_drop_filters():
    """What the page makes of a search's counts (``Results.facets``, ``Results.timeline``)."""
    results = Results([], total=7, facets={"source": {"Kremlin": 5, "Kazinform": 2}, "tags": {"Economy": 3}},
                      timeline=[("2017-11", 5), ("2019-10", 2)])
    html = page.search_page({"q": "forum"}, results)
    assert 'href="/?q=forum&amp;source=Kremlin"' in html and "7 matches" in html
    assert 'href="/?q=forum+tags%3A%22Economy%22"' in html
    assert 'href="/?q=forum&amp;since=2017-11&amp;until=2017-11"' in html and 'class="h20"' in html
    applied = page.search_page({"q": 'forum tags:"Economy"', "source": "Kremlin", "since": "2017-11",
                                "until": "2017-11"}, results)
    assert 'class="applied" aria-current="true" href="/?q=forum+tags%3A%22Economy%22&amp;since=2017-11' in applied
    assert 'class="applied" aria-current="true" href="/?q=forum&amp;source=Kremlin&amp;since' in applied
    assert 'class="bar applied" href="/?q=forum+tags%3A%22Economy%22&amp;source=Kremlin"' in applied


def test_static_files_are_served(client):
    assert "mark" in client.get("/static/searchkit.css").text
    assert "keydown" in client.get("/static/searchkit.js").text


def test_article_text_is_escaped_in_every_page(hostile_index):
    with TestClient(create_app(hostile_index)) as c:
        search = c.get("/", params={"q": "Caspian"}).text
        hit = c.get("/api/search", params={"q": "Caspian"}).json()["hits"][0]
        assert hit["title"] == HOSTILE_TITLE
        passage = c.get(f"/passages/{hit['id']}").text
    for html in (search, passage):
        assert "<script>alert" not in html and "<img" not in html and "<b>bold" not in html and "<i>Agency" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&quot;&gt;&lt;img" in search  # the quote too: it can close no attribute


# --- the live index -------------------------------------------------------------------------------------------


def test_a_new_commit_is_served_within_two_seconds_and_old_ones_are_released(seeds_dir, tmp_path, run_cli):
    path = tmp_path / "index"
    Index.build([seeds_dir], path)
    with TestClient(create_app(path, refresh_seconds=0.5)) as c:
        assert c.get("/api/search", params={"q": "zanzibar"}).json()["hits"] == []
        first = c.get("/healthz").json()["generation"]
        new = tmp_path / "new"
        new.mkdir()
        (new / "cloves.txt").write_text("Zanzibar cloves\n\nZanzibar exports cloves to the world market.\n")
        assert run_cli("index", new, "--index", path).code == 0
        committed = time.monotonic()
        while not c.get("/api/search", params={"q": "zanzibar"}).json()["hits"]:
            assert time.monotonic() - committed < 2.0, "the new commit was not served within 2 s"
            time.sleep(0.05)
        assert c.get("/healthz").json()["generation"] != first
        (new / "more.txt").write_text("Zanzibar spices\n\nSpices of Zanzibar reach the port.\n")
        time.sleep(0.6)  # the background refresh runs without a request
        assert run_cli("index", new, "--index", path).code == 0
        assert not (path / first).exists(), "the first generation was kept after the server moved on"


# --- the command ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(seed_index):
    with serving(seed_index) as url:
        yield url


def test_serve_answers_over_http(server):
    body = httpx.get(f"{server}/api/search", params={"q": "Caspian"}).json()
    assert body["hits"] and body["hits"][0]["highlights"]


def test_serve_without_the_extra_names_it(run_cli):
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['starlette'] = None; sys.argv = ['searchkit', 'serve'];"
         " from searchkit.cli import app; app()"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: searchkit serve needs starlette: pip install 'searchkit[serve]'"


def test_serve_beyond_loopback_warns_and_a_bad_index_is_exit_2(run_cli, tmp_path, seed_index):
    missing = run_cli("serve", "--index", tmp_path / "none", "--port", str(free_port()))
    assert missing.code == 2 and missing.stderr.startswith("error: no searchkit index at")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "searchkit", "serve", "--index", str(seed_index), "--host", "0.0.0.0", "--port", str(port)],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )
    first = proc.stderr.readline()
    proc.terminate()
    proc.communicate(timeout=10)
    assert first.startswith("warning: serving on 0.0.0.0") and "no authentication" in first


def test_a_port_in_use_is_exit_2(run_cli, seed_index):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("serve", "--index", seed_index, "--port", str(taken.getsockname()[1]))
    assert result.code == 2 and result.stderr.startswith("error: ") and "cannot listen on 127.0.0.1" in result.stderr


# --- faults ---------------------------------------------------------------------------------------------------


def timed_search(url: str) -> float:
    started = time.monotonic()
    assert httpx.get(f"{url}/api/search", params={"q": "Caspian"}, timeout=10).status_code == 200
    return time.monotonic() - started


def test_slow_and_vanishing_clients_leave_others_answered(server):
    host, port = server.removeprefix("http://").split(":")
    slow = [socket.create_connection((host, int(port))) for _ in range(8)]
    for s in slow:
        s.sendall(b"GET /api/search?q=forum HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
    readers = []
    for _ in range(8):  # ask for a big answer and read none of it
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        s.sendall(b"GET /api/search?q=forum+OR+Caspian+OR+president&limit=100 HTTP/1.1\r\nHost: x\r\n\r\n")
        readers.append(s)
    for _ in range(8):  # and go away mid-response
        s = socket.create_connection((host, int(port)))
        s.sendall(b"GET /api/search?q=forum&limit=100 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(100)
        s.close()
    try:
        assert max(timed_search(server) for _ in range(5)) < 2.0
    finally:
        for s in slow + readers:
            s.close()
    assert timed_search(server) < 2.0


def test_a_megabyte_query_string_is_refused_and_others_answered(server):
    host, port = server.removeprefix("http://").split(":")
    for target in (f"/api/search?q={'a' * 1_000_000}", f"/?q={'a%20' * 300_000}"):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            try:
                s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                answer = s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                answer = b""  # uvicorn may close the connection while the request line still arrives
        assert answer == b"" or answer.split(b" ")[1] in (b"400", b"413", b"414", b"431"), answer[:200]
        assert b"Traceback" not in answer
    assert timed_search(server) < 2.0


@pytest.mark.slow
def test_ten_thousand_unknown_ids_leave_the_server_answering(server):
    def ask(count: int) -> None:
        with httpx.Client(base_url=server, timeout=10) as c:
            for n in range(count):
                assert c.get(f"/api/passages/{n:016x}").status_code == 404

    threads = [threading.Thread(target=ask, args=(2_500,)) for _ in range(4)]
    for t in threads:
        t.start()
    during = [timed_search(server) for _ in range(3)]
    for t in threads:
        t.join()
    assert max(during) < 5.0 and timed_search(server) < 2.0


@pytest.mark.slow
def test_the_load_benchmark_runs_through_a_commit(tmp_path):
    """``benchmarks/serve.py`` on 1,000 passages for a few seconds: both engines answer, the commit is served."""
    require_bench_extra("datasette", "sqlite_utils", "wordfreq", "psutil")
    out = tmp_path / "serve.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "serve.py"), "--size", "1000", "--duration", "4", "--clients", "4",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "SEARCHKIT_BENCH_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    searchkit, datasette = json.loads(out.read_text())["rounds"]
    assert searchkit["requests"] > 0 and datasette["requests"] > 0
    assert searchkit["errors"] == datasette["errors"] == 0 and searchkit["mixed_answers"] == 0
    assert sorted(searchkit["editions_by_generation"].values()) == [["edition1"], ["edition2"]]


def test_collapse_shows_one_hit_per_story_with_its_copies(tmp_path):
    text = ("The Caspian littoral states signed the convention on the legal status of the sea in Aktau on Sunday, "
            "ending two decades of talks over the seabed, its oil and gas and the pipelines across it. ") * 3
    folder = tmp_path / "wire"
    folder.mkdir()
    lines = [{"id": f"copy{n}", "title": "Caspian convention signed", "text": text, "source": source,
              "date": "2018-08-12"} for n, source in enumerate(("Reuters", "TASS", "Xinhua"))]
    (folder / "wire.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    Index.build([folder], tmp_path / "index")
    with TestClient(create_app(tmp_path / "index")) as c:
        apart = c.get("/api/search", params={"q": "Caspian convention", "per_article": "1"}).json()["hits"]
        together = c.get("/api/search", params={"q": "Caspian convention", "collapse": "1"}).json()["hits"]
        html = c.get("/", params={"q": "Caspian convention", "collapse": "1"}).text
    assert len(apart) == 3 and len(together) == 1 and len(together[0]["copies"]) == 2
    assert "+2 copies of this story" in html and f'href="/passages/{together[0]["copies"][0]["id"]}"' in html


def test_a_misspelled_query_offers_the_corpus_spelling(client):
    assert client.get("/api/search", params={"q": "Caspain seabd"}).json()["suggestion"] == "Caspian seabed"
    html = client.get("/", params={"q": "Caspain seabd", "source": "Kremlin"}).text
    assert 'Did you mean <a href="/?q=Caspian+seabed&amp;source=Kremlin">Caspian seabed</a>?' in html
