"""Conv1D, Conv2D, Conv3D: one layer for every rank, against the loops of ``reference`` and
against torch.nn.Conv1d/Conv3d (forward, autograd), with Keras's weight API and life cycle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import nd_configs

import convolab as cl
from convolab import reference
from convolab.layers import BaseConv, Conv1D, Conv2D, Conv3D, comp_conv2d, initializers

torch = pytest.importorskip("torch")

LAYERS = {1: Conv1D, 2: Conv2D, 3: Conv3D}
NAMES = {1: ("WIO", "OIW"), 2: ("HWIO", "OIHW"), 3: ("DHWIO", "OIDHW")}


def _first(a: np.ndarray) -> np.ndarray:
    """(N, *spatial, C) -> (N, C, *spatial)."""
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


def _last(a: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) -> (N, *spatial, C)."""
    return np.moveaxis(a, 1, -1)


def _layer_kwargs(cfg) -> dict:
    """``cfg``'s options under the layer's (Keras's) names."""
    return dict(strides=cfg.stride, padding=cfg.padding, dilation_rate=cfg.dilation,
                groups=cfg.groups, padding_mode=cfg.padding_mode)


# -- forward and backward against the loops of reference ---------------------------------------


# small sizes: the oracle loops over every output pixel, channel and tap (and 3-D has many)
@pytest.mark.parametrize("rank, max_size", [(1, 12), (2, 6), (3, 5)])
@settings(max_examples=50, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31 - 1),
       fmt=st.sampled_from(["channels_last", "channels_first"]))
