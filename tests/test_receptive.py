"""``cl.receptive_field``: hand-checked stacks, published networks, and the support of the input
gradient of every output unit (through ``cl.conv2d_backward``) as the oracle."""

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import convolab as cl
from convolab.apps.receptive import ReceptiveField


def conv(k, **kw):
    return dict(kernel_size=k, **kw)


# --- hand-checked stacks -----------------------------------------------------------------------

def test_two_3x3_convs_see_5x5():
    rf = cl.receptive_field([conv(3), conv(3)])
    assert isinstance(rf, ReceptiveField)
    assert rf.size == (5, 5) and rf.jump == (1, 1) and rf.start == (0, 0)
    assert rf.centre == (2.0, 2.0) and rf.out_shape is None


def test_stride_2_in_the_middle_doubles_what_the_last_conv_adds():
    rf = cl.receptive_field([conv(3), conv(3, strides=2), conv(3)], input_shape=(13, 13))
    assert [lay.size for lay in rf.layers] == [(3, 3), (5, 5), (9, 9)]
    assert [lay.jump for lay in rf.layers] == [(1, 1), (2, 2), (2, 2)]
    assert [lay.out_shape for lay in rf.layers] == [(11, 11), (5, 5), (3, 3)]
    assert rf.field((1, 2)) == ((2, 10), (4, 12))  # start + i*jump, + size - 1


def test_dilation_spreads_the_taps():
    assert cl.receptive_field([conv(3, dilation_rate=2)]).size == (5, 5)
    assert cl.receptive_field([conv(3), conv(3, dilation_rate=2)]).size == (7, 7)
    # WaveNet's doubling dilations, kernel 2: 1 + 1 + 2 + 4 + 8 = 16 samples
    wavenet = [conv(2, dilation_rate=d, padding="causal") for d in (1, 2, 4, 8)]
    rf = cl.receptive_field(wavenet, input_shape=(100,))
    assert rf.size == (16,) and rf.start == (-15,) and rf.out_shape == (100,)
    assert not rf.holes


def test_a_dilation_wider_than_the_field_below_leaves_holes():
    rf = cl.receptive_field([conv(3), conv(2, dilation_rate=5)], input_shape=(20,))
    assert rf.size == (8,) and rf.holes
    assert rf.offsets == ((0, 1, 2, 5, 6, 7),)
    assert "depends on 6 of the 8 pixels of its field, at offsets 0-2, 5-7" in rf.explain()
    # stride before a kernel that does not cover the gaps: every other pixel
    assert cl.receptive_field([conv(1, strides=2), conv(3)], (9,)).offsets == ((0, 2, 4),)


def test_same_padding_centres_the_field_on_the_output_pixel():
    rf = cl.receptive_field([conv(3, padding="same")] * 3)
    assert rf.size == (7, 7) and rf.start == (-3, -3) and rf.centre == (0.0, 0.0)
    assert rf.field((4, 5)) == ((1, 7), (2, 8))
    # 4x4 kernel, stride 1: TensorFlow's split puts the odd pixel after (1 before, 2 after)
    assert cl.receptive_field([conv(4, padding="same")]).start == (-1, -1)
    assert cl.receptive_field([conv(4, padding="same_lower")]).start == (-2, -2)


def test_same_padding_with_stride_uses_the_input_size_to_split():
    # 8 -> 4 with k=3, s=2: TensorFlow pads 0 before, 1 after; 7 -> 4 pads 1 and 1
    assert cl.receptive_field([conv(3, strides=2, padding="same")], (8, 7)).start == (0, -1)


def test_asymmetric_padding_moves_the_start_by_before_times_jump():
    rf = cl.receptive_field([conv(3, strides=2), conv(3, padding=((2, 0), (1, 3)))], (9, 9))
    assert rf.start == (-4, -2) and rf.layers[1].pads == ((2, 0), (1, 3))
    assert rf.out_shape == (4, 6)


def test_pooling_strides_default_to_the_pool_size_as_in_keras():
    rf = cl.receptive_field([conv(3, padding="same"), dict(pool_size=2)], input_shape=(8, 8))
    assert rf.size == (4, 4) and rf.jump == (2, 2) and rf.out_shape == (4, 4)
    assert cl.receptive_field([dict(pool_size=3, strides=1)]).jump == (1, 1)


