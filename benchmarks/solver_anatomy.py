"""Where one exact SVM query spends its time, and how many check passes it needs.

For each query of a synthetic corpus this prints, in process CPU time, the kNN pass, the warm
start, each round of Newton steps on the working set and each check pass over the matrix, as
the default solver (``solver="newton"``) runs them; then, from the exact optimum, how diffuse
its active set is: the ranks its members have under the warm start and under kNN; and what
Newton would cost if it knew that active set in advance (an "oracle": gather exactly those rows,
take one exact Newton step from the warm start), a lower bound for any working-set method
starting there. Run it on a quiet machine::

    python benchmarks/solver_anatomy.py                      # 100k x 1536 clustered, 6 queries
    python benchmarks/solver_anatomy.py --n 10000 --out anatomy-10k.json

It wraps private functions of :mod:`svm_retrievers.solvers.newton` to time them: a diagnostic,
not an API.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from synthetic import clustered_unit, queries_like, random_unit

from svm_retrievers import SVMIndex
from svm_retrievers.solvers import SVMProblem
from svm_retrievers.solvers import newton as nt

CLOCK = time.process_time


def _instrument(log: list[tuple[str, float, dict[str, Any]]]) -> None:
    """Wrap the solver's stages so that each call appends (stage, seconds, details) to log."""
    start, newton, check = nt._start_many, nt._newton, nt._check

    def timed_start(*args: Any) -> Any:
        t = CLOCK()
        states = start(*args)
        sizes = [int(state.in_work.sum()) for state in states]
        log.append(
            ("warm start", CLOCK() - t, {"working_set": sizes[0] if len(sizes) == 1 else sizes})
        )
        return states

    def timed_newton(s: Any) -> None:
        steps, t = s.n_iter, CLOCK()
        newton(s)
        log.append(("newton round", CLOCK() - t, {"steps": s.n_iter - steps}))

    def timed_check(s: Any, scores: np.ndarray) -> None:
        violators = int(((scores > -1.0) & ~s.in_work).sum())
        log.append(("check", 0.0, {"violators": violators, "working_set": int(s.in_work.sum())}))
        check(s, scores)

    nt._start_many, nt._newton, nt._check = timed_start, timed_newton, timed_check  # type: ignore[assignment]


def _ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(values.size, dtype=np.int64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(values.size)
    return ranks


def _oracle_newton(
    state: Any, matrix: np.ndarray, active: np.ndarray, tol: float
) -> tuple[float, np.ndarray]:
    """Newton's time if it knew the optimum's ``active`` documents: gather exactly them and
    take one Newton step from the warm start ``state`` (CG with its preconditioner, to the
    stopping rule's tolerance). With the active set fixed the objective is quadratic, so the
    step lands on the optimum. Returns the seconds and the weights it reaches."""
    t = CLOCK()
    rows = nt._Rows(state.head, matrix[active], active)
    n_pos = state.problem.n_positive
    y = -np.ones(rows.n)
    y[:n_pos] = 1.0
    c = np.full(rows.n, state.cn)
    c[:n_pos] = state.cp
    corr = np.linalg.inv(state.pre_hess) - np.eye(state.pre_hess.shape[0])
    w = state.w
    grad = w + rows.tdot(2.0 * c * (rows.dot(w) - y))
    rel = tol * max(1.0, float(np.linalg.norm(w))) / float(np.linalg.norm(grad))
    d, _, _ = nt._cg(rows, c, -grad, state.basis, corr, tol=rel)
    return CLOCK() - t, w + d


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--kind", choices=["clustered", "random"], default="clustered")
    parser.add_argument("--queries", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    threadpool_limits(1)
    make = clustered_unit if args.kind == "clustered" else random_unit
    matrix = make(args.n, args.dim)
    queries = queries_like(matrix, args.queries + 1)
    index = SVMIndex.from_embeddings(matrix)
    index.search(queries[0], k=10, mode="svm")  # builds the per-snapshot cache
    log: list[tuple[str, float, dict[str, Any]]] = []
    _instrument(log)
    rows = []
    for qi, q in enumerate(queries[1:]):
        t = CLOCK()
        knn = (matrix @ q.astype(matrix.dtype)).astype(np.float64)
        knn_s = CLOCK() - t
        log.clear()
        t = CLOCK()
        index.search(q, k=10, mode="svm")
        total_s = CLOCK() - t
        stages = [(name, round(sec * 1e3, 1), info) for name, sec, info in log]
        # The exact optimum and the warm start's scores for every document.
        problem = SVMProblem(
            matrix=matrix,
            rows=None,
            positives=q[None],
            extra_negatives=np.zeros((0, args.dim)),
            C=0.1,
            knn_scores=knn,
            cache=index._snap.cache,
        )
        log.clear()
        solution = nt.solve_newton(problem)
        optimum = solution.row_scores
        assert optimum is not None
        state = nt._start_many(
            [problem], matrix, nt._subspace(problem, matrix, in_place=False), None
        )[0]
        warm = (matrix @ state.w[:-1].astype(matrix.dtype)).astype(np.float64) + state.w[-1]
        active = np.flatnonzero(optimum > -1.0)
        oracle_s, oracle_w = _oracle_newton(state, matrix, active, problem.tol)
        exact_w = np.append(solution.coef, solution.intercept)
        by_warm, by_knn = _ranks(warm)[active], _ranks(knn)[active]
        row = {
            "query": qi,
            "knn_pass_ms": round(knn_s * 1e3, 1),
            "search_ms": round(total_s * 1e3, 1),
            "stages": stages,
            "active_at_optimum": int(active.size),
            "oracle_newton_ms": round(oracle_s * 1e3, 1),
            "oracle_distance_to_optimum": float(np.linalg.norm(oracle_w - exact_w)),
            "warm_start_rank_of_active": {
                "max": int(by_warm.max()),
                "p99": int(np.percentile(by_warm, 99)),
                "share_in_top_3x": round(float(np.mean(by_warm < 3 * active.size)), 3),
            },
            "knn_rank_of_active": {"max": int(by_knn.max()), "p99": int(np.percentile(by_knn, 99))},
            "score_at_rank_2x_active": round(float(np.sort(optimum)[::-1][2 * active.size]), 4),
        }
        rows.append(row)
        passes = sum(1 for name, _, _ in stages if name == "check")
        newton_ms = sum(ms for name, ms, _ in stages if name == "newton round")
        warm_ms = sum(ms for name, ms, _ in stages if name == "warm start")
        steps = [info["steps"] for name, _, info in stages if name == "newton round"]
        violators = [info["violators"] for name, _, info in stages if name == "check"]
        print(
            f"q{qi}: search {row['search_ms']:.0f} ms = {row['search_ms'] / row['knn_pass_ms']:.1f}"
            f" x kNN ({row['knn_pass_ms']:.0f} ms); warm start {warm_ms:.0f} ms; Newton"
            f" {newton_ms:.0f} ms in {steps} steps (oracle {row['oracle_newton_ms']:.0f} ms);"
            f" the rest (kNN pass, {passes} check passes, fusion) {row['search_ms'] - warm_ms - newton_ms:.0f} ms; violators"
            f" {violators}; active at optimum {active.size}, their warm-start ranks up to"
            f" {by_warm.max()} (p99 {row['warm_start_rank_of_active']['p99']}), kNN ranks up to"
            f" {by_knn.max()}; decision value at rank 2|A|: {row['score_at_rank_2x_active']}",
            flush=True,
        )
    out = {"argv": sys.argv, "n": args.n, "dim": args.dim, "kind": args.kind, "rows": rows}
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
