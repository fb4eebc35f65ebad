"""Exemplar-SVM solvers: a name -> callable registry.

``"liblinear"`` is scikit-learn's ``LinearSVC`` (the reference).
"""

from __future__ import annotations

from collections.abc import Callable

from .base import SVMProblem, SVMSolution
from .liblinear import solve_liblinear

SOLVERS: dict[str, Callable[[SVMProblem], SVMSolution]] = {
    "liblinear": solve_liblinear,
}
DEFAULT_SOLVER = "liblinear"


def get_solver(name: str) -> Callable[[SVMProblem], SVMSolution]:
    """Return the solver registered as ``name``."""
    try:
        return SOLVERS[DEFAULT_SOLVER if name == "auto" else name]
    except KeyError:
        msg = f"solver must be 'auto' or one of {sorted(SOLVERS)!r}, got {name!r}"
        raise ValueError(msg) from None


__all__ = ["DEFAULT_SOLVER", "SOLVERS", "SVMProblem", "SVMSolution", "get_solver"]
