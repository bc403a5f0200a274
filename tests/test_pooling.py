"""Pooling of every rank: ``max_pool``/``avg_pool`` and their gradients against PyTorch's
F.max_pool{1,2,3}d / F.avg_pool{1,2,3}d (values, indices, autograd) and against loops of
Keras/TensorFlow's "valid"/"same" arithmetic; the pooling layers' life cycle; errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convolab as cl
from convolab.layers import pooling as layers
from convolab.ops.pooling import pool_geometry
from convolab.shapes import resolve_padding

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = (np.float32, np.float64)


def _last(a: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) -> (N, *spatial, C)."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _first(a: np.ndarray) -> np.ndarray:
    """(N, *spatial, C) -> (N, C, *spatial)."""
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


def _values(rng: np.random.Generator, shape: tuple, kind: str, dtype) -> np.ndarray:
    """Random inputs: "normal"; "ties" (a few small integers, so windows tie); "special"
    (ties with -inf and NaN)."""
    if kind == "normal":
        return rng.standard_normal(shape).astype(dtype)
    x = rng.integers(0, 3, shape).astype(dtype)
    if kind == "special":
        x[rng.random(shape) < 0.2] = -np.inf
        x[rng.random(shape) < 0.05] = np.nan
    return x


@st.composite
def torch_configs(draw, kind: str) -> dict:
    """A pooling PyTorch accepts the arguments of: padding <= pool_size // 2."""
    r = draw(st.integers(1, 3))
    layout = draw(st.sampled_from(["channels_first", "channels_last", "unbatched"]))
    axis = st.integers(1, 3)
    k = tuple(draw(axis) for _ in range(r))
    n_max = {1: 9, 2: 6, 3: 4}[r]
    return dict(
        r=r, k=k,
        s=tuple(draw(axis) for _ in range(r)),
        d=tuple(draw(st.integers(1, 2)) for _ in range(r)) if kind == "max" else (1,) * r,
        p=tuple(draw(st.integers(0, kk // 2)) for kk in k),
        n=tuple(draw(st.integers(1, n_max)) for _ in range(r)),
        batch=1 if layout == "unbatched" else draw(st.integers(1, 2)),
        c=draw(st.integers(1, 3)), ceil=draw(st.booleans()), layout=layout,
        dtype=draw(st.sampled_from(DTYPES)),
        values=draw(st.sampled_from(["normal", "ties", "special"] if kind == "max"
                                    else ["normal", "ties"])),
        include=draw(st.booleans()),
        divisor=draw(st.none() | st.integers(1, 5)) if r > 1 else None,
        seed=draw(st.integers(0, 2**16)),
    )


def _ours(fn, cfg: dict, arrays: tuple, *args, **kwargs):
    """``fn(*arrays, *args)`` with the channels-first batches ``arrays`` (``(x,)`` or
    ``(grad_y, x)``) in the config's layout, results channels-first batched again (so they
    compare with torch's)."""
    layout = cfg["layout"]
    if layout == "channels_last":
        out = fn(*map(_last, arrays), *args, **kwargs, data_format="channels_last")
        return tuple(_first(o) for o in out) if isinstance(out, tuple) else _first(out)
    if layout == "unbatched":
        out = fn(*(a[0] for a in arrays), *args, **kwargs, data_format="channels_first",
                 rank=cfg["r"])
        return tuple(o[None] for o in out) if isinstance(out, tuple) else out[None]
    return fn(*arrays, *args, **kwargs, data_format="channels_first")


def _padding_alone(cfg: dict, out_shape) -> bool:
    """Whether some window of the config (PyTorch's output size) reads no input element."""
    return any(
        not any(0 <= i * s - p + j * d < n for j in range(k))
        for n, k, s, d, p, out in zip(cfg["n"], cfg["k"], cfg["s"], cfg["d"], cfg["p"], out_shape)
        for i in range(out)
    )


def _tol(dtype) -> dict:
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


# -- against PyTorch ---------------------------------------------------------------------------


@given(torch_configs("max"))
def test_max_pool_equals_torch_values_indices_and_autograd(cfg):
    r, k, s, d, p, ceil = cfg["r"], cfg["k"], cfg["s"], cfg["d"], cfg["p"], cfg["ceil"]
    rng = np.random.default_rng(cfg["seed"])
    x = _values(rng, (cfg["batch"], cfg["c"], *cfg["n"]), cfg["values"], cfg["dtype"])
    xt = torch.tensor(x, requires_grad=True)
    opts = dict(dilation=d, ceil_mode=ceil)
    try:
        yt, it = getattr(F, f"max_pool{r}d")(xt, k, s, p, d, ceil_mode=ceil,
                                              return_indices=True)
    except RuntimeError:  # no window fits: ours refuses too, naming pool_size
        with pytest.raises(ValueError, match="pool_size"):
            _ours(cl.max_pool, cfg, (x,), k, s, p, **opts)
        return
    if _padding_alone(cfg, yt.shape[2:]):
        # a dilated window of padding alone: PyTorch gives -inf (and an index that may lie
        # outside the input), ours is an error
        with pytest.raises(ValueError, match="covers only padding"):
            _ours(cl.max_pool, cfg, (x,), k, s, p, **opts)
        return
    y, i = _ours(cl.max_pool, cfg, (x,), k, s, p, return_indices=True, **opts)
    assert y.dtype == x.dtype and i.dtype == np.int64
    np.testing.assert_array_equal(y, yt.detach().numpy())  # max is exact; NaN where torch's
    np.testing.assert_array_equal(i, it.numpy())
    np.testing.assert_array_equal(_ours(cl.max_pool, cfg, (x,), k, s, p, **opts), y)
    g = rng.standard_normal(y.shape).astype(x.dtype)
    yt.backward(torch.tensor(g))
    gx = _ours(cl.max_pool_backward, cfg, (g, x), k, s, p, **opts)
    assert gx.dtype == x.dtype
    np.testing.assert_allclose(gx, xt.grad.numpy(), **_tol(x.dtype))


@given(torch_configs("avg"))
def test_avg_pool_equals_torch_values_and_autograd(cfg):
    r, k, s, p, ceil = cfg["r"], cfg["k"], cfg["s"], cfg["p"], cfg["ceil"]
    rng = np.random.default_rng(cfg["seed"])
    x = _values(rng, (cfg["batch"], cfg["c"], *cfg["n"]), cfg["values"], cfg["dtype"])
    xt = torch.tensor(x, requires_grad=True)
    opts = dict(ceil_mode=ceil, count_include_pad=cfg["include"])
    torch_opts = dict(opts)
    if cfg["divisor"] is not None:
        opts["divisor_override"] = torch_opts["divisor_override"] = cfg["divisor"]
    try:
        yt = getattr(F, f"avg_pool{r}d")(xt, k, s, p, **torch_opts)
    except RuntimeError as exc:
        if "smaller than kernel size" in str(exc):
            return  # avg_pool3d alone refuses an input smaller than the window, padded or not
        with pytest.raises(ValueError, match="pool_size"):
            _ours(cl.avg_pool, cfg, (x,), k, s, p, **opts)
        return
    y = _ours(cl.avg_pool, cfg, (x,), k, s, p, **opts)
    assert y.dtype == x.dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), **_tol(x.dtype))
    g = rng.standard_normal(y.shape).astype(x.dtype)
    yt.backward(torch.tensor(g))
    gx = _ours(cl.avg_pool_backward, cfg, (g, x), k, s, p, **opts)
    assert gx.dtype == x.dtype
    np.testing.assert_allclose(gx, xt.grad.numpy(), **_tol(x.dtype))


# -- against Keras/TensorFlow's arithmetic -----------------------------------------------------


def _keras_pool(x: np.ndarray, k, s, padding: str, op: str) -> np.ndarray:
    """TensorFlow's pooling written out as loops over (N, *spatial, C): "valid" windows
    ``ceil((n - k + 1) / s)``, "same" ``ceil(n / s)`` with ``max((out-1)*s + k - n, 0)``
    padding, ``total // 2`` of it before; max and mean over the real elements only."""
    sp = x.shape[1:-1]
    outs, befores = [], []
    for n, kk, ss in zip(sp, k, s):
        if padding == "valid":
            outs.append(math.ceil((n - kk + 1) / ss))
            befores.append(0)
        else:
            out = math.ceil(n / ss)
            outs.append(out)
            befores.append(max((out - 1) * ss + kk - n, 0) // 2)
    y = np.empty((x.shape[0], *outs, x.shape[-1]))
    for o in itertools.product(*(range(m) for m in outs)):
        ranges = [range(max(oi * ss - b, 0), min(oi * ss - b + kk, n))
                  for oi, ss, b, kk, n in zip(o, s, befores, k, sp)]
        cells = [x[(slice(None), *pos, slice(None))] for pos in itertools.product(*ranges)]
        stack = np.stack(cells)
        y[(slice(None), *o, slice(None))] = stack.max(0) if op == "max" else stack.mean(0)
    return y


@given(r=st.integers(1, 3), data=st.data())
def test_keras_valid_and_same_equal_tensorflows_arithmetic(r, data):
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(r))
    s = tuple(data.draw(st.integers(1, 3)) for _ in range(r))
    n = tuple(data.draw(st.integers(1, {1: 9, 2: 6, 3: 4}[r])) for _ in range(r))
    padding = data.draw(st.sampled_from(["valid", "same"]))
    strides = data.draw(st.sampled_from([None, s]))
    x = np.random.default_rng(data.draw(st.integers(0, 99))).standard_normal((2, *n, 2))
    if padding == "valid" and any(kk > nn for kk, nn in zip(k, n)):
        with pytest.raises(ValueError, match="pool_size"):
            cl.max_pool(x, k, strides, padding)
        return
    s = k if strides is None else s
    for op, fn in (("max", cl.max_pool), ("avg", cl.avg_pool)):
        np.testing.assert_allclose(fn(x, k, strides, padding), _keras_pool(x, k, s, padding, op),
                                   rtol=1e-13)


@given(r=st.integers(1, 3), data=st.data())
def test_keras_same_max_pool_gradient_equals_torch_with_minus_inf_padding(r, data):
    # TensorFlow's "same" padding can be uneven; torch sees it as an explicit -inf pad
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(r))
    s = tuple(data.draw(st.integers(1, 3)) for _ in range(r))
    n = tuple(data.draw(st.integers(1, {1: 9, 2: 6, 3: 4}[r])) for _ in range(r))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    x = rng.integers(0, 3, (2, 2, *n)).astype(np.float64)  # ties
    pads = resolve_padding("same", n, k, s, (1,) * r)
    xt = torch.tensor(x, requires_grad=True)
    flat = [q for pair in reversed(pads) for q in pair]  # F.pad: last axis first
    yt = getattr(F, f"max_pool{r}d")(F.pad(xt, flat, value=-math.inf), k, s)
    y = cl.max_pool(x, k, s, "same", data_format="channels_first")
    np.testing.assert_array_equal(y, yt.detach().numpy())
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    gx = cl.max_pool_backward(g, x, k, s, "same", data_format="channels_first")
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-13)


