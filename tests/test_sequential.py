"""Sequential, LeNet and the digits (issue 12 items 3, 5, 6): training, weights, PyTorch."""

import numpy as np
import pytest

import convolab as cl
from convolab.apps.datasets import bilinear_matrix, digits, shifted, stratified_split
from convolab.layers import (
    SGD,
    Activation,
    Adam,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
    ReLU,
    Sequential,
    TrainingDivergedError,
)

torch = pytest.importorskip("torch")
nn = torch.nn


@pytest.fixture(scope="module")
def data():
    return digits()


def small_net(seed=0, dtype="float32"):
    return Sequential([
        Conv2D(4, 3, padding="same", activation="relu", seed=seed, dtype=dtype),
        MaxPooling2D(2),
        Flatten(),
        Dense(10, seed=seed + 1, dtype=dtype),
    ])


def torch_lenet(modern=False):
    act, pool = (nn.ReLU, nn.MaxPool2d) if modern else (nn.Sigmoid, nn.AvgPool2d)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), act(), pool(2), nn.Conv2d(6, 16, 5), act(), pool(2),
        nn.Flatten(), nn.Linear(400, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, 10))


# --- the model ------------------------------------------------------------------------------

def test_builds_on_first_call_and_chains_the_layers():
    model = small_net()
    assert not model.built
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype(np.float32)
    y = model(x)
    assert model.built and model.input_shape == (None, 8, 8, 1)
    assert model.output_shape == (None, 10) and y.shape == (3, 10)
    z = x
    for layer in model.layers:
        z = layer(z)
    np.testing.assert_array_equal(y, z)
    assert model.count_params() == 4 * 9 + 4 + 64 * 10 + 10


def test_backward_equals_pytorch_autograd_through_every_layer():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2),
                        nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4, 5), nn.Softmax(dim=-1)).double()
    model = Sequential.from_torch(net)
    x = np.random.default_rng(1).standard_normal((2, 2, 8, 8))
    g = np.random.default_rng(2).standard_normal((2, 5))
    xt = torch.tensor(x, requires_grad=True)
    yt = net(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(model(x), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.backward(g), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    grads = list(model.grads.values())
    for ours, theirs in zip(grads, [p.grad for p in net.parameters()]):
        theirs = theirs.numpy()
        if ours.ndim == 4:  # HWIO -> OIHW
            ours = ours.transpose(3, 2, 0, 1)
        elif ours.ndim == 2:
            ours = ours.T
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)


def test_add_refuses_what_is_not_a_layer():
    with pytest.raises(TypeError, match="layer instance"):
        Sequential([Dense])
    with pytest.raises(TypeError, match="layer instance"):
        Sequential().add(np.ones(3))


def test_a_build_error_names_the_layer():
    model = Sequential([Flatten(), Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"layers\[1\] \(conv2d"):
        model.build((None, 8, 8, 1))


# --- training -------------------------------------------------------------------------------

def test_fit_returns_the_history_and_learns(data):
    (x, y), (xt, yt) = data
    x, y = x[:256], y[:256]
    model = small_net()
    history = model.fit(x, y, epochs=3, batch_size=32, optimizer=Adam(3e-3),
                        validation_data=(xt[:64], yt[:64]), seed=0, verbose=0)
    assert list(history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 3 for v in history.values())
    assert history["loss"][-1] < history["loss"][0] and history["accuracy"][-1] > 0.5
    scores = model.evaluate(xt[:64], yt[:64])
    assert scores == pytest.approx({"loss": history["val_loss"][-1],
                                    "accuracy": history["val_accuracy"][-1]})
    predicted = model.predict(xt[:64], batch_size=7).argmax(-1)
    assert np.mean(predicted == yt[:64]) == pytest.approx(scores["accuracy"])


def test_fit_with_the_same_seed_is_the_same_run(data):
    (x, y), _ = data
    runs = [small_net(seed=3).fit(x[:128], y[:128], epochs=2, batch_size=16,
                                  optimizer=SGD(0.1, momentum=0.9), seed=5, verbose=0)
            for _ in range(2)]
    assert runs[0] == runs[1]
    other = small_net(seed=3).fit(x[:128], y[:128], epochs=2, batch_size=16,
                                  optimizer=SGD(0.1, momentum=0.9), seed=6, verbose=0)
    assert other != runs[0]


def test_fit_loss_is_the_batch_size_weighted_mean_of_the_steps(data):
    (x, y), _ = data
    x, y = x[:50], y[:50]
    a, b = small_net(seed=1), small_net(seed=1)
    history = a.fit(x, y, epochs=1, batch_size=20, optimizer="sgd", shuffle=False,
                    verbose=0)
    opt = SGD()
    steps = [b.train_on_batch(x[s:s + 20], y[s:s + 20], optimizer=opt, loss="cross_entropy")
             for s in range(0, 50, 20)]
    assert history["loss"][0] == pytest.approx((20 * steps[0] + 20 * steps[1] + 10 * steps[2])
                                               / 50, rel=1e-12)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_mse_fit_has_no_accuracy():
    model = Sequential([Dense(1, seed=0)])
    x = np.random.default_rng(0).random((20, 3))
    history = model.fit(x, x.sum(1, keepdims=True), epochs=2, loss="mse", optimizer=SGD(0.1),
                        verbose=0)
    assert list(history) == ["loss"] and history["loss"][1] < history["loss"][0]


def test_verbose_2_prints_one_line_per_epoch_and_0_nothing(data, capsys):
    (x, y), _ = data
    small_net().fit(x[:32], y[:32], epochs=2, verbose=2)
    out = capsys.readouterr()
    assert out.out.count("\n") == 2 and out.out.startswith("epoch 1/2: loss ")
    small_net().fit(x[:32], y[:32], epochs=2, verbose=0)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_a_diverging_fit_raises_with_the_epoch(data):
    (x, y), _ = data
    model = Sequential([Flatten(), Dense(10, seed=0, dtype="float32")])
    with pytest.raises(TrainingDivergedError, match="diverged at epoch") as info:
        model.fit(x[:64] * 1e30, y[:64], epochs=3, optimizer=SGD(1e30), verbose=0)
    assert info.value.epoch == 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=-1), "epochs"), (dict(batch_size=0), "batch_size"),
    (dict(loss="hinge"), "loss"), (dict(optimizer="rmsprop"), "optimizer"),
    (dict(verbose=3), "verbose"), (dict(validation_data=([1],)), "validation_data"),
])
def test_fit_names_a_bad_argument(kwargs, match):
    model = small_net()
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(np.zeros((4, 8, 8, 1)), np.zeros(4, int), verbose=0, **kwargs)


