"""``convolab shape --stack``: receptive fields from the command line, run as a user runs it."""

import pytest
from test_cli import assert_one_line_error, convolab

import convolab as cl
from convolab.cli.shape import parse_stack


def test_stack_prints_shape_jump_and_field_per_layer(tmp_path):
    proc = convolab("shape", "--stack", "conv 3; conv 3 s2; pool 2; conv 3 d2",
                    "--input", "224x224", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["layer", "output", "jump", "field", "start", "centre"]
    assert [line.split()[-7:-4] for line in lines[1:6]] == [
        ["224x224", "1x1", "1x1"], ["222x222", "1x1", "3x3"], ["110x110", "2x2", "5x5"],
        ["55x55", "4x4", "7x7"], ["51x51", "4x4", "23x23"]]
    assert lines[5].startswith("4 conv 3 d2")
    assert ("output (i, j) of the last layer sees input rows 0 + 4*i to 22 + 4*i and columns "
            "0 + 4*j to 22 + 4*j (a 23x23 field)") in proc.stdout
    assert "holes" in proc.stdout  # dilation 2 on a jump of 4 over a 7-pixel field


def test_stack_output_is_the_librarys_table(tmp_path):
    stack = "conv 5x3 s2 p2x1; pool 3 s1 same; conv 3 d2 same_lower"
    proc = convolab("shape", "--stack", stack, "--input", "31x20", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    layers = [dict(kernel_size=(5, 3), strides=2, padding=(2, 1)),
              dict(pool_size=3, strides=1, padding="same"),
              dict(kernel_size=3, dilation_rate=2, padding="same_lower")]
    assert proc.stdout.startswith(cl.receptive_field(layers, (31, 20)).table() + "\n")


def test_stack_without_input_gives_fields_only_and_explain_gives_the_arithmetic(tmp_path):
    proc = convolab("shape", "--stack", "conv 3 same; conv 3 same", "--explain", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[3].split() == ["2", "conv", "3", "same", "-", "1x1", "5x5",
                                                   "(-2,", "-2)", "(0,", "0)"]
    assert "r = 3 + 1*(3-1)*1 = 5; start = -1 - 1*1 = -2" in proc.stdout
    assert "out =" not in proc.stdout


def test_shape_without_stack_still_explains_one_conv(tmp_path):
    proc = convolab("shape", "--input", "8", "--kernel", "3", "--padding", "same",
                    "--stride", "2", cwd=tmp_path)
    assert proc.returncode == 0 and "-> output 4x4" in proc.stdout


def test_help_documents_the_stack_grammar(tmp_path):
    proc = convolab("shape", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for fragment in ("--stack", "KIND", "conv or pool", "sN", "dN", "pN", "as in Keras"):
        assert fragment in proc.stdout


@pytest.mark.parametrize("args, fragments", [
    (["--stack", "conv 3; cnv 3"], ["layer 2 ('cnv 3')", "did you mean 'conv'?"]),
    (["--stack", "conv 3 q2"], ["layer 1", "unknown option 'q2'"]),
    (["--stack", "conv"], ["expected the conv's size"]),
    (["--stack", "conv 3x"], ["expected the conv's size"]),
    (["--stack", "conv 3 s0"], ["stride must be at least 1"]),
    (["--stack", "conv 3 s2 s3"], ["stride given twice"]),
    (["--stack", "conv 3 same p1"], ["padding given twice"]),
    (["--stack", "conv 3;; conv 3"], ["expected layers separated by ';'"]),
    (["--stack", ""], ["expected layers separated by ';'"]),
    (["--stack", "conv 3; conv 3 s2 same"], ["layer 2", "'same' with strides 2x2", "--input"]),
    (["--stack", "conv 3; conv 9", "--input", "8"], ["layer 2 ('conv 9')", "kernel_size"]),
    (["--stack", "conv 3", "--input", "8y8"], ["--input"]),
    (["--stack", "conv 3", "--kernel", "3"], ["drop --kernel"]),
    (["--stack", "conv 3", "--stride", "2", "--padding", "same"], ["drop --padding, --stride"]),
    (["--explain"], ["--explain: goes with --stack"]),
])
def test_bad_stack_gives_one_line(tmp_path, args, fragments):
    assert_one_line_error(convolab("shape", *args, cwd=tmp_path), *fragments)


def test_parse_stack_reads_the_grammar():
    layers, texts = parse_stack(" conv 5x3 s2x1 d2 p1x0 ; POOL 3 ; pool 2 s1 valid;")
    assert texts == ["conv 5x3 s2x1 d2 p1x0", "POOL 3", "pool 2 s1 valid"]
    assert layers == [
        dict(kernel_size=(5, 3), strides=(2, 1), dilation_rate=2, padding=(1, 0)),
        dict(pool_size=3, dilation_rate=1, padding="valid"),  # strides: the pool size
        dict(pool_size=2, strides=1, dilation_rate=1, padding="valid"),
    ]