def test_forward_and_backward_equal_the_reference_loops(rank, max_size, data, seed, fmt):
    cfg = data.draw(nd_configs(rank, max_size=max_size))
    x, w, b = cfg.arrays(seed)
    layer = LAYERS[rank](cfg.o, cfg.kernel, data_format=fmt, dtype="float64",
                         **_layer_kwargs(cfg))
    xf = x if fmt == "channels_last" else _first(x)
    layer.build(xf.shape)
    layer.set_weights([w, b])
    y = layer(xf)
    expected = reference.conv(x, w, b, **cfg.kwargs())
    np.testing.assert_allclose(y if fmt == "channels_last" else _last(y), expected,
                               rtol=1e-10, atol=1e-10)
    assert y.shape == layer.compute_output_shape(xf.shape)
    gy = np.random.default_rng(seed + 1).standard_normal(expected.shape)
    gx = layer.backward(gy if fmt == "channels_last" else _first(gy))
    ex, ew, eb = reference.conv_backward(gy, x, w, **cfg.kwargs())
    np.testing.assert_allclose(gx if fmt == "channels_last" else _last(gx), ex,
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grads["kernel"], ew, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grads["bias"], eb, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_unbatched_input_gives_an_unbatched_output(rank):
    layer = LAYERS[rank](3, 2, padding="same", seed=0, dtype="float64")
    x = np.random.default_rng(0).standard_normal((*(4,) * rank, 2))
    np.testing.assert_array_equal(layer(x[None])[0], layer(x))
    assert layer(x).shape == (*(4,) * rank, 3)
    assert layer.backward(np.ones((*(4,) * rank, 3))).shape == x.shape


# -- Keras's weight API, config, shapes --------------------------------------------------------


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_kernel_is_channels_last_and_weights_round_trip_in_both_layouts(rank):
    rng = np.random.default_rng(rank)
    kernel_size = (3, 2, 4)[:rank]
    for fmt in ("channels_last", "channels_first"):
        layer = LAYERS[rank](4, kernel_size, groups=2, data_format=fmt, seed=0)
        layer.build((None, 6, *(5,) * rank) if fmt == "channels_first"
                    else (None, *(5,) * rank, 6))
        assert layer.kernel.shape == (*kernel_size, 3, 4)  # always (*kernel, C/groups, O)
        kernel, bias = rng.standard_normal((*kernel_size, 3, 4)), rng.standard_normal(4)
        last_name, first_name = NAMES[rank]
        for name in ("channels_last", last_name):
            layer.set_weights([kernel, bias], kernel_format=name)
            got = layer.get_weights(kernel_format=name)
            np.testing.assert_allclose(got[0], kernel, rtol=1e-6)
            np.testing.assert_allclose(got[1], bias, rtol=1e-6)
        torch_layout = np.transpose(kernel, (rank + 1, rank, *range(rank)))  # (O, I, *kernel)
        for name in ("channels_first", first_name):
            got = layer.get_weights(kernel_format=name)[0]
            assert got.shape == (4, 3, *kernel_size) and got.flags.c_contiguous
            np.testing.assert_allclose(got, torch_layout, rtol=1e-6)
            layer.set_weights([2 * torch_layout, bias], kernel_format=name)
            np.testing.assert_allclose(layer.kernel, 2 * kernel, rtol=1e-6)
            layer.set_weights([kernel, bias])
        got = layer.get_weights()
        got[0][...] = 0  # copies: the layer keeps its weights
        assert layer.kernel.any()


@pytest.mark.parametrize("rank, wrong", [(1, "OIHW"), (3, "HWIO"), (3, "OIHW"), (2, "OIDHW")])
def test_a_kernel_format_of_another_rank_is_an_error(rank, wrong):
    layer = LAYERS[rank](2, 1)
    layer.build((1, *(3,) * rank, 2))
    last, first = NAMES[rank]
    with pytest.raises(ValueError, match=rf"kernel_format: expected '{last}' or 'channels_last', "
                                         rf"'{first}' or 'channels_first' for a rank-{rank} "
                                         rf"conv, got '{wrong}'"):
        layer.get_weights(kernel_format=wrong)


def test_set_weights_names_the_expected_shape_in_the_ranks_layout():
    layer = Conv3D(4, 3)
    layer.build((1, 5, 5, 5, 2))
    with pytest.raises(ValueError, match=r"kernel must have shape \(3, 3, 3, 2, 4\) \(DHWIO\)"):
        layer.set_weights([np.zeros((3, 3, 3, 4, 2)), np.zeros(4)])
    with pytest.raises(ValueError, match=r"kernel must have shape \(4, 2, 3, 3, 3\) \(OIDHW\)"):
        layer.set_weights([np.zeros((3, 3, 3, 2, 4)), np.zeros(4)], kernel_format="OIDHW")
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        layer.set_weights([np.zeros((3, 3, 3, 2, 4)), np.zeros(3)])


@pytest.mark.parametrize("rank", [1, 3])
def test_get_config_round_trips_and_the_seed_gives_the_same_weights(rank):
    cls = LAYERS[rank]
    layer = cls(3, (3, 2, 2)[:rank], strides=(2, 1, 1)[:rank], padding="same_lower",
                data_format="channels_first", dilation_rate=2, groups=1, use_bias=True,
                kernel_initializer="he_normal", bias_initializer="ones",
                padding_mode="circular", seed=42, dtype="float64")
    config = layer.get_config()
    assert list(config) == ["filters", "kernel_size", "strides", "padding", "data_format",
                            "dilation_rate", "groups", "use_bias", "kernel_initializer",
                            "bias_initializer", "padding_mode", "seed", "dtype",
                            "activation", "name"]
    clone = cls.from_config(config)
    assert type(clone) is cls and clone.get_config() == config
    x = np.random.default_rng(0).standard_normal((2, 2, *(6,) * rank))
    np.testing.assert_array_equal(clone(x), layer(x))


def test_the_ranks_explicit_data_format_names_are_accepted_and_stored_as_keras_names():
    assert Conv1D(1, 3, data_format="NCW").data_format == "channels_first"
    assert Conv3D(1, 3, data_format="NDHWC").data_format == "channels_last"
    with pytest.raises(ValueError, match="data_format: expected 'NWC' or 'channels_last'"):
        Conv1D(1, 3, data_format="NHWC")


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kw", [dict(kernel_size=3, padding="same", strides=2),
                                dict(kernel_size=(3, 2, 2)), dict(kernel_size=2, padding=1),
                                dict(kernel_size=2, dilation_rate=2, padding="full")])
def test_compute_output_shape_is_the_shape_a_call_returns(rank, fmt, kw):
    if isinstance(kw["kernel_size"], tuple):
        kw = kw | dict(kernel_size=kw["kernel_size"][:rank])
    layer = LAYERS[rank](3, data_format=fmt, **kw)
    spatial = (6, 5, 4)[:rank]
    shape = (2, *spatial, 2) if fmt == "channels_last" else (2, 2, *spatial)
    assert layer.compute_output_shape(shape) == layer(np.ones(shape)).shape
    assert layer.compute_output_shape((None, *shape[1:]))[0] is None
    assert layer.compute_output_shape(shape[1:]) == layer(np.ones(shape[1:])).shape


def test_count_params_is_kernel_plus_bias_at_every_rank():
    for rank, cls in LAYERS.items():
        layer = cls(4, 3, groups=2)
        layer.build((None, *(8,) * rank, 6))
        assert layer.count_params() == 3**rank * 3 * 4 + 4