@pytest.mark.parametrize("padding", ["same", ((1, 2), (0, 1)), 1])
def test_avg_pool_backward_is_the_adjoint_of_avg_pool(padding):
    # avg pooling is linear: <avg_pool(x), g> = <x, avg_pool_backward(g)>, dilation included
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3))
    kw = dict(dilation=(1, 2), ceil_mode=True)
    y = cl.avg_pool(x, 3, 2, padding, **kw)
    g = rng.standard_normal(y.shape)
    gx = cl.avg_pool_backward(g, x, 3, 2, padding, **kw)
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, gx), rtol=1e-12)


def test_dilated_avg_pool_is_the_mean_of_the_dilated_taps():
    x = np.arange(10.0).reshape(1, 10, 1)
    # taps 0, 2, 4 then 3, 5, 7 then 6, 8, (10 is padding, not counted with "same"-like rule)
    y = cl.avg_pool(x, 3, 3, ((0, 1),), dilation=2, count_include_pad=False)
    np.testing.assert_allclose(y[0, :, 0], [2.0, 5.0, 7.0])
    y = cl.avg_pool(x, 3, 3, ((0, 1),), dilation=2)  # explicit padding counts by default
    np.testing.assert_allclose(y[0, :, 0], [2.0, 5.0, 14.0 / 3])


