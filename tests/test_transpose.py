"""conv_transpose2d: the definition's loops, PyTorch, and the adjoint identity with conv2d."""

import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from convolab import conv2d, reference
from convolab.ops.transpose import conv_transpose2d

torch = pytest.importorskip("torch")
F = torch.nn.functional

seeds = st.integers(0, 2**31 - 1)
pair = lambda lo, hi: st.tuples(st.integers(lo, hi), st.integers(lo, hi))  # noqa: E731


@st.composite
def transposed(draw, max_hw=5):
    """A valid (PyTorch) transposed-conv configuration: shapes and keywords."""
    groups = draw(st.integers(1, 3))
    stride, dilation = draw(pair(1, 3)), draw(pair(1, 2))
    output_padding = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)
    )
    cfg = dict(
        x_shape=(draw(st.integers(1, 2)), draw(st.integers(1, max_hw)),
                 draw(st.integers(1, max_hw)), groups * draw(st.integers(1, 2))),
        w_shape=(draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)), 0),
        kwargs=dict(stride=stride, dilation=dilation, groups=groups,
                    output_padding=output_padding, padding=draw(pair(0, 2))),
    )
    cfg["w_shape"] = (*cfg["w_shape"][:3], cfg["x_shape"][3])
    for n, k, s, d, p, op in zip(cfg["x_shape"][1:3], cfg["w_shape"][:2], stride, dilation,
                                 cfg["kwargs"]["padding"], output_padding):
        assume((n - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1)
    return cfg


def arrays(cfg, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(cfg["x_shape"]).astype(dtype)
    w = rng.standard_normal(cfg["w_shape"]).astype(dtype)
    b = rng.standard_normal(cfg["w_shape"][2] * cfg["kwargs"]["groups"]).astype(dtype)
    return x, w, b


@given(transposed(), seeds)
def test_matches_the_stamping_definition(cfg, seed):
    x, w, b = arrays(cfg, seed)
    y = conv_transpose2d(x, w, b, **cfg["kwargs"])
    np.testing.assert_allclose(y, reference.conv_transpose2d(x, w, b, **cfg["kwargs"]),
                               rtol=1e-12, atol=1e-12)


@given(transposed(), seeds, st.sampled_from([np.float32, np.float64]))
def test_matches_torch_conv_transpose2d(cfg, seed, dtype):
    x, w, b = arrays(cfg, seed, dtype)
    x_nchw, w_oihw = x.transpose(0, 3, 1, 2).copy(), w.transpose(3, 2, 0, 1).copy()
    y = conv_transpose2d(x_nchw, w_oihw, b, data_format="NCHW", kernel_format="OIHW",
                         **cfg["kwargs"])
    expected = F.conv_transpose2d(torch.from_numpy(x_nchw), torch.from_numpy(w_oihw),
                                  torch.from_numpy(b), **cfg["kwargs"]).numpy()
    assert y.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * max(1, np.abs(expected).max()))


@given(transposed(), seeds)
def test_is_the_adjoint_of_conv2d(cfg, seed):
    """<conv2d(z, w), x> == <z, conv_transpose2d(x, w)> for every z."""
    x, w, _ = arrays(cfg, seed)
    kw = cfg["kwargs"]
    y = conv_transpose2d(x, w, **kw)
    z = np.random.default_rng(seed + 1).standard_normal(y.shape)
    forward = conv2d(z, w, stride=kw["stride"], dilation=kw["dilation"], groups=kw["groups"],
                     padding=kw["padding"])
    # output_padding can leave room for one more window than x has: its gradient is zero
    forward = forward[:, : x.shape[1], : x.shape[2]]
    assert np.isclose(np.sum(forward * x), np.sum(z * y), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("padding", [((0, 2), (1, 0)), ((2, 1), (0, 1))])
def test_asymmetric_padding_crops_torchs_full_output(padding):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((3, 2, 2, 3))  # NCHW, OIHW
    y = conv_transpose2d(x, w, stride=2, padding=padding, data_format="NCHW",
                         kernel_format="OIHW")
    full = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), stride=2).numpy()
    (t, b), (left, r) = padding
    expected = full[:, :, t : full.shape[2] - b, left : full.shape[3] - r]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 3), st.integers(1, 2),
       st.sampled_from(["same", "valid"]), seeds)
def test_keras_same_and_valid_are_the_adjoint_of_conv2d_with_that_padding(n, k, s, d, padding,
                                                                          seed):
    """Keras Conv2DTranspose: "same" gives n*s, "valid" n*s + max(span - s, 0)."""
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((1, n, n + 1, 2)), rng.standard_normal((k, k, 3, 2))
    y = conv_transpose2d(x, w, stride=s, dilation=d, padding=padding)
    span = d * (k - 1) + 1
    grow = 0 if padding == "same" else max(span - s, 0)
    assert y.shape == (1, n * s + grow, (n + 1) * s + grow, 3)
    z = rng.standard_normal(y.shape)
    forward = conv2d(z, w, stride=s, dilation=d, padding=padding)
    assert forward.shape == x.shape
    assert np.isclose(np.sum(forward * x), np.sum(z * y), rtol=1e-12)


def test_keras_same_with_output_padding_follows_keras_length():
    """Keras: (n - 1)*s + k - 2*(k // 2) + output_padding."""
    x, w = np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))
    assert conv_transpose2d(x, w, stride=2, padding="same", output_padding=1).shape == (
        1, 8, 8, 1)
    assert conv_transpose2d(x, w, stride=3, padding="valid", output_padding=2).shape == (
        1, 14, 14, 1)


