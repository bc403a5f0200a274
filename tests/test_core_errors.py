"""Bad input gets a clear error that names the argument, what was given and what is allowed."""

import numpy as np
import pytest

import convolab as cl

X = np.zeros((1, 5, 5, 4))
W = np.zeros((3, 3, 4, 2))


def test_wrong_x_ndim():
    with pytest.raises(ValueError, match=r"x: expected a 4-D NHWC \(N, H, W, C\).*got 2-D"):
        cl.conv2d(np.zeros((5, 5)), W)


def test_wrong_w_ndim():
    with pytest.raises(ValueError,
                       match=r"w: expected a 4-D HWIO \(kh, kw, C/groups, O\) kernel.*got 2-D"):
        cl.conv2d(X, np.zeros((3, 3)))


def test_channel_mismatch_names_both_counts():
    with pytest.raises(ValueError, match=r"x: has C=4 channels but w expects C/groups=3"):
        cl.conv2d(X, np.zeros((3, 3, 3, 2)))


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="groups: must divide the input channels C=4, got gr"):
        cl.conv2d(X, np.zeros((3, 3, 1, 3)), groups=3)


def test_groups_must_divide_output_channels():
    with pytest.raises(ValueError, match="groups: must divide the output channels O=3"):
        cl.conv2d(X, np.zeros((3, 3, 2, 3)), groups=2)


@pytest.mark.parametrize("groups", [0, -2, 1.5, True])
def test_groups_must_be_a_positive_int(groups):
    with pytest.raises(ValueError, match="groups: expected a positive int"):
        cl.conv2d(X, W, groups=groups)


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match="dilated kernel height 7"):
        cl.conv2d(X, np.zeros((4, 1, 4, 1)), dilation=2)


def test_kernel_larger_than_input_is_fine_once_padded():
    assert cl.conv2d(X, np.zeros((7, 7, 4, 1)), padding=1).shape == (1, 1, 1, 1)


@pytest.mark.parametrize(("kw", "exc", "pattern"), [
    (dict(stride=0), ValueError, "stride: expected"),
    (dict(stride=(1, 0)), ValueError, r"received stride=\(1, 0\)"),
    (dict(stride=1.0), TypeError, "stride: expected"),
    (dict(dilation=0), ValueError, "dilation: expected"),
    (dict(dilation="2"), TypeError, "dilation: expected"),
    (dict(padding="sam"), ValueError, "did you mean 'same'"),
    (dict(padding=-1), ValueError, "padding: expected amounts >= 0"),
    (dict(padding_mode="reflekt"), ValueError, "padding_mode.*did you mean 'reflect'"),
    (dict(padding=5, padding_mode="reflect"), ValueError, "reflect"),
    (dict(data_format="NWHC"), ValueError, "data_format: expected 'NHWC'"),
    (dict(kernel_format="IOHW"), ValueError,
     "kernel_format: expected 'HWIO' or 'channels_last', 'OIHW'"),
    (dict(algorithm="im2cl"), ValueError, "algorithm: .*did you mean 'im2col'"),
])
def test_bad_keyword_arguments(kw, exc, pattern):
    with pytest.raises(exc, match=pattern):
        cl.conv2d(X, W, **kw)


@pytest.mark.parametrize("dtype", [np.complex64, object, "U3"])
def test_non_real_dtypes_are_rejected(dtype):
    with pytest.raises(TypeError, match="x: expected a real"):
        cl.conv2d(X.astype(dtype), W)


def test_ragged_input_is_a_type_error():
    with pytest.raises(TypeError, match="X: expected a numeric array"):
        cl.corr2d([[1, 2], [3]], [[1]])


def test_bias_of_wrong_length():
    with pytest.raises(ValueError, match=r"bias: expected shape \(2,\).*got \(3,\)"):
        cl.conv2d(X, W, np.zeros(3))


def test_bias_of_wrong_ndim():
    with pytest.raises(ValueError, match="bias: expected a 1-D"):
        cl.conv2d(X, W, np.zeros((2, 1)))


def test_corr2d_wants_2d_arrays():
    with pytest.raises(ValueError, match="K: expected a 2-D array, got 3-D"):
        cl.corr2d(np.zeros((4, 4)), np.zeros((2, 2, 1)))


def test_zero_sized_kernel():
    with pytest.raises(ValueError, match="w: every kernel dimension must be >= 1"):
        cl.conv2d(X, np.zeros((0, 3, 4, 2)))


def test_zero_sized_image_is_valid_only_where_padding_fits_the_kernel():
    # TensorFlow's rule (issue 11 item 8): padded height 0 + 2 + 2 fits 3 rows
    assert cl.conv2d(np.zeros((1, 0, 5, 4)), W, padding=2).shape == (1, 2, 7, 2)
    with pytest.raises(ValueError, match="kernel_size: the dilated kernel height 3"):
        cl.conv2d(np.zeros((1, 0, 5, 4)), W, padding=((0, 1), (1, 1)))


def test_algorithm_must_be_a_name():
    with pytest.raises(TypeError, match=r"algorithm: expected a name \(str\), got list"):
        cl.conv2d(X, W, algorithm=["im2col"])


def test_backward_bias_flag_must_be_a_bool():
    gy = np.zeros((1, 3, 3, 2))
    with pytest.raises(TypeError, match="bias: expected True or False"):
        cl.conv2d_backward(gy, X, W, bias=np.ones(2))


def test_dask_arrays_are_refused_where_they_would_be_computed_silently():
    da = pytest.importorskip("dask.array")
    gy = da.zeros((1, 3, 3, 2))
    with pytest.raises(TypeError, match=r"grad_y: a Dask array .* grad_y.compute\(\)"):
        cl.conv2d_backward(gy, X, W)
    with pytest.raises(TypeError, match="x: a Dask array"):
        cl.conv_transpose2d(da.zeros((1, 3, 3, 2)), W)