def test_fit_refuses_targets_of_another_length_and_non_finite_data():
    model = small_net()
    with pytest.raises(ValueError, match="y: expected one target per example"):
        model.fit(np.zeros((4, 8, 8, 1)), np.zeros(3, int), verbose=0)
    with pytest.raises(ValueError, match="x: expected finite"):
        model.fit(np.full((4, 8, 8, 1), np.nan), np.zeros(4, int), verbose=0)


def test_dropout_and_batch_norm_train_and_infer_differently():
    model = Sequential([Dense(8, seed=0), BatchNormalization(), ReLU(),
                        Dropout(0.5, seed=0), Dense(3, seed=1)])
    x = np.random.default_rng(0).random((16, 4)).astype(np.float32)
    model.fit(x, np.arange(16) % 3, epochs=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(model.predict(x), model.predict(x))  # inference: no dropout
    assert not np.array_equal(model(x, training=True), model(x, training=True))


# --- weights ----------------------------------------------------------------------------------

def test_save_and_load_weights_round_trip_exactly(tmp_path, data):
    (x, y), _ = data
    model = cl.models.lenet5(seed=0)
    model.fit(x[:64], y[:64], epochs=1, verbose=0)
    path = tmp_path / "w.npz"
    model.save_weights(path)
    other = cl.models.lenet5(seed=1)
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x[:8]), other.predict(x[:8]))


def test_a_weights_file_of_another_model_is_a_clear_error(tmp_path):
    path = tmp_path / "w.npz"
    cl.models.lenet5(seed=0).save_weights(path)
    wider = cl.models.lenet5(seed=0, num_classes=12)
    with pytest.raises(ValueError, match=r"layers\[7\] \(dense.*weight 0 has shape "
                                         r"\(84, 10\) in the file, \(84, 12\) in the model"):
        wider.load_weights(path)
    before = [w.copy() for w in wider.get_weights()]
    for a, b in zip(before, wider.get_weights()):  # nothing was changed
        np.testing.assert_array_equal(a, b)
    model = small_net()
    model.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match="holds weights for 8 layers"):
        model.load_weights(path)


def test_load_weights_refuses_a_file_that_is_not_one(tmp_path):
    path = tmp_path / "w.npz"
    path.write_text("not a zip")
    model = small_net()
    model.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match="not a weights file"):
        model.load_weights(path)


def test_set_weights_checks_the_count_and_names_the_layer():
    model = small_net()
    model.build((None, 8, 8, 1))
    weights = model.get_weights()
    with pytest.raises(ValueError, match=r"expected 4 arrays \(per layer: \[2, 0, 0, 2\]\)"):
        model.set_weights(weights[:3])
    weights[2] = np.zeros((3, 10))
    with pytest.raises(ValueError, match=r"layers\[3\] \(dense"):
        model.set_weights(weights)


