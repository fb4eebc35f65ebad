"""The docs' one-row-per-corpus summary of a ``bench_speed.py`` JSON (kNN, ours, batch, stock).

python benchmarks/summary_table.py benchmarks/results/speed.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def summary(rows: list[dict[str, Any]]) -> str:
    """A markdown table: one row per (data, N, D) of the benchmark rows."""
    corpora: dict[tuple[str, int, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        corpora.setdefault((r["data"], r["N"], r["D"]), {})[r["method"]] = r
    batch_name = next(
        (r["method"] for r in rows if r["method"].startswith("ours svm batch/")), "batch/?"
    )
    head = (
        f"| data | N x D | kNN ms | ours svm ms (x kNN) | {batch_name.removeprefix('ours svm ')}"
        " ms per query (gain) | LangChain ms (ours faster by) | LlamaIndex ms |"
        " sklearn recipe ms | top-10 = ref (ours) | max abs diff (ours) |"
        " peak extra MB: ours / LangChain (index) |"
    )
    out = [head, "|" + "---|" * 11]
    for (data, n, dim), m in corpora.items():
        knn, ours = m["knn (X @ q)"], m["ours svm (newton)"]
        batch = next(v for k, v in m.items() if k.startswith("ours svm batch/"))
        lc = m.get("langchain SVMRetriever")
        li = m.get("llama-index svm")
        sk = m.get("sklearn recipe")
        size = f"{n // 1000}k x {dim}"
        lc_s = f"{_ms(lc['median_ms'])} ({lc['median_ms'] / ours['median_ms']:.0f}x)" if lc else ""
        mem_lc = f"{lc['peak_extra_mb']:.0f}" if lc and lc.get("peak_extra_mb") is not None else "?"
        out.append(
            f"| {data} | {size} | {_ms(knn['median_ms'])} |"
            f" {_ms(ours['median_ms'])} ({ours['median_ms'] / knn['median_ms']:.1f}x) |"
            f" {_ms(batch['median_ms'])} ({batch.get('batch_gain', float('nan')):.2f}x) |"
            f" {lc_s} | {_ms(li['median_ms']) if li else ''} |"
            f" {_ms(sk['median_ms']) if sk else ''} |"
            f" {ours['top10_identical']}/{ours['agreement_queries']} |"
            f" {ours['max_abs_diff']:.1e} |"
            f" {ours['peak_extra_mb']:.0f} / {mem_lc} ({ours['index_mb']:.0f}) |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path)
    args = parser.parse_args(argv)
    print(summary(json.loads(args.json.read_text())["rows"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
