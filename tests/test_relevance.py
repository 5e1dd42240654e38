"""Effectiveness regression in Pyserini's style: ``searchkit eval`` on a real collection, through the real CLI.

The recorded figure is what the defaults score today (``searchkit eval adi --json``; the README's "Ranking
quality" table comes from ``python benchmarks/relevance.py``). A change that costs more than ``TOLERANCE``
nDCG@10 fails here; a change that gains should raise the recorded figure.
"""

from __future__ import annotations

import json

from conftest import shared_data

RECORDED_NDCG10 = {"adi": 0.4897}
TOLERANCE = 0.005


def test_adi_ndcg_does_not_regress(run_cli):
    folder = shared_data("adi")
    result = run_cli("eval", folder, "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["collection"] == "adi" and data["queries"] == 35
    assert list(data["metrics"]) == ["nDCG@10", "AP", "P@10", "R@100", "RR"]
    assert data["metrics"]["nDCG@10"] >= RECORDED_NDCG10["adi"] - TOLERANCE


def test_eval_errors_are_one_line(run_cli, tmp_path):
    result = run_cli("eval", tmp_path / "no-such-collection")
    assert result.code == 2
    assert result.stderr.startswith("error: no test collection") and result.stderr.count("\n") == 1
