"""Each peer's way to run a suite case: prepared once, returned as a zero-argument callable.

``forward_runners(case, x, w, b)`` and ``backward_runners(case, x, w, b, gy)`` yield
``(peer, call, to_nhwc, padding)``: ``call()`` runs the peer once (inputs already in its best
layout; convolab's in the case's, ``Case.ours``; all in the case's dtype), ``to_nhwc(result)``
turns what it returned into our NHWC output (forward) or ``grad_x`` (backward), and
``padding`` is the padding the peer applied, so the harness can check that every peer computes
the same thing as convolab with that padding before it times it.
A peer that is not installed, or cannot run a case, is simply not yielded.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import numpy as np
from suite import Case

import convolab as cl

Runner = tuple[str, Callable[[], object], Callable[[object], np.ndarray], object]


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def naive_im2col(x: np.ndarray, w: np.ndarray, case: Case) -> np.ndarray:
    """The textbook NumPy im2col: pad, one strided window view, one reshape copy, one GEMM.

    ``(N, H, W, C)`` -> windows ``(N, Ho, Wo, C, k, k)`` -> ``(N*Ho*Wo, k*k*C)`` @ ``(k*k*C, O)``.
    """
    k = case.k
    if case.groups == 1:
        cols = naive_im2col_columns(x, case, case.padding)
        shape = (case.n, case.out_hw, case.out_hw, case.o)
        return (cols @ w.reshape(k * k * case.c, case.o)).reshape(shape)
    # depthwise: (N, Ho, Wo, C, k, k) . (k, k, C) -> (N, Ho, Wo, C)
    return np.einsum("nhwcab,abc->nhwc", _windows(x, case, case.padding), w[:, :, 0, :],
                     optimize=True)


def _windows(x: np.ndarray, case: Case, padding: str) -> np.ndarray:
    """Every receptive field, ``(N, Ho, Wo, C, k, k)``: a view of ``x`` padded as TensorFlow."""
    k, s = case.k, case.stride
    if padding == "same":
        total = max((case.out_hw - 1) * s + k - case.hw, 0)
        side = (total // 2, total - total // 2)
        x = np.pad(x, ((0, 0), side, side, (0, 0)))
    return np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]


def naive_im2col_columns(x: np.ndarray, case: Case, padding: str) -> np.ndarray:
    """The column matrix ``(N*Ho*Wo, k*k*C)``, receptive fields in HWC order (one copy)."""
    win = _windows(x, case, padding)
    n, ho, wo = win.shape[:3]
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, case.k * case.k * case.c)


GEMM_ALONE = "gemm-alone"  # not a peer: a floor for NumPy methods that lower to one GEMM
GEMM_ALONE_MAX_BYTES = 512 << 20  # of pre-built columns (img31's would be 4 GiB)


def gemm_alone(x: np.ndarray, w: np.ndarray, b: np.ndarray, case: Case) -> Iterator[Runner]:
    """im2col's matrix product with the columns built beforehand, untimed: NumPy's matmul of
    ``(N*Ho*Wo, k*k*C) @ (k*k*C, O)`` on its own BLAS threads, bias added outside the timing.

    What any NumPy method that lowers the conv to this one GEMM could reach with free packing.
    """
    k = case.k
    size = case.n * case.out_hw**2 * k * k * case.c * x.itemsize
    if case.groups != 1 or size > GEMM_ALONE_MAX_BYTES:
        return
    cols = np.ascontiguousarray(naive_im2col_columns(x, case, case.padding))
    wmat = np.ascontiguousarray(w.reshape(k * k * case.c, case.o))
    out = np.empty((len(cols), case.o), x.dtype)
    shape = (case.n, case.out_hw, case.out_hw, case.o)
    yield (GEMM_ALONE, lambda: np.matmul(cols, wmat, out=out),
           lambda y: y.reshape(shape) + b, case.padding)


def forward_runners(case: Case, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> Iterator[Runner]:
    xo, wo, kw = case.ours(x, w)
    back = np.asarray if case.layout == "NHWC" else lambda y: y.transpose(0, 2, 3, 1)
    yield "convolab", lambda: cl.conv2d(xo, wo, b, **kw), back, case.padding
    yield "numpy-im2col", lambda: naive_im2col(x, w, case) + b, np.asarray, case.padding
    yield from gemm_alone(x, w, b, case)
    if _has("torch"):
        import torch
        import torch.nn.functional as F

        wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
        bt = torch.from_numpy(b)
        pad = case.k // 2 if case.padding == "same" else 0
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        xl = xt.contiguous(memory_format=torch.channels_last)
        back = lambda y: y.numpy().transpose(0, 2, 3, 1)  # noqa: E731
        for label, xi in (("torch-nchw", xt), ("torch-nhwc", xl)):
            def call(xi=xi):
                with torch.no_grad():
                    return F.conv2d(xi, wt, bt, stride=case.stride, padding=pad,
                                    groups=case.groups)
            yield label, call, back, pad
    if case.kind == "image":
        img, ker = x[0, :, :, 0], w[:, :, 0, 0]
        pad = case.k // 2  # odd kernels, centred: "same" without the asymmetric case
        as_nhwc = lambda y: np.asarray(y)[None, :, :, None] + b  # noqa: E731
        if _has("scipy"):
            from scipy import signal

            if case.k <= 7:  # direct correlation of a 31x31 kernel takes seconds
                yield ("scipy-correlate2d",
                       lambda: signal.correlate2d(img, ker, mode="same"), as_nhwc, pad)
            yield ("scipy-fftconvolve",
                   lambda: signal.fftconvolve(img, ker[::-1, ::-1], mode="same"), as_nhwc, pad)
        if _has("cv2"):
            import cv2

            yield ("opencv-filter2D",
                   lambda: cv2.filter2D(img, -1, ker, borderType=cv2.BORDER_CONSTANT),
                   as_nhwc, pad)


def backward_runners(case: Case, x: np.ndarray, w: np.ndarray, b: np.ndarray,
                     gy: np.ndarray) -> Iterator[Runner]:
    backward = getattr(cl, "conv2d_backward", None)
    if backward is None:
        from convolab.ops import backward as _ops_backward  # not exported yet

        backward = _ops_backward.conv2d_backward
    kw = case.kwargs()
    yield "convolab", lambda: backward(gy, x, w, **kw), lambda r: r[0], case.padding
    if _has("torch"):
        import torch

        pad = case.k // 2 if case.padding == "same" else 0
        wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
        for label, fmt in (("torch-nchw", torch.contiguous_format),
                           ("torch-nhwc", torch.channels_last)):
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            xt = xt.contiguous(memory_format=fmt)
            gt = torch.from_numpy(np.ascontiguousarray(gy.transpose(0, 3, 1, 2)))
            gt = gt.contiguous(memory_format=fmt)

            def call(xt=xt, gt=gt):
                # what autograd runs for a conv node: grad_x, grad_w, grad_b in one call
                return torch.ops.aten.convolution_backward(
                    gt, xt, wt, [case.o], [case.stride] * 2, [pad] * 2, [1, 1], False,
                    [0, 0], case.groups, [True, True, True])
            yield label, call, lambda r: r[0].numpy().transpose(0, 2, 3, 1), pad