def test_one_dimensional_and_three_dimensional_stacks():
    assert cl.receptive_field([conv(5), conv(5, strides=3)], (40,)).size == (9,)
    rf = cl.receptive_field([conv((3, 3, 3)), conv((1, 3, 3), strides=(1, 2, 2))], (8, 16, 16))
    assert rf.size == (3, 5, 5) and rf.jump == (1, 2, 2) and rf.out_shape == (6, 6, 6)


def test_an_empty_stack_is_the_input_itself():
    rf = cl.receptive_field([], input_shape=(4, 4))
    assert rf.size == (1, 1) and rf.jump == (1, 1) and rf.out_shape == (4, 4)
    assert rf.field((3, 0)) == ((3, 3), (0, 0))


# Araujo, Norris & Sim (Distill 2019), table of receptive fields: AlexNet 195, VGG-16 212.
def test_alexnet_and_vgg16_match_the_published_receptive_fields():
    alexnet = [conv(11, strides=4), dict(pool_size=3, strides=2), conv(5, padding=2),
               dict(pool_size=3, strides=2), conv(3, padding=1), conv(3, padding=1),
               conv(3, padding=1), dict(pool_size=3, strides=2)]
    rf = cl.receptive_field(alexnet, input_shape=(227, 227))
    assert rf.size == (195, 195) and rf.jump == (32, 32) and rf.out_shape == (6, 6)
    vgg16 = []
    for n in (2, 2, 3, 3, 3):
        vgg16 += [conv(3, padding="same")] * n + [dict(pool_size=2)]
    rf = cl.receptive_field(vgg16, input_shape=(224, 224))
    assert rf.size == (212, 212) and rf.jump == (32, 32) and rf.out_shape == (7, 7)
    assert rf.layers[-2].size == (196, 196)  # conv5_3


# --- layers, Sequential ------------------------------------------------------------------------

class MaxPooling2D:  # Keras's attributes: pool_size, strides (None: the pool size), padding
    def __init__(self, pool_size, strides=None, padding="valid"):
        self.pool_size, self.strides, self.padding = pool_size, strides, padding


class Activation:
    pass


class Flatten:
    pass


class Dense:
    units = 10


class Sequential:
    def __init__(self, layers):
        self.layers = layers


def test_conv2d_layers_pooling_and_a_sequential_skipping_activations_and_stopping_at_flatten():
    model = Sequential([cl.Conv2D(4, 3, padding="same"), Activation(), MaxPooling2D(2),
                        cl.Conv2D(8, 3, strides=2, dilation_rate=1), Flatten(), Dense(),
                        cl.Conv2D(1, 99)])
    rf = cl.receptive_field(model, input_shape=(28, 28))
    assert len(rf.layers) == 3
    assert rf.size == (8, 8) and rf.jump == (4, 4) and rf.out_shape == (6, 6)
    # convolab's layers have Keras's names (conv2d, conv2d_1, ...), shown before the geometry
    first, last = model.layers[0].name, model.layers[3].name
    assert [lay.label for lay in rf.layers] == [f"{first}: conv 3 same", "pool 2",
                                                f"{last}: conv 3 s2"]
    assert cl.receptive_field([cl.Conv2D(1, 5, dilation_rate=2), Dense()]).size == (9, 9)


def test_keras_zero_padding_moves_the_start_and_cropping_is_refused():
    class ZeroPadding2D:
        padding = ((2, 0), (1, 1))

    class ZeroPadding1D:
        padding = (3, 0)

    class Cropping2D:
        cropping = ((1, 1), (1, 1))

    rf = cl.receptive_field([conv(3, strides=2), ZeroPadding2D(), conv(3)], (9, 9))
    assert rf.start == (-4, -2) and rf.size == (7, 7) and rf.out_shape == (4, 4)
    assert [lay.label for lay in rf.layers] == ["conv 3 s2", "pad p((2, 0), (1, 1))", "conv 3"]
    assert cl.receptive_field([ZeroPadding1D(), conv((3,))], (5,)).out_shape == (6,)
    with pytest.raises(TypeError, match="Cropping2D layer is not supported"):
        cl.receptive_field([conv(3), Cropping2D()])