# --- PyTorch ----------------------------------------------------------------------------------

@pytest.mark.parametrize("modern", [False, True])
def test_from_torch_then_to_torch_gives_the_same_module_back(modern):
    torch.manual_seed(0)
    net = torch_lenet(modern).double()
    model = Sequential.from_torch(net, input_shape=(None, 1, 28, 28))
    back = model.to_torch()
    assert [type(m) for m in back] == [type(m) for m in net]
    for (name, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    np.testing.assert_allclose(model(x), net(torch.tensor(x)).detach().numpy(), rtol=1e-12,
                               atol=1e-15)


def test_channels_last_lenet_to_torch_and_back_is_exact():
    model = cl.models.lenet5(seed=0)  # NHWC, float32
    net = model.to_torch()
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)
    y = net(torch.tensor(x.transpose(0, 3, 1, 2))).detach().numpy()
    np.testing.assert_allclose(y, model.predict(x), rtol=1e-5, atol=1e-6)
    again = Sequential.from_torch(net, data_format="channels_last",
                                  input_shape=(None, 28, 28, 1))
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_from_torch_channels_last_needs_the_input_shape_to_reorder_features():
    with pytest.raises(ValueError, match="input_shape"):
        Sequential.from_torch(torch_lenet(), data_format="channels_last")


def test_to_torch_pads_what_pytorch_cannot_and_keeps_batch_norm_and_activations():
    model = Sequential([
        Conv2D(4, 4, strides=2, padding="same", activation="tanh", seed=0),  # pads (1, 2)
        BatchNormalization(momentum=0.9), ReLU(negative_slope=0.1),
        MaxPooling2D(3, 2, padding="same"),  # pads (0, 1): -inf outside the pool
        AveragePooling2D(3, 1, padding="same"),  # pads (1, 1), left out of the mean
        Flatten(), Dense(6, seed=1), Activation("softmax"),
    ])
    x = np.random.default_rng(0).standard_normal((3, 11, 11, 2)).astype(np.float32)
    model.fit(x, np.arange(3), epochs=1, verbose=0)  # moving statistics away from (0, 1)
    net = model.to_torch().eval()
    y = net(torch.tensor(x.transpose(0, 3, 1, 2))).detach().numpy()
    np.testing.assert_allclose(y, model.predict(x), rtol=1e-5, atol=1e-6)
    uneven = Sequential([AveragePooling2D(2, padding="same")])
    uneven.build((None, 3, 3, 1))
    with pytest.raises(TypeError, match=r"layers\[0\] \(average_pooling2d.*AvgPool2d pads"):
        uneven.to_torch()


def test_from_torch_names_a_module_it_cannot_take():
    with pytest.raises(TypeError, match=r"module\[1\]: no convolab layer for a torch.nn.GELU"):
        Sequential.from_torch(nn.Sequential(nn.Linear(2, 2), nn.GELU()))
    with pytest.raises(TypeError, match="takes a torch.nn.Sequential"):
        Sequential.from_torch(nn.Linear(2, 2))


@pytest.mark.parametrize("modern", [False, True])
@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_lenet_float64_steps_equal_pytorchs(data, modern, optimizer):
    """Issue 12 item 6: the same LeNet, initial weights and batches give PyTorch's per-step
    losses over 20 steps, to 1e-9 relative."""
    (x, y), _ = data
    torch.manual_seed(1)
    net = torch_lenet(modern).double()
    model = Sequential.from_torch(net)  # channels_first, float64, the same weights
    if optimizer == "adam":
        ours, theirs = Adam(1e-3, epsilon=1e-8), torch.optim.Adam(net.parameters(), 1e-3)
    elif optimizer == "nesterov":
        ours = SGD(0.1, momentum=0.9, nesterov=True)
        theirs = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9, nesterov=True)
    else:  # the book's: plain SGD, learning rate 0.9
        ours, theirs = SGD(0.9), torch.optim.SGD(net.parameters(), 0.9)
    order = np.random.default_rng(0).permutation(len(x))
    xs = x.transpose(0, 3, 1, 2).astype(np.float64)  # NCHW
    ours_losses, theirs_losses = [], []
    for step in range(20):
        idx = order[step * 16:(step + 1) * 16]
        ours_losses.append(model.train_on_batch(xs[idx], y[idx], optimizer=ours,
                                                loss="cross_entropy"))
        theirs.zero_grad()
        loss = nn.functional.cross_entropy(net(torch.tensor(xs[idx])), torch.tensor(y[idx]))
        loss.backward()
        theirs.step()
        theirs_losses.append(loss.item())
    np.testing.assert_allclose(ours_losses, theirs_losses, rtol=1e-9)
    assert ours_losses[-1] != ours_losses[0]  # it did train


