"""Products of a stored matrix with a few vectors at once, by blocks of rows.

One pass over a large matrix for several vectors costs more than it should when left to a
single BLAS call: OpenBLAS packs the whole matrix for a matrix-matrix product, and two
matrix-vector products read it twice. Each block of rows (about ``_BLOCK_BYTES``) is read from
memory once and multiplied by every vector while it is still in cache. At 100k x 1536 float32
with one BLAS thread (``benchmarks/results/products.log``): 2 vectors 119 ms in one product
against 53 ms by blocks, 4 vectors 113 against 74, 32 vectors 222 against 180; one vector is
the same matrix-vector product either way.
"""

from __future__ import annotations

import numpy as np

_BLOCK_BYTES = 3 << 20  # bytes per block of rows (512 rows at D = 1536 in float32), held in
# cache between the products
_GEMV_MAX = 6  # up to this many vectors, one matrix-vector product each per block; more, one
# matrix-matrix product per block


def row_products(matrix: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``vectors @ matrix.T`` in float64: row ``j`` holds every row's product with
    ``vectors[j]``, computed in ``matrix``'s dtype (``vectors`` is ``(k, D)``).

    One vector is one matrix-vector product, as before; several are multiplied block by
    block, so that the matrix is read once. Results equal a single product up to
    floating-point rounding (the summation order differs), and are deterministic.
    """
    vectors = np.ascontiguousarray(vectors, dtype=matrix.dtype)
    n, k = matrix.shape[0], vectors.shape[0]
    if k == 1:
        return (matrix @ vectors[0]).astype(np.float64)[None, :]
    step = block_rows(matrix)
    if n <= step:
        return (matrix @ vectors.T).T.astype(np.float64, order="C")
    out = np.empty((k, n), dtype=matrix.dtype)
    if k <= _GEMV_MAX:
        for start in range(0, n, step):
            block = matrix[start : start + step]
            for j in range(k):
                np.dot(block, vectors[j], out=out[j, start : start + block.shape[0]])
    else:
        columns = np.ascontiguousarray(vectors.T)
        buffer = np.empty((step, k), dtype=matrix.dtype)
        for start in range(0, n, step):
            block = matrix[start : start + step]
            part = buffer[: block.shape[0]]
            np.dot(block, columns, out=part)
            out[:, start : start + block.shape[0]] = part.T
    return out.astype(np.float64)


def block_rows(matrix: np.ndarray) -> int:
    """Rows per block for ``matrix``: about ``_BLOCK_BYTES``, at least 64."""
    return max(64, _BLOCK_BYTES // max(1, matrix.shape[1] * matrix.dtype.itemsize))
