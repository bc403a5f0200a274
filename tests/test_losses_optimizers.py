"""cross_entropy against torch.nn.functional.cross_entropy (values, gradients, huge logits), SGD
and Adam against torch.optim step by step, and a small network trained as PyTorch trains it."""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest

from convolab.layers import (
    SGD,
    Adam,
    BatchNormalization,
    Conv2D,
    Dense,
    Flatten,
    ReLU,
    cross_entropy,
    cross_entropy_grad,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(7)


# -- cross_entropy -----------------------------------------------------------------------------


def _torch_loss_and_grad(logits, targets, reduction="mean"):
    z = torch.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(z, torch.tensor(targets), reduction=reduction)
    loss.backward()
    return loss.item(), z.grad.numpy()


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_with_class_indices_equals_torch_also_for_huge_logits(scale, reduction):
    logits = RNG.standard_normal((16, 10)) * scale
    targets = RNG.integers(0, 10, 16)
    loss, grad = _torch_loss_and_grad(logits, targets, reduction)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ours = cross_entropy(logits, targets, reduction=reduction)
        g = cross_entropy_grad(logits, targets, reduction=reduction)
    assert np.isfinite(ours) and ours == pytest.approx(loss, rel=1e-13, abs=1e-13)
    np.testing.assert_allclose(g, grad, rtol=1e-12, atol=1e-15)


def test_cross_entropy_of_plus_minus_1e4_logits_is_exact():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    assert cross_entropy(logits, [0, 0]) == pytest.approx((0.0 + (2e4 + np.log(2))) / 2,
                                                          rel=1e-15)
    np.testing.assert_allclose(cross_entropy_grad(logits, [0, 0]),
                               [[0, 0, 0], [-0.5, 0.25, 0.25]], atol=1e-300)


def test_cross_entropy_with_one_hot_or_probability_rows_equals_torch():
    logits = RNG.standard_normal((8, 5)) * 4
    labels = RNG.integers(0, 5, 8)
    one_hot = np.eye(5)[labels]
    assert cross_entropy(logits, one_hot) == pytest.approx(cross_entropy(logits, labels),
                                                           rel=1e-15)
    probs = RNG.dirichlet(np.ones(5), 8)
    loss, grad = _torch_loss_and_grad(logits, probs)
    assert cross_entropy(logits, probs) == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(cross_entropy_grad(logits, probs), grad, rtol=1e-12)


def test_cross_entropy_grad_matches_finite_differences_and_keeps_float32():
    logits, targets = RNG.standard_normal((4, 6)), RNG.integers(0, 6, 4)
    d, eps = RNG.standard_normal(logits.shape), 1e-6
    numeric = (cross_entropy(logits + eps * d, targets)
               - cross_entropy(logits - eps * d, targets)) / (2 * eps)
    assert np.sum(cross_entropy_grad(logits, targets) * d) == pytest.approx(numeric, rel=1e-7)
    g = cross_entropy_grad(logits.astype(np.float32), targets)
    assert g.dtype == np.float32
    assert cross_entropy(np.zeros((0, 3)), np.zeros(0, int)) == 0.0


def test_cross_entropy_errors_name_the_argument():
    logits = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"targets: class indices must be in \[0, 3\) for 3 "
                                         r"classes, got values in \[0, 3\]"):
        cross_entropy(logits, [0, 3])
    with pytest.raises(ValueError, match=r"targets: expected class indices of shape \(2,\) or "
                                         r"one-hot \(probability\) rows of shape \(2, 3\), got "
                                         r"\(3,\)"):
        cross_entropy(logits, [0, 1, 2])
    with pytest.raises(TypeError, match="targets: class indices must be integers"):
        cross_entropy(logits, [0.5, 1.0])
    with pytest.raises(ValueError, match="reduction: expected 'mean' or 'sum'"):
        cross_entropy_grad(logits, [0, 1], reduction="none")
    with pytest.raises(ValueError, match="logits: expected"):
        cross_entropy(np.zeros((2, 0)), np.zeros((2, 0)))


# -- optimizers against torch.optim, step by step ----------------------------------------------


def _run_both(ours, make_torch, steps=20, shapes=((3, 4), (4,), (2, 3, 3, 2))):
    """Apply the same 20 random gradients with ours and torch's; compare after each step."""
    weights = [RNG.standard_normal(s) for s in shapes]
    params = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    opt = make_torch(params)
    for _ in range(steps):
        grads = [RNG.standard_normal(s) for s in shapes]
        ours.apply(grads, weights)
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        opt.step()
        for w, p in zip(weights, params):
            np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.5, True),
                                                (0.99, True)])
