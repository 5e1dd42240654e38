"""The committed prebuilt index: current against seeds/, openable, and used by the README's first command."""

from __future__ import annotations

import hashlib

from conftest import REPO
from searchkit import Index
from searchkit.build import inputs_fingerprint
from searchkit.schema import SCHEMA_VERSION


def test_prebuilt_index_matches_seeds_and_schema():
    files = {f"seeds/{p.name}": {"sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted((REPO / "seeds").iterdir())}
    stale = "index/ is stale: rebuild it with `searchkit index seeds --index index --rebuild`"
    with Index.open(REPO / "index") as ix:
        assert ix.manifest["fingerprint"] == inputs_fingerprint(files), stale
        assert ix.manifest["schema_version"] == SCHEMA_VERSION, stale
        assert ix.stats().articles == 5


def test_readme_query_uses_the_prebuilt_index(run_cli):
    result = run_cli("query", "Caspian seabed", env={"SEARCHKIT_INDEX": ""})
    assert result.code == 0 and result.stderr == ""
    assert "Delimitation of the Seabed" in result.stdout.split("\n2. ")[0]