# -- semantics, named ------------------------------------------------------------------------


def test_same_max_pool_never_picks_the_padding_of_negative_inputs():
    x = -np.arange(1.0, 6.0).reshape(1, 5, 1)  # zero padding would win every border window
    np.testing.assert_array_equal(cl.max_pool(x, 2, padding="same")[0, :, 0], [-1, -3, -5])
    np.testing.assert_array_equal(cl.max_pool(x, 3, 1, padding=1)[0, :, 0],
                                  [-1, -1, -2, -3, -4])


def test_same_avg_pool_divides_by_the_real_elements_and_explicit_padding_counts_by_default():
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)
    np.testing.assert_allclose(cl.avg_pool(x, 3, 1, "same")[0, :, 0], [1.5, 2, 3, 4, 4.5])
    np.testing.assert_allclose(cl.avg_pool(x, 3, 1, 1)[0, :, 0], [1, 2, 3, 4, 3])
    np.testing.assert_allclose(cl.avg_pool(x, 3, 1, "same", count_include_pad=True)[0, :, 0],
                               [1, 2, 3, 4, 3])
    np.testing.assert_allclose(cl.avg_pool(x, 3, 1, 1, divisor_override=2)[0, :, 0],
                               [1.5, 3, 4.5, 6, 4.5])