def test_a_pytorch_style_object_is_refused_not_misread():
    class Conv2d:  # torch.nn.Conv2d's names: stride, dilation
        kernel_size, stride, padding, dilation = (3, 3), (2, 2), (1, 1), (1, 1)

    with pytest.raises(TypeError, match="Keras's attribute names"):
        cl.receptive_field([Conv2d()])


def test_a_transposed_conv_is_refused():
    class Conv2DTranspose:
        kernel_size, strides, padding = (3, 3), (2, 2), "same"

    with pytest.raises(TypeError, match="transposed"):
        cl.receptive_field([Conv2DTranspose()])


# --- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, hint", [("stride", "strides"), ("dilation", "dilation_rate"),
                                       ("kernel_sze", "kernel_size"), ("paddding", "padding")])
def test_a_misspelt_key_is_named_with_the_keras_name(key, hint):
    with pytest.raises(ValueError, match=rf"layers\[1\]: unknown key '{key}' \(did you mean "
                                         rf"'{hint}'\?\)"):
        cl.receptive_field([conv(3), {"kernel_size": 3, key: 2}])


def test_kernel_size_and_pool_size_exactly_one():
    with pytest.raises(ValueError, match="exactly one of kernel_size"):
        cl.receptive_field([dict(strides=2)])
    with pytest.raises(ValueError, match="exactly one of kernel_size"):
        cl.receptive_field([dict(kernel_size=3, pool_size=2)])


def test_same_with_stride_needs_the_input_shape():
    with pytest.raises(ValueError, match=r"layers\[0\]: padding: 'same' with strides 2x2 .* "
                                         "pass input_shape"):
        cl.receptive_field([conv(3, strides=2, padding="same")])


def test_an_empty_output_names_the_layer():
    with pytest.raises(ValueError, match=r"layers\[2\]: kernel_size: the dilated kernel height"):
        cl.receptive_field([conv(3), conv(3), conv(5)], input_shape=(8, 9))


@pytest.mark.parametrize("layers, kind, fragment", [
    ([conv(0)], ValueError, r"layers\[0\]: kernel_size: expected a positive int"),
    ([conv(3, strides=(1, 2, 3))], TypeError, r"layers\[0\]: strides"),
    ([conv(3, padding="sam")], ValueError, "did you mean 'same'"),
    ([conv(3, padding=-1)], ValueError, "padding: expected amounts >= 0"),
    ([conv((3, 3)), conv((3,))], ValueError, "kernel sizes of one rank"),
    (conv(3), TypeError, "layers: expected a Sequential"),
])
def test_bad_layers_raise_naming_the_argument(layers, kind, fragment):
    with pytest.raises(kind, match=fragment):
        cl.receptive_field(layers)


def test_input_shape_must_be_spatial_sizes_of_the_kernels_rank():
    with pytest.raises(ValueError, match="expected 2 spatial sizes"):
        cl.receptive_field([conv((3, 3))], input_shape=(224, 224, 3))
    with pytest.raises(TypeError, match="input_shape"):
        cl.receptive_field([conv(3)], input_shape=224)


def test_field_checks_the_output_index():
    rf = cl.receptive_field([conv(3)], input_shape=(5, 5))
    assert rf.field((2, 2)) == ((2, 4), (2, 4))
    with pytest.raises(ValueError, match=r"unit of the 3x3 output"):
        rf.field((3, 0))
    with pytest.raises(ValueError, match="output_index: expected 2 ints"):
        rf.field(1)
    assert cl.receptive_field([conv(3)], (5,)).field(1) == ((1, 3),)


# --- explain and table -------------------------------------------------------------------------

def test_explain_fills_in_the_recurrence_layer_by_layer():
    text = cl.receptive_field([conv(3), conv(3, strides=2), conv(3)], (13, 13)).explain()
    assert text.splitlines()[0] == (
        "receptive field of 3 layers on a 13x13 input -> output 3x3: field 9x9, jump 2x2, "
        "unit 0's field starts at (0, 0), centre (4, 4)")
    assert "layer 2, conv 3 s2 (kernel 3x3, stride 2x2, dilation 1x1, padding 'valid')" in text
    assert ("  width: j = 2*1 = 2; r = 5 + 1*(3-1)*2 = 9; start = 0 - 0*2 = 0; "
            "centre = 0 + (9-1)/2 = 4; out = floor((5 + 0 + 0 - 1*(3-1) - 1) / 1) + 1 = 3"
            ) in text
    assert text.splitlines()[-1] == "  width: 0 + 2*i to 8 + 2*i"


