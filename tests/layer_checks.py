"""Checks every layer's test uses: backward against central differences, and against PyTorch's
autograd for the same module and input (float64)."""

from __future__ import annotations

import numpy as np


def check_finite_differences(layer, x: np.ndarray, *, training: bool = False,
                             eps: float = 1e-6, rtol: float = 1e-6, seed: int = 0) -> None:
    """``layer.backward`` against central differences of ``L = sum(layer(x) * r)`` along a
    random direction of ``x`` and of every trained weight (the layer in float64)."""
    rng = np.random.default_rng(seed)
    y = layer(x, training=training)
    r = rng.standard_normal(y.shape)
    gx = layer.backward(r)
    grads = {name: g.copy() for name, g in layer.grads.items()}

    def loss(xv: np.ndarray) -> float:
        return float(np.sum(layer(xv, training=training) * r))

    d = rng.standard_normal(x.shape)
    numeric = (loss(x + eps * d) - loss(x - eps * d)) / (2 * eps)
    np.testing.assert_allclose(numeric, np.sum(gx * d), rtol=rtol, atol=rtol)
    assert set(grads) == set(layer.parameters())
    for name, w in layer.parameters().items():
        d = rng.standard_normal(w.shape)
        w0 = w.copy()
        w[...] = w0 + eps * d
        plus = loss(x)
        w[...] = w0 - eps * d
        minus = loss(x)
        w[...] = w0
        np.testing.assert_allclose((plus - minus) / (2 * eps), np.sum(grads[name] * d),
                                   rtol=rtol, atol=rtol, err_msg=name)


def torch_grads(module, x: np.ndarray, r: np.ndarray, training: bool = False):
    """``(y, dL/dx, {parameter name: dL/dparameter})`` of ``L = sum(module(x) * r)`` by
    PyTorch's autograd (``module`` in train or eval mode as ``training`` says)."""
    import torch

    module.train(training)
    for p in module.parameters():
        p.grad = None
    xt = torch.tensor(x, requires_grad=True)
    y = module(xt)
    (y * torch.tensor(r)).sum().backward()
    return (y.detach().numpy(), xt.grad.numpy(),
            {name: p.grad.numpy() for name, p in module.named_parameters()})
