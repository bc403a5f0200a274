"""``algorithms.matmul`` (what ``Dense`` multiplies with): NumPy's product, BLAS held to one
thread inside and restored after; ``blas.one_thread`` nested and from several threads."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convolab.algorithms import blas, matmul, scheduler


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 300), k=st.integers(1, 300), n=st.integers(1, 300),
       transposed=st.booleans(), f64=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_matmul_is_numpys_product(m, k, n, transposed, f64, seed):
    rng = np.random.default_rng(seed)
    dtype = np.float64 if f64 else np.float32
    a = rng.standard_normal((k, m) if transposed else (m, k)).astype(dtype)
    a = a.T if transposed else a
    b = rng.standard_normal((k, n)).astype(dtype)
    got = matmul.matmul(a, b)
    assert got.shape == (m, n) and got.dtype == dtype
    np.testing.assert_allclose(got, np.asarray(a, np.float64) @ b, rtol=1e-4 if not f64 else 1e-12,
                               atol=1e-4 * np.sqrt(k) if not f64 else 1e-10)


def test_a_large_product_splits_between_the_workers(monkeypatch):
    monkeypatch.setattr(matmul, "SERIAL_MACS", 0)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((101, 7)), rng.standard_normal((7, 5))
    np.testing.assert_allclose(matmul.matmul(a, b), a @ b, rtol=1e-12)
    np.testing.assert_allclose(matmul.matmul(b.T, a.T), b.T @ a.T, rtol=1e-12)


@pytest.mark.skipif(blas._thread_calls() is None, reason="NumPy's BLAS is not OpenBLAS")
def test_one_thread_holds_openblas_at_one_and_restores_the_count():
    get, put = blas._thread_calls()
    before = get()
    put(2)
    try:
        seen = []

        def inside():
            with blas.one_thread():
                seen.append(get())
                with blas.one_thread():
                    seen.append(get())

        threads = [threading.Thread(target=inside) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == [1] * 8
        assert get() == 2
    finally:
        put(before)
