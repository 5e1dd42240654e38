"""A sharded index built and searched on a 2-node Ray cluster on this machine (loopback only): the answers of
one index, an actor killed in the middle of a query loop, an actor that cannot come back, a build on 2 nodes."""

from __future__ import annotations

import os

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before ray is imported: keep the cluster on 127.0.0.1
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file written to the home directory

import time  # noqa: E402

import pytest  # noqa: E402
from conftest import serving  # noqa: E402
from sharding import KINDS, SHARDS, answers, assert_same_answers, queries  # noqa: E402

from searchkit import Index, ShardError  # noqa: E402

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'searchkit[ray]')")


@pytest.fixture(scope="session")
def cluster():
    """A head and a second node, one CPU each, on the loopback; this process connected as the driver."""
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=node)
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="searchkit", log_to_driver=False, _node_ip_address="127.0.0.1")
    yield cluster.address
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def built_on_ray(cluster, reuters_subset):
    """The shared Reuters subset (``conftest``) built again into 3 shards by Ray tasks on the 2 nodes."""
    report = Index.build(reuters_subset.files, reuters_subset.root / "on-ray", shards=SHARDS, ray=cluster)
    return reuters_subset.root / "on-ray", report


def test_a_build_on_two_nodes_makes_the_shards_of_a_local_build(built_on_ray, reuters_subset):
    path, report = built_on_ray
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    assert report.articles == len(reuters_subset.stories) and not report.skipped
    on_ray, local = Index.open(path).manifest, Index.open(reuters_subset.sharded).manifest
    assert [s["statistics"] for s in on_ray["shards"]] == [s["statistics"] for s in local["shards"]]


def test_ray_actors_answer_every_kind_of_query_as_one_index(built_on_ray, reuters_subset, cluster):
    path, _ = built_on_ray
    with Index.open(reuters_subset.one) as one, Index.open(path, ray=cluster) as on_ray:
        compared = assert_same_answers(one, on_ray, queries(reuters_subset.stories, 102, seed=3),
                                       reuters_subset.expected)
    assert set(KINDS) <= set(compared), compared


@pytest.mark.slow
def test_ray_actors_answer_500_queries_on_all_of_reuters_as_one_index(reuters_all, cluster):
    """The shards of the in-process test (built once), served by actors: the same 560 queries (the one index's
    answers computed once for both)."""
    with Index.open(reuters_all.one) as one, Index.open(reuters_all.sharded, ray=cluster) as on_ray:
        compared = assert_same_answers(one, on_ray, queries(reuters_all.stories, 560, seed=1), reuters_all.expected)
    assert set(KINDS) <= set(compared) and sum(compared.values()) > 3000 and compared["copies"] > 20, compared


def _actor(ix, shard: int):
    return ix._generation.backend.actors[shard]


def test_an_actor_killed_in_a_query_loop_is_restarted_and_the_query_retried(built_on_ray, reuters_subset, cluster):
    path, _ = built_on_ray
    cases = queries(reuters_subset.stories, 30, seed=5)
    with Index.open(reuters_subset.one) as one, Index.open(path, ray=cluster) as on_ray:
        first = ray.get(_actor(on_ray, 1).ready.remote())
        for n, (kind, text, options) in enumerate(cases):
            if n == 10:
                ray.kill(_actor(on_ray, 1), no_restart=False)  # as a crash would: Ray restarts it
            assert answers(on_ray, text, options) == answers(one, text, options), (kind, text)
        assert ray.get(_actor(on_ray, 1).ready.remote()) != first  # a new process serves shard-001
        with Index.open(path, ray=cluster) as again:  # found by name: the same actors
            assert ray.get(_actor(again, 1).ready.remote()) == ray.get(_actor(on_ray, 1).ready.remote())


def _actor_names(path) -> set[str]:
    from ray.util import list_named_actors

    from searchkit.rayshards import index_prefix

    return {a["name"] for a in list_named_actors(all_namespaces=True) if a["name"].startswith(index_prefix(path))}


def test_an_update_on_ray_serves_the_new_snapshot_from_new_actors_and_retires_the_old(reuters_subset, cluster):
    """An Index opened on Ray updates its shards as Ray tasks, searches the new snapshot through its actors, and
    kills those of the snapshot it replaced (a reader of it fails, never answers from it, until it refreshes)."""
    files = reuters_subset.files
    path = reuters_subset.root / "updated"  # beside the one index: the same stored paths, the same passage ids
    Index.build(files[:2], path, shards=SHARDS, ray=cluster)
    reader = Index.open(path, ray=cluster)
    old = _actor_names(path)
    with Index.open(path, ray=cluster) as on_ray:
        before = on_ray.manifest["generation"]
        report = on_ray.update(files)
        assert report.files_added == len(files) - 2 and report.files_unchanged == 2
        assert on_ray.manifest["generation"] != before
        with Index.open(reuters_subset.one) as one:
            assert_same_answers(one, on_ray, queries(reuters_subset.stories, 34, seed=6), reuters_subset.expected)
        new = _actor_names(path)
        assert len(new) == SHARDS and not new & old  # the replaced snapshot's actors are gone
        with pytest.raises(ShardError):
            reader.search("oil")
        assert reader.refresh() and reader.search("oil")
    reader.close()
    assert _actor_names(path) == new  # the live snapshot's actors stay for other processes


