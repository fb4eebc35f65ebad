"""Scoring parameters: index-wide defaults, overridable per call."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from .validation import (
    check_fusion,
    check_mode,
    check_positive_float,
    check_unit_interval,
)

DEFAULT_MODE = "knn"
"""The default ranking. Chosen by the evaluation in the README ("Retrieval quality"): on the
shared collections with three embeddings, neither the exemplar SVM nor the z-score hybrid
beats kNN without a significant loss somewhere. The SVM and hybrid scores are still computed
and returned with every hit."""
MAX_C = 1e30
"""The largest ``C`` accepted (LinearSVC returns up to here; at 1e100 it does not)."""


@dataclass(frozen=True)
class ScoringParams:
    """How an :class:`~svm_retrievers.SVMIndex` scores.

    Attributes:
        mode: the score that ranks results: ``"svm"``, ``"knn"`` or ``"hybrid"``.
        C: the SVM's regularization (LinearSVC's ``C``, at most ``MAX_C``); smaller is
            closer to kNN.
        tol: the solver's stopping tolerance.
        max_iter: the solver's iteration cap.
        random_state: seed for the reference solver's shuffling and negative sampling.
        alpha: weight of the kNN side in the hybrid score (0.5 = plain mean).
        fusion: ``"zscore"`` (mean of z-scores) or ``"rrf"`` (reciprocal rank fusion).
        max_negatives: train on a seeded sample of at most this many negatives
            (every document is still scored); ``None`` trains on all of them.
        solver: the exemplar-SVM solver, a name in :data:`svm_retrievers.solvers.SOLVERS`.
    """

    mode: str = DEFAULT_MODE
    C: float = 0.1
    tol: float = 1e-6
    max_iter: int = 10000
    random_state: int | None = 0
    alpha: float = 0.5
    fusion: str = "zscore"
    max_negatives: int | None = None
    solver: str = "auto"

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if check_positive_float(self.C, "C") > MAX_C:
            msg = (
                f"C must be at most {MAX_C:g}, got {self.C:g}: scikit-learn's liblinear (the"
                " reference solver) does not return for far larger C"
            )
            raise ValueError(msg)
        check_positive_float(self.tol, "tol")
        _check_int(self.max_iter, "max_iter", minimum=1)
        if self.random_state is not None:
            _check_int(self.random_state, "random_state", minimum=0)
            if self.random_state > 2**32 - 1:
                msg = f"random_state must be <= 2**32 - 1, got {self.random_state}"
                raise ValueError(msg)
        check_unit_interval(self.alpha, "alpha")
        check_fusion(self.fusion)
        if self.max_negatives is not None:
            _check_int(self.max_negatives, "max_negatives", minimum=1)
        from .solvers import get_solver

        get_solver(self.solver)

    def replace(self, **overrides: Any) -> ScoringParams:
        """A copy with the non-``None`` ``overrides`` applied (and validated)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            msg = f"unknown scoring parameter(s) {unknown}; expected some of {sorted(names)}"
            raise TypeError(msg)
        given = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **given) if given else self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoringParams:
        """Inverse of :meth:`to_dict`; unknown keys are refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            msg = f"unknown scoring parameter(s) {unknown}; expected some of {sorted(names)}"
            raise ValueError(msg)
        return cls(**data)


def _check_int(value: Any, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an integer, got {value!r} ({type(value).__name__})"
        raise TypeError(msg)
    if value < minimum:
        msg = f"{name} must be >= {minimum}, got {value}"
        raise ValueError(msg)
