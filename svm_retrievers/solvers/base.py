"""The exemplar-SVM problem every solver solves, and what a solver returns.

The problem is scikit-learn's ``LinearSVC(loss="squared_hinge", penalty="l2", C=C,
class_weight="balanced", fit_intercept=True, intercept_scaling=1)`` trained on
``X = [positives; matrix[rows]; extra_negatives]`` with ``y = [1]*P + [0]*(n_neg)``::

    min_{w, b}  1/2 (|w|^2 + b^2) + C * sum_i c_i * max(0, 1 - y_i (w . x_i + b))^2

with y in {+1, -1} and the balanced class weights ``c = n / (2 * n_class)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class SVMProblem:
    """One exemplar-SVM training problem over (a subset of) a stored matrix.

    ``matrix`` is the index's L2-normalized float32 (or float64) matrix; solvers must not
    copy it whole or write to it. ``rows`` selects the negatives (``None``: every row).
    ``knn_scores`` are the negatives' scores for the first positive (the query's kNN scores,
    in ``rows`` order) and ``positive_scores``, ``(P, n)``, theirs for every positive, when the
    caller has them anyway: a solver then need not compute them (they are checked on a few
    rows, and recomputed if they do not match). ``cache`` is a per-snapshot dict where a
    solver may keep per-corpus quantities (means, factorizations); when the index changes, the
    new snapshot starts with what :func:`~svm_retrievers.solvers.carry_cache` carries over and
    nothing else. ``cache_persists`` says whether it outlives this call: when it does not (a
    one-off candidate subset passed as its own ``matrix``), per-corpus quantities are not worth
    computing.
    """

    matrix: np.ndarray
    rows: np.ndarray | None
    positives: np.ndarray
    extra_negatives: np.ndarray
    C: float
    tol: float = 1e-6
    max_iter: int = 10000
    random_state: int | None = 0
    knn_scores: np.ndarray | None = None
    positive_scores: np.ndarray | None = None
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    cache_persists: bool = True

    @property
    def n_positive(self) -> int:
        return int(self.positives.shape[0])

    @property
    def n_negative(self) -> int:
        n_rows = self.matrix.shape[0] if self.rows is None else int(self.rows.shape[0])
        return n_rows + int(self.extra_negatives.shape[0])

    @property
    def class_weights(self) -> tuple[float, float]:
        """Balanced weights ``(positive, negative)``: ``n / (2 * n_class)``."""
        n = self.n_positive + self.n_negative
        return n / (2.0 * self.n_positive), n / (2.0 * self.n_negative)

    def negatives_view(self) -> np.ndarray:
        """The stored negatives (a view when ``rows`` is ``None``, else a gathered copy)."""
        return self.matrix if self.rows is None else self.matrix[self.rows]


@dataclass(frozen=True)
class SVMSolution:
    """The solved hyperplane: decision value of ``x`` is ``coef @ x + intercept``.

    ``row_scores``, when a solver has them anyway, are the decision values of
    ``matrix[rows]`` (in ``rows`` order, or all rows), so the index need not recompute them.
    """

    coef: np.ndarray
    intercept: float
    n_iter: int
    converged: bool
    row_scores: np.ndarray | None = None


class Solver(Protocol):
    """A callable that solves an :class:`SVMProblem`."""

    def __call__(self, problem: SVMProblem) -> SVMSolution: ...