def test_ceil_mode_keeps_a_partial_window_but_not_one_starting_in_the_right_padding():
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)
    np.testing.assert_array_equal(cl.max_pool(x, 2, ceil_mode=True)[0, :, 0], [2, 4, 5])
    # padded -1..5: a fourth window would start at 6, past the input and its left padding
    assert cl.max_pool(x, 2, 2, 1, ceil_mode=True).shape == (1, 3, 1)
    # the window past the padded input divides by its taps inside it (PyTorch's rule)
    np.testing.assert_allclose(cl.avg_pool(np.ones((1, 4, 1)), 3, 2, 1, ceil_mode=True)[0, :, 0],
                               [2 / 3, 1.0, 0.5])


def test_max_pool_gradient_goes_to_the_first_maximum_of_each_window():
    x = np.array([[2.0, 2.0], [2.0, 1.0]]).reshape(1, 2, 2, 1)
    gx = cl.max_pool_backward(np.ones((1, 1, 1, 1)), x, 2)
    np.testing.assert_array_equal(gx[0, :, :, 0], [[1, 0], [0, 0]])
    # overlapping windows: an element collects the gradient of every window it wins
    x = np.array([0.0, 3.0, 1.0, 2.0]).reshape(1, 4, 1)
    np.testing.assert_array_equal(cl.max_pool_backward(np.ones((1, 3, 1)), x, 2, 1)[0, :, 0],
                                  [0, 2, 0, 1])


def test_a_window_of_minus_inf_sends_its_gradient_to_its_first_real_element():
    x = np.full((1, 3, 1), -np.inf)
    y, i = cl.max_pool(x, 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(i[0, :, 0], [0, 0, 1])
    np.testing.assert_array_equal(cl.max_pool_backward(np.ones(y.shape), x, 3, 1, 1)[0, :, 0],
                                  [2, 1, 0])


def test_channels_first_and_unbatched_equal_channels_last():
    x = np.random.default_rng(1).standard_normal((2, 5, 6, 3)).astype(np.float32)
    for fn in (cl.max_pool, cl.avg_pool):
        y = fn(x, (2, 3), 1, "same")
        np.testing.assert_array_equal(fn(_first(x), (2, 3), 1, "same", data_format="NCHW"),
                                      _first(y))
        np.testing.assert_array_equal(fn(x[1], 2, 1, "same", rank=2), fn(x, 2, 1, "same")[1])
        np.testing.assert_array_equal(fn(x[1], 2, 1, "same", data_format="NHWC"),
                                      fn(x, 2, 1, "same")[1])


def test_dtypes_empty_batch_and_inputs_left_alone():
    x = np.arange(16).reshape(1, 4, 4, 1)
    assert cl.max_pool(x, 2).dtype == np.float64  # ints are computed in float64
    assert cl.avg_pool(x.astype(np.float16), 2).dtype == np.float16
    assert cl.max_pool(np.zeros((0, 4, 4, 3), np.float32), 2).shape == (0, 2, 2, 3)
    assert cl.avg_pool_backward(np.zeros((0, 3, 2, 2)), np.zeros((0, 3, 4, 4)), 2,
                                data_format="channels_first").shape == (0, 3, 4, 4)
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 2))
    x0 = x.copy()
    g = np.ones((1, 3, 3, 2))
    cl.max_pool_backward(g, x, 3, 2, 1)
    cl.avg_pool_backward(g, x, 3, 2, 1)
    np.testing.assert_array_equal(x, x0)