def test_nhwc_hwio_and_unbatched_are_the_same_function():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((3, 2, 3, 4)), np.ones(6)
    kw = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2)
    y = conv_transpose2d(x, w, b, **kw)
    y2 = conv_transpose2d(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b,
                          data_format="NCHW", kernel_format="OIHW", **kw)
    np.testing.assert_allclose(y2, y.transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-12)
    # one image or two: different blocks, so equal up to the order of additions
    np.testing.assert_allclose(conv_transpose2d(x[1], w, b, **kw), y[1], rtol=1e-12, atol=1e-12)


def test_conv_transpose_module_weights_and_output():
    """A real nn.ConvTranspose2d: its weight is our OIHW kernel, its output our output."""
    torch.manual_seed(0)
    m = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=1,
                                 groups=2, dilation=(1, 2))
    x = torch.randn(2, 4, 5, 6)
    with torch.no_grad():
        expected = m(x).numpy()
    y = conv_transpose2d(x.numpy(), m.weight.detach().numpy(), m.bias.detach().numpy(),
                         stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2),
                         data_format="NCHW", kernel_format="OIHW")
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_iohw_is_pytorchs_name_for_the_conv_transpose2d_weight(seed):
    """PyTorch calls ConvTranspose2d's (C_in, C_out/groups, kh, kw) weight IOHW: accepted."""
    rng = np.random.default_rng(seed)
    groups = 2
    x = rng.standard_normal((2, 4, 5, 6))  # NCHW, C_in = 4
    w = rng.standard_normal((4, 3, 3, 2))  # (C_in, C_out/groups, kh, kw): C_out = 6
    b = rng.standard_normal(6)
    kw = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2),
              groups=groups)
    expected = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w),
                                  torch.from_numpy(b), **kw).numpy()
    y = conv_transpose2d(x, w, b, data_format="NCHW", kernel_format="IOHW", **kw)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    oihw = conv_transpose2d(x, w, b, data_format="NCHW", kernel_format="OIHW", **kw)
    np.testing.assert_array_equal(y, oihw)  # the same array under its other name


def test_unknown_kernel_format_lists_iohw_too():
    with pytest.raises(ValueError, match="kernel_format: expected 'HWIO', 'OIHW' or 'IOHW'"):
        conv_transpose2d(np.zeros((1, 3, 3, 2)), np.zeros((3, 3, 1, 2)), kernel_format="HWOI")


def test_empty_batch():
    assert conv_transpose2d(np.zeros((0, 3, 3, 2)), np.ones((2, 2, 4, 2)), stride=2).shape == (
        0, 6, 6, 4)


@pytest.mark.parametrize(
    "kw, exc, pattern",
    [
        (dict(stride=2, output_padding=2), ValueError, "output_padding: must be smaller"),
        (dict(output_padding=-1), ValueError, "output_padding"),
        (dict(padding="full"), ValueError, "padding: conv_transpose takes 'same', 'valid'"),
        (dict(padding="sam"), ValueError, "padding"),
        (dict(padding=5), ValueError, "padding: removes the whole output"),
        (dict(groups=3), ValueError, "groups: must divide the input channels C_in=2"),
        (dict(stride=0), ValueError, "stride"),
    ],
)
def test_bad_arguments_are_clear_errors(kw, exc, pattern):
    with pytest.raises(exc, match=pattern):
        conv_transpose2d(np.zeros((1, 3, 3, 2)), np.zeros((3, 3, 1, 2)), **kw)


def test_channel_and_bias_mismatches_are_clear_errors():
    with pytest.raises(ValueError, match="x: has C_in=3 channels but w expects C_in=2"):
        conv_transpose2d(np.zeros((1, 3, 3, 3)), np.zeros((3, 3, 1, 2)))
    with pytest.raises(ValueError, match=r"bias: expected shape \(4,\)"):
        conv_transpose2d(np.zeros((1, 3, 3, 2)), np.zeros((3, 3, 2, 2)), np.zeros(2), groups=2)


_NON_FINITE_CASES = [
    (s, d, op)
    for s in [(1, 2), (2, 1), (2, 2), (1, 3)]
    for d in [(1, 1), (1, 2), (2, 1), (2, 3)]
    for op in [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2)]
    if all(o < max(si, di) for o, si, di in zip(op, s, d))  # what PyTorch accepts too
]


@pytest.mark.parametrize(("stride", "dilation", "output_padding"), _NON_FINITE_CASES)
def test_an_inf_or_nan_weight_reaches_only_the_outputs_pytorch_puts_it_in(stride, dilation,
                                                                           output_padding):
    """output_padding beyond the stride gives the forward conv windows past the input; their
    zeros must not meet the weight (0 * inf = NaN where PyTorch has 0 or a finite value)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(stride) * 7 + sum(dilation))
    x = rng.standard_normal((1, 2, 3, 3))
    w = rng.standard_normal((2, 2, 3, 2))
    w[0, 1, 0, 0], w[1, 0, -1, -1] = np.inf, np.nan
    kw = dict(stride=stride, dilation=dilation, output_padding=output_padding)
    want = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), **kw).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no NumPy warning on the way
        got = conv_transpose2d(x, w, data_format="NCHW", kernel_format="OIHW", **kw)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-10, atol=1e-10)
