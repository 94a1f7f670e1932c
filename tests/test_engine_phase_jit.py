"""The ``phase_jit`` path's own parts: its two gathers, skipped windows, and how the cost model uses it.

Its results are also checked by every test that takes ``engine_path`` (torch autograd, the NumPy
loop references, padding modes, dtypes, chunking); here are the choices inside the path that those
tests reach only for some shapes.
"""

import numpy as np
import pytest

import convtranspose as ct
from convtranspose import engine
from convtranspose.engine import registry
from convtranspose.engine.phase_plan import live_windows, phase_groups, phase_plan
from convtranspose.plan import build_plan
from oracle import assert_close, conv_transpose_naive

jit_phase = pytest.importorskip("convtranspose.engine.jit_phase", reason="phase_jit needs numba (the 'jit' extra)")

CASES = [
    ((2, 3, 5, 6), (3, 4, 3, 3), dict(padding=1)),
    ((2, 4, 4, 5), (4, 2, 4, 3), dict(stride=(2, 3), padding=(1, 2), output_padding=(1, 0), dilation=(1, 2), groups=2)),
    ((1, 2, 3, 3, 4), (2, 3, 3, 2, 3), dict(stride=(1, 2, 1), padding=1)),
    ((3, 2, 9), (2, 2, 4), dict(stride=2, padding=1)),
    ((2, 4, 2, 2, 2), (4, 3, 5, 5, 5), dict(padding=2, groups=2)),
]
MODES = ["zeros", "reflect", "replicate", "circular"]
#: Every case in every mode it allows (reflect needs padding below the output size: not the last case).
CASE_MODES = [(case, mode) for case in CASES for mode in MODES if not (mode == "reflect" and case is CASES[-1])]


@pytest.mark.parametrize("mapped", [True, False], ids=["cell-table", "runs"])
@pytest.mark.parametrize("case, mode", CASE_MODES, ids=lambda c: c if isinstance(c, str) else f"x{c[0]}")
def test_both_gathers_match_the_reference(monkeypatch, mapped, mode, case):
    """The per-cell-table gather (short lines) and the run-wise one (long lines) give the same
    result as the NumPy loops, in every padding mode (torch's padding-mode reference is used by
    test_padding_modes for every path; here the zeros result is the reference's and a mode's is
    the 'phase' path's, an independent NumPy implementation of the fold)."""
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    monkeypatch.setattr(jit_phase, "MAPPED_MAX_WIDTH", 1 << 30 if mapped else 0)
    jit_phase.group_tables.cache_clear()
    try:
        with engine.use_path("phase_jit"):
            out = ct.conv_transpose(x, w, b, padding_mode=mode, **kwargs)
    finally:
        jit_phase.group_tables.cache_clear()
    if mode == "zeros":
        expected = conv_transpose_naive(x, w, b, **kwargs)
    else:
        with engine.use_path("phase"):
            expected = ct.conv_transpose(x, w, b, padding_mode=mode, **kwargs)
    assert_close(out, expected, np.float64, f"phase_jit forward, {'cell-table' if mapped else 'run-wise'} gather, {mode}")


@pytest.mark.parametrize(
    "input_size, kernel, stride, padding, dilation",
    [(2, 5, 1, 2, 1), (1, 5, 4, 1, 1), (3, 7, 3, 2, 1), (4, 3, 1, 2, 2), (6, 4, 2, 1, 1), (2, 7, 1, 3, 1)],
)
def test_live_windows_are_exactly_the_windows_that_touch_the_input(input_size, kernel, stride, padding, dilation):
    """Brute force: a window is live when one of its cells reads an input element (the others
    read only the padding, and skipping them changes no output)."""
    geo = _plan((1, 1, input_size, input_size), (1, 1, kernel, kernel), stride=stride, padding=padding, dilation=dilation).geometry
    margin = phase_plan(geo).margin_before
    for group in phase_groups(geo):
        touching = tuple(
            j for j, window in enumerate(group.windows)
            if all(any(0 <= i - before < input_size for i in range(w.start, w.stop)) for w, before in zip(window, margin))
        )
        assert live_windows(geo, group) == touching


def _plan(x_shape, w_shape, **kwargs):
    hyper = (kwargs.get("stride", 1), kwargs.get("padding", 0), kwargs.get("output_padding", 0),
             kwargs.get("groups", 1), kwargs.get("dilation", 1))
    f32 = np.dtype(np.float32)
    return build_plan("test", None, x_shape, f32, w_shape, f32, None, None, hyper)


def test_the_cost_model_skips_the_forward_phase_jit_replaces():
    """With phase_jit available the forward never goes to 'phase' (the same decomposition,
    slower); its backward still can, since phase_jit's backward is gemm_jit's."""
    assert registry.entry("phase_jit").replaces_forward == "phase"
    layers = [
        ((31, 10, 10, 20), (10, 117, 7, 7), dict(padding=1)),  # a 7x7 kernel over 10 channels
        ((1, 21, 64, 64), (21, 21, 16, 16), dict(stride=8, padding=4)),  # FCN's upscore8
        ((16, 10, 3, 6), (10, 128, 7, 7), dict(stride=3, padding=2)),
    ]
    backward_paths = set()
    for x_shape, w_shape, kwargs in layers:
        plan = engine.route(_plan(x_shape, w_shape, **kwargs))
        assert plan.forward_path != "phase", (x_shape, plan.forward_path)
        backward_paths.add(plan.backward_path)
    assert "phase" in backward_paths, backward_paths


def test_without_phase_jit_the_forward_can_go_to_phase(monkeypatch):
    monkeypatch.setattr(engine, "available_paths", lambda: ("small", "gemm", "phase"))
    plan = engine.route(_plan((31, 10, 10, 20), (10, 117, 7, 7), padding=1))
    assert plan.forward_path == "phase"