def test_pool_geometry_explains_ceil_mode_reach():
    g = pool_geometry((6,), 3, 2, padding=1, ceil_mode=True)
    assert g.out_shape == (4,) and g.pads == ((1, 1),) and g.reach == ((1, 2),)


# -- layers ----------------------------------------------------------------------------------

WINDOWED = [cl.MaxPooling1D, cl.MaxPooling2D, cl.MaxPooling3D,
            cl.AveragePooling1D, cl.AveragePooling2D, cl.AveragePooling3D]
GLOBAL = [cl.GlobalMaxPooling1D, cl.GlobalMaxPooling2D, cl.GlobalMaxPooling3D,
          cl.GlobalAveragePooling1D, cl.GlobalAveragePooling2D, cl.GlobalAveragePooling3D]


@pytest.mark.parametrize("cls", WINDOWED)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_windowed_layer_forward_backward_config_and_shape(cls, data_format):
    r = cls.rank
    op, op_backward = ((cl.max_pool, cl.max_pool_backward) if "Max" in cls.__name__
                       else (cl.avg_pool, cl.avg_pool_backward))
    layer = cls(3, 2, "same", data_format, name="pool")
    rng = np.random.default_rng(r)
    spatial = (7, 6, 5)[:r]
    shape = (2, *spatial, 3) if data_format == "channels_last" else (2, 3, *spatial)
    x = rng.standard_normal(shape).astype(np.float32)
    y = layer(x)
    np.testing.assert_array_equal(y, op(x, 3, 2, "same", data_format=data_format, rank=r))
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *y.shape[1:])
    g = rng.standard_normal(y.shape).astype(np.float32)
    gx = layer.backward(g)
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(gx, op_backward(g, x, 3, 2, "same", data_format=data_format,
                                                  rank=r))
    assert layer.grads == {} and layer.parameters() == {} and layer.count_params() == 0
    assert layer.get_weights() == []
    config = layer.get_config()
    twin = cls.from_config(config)
    assert twin.get_config() == config and config["name"] == "pool"
    np.testing.assert_array_equal(twin(x), y)
    np.testing.assert_array_equal(layer(x[0]), y[0])  # unbatched


@pytest.mark.parametrize("cls", WINDOWED)
def test_windowed_layer_from_torch_equals_the_torch_module(cls):
    r = cls.rank
    if "Max" in cls.__name__:
        module = getattr(torch.nn, f"MaxPool{r}d")(3, 2, padding=1, dilation=1, ceil_mode=True)
    else:
        module = getattr(torch.nn, f"AvgPool{r}d")(3, 2, padding=1, ceil_mode=True,
                                                   count_include_pad=False)
    layer = cls.from_torch(module)
    x = np.random.default_rng(0).standard_normal((2, 3, *(6, 5, 4)[:r]))
    np.testing.assert_allclose(layer(x), module(torch.tensor(x)).numpy(), rtol=1e-13)
    with pytest.raises(TypeError, match="from_torch takes a torch.nn"):
        cls.from_torch(torch.nn.Conv2d(1, 1, 1))


def test_layer_defaults_and_names_follow_keras():
    a, b = cl.MaxPooling2D(), cl.MaxPooling2D()
    assert a.pool_size == a.strides == (2, 2) and a.padding == "valid"
    assert a.data_format == "channels_last" and a.name.startswith("max_pooling2d")
    assert a.name != b.name
    assert cl.GlobalAveragePooling3D().name.startswith("global_average_pooling3d")
    assert cl.AveragePooling1D(data_format=None).data_format == "channels_last"


