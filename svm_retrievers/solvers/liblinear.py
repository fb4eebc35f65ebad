"""The reference solver: scikit-learn's ``LinearSVC``, exactly as the seed notebook calls it."""

from __future__ import annotations

import threading

import numpy as np

from .base import SVMProblem, SVMSolution

# liblinear draws its shuffling from the C library's process-wide rand(), seeded per fit:
# concurrent fits would interleave draws and give slightly different, irreproducible results.
_FIT_LOCK = threading.Lock()


def solve_liblinear(problem: SVMProblem) -> SVMSolution:
    """Fit ``LinearSVC(class_weight="balanced")`` on ``[positives; negatives]``.

    This copies the negatives into one float64 training matrix (as the stock retrievers do);
    it is the reference the fast solvers are tested against, not the fast path.
    """
    negatives = problem.negatives_view()
    from sklearn.svm import LinearSVC  # imported on use: it makes `import svm_retrievers` slow

    x = np.vstack(
        [
            problem.positives.astype(np.float64, copy=False),
            negatives.astype(np.float64, copy=False),
            problem.extra_negatives.astype(np.float64, copy=False),
        ]
    )
    y = np.zeros(x.shape[0], dtype=np.int64)
    y[: problem.n_positive] = 1
    clf = LinearSVC(
        class_weight="balanced",
        C=problem.C,
        tol=problem.tol,
        max_iter=problem.max_iter,
        random_state=problem.random_state,
    )
    with _FIT_LOCK:
        clf.fit(x, y)
    n_iter = int(np.max(clf.n_iter_))
    scores = clf.decision_function(x[problem.n_positive : problem.n_positive + negatives.shape[0]])
    return SVMSolution(
        coef=clf.coef_[0].astype(np.float64),
        intercept=float(clf.intercept_[0]),
        n_iter=n_iter,
        converged=n_iter < problem.max_iter,
        row_scores=scores,
    )
