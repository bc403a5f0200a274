"""Dense, Flatten, Activation, ReLU, Dropout, BatchNormalization and the layer protocol: forward
against the definition and PyTorch's module, backward against autograd and finite differences
(float64), Keras's configuration, training against inference, and the error messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from layer_checks import check_finite_differences, torch_grads

import convolab as cl
from convolab.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    ReLU,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(12)

TORCH_ACTIVATIONS = {
    None: lambda t: t, "linear": lambda t: t, "relu": F.relu, "sigmoid": torch.sigmoid,
    "tanh": torch.tanh, "softmax": lambda t: F.softmax(t, dim=-1),
}


# -- Dense -------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
def test_dense_equals_x_at_kernel_plus_bias_and_torch_linear_with_its_activation(activation):
    x = RNG.standard_normal((5, 7))
    linear = torch.nn.Linear(7, 4).double()
    layer = Dense(4, activation=activation, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([linear.weight.detach().numpy().T, linear.bias.detach().numpy()])
    y = layer(x)
    z = x @ layer.kernel + layer.bias
    expected = TORCH_ACTIVATIONS[activation](torch.tensor(z)).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-15)
    r = RNG.standard_normal(y.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = TORCH_ACTIVATIONS[activation](linear(xt))
    (yt * torch.tensor(r)).sum().backward()
    gx = layer.backward(r)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.grads["kernel"], linear.weight.grad.numpy().T, rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(layer.grads["bias"], linear.bias.grad.numpy(), rtol=1e-12,
                               atol=1e-14)
    check_finite_differences(layer, x)


def test_dense_from_torch_copies_linear_and_its_dtype():
    linear = torch.nn.Linear(3, 2, bias=False).double()
    layer = Dense.from_torch(linear)
    assert layer.dtype == np.float64 and not layer.use_bias and layer.kernel.shape == (3, 2)
    x = RNG.standard_normal((4, 3))
    np.testing.assert_allclose(layer(x), linear(torch.tensor(x)).detach().numpy(), rtol=1e-14)
    with pytest.raises(TypeError, match=r"Dense.from_torch takes a torch.nn.Linear, got "
                                        r"torch.nn.modules.conv.Conv2d"):
        Dense.from_torch(torch.nn.Conv2d(1, 1, 1))


def test_dense_acts_on_the_last_axis_of_any_batch_shape():
    layer = Dense(3, seed=0, dtype="float64")
    x = RNG.standard_normal((2, 5, 4))
    y = layer(x)
    assert y.shape == (2, 5, 3) == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, np.einsum("abi,io->abo", x, layer.kernel) + layer.bias)
    check_finite_differences(layer, x)
    assert Dense(2, dtype="float64")(np.ones(4)).shape == (2,)  # one unbatched example
    empty = layer(np.zeros((0, 5, 4)))
    assert empty.shape == (0, 5, 3)
    layer.backward(np.zeros((0, 5, 3)))
    assert not layer.grads["kernel"].any()


def test_dense_builds_lazily_with_keras_initializers_and_float32_weights():
    layer = Dense(4, seed=3)
    assert not layer.built and layer.kernel is None
    y = layer(np.ones((2, 6)))
    assert layer.built and y.dtype == np.float32 and layer.kernel.dtype == np.float32
    limit = np.sqrt(6 / (6 + 4))  # glorot_uniform
    assert np.abs(layer.kernel).max() <= limit and not layer.bias.any()
    twin = Dense(4, seed=3)
    twin.build((None, 6))
    np.testing.assert_array_equal(twin.kernel, layer.kernel)
    assert layer.count_params() == 6 * 4 + 4
    assert [w.shape for w in layer.weights] == [(6, 4), (4,)]
    assert list(layer.parameters()) == ["kernel", "bias"]


def test_dense_errors_name_the_argument():
    with pytest.raises(ValueError, match="units: expected a positive int, received units=0"):
        Dense(0)
    with pytest.raises(TypeError, match=r"Dense: unexpected keyword argument 'bias' "
                                        r"\(did you mean 'use_bias'\?\)"):
        Dense(3, bias=False)
    with pytest.raises(ValueError, match=r"activation: expected None or one of .* got 'rellu' "
                                         r"\(did you mean 'relu'\?\)"):
        Dense(2, activation="rellu")
    with pytest.raises(TypeError, match="activation: expected None or one of"):
        Dense(2, activation=np.tanh)
    layer = Dense(2)
    layer(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"x: expected \(\.\.\., 3\) \(the layer was built for "
                                         r"3 features\), got \(1, 4\)"):
        layer(np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"grad_y: must have the shape of the layer's output, "
                                         r"\(1, 2\) here, got \(1, 3\)"):
        layer.backward(np.ones((1, 3)))
    with pytest.raises(ValueError, match="backward: call the layer on an input first"):
        Dense(2).backward(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"set_weights: kernel must have shape \(3, 2\), got "
                                         r"\(2, 3\)"):
        layer.set_weights([np.ones((2, 3)), np.ones(2)])
    with pytest.raises(ValueError, match=r"set_weights: expected 2 arrays \[kernel, bias\], "
                                         "got 1"):
        layer.set_weights([np.ones((3, 2))])
    with pytest.raises(ValueError, match="get_weights: the layer has no weights yet"):
        Dense(2).get_weights()


# -- names and configuration -------------------------------------------------------------------


def test_default_names_are_kerass_snake_case_with_a_counter():
    import re

    first, second = Dense(1), Dense(1)
    assert re.fullmatch(r"dense(_\d+)?", first.name) and second.name != first.name
    for layer, base in ((ReLU(), "re_lu"), (BatchNormalization(), "batch_normalization"),
                        (Conv2D(1, 1), "conv2d"), (Flatten(), "flatten"),
                        (Activation("relu"), "activation"), (Dropout(0.1), "dropout")):
        assert re.fullmatch(rf"{base}(_\d+)?", layer.name), layer.name
    assert Dense(1, name="logits").name == "logits"
    with pytest.raises(TypeError, match="name: expected a non-empty str or None, got 3"):
        Dense(1, name=3)


@pytest.mark.parametrize("layer", [
    Dense(3, activation="tanh", use_bias=False, kernel_initializer="he_normal", seed=4,
          dtype="float64", name="d"),
    Flatten(data_format="channels_first", name="f"),
    Activation("softmax", name="a"),
    ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, activation="sigmoid"),
    Dropout(0.25, noise_shape=(None, 1, None), seed=7, name="drop"),
    BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False,
                       unbiased_moving_variance=True, dtype="float64", activation="relu"),
    Conv2D(2, 3, activation="relu", name="c"),
], ids=lambda layer: type(layer).__name__)
def test_get_config_is_the_constructors_arguments_and_round_trips(layer):
    import inspect

    config = layer.get_config()
    params = [p for p in inspect.signature(type(layer).__init__).parameters
              if p not in ("self", "unknown")]
    assert sorted(config) == sorted(params)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config and not clone.built
    x = RNG.standard_normal((2, 3, 4, 5))
    y = layer(x)
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x), y)
    assert repr(layer).startswith(type(layer).__name__ + "(")


def test_every_layer_follows_the_protocol():
    x = RNG.standard_normal((2, 6, 6, 3))
    for layer in (Dense(2), Flatten(), Activation("relu"), ReLU(), Dropout(0.5, seed=0),
                  BatchNormalization(), Conv2D(2, 3)):
        assert isinstance(layer, Layer)
        assert not layer.built
        shape = layer.compute_output_shape((None, *x.shape[1:]))
        y = layer(x, training=True)
        assert layer.built and y.shape == (2, *shape[1:])
        gx = layer.backward(np.ones_like(y))
        assert gx.shape == x.shape
        assert list(layer.grads) == list(layer.parameters())
        assert all(g.shape == w.shape for g, w in zip(layer.grads.values(), layer.weights))
        assert all(w is p for w, p in zip(layer.weights, layer.parameters().values()))
        assert layer.count_params() == sum(w.size for w in layer.get_weights())
        layer.set_weights(layer.get_weights())
        assert isinstance(layer.name, str) and "name" in layer.get_config()


def test_the_new_names_are_exported_from_convolab():
    for name in ("Dense", "Flatten", "Activation", "ReLU", "Dropout", "BatchNormalization",
                 "cross_entropy", "cross_entropy_grad", "Adam", "SGD"):
        assert getattr(cl, name) is getattr(cl.layers, name)
        assert name in cl.__all__ and name in cl.layers.__all__


# -- Flatten -----------------------------------------------------------------------------------


def test_flatten_reshapes_as_torch_and_moves_channels_last_for_channels_first():
    x = RNG.standard_normal((3, 2, 4, 5))
    layer = Flatten()
    y = layer(x)
    np.testing.assert_array_equal(y, torch.nn.Flatten()(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(Flatten.from_torch(torch.nn.Flatten())(x), y)
    g = RNG.standard_normal(y.shape)
    np.testing.assert_array_equal(layer.backward(g), g.reshape(x.shape))
    first = Flatten(data_format="channels_first")
    y = first(x)  # x as (N, C, H, W): Keras gives the (H, W, C) order
    np.testing.assert_array_equal(y, np.moveaxis(x, 1, -1).reshape(3, -1))
    np.testing.assert_array_equal(first.backward(y), x)
    check_finite_differences(first, x)
    assert Flatten()(np.zeros((0, 2, 3))).shape == (0, 6)
    assert Flatten().compute_output_shape((None, 5, 5, 16)) == (None, 400)
    assert Flatten().compute_output_shape((8, None, 3)) == (8, None)
    assert Flatten()(np.arange(3)).shape == (3, 1) and Flatten()(np.arange(3)).dtype == float
    with pytest.raises(ValueError, match="module: Flatten flattens every axis after the batch"):
        Flatten.from_torch(torch.nn.Flatten(start_dim=2))
    with pytest.raises(ValueError, match="data_format: expected 'channels_last' or "
                                         "'channels_first', got 'NCHW'"):
        Flatten(data_format="NCHW")


# -- activations -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "linear"])
def test_activation_layer_equals_torch_and_its_gradient(name):
    x = RNG.standard_normal((4, 6)) * 3
    layer = Activation(name)
    y = layer(x)
    xt = torch.tensor(x, requires_grad=True)
    yt = TORCH_ACTIVATIONS[name](xt)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-14, atol=1e-16)
    r = RNG.standard_normal(y.shape)
    (yt * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(layer.backward(r), xt.grad.numpy(), rtol=1e-13, atol=1e-15)
    check_finite_differences(layer, x)


def test_sigmoid_and_softmax_do_not_overflow_for_huge_inputs():
    x = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]])
    # what training steps run under (underflow to 0 is no error)
    with np.errstate(over="raise", invalid="raise", divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        s = Activation("sigmoid")(x)
        p = Activation("softmax")(x)
    np.testing.assert_allclose(s, torch.sigmoid(torch.tensor(x)).numpy(), rtol=1e-15)
    np.testing.assert_allclose(p, F.softmax(torch.tensor(x), -1).numpy(), rtol=1e-15)
    assert s.dtype == np.float64 and Activation("tanh")(x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("kw, torch_fn", [
    (dict(), F.relu),
    (dict(negative_slope=0.2), lambda t: F.leaky_relu(t, 0.2)),
    (dict(max_value=6.0), F.relu6),
    (dict(max_value=1.5), lambda t: F.hardtanh(t, 0.0, 1.5)),
    (dict(threshold=0.5), lambda t: F.threshold(t, 0.5, 0.0)),
])
def test_relu_options_equal_torchs_functions_with_gradients(kw, torch_fn):
    x = RNG.standard_normal((5, 8)) * 4
    layer = ReLU(**kw)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_fn(xt)
    np.testing.assert_array_equal(layer(x), yt.detach().numpy())
    r = RNG.standard_normal(x.shape)
    (yt * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(layer.backward(r), xt.grad.numpy(), rtol=1e-15)
    check_finite_differences(layer, x)


def test_relu_combined_options_follow_kerass_formula():
    x = np.linspace(-3, 8, 45)
    y = ReLU(max_value=5.0, negative_slope=0.1, threshold=1.0)(x)
    # Keras: x * (x > threshold), clipped to [0, max_value], minus slope * relu(threshold - x)
    expected = np.clip(x * (x > 1.0), 0, 5.0) - 0.1 * np.maximum(1.0 - x, 0)
    np.testing.assert_allclose(y, expected, rtol=1e-15)
    with pytest.raises(ValueError, match="max_value: expected a real number >= 0"):
        ReLU(max_value=-1)
    with pytest.raises(ValueError, match="negative_slope: expected a real number >= 0"):
        ReLU(negative_slope=-0.1)


# -- Dropout -----------------------------------------------------------------------------------


def test_dropout_is_the_identity_at_inference_and_drops_in_training():
    layer = Dropout(0.3, seed=0)
    x = RNG.standard_normal((200, 50)) + 3
    assert layer(x) is x and layer(x, training=False) is x
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))
    y = layer(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02  # 10,000 draws: 0.7 +- 0.005 (1 sigma)
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-15)  # inverted scaling
    g = RNG.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(g), np.where(kept, g / 0.7, 0), rtol=1e-15)
    assert abs(y.mean() / x.mean() - 1) < 0.03  # the expectation is the input's


def test_dropout_masks_follow_the_seed_and_change_between_calls():
    x = np.ones((4, 32))
    a, b = Dropout(0.5, seed=1), Dropout(0.5, seed=1)
    first = a(x, training=True)
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, a(x, training=True))
    clone = Dropout.from_config(Dropout(0.5, seed=1).get_config())
    np.testing.assert_array_equal(clone(x, training=True), first)


def test_dropout_noise_shape_rate_zero_and_one_and_torch_module():
    x = np.ones((3, 4, 4, 5))
    y = Dropout(0.5, noise_shape=(None, 1, 1, None), seed=2)(x, training=True)
    assert np.all(y == y[:, :1, :1, :])  # whole channels dropped together
    assert Dropout(0.0)(x, training=True) is x
    np.testing.assert_array_equal(Dropout(1.0, seed=0)(x, training=True), 0 * x)
    assert Dropout.from_torch(torch.nn.Dropout(0.2)).rate == 0.2
    with pytest.raises(ValueError, match=r"rate: expected a real number >= 0 and <= 1, "
                                         r"received rate=1.5"):
        Dropout(1.5)
    with pytest.raises(ValueError, match="noise_shape: .* does not broadcast"):
        Dropout(0.5, noise_shape=(None, 2, 1, None))(x, training=True)
    with pytest.raises(TypeError, match=r"Dropout: unexpected keyword argument 'p' "
                                        r"\(did you mean 'rate'\?\)"):
        Dropout(0.5, p=0.5)


# -- BatchNormalization ------------------------------------------------------------------------


def _bn_pair(c=3, ndim=4, **kw):
    module = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d,
              5: torch.nn.BatchNorm3d}[ndim](c, **kw).double()
    with torch.no_grad():
        if module.affine:
            module.weight.copy_(torch.tensor(RNG.uniform(0.5, 2, c)))
            module.bias.copy_(torch.tensor(RNG.standard_normal(c)))
    return module, BatchNormalization.from_torch(module)


@pytest.mark.parametrize("ndim", [2, 3, 4, 5])
def test_batch_norm_equals_torch_in_training_and_inference_with_gradients(ndim):
    module, layer = _bn_pair(3, ndim)
    assert layer.axis == 1 and layer.momentum == pytest.approx(0.9)
    shape = (4, 3, 5, 4, 3)[:ndim]
    for step in range(3):  # the moving statistics follow torch's running ones
        x = RNG.standard_normal(shape) * 2 + step
        r = RNG.standard_normal(shape)
        expected, gx, grads = torch_grads(module, x, r, training=True)
        np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.backward(r), gx, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.grads["gamma"], grads["weight"], rtol=1e-11)
        np.testing.assert_allclose(layer.grads["beta"], grads["bias"], rtol=1e-12)
        np.testing.assert_allclose(layer.moving_mean, module.running_mean.numpy(), rtol=1e-13)
        np.testing.assert_allclose(layer.moving_variance, module.running_var.numpy(),
                                   rtol=1e-13)
    x, r = RNG.standard_normal(shape), RNG.standard_normal(shape)
    expected, gx, grads = torch_grads(module, x, r, training=False)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.backward(r), gx, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.grads["gamma"], grads["weight"], rtol=1e-11)


def test_batch_norm_keras_defaults_follow_the_definition():
    layer = BatchNormalization(dtype="float64")
    assert (layer.axis, layer.momentum, layer.epsilon) == (-1, 0.99, 1e-3)
    x = RNG.standard_normal((6, 5, 5, 4)) * 3 + 1
    y = layer(x, training=True)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.moving_mean, 0.01 * mean, rtol=1e-13)
    np.testing.assert_allclose(layer.moving_variance, 0.99 + 0.01 * var, rtol=1e-13)  # biased
    inference = layer(x)  # training=False: the moving statistics, not the batch's
    np.testing.assert_allclose(inference, (x - layer.moving_mean) / np.sqrt(
        layer.moving_variance + 1e-3), rtol=1e-13)
    before = layer.moving_mean.copy()
    layer(x)
    np.testing.assert_array_equal(layer.moving_mean, before)  # inference does not update
    assert [w.shape for w in layer.get_weights()] == [(4,)] * 4
    assert layer.count_params() == 16 and [w.shape for w in layer.weights] == [(4,)] * 2
    assert len(layer.non_trainable_weights) == 2


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kw", [dict(), dict(center=False), dict(scale=False),
                                dict(axis=1, activation="tanh")])
def test_batch_norm_backward_matches_finite_differences(training, kw):
    layer = BatchNormalization(dtype="float64", gamma_initializer="random_normal",
                               beta_initializer="random_uniform", seed=3, **kw)
    x = RNG.standard_normal((4, 3, 5))
    layer(x, training=True)  # moving statistics away from (0, 1)
    check_finite_differences(layer, x, training=training)
    assert set(layer.grads) == {n for n, on in (("gamma", layer.scale),
                                                ("beta", layer.center)) if on}


def test_batch_norm_float32_by_default_and_errors():
    layer = BatchNormalization()
    y = layer(RNG.standard_normal((8, 3)), training=True)
    assert y.dtype == np.float32 and layer.gamma.dtype == np.float32
    with pytest.raises(ValueError, match="axis: 3 is out of range for a x of 2 axes"):
        BatchNormalization(axis=3)(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"x: expected 3 channels on axis -1, got shape "
                                         r"\(2, 4\)"):
        layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match="momentum: expected a real number >= 0 and <= 1"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="epsilon: expected a real number > 0"):
        BatchNormalization(epsilon=0)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'eps' \(did you mean "
                                        r"'epsilon'\?\)"):
        BatchNormalization(eps=1e-5)
    unbiased = BatchNormalization(unbiased_moving_variance=True)
    with pytest.raises(ValueError, match="at least 2 value"):
        unbiased(np.ones((1, 3)), training=True)
    with pytest.raises(ValueError, match="track_running_stats=False"):
        BatchNormalization.from_torch(torch.nn.BatchNorm2d(3, track_running_stats=False))
