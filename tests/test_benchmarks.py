"""The benchmark scripts run as a reader would run them, at toy sizes.

The README and docs quote these scripts' output; a script that no longer runs against the
current code (a solver internal renamed, a signature changed) makes those claims impossible to
re-check. Each is run in a subprocess with tiny sizes, and its JSON is checked for what the
full run reports (exact agreement with LinearSVC, the anatomy's oracle reaching the optimum).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, out: Path) -> Any:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_solver_anatomy_runs(tmp_path: Path) -> None:
    # 3000 x 768 is above the size at which the warm start uses principal directions.
    data = _run(
        "solver_anatomy.py",
        "--n",
        "3000",
        "--dim",
        "768",
        "--queries",
        "2",
        out=tmp_path / "a.json",
    )
    assert len(data["rows"]) == 2
    for row in data["rows"]:
        stages = [name for name, _, _ in row["stages"]]
        assert stages[0] == "warm start" and "newton round" in stages
        assert row["active_at_optimum"] > 0
        # The oracle's single Newton step on the optimum's active set reaches the optimum.
        assert row["oracle_distance_to_optimum"] < 1e-4, row


def test_hard_corpora_runs_and_agrees_with_liblinear(tmp_path: Path) -> None:
    data = _run("hard_corpora.py", "--scale", "0.05", "--queries", "1", out=tmp_path / "h.json")
    assert len(data["rows"]) == 6
    for row in data["rows"]:
        assert row["top10_same"] == row["queries"], row
        assert row["max_abs_diff_top10"] < 1e-3, row


def test_bench_filters_runs(tmp_path: Path) -> None:
    data = _run(
        "bench_filters.py", "--n", "3000", "--dim", "768", "--queries", "2", out=tmp_path / "f.json"
    )
    cases = {row["case"] for row in data["rows"]}
    assert {"none", "2 stored positives", "2 stored negatives", "llama-index, filters 1/2"} <= cases


def test_bench_speed_and_summary_table_run(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    args = ["--sizes", "2000x64", "--queries", "2", "--batch", "4", "--batch-repeats", "1"]
    data = _run("bench_speed.py", *args, "--skip-stock", out=out)
    ours = [r for r in data["rows"] if r["method"] == "ours svm (newton)"]
    assert {r["data"] for r in ours} == {"clustered", "random"}
    for row in ours:
        assert row["top10_identical"] == row["agreement_queries"] > 0, row
        assert row["max_abs_diff"] < 1e-3, row
    batch = [r for r in data["rows"] if r["method"] == "ours svm batch/4"]
    assert len(batch) == 2, batch
    for row in batch:
        same, total = row["batch_top10_equal_single"].split("/")  # "4/4": every query
        assert same == total == "4", row
    table = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "summary_table.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "| clustered | 2k x 64 |" in table and "| random | 2k x 64 |" in table
    assert "| batch/4 ms per query (gain) |" in table.splitlines()[0]  # the batch run, not 32


def test_bench_products_runs_and_agrees(tmp_path: Path) -> None:
    # 1500 rows: three blocks, the last one short.
    data = _run(
        "bench_products.py",
        "--sizes",
        "1500x64",
        "--vectors",
        "1,2,8",
        "--repeats",
        "1",
        out=tmp_path / "p.json",
    )
    assert [row["vectors"] for row in data["rows"]] == [1, 2, 8]
    for row in data["rows"]:
        assert row["max_abs_diff"] < 1e-4, row
        assert row["one_product_ms"] >= 0 and row["by_blocks_ms"] >= 0
