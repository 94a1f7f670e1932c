"""The solver and the overlap analysis, checked against hand counts and brute force."""

from __future__ import annotations

import numpy as np
import pytest

from convtranspose.errors import ParameterError
from convtranspose.explain import SolveBounds, phase_tap_counts, solve
from oracle import conv_transpose_naive


def _out(n, k, s, p, op, d):
    # the output size formula, written out here independently of convtranspose.shape
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


@pytest.mark.parametrize(
    "kernel, stride, dilation, expected",
    [
        (4, 2, 1, (2, 2)),  # taps 0,1,2,3 -> phases 0,1,0,1
        (3, 2, 1, (2, 1)),  # taps 0,1,2 -> phases 0,1,0: uneven
        (2, 2, 2, (2, 0)),  # taps at 0 and 2: both even positions, odd ones get nothing
        (2, 2, 3, (1, 1)),  # taps at 0 and 3
        (3, 1, 2, (3,)),  # stride 1: a single phase
        (5, 3, 1, (2, 2, 1)),
    ],
)
def test_phase_tap_counts_by_hand(kernel, stride, dilation, expected):
    assert phase_tap_counts(kernel, stride, dilation) == expected


def test_solve_16_to_32():
    result = solve(16, 32)
    found = {(s.kernel_size, s.stride, s.padding, s.output_padding, s.dilation): s for s in result.solutions}
    # DCGAN's choice and the plain 2x2 "pixel shuffle" both appear, even
    assert not found[(4, 2, 1, 0, 1)].checkerboard_prone
    assert not found[(2, 2, 0, 0, 1)].checkerboard_prone
    # kernel 3, stride 2 needs output_padding 1 and overlaps unevenly
    assert found[(3, 2, 1, 1, 1)].checkerboard_prone and not found[(3, 2, 1, 1, 1)].gaps
    assert found[(1, 2, 0, 1, 1)].gaps
    # ranked: every even solution before every uneven one; best is the 2x2 stride-2 layer
    flags = [s.checkerboard_prone for s in result.solutions]
    assert flags == sorted(flags)
    assert (result.solutions[0].kernel_size, result.solutions[0].stride) == (2, 2)


@pytest.mark.parametrize("n, target", [(16, 32), (7, 14), (5, 11), (1, 1), (3, 100)])
def test_solve_is_complete_and_correct(n, target):
    bounds = SolveBounds(kernel=(1, 6), stride=(1, 3), padding=(0, 3), dilation=(1, 2))
    got = {(s.kernel_size, s.stride, s.padding, s.output_padding, s.dilation) for s in solve(n, target, bounds).solutions}
    brute = {
        (k, s, p, op, d)
        for k in range(1, 7)
        for s in range(1, 4)
        for p in range(0, 4)
        for d in range(1, 3)
        for op in range(max(s, d))
        if _out(n, k, s, p, op, d) == target and not (k == 1 and d > 1)
    }
    assert got == brute


def test_even_flag_matches_the_interior_of_a_real_overlap_map():
    # counts of terms per output cell = conv_transpose(ones, ones); look at the middle of an input
    # long enough (64) that the widest kernel copy (span 22) has inputs on both sides
    for s in solve(16, 32).solutions:
        ones = np.ones((1, 1, 64), dtype=np.int64)
        counts = conv_transpose_naive(
            ones, np.ones((1, 1, s.kernel_size), dtype=np.int64), stride=s.stride, dilation=s.dilation
        )[0, 0]
        interior = counts[len(counts) // 2 - 6 : len(counts) // 2 + 6]
        assert (len(set(interior.tolist())) == 1) == s.even, s
        assert (0 in interior.tolist()) == s.gaps, s


def test_solve_rejects_bad_input():
    with pytest.raises(ParameterError, match="input size must be between 1"):
        solve(0, 4)
    with pytest.raises(ParameterError, match="stride bounds"):
        solve(4, 8, SolveBounds(stride=(3, 2)))


def test_no_solution():
    # 10 -> 1 needs padding >= 5: with stride >= 1, out >= 10 + dilation*(kernel - 1) - 2*padding
    assert solve(10, 1).solutions == ()
    # with padding 5 allowed, kernel 2 works: (10 - 1) - 10 + (2 - 1) + 1 = 1
    assert (2, 1, 5) in {(s.kernel_size, s.stride, s.padding) for s in solve(10, 1, SolveBounds(padding=(0, 5))).solutions}
    assert len(solve(10, 2).solutions) == 1
