"""The README's LlamaIndex section runs as written, offline."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).parents[1] / "README.md"


def _section_text() -> str:
    """The README's "## LlamaIndex" section."""
    text = DOC.read_text()
    start = text.index("\n## LlamaIndex\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_readme_section_runs_as_written(capsys):
    blocks = re.findall(r"```python\n(.*?)```", _section_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {"__name__": "docs_llama_index"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    assert "Rust is a systems" in out[0]  # the best node for "memory safe"
    assert all("knn=" in line and "svm=" in line for line in out[:2])
    assert out[2] == out[-1] == "Cherries are small red stone fruit often baked in pies."
    assert isinstance(float(out[3]), float)
