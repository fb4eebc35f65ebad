"""Exemplar-SVM solvers: a name -> callable registry.

``"newton"`` (the default, picked by ``"auto"``) is the exact finite Newton working-set solver;
``"liblinear"`` is scikit-learn's ``LinearSVC`` (the reference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .base import SVMProblem, SVMSolution
from .liblinear import solve_liblinear
from .newton import (
    carry_cache,
    export_cache,
    import_cache,
    solve_newton,
    solve_newton_batch,
    subset_cache,
)

SOLVERS: dict[str, Callable[[SVMProblem], SVMSolution]] = {
    "newton": solve_newton,
    "liblinear": solve_liblinear,
}
DEFAULT_SOLVER = "newton"

BATCH_SOLVERS: dict[str, Callable[[Sequence[SVMProblem]], list[SVMSolution]]] = {
    "newton": solve_newton_batch,
}
"""Solvers that also solve several problems over one matrix at once (matrix-matrix products)."""

SUBSET_CACHES: dict[str, Callable[[dict[str, Any], np.ndarray, np.ndarray], dict[str, Any]]] = {
    "newton": subset_cache
}
"""Solvers whose per-corpus quantities also serve a candidate subset solved as its own matrix:
name -> ``f(cache, matrix, rows)`` giving the cache for ``matrix[rows]``."""

BATCH_MIN_ELEMENTS = 8_000_000
"""``search_batch`` uses a batch solver only when the candidates hold at least this many
elements (N * D). A product over many queries rounds differently from one over a single query,
so batched scores equal per-query scores only up to float rounding; below this size batching
gains nothing, and ``search_batch`` returns exactly what ``search`` returns."""


def get_solver(name: str) -> Callable[[SVMProblem], SVMSolution]:
    """Return the solver registered as ``name``."""
    try:
        return SOLVERS[DEFAULT_SOLVER if name == "auto" else name]
    except KeyError:
        msg = f"solver must be 'auto' or one of {sorted(SOLVERS)!r}, got {name!r}"
        raise ValueError(msg) from None


def get_subset_cache(
    name: str,
) -> Callable[[dict[str, Any], np.ndarray, np.ndarray], dict[str, Any]] | None:
    """How the solver registered as ``name`` restricts its per-corpus cache to a candidate
    subset, or ``None`` if it keeps no such cache."""
    get_solver(name)
    return SUBSET_CACHES.get(DEFAULT_SOLVER if name == "auto" else name)


def get_batch_solver(name: str) -> Callable[[Sequence[SVMProblem]], list[SVMSolution]] | None:
    """The batch form of the solver registered as ``name``, or ``None`` if it has none."""
    get_solver(name)
    return BATCH_SOLVERS.get(DEFAULT_SOLVER if name == "auto" else name)


__all__ = [
    "BATCH_MIN_ELEMENTS",
    "BATCH_SOLVERS",
    "DEFAULT_SOLVER",
    "SOLVERS",
    "SUBSET_CACHES",
    "SVMProblem",
    "SVMSolution",
    "carry_cache",
    "export_cache",
    "get_batch_solver",
    "get_solver",
    "get_subset_cache",
    "import_cache",
    "solve_liblinear",
    "solve_newton",
    "solve_newton_batch",
    "subset_cache",
]
