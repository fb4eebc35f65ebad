"""Input checks shared by every entry point.

Each check raises a ``ValueError`` or ``TypeError`` whose message names the argument and,
where it helps, the shapes involved. Nothing here modifies the caller's arrays.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

MODES = ("svm", "knn", "hybrid")
FUSIONS = ("zscore", "rrf")


def check_matrix(
    value: Any,
    name: str,
    *,
    dim: int | None = None,
    allow_empty: bool = False,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Return ``value`` as a 2-D finite array of ``dtype``, rows L2-normalized.

    Raises if it is not 2-D, is empty (unless ``allow_empty``), holds NaN/inf or a zero row,
    or its width differs from ``dim``. The result never shares memory with ``value``.
    """
    arr = _as_float_array(value, name)
    if arr.ndim == 1:
        msg = (
            f"{name} must be a 2-D array of shape (n, dim), got a 1-D array of shape {arr.shape};"
            f" wrap a single vector as [vector]"
        )
        raise ValueError(msg)
    if arr.ndim != 2:
        msg = f"{name} must be a 2-D array of shape (n, dim), got shape {arr.shape}"
        raise ValueError(msg)
    if arr.shape[0] == 0 and not allow_empty:
        msg = f"{name} is empty (shape {arr.shape}): at least one vector is needed"
        raise ValueError(msg)
    if arr.shape[1] == 0:
        msg = f"{name} has zero-length vectors (shape {arr.shape})"
        raise ValueError(msg)
    if dim is not None and arr.shape[1] != dim:
        msg = f"{name} has dimension {arr.shape[1]} (shape {arr.shape}), but the index has dimension {dim}"
        raise ValueError(msg)
    return _normalize_rows(arr, name, dtype)


def check_rows(value: Any, name: str) -> np.ndarray:
    """``value`` as an array of one query per row: raises unless it is 2-D and non-empty.

    Only the shape is checked; each row is validated (and normalized) where it is used.
    """
    rows = np.asarray(value)
    if rows.ndim != 2 or rows.shape[0] == 0:
        msg = f"{name} must be a non-empty 2-D array (one row per query), got shape {rows.shape}"
        raise ValueError(msg)
    return rows


def check_vector(value: Any, name: str, *, dim: int | None = None) -> np.ndarray:
    """Return ``value`` as a 1-D finite, L2-normalized float64 vector of length ``dim``."""
    arr = _as_float_array(value, name)
    if arr.ndim == 2:
        msg = (
            f"{name} must be a single 1-D vector, got a 2-D array of shape {arr.shape};"
            f" use search_batch for several queries"
        )
        raise ValueError(msg)
    if arr.ndim != 1:
        msg = f"{name} must be a 1-D vector, got shape {arr.shape}"
        raise ValueError(msg)
    if dim is not None and arr.shape[0] != dim:
        msg = f"{name} has dimension {arr.shape[0]}, but the index has dimension {dim}"
        raise ValueError(msg)
    if arr.shape[0] == 0:
        msg = f"{name} is an empty vector"
        raise ValueError(msg)
    return _normalize_rows(arr[None, :], name, np.float64)[0]


def _as_float_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, (str, bytes)) or value is None:
        msg = f"{name} must be an array of numbers, got {type(value).__name__}"
        raise TypeError(msg)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        msg = f"{name} could not be read as a numeric array: {exc}"
        raise ValueError(msg) from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating)
        or np.issubdtype(arr.dtype, np.integer)
        or arr.dtype == bool
    ):
        msg = f"{name} must hold real numbers, got dtype {arr.dtype}"
        raise TypeError(msg)
    return arr


def _normalize_rows(arr: np.ndarray, name: str, dtype: Any) -> np.ndarray:
    work = np.array(arr, dtype=np.float64, copy=True)
    finite = np.isfinite(work)
    if not finite.all():
        bad = np.argwhere(~finite.all(axis=1)).ravel()
        msg = f"{name} contains NaN or infinite values (in row(s) {_few(bad)})"
        raise ValueError(msg)
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(work, axis=1)
    # Squares that overflow (|x| > ~1e154) or underflow (~1e-154) spoil the norm: such rows
    # are scaled by their largest entry first.
    extreme = ~np.isfinite(norms) | (norms < 1e-150)
    if extreme.any():
        rows = work[extreme]
        largest = np.abs(rows).max(axis=1)
        rows /= np.where(largest == 0, 1.0, largest)[:, None]
        work[extreme] = rows
        norms[extreme] = np.linalg.norm(rows, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        msg = f"{name} contains zero-norm vector(s) (row(s) {_few(zero)}); they have no direction"
        raise ValueError(msg)
    work /= norms[:, None]
    return np.ascontiguousarray(work, dtype=dtype)


def _few(indices: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:5])
    return shown + (f", ... ({indices.size} in all)" if indices.size > 5 else "")