# -- initializers: Keras's fans at every rank --------------------------------------------------


@pytest.mark.parametrize("shape, fan_in, fan_out", [
    ((5, 8, 16), 40, 80), ((3, 3, 8, 16), 72, 144), ((3, 2, 4, 8, 16), 192, 384),
    ((7, 9), 7, 9), ((10,), 10, 10),
])
def test_fans_are_the_receptive_field_times_the_channels(shape, fan_in, fan_out):
    assert initializers.fans(shape) == (fan_in, fan_out)


@pytest.mark.parametrize("rank", [1, 3])
def test_glorot_uniform_of_a_layer_uses_the_kernels_fans(rank):
    layer = LAYERS[rank](32, (5, 3, 3)[:rank], seed=0)
    layer.build((None, *(9,) * rank, 16))
    receptive = (5, 15, 45)[rank - 1]
    limit = np.sqrt(6 / (receptive * 16 + receptive * 32))
    assert layer.kernel.max() <= limit and layer.kernel.max() > 0.98 * limit


# -- errors ------------------------------------------------------------------------------------


def test_base_conv_has_no_rank_of_its_own():
    with pytest.raises(TypeError, match="BaseConv has no rank: use Conv1D, Conv2D or Conv3D"):
        BaseConv(1, 3)


@pytest.mark.parametrize("cls", [Conv1D, Conv3D])
def test_misspelt_or_pytorch_argument_names_name_the_layer_and_the_keras_name(cls):
    with pytest.raises(TypeError, match=rf"{cls.__name__}: unexpected keyword argument 'stride' "
                                        r"\(did you mean 'strides'\?\)"):
        cls(1, 3, stride=2)


@pytest.mark.parametrize("cls, kw, pattern", [
    (Conv1D, dict(kernel_size=(3, 3)), "kernel_size"),
    (Conv3D, dict(strides=(1, 2)), "strides"),
    (Conv3D, dict(dilation_rate=(1, 0, 1)), "dilation_rate"),
    (Conv1D, dict(padding=((1, 1), (1, 1))), "padding"),
    (Conv3D, dict(groups=3), "groups: must divide filters=4"),
])
def test_hyperparameters_of_the_wrong_rank_fail_at_construction(cls, kw, pattern):
    with pytest.raises((TypeError, ValueError), match=pattern):
        cls(**(dict(filters=4, kernel_size=3) | kw))


@pytest.mark.parametrize("cls, shape, names", [
    (Conv1D, (1, 2, 5, 5), r"\(N, L, C\) or \(N, C, L\)"),
    (Conv3D, (1, 5, 5), r"\(N, D, H, W, C\) or \(N, C, D, H, W\)"),
])
def test_an_input_of_the_wrong_rank_is_an_error_naming_the_layers_shapes(cls, shape, names):
    with pytest.raises(ValueError, match=rf"x: expected {names} \(or without N\) for "
                                         rf"{cls.__name__}, got"):
        cls(2, 1)(np.ones(shape))


def test_comp_conv2d_takes_only_a_conv2d():
    with pytest.raises(TypeError, match="layer: comp_conv2d takes a Conv2D, got Conv1D"):
        comp_conv2d(Conv1D(1, 3), np.ones((8, 8)))


def test_the_layers_are_exported_from_convolab():
    assert cl.Conv1D is Conv1D and cl.Conv2D is Conv2D and cl.Conv3D is Conv3D
    assert {"Conv1D", "Conv2D", "Conv3D"} <= set(cl.__all__)


# -- PyTorch -----------------------------------------------------------------------------------

TORCH_CASES = [
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, padding="same", dilation=2, padding_mode="reflect"),
    dict(kernel_size=2, groups=2, bias=False, padding=1, padding_mode="circular"),
    dict(kernel_size=3, padding=1, padding_mode="replicate", stride=2),
    dict(kernel_size=2, padding="same", padding_mode="zeros", groups=2),  # odd total: after
    dict(kernel_size=3, padding="valid", padding_mode="reflect", groups=2, dilation=2),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("rank, size", [(1, 11), (3, 6)])
