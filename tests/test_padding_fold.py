"""The fold (adjoint of a padding mode) and the padding forms' pure rules.

The fold is checked against torch: ``torch.autograd.grad`` of ``F.pad(x, pads, mode)`` with respect
to ``x`` at a random cotangent is, by definition, the adjoint of the padding applied to that
cotangent, which is what :func:`convtranspose.padding.fold` must compute. ``pad`` is checked against
``F.pad`` itself, and the pair by the adjoint identity <pad(x), c> = <x, fold(c)>.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convtranspose.errors import ParameterError, ParameterTypeError
from convtranspose.padding import (
    PADDING_MODES,
    axis_padding,
    check_padding_mode,
    fold,
    normalize_padding,
    normalize_padding_mode,
    pad,
    resolve_padding,
)

TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _torch_pad_list(pads):
    """F.pad wants (last axis before, after, previous axis before, after, ...)."""
    return [w for pair in reversed(pads) for w in pair]


@st.composite
def fold_cases(draw):
    ndim = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(PADDING_MODES))
    sizes, pads = [], []
    for _ in range(ndim):
        out = draw(st.integers(1, 6))
        limit = {"reflect": out - 1, "circular": out}.get(mode, 5)
        pads.append((draw(st.integers(0, limit)), draw(st.integers(0, limit))))
        sizes.append(out)
    lead = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))  # F.pad's modes want (N, C, *S)
    return mode, lead + tuple(sizes), tuple(pads), draw(st.integers(0, 2**32 - 1))


@given(fold_cases())
def test_fold_is_torch_pad_vjp(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    mode, shape, pads, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    padded = F.pad(tx, _torch_pad_list(pads), mode=TORCH_MODE[mode])
    np.testing.assert_array_equal(pad(x, pads, mode), padded.detach().numpy())
    cotangent = rng.standard_normal(tuple(padded.shape))
    (expected,) = torch.autograd.grad(padded, tx, torch.tensor(cotangent))
    canvas = cotangent.copy()
    ours = fold(canvas, pads, mode)
    assert ours.shape == shape
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-12, atol=1e-12)
    # adjoint identity, independent of torch
    np.testing.assert_allclose(np.vdot(pad(x, pads, mode), cotangent), np.vdot(x, ours), rtol=1e-10)


def test_fold_examples_by_hand():
    canvas = np.array([10.0, 20.0, 1.0, 2.0, 3.0, 30.0])  # border (10, 20) | 1 2 3 | (30)
    # reflect: pad([x0 x1 x2], (2, 1)) = [x2 x1 | x0 x1 x2 | x1]: 10 -> x2, 20 -> x1, 30 -> x1
    assert fold(canvas.copy(), ((2, 1),), "reflect").tolist() == [1.0, 2 + 20 + 30, 3 + 10]
    # circular: [x1 x2 | x0 x1 x2 | x0]
    assert fold(canvas.copy(), ((2, 1),), "circular").tolist() == [1 + 30, 2 + 10, 3 + 20]
    # replicate: [x0 x0 | x0 x1 x2 | x2]
    assert fold(canvas.copy(), ((2, 1),), "replicate").tolist() == [1 + 30, 2, 3 + 30]
    assert fold(canvas.copy(), ((2, 1),), "zeros").tolist() == [1, 2, 3]


def test_fold_complex_and_int():
    canvas = np.arange(12, dtype=np.int64).reshape(3, 4)
    out = fold(canvas.copy(), ((1, 1), (1, 0)), "replicate")
    # rows 0 and 2 fold onto row 1; column 0 folds onto column 1
    assert out.tolist() == [[0 + 4 + 8 + 1 + 5 + 9, 2 + 6 + 10, 3 + 7 + 11]]
    z = (np.arange(5) + 1j * np.arange(5)).astype(np.complex128)
    assert fold(z.copy(), ((1, 1),), "circular").tolist() == [1 + 4 + 1j * (1 + 4), 2 + 2j, 3 + 3j + 0]


# --------------------------------------------------------------------------------------------
# Forms
# --------------------------------------------------------------------------------------------


def test_forms_normalize():
    assert normalize_padding(2, 3) == ((2, 2),) * 3
    assert normalize_padding((1, 2), 2) == ((1, 1), (2, 2))  # flat: PyTorch's meaning
    assert normalize_padding(((1, 2), (0, 1)), 2) == ((1, 2), (0, 1))
    assert normalize_padding([[1, 2], 3], 2) == ((1, 2), (3, 3))
    for name in ("valid", "same", "same_lower"):
        assert normalize_padding(name, 2) == name


@pytest.mark.parametrize(
    "padding, error, message",
    [
        ("SAME", ParameterError, "padding string must be one of 'valid', 'same', 'same_lower', got padding='SAME'"),
        (1.5, ParameterTypeError, "padding must be an int, a sequence of 2 ints or (before, after) pairs"),
        ((1, 2, 3), ParameterError, "sequence of 2 values (ints or (before, after) pairs)"),
        (((1, 2, 3), 0), ParameterError, "dimension 0 has 3 entries: (1, 2, 3)"),
        (((1, 2.0), 0), ParameterTypeError, "offending entry 2.0 of type float in dimension 0"),
        ((0, "a"), ParameterTypeError, "offending entry 'a' of type str in dimension 1"),
        (((1, -1), 0), ParameterError, "padding must be non-negative (>= 0), got padding=((1, -1), (0, 0)) (dimension 0: (before, after) = (1, -1))"),
        ((True, 1), ParameterTypeError, "offending entry True of type bool"),
        (2**63, ParameterError, "padding must be at most 2**62"),
    ],
)
def test_form_errors(padding, error, message):
    with pytest.raises(error) as info:
        normalize_padding(padding, 2)
    assert message in str(info.value)


def test_mode_errors():
    with pytest.raises(ParameterError, match=r"padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got padding_mode='mirror'"):
        normalize_padding_mode("mirror")
    with pytest.raises(ParameterTypeError, match=r"padding_mode must be a str.*got 1 of type int"):
        normalize_padding_mode(1)
    with pytest.raises(ParameterError, match=r"padding_mode='circular' needs padding at most the output size.*dimension 1 has padding \(before, after\) = \(0, 4\) for an output of size 3.*valid range 0..3"):
        check_padding_mode("circular", ((1, 1), (0, 4)), (5, 3))
    with pytest.raises(ParameterError, match=r"padding_mode='reflect' needs padding smaller.*\(before, after\) = \(3, 0\) for an output of size 3 \(padding=\(3, 0\)\) \(valid range 0..2\)"):
        check_padding_mode("reflect", ((3, 0),), (3,), padding=(3, 0))
    check_padding_mode("circular", ((3, 3),), (3,))
    check_padding_mode("replicate", ((9, 9),), (1,))


@pytest.mark.parametrize("k, s, d, op", [(k, s, d, op) for k in range(1, 6) for s in range(1, 5) for d in (1, 2)
                                          for op in range(max(s, d))])
def test_same_gives_input_times_stride(k, s, d, op):
    for form in ("same", "same_lower"):
        (pair,), (op_eff,) = resolve_padding(form, (k,), (s,), (d,), (op,))
        assert min(pair) >= 0 and op_eff < max(s, d)
        for n in (1, 2, 5):
            full = (n - 1) * s + d * (k - 1) + 1
            assert full + op_eff - sum(pair) == n * s
        assert abs(pair[0] - pair[1]) <= 1
        if sum(pair) % 2:
            assert (pair[1] > pair[0]) == (form == "same")


def test_valid_and_explicit():
    assert axis_padding("valid", 0, 3, 2, 1, 1) == (0, 0, 1)
    assert axis_padding(((1, 2), (3, 4)), 1, 3, 2, 1, 1) == (3, 4, 1)


@given(fold_cases())
def test_fold_sources_add_up_to_the_fold(case):
    from convtranspose.padding import fold_sources

    mode, shape, pads, seed = case
    spatial = shape[2:]
    out = tuple(n for n in spatial)
    canvas = np.random.default_rng(seed).standard_normal(tuple(b + o + a for (b, a), o in zip(pads, out)))
    expected = fold(canvas.copy(), pads, mode)
    by_moves = canvas[tuple(slice(b, b + o) for (b, _), o in zip(pads, out))].copy()
    for source, target in fold_sources(pads, out, mode):
        if mode != "zeros":
            by_moves[target] += canvas[source]
    np.testing.assert_allclose(by_moves, expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# The fold as the engine's kernels use it: an index map, and pieces of arithmetic progressions
# --------------------------------------------------------------------------------------------


@st.composite
def _progressions(draw):
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    out = draw(st.integers(1, 9))
    widest = out - 1 if mode == "reflect" else out
    before, after = draw(st.integers(0, widest)), draw(st.integers(0, widest))
    step = draw(st.integers(1, 5))
    first = draw(st.integers(-before, out + after - 1))
    count = draw(st.integers(0, (out + after - 1 - first) // step + 1))
    return mode, out, before, after, first, step, count


@settings(max_examples=500)
@given(_progressions())
def test_fold_pieces_add_each_position_where_fold_positions_sends_it(case):
    from convtranspose.padding import fold_pieces, fold_positions, source_index

    mode, out, before, _after, first, step, count = case
    positions = first + step * np.arange(count)
    values = np.random.default_rng(count).standard_normal(count)
    # Reference: the scalar rule of the paired convolution's padding, cell by cell.
    expected = np.zeros(out)
    for p, v in zip(positions, values):
        cell = source_index(int(p) + before, before, out, mode)
        if cell is not None:
            expected[cell] += v
    landing = fold_positions(positions, out, mode)
    np.testing.assert_array_equal(landing >= 0, [source_index(int(p) + before, before, out, mode) is not None for p in positions])
    got = np.zeros(out)
    covered = np.zeros(count, dtype=int)
    for piece in fold_pieces(first, step, count, out, mode):
        part = values[piece.source]
        covered[piece.source] += 1
        if piece.reduce:
            assert got[piece.target].size == 1
            got[piece.target] += part.sum()
        else:
            assert got[piece.target].size == part.size  # distinct cells, one per member
            got[piece.target] += part
        assert piece.inside == bool(np.all((positions[piece.source] >= 0) & (positions[piece.source] < out)))
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert set(covered[landing >= 0]) <= {1} and not covered[landing < 0].any()
