"""The README's core examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    nxt = text.find("\n## ", start + 1)
    return text[start : nxt if nxt != -1 else len(text)]


def test_core_quickstart_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", _section("Quickstart (the core)"), re.S)
    assert len(blocks) == 2
    namespace: dict = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("doc-7 ")  # the query was built around doc-7
    assert len(lines) == 4 and lines[3] == "1000 (1000,) (1000,) (1000,)"
    assert (tmp_path / "my-index" / "manifest.json").exists()
    assert len(namespace["index"]) == 1000
