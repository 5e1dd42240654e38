"""A sharded index built and searched on a 2-node Ray cluster on this machine (loopback only): the answers of
one index, an actor killed in the middle of a query loop, an actor that cannot come back, a build on 2 nodes."""

from __future__ import annotations

import os

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before ray is imported: keep the cluster on 127.0.0.1
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file written to the home directory

import pytest  # noqa: E402
from sharding import KINDS, answers, assert_same_answers, queries, reuters_files  # noqa: E402

from searchkit import Index, ShardError  # noqa: E402

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'searchkit[ray]')")

SHARDS = 3


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
def built_on_ray(cluster, tmp_path_factory):
    """1,200 Reuters-21578 stories: one index, and 3 shards built by Ray tasks on the 2 nodes."""
    root = tmp_path_factory.mktemp("ray")
    files, stories = reuters_files(root / "feeds", articles=1200, per_file=400)
    Index.build(files, root / "one")
    report = Index.build(files, root / "sharded", shards=SHARDS, ray=cluster)
    return root, files, stories, report


def test_a_build_on_two_nodes_makes_the_shards_of_a_local_build(built_on_ray, tmp_path):
    root, files, _, report = built_on_ray
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    assert report.articles == 1200 and not report.skipped
    Index.build(files, tmp_path / "local", shards=SHARDS)
    on_ray, local = Index.open(root / "sharded").manifest, Index.open(tmp_path / "local").manifest
    assert [s["statistics"] for s in on_ray["shards"]] == [s["statistics"] for s in local["shards"]]


def test_ray_actors_answer_every_kind_of_query_as_one_index(built_on_ray, cluster):
    root, _, stories, _ = built_on_ray
    with Index.open(root / "one") as one, Index.open(root / "sharded", ray=cluster) as on_ray:
        compared = assert_same_answers(one, on_ray, queries(stories, 84, seed=3))
    assert set(compared) == set(KINDS), compared


@pytest.mark.slow
def test_ray_actors_answer_500_queries_on_all_of_reuters_as_one_index(cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("ray-all")
    files, stories = reuters_files(root / "feeds", articles=None, per_file=2000)
    Index.build(files, root / "one")
    Index.build(files, root / "sharded", shards=SHARDS, ray=cluster)
    with Index.open(root / "one") as one, Index.open(root / "sharded", ray=cluster) as on_ray:
        compared = assert_same_answers(one, on_ray, queries(stories, 560, seed=4))
    assert set(compared) == set(KINDS) and sum(compared.values()) > 3000, compared


def _actor(ix, shard: int):
    return ix._generation.backend.actors[shard]


def test_an_actor_killed_in_a_query_loop_is_restarted_and_the_query_retried(built_on_ray, cluster):
    root, _, stories, _ = built_on_ray
    cases = queries(stories, 30, seed=5)
    with Index.open(root / "one") as one, Index.open(root / "sharded", ray=cluster) as on_ray:
        first = ray.get(_actor(on_ray, 1).ready.remote())
        for n, (kind, text, options) in enumerate(cases):
            if n == 10:
                ray.kill(_actor(on_ray, 1), no_restart=False)  # as a crash would: Ray restarts it
            assert answers(on_ray, text, options) == answers(one, text, options), (kind, text)
        assert ray.get(_actor(on_ray, 1).ready.remote()) != first  # a new process serves shard-001
        with Index.open(root / "sharded", ray=cluster) as again:  # found by name: the same actors
            assert ray.get(_actor(again, 1).ready.remote()) == ray.get(_actor(on_ray, 1).ready.remote())


def test_an_update_on_ray_serves_the_new_snapshot_from_new_actors(built_on_ray, cluster):
    """An Index opened on Ray updates its shards as Ray tasks and searches the new snapshot through its actors."""
    root, files, stories, _ = built_on_ray
    Index.build(files[:2], root / "updated", shards=SHARDS, ray=cluster)
    with Index.open(root / "updated", ray=cluster) as on_ray:
        before = on_ray.manifest["generation"]
        report = on_ray.update(files)
        assert report.files_added == 1 and report.files_unchanged == 2
        assert on_ray.manifest["generation"] != before
        with Index.open(root / "one") as one:
            assert_same_answers(one, on_ray, queries(stories, 28, seed=6))


def test_an_actor_that_cannot_come_back_fails_the_search_naming_its_shard(built_on_ray, cluster):
    root, _, _, _ = built_on_ray
    with Index.open(root / "sharded", ray=cluster) as on_ray:
        assert on_ray.search("oil")
        ray.kill(_actor(on_ray, 2), no_restart=True)
        with pytest.raises(ShardError, match="shard-002"):
            on_ray.search("oil")


@pytest.mark.slow
def test_the_cli_builds_and_queries_three_shards_on_a_local_ray_instance(built_on_ray, run_cli):
    """The README's walk-through: ``--ray local`` starts a Ray instance for the command, which ends with it."""
    root, files, _, _ = built_on_ray
    built = run_cli("index", *files, "--index", root / "cli-sharded", "--shards", SHARDS, "--ray", "local")
    assert built.code == 0 and "1,200 articles" in built.stderr, built.stderr
    for text in ("oil prices", '"crude oil" NOT gas', "title:wheat"):
        one = run_cli("query", text, "--index", root / "one", "--json")
        on_ray = run_cli("query", text, "--index", root / "cli-sharded", "--ray", "local", "--json")
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
