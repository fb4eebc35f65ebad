"""What a check pass over an int8 copy of the corpus would cost (an experiment, not a feature).

The check pass scores every document with the solved hyperplane; it is one float32
matrix-vector product, at one core's memory bandwidth. An int8 copy (one scale per row) is a
quarter of the bytes. Its scores come with a guaranteed bound, ``|x - x8| * |w|`` per row, so
only the rows whose bound straddles the margin (-1) need their exact score. numpy has no fast
int8 product, so this uses a numba kernel: numba is not a dependency of the package
(``pip install numba`` to run this). For each query of a clustered corpus the script solves the
exact SVM, then times, alternating and in process CPU time with 1 BLAS thread, the float32 pass
and the int8 pass, and counts the rows an int8 check would have to rescore::

    pip install numba
    python benchmarks/quantized_check.py                      # 100k x 1536 clustered
    python benchmarks/quantized_check.py --n 10000 --out q.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from bench_speed import environment
from synthetic import clustered_unit

from svm_retrievers.solvers.base import SVMProblem
from svm_retrievers.solvers.newton import solve_newton

CLOCK = time.process_time


def _kernel() -> Any:
    import numba

    @numba.njit(fastmath=True, boundscheck=False, cache=False)
    def int8_scores(rows: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
        n, d = rows.shape
        for i in range(n):
            acc = np.float32(0.0)
            for j in range(d):
                acc += np.float32(rows[i, j]) * w[j]
            out[i] = acc

    return int8_scores


def quantize(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows as int8 times one float32 scale each, and each row's quantization error norm."""
    scale = (np.abs(matrix).max(axis=1) / 127.0).astype(np.float32)
    codes = np.round(matrix / scale[:, None]).astype(np.int8)
    error = np.linalg.norm(matrix - codes * scale[:, None], axis=1).astype(np.float32)
    return codes, scale, error


def run(n: int, dim: int, queries: int, repeats: int) -> list[dict[str, Any]]:
    kernel = _kernel()
    matrix = clustered_unit(n, dim, seed=0)
    codes, scale, error = quantize(matrix)
    rng = np.random.default_rng(1)
    out = np.empty(n, dtype=np.float32)
    kernel(codes[:2], np.zeros(dim, np.float32), out[:2])  # compile outside the timings
    cache: dict[str, Any] = {}
    rows = []
    for _ in range(queries):
        q = matrix[rng.integers(n)] + rng.standard_normal(dim).astype(np.float32) * 0.3 / dim**0.5
        q /= np.linalg.norm(q)
        problem = SVMProblem(
            matrix=matrix,
            rows=None,
            positives=q[None].astype(np.float64),
            extra_negatives=np.zeros((0, dim)),
            C=0.1,
            cache=cache,
        )
        solution = solve_newton(problem)
        exact = solution.row_scores
        assert exact is not None
        w = solution.coef.astype(np.float32)
        times: dict[str, list[float]] = {"float32": [], "int8": []}
        for _ in range(repeats):
            start = CLOCK()
            matrix @ w
            times["float32"].append((CLOCK() - start) * 1e3)
            start = CLOCK()
            kernel(codes, w, out)
            times["int8"].append((CLOCK() - start) * 1e3)
        approx = out * scale + solution.intercept
        bound = error * float(np.linalg.norm(w))
        inside = exact > -1.0
        unsure = (approx + bound > -1.0) & (approx - bound <= -1.0)
        rows.append(
            {
                "float32_pass_ms": statistics.median(times["float32"]),
                "int8_pass_ms": statistics.median(times["int8"]),
                "inside_margin": int(inside.sum()),
                "rows_to_rescore": int(unsure.sum()),
                "bound_holds": bool(np.all(np.abs(approx - exact) <= bound + 1e-5)),
                "max_error": float(np.abs(approx - exact).max()),
                "median_bound": float(np.median(bound)),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--queries", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    with threadpool_limits(1):
        rows = run(args.n, args.dim, args.queries, args.repeats)
    print(f"clustered {args.n} x {args.dim}, process CPU ms (median of {args.repeats})")
    print("| float32 pass | int8 pass | inside margin | rows to rescore | max error | bound |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['float32_pass_ms']:.1f} | {r['int8_pass_ms']:.1f} | {r['inside_margin']} "
            f"| {r['rows_to_rescore']} | {r['max_error']:.1e} | {r['median_bound']:.1e} |"
        )
    if not all(r["bound_holds"] for r in rows):
        print("the error bound did not hold on some row")
        return 1
    if args.out:
        payload = {"environment": environment(1), "n": args.n, "dim": args.dim, "rows": rows}
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