def check_model_output(vectors: Any, *, source: str, count: int, dim: int | None) -> np.ndarray:
    """What an embedding model returned, as a finite ``(count, dim)`` float64 array.

    ``source`` names the model and method (``"MyEmbeddings.embed_documents"``); every error
    says what it returned: the wrong count, ragged or non-numeric rows, the wrong dimension,
    NaN/inf or a zero vector.
    """
    if (
        vectors is None
        or isinstance(vectors, (str, bytes, dict))
        or not hasattr(vectors, "__len__")
    ):
        msg = f"{source} must return a list of vectors, got {type(vectors).__name__}"
        raise TypeError(msg)
    if len(vectors) != count:
        msg = f"{source} returned {len(vectors)} vector(s) for {count} text(s)"
        raise ValueError(msg)
    try:
        arr = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        lengths = sorted({len(v) for v in vectors if hasattr(v, "__len__")})
        msg = (
            f"{source} returned vectors that are not numeric and of one length"
            f" (lengths {lengths}): {exc}"
        )
        raise ValueError(msg) from exc
    if arr.ndim != 2 or arr.shape[1] == 0:
        msg = f"{source} returned an array of shape {arr.shape}; expected ({count}, dim)"
        raise ValueError(msg)
    if dim is not None and arr.shape[1] != dim:
        msg = (
            f"{source} returned vectors of dimension {arr.shape[1]},"
            f" but the index has dimension {dim}"
        )
        raise ValueError(msg)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        msg = f"{source} returned NaN or infinite values (for text(s) at position {_few(bad)})"
        raise ValueError(msg)
    zero = np.flatnonzero(~arr.any(axis=1))
    if zero.size:
        msg = f"{source} returned a zero vector (for text(s) at position {_few(zero)}); it has no direction"
        raise ValueError(msg)
    return arr


def check_k(k: Any, name: str = "k") -> int:
    """Return ``k`` as an ``int`` >= 1; refuse bools, floats and anything else."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        msg = f"{name} must be an integer >= 1, got {k!r} ({type(k).__name__})"
        raise TypeError(msg)
    if k < 1:
        msg = f"{name} must be >= 1, got {k}"
        raise ValueError(msg)
    return int(k)


def check_mode(mode: Any) -> str:
    """Return ``mode`` if it is one of :data:`MODES`."""
    if mode not in MODES:
        msg = f"mode must be one of {', '.join(repr(m) for m in MODES)}, got {mode!r}"
        raise ValueError(msg)
    return str(mode)


def check_fusion(fusion: Any) -> str:
    """Return ``fusion`` if it is one of :data:`FUSIONS`."""
    if fusion not in FUSIONS:
        msg = f"fusion must be one of {', '.join(repr(f) for f in FUSIONS)}, got {fusion!r}"
        raise ValueError(msg)
    return str(fusion)


def check_positive_float(value: Any, name: str) -> float:
    """Return ``value`` as a finite float > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a positive number, got {value!r} ({type(value).__name__})"
        raise TypeError(msg)
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        msg = f"{name} must be a finite number > 0, got {value}"
        raise ValueError(msg)
    return value


def check_unit_interval(value: Any, name: str) -> float:
    """Return ``value`` as a float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number in [0, 1], got {value!r}"
        raise TypeError(msg)
    value = float(value)
    if not 0.0 <= value <= 1.0:
        msg = f"{name} must be in [0, 1], got {value}"
        raise ValueError(msg)
    return value


def check_id_list(ids: Any, name: str = "ids", item: str = "id") -> list[Any]:
    """``ids`` as a list; a single str or a non-iterable is refused with a clear error."""
    if isinstance(ids, str):
        msg = f"{name} must be a sequence of ids, got a single str; wrap it as [{item}]"
        raise TypeError(msg)
    if not isinstance(ids, Iterable):
        msg = f"{name} must be a sequence of ids, got {type(ids).__name__}"
        raise TypeError(msg)
    return list(ids)


def check_ids(ids: Iterable[Any], n: int, name: str = "ids") -> list[str]:
    """Return ``ids`` as a list of ``n`` unique non-empty strings."""
    if isinstance(ids, (str, bytes)):
        msg = f"{name} must be a sequence of strings, got a single {type(ids).__name__}"
        raise TypeError(msg)
    out = list(ids)
    if len(out) != n:
        msg = f"{name} has {len(out)} entries but there are {n} vectors"
        raise ValueError(msg)
    for i, item in enumerate(out):
        if not isinstance(item, str):
            msg = f"{name}[{i}] must be a str, got {type(item).__name__} ({item!r})"
            raise TypeError(msg)
        if not item:
            msg = f"{name}[{i}] is an empty string"
            raise ValueError(msg)
    if len(set(out)) != len(out):
        seen: set[str] = set()
        dups = sorted({x for x in out if x in seen or seen.add(x)})  # type: ignore[func-returns-value]
        msg = f"{name} must be unique; duplicated: {dups[:5]!r}"
        raise ValueError(msg)
    return out


def check_optional_list(values: Sequence[Any] | None, n: int, name: str) -> list[Any] | None:
    """Return ``values`` as a list of length ``n`` (or ``None``)."""
    if values is None:
        return None
    if isinstance(values, (str, bytes, dict)):
        msg = f"{name} must be a sequence with one entry per vector, got {type(values).__name__}"
        raise TypeError(msg)
    out = list(values)
    if len(out) != n:
        msg = f"{name} has {len(out)} entries but there are {n} vectors"
        raise ValueError(msg)
    return out
