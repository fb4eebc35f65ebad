"""The README's LangChain section runs as written, offline, and prints what it says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).parents[1] / "README.md"


def _section_text() -> str:
    """The README's "## LangChain" section."""
    text = DOC.read_text()
    start = text.index("\n## LangChain\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_langchain_docs_run_as_written():
    text = _section_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 5
    out = io.StringIO()
    namespace: dict = {"__name__": "langchain_docs"}
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)
    printed = out.getvalue().splitlines()
    # Every "print(...)  # shown" comment in the doc matches what was printed.
    shown = [
        m.group(1)
        for m in re.finditer(r"^print\(.*\)  # (\[.*?\]|\d+ \d+|[A-Z].*\.)(?:$|:)", text, re.M)
    ]
    assert len(shown) >= 5
    for line in shown:
        assert line in printed, (line, printed)
    assert printed[0].startswith("b {'topic': 'svm', 'knn_score': 0.3779")
