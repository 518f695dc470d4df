"""The window arithmetic against the numbers the notes print."""

from fractions import Fraction

import pytest

from archcalc import arith


@pytest.mark.parametrize(
    "n, f, s, p, out",
    [
        (32, 5, 1, 0, 28),   # seed 000: (32-5)/1+1 = 28
        (7, 3, 1, 0, 5),     # seed 001/002: 7x7 with 3x3 at stride 1
        (7, 3, 2, 0, 3),     # ... at stride 2
        (11, 3, 1, 0, 9),    # seed 001 exercise: 11x11x1 sample, 3x3 filter, stride 1
        (11, 3, 2, 0, 5),    # ... stride 2
        (4, 3, 1, 1, 4),     # seed 001: OH = (4 + 2*1 - 3)/1 + 1 = 4
        (227, 11, 4, 0, 55), # AlexNet CONV1
        (55, 3, 2, 0, 27),   # AlexNet POOL1
        (27, 5, 1, 2, 27),   # AlexNet CONV2
        (13, 3, 2, 0, 6),    # AlexNet POOL3
        (7, 3, 1, 1, 7),     # seed 002: pad with 1 pixel border -> 7x7 output
    ],
)
def test_output_size_from_the_notes(n, f, s, p, out):
    assert arith.exact_out_size(n, f, s, p, p) == out
    assert arith.out_size(n, f, s, p, p, 1, "strict") == out


def test_stride_3_does_not_fit_and_shows_the_arithmetic():
    # seed 002: stride 3 => (7 - 3)/3 + 1 = 2.33 :\
    assert arith.exact_out_size(7, 3, 3) == Fraction(7, 3)
    assert arith.out_size(7, 3, 3, 0, 0, 1, "strict") is None
    assert arith.formula_text(7, 3, 3) == "(7 - 3)/3 + 1 = 2.33"
    assert arith.formula_text(7, 3, 2, 1, 1, spaced=True) == "(7 + 1 + 1 - 3) / 2 + 1 = 4"
    assert arith.floor_out_size(7, 3, 3) == 2
    assert arith.ceil_out_size(7, 3, 3) == 3


def test_same_padding_as_tensorflow():
    # seed 001: 11x11, 6x6 filter, stride 4, SAME: 3 more cells (11 -> 14), 1 before and 2 after, output 3
    assert arith.same_padding(11, 6, 4) == (1, 2)
    assert arith.same_out_size(11, 4) == 3
    # seed 000: 28x28 through a 3x3 conv at stride 2 SAME -> 14
    assert arith.same_out_size(28, 2) == 14
    assert arith.same_padding(28, 3, 2) == (0, 1)
    # MNIST: 7 -> 4 with a 2x2 SAME pool at stride 2 (seed 000's (?, 4, 4, 128))
    assert arith.same_out_size(7, 2) == 4
    assert arith.same_padding(7, 2, 2) == (0, 1)
    # 3x3 image, 2x2 filter, stride 1 SAME: one pixel after (the notes' [[12, 16, 9], ...])
    assert arith.same_padding(3, 2, 1) == (0, 1)


def test_ceil_mode_last_window_must_start_inside():
    # PyTorch: ceil((5 + 1 + 1 - 2)/2) + 1 = 4, but window 3 would start at 6 >= 5 + 1: drop it
    assert arith.ceil_out_size(5, 2, 2, 1, 1) == 3
    assert arith.ceil_out_size(112, 3, 2) == 56   # GoogLeNet's ceil-mode pool: 111/2 = 55.5 -> 56
    assert arith.floor_out_size(112, 3, 2) == 55


def test_dilation_widens_the_kernel():
    assert arith.effective_kernel(3, 2) == 5
    assert arith.exact_out_size(7, 3, 1, 0, 0, 2) == 3
    assert arith.formula_text(7, 3, 1, 0, 0, 2) == "(7 - (2*(3 - 1) + 1))/1 + 1 = 3"


def test_fit_suggestions_name_paddings_and_strides_that_work():
    hint = arith.fit_suggestion(7, 3, 3)
    assert "padding 1 gives 3" in hint
    assert "stride 2 gives 3" in hint
    assert "padding same gives 3" in hint  # ceil(7 / 3)
    assert "stride 4" not in hint  # a stride longer than the kernel skips input pixels: calc never offered it
    assert arith.fitting_strides(7, 3) == [(1, 5), (2, 3), (4, 2)]
    assert "padding 4" not in hint  # no padding as large as the kernel: its windows would read only zeros


def test_fit_suggestion_splits_odd_padding_before_and_after():
    # AlexNet on the paper's 224: (224 - 11)/4 + 1 = 54.25; 1 before and 2 after gives 55
    assert arith.fitting_pad_pairs(224, 11, 4)[0] == (1, 2, 55)
    assert "padding 1 before and 2 after gives 55" in arith.fit_suggestion(224, 11, 4)


def test_conv_params_and_macs():
    # seed 003: AlexNet CONV1 (11*11*3)*96 = 34,848 weights, + 96 biases
    assert arith.conv_params((11, 11), 3, 96) == 34_848
    assert arith.conv_params((11, 11), 3, 96, bias=96) == 34_944
    assert arith.conv_macs((55, 55), (11, 11), 3, 96) == 55 * 55 * 96 * 11 * 11 * 3
    assert arith.conv_params((3, 3), 64, 64, groups=64) == 576


def test_notes_exercise_28x32_pad_2_stride_2_does_not_fit():
    # seed 001 asks "(2) input (28, 32), filter (5, 5), padding 2, stride 2 ??": 14.5 x 16.5, not whole;
    # PyTorch and Keras floor it silently to 14 x 16.
    assert arith.exact_out_size(28, 5, 2, 2, 2) == Fraction(29, 2)
    assert arith.exact_out_size(32, 5, 2, 2, 2) == Fraction(33, 2)
    assert arith.formula_text(28, 5, 2, 2, 2) == "(28 + 2 + 2 - 5)/2 + 1 = 14.5"
    assert (arith.floor_out_size(28, 5, 2, 2, 2), arith.floor_out_size(32, 5, 2, 2, 2)) == (14, 16)


def test_tensorflow_valid_floors_and_drops_the_last_column():
    # seed 001: 11x11, 6x6 filter, stride 4, VALID -> (2, 2, 1); the last column is "thrown away"
    assert arith.exact_out_size(11, 6, 4) == Fraction(9, 4)
    assert arith.floor_out_size(11, 6, 4) == 2
    assert arith.unread(11, 6, 4, 0, 0, 1, 2) == 1
