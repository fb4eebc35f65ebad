"""Every notebook in ``notebooks/`` executes from a clean state, and is committed with its outputs.

The notebooks run in a fresh ``python3`` Jupyter kernel (this interpreter: ``jupyter_client``
replaces the kernelspec's ``python`` with ``sys.executable``), with the working directory
``notebooks/`` and this checkout first on ``PYTHONPATH``, so they import the package under test.
Any cell error fails the test. ``knn_vs_svm.ipynb`` reads ``../shared/data`` when it is there
and says so and skips its real-data part when it is not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
MAX_BYTES = 1_000_000

_PROBE = "import sys, svm_retrievers; print(sys.executable); print(svm_retrievers.__file__)"


def test_the_notebooks_are_there() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"knn_vs_svm.ipynb", "langchain_rag.ipynb", "llama_index_rag.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear every output, run every cell in a new kernel, fail on the first cell error."""
    # The kernel inherits this environment: the checkout's package first, inline plots.
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), pythonpath])))
    monkeypatch.delenv("MPLBACKEND", raising=False)

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE))  # which interpreter and package ran it

    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError on any cell error

    probe = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split()
    assert probe[0] == sys.executable, f"the kernel ran {probe[0]}, not {sys.executable}"
    assert Path(probe[1]).resolve().is_relative_to(ROOT), f"imported {probe[1]}, not the checkout"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.get("output_type") == "error"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_with_outputs(path: Path) -> None:
    """Outputs are committed (they read on GitHub), without errors, and the file stays small."""
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    assert all(c.execution_count is not None for c in code), f"{path.name}: unexecuted cells"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: run out of order: {counts}"
    assert sum(bool(c.outputs) for c in code) >= len(code) // 2, f"{path.name}: few outputs"
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was committed with an error output"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
