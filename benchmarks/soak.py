"""Soak benchmark: reader threads query an SVMIndex for minutes while a writer adds and deletes.

Samples the process's resident memory (``/proc/self/statm``) and Python-traced memory
(``tracemalloc``) over time, prints a table, reports growth after warm-up, and writes JSON to
``benchmarks/results/``. Not a CI test: run it by hand, e.g.::

    python benchmarks/soak.py --duration 180 --readers 4

The index size stays constant (each writer step adds a batch and deletes the oldest one), so
memory should stay flat once warmed up; steady growth means a leak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from svm_retrievers import SVMIndex

MODES = ("svm", "knn", "hybrid")
RESULTS = Path(__file__).resolve().parent / "results"


def rss_mib() -> float:
    """Resident set size of this process in MiB."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: peak RSS is the best portable figure
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def slope_per_min(times: list[float], values: list[float]) -> float:
    """Least-squares slope of ``values`` over ``times`` (seconds), per minute."""
    if len(times) < 2:
        return 0.0
    return float(np.polyfit(np.asarray(times), np.asarray(values), 1)[0] * 60)


def machine() -> dict[str, object]:
    import sklearn

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "loadavg_at_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds (default 180)")
    parser.add_argument("--readers", type=int, default=4, help="querying threads (default 4)")
    parser.add_argument("--docs", type=int, default=2000, help="documents in the index")
    parser.add_argument("--dim", type=int, default=64, help="vector dimension")
    parser.add_argument("--batch", type=int, default=20, help="documents per add/delete")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=0.2, help="fraction of run ignored")
    parser.add_argument("--no-tracemalloc", action="store_true", help="sample RSS only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    index = SVMIndex.from_embeddings(
        rng.normal(size=(args.docs, args.dim)),
        ids=[f"doc-{i}" for i in range(args.docs)],
        texts=[f"document {i}" for i in range(args.docs)],
        metadatas=[{"i": i, "even": i % 2 == 0} for i in range(args.docs)],
    )
    queries = rng.normal(size=(64, args.dim))
    if not args.no_tracemalloc:
        tracemalloc.start()

    stop = threading.Event()
    counts = {"queries": 0, "adds": 0, "deletes": 0}
    count_lock = threading.Lock()
    errors: list[str] = []

    def reader(r: int) -> None:
        i = r
        while not stop.is_set():
            q = queries[i % len(queries)]
            mode = MODES[i % 3]
            try:
                if i % 5 == 0:
                    hits = index.search(q, k=args.k, mode=mode, where={"even": True})
                else:
                    hits = index.search(q, k=args.k, mode=mode)
                assert len(hits) == args.k
            except Exception as exc:  # record, keep soaking
                errors.append(repr(exc))
            with count_lock:
                counts["queries"] += 1
            i += 1

    def writer() -> None:
        batch = 0
        live: list[list[str]] = []
        while not stop.is_set():
            ids = [f"w{batch}-{j}" for j in range(args.batch)]
            index.add(
                rng.normal(size=(args.batch, args.dim)),
                ids,
                texts=["written"] * args.batch,
                metadatas=[{"even": j % 2 == 0} for j in range(args.batch)],
            )
            live.append(ids)
            if len(live) > 5:
                index.delete(live.pop(0))
                with count_lock:
                    counts["deletes"] += 1
            with count_lock:
                counts["adds"] += 1
            batch += 1
            time.sleep(0.05)

    threads = [threading.Thread(target=reader, args=(r,), daemon=True) for r in range(args.readers)]
    threads.append(threading.Thread(target=writer, daemon=True))
    start = time.monotonic()
    for t in threads:
        t.start()

    samples: list[dict[str, float]] = []
    header = f"{'time s':>8} {'queries':>9} {'q/s':>7} {'adds':>6} {'dels':>6} {'RSS MiB':>9} {'traced MiB':>11}"
    print(header, flush=True)
    last_q, last_t = 0, 0.0
    while True:
        now = time.monotonic() - start
        with count_lock:
            snapshot = dict(counts)
        traced = tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else 0.0
        sample = {
            "t": round(now, 1),
            "queries": snapshot["queries"],
            "adds": snapshot["adds"],
            "deletes": snapshot["deletes"],
            "rss_mib": round(rss_mib(), 2),
            "traced_mib": round(traced, 3),
            "index_len": len(index),
        }
        samples.append(sample)
        qps = (snapshot["queries"] - last_q) / (now - last_t) if now > last_t else 0.0
        last_q, last_t = snapshot["queries"], now
        print(
            f"{now:8.1f} {snapshot['queries']:9d} {qps:7.1f} {snapshot['adds']:6d}"
            f" {snapshot['deletes']:6d} {sample['rss_mib']:9.1f} {traced:11.2f}",
            flush=True,
        )
        if now >= args.duration:
            break
        time.sleep(min(args.interval, max(0.0, args.duration - now)))
    stop.set()
    for t in threads:
        t.join(timeout=60)

    steady = [s for s in samples if s["t"] >= args.warmup * args.duration] or samples
    times = [s["t"] for s in steady]
    summary = {
        "rss_start_mib": samples[0]["rss_mib"],
        "rss_after_warmup_mib": steady[0]["rss_mib"],
        "rss_end_mib": samples[-1]["rss_mib"],
        "rss_growth_after_warmup_mib": round(samples[-1]["rss_mib"] - steady[0]["rss_mib"], 2),
        "rss_slope_mib_per_min": round(slope_per_min(times, [s["rss_mib"] for s in steady]), 3),
        "traced_growth_after_warmup_mib": round(
            samples[-1]["traced_mib"] - steady[0]["traced_mib"], 3
        ),
        "traced_slope_mib_per_min": round(
            slope_per_min(times, [s["traced_mib"] for s in steady]), 4
        ),
        "queries": samples[-1]["queries"],
        "queries_per_s": round(samples[-1]["queries"] / samples[-1]["t"], 1),
        "adds": samples[-1]["adds"],
        "deletes": samples[-1]["deletes"],
        "errors": len(errors),
        "first_errors": errors[:5],
    }
    print()
    for key, value in summary.items():
        print(f"{key:32s} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "soak",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine(),
        "samples": samples,
        "summary": summary,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
