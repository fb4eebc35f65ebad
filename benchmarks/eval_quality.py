"""Retrieval quality of every mode on every shared collection and embedding.

Runs :func:`svm_retrievers.evaluation.evaluate` on each BEIR collection under ``--data``
(default ``../shared/data``) with each precomputed embedding (``embeddings/<name>/``) and,
when ``svm_retrievers.embeddings.OfflineEmbedder`` is importable, with the offline
TF-IDF/SVD embedder. Prints one Markdown table (nDCG@10, R@100, MRR@10, the nDCG@10 delta
vs kNN and its paired permutation p-value) and writes the JSON to ``benchmarks/results/``.

    python benchmarks/eval_quality.py                # C=0.1, hybrid alpha 0.5 and 0.85
    python benchmarks/eval_quality.py --C 0.01 --alphas 0.7 0.85
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from svm_retrievers.evaluation import METRICS, evaluate, format_table  # noqa: E402


def _offline_embedder() -> Any:
    try:
        from svm_retrievers.embeddings import OfflineEmbedder  # type: ignore[attr-defined]
    except ImportError:
        return None
    return OfflineEmbedder()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data")
    parser.add_argument("--C", type=float, default=0.1, help="SVM regularization")
    parser.add_argument(
        "--alphas", type=float, nargs="*", default=[0.85], help="extra hybrid kNN weights"
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--n-resamples", type=int, default=10_000)
    parser.add_argument("--no-offline", action="store_true", help="skip the offline embedder")
    parser.add_argument(
        "--sources", nargs="*", default=None, help="only these embeddings (e.g. minilm offline)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality.json"
    )
    args = parser.parse_args(argv)

    collections = sorted(p for p in args.data.iterdir() if (p / "corpus.jsonl").is_file())
    if not collections:
        print(f"no BEIR collections under {args.data}", file=sys.stderr)
        return 1
    params = {"C": args.C}
    results = []
    started = time.perf_counter()
    for coll in collections:
        runs: list[tuple[str, dict[str, Any]]] = [
            (p.name, {"embeddings": p})
            for p in sorted((coll / "embeddings").iterdir())
            if (p / "corpus.npy").is_file()
        ]
        embedder = None if args.no_offline else _offline_embedder()
        if embedder is not None:
            runs.append(("offline", {"embedder": embedder}))
        if args.sources is not None:
            runs = [(n, s) for n, s in runs if n in args.sources]
        for name, source in runs:
            t0 = time.perf_counter()
            res = evaluate(
                coll,
                **source,
                params=params,
                hybrid_alphas=args.alphas,
                n_jobs=args.n_jobs,
                n_resamples=args.n_resamples,
            )
            res["embeddings"] = name
            res["seconds"] = round(time.perf_counter() - t0, 1)
            print(f"# {coll.name} / {name}: {res['seconds']} s", file=sys.stderr, flush=True)
            results.append(res)
    summary = _summary(results)
    payload = {
        "command": "python benchmarks/eval_quality.py " + " ".join(argv or sys.argv[1:]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
        "summary": summary,
    }
    print(format_table(results))
    print()
    print("| mode | mean ΔnDCG@10 | worst ΔnDCG@10 | significant losses | significant wins |")
    print("|---|---:|---:|---:|---:|")
    for mode, row in summary.items():
        print(
            f"| {mode} | {row['mean_delta'] * 100:+.2f} | {row['worst_delta'] * 100:+.2f} | "
            f"{row['significant_losses']} | {row['significant_wins']} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


def _summary(results: list[dict[str, Any]], metric: str = METRICS[0]) -> dict[str, Any]:
    """Per mode, over every (collection, embedding): mean/worst delta vs kNN and p < 0.05 counts."""
    out: dict[str, Any] = {}
    modes = [m for m in results[0]["modes"] if m != "knn"]
    for mode in modes:
        deltas = [r["modes"][mode]["delta"][metric] for r in results]
        pvals = [r["modes"][mode]["p_value"][metric] for r in results]
        out[mode] = {
            "metric": metric,
            "mean_delta": sum(deltas) / len(deltas),
            "worst_delta": min(deltas),
            "significant_losses": sum(
                d < 0 and p < 0.05 for d, p in zip(deltas, pvals, strict=True)
            ),
            "significant_wins": sum(d > 0 and p < 0.05 for d, p in zip(deltas, pvals, strict=True)),
        }
    return out


if __name__ == "__main__":
    raise SystemExit(main())