@pytest.mark.parametrize("cls", GLOBAL)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_layer_equals_torch_with_one_window_over_everything(cls, data_format, keepdims):
    r = cls.rank
    rng = np.random.default_rng(r)
    spatial = (5, 4, 3)[:r]
    x = rng.integers(0, 3, (2, 3, *spatial)).astype(np.float64)  # channels first, with ties
    x[0, 1].flat[2] = np.nan  # PyTorch's max keeps the last NaN of a window
    x[0, 1].flat[-1] = np.nan
    xt = torch.tensor(x, requires_grad=True)
    if "Max" in cls.__name__:
        yt = getattr(F, f"max_pool{r}d")(xt, spatial)
    else:
        yt = xt.mean(dim=tuple(range(2, r + 2)), keepdim=True)
    layer = cls(data_format, keepdims)
    xin = x if data_format == "channels_first" else _last(x)
    y = layer(xin)
    want = yt.detach().numpy()
    if not keepdims:
        want = want.reshape(2, 3)
    elif data_format == "channels_last":
        want = _last(want)
    assert y.shape == layer.compute_output_shape(xin.shape) == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-13)
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g if data_format == "channels_first" or not keepdims
                             else _first(g)).reshape(yt.shape))
    gx = layer.backward(g)
    want_gx = xt.grad.numpy() if data_format == "channels_first" else _last(xt.grad.numpy())
    np.testing.assert_allclose(gx, want_gx, rtol=1e-13)
    assert cls.from_config(layer.get_config()).get_config() == layer.get_config()
    assert layer.count_params() == 0 and layer.grads == {}


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda x: cl.max_pool(x, 0), ValueError, "pool_size"),
        (lambda x: cl.max_pool(x, (2, 2, 2, 2)), ValueError, r"x: expected a 6-D"),
        (lambda x: cl.max_pool(x, "2"), TypeError, "pool_size"),
        (lambda x: cl.max_pool(x, 2, 0), ValueError, "strides"),
        (lambda x: cl.max_pool(x, 2, padding="sam"), ValueError, r"padding.*'same'"),
        (lambda x: cl.max_pool(x, 9), ValueError, "pool_size: the dilated window height 9"),
        (lambda x: cl.max_pool(np.ones((1, 1, 1)), 2, 1, 1, dilation=2), ValueError,
         "covers only padding"),
        (lambda x: cl.max_pool(x, 2, padding=((0, 0), (0, 3))), ValueError,
         "covers only padding"),
        (lambda x: cl.max_pool(x, 2, ceil_mode="yes"), TypeError, "ceil_mode"),
        (lambda x: cl.max_pool(x, 2, return_indices=1), TypeError, "return_indices"),
        (lambda x: cl.avg_pool(x, 2, count_include_pad=1), TypeError, "count_include_pad"),
        (lambda x: cl.avg_pool(x, 2, divisor_override=0), ValueError, "divisor_override"),
        (lambda x: cl.max_pool(x, 2, rank=0), ValueError, "rank"),
        (lambda x: cl.max_pool(x, (2, 2), data_format="NCW"), ValueError,
         r"data_format: .*rank-2 pool"),
        (lambda x: cl.max_pool(x[0, :, :, 0], 2), ValueError, r"x: .*x.ndim >= 3"),
        (lambda x: cl.max_pool(x.astype(complex), 2), TypeError, "x: expected a real"),
        (lambda x: cl.max_pool_backward(np.ones((1, 3, 3, 2)), x, 2), ValueError,
         r"grad_y: must have the shape .*\(1, 4, 4, 2\)"),
        (lambda x: cl.MaxPooling2D(stride=2), TypeError, "did you mean 'strides'"),
        (lambda x: cl.AveragePooling2D(padding="full!"), ValueError, "padding"),
        (lambda x: cl.MaxPooling2D(name=3), TypeError, "name"),
        (lambda x: cl.MaxPooling1D()(x), ValueError, r"x: expected \(N, L, C\)"),
        (lambda x: cl.MaxPooling2D().backward(np.ones(1)), ValueError, "call the layer"),
        (lambda x: cl.GlobalMaxPooling2D()(np.ones((1, 0, 3, 2))), ValueError,
         "at least one position"),
        (lambda x: cl.GlobalAveragePooling2D(keepdim=True), TypeError,
         "did you mean 'keepdims'"),
        (lambda x: cl.MaxPooling2D.from_torch(torch.nn.MaxPool2d(2, return_indices=True)),
         ValueError, "return_indices"),
    ],
)
def test_bad_arguments_are_named(call, error, match):
    x = np.ones((1, 8, 8, 2))
    with pytest.raises(error, match=match):
        call(x)


def test_layers_are_exported_from_both_namespaces():
    names = {c.__name__ for c in WINDOWED + GLOBAL}
    assert names <= set(cl.__all__) and names <= set(cl.layers.__all__)
    assert {"max_pool", "avg_pool", "max_pool_backward", "avg_pool_backward"} <= set(cl.__all__)
    assert layers.MaxPooling2D is cl.MaxPooling2D
