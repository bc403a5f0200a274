"""Conv{1,2,3}DTranspose, DepthwiseConv2D, SeparableConv2D and the conv layers' activation= and
name=: forward against the definition (loops) and PyTorch's modules, backward against autograd
and finite differences (float64), Keras's output sizes and weight layouts, configuration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from layer_checks import check_finite_differences, torch_grads

import convolab as cl
from convolab.layers import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3DTranspose,
    DepthwiseConv2D,
    SeparableConv2D,
)

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(5)
TRANSPOSES = {1: Conv1DTranspose, 2: Conv2DTranspose, 3: Conv3DTranspose}


def _first(a: np.ndarray) -> np.ndarray:
    """(N, *spatial, C) -> (N, C, *spatial)."""
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


# -- transposed convolutions -------------------------------------------------------------------


def _keras_length(n, k, padding, output_padding, s, d):
    """Keras's ``conv_utils.deconv_output_length``, written out independently."""
    k = k + (k - 1) * (d - 1)
    if output_padding is None:
        return n * s if padding == "same" else n * s + max(k - s, 0)
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + output_padding


def _transpose_by_stamps(x, w, b, stride, dilation, padding, out):
    """The definition, for channels-last x (N, *spatial, C_in) and w (*k, C_out, C_in): every
    input pixel stamps the kernel scaled by its value at stride s (taps d apart) on the full
    output, which is then cropped by the forward conv's padding (TensorFlow's split of
    "same"/"valid" for the output size ``out``; explicit pairs as given) and zero-extended."""
    r = w.ndim - 2
    span = [d * (k - 1) + 1 for d, k in zip(dilation, w.shape[:r])]
    full = [(n - 1) * s + sp for n, s, sp in zip(x.shape[1:-1], stride, span)]
    if isinstance(padding, str):
        total = [max((-(-o // s) - 1) * s + sp - o, 0) if padding == "same" else 0
                 for o, s, sp in zip(out, stride, span)]
        before = [t // 2 for t in total]
    else:
        before = [p[0] for p in padding]
    y = np.zeros((x.shape[0], *[max(f, bf + o) for f, bf, o in zip(full, before, out)],
                  w.shape[-2]))
    for i in itertools.product(*(range(n) for n in x.shape[1:-1])):
        for a in itertools.product(*(range(k) for k in w.shape[:r])):
            at = tuple(ii * s + aa * d for ii, aa, s, d in zip(i, a, stride, dilation))
            y[(slice(None), *at)] += x[(slice(None), *i)] @ w[a].T
    crop = tuple(slice(bf, bf + o) for bf, o in zip(before, out))
    return y[(slice(None), *crop)] + b


@pytest.mark.parametrize("rank, padding, output_padding, stride, dilation, kernel", [
    (1, "same", None, 2, 1, 3), (1, "valid", None, 3, 1, 2), (1, "same", 1, 2, 1, 4),
    (1, "valid", 0, 3, 1, 2), (1, "same", 0, 1, 2, 3), (1, "valid", 1, 1, 2, 2),
    (2, "same", None, (2, 1), (1, 2), (3, 2)), (2, "valid", (1, 0), 2, 1, 3),
    (2, "same", None, 3, 1, (2, 4)), (3, "same", None, 2, 1, 2), (3, "valid", 1, 2, 1, (1, 2, 3)),
])
def test_keras_paddings_give_kerass_sizes_and_the_definitions_values(
        rank, padding, output_padding, stride, dilation, kernel):
    layer = TRANSPOSES[rank](3, kernel, strides=stride, padding=padding,
                             output_padding=output_padding, dilation_rate=dilation,
                             bias_initializer="random_normal", seed=1, dtype="float64")
    spatial = (5, 4, 3)[:rank]
    x = RNG.standard_normal((2, *spatial, 2))
    y = layer(x)
    s, d, k = layer.strides, layer.dilation_rate, layer.kernel_size
    ops = (None,) * rank if output_padding is None else layer.output_padding
    out = tuple(_keras_length(n, *args) for n, args in zip(
        spatial, zip(k, (padding,) * rank, ops, s, d)))
    assert y.shape == (2, *out, 3) == layer.compute_output_shape(x.shape)
    assert layer.kernel.shape == (*k, 3, 2)  # Keras's (*kernel, filters, C_in)
    expected = _transpose_by_stamps(x, layer.kernel, layer.bias, s, d, padding, out)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    check_finite_differences(layer, x)


def test_output_padding_zero_is_kerass_explicit_formula_not_the_default():
    default = Conv1DTranspose(1, 3, strides=2, padding="same")
    explicit = Conv1DTranspose(1, 3, strides=2, padding="same", output_padding=0)
    assert default.compute_output_shape((1, 5, 1)) == (1, 10, 1)  # n * s
    assert explicit.compute_output_shape((1, 5, 1)) == (1, 9, 1)  # (n-1)*s + 3 - 2*1 + 0
    assert explicit(np.ones((1, 5, 1))).shape == (1, 9, 1)


@pytest.mark.parametrize("rank, kw", [
    (1, dict(stride=2, padding=1, output_padding=1)),
    (2, dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2), groups=2)),
    (2, dict(stride=1, padding=2, dilation=3, output_padding=2)),  # windows past the input
    (3, dict(stride=2, padding=(0, 1, 1), output_padding=(1, 0, 1), bias=False)),
])
def test_transposes_equal_torch_conv_transpose_with_autograd(rank, kw):
    module = getattr(torch.nn, f"ConvTranspose{rank}d")(4, 6, 3, **kw).double()
    layer = TRANSPOSES[rank].from_torch(module)
    assert layer.data_format == "channels_first" and layer.kernel.shape[-2:] == (
        6 // module.groups, 4)
    x = RNG.standard_normal((2, 4, *(4, 5, 3)[:rank]))
    r = RNG.standard_normal(module(torch.tensor(x)).shape)
    expected, gx, grads = torch_grads(module, x, r)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(r), gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.get_weights(kernel_format="channels_first")[0],
                               module.weight.detach().numpy())
    weight_grad = np.moveaxis(layer.grads["kernel"], (-1, -2), (0, 1))  # -> (C_in, C_out, *k)
    np.testing.assert_allclose(weight_grad, grads["weight"], rtol=1e-11, atol=1e-12)
    if module.bias is not None:
        np.testing.assert_allclose(layer.grads["bias"], grads["bias"], rtol=1e-12)
    check_finite_differences(layer, x)


def test_transpose_channels_last_equals_channels_first_and_the_op():
    layer = Conv2DTranspose(3, (3, 2), strides=2, padding="same", activation="relu",
                            dtype="float64", seed=0)
    x = RNG.standard_normal((2, 4, 5, 2))
    y = layer(x)
    first = Conv2DTranspose.from_config({**layer.get_config(), "data_format": "channels_first"})
    first.build(_first(x).shape)
    first.set_weights(layer.get_weights())
    np.testing.assert_allclose(first(_first(x)), _first(y), rtol=1e-14)
    np.testing.assert_allclose(
        y, np.maximum(cl.conv_transpose(x, layer.kernel, layer.bias, stride=2, padding="same"),
                      0), rtol=1e-14)
    assert Conv2DTranspose(2, 3)(np.ones((4, 4, 1))).shape == (6, 6, 2)  # unbatched
    assert Conv2DTranspose(2, 3, strides=2).compute_output_shape((None, None, 7, 1)) == (
        None, None, 15, 2)


def test_transpose_errors_and_config():
    with pytest.raises(ValueError, match="padding: Conv2DTranspose takes 'same', 'valid'"):
        Conv2DTranspose(1, 3, padding="full")
    with pytest.raises(ValueError, match="output_padding: must be smaller than the stride or "
                                         "the dilation of each axis, got 2 for the"):
        Conv1DTranspose(1, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="groups: must divide the input channels C=3"):
        Conv2DTranspose(4, 3, groups=2)(np.ones((1, 4, 4, 3)))
    with pytest.raises(TypeError, match="BaseConvTranspose has no rank: use Conv1DTranspose, "
                                        "Conv2DTranspose or Conv3DTranspose"):
        cl.layers.BaseConvTranspose(1, 3)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'stride' \(did you mean "
                                        r"'strides'\?\)"):
        Conv2DTranspose(1, 3, stride=2)
    with pytest.raises(TypeError, match="Conv2DTranspose.from_torch takes a "
                                        "torch.nn.ConvTranspose2d"):
        Conv2DTranspose.from_torch(torch.nn.Conv2d(1, 1, 1))
    layer = Conv3DTranspose(2, 3, strides=2, padding=((1, 0), (0, 1), (1, 1)),
                            output_padding=1, groups=1, name="up", seed=3)
    config = layer.get_config()
    assert config["name"] == "up" and config["output_padding"] == (1, 1, 1)
    clone = Conv3DTranspose.from_config(config)
    x = RNG.standard_normal((1, 3, 3, 3, 2))
    np.testing.assert_array_equal(clone(x), layer(x))


# -- depthwise and separable convolutions ------------------------------------------------------


def _depthwise_by_taps(x, k, b, stride, pads):
    """The definition, channels-last: y[..., c*M + m] = sum_taps xp[...] * k[a, b, c, m] + b."""
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    kh, kw, c, m = k.shape
    ho = (xp.shape[1] - kh) // stride + 1
    wo = (xp.shape[2] - kw) // stride + 1
    y = np.zeros((x.shape[0], ho, wo, c, m))
    for a, bb in itertools.product(range(kh), range(kw)):
        win = xp[:, a:a + stride * (ho - 1) + 1:stride, bb:bb + stride * (wo - 1) + 1:stride]
        y += win[..., None] * k[a, bb]
    return y.reshape(*y.shape[:3], c * m) + b


@pytest.mark.parametrize("stride, padding, multiplier", [(1, "valid", 1), (2, 1, 2),
                                                         (1, ((2, 0), (1, 1)), 3)])
def test_depthwise_is_each_channel_filtered_by_its_own_kernels(stride, padding, multiplier):
    layer = DepthwiseConv2D((3, 2), strides=stride, padding=padding,
                            depth_multiplier=multiplier, bias_initializer="random_normal",
                            seed=2, dtype="float64")
    x = RNG.standard_normal((2, 6, 7, 3))
    y = layer(x)
    assert layer.kernel.shape == (3, 2, 3, multiplier)  # Keras's (kh, kw, C, M)
    pads = cl.shapes.resolve_padding(padding, (6, 7), (3, 2), (stride, stride), (1, 1))
    np.testing.assert_allclose(y, _depthwise_by_taps(x, layer.kernel, layer.bias, stride, pads),
                               rtol=1e-12, atol=1e-13)
    assert y.shape == layer.compute_output_shape(x.shape)
    assert layer.count_params() == 3 * 2 * 3 * multiplier + 3 * multiplier
    check_finite_differences(layer, x)


def test_depthwise_equals_torch_grouped_conv_with_autograd():
    module = torch.nn.Conv2d(3, 6, (3, 3), stride=2, padding=1, groups=3,
                             padding_mode="reflect").double()
    layer = DepthwiseConv2D.from_torch(module)
    assert layer.depth_multiplier == 2 and layer.kernel.shape == (3, 3, 3, 2)
    x = RNG.standard_normal((2, 3, 7, 6))
    r = RNG.standard_normal(module(torch.tensor(x)).shape)
    expected, gx, grads = torch_grads(module, x, r)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.backward(r), gx, rtol=1e-12, atol=1e-13)
    # torch's weight (C*M, 1, kh, kw) is the channels_first kernel_format
    np.testing.assert_array_equal(layer.get_weights("channels_first")[0],
                                  module.weight.detach().numpy())
    np.testing.assert_allclose(
        np.moveaxis(layer.grads["kernel"].reshape(3, 3, 6), -1, 0)[:, None], grads["weight"],
        rtol=1e-11)
    np.testing.assert_allclose(layer.grads["bias"], grads["bias"], rtol=1e-12)
    with pytest.raises(ValueError, match="module: a depthwise conv has groups == in_channels"):
        DepthwiseConv2D.from_torch(torch.nn.Conv2d(4, 4, 3, groups=2))


def test_separable_is_depthwise_then_pointwise_as_torch_and_kerass_weights():
    layer = SeparableConv2D(5, 3, strides=2, padding="same", depth_multiplier=2,
                            activation="tanh", bias_initializer="random_normal", seed=4,
                            dtype="float64")
    x = RNG.standard_normal((2, 7, 6, 3))
    y = layer(x)
    dw, pw, b = layer.get_weights()
    assert (dw.shape, pw.shape, b.shape) == ((3, 3, 3, 2), (1, 1, 6, 5), (5,))
    assert [w.shape for w in layer.weights] == [dw.shape, pw.shape, b.shape]
    z = cl.conv(x, dw.reshape(3, 3, 1, 6), stride=2, padding="same", groups=3)
    np.testing.assert_allclose(y, np.tanh(z @ pw[0, 0] + b), rtol=1e-12, atol=1e-13)
    assert y.shape == layer.compute_output_shape(x.shape) == (2, 4, 3, 5)
    # PyTorch: a depthwise conv then a 1x1 conv, channels first, on x padded by hand with
    # TensorFlow's "same" split (which may be uneven: PyTorch's padding= cannot say that)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, stride=2, groups=3, bias=False),
                              torch.nn.Conv2d(6, 5, 1), torch.nn.Tanh()).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(np.moveaxis(dw.reshape(3, 3, 6), -1, 0)[:, None]))
        net[1].weight.copy_(torch.tensor(pw[0, 0].T[:, :, None, None]))
        net[1].bias.copy_(torch.tensor(b))
    pads = cl.shapes.resolve_padding("same", (7, 6), (3, 3), (2, 2), (1, 1))
    xp = np.pad(_first(x), [(0, 0), (0, 0), *pads])
    r = RNG.standard_normal(y.shape)
    expected, gxp, grads = torch_grads(net, xp, _first(r))
    np.testing.assert_allclose(_first(y), expected, rtol=1e-12, atol=1e-13)
    gx = layer.backward(r)
    crop = (slice(None), slice(None), slice(pads[0][0], pads[0][0] + 7),
            slice(pads[1][0], pads[1][0] + 6))
    np.testing.assert_allclose(_first(gx), gxp[crop], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(layer.grads["pointwise_kernel"][0, 0],
                               grads["1.weight"][:, :, 0, 0].T, rtol=1e-11)
    np.testing.assert_allclose(np.moveaxis(layer.grads["depthwise_kernel"].reshape(3, 3, 6), -1,
                                           0)[:, None], grads["0.weight"], rtol=1e-11)
    np.testing.assert_allclose(layer.grads["bias"], grads["1.bias"], rtol=1e-12)
    check_finite_differences(layer, x)


def test_depthwise_and_separable_config_round_trip_and_errors():
    for layer in (DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu",
                                  seed=1, name="dw"),
                  SeparableConv2D(4, (3, 1), depth_multiplier=2, use_bias=False,
                                  data_format="channels_first", seed=1, name="sep")):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        x = RNG.standard_normal((2, 3, 5, 5))
        np.testing.assert_array_equal(clone(x), layer(x))
        assert layer.count_params() == sum(w.size for w in layer.get_weights())
    no_bias = SeparableConv2D(2, 1, use_bias=False, seed=0)
    no_bias(np.ones((1, 2, 2, 1)))
    assert no_bias.bias is None and len(no_bias.get_weights()) == 2
    assert list(no_bias.parameters()) == ["depthwise_kernel", "pointwise_kernel"]
    with pytest.raises(ValueError, match="depth_multiplier: expected a positive int"):
        DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"x: expected \(N, H, W, C\) or \(N, C, H, W\) \(or "
                                         r"without N\) for SeparableConv2D"):
        SeparableConv2D(2, 3)(np.ones((2, 5)))
    with pytest.raises(TypeError, match=r"DepthwiseConv2D: unexpected keyword argument "
                                        r"'filters'"):
        DepthwiseConv2D(3, filters=2)


