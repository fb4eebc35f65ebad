"""docs/llama_index.md runs as written, offline."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "llama_index.md"


def test_readme_section_runs_as_written(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {"__name__": "docs_llama_index"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    assert "Rust is a systems" in out[0]  # the best node for "memory safe"
    assert all("knn=" in line and "svm=" in line for line in out[:2])
    assert out[2] == out[-1] == "Cherries are small red stone fruit often baked in pies."
    assert isinstance(float(out[3]), float)
