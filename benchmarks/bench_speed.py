"""Speed benchmark: the stock SVM retrievers, brute-force kNN and svm-retrievers, side by side.

One process, one run, the same float32 vectors and the same BLAS threads (1 by default) for
every method. For each corpus (random or clustered, N x D) it times per query:

- ``knn (X @ q)``: one brute-force pass over the float32 matrix (the unit of the ratios);
- ``langchain SVMRetriever``: langchain-community's stock retriever (``invoke``);
- ``llama-index svm``: LlamaIndex's SVM query mode (``SimpleVectorStore`` with
  ``VectorStoreQueryMode.SVM``; at N >= 100k its learner function on the same array, to spare
  the store's 5 GB of Python float lists);
- ``sklearn recipe``: ``LinearSVC`` on ``[q; X]`` as in the seed notebook;
- ours: ``knn``, ``svm`` (newton, the default), ``svm liblinear`` (reference), ``hybrid``,
  and ``svm batch/32`` (``search_batch`` of 32 queries, time per query).

It prints a table of medians, ratios to kNN, agreement with the reference (LinearSVC on the
same problem: top-10 identical, max decision-value difference) and peak extra memory per query
(resident-set high-water mark above the resident set before the call), and writes JSON to
``benchmarks/results/``. The kNN pass and our three modes run interleaved, query by query, and
the batch alternates with the same 32 queries searched one by one (its "gain"), so that a
change in the machine's load reaches both sides of each ratio alike.

Run ``python benchmarks/bench_speed.py --help`` for the flags; ``--quick`` is a 1-minute run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import clustered_unit, queries_like, random_unit
from svm_retrievers import SVMIndex

RESULTS = Path(__file__).resolve().parent / "results"
STOCK_C, STOCK_TOL, STOCK_MAX_ITER = 0.1, 1e-6, 10000
CLOCK = time.perf_counter  # --cpu-time: time.process_time (robust on a shared machine)


# ---------------------------------------------------------------------------- environment
def environment(threads: int) -> dict[str, Any]:
    """Machine, BLAS kernel and thread counts, for the record."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln), "?"
        )
    except OSError:
        model = platform.processor() or "?"
    import sklearn

    return {
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "blas_threads_used": threads,
        "blas": [
            {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpool_info()
        ],
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


# ---------------------------------------------------------------------------- measuring
def _rss_kib() -> tuple[int, int]:
    rss = hwm = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def peak_extra_mb(fn: Callable[[], Any]) -> float | None:
    """Peak extra memory (MB) while ``fn`` runs: the larger of tracemalloc's peak (every numpy
    allocation, even when it reuses freed pages) and the resident-set high-water mark above
    the resident set before the call (C allocations, e.g. liblinear's copy; Linux only)."""
    tracemalloc.start()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the high-water mark
        before, _ = _rss_kib()
    except OSError:
        before = None
    try:
        fn()
    finally:
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss = 0.0
    if before is not None:
        _, peak = _rss_kib()
        rss = max(0, peak - before) / 1024.0
    return max(traced / 2**20, rss)


def timed(
    fn: Callable[[int], Any], n: int, *, slow: bool = False
) -> tuple[float, list[Any], float | None]:
    """Median wall time (ms) of ``fn(i)`` over ``i < n``, the results, and the peak extra
    memory (MB) of one call: an extra untimed call, or for ``slow`` methods the first one."""
    mem = None if slow else peak_extra_mb(lambda: fn(0))
    times, outs = [], []
    for i in range(n):
        start = CLOCK()
        if slow and i == 0:
            mem = peak_extra_mb(lambda: outs.append(fn(0)))
        else:
            outs.append(fn(i))
        times.append((CLOCK() - start) * 1e3)
    return statistics.median(times), outs, mem


# ---------------------------------------------------------------------------- stock retrievers
def langchain_retriever(
    matrix: np.ndarray, queries: np.ndarray
) -> Callable[[int], list[int]] | None:
    """langchain-community's SVMRetriever over the same vectors (query i is the text "q{i}")."""
    try:
        from langchain_community.retrievers import SVMRetriever
        from langchain_core.embeddings import Embeddings
    except ImportError:
        print(
            "langchain-community is not installed: LangChain's SVMRetriever is skipped", flush=True
        )
        return None

    class Precomputed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [matrix[int(t[1:])].tolist() for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return queries[int(text[1:])].tolist()

    # What ``from_texts`` builds (a float64 array of the document embeddings), without
    # paying for Python lists of every vector here.
    retriever = SVMRetriever(
        embeddings=Precomputed(),
        index=matrix.astype(np.float64),
        texts=[f"d{i}" for i in range(matrix.shape[0])],
        k=10,
    )
    return lambda i: [int(d.page_content[1:]) for d in retriever.invoke(f"q{i}")]


def llama_index_svm(
    matrix: np.ndarray, queries: np.ndarray
) -> tuple[Callable[[int], list[int]], str]:
    """LlamaIndex's SVM query mode over the same vectors."""
    from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

    if matrix.shape[0] < 100_000:
        from llama_index.core.schema import TextNode
        from llama_index.core.vector_stores import SimpleVectorStore

        store = SimpleVectorStore()
        store.add(
            [TextNode(id_=str(i), text="", embedding=v.tolist()) for i, v in enumerate(matrix)]
        )

        def run(i: int) -> list[int]:
            result = store.query(
                VectorStoreQuery(
                    query_embedding=queries[i].tolist(),
                    similarity_top_k=10,
                    mode=VectorStoreQueryMode.SVM,
                )
            )
            return [int(x) for x in result.ids or []]

        return run, "SimpleVectorStore.query(mode=SVM)"
    from llama_index.core.indices.query.embedding_utils import get_top_k_embeddings_learner

    def run_learner(i: int) -> list[int]:
        _, ids = get_top_k_embeddings_learner(queries[i].tolist(), matrix, similarity_top_k=10)
        return [int(x) for x in ids]

    return run_learner, "embedding_utils.get_top_k_embeddings_learner(ndarray)"


def sklearn_recipe(matrix: np.ndarray, queries: np.ndarray) -> Callable[[int], np.ndarray]:
    """The seed notebook's recipe: LinearSVC on [q; X], decision values of the documents."""
    from sklearn.svm import LinearSVC

    def run(i: int) -> np.ndarray:
        x = np.concatenate([queries[i][None, :], matrix])
        y = np.zeros(x.shape[0])
        y[0] = 1
        clf = LinearSVC(class_weight="balanced", C=STOCK_C, tol=STOCK_TOL, max_iter=STOCK_MAX_ITER)
        clf.fit(x, y)
        return clf.decision_function(x[1:])

    return run


# ---------------------------------------------------------------------------- one corpus
def top10(scores: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-scores, kind="stable")[:10]]


def bench_corpus(
    kind: str, n: int, dim: int, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    make = clustered_unit if kind == "clustered" else random_unit
    t0 = time.perf_counter()
    matrix = make(n, dim, seed=0)
    queries = queries_like(matrix, max(args.queries, args.batch), seed=1)
    gen_s = time.perf_counter() - t0
    nq = args.queries
    slow_q = nq if n < args.slow_from else min(nq, args.slow_queries)
    rows: list[dict[str, Any]] = []
    index_mb = matrix.nbytes / 2**20

    def record(method: str, ms: float, n_queries: int, **extra: Any) -> None:
        rows.append(
            {
                "data": kind,
                "N": n,
                "D": dim,
                "method": method,
                "median_ms": ms,
                "queries": n_queries,
                **extra,
            }
        )

    q32 = queries.astype(np.float32)
    index = SVMIndex.from_embeddings(matrix)
    t0 = time.perf_counter()
    index.search(queries[-1], k=10, mode="svm")
    first_ms = (time.perf_counter() - t0) * 1e3

    # The kNN pass and our three modes, interleaved query by query, so that a change in the
    # machine's load reaches all of them alike (the ratios to kNN compare like with like).
    ours: dict[str, Callable[[int], Any]] = {"knn (X @ q)": lambda i: matrix @ q32[i]}
    for mode in ("knn", "svm", "hybrid"):
        name = f"ours {mode}" + (" (newton)" if mode == "svm" else "")
        ours[name] = lambda i, m=mode: index.search(queries[i], k=10, mode=m)
    ours_mem = {name: peak_extra_mb(lambda f=fn: f(0)) for name, fn in ours.items()}
    ours_ms: dict[str, list[float]] = {name: [] for name in ours}
    for i in range(nq):
        for name, fn in ours.items():
            start = CLOCK()
            fn(i)
            ours_ms[name].append((CLOCK() - start) * 1e3)
    knn_ms = statistics.median(ours_ms["knn (X @ q)"])
    record("knn (X @ q)", knn_ms, nq, peak_extra_mb=ours_mem["knn (X @ q)"])

    # The reference (LinearSVC on the same problem, through the index) gives the agreement
    # columns; it is timed as "ours svm (liblinear)" (get_scores: the same solve as search).
    ms, refs, mem = timed(
        lambda i: index.get_scores(queries[i], solver="liblinear").svm, slow_q, slow=True
    )
    liblinear_row = {"method": "ours svm (liblinear)", "ms": ms, "mem": mem}

    def agreement(scores: list[np.ndarray]) -> dict[str, Any]:
        pairs = list(zip(scores, refs, strict=False))
        return {
            "top10_identical": sum(top10(s) == top10(r) for s, r in pairs),
            "agreement_queries": len(pairs),
            "max_abs_diff": max(float(np.max(np.abs(s - r))) for s, r in pairs),
        }

    def ranked_agreement(ids: list[list[int]]) -> dict[str, Any]:
        pairs = list(zip(ids, refs, strict=False))
        return {
            "top10_identical": sum(list(a) == top10(r) for a, r in pairs),
            "top10_overlap": statistics.mean(len(set(a) & set(top10(r))) / 10 for a, r in pairs),
            "agreement_queries": len(pairs),
        }

    for name in list(ours)[1:]:
        extra: dict[str, Any] = {}
        if name == "ours svm (newton)":
            newton = [index.get_scores(queries[i]).svm for i in range(slow_q)]
            extra = {**agreement(newton), "first_query_ms": first_ms}
        ms = statistics.median(ours_ms[name])
        record(name, ms, nq, peak_extra_mb=ours_mem[name], **extra)

    # The batch against the same queries one by one, alternately (memory from an extra
    # untimed call: tracemalloc would slow a timed one).
    batch = queries[: args.batch]
    reps = max(1, args.batch_repeats)
    mem = peak_extra_mb(lambda: index.search_batch(batch, k=10, mode="svm"))
    batch_times, single_times = [], []
    for _ in range(reps):
        start = CLOCK()
        singles = [index.search(q, k=10, mode="svm") for q in batch]
        single_times.append((CLOCK() - start) * 1e3 / args.batch)
        start = CLOCK()
        outs = index.search_batch(batch, k=10, mode="svm")
        batch_times.append((CLOCK() - start) * 1e3 / args.batch)
    same = sum([h.id for h in a] == [h.id for h in b] for a, b in zip(outs, singles, strict=True))
    batch_ms, single_ms = statistics.median(batch_times), statistics.median(single_times)
    record(
        f"ours svm batch/{args.batch}",
        batch_ms,
        args.batch * reps,
        peak_extra_mb=mem,
        single_ms_same_queries=single_ms,
        batch_gain=single_ms / batch_ms,
        batch_top10_equal_single=f"{same}/{len(singles)}",
    )
    record(
        liblinear_row["method"],
        liblinear_row["ms"],
        slow_q,
        peak_extra_mb=liblinear_row["mem"],
        **agreement(refs),
    )

    if not args.skip_stock:
        recipe = sklearn_recipe(matrix, queries)
        ms, outs, mem = timed(recipe, slow_q, slow=True)
        record("sklearn recipe", ms, slow_q, peak_extra_mb=mem, **agreement(outs))
        lc = langchain_retriever(matrix, queries)
        if lc is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ms, outs, mem = timed(lc, slow_q, slow=True)
            record(
                "langchain SVMRetriever", ms, slow_q, peak_extra_mb=mem, **ranked_agreement(outs)
            )
            del lc
        li, path = llama_index_svm(matrix, queries)
        ms, outs, mem = timed(li, slow_q, slow=True)
        record(
            "llama-index svm", ms, slow_q, peak_extra_mb=mem, path=path, **ranked_agreement(outs)
        )
        del li

    for row in rows:
        row["x_knn"] = row["median_ms"] / knn_ms
        row["index_mb"] = index_mb
    # Per-corpus quantities the index keeps between queries (the warm-start subspace, the mean).
    cache_mb = (
        sum(
            getattr(v, "nbytes", 0)
            + sum(getattr(a, "nbytes", 0) for a in getattr(v, "__dict__", {}).values())
            for v in index._snap.cache.values()
        )
        / 2**20
    )
    info = {
        "data": kind,
        "N": n,
        "D": dim,
        "generate_s": gen_s,
        "first_query_ms": first_ms,
        "cache_mb": cache_mb,
    }
    print(f"{kind} {n}x{dim}: first query {first_ms:.0f} ms, per-corpus cache {cache_mb:.0f} MB")
    return rows, info


# ---------------------------------------------------------------------------- output
def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        "| data | N | D | method | median ms | x kNN | queries | top-10 = ref | "
        "max abs diff | peak extra MB (index MB) |"
    )
    print(head)
    print("|" + "---|" * 10)
    for r in rows:
        agree = f"{r['top10_identical']}/{r['agreement_queries']}" if "top10_identical" in r else ""
        if "top10_overlap" in r:
            agree += f" (overlap {r['top10_overlap']:.2f})"
        diff = f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r else ""
        if "batch_gain" in r:  # the batch row: its gain over the same queries one by one
            agree = f"{r['batch_top10_equal_single']} = single"
            diff = f"gain {r['batch_gain']:.2f}x ({r['single_ms_same_queries']:.1f} ms single)"
        mem = r.get("peak_extra_mb")
        mem_s = f"{mem:.0f} ({r['index_mb']:.0f})" if mem is not None else "?"
        print(
            f"| {r['data']} | {r['N']} | {r['D']} | {r['method']} | {r['median_ms']:.1f} | "
            f"{r['x_knn']:.1f} | {r['queries']} | {agree} | {diff} | {mem_s} |"
        )


def parse_sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        n, d = part.lower().split("x")
        out.append((int(n), int(d)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="1000x384,1000x1536,10000x384,10000x1536,100000x384,100000x1536",
        help="comma-separated NxD",
    )
    parser.add_argument("--kinds", default="clustered,random")
    parser.add_argument("--queries", type=int, default=5, help="timed queries per method")
    parser.add_argument(
        "--slow-queries",
        type=int,
        default=2,
        help="queries for the LinearSVC-based methods at N >= --slow-from",
    )
    parser.add_argument("--slow-from", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (threadpoolctl)")
    parser.add_argument("--skip-stock", action="store_true", help="skip the stock retrievers")
    parser.add_argument("--quick", action="store_true", help="small sizes, few queries")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with process CPU time instead of wall time (for a machine shared with other "
        "jobs; with 1 BLAS thread every method is single-threaded, so on an idle machine "
        "the two agree)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.queries, args.batch_repeats = "1000x384,10000x384", 3, 1
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    # Load every library with a BLAS or OpenMP pool first (scikit-learn brings scipy's own
    # OpenBLAS and libgomp), so that the limit reaches all of them.
    import sklearn.svm  # noqa: F401

    threadpool_limits(args.threads)
    env = environment(args.threads)
    env["clock"] = "process_time" if args.cpu_time else "perf_counter"
    print(json.dumps(env, indent=1))
    rows: list[dict[str, Any]] = []
    infos = []
    for kind in args.kinds.split(","):
        for n, dim in parse_sizes(args.sizes):
            got, info = bench_corpus(kind, n, dim, args)
            rows.extend(got)
            infos.append(info)
            print_table(got)
            sys.stdout.flush()
    print("\nAll results\n")
    print_table(rows)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / f"speed-{stamp}.json"
    out.write_text(
        json.dumps({"environment": env, "argv": sys.argv, "corpora": infos, "rows": rows}, indent=1)
    )
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
