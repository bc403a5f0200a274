"""Learning kernels from data: the book's edge detector (6.2.4), Sobel and Gaussian filters."""

import importlib.util
import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest

from convolab import conv2d, corr2d
from convolab.layers import Conv2D, TrainingDivergedError, fit

EDGE_K = np.array([[1.0, -1.0]])


def edge_data():
    """The book's 6x8 image with a black stripe and its edges, as NHWC batches of one."""
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    Y = corr2d(X, EDGE_K)
    return X[None, :, :, None], Y[None, :, :, None]


def train_edge(layer, epochs):
    X4, Y4 = edge_data()
    losses = fit(layer, X4, Y4, epochs=epochs, learning_rate=3e-2)
    return losses, layer.kernel[:, :, 0, 0]


@pytest.mark.parametrize("seed", range(0, 200, 40))
def test_book_edge_kernel_is_learned_with_the_books_settings(seed):
    """Error within 0.15 after the book's 10 epochs, 0.02 after 20, for many seeds."""
    for s in range(seed, seed + 40):
        layer = Conv2D(1, kernel_size=(1, 2), use_bias=False, seed=s)
        losses, kernel = train_edge(layer, 10)
        assert np.abs(kernel - EDGE_K).max() < 0.15, s
        assert all(b < a for a, b in itertools.pairwise(losses)), s
        _, kernel = train_edge(layer, 10)
        assert np.abs(kernel - EDGE_K).max() < 0.02, s


def test_edge_kernel_is_learned_from_every_start_glorot_uniform_can_draw():
    """The updates are linear in the weights, so the error after k steps is an affine function
    of the initial kernel: its worst case over the box [-limit, limit]^2 is at a corner."""
    limit = np.sqrt(6 / (2 + 2))  # glorot_uniform for a (1, 2, 1, 1) kernel
    for corner in itertools.product((-limit, limit), repeat=2):
        layer = Conv2D(1, kernel_size=(1, 2), use_bias=False, dtype="float64")
        layer.build((1, 6, 8, 1))
        layer.set_weights([np.array(corner).reshape(1, 2, 1, 1)])
        _, kernel = train_edge(layer, 10)
        assert np.abs(kernel - EDGE_K).max() < 0.15, corner
        _, kernel = train_edge(layer, 10)
        assert np.abs(kernel - EDGE_K).max() < 0.02, corner


SOBEL = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
_g = np.exp(-((np.arange(5) - 2.0) ** 2) / 2)
GAUSS = np.outer(_g, _g) / np.outer(_g, _g).sum()


@pytest.mark.parametrize("name, base, c_in, c_out", [("sobel", SOBEL, 2, 3),
                                                       ("gaussian", GAUSS, 3, 2)])
@pytest.mark.parametrize("seed", [0, 1])
def test_filters_are_recovered_from_random_images_and_their_outputs(name, base, c_in, c_out,
                                                                    seed):
    """Each (in, out) channel pair holds the filter times a random mix; a bias is added."""
    rng = np.random.default_rng(seed)
    kernel = base[:, :, None, None] * rng.standard_normal((c_in, c_out))  # (k, k, C, O)
    bias = rng.standard_normal(c_out)
    x = rng.standard_normal((4, 16, 16, c_in))
    y = conv2d(x, kernel, bias)
    layer = Conv2D(c_out, base.shape, seed=seed)
    # mean loss: its Hessian for white-noise images is about 2/c_out * I, so lr ~ c_out/2
    losses = fit(layer, x, y, epochs=100, learning_rate=0.3 * c_out, momentum=0.5,
                 reduction="mean")
    assert losses[-1] < 1e-8 * losses[0]
    np.testing.assert_allclose(layer.kernel, kernel, atol=1e-3)
    np.testing.assert_allclose(layer.bias, bias, atol=1e-3)


def test_example_script_prints_the_loss_per_epoch_and_the_kernel(capsys):
    path = Path(__file__).parents[1] / "examples" / "learn_edge_kernel.py"
    spec = importlib.util.spec_from_file_location("learn_edge_kernel", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    learned = module.main(["--epochs", "20", "--seed", "3"])
    lines = capsys.readouterr().out.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(",")[0] for line in epochs] == [f"epoch {i}" for i in range(1, 21)]
    losses = [float(line.split("loss ")[1]) for line in epochs]
    assert losses[-1] < losses[0]
    assert lines[-1].startswith("learned kernel")
    assert np.abs(learned - EDGE_K).max() < 0.02


def test_fit_stops_with_an_error_naming_the_epoch_when_training_overflows():
    """lr 10 on the book's data: the loss grows ~1e5 per epoch, and the float32 step overflows
    within 20 epochs. fit must stop there, not return inf weights or warn."""
    X4, Y4 = edge_data()
    seen = []
    layer = Conv2D(1, kernel_size=(1, 2), use_bias=False, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from NumPy would fail here
        with pytest.raises(TrainingDivergedError, match="smaller learning_rate") as info:
            fit(layer, X4, Y4, epochs=20, learning_rate=10.0,
                callback=lambda epoch, loss, _: seen.append(loss))
    exc = info.value
    assert isinstance(exc, ValueError) and isinstance(exc, FloatingPointError)
    assert not isinstance(exc, RuntimeError)
    assert exc.epoch == len(seen) + 1 <= 20  # the epochs before it completed and were reported
    assert f"epoch {exc.epoch}" in str(exc) and f"{exc.loss:.3g}" in str(exc)
    assert all(np.isfinite(seen)) and all(b > a for a, b in itertools.pairwise(seen))
    assert exc.loss > seen[-1]


def test_fit_in_float64_stops_when_the_loss_itself_overflows():
    X4, Y4 = edge_data()
    layer = Conv2D(1, kernel_size=(1, 2), use_bias=False, seed=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TrainingDivergedError, match=r"epoch \d+: the loss overflowed"):
            fit(layer, X4, Y4, epochs=500, learning_rate=10.0)


def test_fit_refuses_non_finite_data():
    X4, Y4 = edge_data()
    X4 = X4.copy()
    X4[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x: expected finite values"):
        fit(Conv2D(1, kernel_size=(1, 2)), X4, Y4, epochs=1, learning_rate=0.01)