def test_explain_without_input_shape_has_no_output_sizes():
    text = cl.receptive_field([conv(3, padding="same")]).explain()
    assert "out =" not in text and "start = 0 - 1*1 = -1" in text


def test_table_rows_give_output_jump_field_start_and_centre():
    rf = cl.receptive_field([conv(3), conv(3, strides=2, padding=1)], (8, 8))
    assert rf.rows() == [("input", "8x8", "1x1", "1x1", "(0, 0)", "(0, 0)"),
                         ("1 conv 3", "6x6", "1x1", "3x3", "(0, 0)", "(1, 1)"),
                         ("2 conv 3 s2 p1", "3x3", "2x2", "5x5", "(-1, -1)", "(1, 1)")]
    assert str(rf) == rf.table() and rf.table().splitlines()[0].split() == [
        "layer", "output", "jump", "field", "start", "centre"]
    assert cl.receptive_field([conv(3)]).rows()[1][1] == "-"


# --- the oracle: the support of the input gradient of every output unit ------------------------

def gradient_supports(layers, input_shape):
    """bool (Ho, Wo, H, W): for each unit of the last map, the input pixels its gradient reaches.

    Forward ``cl.conv2d`` of zeros gives each map's shape; then a one-hot gradient per output
    unit (a batch of Ho*Wo) goes back through ``cl.conv2d_backward`` with all-ones kernels: a
    pixel's gradient counts its paths to the unit (an integer), so > 0.5 is exact.
    """
    shapes, x = [], np.zeros((1, *input_shape, 1))
    for lay in layers:
        shapes.append(x.shape[1:3])
        x = cl.conv2d(x, np.ones((*lay["kernel_size"], 1, 1)), stride=lay["strides"],
                      padding=lay["padding"], dilation=lay["dilation_rate"])
    ho, wo = x.shape[1:3]
    g = np.eye(ho * wo).reshape(ho * wo, ho, wo, 1)  # unit (i, j) is batch item i*wo + j
    for lay, shape in zip(reversed(layers), reversed(shapes)):
        g, _, _ = cl.conv2d_backward(g, np.zeros((ho * wo, *shape, 1)),
                                     np.ones((*lay["kernel_size"], 1, 1)),
                                     stride=lay["strides"], padding=lay["padding"],
                                     dilation=lay["dilation_rate"], bias=False)
    return (g[..., 0] > 0.5).reshape(ho, wo, *input_shape)


def check_against_gradients(layers, input_shape):
    """The field of every output unit against its gradient's support (see the module docstring
    of convolab.apps.receptive for what is exact): the support lies in the field clipped to the
    input, and a field inside the input is exactly the support (its box, and the pixels at
    ``offsets``, holes included)."""
    rf = cl.receptive_field(layers, input_shape)
    support = gradient_supports(layers, input_shape)
    assert support.shape[:2] == rf.out_shape  # the output shape, as conv2d computes it
    inside = 0
    for i, j in np.ndindex(*rf.out_shape):
        box = rf.field((i, j))
        clipped = np.zeros(input_shape, bool)
        lo = [max(a, 0) for a, _ in box]
        hi = [min(b, n - 1) for (_, b), n in zip(box, input_shape)]
        clipped[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1] = True
        assert not (support[i, j] & ~clipped).any(), (i, j, box)
        if all(a >= 0 and b < n for (a, b), n in zip(box, input_shape)):
            inside += 1
            want = np.zeros(input_shape, bool)
            rows = [box[0][0] + t for t in rf.offsets[0]]
            cols = [box[1][0] + t for t in rf.offsets[1]]
            want[np.ix_(rows, cols)] = True
            assert (support[i, j] == want).all(), (i, j, box)
    return inside


sizes = st.integers(1, 4)
layers_2d = st.fixed_dictionaries(dict(
    kernel_size=st.tuples(sizes, sizes),
    strides=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation_rate=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                      st.tuples(st.integers(0, 2), st.integers(0, 2))),
))