def test_sgd_steps_equal_torch_optim_sgd(momentum, nesterov):
    _run_both(SGD(0.05, momentum=momentum, nesterov=nesterov),
              lambda p: torch.optim.SGD(p, lr=0.05, momentum=momentum, nesterov=nesterov))


@pytest.mark.parametrize("lr, betas, eps", [(1e-3, (0.9, 0.999), 1e-8), (0.05, (0.8, 0.99), 1e-3),
                                            (0.1, (0.0, 0.5), 0.0)])
def test_adam_steps_equal_torch_optim_adam(lr, betas, eps):
    _run_both(Adam(lr, beta_1=betas[0], beta_2=betas[1], epsilon=eps),
              lambda p: torch.optim.Adam(p, lr=lr, betas=betas, eps=eps))


def test_adam_defaults_are_kerass_and_epsilon_enters_as_in_torch():
    opt = Adam()
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (1e-3, 0.9, 0.999, 1e-7)
    w, g = np.array([0.0]), np.array([1e-6])
    opt.apply([g], [w])
    # step 1: m_hat = g, sqrt(v_hat) = |g|: w = -lr * g / (|g| + eps)
    assert w[0] == pytest.approx(-1e-3 * 1e-6 / (1e-6 + 1e-7), rel=1e-12)


def test_sgd_momentum_equals_kerass_velocity_form():
    opt, w = SGD(0.1, momentum=0.9, nesterov=True), np.zeros(1)
    u = x = 0.0
    for g in (1.0, 2.0, -1.0, 0.5):
        opt.apply([np.array([g])], [w])
        u = 0.9 * u - 0.1 * g  # Keras: u = momentum * u - lr * g; w += momentum * u - lr * g
        x += 0.9 * u - 0.1 * g
        assert w[0] == pytest.approx(x, abs=1e-15)


def test_optimizer_state_is_per_weight_and_goes_with_it():
    opt = Adam(0.1)
    layer = Dense(2, dtype="float64", seed=0)
    layer(np.ones((1, 3)))
    layer.backward(np.ones((1, 2)))
    opt.step(layer)
    assert len(opt._state) == 2 and all(s["step"] == 1 for _, s in opt._state.values())
    opt.step(layer)
    assert all(s["step"] == 2 for _, s in opt._state.values())
    del layer
    gc.collect()
    assert not opt._state


def test_optimizer_errors():
    with pytest.raises(ValueError, match="beta_1: expected a real number >= 0 and < 1"):
        Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="epsilon: expected a real number >= 0"):
        Adam(epsilon=-1)
    with pytest.raises(TypeError, match="nesterov: expected True or False"):
        SGD(momentum=0.9, nesterov="yes")
    with pytest.raises(ValueError, match=r"grads: gradient 0 must have the shape of its weight "
                                         r"\(2,\), got \(3,\)"):
        SGD().apply([np.ones(3)], [np.ones(2)])
    with pytest.raises(ValueError, match=r"grads: expected one gradient per weight \(1\), got 2"):
        Adam().apply([np.ones(2), np.ones(2)], [np.ones(2)])
    with pytest.raises(ValueError, match="step: the layer has no gradients"):
        Adam().step(Dense(2))


# -- a small network trained as PyTorch trains it ----------------------------------------------


def _networks():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5),
    ).double()
    ours = [Conv2D.from_torch(net[0]), BatchNormalization.from_torch(net[1]), ReLU(), Flatten(),
            Dense.from_torch(net[4])]
    return net, ours


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_a_small_cnn_trains_step_by_step_as_in_torch(name):
    net, layers = _networks()
    if name == "sgd":
        ours, theirs = SGD(0.05, momentum=0.9, nesterov=True), torch.optim.SGD(
            net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    else:
        ours, theirs = Adam(0.01, epsilon=1e-8), torch.optim.Adam(net.parameters(), lr=0.01)
    net.train()
    data = np.random.default_rng(1)
    for _ in range(20):
        x = data.standard_normal((8, 2, 6, 6))
        y = data.integers(0, 5, 8)
        theirs.zero_grad()
        loss = F.cross_entropy(net(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        theirs.step()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            z = x
            for layer in layers:
                z = layer(z, training=True)
            value = cross_entropy(z, y)
            g = cross_entropy_grad(z, y)
            for layer in reversed(layers):
                g = layer.backward(g)
            for layer in layers:
                if layer.grads:
                    ours.step(layer)
        assert value == pytest.approx(loss.item(), rel=1e-9)
    np.testing.assert_allclose(layers[-1].kernel, net[4].weight.detach().numpy().T, rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(layers[1].moving_variance, net[1].running_var.numpy(), rtol=1e-9)
