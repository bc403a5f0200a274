"""Conv2D's life cycle and Keras weight API, initializers, SGD and the squared loss."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convolab import conv2d
from convolab.layers import SGD, Conv2D, comp_conv2d, fit, initializers, mse_loss, mse_loss_grad
from convolab.ops.backward import conv2d_backward

torch = pytest.importorskip("torch")


def test_layer_builds_lazily_from_the_input_channels():
    layer = Conv2D(4, 3, groups=2, seed=0)
    assert not layer.built and layer.kernel is None
    y = layer(np.ones((2, 6, 6, 6)))
    assert layer.kernel.shape == (3, 3, 3, 4) and layer.bias.shape == (4,)
    assert y.shape == (2, 4, 4, 4) and y.dtype == np.float32
    first = layer.kernel
    layer(np.ones((1, 5, 5, 6)))
    assert layer.kernel is first  # built once


def test_channels_first_layer_reads_channels_from_axis_1():
    layer = Conv2D(2, (1, 2), data_format="channels_first", seed=0)
    y = layer(np.ones((1, 3, 4, 4)))
    assert layer.kernel.shape == (1, 2, 3, 2) and y.shape == (1, 2, 4, 3)


def test_forward_and_backward_are_conv2d_and_conv2d_backward():
    rng = np.random.default_rng(0)
    layer = Conv2D(3, (3, 2), strides=2, padding="same", dilation_rate=(1, 2),
                   padding_mode="reflect", seed=1, dtype="float64")
    x = rng.standard_normal((2, 7, 8, 2))
    y = layer(x)
    kw = dict(stride=2, padding="same", dilation=(1, 2), padding_mode="reflect")
    np.testing.assert_array_equal(y, conv2d(x, layer.kernel, layer.bias, **kw))
    gy = rng.standard_normal(y.shape)
    gx = layer.backward(gy)
    ex, ew, eb = conv2d_backward(gy, x, layer.kernel, **kw)
    np.testing.assert_array_equal(gx, ex)
    np.testing.assert_array_equal(layer.grads["kernel"], ew)
    np.testing.assert_array_equal(layer.grads["bias"], eb)


def test_float32_weights_by_default_and_inputs_cast_to_them():
    layer = Conv2D(1, 2, seed=0)
    y = layer(np.ones((1, 3, 3, 1), np.float64))
    assert layer.kernel.dtype == layer.bias.dtype == y.dtype == np.float32
    layer.backward(np.ones((1, 2, 2, 1)))
    assert layer.grads["kernel"].dtype == layer.grads["bias"].dtype == np.float32


def test_no_bias_means_no_bias_weight_or_gradient():
    layer = Conv2D(2, 1, use_bias=False, seed=0)
    layer(np.ones((1, 2, 2, 3)))
    layer.backward(np.ones((1, 2, 2, 2)))
    assert layer.bias is None and set(layer.grads) == {"kernel"}
    assert len(layer.get_weights()) == 1 and layer.count_params() == 6


def test_count_params_is_kernel_plus_bias():
    layer = Conv2D(4, 3, groups=2)
    layer.build((None, 8, 8, 6))
    assert layer.count_params() == 3 * 3 * 3 * 4 + 4


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kw", [dict(kernel_size=3, padding="same", strides=2),
                                dict(kernel_size=(5, 3)), dict(kernel_size=(5, 3), padding=(2, 1)),
                                dict(kernel_size=2, dilation_rate=2, padding="full")])
def test_compute_output_shape_is_the_shape_a_call_returns(fmt, kw):
    layer = Conv2D(3, data_format=fmt, **kw)
    shape = (2, 8, 9, 4) if fmt == "channels_last" else (2, 4, 8, 9)
    assert layer.compute_output_shape(shape) == layer(np.ones(shape)).shape
    assert layer.compute_output_shape((None, *shape[1:]))[0] is None


def test_get_config_round_trips_and_the_seed_gives_the_same_weights():
    layer = Conv2D(3, (3, 2), strides=(2, 1), padding="same_lower", dilation_rate=2, groups=1,
                   use_bias=True, kernel_initializer="he_normal", bias_initializer="ones",
                   padding_mode="circular", seed=42, dtype="float64")
    clone = Conv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 2))
    np.testing.assert_array_equal(clone(x), layer(x))


def test_seed_none_gives_fresh_weights_and_seeds_differ():
    shape = (None, 5, 5, 3)
    kernels = []
    for seed in (None, None, 1, 2, 1):
        layer = Conv2D(4, 3, seed=seed)
        layer.build(shape)
        kernels.append(layer.kernel)
    assert not np.array_equal(kernels[0], kernels[1])
    assert not np.array_equal(kernels[2], kernels[3])
    np.testing.assert_array_equal(kernels[2], kernels[4])


def test_get_and_set_weights_round_trip_in_both_layouts():
    rng = np.random.default_rng(0)
    layer = Conv2D(4, (3, 2), seed=0)
    layer.build((1, 5, 5, 2))
    kernel, bias = rng.standard_normal((3, 2, 2, 4)), rng.standard_normal(4)
    layer.set_weights([kernel, bias])
    got = layer.get_weights()
    np.testing.assert_allclose(got[0], kernel, rtol=1e-6)
    assert got[0].dtype == np.float32
    got[0][...] = 0  # a copy: the layer keeps its weights
    assert layer.kernel.any()
    oihw = layer.get_weights(kernel_format="OIHW")[0]
    assert oihw.shape == (4, 2, 3, 2)
    np.testing.assert_array_equal(oihw, layer.kernel.transpose(3, 2, 0, 1))
    layer.set_weights([oihw * 2, bias], kernel_format="OIHW")
    np.testing.assert_allclose(layer.kernel, 2 * kernel, rtol=1e-6)


def test_set_weights_errors():
    layer = Conv2D(4, 3)
    with pytest.raises(ValueError, match="set_weights: the layer has no weights yet"):
        layer.set_weights([np.zeros((3, 3, 2, 4)), np.zeros(4)])
    layer.build((1, 5, 5, 2))
    with pytest.raises(ValueError, match=r"set_weights: expected 2 arrays \[kernel, bias\], got 1"):
        layer.set_weights([np.zeros((3, 3, 2, 4))])
    with pytest.raises(ValueError, match=r"set_weights: kernel must have shape \(3, 3, 2, 4\)"):
        layer.set_weights([np.zeros((3, 3, 4, 2)), np.zeros(4)])
    with pytest.raises(ValueError, match=r"set_weights: bias must have shape \(4,\)"):
        layer.set_weights([np.zeros((3, 3, 2, 4)), np.zeros(3)])


def test_backward_before_forward_is_an_error():
    with pytest.raises(ValueError, match="backward: call the layer on an input first"):
        Conv2D(1, 2).backward(np.ones((1, 2, 2, 1)))


def test_grad_y_of_the_wrong_shape_is_an_error():
    layer = Conv2D(2, 3)
    layer(np.ones((1, 5, 5, 1)))
    with pytest.raises(ValueError, match=r"grad_y: must have the shape of the forward conv's "
                                         r"output, \(1, 3, 3, 2\) here, got \(1, 3, 3, 1\)"):
        layer.backward(np.ones((1, 3, 3, 1)))


@pytest.mark.parametrize(
    "kw, exc, pattern",
    [
        (dict(filters=0), ValueError, "filters: expected a positive int"),
        (dict(kernel_size=(3, 0)), ValueError, "kernel_size"),
        (dict(strides=0), ValueError, "strides"),
        (dict(padding="sme"), ValueError, "padding.*did you mean 'same'"),
        (dict(groups=3), ValueError, "groups: must divide filters=4"),
        (dict(data_format="channels_middle"), ValueError, "data_format"),
        (dict(padding_mode="mirrror"), ValueError, "padding_mode"),
        (dict(dtype="int32"), TypeError, "dtype"),
        (dict(kernel_initializer="glorot_unifrom"), ValueError,
         "kernel_initializer: unknown initializer 'glorot_unifrom' "
         r"\(did you mean 'glorot_uniform'\?\)"),
        (dict(bias_initializer=[1]), TypeError, "bias_initializer"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(kw, exc, pattern):
    args = dict(filters=4, kernel_size=3) | kw
    with pytest.raises(exc, match=pattern):
        Conv2D(**args)


def test_input_with_channels_groups_cannot_split_is_an_error():
    with pytest.raises(ValueError, match="groups: must divide the input channels C=3"):
        Conv2D(4, 3, groups=2)(np.ones((1, 5, 5, 3)))


# -- initializers ------------------------------------------------------------------------------

SHAPE = (3, 3, 64, 128)  # fan_in 576, fan_out 1152


@pytest.mark.parametrize(
    "name, std",
    [
        ("glorot_uniform", np.sqrt(2 / (576 + 1152))),
        ("glorot_normal", np.sqrt(2 / (576 + 1152))),
        ("he_uniform", np.sqrt(2 / 576)),
        ("he_normal", np.sqrt(2 / 576)),
        ("lecun_uniform", np.sqrt(1 / 576)),
        ("lecun_normal", np.sqrt(1 / 576)),
        ("random_normal", 0.05),
        ("random_uniform", 0.05 / np.sqrt(3)),
    ],
)
def test_initializers_have_kerass_variance(name, std):
    w = initializers.get(name)(SHAPE, np.float32, np.random.default_rng(0))
    assert w.shape == SHAPE and w.dtype == np.float32
    assert abs(w.std() / std - 1) < 0.02
    assert abs(w.mean()) < 0.02 * std
    if "uniform" in name:
        limit = np.sqrt(3) * std
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    if name in ("glorot_normal", "he_normal", "lecun_normal"):  # truncated at 2 stds
        assert np.abs(w).max() <= 2 * std / 0.87962566103423978


@pytest.mark.parametrize("name, value", [("zeros", 0.0), ("ones", 1.0), ("constant", 0.0),
                                         (2.5, 2.5), ("Ones", 1.0)])
def test_constant_initializers(name, value):
    w = initializers.get(name)((2, 3), np.float64, np.random.default_rng(0))
    np.testing.assert_array_equal(w, np.full((2, 3), value))


def test_class_names_and_callables_are_accepted():
    assert initializers.get("GlorotUniform") is initializers.get("glorot_uniform")
    layer = Conv2D(1, 1, kernel_initializer=lambda shape, dtype, rng: np.full(shape, 3.0, dtype))
    assert layer(np.ones((1, 1, 1, 1)))[0, 0, 0, 0] == 3.0


# -- PyTorch -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(3, 2), padding="same", dilation=2, padding_mode="reflect"),
        dict(kernel_size=2, groups=2, bias=False, padding=(1, 0), padding_mode="circular"),
        dict(kernel_size=3, padding=1, padding_mode="replicate", stride=(1, 2)),
    ],
)
def test_from_torch_reproduces_nn_conv2d_forward_and_gradients(kw):
    torch.manual_seed(0)
    m = torch.nn.Conv2d(4, 6, **kw)
    layer = Conv2D.from_torch(m)
    x = torch.randn(2, 4, 7, 8, requires_grad=True)
    y = m(x)
    ours = layer(x.detach().numpy())
    np.testing.assert_allclose(ours, y.detach().numpy(), rtol=1e-5, atol=1e-5)
    gy = torch.randn(y.shape)
    y.backward(gy)
    gx = layer.backward(gy.numpy())
    np.testing.assert_allclose(gx, x.grad.numpy(), rtol=1e-5, atol=1e-5)
    gw = layer.grads["kernel"].transpose(3, 2, 0, 1)
    np.testing.assert_allclose(gw, m.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    if m.bias is not None:
        np.testing.assert_allclose(layer.grads["bias"], m.bias.grad.numpy(), rtol=1e-4,
                                   atol=1e-4)


@pytest.mark.parametrize("make, name", [
    (lambda: torch.nn.ConvTranspose2d(2, 3, 3), "torch.nn.modules.conv.ConvTranspose2d"),
    (lambda: torch.nn.Conv1d(2, 3, 3), "torch.nn.modules.conv.Conv1d"),
    (lambda: torch.nn.Linear(2, 3), "torch.nn.modules.linear.Linear"),
    (lambda: "conv", "builtins.str"),
])
def test_from_torch_of_another_module_is_a_type_error_naming_both(make, name):
    with pytest.raises(TypeError) as info:
        Conv2D.from_torch(make())
    assert str(info.value) == f"module: Conv2D.from_torch takes a torch.nn.Conv2d, got {name}"


@pytest.mark.parametrize("kw, meant", [
    (dict(stride=2), "strides"),  # PyTorch's names
    (dict(dilation=2), "dilation_rate"),
    (dict(bias=False), "use_bias"),
    (dict(kernel_initialiser="ones"), "kernel_initializer"),  # a typo
])
def test_misspelt_or_pytorch_argument_names_suggest_the_keras_one(kw, meant):
    with pytest.raises(TypeError, match=rf"Conv2D: unexpected keyword argument "
                                        rf"'{next(iter(kw))}' \(did you mean '{meant}'\?\)"):
        Conv2D(1, 3, **kw)


def test_exported_oihw_weights_load_into_nn_conv2d():
    layer = Conv2D(5, (3, 2), padding=1, seed=3)
    x = np.random.default_rng(0).standard_normal((2, 6, 7, 3)).astype(np.float32)
    ours = layer(x)
    m = torch.nn.Conv2d(3, 5, (3, 2), padding=1)
    kernel, bias = layer.get_weights(kernel_format="OIHW")
    m.load_state_dict({"weight": torch.from_numpy(kernel), "bias": torch.from_numpy(bias)})
    with torch.no_grad():
        theirs = m(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


# -- the seed's helper -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, shape",
    [
        (dict(kernel_size=3, padding="same"), (8, 8)),
        (dict(kernel_size=(5, 3), padding="valid"), (4, 6)),
        (dict(kernel_size=(5, 3), padding=(2, 1)), (8, 8)),
        (dict(kernel_size=3, padding="same", strides=2), (4, 4)),
        (dict(kernel_size=3, padding="same", strides=2, data_format="channels_first"), (4, 4)),
    ],
)
def test_comp_conv2d_gives_the_seeds_shapes(kw, shape):
    X = np.random.default_rng(0).uniform(size=(8, 8))
    assert comp_conv2d(Conv2D(1, **kw), X).shape == shape


def test_comp_conv2d_wants_one_filter_and_a_2d_image():
    with pytest.raises(ValueError, match="filters=1"):
        comp_conv2d(Conv2D(2, 3), np.ones((8, 8)))
    with pytest.raises(ValueError, match="X: expected a 2-D array"):
        comp_conv2d(Conv2D(1, 3), np.ones((1, 8, 8)))


# -- losses and SGD ----------------------------------------------------------------------------


@given(st.integers(0, 2**31 - 1), st.sampled_from(["mean", "sum"]))
def test_mse_loss_grad_matches_finite_differences(seed, reduction):
    rng = np.random.default_rng(seed)
    yp, yt, d = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    eps = 1e-6
    numeric = (mse_loss(yp + eps * d, yt, reduction=reduction)
               - mse_loss(yp - eps * d, yt, reduction=reduction)) / (2 * eps)
    analytic = np.sum(mse_loss_grad(yp, yt, reduction=reduction) * d)
    assert np.isclose(numeric, analytic, rtol=1e-6, atol=1e-8)


def test_mse_loss_refuses_to_broadcast_and_unknown_reductions():
    with pytest.raises(ValueError, match=r"y_true: expected the shape of y_pred \(2, 3\)"):
        mse_loss(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="reduction: expected 'mean' or 'sum'"):
        mse_loss_grad(np.zeros(3), np.zeros(3), reduction="avg")


def test_sgd_momentum_follows_kerass_update():
    layer = Conv2D(1, 1, use_bias=False, kernel_initializer="zeros", dtype="float64")
    layer(np.ones((1, 1, 1, 1)))
    opt = SGD(learning_rate=0.1, momentum=0.9)
    v = w = 0.0
    for g in (1.0, 2.0, -1.0):
        layer.backward(np.full((1, 1, 1, 1), g))  # dL/dkernel = g
        opt.step(layer)
        v = 0.9 * v - 0.1 * g
        w = w + v
        assert layer.kernel.item() == pytest.approx(w, abs=1e-15)


def test_sgd_errors():
    with pytest.raises(ValueError, match="learning_rate"):
        SGD(learning_rate=-1)
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.0)
    layer = Conv2D(1, 1)
    layer(np.ones((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="step: the layer has no gradients"):
        SGD().step(layer)


def test_fit_reports_loss_per_epoch_and_calls_back():
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 1))
    y = conv2d(x, np.ones((2, 2, 1, 1)))
    seen = []
    losses = fit(Conv2D(1, 2, seed=0), x, y, epochs=5, learning_rate=1e-2,
                 callback=lambda epoch, loss, layer: seen.append((epoch, loss)))
    assert len(losses) == 5 and seen == list(enumerate(losses, start=1))
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="epochs"):
        fit(Conv2D(1, 2), x, y, epochs=-1, learning_rate=0.1)


def test_sgd_momentum_state_belongs_to_its_layer():
    import gc

    from convolab.layers import SGD, Conv2D

    opt = SGD(0.1, momentum=0.9)
    x = np.ones((1, 3, 3, 1), np.float32)
    first = Conv2D(1, 2, use_bias=False, seed=0)
    first(x)
    first.backward(np.ones((1, 2, 2, 1), np.float32))
    opt.step(first)
    assert len(opt._velocity) == 1
    del first
    gc.collect()
    assert len(opt._velocity) == 0  # a new layer can never inherit the old one's velocity
