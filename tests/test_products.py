"""Products of the stored matrix with several vectors at once, by blocks of rows."""

from __future__ import annotations

import numpy as np
import pytest

from svm_retrievers import _products
from svm_retrievers._products import row_products


@pytest.mark.parametrize("k", [1, 2, 3, _products._GEMV_MAX, _products._GEMV_MAX + 1, 32])
@pytest.mark.parametrize("blocks", [0, 1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_products_equal_one_product(k: int, blocks: int, dtype: type) -> None:
    # Fewer rows than a block, exactly one block, and three blocks and a short one.
    dim = 768
    step = _products.block_rows(np.empty((1, dim), dtype=dtype))
    n = {0: 7, 1: step, 3: 3 * step + 5}[blocks]
    rng = np.random.default_rng(n * 100 + k)
    matrix = rng.standard_normal((n, dim)).astype(dtype)
    vectors = rng.standard_normal((k, dim))
    got = row_products(matrix, vectors)
    assert got.shape == (k, n)
    assert got.dtype == np.float64 and got.flags.c_contiguous
    # Computed in the matrix's dtype (the vectors are rounded to it), every row filled.
    want = vectors.astype(dtype).astype(np.float64) @ matrix.astype(np.float64).T
    tol = 1e-3 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert np.array_equal(row_products(matrix, vectors), got)  # deterministic


def test_row_products_of_views_and_a_single_vector() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2000, 64)).astype(np.float32)
    vectors = rng.standard_normal((4, 64)).astype(np.float32)
    for matrix in (base[::2], np.asfortranarray(base), base[:, :64]):
        got = row_products(matrix, vectors)
        np.testing.assert_allclose(got, vectors @ matrix.T, rtol=1e-4, atol=1e-4)
    # One vector is the plain matrix-vector product, as every single search computes it.
    one = row_products(base, vectors[:1])
    assert np.array_equal(one[0], (base @ vectors[0]).astype(np.float64))