# -- the conv layers' activation= and name= ----------------------------------------------------


@pytest.mark.parametrize("activation, fn", [("relu", torch.relu), ("sigmoid", torch.sigmoid),
                                            ("tanh", torch.tanh)])
def test_conv_activation_applies_after_the_bias_and_backward_goes_through_it(activation, fn):
    module = torch.nn.Conv1d(2, 3, 3, padding=1).double()
    plain = Conv1D.from_torch(module)
    layer = Conv1D.from_config({**plain.get_config(), "activation": activation})
    layer.build((1, 2, 8))
    layer.set_weights(plain.get_weights())
    x = RNG.standard_normal((2, 2, 8))
    r = RNG.standard_normal((2, 3, 8))
    expected, gx, grads = torch_grads(torch.nn.Sequential(module, _Fn(fn)), x, r)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(layer.backward(r), gx, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.moveaxis(layer.grads["kernel"], (0, 1, 2), (2, 1, 0)),
                               grads["0.weight"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.grads["bias"], grads["0.bias"], rtol=1e-12, atol=1e-14)


class _Fn(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, t):
        return self.fn(t)


def test_conv_layers_have_kerass_default_names_and_keep_given_ones():
    import re

    assert re.fullmatch(r"conv2d(_\d+)?", Conv2D(1, 1).name)
    assert re.fullmatch(r"conv2d_transpose(_\d+)?", Conv2DTranspose(1, 1).name)
    assert re.fullmatch(r"depthwise_conv2d(_\d+)?", DepthwiseConv2D(1).name)
    assert re.fullmatch(r"separable_conv2d(_\d+)?", SeparableConv2D(1, 1).name)
    layer = Conv2D(1, 3, name="edges", activation="relu")
    assert layer.name == "edges" and layer.get_config()["activation"] == "relu"
    assert Conv2D(1, 3, activation="ReLU").activation == "relu"


def test_the_conv_like_layers_are_exported_from_convolab():
    for name in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv2D",
                 "SeparableConv2D"):
        assert getattr(cl, name) is getattr(cl.layers, name)
        assert name in cl.__all__ and name in cl.layers.__all__
        assert issubclass(getattr(cl, name), cl.layers.Layer)