@pytest.mark.parametrize("kw", TORCH_CASES)
def test_from_torch_reproduces_nn_conv_forward(rank, size, kw):
    torch.manual_seed(0)
    m = getattr(torch.nn, f"Conv{rank}d")(4, 6, **kw)
    layer = LAYERS[rank].from_torch(m)
    assert layer.data_format == "channels_first" and layer.padding_mode == m.padding_mode
    x = torch.randn(2, 4, *(size,) * rank)
    with torch.no_grad():
        expected = m(x).numpy()
    np.testing.assert_allclose(layer(x.numpy()), expected, rtol=1e-5, atol=1e-5)
    channels_last = LAYERS[rank].from_torch(m, data_format="channels_last")
    np.testing.assert_allclose(_first(channels_last(_last(x.numpy()))), expected,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rank, kw", [
    (1, dict(kernel_size=3, stride=2, padding=2, dilation=2, padding_mode="reflect")),
    (3, dict(kernel_size=(3, 2, 3), padding="same", groups=2, padding_mode="replicate")),
])
def test_backward_equals_torch_autograd(rank, kw):
    torch.manual_seed(1)
    m = getattr(torch.nn, f"Conv{rank}d")(4, 6, dtype=torch.float64, **kw)
    layer = LAYERS[rank].from_torch(m)
    assert layer.dtype == np.float64
    x = torch.randn(2, 4, *(7,) * rank, dtype=torch.float64, requires_grad=True)
    y = m(x)
    np.testing.assert_allclose(layer(x.detach().numpy()), y.detach().numpy(), rtol=1e-10,
                               atol=1e-10)
    gy = torch.randn(y.shape, dtype=torch.float64)
    y.backward(gy)
    gx = layer.backward(gy.numpy())
    np.testing.assert_allclose(gx, x.grad.numpy(), rtol=1e-10, atol=1e-10)
    gw = np.transpose(layer.grads["kernel"], (rank + 1, rank, *range(rank)))
    np.testing.assert_allclose(gw, m.weight.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.grads["bias"], m.bias.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rank", [1, 3])
def test_exported_channels_first_weights_load_into_nn_conv(rank):
    layer = LAYERS[rank](5, (3, 2, 2)[:rank], padding=1, seed=3)
    x = np.random.default_rng(0).standard_normal((2, *(6,) * rank, 3)).astype(np.float32)
    ours = layer(x)
    m = getattr(torch.nn, f"Conv{rank}d")(3, 5, (3, 2, 2)[:rank], padding=1)
    kernel, bias = layer.get_weights(kernel_format=NAMES[rank][1])
    m.load_state_dict({"weight": torch.from_numpy(kernel), "bias": torch.from_numpy(bias)})
    with torch.no_grad():
        theirs = _last(m(torch.from_numpy(_first(x))).numpy())
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls, make, name", [
    (Conv3D, lambda: torch.nn.Conv1d(2, 3, 3), "torch.nn.modules.conv.Conv1d"),
    (Conv1D, lambda: torch.nn.Conv2d(2, 3, 3), "torch.nn.modules.conv.Conv2d"),
    (Conv2D, lambda: torch.nn.Conv3d(2, 3, 3), "torch.nn.modules.conv.Conv3d"),
    (Conv1D, lambda: torch.nn.ConvTranspose1d(2, 3, 3), "torch.nn.modules.conv.ConvTranspose1d"),
    (Conv3D, lambda: torch.nn.ConvTranspose3d(2, 3, 3), "torch.nn.modules.conv.ConvTranspose3d"),
    (Conv3D, lambda: torch.nn.Linear(2, 3), "torch.nn.modules.linear.Linear"),
    (Conv1D, lambda: None, "builtins.NoneType"),
])
def test_from_torch_of_another_module_is_a_type_error_naming_the_accepted_one(cls, make, name):
    with pytest.raises(TypeError) as info:
        cls.from_torch(make())
    rank = cls.rank
    assert str(info.value) == (f"module: {cls.__name__}.from_torch takes a "
                               f"torch.nn.Conv{rank}d, got {name}")


def test_a_first_layer_skips_its_input_gradient_when_told():
    """backward(grad_y, input_gradient=False): the conv computes grads only (a model's first
    layer); the weights' gradients are those of the full backward."""
    from convolab.layers import Conv2D

    rng = np.random.default_rng(0)
    layer = Conv2D(4, 3, padding="same", activation="relu", seed=1)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    y = layer(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    gx = layer.backward(g)
    full = {k: v.copy() for k, v in layer.grads.items()}
    assert gx is not None and gx.shape == x.shape
    assert layer.backward(g, input_gradient=False) is None
    for k, v in full.items():
        np.testing.assert_array_equal(layer.grads[k], v)
    assert layer.backward(g).shape == x.shape  # the next backward wants it again