def test_an_actor_that_cannot_come_back_fails_the_search_naming_its_shard(built_on_ray, cluster):
    path, _ = built_on_ray
    with Index.open(path, ray=cluster) as on_ray:
        assert on_ray.search("oil")
        ray.kill(_actor(on_ray, 2), no_restart=True)
        with pytest.raises(ShardError, match="shard-002"):
            on_ray.search("oil")


@pytest.mark.slow
def test_the_cli_builds_and_queries_three_shards_on_a_local_ray_instance(reuters_subset, run_cli, tmp_path):
    """The README's walk-through: ``--ray local`` starts a Ray instance for the command, which ends with it."""
    built = run_cli("index", *reuters_subset.files, "--index", reuters_subset.root / "cli-on-ray", "--shards", SHARDS,
                    "--ray", "local")
    assert built.code == 0 and "1,260 articles" in built.stderr, built.stderr
    text = '"crude oil" OR wheat'
    one = run_cli("query", text, "--index", reuters_subset.one, "--json", "--collapse")
    on_ray = run_cli("query", text, "--index", reuters_subset.root / "cli-on-ray", "--ray", "local", "--json",
                     "--collapse")
    assert on_ray.code == one.code == 0, on_ray.stderr
    assert on_ray.stdout == one.stdout


def test_an_address_where_no_cluster_answers_is_one_line_of_error(run_cli, tmp_path, seeds_dir):
    Index.build([seeds_dir], tmp_path / "sharded", shards=2)
    queried = run_cli("query", "forum", "--index", tmp_path / "sharded", "--ray", "127.0.0.1:1")
    assert queried.code == 2 and "no Ray cluster answers at 127.0.0.1:1" in queried.stderr
    assert "Traceback" not in queried.stderr
    built = run_cli("index", seeds_dir, "--index", tmp_path / "other", "--shards", "2", "--ray", "127.0.0.1:1")
    assert built.code == 2 and "no Ray cluster answers" in built.stderr and "Traceback" not in built.stderr
    assert Index.build([seeds_dir], tmp_path / "other", shards=2).articles == 5  # nothing was left in the way


def _hits(body: dict) -> list[str]:
    return [hit["id"] for hit in body["hits"]]


def test_the_server_searches_through_the_actors_and_follows_new_snapshots(reuters_subset, cluster, tmp_path):
    """``create_app(path, ray=...)`` answers as the shards searched in this process, follows an update made by
    another writer (``refresh``) through the new snapshot's actors, and retires the old snapshot's."""
    pytest.importorskip("starlette", reason="the serve extra is not installed: pip install -e '.[serve,test]'")
    pytest.importorskip("httpx", reason="the test extra (httpx, for Starlette's TestClient) is not installed")
    from starlette.testclient import TestClient

    from searchkit.server import create_app

    files, path = reuters_subset.files, tmp_path / "served"
    Index.build(files[:2], path, shards=SHARDS)
    params = {"q": "oil prices", "limit": "20", "collapse": "1"}

    def in_process() -> list:
        with Index.open(path) as ix:
            return [h.passage.id for h in ix.search("oil prices", limit=20, collapse=True)]

    with TestClient(create_app(path, ray=cluster, refresh_seconds=0.1)) as client:
        first = client.get("/healthz").json()["generation"]
        old = _actor_names(path)
        assert len(old) == SHARDS
        body = client.get("/api/search", params=params).json()
        assert _hits(body) == in_process() and body["generation"] == first
        with Index.open(path) as writer:
            writer.update(files)  # another writer, in this process, not through Ray
        for _ in range(100):
            if client.get("/healthz").json()["generation"] != first:
                break
            time.sleep(0.1)
        body = client.get("/api/search", params=params).json()
        assert body["generation"] != first
        assert _hits(body) == in_process()
        assert not _actor_names(path) & old  # the replaced snapshot's actors are gone


def test_searchkit_serve_ray_answers_over_http(built_on_ray, cluster, reuters_subset):
    """The real server (uvicorn on 127.0.0.1) of ``searchkit serve --ray ADDRESS`` answers as one index."""
    httpx = pytest.importorskip("httpx", reason="the test extra (httpx) is not installed")
    pytest.importorskip("starlette", reason="the serve extra is not installed: pip install -e '.[serve,test]'")
    path, _ = built_on_ray
    with Index.open(reuters_subset.one) as one:
        expected = [hit.to_dict() for hit in one.search("wheat exports", limit=10, facets=True, timeline="auto")]
    with serving(path, "--ray", cluster, timeout=120) as url:
        body = httpx.get(f"{url}/api/search", params={"q": "wheat exports"}, timeout=60).json()
    assert body["hits"] == expected
