"""The input gradient of a conv (groups=1, any stride) as one BLAS GEMM per tap: no col2im.

Implicit GEMM's trick (``algorithms/implicit.py``) run backwards. Split the padded input's
gradient into its ``sh*sw`` stride phases, ``gxq[ph, pw] = gxp[:, ph::sh, pw::sw]`` (a plane
of ``(Hq, Wq)`` pixels per phase; for stride 1 the padded gradient itself), and extend ``gy``
with zeros to the same ``(Hq, Wq)`` grid. Tap ``(a, b)`` of output ``(i, j)`` read pixel
``(i + qa, j + qb)`` of phase ``(ph, pw)``, where ``a*dh = qa*sh + ph`` and
``b*dw = qb*sw + pw``: a fixed offset ``off = qa*Wq + qb`` in the flattened plane. So, with
``M`` pixels of flattened planes (rows of ``gy_ext``, images one after another)::

    gxq_flat[ph, pw][off : off + M] (M, C) += gy_ext[:M] (M, O) @ w[a, b]^T (O, C)

Every operand is a view, and col2im's scatter (a strided read-modify-write per tap) becomes
BLAS's own ``beta = 1``. The zero rows and columns of ``gy_ext`` add nothing, and no tap
crosses an image (its pixels stay within the ``(Hq, Wq)`` grid). The stride phases are the
sub-pixel decomposition: ``sh*sw`` stride-1 problems instead of a strided scatter; their planes
are interleaved into ``grad_x`` directly (zero padding: the border's gradient is dropped) or
into the padded gradient, folded onto the input afterwards (``padding.pad_adjoint``). A phase's
offset-0 tap runs first with ``beta = 0``, so only the plane's tail needs zeroing.

With fewer than ``blas.MIN_CHANNELS`` input channels a tap's GEMM would be a matrix-vector
product; then every tap's term comes from one GEMM, ``(T*C, O) @ gy_ext^T`` (tap-major, as
im2col stores one channel), and is added at its offset.

Measured on 2 cores (float32): res3x3s2 11 ms against col2im's 22; LeNet's first layer
(one input channel) 1.3 ms against 5.6 for the conv of ``gy`` by im2col; res3x3a 19 ms, as
fast as the conv of ``gy`` by implicit GEMM (``select.choose_input_gradient`` keeps that one
at stride 1).

Blocks are whole images (a tap never crosses one), as many as fit the workspace limit; a
problem whose single image does not fit is not supported (``select.choose_input_gradient`` then
picks another way).
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import blas, im2col, scheduler
from convolab.algorithms.finite import all_finite
from convolab.algorithms.problem import ConvProblem
from convolab.config import get_workspace_limit
from convolab.padding import pad_adjoint

NAME = "phased"
MAX_TAPS = 49  # larger kernels: FFT's territory (not measured here)
BLOCK_BYTES = 2 << 20  # bytes of planes per block (measured: 1-8 MiB within 10%)
REQUIRES = (f"groups=1, 2 to {MAX_TAPS} kernel taps, NumPy's BLAS to be an OpenBLAS whose "
            "cblas_sgemm/cblas_dgemm can be called, and one image's planes within the workspace "
            "limit")


def _grid(p: ConvProblem) -> tuple[int, int]:
    """``(Hq, Wq)``: a phase plane's size, enough for every padded row and column read."""
    (sh, sw), kh, dh = p.geom.stride, p.geom.kernel_shape[0], p.geom.dilation[0]
    rows_in = (p.geom.out_shape[0] - 1) * sh + dh * (kh - 1) + 1
    return -(-rows_in // sh), -(-p.geom.padded_shape[1] // sw)


def _taps(p: ConvProblem) -> list[tuple[int, int, int, int]]:
    """``(a, b, phase, offset)`` of every tap: phase ``ph*sw + pw``, offset in its plane."""
    (sh, sw), (dh, dw) = p.geom.stride, p.geom.dilation
    kh, kw = p.geom.kernel_shape
    wq = _grid(p)[1]
    out = []
    for a in range(kh):
        qa, ph = divmod(a * dh, sh)
        for b in range(kw):
            qb, pw = divmod(b * dw, sw)
            out.append((a, b, ph * sw + pw, qa * wq + qb))
    return out


def _image_bytes(p: ConvProblem) -> int:
    """Workspace per image: ``gy_ext``, the phase planes of grad_x, the stacked taps' terms."""
    hq, wq = _grid(p)
    kh, kw, c, o = p.w_shape
    phases = p.geom.stride[0] * p.geom.stride[1]
    stacked = kh * kw * c if c < blas.MIN_CHANNELS else 0
    return hq * wq * (o + phases * c + stacked) * p.dtype.itemsize


def supports(p: ConvProblem) -> bool:
    """groups=1, 2 to ``MAX_TAPS`` taps, BLAS callable, and one image's planes fit the limit."""
    taps = p.geom.kernel_shape[0] * p.geom.kernel_shape[1]
    return (p.groups == 1 and 1 < taps <= MAX_TAPS and p.dtype in blas.gemms()
            and _image_bytes(p) <= get_workspace_limit())


def _blocks(p: ConvProblem) -> list[scheduler.Block]:
    """``(n0, n1, 0, 1)``: whole images ``n0:n1`` per block (an image is one "row" here)."""
    return scheduler.row_blocks(p.x_shape[0], 1, _image_bytes(p), BLOCK_BYTES)


def _gy_ext(gy: np.ndarray, p: ConvProblem, n0: int, n1: int, space: np.ndarray) -> np.ndarray:
    """``gy[n0:n1]`` on the ``(Hq, Wq)`` grid, zeros around: ``(b*Hq*Wq, O)``."""
    ho, wo = p.geom.out_shape
    ext = space.reshape(n1 - n0, *_grid(p), p.w_shape[3])
    ext[:, ho:] = 0  # only the border: the rest is overwritten
    ext[:, :ho, wo:] = 0
    ext[:, :ho, :wo] = gy[n0:n1]
    return ext.reshape(-1, p.w_shape[3])


def _target(p: ConvProblem, phase: tuple[int, int], hq: int, wq: int,
            out: np.ndarray, origin: tuple[int, int]) -> tuple[tuple[slice, slice], ...]:
    """Where phase plane ``(ph, pw)`` goes in ``out``, whose pixel 0 is padded ``origin``.

    Returns ``(out rows, out cols), (plane rows, plane cols)``: padded row ``ph + k*sh`` is
    row ``ph + k*sh - top`` of ``out``; rows outside ``out`` (or past the plane) are left out.
    """
    spans = []
    for q, s, o, size, length in zip(phase, p.geom.stride, origin, out.shape[1:3], (hq, wq)):
        k0 = max(0, -(-(o - q) // s))  # first plane row at or after the origin
        first = q + k0 * s - o
        count = max(0, min(length - k0, -(-(size - first) // s)))
        # (an empty span stops at its start: first - s + 1 may be negative, which would wrap)
        stop = first + (count - 1) * s + 1 if count else first
        spans.append((slice(first, stop, s), slice(k0, k0 + count)))
    (out_r, plane_r), (out_c, plane_c) = spans
    return (out_r, out_c), (plane_r, plane_c)


def backward_input(gy: np.ndarray, w: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``dL/dx`` (N, H, W, C) from NHWC ``gy`` (N, Ho, Wo, O) and HWIO ``w`` (kh, kw, C, O)."""
    n, h, wd, c = p.x_shape
    o = p.w_shape[3]
    (sh, sw), (hq, wq) = p.geom.stride, _grid(p)
    taps = sorted(_taps(p), key=lambda t: t[3])  # a phase's offset-0 tap first (beta = 0)
    span = taps[-1][3]
    w_taps = w[tuple(zip(*[t[:2] for t in taps]))]  # (T, C, O): the kernel in tap order
    # (T, O, C): each tap's kernel transposed, the GEMM's right-hand side
    w_t = np.ascontiguousarray(w_taps.transpose(0, 2, 1))
    if p.padding_mode == "zeros":  # the padding's gradient is dropped: write gx itself
        out, origin = np.zeros((n, h, wd, c), p.dtype), (p.geom.pads[0][0], p.geom.pads[1][0])
    else:  # the padded input's gradient, folded onto the input at the end
        out, origin = np.zeros((n, *p.geom.padded_shape, c), p.dtype), (0, 0)
    places = {(ph, pw): _target(p, (ph, pw), hq, wq, out, origin)
              for ph in range(sh) for pw in range(sw)}
    todo, n_workers = _blocks(p), scheduler.workers()
    scratch = scheduler.Scratch(n_workers)

    def work(block: scheduler.Block, i: int) -> None:
        # an Inf or NaN is caught below (the result is checked); no warning on the way
        with np.errstate(invalid="ignore", over="ignore"):
            _work(block, i)

    def _work(block: scheduler.Block, i: int) -> None:
        n0, n1, _, _ = block
        pixels = (n1 - n0) * hq * wq
        g = _gy_ext(gy, p, n0, n1, scratch.get(i, "gy", (pixels * o,), p.dtype))
        planes = scratch.get(i, "gx", (sh * sw, pixels, c), p.dtype)
        m = pixels - span
        if c < blas.MIN_CHANNELS:
            planes[...] = 0
            # (T*C, M): every tap's term from one GEMM, gy read transposed; added at offsets
            terms = scratch.get(i, "taps", (len(taps) * c, m), p.dtype)
            np.matmul(w_taps.reshape(-1, o), g[:m].T, out=terms)
            for t, (_, _, ph, off) in enumerate(taps):
                planes[ph, off : off + m] += terms[t * c : (t + 1) * c].T
        else:
            starts = {ph for _, _, ph, off in taps if off == 0}
            for ph in range(sh * sw):  # what no offset-0 tap will overwrite
                planes[ph, m if ph in starts else 0 :] = 0
            for t, (_, _, ph, off) in enumerate(taps):
                # planes[ph][off : off + M] (+)= (M, O) @ (O, C): BLAS's beta = 1 accumulates
                blas.gemm(g, 0, m, w_t[t], planes[ph, off:], 0.0 if off == 0 else 1.0)
        grid = planes.reshape(sh, sw, n1 - n0, hq, wq, c)
        for (ph, pw), ((rows, cols), (q_rows, q_cols)) in places.items():
            out[n0:n1, rows, cols] = grid[ph, pw, :, q_rows, q_cols]

    scheduler.run(todo, work, n_workers)
    if not all_finite(out):  # the zero extension times an Inf or NaN: see ``finite``
        return im2col.backward_input(gy, w, p)
    if p.padding_mode == "zeros":
        return out
    return pad_adjoint(out, p.geom.pads, p.padding_mode, (h, wd))