def smallest_input(layers, axis):
    """Smallest input size along ``axis`` for which every layer's output is non-empty: from the
    last layer back, ``n_{l-1} = (n_l - 1)*s + d*(k-1) + 1 - before - after``, at least 1."""
    n = 1
    for lay in reversed(layers):
        (before, after), s = lay["padding"][axis], lay["strides"][axis]
        k, d = lay["kernel_size"][axis], lay["dilation_rate"][axis]
        n = max(1, (n - 1) * s + d * (k - 1) + 1 - before - after)
    return n


@settings(max_examples=150, deadline=None)
@given(st.lists(layers_2d, min_size=1, max_size=4), st.data())
def test_field_agrees_with_the_gradient_support_of_every_output_unit(layers, data):
    low = [smallest_input(layers, axis) for axis in (0, 1)]
    assume(max(low) <= 24)
    shape = tuple(data.draw(st.integers(n, max(n, 24)), label=f"size {a}")
                  for a, n in enumerate(low))
    inside = check_against_gradients(layers, shape)
    event(f"units inside: {bool(inside)}, holes: {cl.receptive_field(layers).holes}")


layers_1d = st.builds(
    lambda k, s, d, p: dict(kernel_size=(1, k), strides=(1, s), dilation_rate=(1, d),
                            padding=((0, 0), p)),
    st.integers(1, 5), st.integers(1, 3), st.integers(1, 4),
    st.tuples(st.integers(0, 3), st.integers(0, 3)))


@settings(max_examples=150, deadline=None)
@given(st.lists(layers_1d, min_size=1, max_size=6), st.data())
def test_one_dimensional_field_agrees_with_the_gradient_support(layers, data):
    n = smallest_input(layers, 1)
    assume(n <= 64)
    width = data.draw(st.integers(n, max(n, 64)), label="width")
    inside = check_against_gradients(layers, (1, width))
    event(f"units inside: {bool(inside)}, holes: {cl.receptive_field(layers).holes}")


def test_the_oracle_sees_inside_fields_and_holes():
    # A stack with holes (stride 2 then a 2-tap conv dilated by 3: gaps of 6 in a field of 7)
    layers = [dict(kernel_size=(2, 1), strides=(2, 1), dilation_rate=(1, 1), padding=0),
              dict(kernel_size=(2, 3), strides=(1, 1), dilation_rate=(3, 1), padding=0)]
    assert cl.receptive_field(layers, (20, 9)).offsets == ((0, 1, 6, 7), (0, 1, 2))
    assert check_against_gradients(layers, (20, 9)) == 7 * 7  # every unit lies inside


def test_near_the_border_the_support_can_be_smaller_than_the_clipped_field():
    # A 1x1 conv on the padding zero left of a valid 3-tap conv's output: the recurrence gives
    # that zero the field [-1, 1], but nothing in the input reaches it.
    layers = [dict(kernel_size=(1, 3), strides=1, dilation_rate=1, padding=0),
              dict(kernel_size=(1, 1), strides=1, dilation_rate=1, padding=((0, 0), (1, 0)))]
    assert cl.receptive_field(layers, (1, 5)).field((0, 0)) == ((0, 0), (-1, 1))
    assert not gradient_supports(layers, (1, 5))[0, 0].any()


def test_figure_shades_one_units_field_per_layer_and_plots_the_growth():
    from matplotlib.colors import to_rgba

    from convolab.apps.plots import WINDOW
    from convolab.apps.receptive_plot import receptive_field_figure

    fig = receptive_field_figure([conv(3), conv(3, strides=2), conv(3)], (13, 13))
    assert [ax.get_title() for ax in fig.axes][:3] == [
        "layer 1: conv 3\nfield 3x3, jump 1x1", "layer 2: conv 3 s2\nfield 5x5, jump 2x2",
        "layer 3: conv 3\nfield 9x9, jump 2x2"]
    shaded = [sum(p.get_facecolor() == to_rgba(WINDOW) for p in ax.patches)
              for ax in fig.axes[:3]]
    assert shaded == [9, 25, 81]
    with pytest.raises(ValueError, match="2-D stack"):
        receptive_field_figure([conv(3)], (9,))


def test_a_dilated_max_pooling_layer_widens_the_field():
    layers = [cl.Conv2D(1, 3), cl.MaxPooling2D(2, strides=1, dilation=2)]
    rf = cl.receptive_field(layers, input_shape=(16, 16))
    assert rf.size == (3 + 2, 3 + 2)  # the pool's two taps are 2 apart: 3 + 2*(2-1)