# --- summary, LeNet, digits -------------------------------------------------------------------

def test_summary_shows_shapes_parameters_and_receptive_fields():
    lines = []
    cl.models.lenet5(seed=0).summary(print_fn=lines.append)
    text = lines[0]
    rows = {line.split()[0]: line.split() for line in text.splitlines()[4:12]}
    assert [r[-2] for r in rows.values()][:4] == ["5x5", "6x6", "14x14", "16x16"]
    assert [r[-1] for r in rows.values()][:4] == ["1x1", "2x2", "2x2", "4x4"]
    assert "(None, 5, 5, 16)" in text and "(None, 400)" in text
    assert "Total params: 61,706" in text and "Trainable params: 61,706" in text


def test_lenet5_is_the_books_and_modern_swaps_activation_and_pooling():
    book, modern = cl.models.lenet5(seed=0), cl.models.lenet5(modern=True, seed=0)
    assert [type(layer).__name__ for layer in book.layers] == [
        "Conv2D", "AveragePooling2D", "Conv2D", "AveragePooling2D", "Flatten", "Dense",
        "Dense", "Dense"]
    assert [getattr(layer, "activation", None) for layer in book.layers] == [
        "sigmoid", None, "sigmoid", None, None, "sigmoid", "sigmoid", None]
    assert isinstance(modern.layers[1], MaxPooling2D)
    assert modern.layers[0].activation == "relu"
    assert book.layers[0].padding == "same" and book.layers[2].padding == "valid"
    for a, b in zip(book.get_weights(), cl.models.lenet5(seed=0).get_weights()):
        np.testing.assert_array_equal(a, b)


def test_digits_are_28x28_nhwc_in_0_1_with_a_stratified_fixed_split(data):
    (x, y), (xt, yt) = data
    assert x.shape == (1438, 28, 28, 1) and xt.shape == (359, 28, 28, 1)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == np.int64
    assert x.min() >= 0 and x.max() <= 1 and x.max() == 1
    counts, test_counts = np.bincount(np.concatenate([y, yt])), np.bincount(yt)
    np.testing.assert_array_equal(test_counts, np.round(0.2 * counts))
    _, (xt2, yt2) = digits()
    np.testing.assert_array_equal(xt, xt2)
    np.testing.assert_array_equal(yt, yt2)
    (_, _), (_, yt3) = digits(seed=1)
    assert not np.array_equal(yt, yt3)


@pytest.mark.parametrize("margin", [4, 0])
def test_digits_are_pytorchs_bilinear_resize_centred_in_the_frame(margin):
    from sklearn.datasets import load_digits

    images = load_digits().images / 16
    inner = 28 - 2 * margin
    resized = nn.functional.interpolate(torch.tensor(images)[:, None], size=(inner, inner),
                                        mode="bilinear", align_corners=False)[:, 0].numpy()
    theirs = np.pad(resized, ((0, 0), (margin, margin), (margin, margin)))
    _, (xt, _) = digits(margin=margin)
    _, test = stratified_split(load_digits().target, 0.2, seed=0)
    np.testing.assert_allclose(xt[..., 0], theirs[test], atol=1e-6)
    np.testing.assert_allclose(bilinear_matrix(8, inner) @ images[0] @ bilinear_matrix(8, inner).T,
                               resized[0], atol=1e-12)


def test_shifted_adds_four_copies_moved_by_a_pixel():
    x = np.random.default_rng(0).random((2, 5, 5, 1))
    xs, ys = shifted(x, np.array([3, 4]))
    assert xs.shape == (10, 5, 5, 1) and ys.tolist() == [3, 4] * 5
    np.testing.assert_array_equal(xs[:2], x)
    np.testing.assert_array_equal(xs[2:4, 1:], x[:, :-1])   # down
    np.testing.assert_array_equal(xs[4:6, :-1], x[:, 1:])   # up
    np.testing.assert_array_equal(xs[6:8, :, 1:], x[:, :, :-1])  # right
    np.testing.assert_array_equal(xs[8:, :, :-1], x[:, :, 1:])   # left
    assert not xs[2:4, 0].any() and not xs[8:, :, -1].any()


def test_stratified_split_keeps_every_example_once():
    labels = np.repeat(np.arange(3), [10, 7, 3])
    train, test = stratified_split(labels, 0.3, seed=0)
    assert sorted([*train, *test]) == list(range(20))
    np.testing.assert_array_equal(np.bincount(labels[test]), [3, 2, 1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(size=0), "size"), (dict(margin=14), "margin"), (dict(test_size=1.0), "test_size"),
    (dict(seed=1.5), "seed")])
def test_digits_names_a_bad_argument(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        digits(**kwargs)
