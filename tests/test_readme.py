"""The README's promises: its first two commands, its library example (executed), every command documented."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_starts_with_the_two_commands():
    first_lines = README.split("\n## ")[0]
    assert BASH_BLOCKS[0] in first_lines and BASH_BLOCKS[1] in first_lines
    assert BASH_BLOCKS[0].strip().endswith('searchkit query "Caspian seabed"')
    assert "pip install" in BASH_BLOCKS[1] and BASH_BLOCKS[1].strip().endswith("pytest")


def test_library_quickstart_runs(tmp_path):
    code = PYTHON_BLOCKS[0].replace("/tmp/searchkit-demo", str(tmp_path / "demo"))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "['Seabed', 'Caspian']" in result.stdout


@pytest.mark.parametrize("command", ["index", "query", "show", "stats", "eval", "serve"])
def test_every_command_is_documented(command):
    assert f"`searchkit {command} " in README


def test_every_query_flag_is_documented(run_cli):
    help_text = run_cli("query", "--help").stdout
    for flag in set(re.findall(r"--[a-z]+", help_text)) - {"--help"}:
        assert flag in README, flag
