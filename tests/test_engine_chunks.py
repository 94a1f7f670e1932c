"""Every engine path gives the same answer when its work is split into many small chunks.

The paths bound their working buffers by processing the batch (and, in ``gemm_jit``, ranges of
input positions or of output channels; in ``phase_jit``, ranges of a phase grid's lines) in chunks. Real layers need large inputs to trigger that; here the budget is
shrunk instead, so that small cases run through the chunked code, compared with torch autograd (or,
without torch, the NumPy loop references) and, for the compiled path's special scatters, with the
NumPy loop references.
"""

import importlib

import numpy as np
import pytest

import convtranspose as ct
from convtranspose import engine
from oracle import assert_close, assert_matches_autograd, conv_transpose_naive, naive_gradients

CASES = [
    ((3, 3, 9, 7), (3, 4, 3, 2), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 20), (4, 2, 5), dict(stride=3, padding=2, dilation=2)),
    ((2, 2, 5, 4, 3), (2, 3, 2, 3, 2), dict(stride=(2, 1, 2))),
    ((2, 4, 6, 6), (4, 1, 2, 2), dict(stride=2, groups=4)),
    ((1, 6, 11), (6, 3, 3), dict(stride=2, padding=1, groups=2)),
    # Weight larger than the input (HiFi-GAN's first upsampler in miniature): gemm_jit chunks
    # by output channels instead of input positions.
    ((1, 4, 3), (4, 6, 8), dict(stride=4, padding=2)),
    ((2, 3, 2), (3, 5, 4), dict(stride=3, padding=1, output_padding=2)),
    ((1, 4, 2, 2), (4, 3, 3, 3), dict(stride=2, padding=1, groups=2)),
    # Stride 1 (phase_jit: one phase, split into ranges of grid lines within an item), 1-d with
    # lines long enough for phase_jit's run-wise gather, and a large kernel over a tiny input
    # (windows entirely in the padding are skipped).
    ((2, 3, 6, 7), (3, 4, 3, 3), dict(padding=1, dilation=(1, 2))),
    ((1, 2, 70), (2, 3, 5), dict(padding=2)),
    ((2, 4, 2, 2, 2), (4, 3, 5, 5, 5), dict(padding=2, groups=2)),
]


@pytest.fixture
def tiny_budget(monkeypatch):
    for name in ("gemm", "phase", "jit_gemm", "jit_phase"):
        try:
            module = importlib.import_module(f"convtranspose.engine.{name}")
        except ImportError:  # jit_gemm and jit_phase (the compiled kernels) need numba (the 'jit' extra)
            continue
        if hasattr(module, "MIN_PATCH_BUDGET_BYTES"):
            monkeypatch.setattr(module, "MIN_PATCH_BUDGET_BYTES", 256)
        for name in ("buffer_budget", "forward_budget", "backward_budget"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, lambda output_bytes: 256)
        if hasattr(module, "accumulation_budget"):  # the weight gradient added a column at a time
            monkeypatch.setattr(module, "accumulation_budget", lambda largest_gradient_bytes: 1)
        if hasattr(module, "COLUMN_BUDGET_BYTES"):
            monkeypatch.setattr(module, "COLUMN_BUDGET_BYTES", 256)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"x{c[0]}")
def test_chunked_paths_match_torch(tiny_budget, engine_path, case):
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    assert_matches_autograd(x, w, b, engine_path, **kwargs)


def test_gemm_jit_chunks_by_channels_when_the_weight_is_larger(tiny_budget, monkeypatch):
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    calls = []
    original = gemm_jit._forward_by_channels
    monkeypatch.setattr(gemm_jit, "_forward_by_channels", lambda *a: calls.append(1) or original(*a))
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 4, 3)), rng.standard_normal((4, 6, 8))
    with engine.use_path("gemm_jit"):
        ct.conv_transpose(x, w, stride=4, padding=2)
        assert calls, "a weight larger than the input should be chunked by output channels"
        calls.clear()
        # A batch of small items with a larger weight (dcgan.2 in miniature): one item's columns
        # fit the budget, the batch's do not; by channels too.
        x, w = rng.standard_normal((3, 2, 2, 1)), rng.standard_normal((2, 3, 3, 1))
        assert_close(ct.conv_transpose(x, w, stride=2), conv_transpose_naive(x, w, stride=2))
        assert calls, "a batch of items with a larger weight should be chunked by output channels"
        calls.clear()
        ct.conv_transpose(rng.standard_normal((1, 4, 40)), rng.standard_normal((4, 1, 2)), stride=2)
        assert not calls, "an input larger than the weight should be chunked by positions"


@pytest.mark.parametrize("budget", [8192, None])
def test_gemm_jit_position_major_columns_match_the_reference(monkeypatch, budget):
    """Many positions and line-sized tap runs: the columns are computed position-major.

    With the 8 KB budget each batch item is split into 51 + 12 input positions: the first range
    is scattered position-major, the 12-position remainder (fewer columns than the 16 rows)
    row-major, into the same output rows.
    """
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    if budget is not None:
        monkeypatch.setattr(gemm_jit, "forward_budget", lambda output_bytes: budget)
    calls = []
    original = gemm_jit._col2im_position_major
    monkeypatch.setattr(gemm_jit, "_col2im_position_major", lambda *a: calls.append(1) or original(*a))
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((3, 4, 9, 7)), rng.standard_normal((4, 1, 4, 4)), rng.standard_normal(1)
    kwargs = dict(stride=2, padding=1, output_padding=(1, 0))
    expected = conv_transpose_naive(x, w, b, **kwargs)
    with engine.use_path("gemm_jit"):
        out = ct.conv_transpose(x, w, b, **kwargs)
    assert len(calls) == (3 if budget else 1), "expected the position-major scatter (once per item with the budget)"
    assert_close(out, expected, np.float64)


TILING_CASES = [
    ((2, 3, 5), (3, 2, 3), dict(stride=3)),
    ((2, 3, 4, 5), (3, 4, 2, 2), dict(stride=2)),
    ((1, 4, 3, 4), (4, 2, 2, 3), dict(stride=(2, 3), groups=2)),
    ((2, 2, 2, 3, 4), (2, 3, 2, 1, 2), dict(stride=(2, 1, 2))),
]


@pytest.mark.parametrize("budget", [512, None])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("case", TILING_CASES, ids=lambda c: f"x{c[0]}")
def test_gemm_jit_tiling_scatter_matches_the_reference(monkeypatch, case, with_bias, budget):
    """kernel == stride: the line-by-line tiling scatter, whole items or chunks of input lines."""
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    if budget is not None:
        monkeypatch.setattr(gemm_jit, "forward_budget", lambda output_bytes: budget)
    calls = []
    original = gemm_jit._tile_rows
    monkeypatch.setattr(gemm_jit, "_tile_rows", lambda *a: calls.append(a[3]) or original(*a))
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1)) if with_bias else None
    expected = conv_transpose_naive(x, w, b, **kwargs)
    with engine.use_path("gemm_jit"):
        out = ct.conv_transpose(x, w, b, **kwargs)
    assert_close(out, expected, np.float64)
    assert calls, "expected the tiling scatter"
    if budget is not None and len(x_shape) > 3:  # (a 1-d item is one input line: nothing to split)
        assert any(first_line > 0 for first_line in calls), "the small budget should split items by input lines"


def _blas_threads(numpys_only=False):
    """Thread counts of the loaded BLAS pools (NumPy's only: its wheels ship their BLAS in
    numpy.libs; another BLAS, such as SciPy's, may be loaded too)."""
    from threadpoolctl import threadpool_info

    return [
        pool["num_threads"] for pool in threadpool_info()
        if pool["user_api"] == "blas" and (not numpys_only or "numpy" in pool["filepath"])
    ]


def _two_threads_recording(monkeypatch, parts_function, **settings):
    """For the split fixtures: ``gemm_jit`` with ``settings`` (module constants) and two engine
    threads; yields the module and the list of what ``parts_function`` returned, one entry per call."""
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    pytest.importorskip("threadpoolctl")  # the splits need it (they set the BLAS threads to one)
    for name, value in settings.items():
        monkeypatch.setattr(gemm_jit, name, value)
    splits = []
    original = getattr(gemm_jit, parts_function)
    monkeypatch.setattr(gemm_jit, parts_function, lambda *a: splits.append(original(*a)) or splits[-1])
    previous = engine.get_num_threads()
    engine.set_num_threads(2)
    try:
        yield gemm_jit, splits
    finally:
        engine.set_num_threads(previous)


@pytest.fixture
def split_backward(monkeypatch):
    """Two engine threads, and ``gemm_jit``'s backward split by input channels however small the
    call: each thread computes both gradients' rows of its channels, on one BLAS thread. Yields
    the module and the list of the splits it made (one list of channel ranges per call)."""
    yield from _two_threads_recording(monkeypatch, "_channel_parts", MIN_PART_CHANNELS=1, MIN_PARALLEL_MACS=0)


@pytest.mark.parametrize("budget", [None, 600])
@pytest.mark.parametrize("case", CASES + TILING_CASES, ids=lambda c: f"x{c[0]}-w{c[1]}")
def test_gemm_jit_backward_split_by_input_channels_matches_torch(split_backward, monkeypatch, case, budget):
    """The split backward, whole batches in one chunk and (600-byte budget) chunks of single items
    or of ranges of an item's positions, the weight gradient accumulated a column at a time:
    every channel range's rows land in both gradients, in every group."""
    gemm_jit, splits = split_backward
    if budget is not None:
        monkeypatch.setattr(gemm_jit, "backward_budget", lambda largest_gradient_bytes: budget)
        monkeypatch.setattr(gemm_jit, "accumulation_budget", lambda largest_gradient_bytes: 1)
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(13)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    assert_matches_autograd(x, w, b, "gemm_jit", **kwargs)
    per_group_in = x_shape[1] // kwargs.get("groups", 1)
    depthwise = kwargs.get("groups", 1) == x_shape[1]  # depthwise layers have kernels of their own
    if per_group_in >= 2 and not depthwise:
        assert splits and all(len(parts) == 2 for parts in splits), splits


def test_gemm_jit_split_backward_runs_one_blas_thread_and_restores_the_count(split_backward, monkeypatch):
    """Within the split backward every GEMM runs on one BLAS thread; afterwards the BLAS pools have
    their thread counts back, also when the call fails. Backwards run from other threads (several
    at once), which cannot set the count (threads.blas_limit), run unsplit and give the right
    gradients."""
    from concurrent.futures import ThreadPoolExecutor

    gemm_jit, splits = split_backward
    blas_threads = _blas_threads

    before = blas_threads()
    seen = []
    original = gemm_jit.accumulate_matmul
    monkeypatch.setattr(gemm_jit, "accumulate_matmul", lambda *a: seen.append(blas_threads(True)) or original(*a))
    rng = np.random.default_rng(14)
    x, w = rng.standard_normal((3, 4, 5, 6)), rng.standard_normal((4, 3, 4, 4))
    grad_y = rng.standard_normal(ct.conv_transpose(x, w, stride=2, padding=1).shape)
    expected = naive_gradients(x, w, grad_y, stride=2, padding=1)

    def call(_=None):
        with engine.use_path("gemm_jit"):
            return ct.conv_transpose_backward(grad_y, x, w, stride=2, padding=1)

    for ours, theirs in zip(call(), expected):
        assert_close(ours, theirs, np.float64)
    if not blas_threads(numpys_only=True):
        pytest.skip("NumPy's BLAS is not the one its wheels ship: cannot tell which pool is NumPy's")
    assert len(seen) == 2 and all(counts == [1] for counts in seen), seen  # one GEMM per channel range
    assert blas_threads() == before
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(call, range(6)))
    for gradients in results:
        for ours, theirs in zip(gradients, expected):
            assert_close(ours, theirs, np.float64)
    assert blas_threads() == before
    monkeypatch.setattr(gemm_jit, "accumulate_matmul", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        call()
    assert blas_threads() == before


PER_ITEM_CASES = CASES + TILING_CASES + [((3, 4, 9, 7), (4, 1, 4, 4), dict(stride=2, padding=1, output_padding=(1, 0)))]


@pytest.mark.parametrize("case", PER_ITEM_CASES, ids=lambda c: f"x{c[0]}-w{c[1]}")
def test_gemm_jit_per_item_gemms_match_torch(monkeypatch, case):
    """One group and wide items: one GEMM per item, read straight from x (every scatter kernel),
    and the input gradient written straight into grad_input."""
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    monkeypatch.setattr(gemm_jit, "PER_ITEM_GEMM_MIN_POSITIONS", 1)
    calls = []
    original = gemm_jit._per_item_columns
    monkeypatch.setattr(gemm_jit, "_per_item_columns", lambda *a: calls.append(1) or original(*a))
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(12)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    assert_matches_autograd(x, w, b, "gemm_jit", **kwargs)
    # Per-item GEMMs need one group and a chunk of several items (and not a depthwise layer,
    # which has kernels of its own); these small cases fit one chunk.
    expected_per_item = kwargs.get("groups", 1) == 1 and x_shape[0] > 1 and x_shape[1] > 1
    assert bool(calls) == expected_per_item


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "case",
    [
        # position-major columns (16 taps of 8 bytes) and row-major ones (3 taps), a batch and one item
        ((3, 2, 3, 4), (2, 3, 4, 4), dict(stride=(2, 2), padding=(1, 1))),
        ((2, 3, 5), (3, 4, 3), dict(stride=(1,), padding=(1,))),
    ],
    ids=lambda c: f"x{c[0]}" if isinstance(c, tuple) else c,
)
def test_gemm_jit_channel_chunks_fold_padding_modes(tiny_budget, monkeypatch, mode, case):
    """The channel-chunked forward (weight larger than the input) folds a padding mode's border
    like the definition: torch's VJP of ``conv(F.pad(x, mode))``."""
    pytest.importorskip("torch")
    from padding_oracle import torch_vjp

    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    calls = []
    original = gemm_jit._forward_by_channels
    monkeypatch.setattr(gemm_jit, "_forward_by_channels", lambda *a: calls.append(1) or original(*a))
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])
    pads = tuple((p, p) for p in kwargs["padding"])
    expected, _ = torch_vjp(
        x, w, b, pads=pads, ops=(0,) * len(pads), mode=mode, stride=kwargs["stride"], dilation=(1,) * len(pads), groups=1
    )
    with engine.use_path("gemm_jit"):
        out = ct.conv_transpose(x, w, b, padding_mode=mode, **kwargs)
    assert calls, "a weight larger than the input should be chunked by output channels"
    assert_close(out, expected.detach().numpy(), np.float64)


@pytest.fixture
def split_forward(monkeypatch):
    """Two engine threads, and ``gemm_jit``'s forward split into one part per thread however small
    the call. Yields the module and the list of the splits it made (one list of parts per call)."""
    yield from _two_threads_recording(
        monkeypatch, "_forward_parts", MIN_PARALLEL_FORWARD_MACS=0, MIN_CHANNEL_SPLIT_MACS=0, MIN_CHANNEL_SPLIT_POSITIONS=0
    )


def _expected_parts(x_shape, w_shape, kwargs):
    """How the forward split should divide these operands over two threads: 'batch', 'channels' or None."""
    n, per_group_out = x_shape[0], w_shape[1]
    if n >= 2 and n % 2 == 0:
        return "batch"
    if per_group_out >= 2:
        return "channels"
    return "batch" if n >= 2 else None


@pytest.mark.parametrize("budget", [None, 600])
@pytest.mark.parametrize("case", CASES + TILING_CASES + PER_ITEM_CASES[-1:], ids=lambda c: f"x{c[0]}-w{c[1]}")
def test_gemm_jit_forward_split_into_thread_parts_matches_the_reference(split_forward, monkeypatch, case, budget):
    """The forward split by batch items (an even batch) or by output channels (one item, or an odd
    batch), whole parts and (600-byte budget) parts chunked into single items, ranges of positions
    or of channels: every part's rows land in the output, with its bias, in every group."""
    gemm_jit, splits = split_forward
    if budget is not None:
        monkeypatch.setattr(gemm_jit, "forward_budget", lambda output_bytes: budget)
        monkeypatch.setattr(gemm_jit, "MIN_PART_BUDGET_BYTES", budget // 2)
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(15)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    with engine.use_path("gemm_jit"):
        out = ct.conv_transpose(x, w, b, **kwargs)
    assert_close(out, conv_transpose_naive(x, w, b, **kwargs), np.float64)
    depthwise = kwargs.get("groups", 1) == x_shape[1]  # depthwise layers have kernels of their own
    if depthwise:
        return
    (parts,) = splits
    kind = _expected_parts(x_shape, w_shape, kwargs)
    if kind is None:
        assert len(parts) == 1, parts
        return
    assert len(parts) == 2, parts
    batches, channels = zip(*parts)
    if kind == "batch":
        assert all(c == slice(0, w_shape[1]) for c in channels) and batches[0].stop == batches[1].start, parts
    else:
        assert all(bt == slice(0, x_shape[0]) for bt in batches) and channels[0].stop == channels[1].start, parts


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "case",
    [
        ((2, 2, 5, 4), (2, 3, 4, 4), dict(stride=(2, 2), padding=(1, 1))),  # batch parts
        ((1, 3, 7), (3, 4, 3), dict(stride=(1,), padding=(1,))),  # channel parts
    ],
    ids=lambda c: f"x{c[0]}" if isinstance(c, tuple) else c,
)
def test_gemm_jit_forward_split_folds_padding_modes(split_forward, mode, case):
    """Each thread's part folds a padding mode's border into its own rows, like the definition:
    torch's VJP of ``conv(F.pad(x, mode))``."""
    pytest.importorskip("torch")
    from padding_oracle import torch_vjp

    gemm_jit, splits = split_forward
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])
    pads = tuple((p, p) for p in kwargs["padding"])
    expected, _ = torch_vjp(
        x, w, b, pads=pads, ops=(0,) * len(pads), mode=mode, stride=kwargs["stride"], dilation=(1,) * len(pads), groups=1
    )
    with engine.use_path("gemm_jit"):
        out = ct.conv_transpose(x, w, b, padding_mode=mode, **kwargs)
    assert splits and len(splits[-1]) == 2, splits
    assert_close(out, expected.detach().numpy(), np.float64)


def test_gemm_jit_split_forward_runs_one_blas_thread_and_restores_the_count(split_forward, monkeypatch):
    """Within the split forward every GEMM runs on one BLAS thread, as one of the engine's parts;
    afterwards the BLAS pools have their thread counts back, also when the call fails. Forwards
    run from other threads (several at once), which cannot set the count, run unsplit and right."""
    from concurrent.futures import ThreadPoolExecutor

    gemm_jit, splits = split_forward
    blas_threads = _blas_threads

    before = blas_threads()
    seen = []
    original = gemm_jit._forward_by_positions
    monkeypatch.setattr(
        gemm_jit, "_forward_by_positions", lambda *a: seen.append((blas_threads(True), engine.threads.in_task())) or original(*a)
    )
    rng = np.random.default_rng(16)
    x, w, b = rng.standard_normal((4, 3, 5, 6)), rng.standard_normal((3, 2, 4, 4)), rng.standard_normal(2)
    expected = conv_transpose_naive(x, w, b, stride=2, padding=1)

    def call(_=None):
        with engine.use_path("gemm_jit"):
            return ct.conv_transpose(x, w, b, stride=2, padding=1)

    assert_close(call(), expected, np.float64)
    if not blas_threads(numpys_only=True):
        pytest.skip("NumPy's BLAS is not the one its wheels ship: cannot tell which pool is NumPy's")
    assert seen == [([1], True), ([1], True)], seen  # one part per thread, each on one BLAS thread
    assert blas_threads() == before
    items = []
    original_part = gemm_jit._forward_part
    monkeypatch.setattr(gemm_jit, "_forward_part", lambda *a: items.append(a[1].shape[0]) or original_part(*a))
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(call, range(6)))
    for out in results:
        assert_close(out, expected, np.float64)
    assert items == [4] * 6, items  # every call in one part, its whole batch
    assert blas_threads() == before
    monkeypatch.setattr(gemm_jit, "_forward_by_positions", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        call()
    assert blas_threads() == before


@pytest.mark.parametrize(
    "case",
    [
        ((2, 6, 1, 2), (6, 4, 3, 3), dict(padding=1)),  # sweep.046 in miniature: 3 of 9 taps land
        ((2, 4, 2, 2, 2), (4, 3, 5, 5, 5), dict(padding=2, groups=2)),  # 27 of 125
        ((3, 2, 3), (2, 3, 7), dict(stride=2, padding=5, dilation=1)),  # every other tap: 1, 3, 5
        ((2, 2, 3), (2, 3, 8), dict(stride=3, padding=6)),  # two of every three: 0, 1, 3, 4, 6, 7
        ((1, 3, 2, 3), (3, 2, 4, 3), dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1))),
    ],
    ids=lambda c: f"x{c[0]}-w{c[1]}",
)
@pytest.mark.parametrize("budget", [None, 600])
def test_gemm_jit_leaves_out_taps_that_never_land(monkeypatch, case, budget):
    """Taps whose every copy falls in the crop are left out of the GEMMs (forward and backward,
    whole and chunked); the results match torch autograd, their weight gradient is exactly zero."""
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    monkeypatch.setattr(gemm_jit, "MIN_TRIM_MACS_PER_WEIGHT", 0)  # however few columns
    trimmed = []
    original = gemm_jit._trimmed_weight
    monkeypatch.setattr(gemm_jit, "_trimmed_weight", lambda *a: trimmed.append(original(*a)[1]) or original(*a))
    if budget is not None:
        for name in ("forward_budget", "backward_budget"):
            monkeypatch.setattr(gemm_jit, name, lambda output_bytes: budget)
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(17)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    # Which taps land, by brute force: scatter a one at every input position through each tap alone.
    kernel = w_shape[2:]
    landing = []
    for tap in np.ndindex(*kernel):
        probe = np.zeros((1, 1) + kernel)
        probe[(0, 0) + tap] = 1.0
        ones = np.ones((1, 1) + x_shape[2:])
        spec = {k: v for k, v in kwargs.items() if k != "groups"}
        landing.append(conv_transpose_naive(ones, probe, **spec).any())
    expected_live = np.flatnonzero(landing)
    assert expected_live.size < np.prod(kernel)  # every case has taps that never land
    with engine.use_path("gemm_jit"):
        call = ct.conv_transpose(x, w, b, **kwargs)  # (the plan for live_taps)
    from convtranspose.plan import build_plan

    hyper = (kwargs.get("stride", 1), kwargs.get("padding", 0), 0, kwargs.get("groups", 1), kwargs.get("dilation", 1))
    plan = build_plan("conv_transpose", None, x.shape, x.dtype, w.shape, w.dtype, b.shape, b.dtype, hyper)
    np.testing.assert_array_equal(gemm_jit.live_taps(plan.geometry, plan.fold_mode), expected_live)
    ranges = gemm_jit.live_tap_ranges(plan.geometry, plan.fold_mode)
    if ranges is None:  # not evenly spaced on some axis: selected by index
        assert x_shape == (2, 2, 3)
    else:
        np.testing.assert_array_equal(np.arange(np.prod(kernel)).reshape(kernel)[ranges].ravel(), expected_live)
    assert call.shape == conv_transpose_naive(x, w, b, **kwargs).shape
    assert_matches_autograd(x, w, b, "gemm_jit", **kwargs)
    grad_y = rng.standard_normal(call.shape)
    with engine.use_path("gemm_jit"):
        _, grad_w, _ = ct.conv_transpose_backward(grad_y, x, w, **kwargs)
    dead = np.setdiff1d(np.arange(np.prod(kernel)), expected_live)
    assert not grad_w.reshape(w_shape[0], w_shape[1], -1)[:, :, dead].any()
    assert trimmed and all(live is not None for live in trimmed)  # every call left the dead taps out


def test_gemm_jit_keeps_the_whole_weight_when_trimming_does_not_pay():
    """Few GEMM columns per weight element (a large weight over a tiny input): no copy of the live
    taps, the full weight with its dead taps."""
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    from convtranspose.plan import build_plan

    x_shape, w_shape = (1, 8, 1, 2), (8, 4, 3, 3)
    plan = build_plan("conv_transpose", None, x_shape, np.dtype("float64"), w_shape, np.dtype("float64"), None, None, (1, 1, 0, 1, 1))
    weight = np.ones(w_shape)
    kept, live = gemm_jit._trimmed_weight(plan, weight, 2)
    assert live is None and kept.shape == (8, 4, 9)
    kept, live = gemm_jit._trimmed_weight(plan, weight, 2 * gemm_jit.MIN_TRIM_MACS_PER_WEIGHT)
    np.testing.assert_array_equal(live, [3, 4, 5])
    assert kept.shape == (8, 4, 3)


@pytest.fixture
def batch_split_backward(monkeypatch):
    """Two engine threads, and ``gemm_jit``'s backward split by batch items however small the call
    and its weight gradient. Yields the module and the list of the batch splits it made."""
    yield from _two_threads_recording(
        monkeypatch, "_backward_batch_parts", MIN_BATCH_SPLIT_MACS=0, BATCH_SPLIT_GRADIENT_SHARE=float("inf")
    )


BATCH_SPLIT_CASES = [case for case in CASES + TILING_CASES if case[0][0] >= 2] + [
    ((4, 3, 5, 6), (3, 2, 4, 4), dict(stride=2, padding=1)),
    ((9, 2, 7), (2, 3, 3), dict(stride=2, padding=1, output_padding=1)),  # an odd batch of at least 4 per thread
    ((8, 4, 3, 3), (4, 2, 3, 3), dict(stride=2, groups=2)),
]


@pytest.mark.parametrize("budget", [None, 600])
@pytest.mark.parametrize("case", BATCH_SPLIT_CASES, ids=lambda c: f"x{c[0]}-w{c[1]}")
def test_gemm_jit_backward_split_by_batch_items_matches_torch(batch_split_backward, monkeypatch, case, budget):
    """The batch-split backward (each thread gathers, multiplies and accumulates the weight
    gradient of its own items; the accumulators are summed): whole parts and (600-byte budget)
    parts chunked into items or ranges of positions, every gradient alone and all together."""
    gemm_jit, splits = batch_split_backward
    if budget is not None:
        monkeypatch.setattr(gemm_jit, "backward_budget", lambda largest_gradient_bytes: budget)
        monkeypatch.setattr(gemm_jit, "accumulation_budget", lambda largest_gradient_bytes: 1)
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(18)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    assert_matches_autograd(x, w, b, "gemm_jit", **kwargs)
    depthwise = kwargs.get("groups", 1) == x_shape[1]
    n = x_shape[0]
    if not depthwise:
        expect_split = n % 2 == 0 or n >= 8
        assert splits and all(len(parts) == (2 if expect_split else 1) for parts in splits), splits
        if expect_split:
            assert all(parts[0].stop == parts[1].start and parts[1].stop == n for parts in splits), splits


def test_gemm_jit_backward_batch_split_respects_the_weight_gradient_share():
    """The batch split gives each extra thread a weight gradient of its own: only where those fit
    a quarter of the largest gradient; never for small calls, or from inside a pool part."""
    gemm_jit = pytest.importorskip("convtranspose.engine.jit_gemm")
    previous = engine.get_num_threads()
    engine.set_num_threads(2)
    try:
        big = gemm_jit.MIN_BATCH_SPLIT_MACS
        assert gemm_jit._backward_batch_parts(8, big, 100, 400) == [slice(0, 4), slice(4, 8)]
        assert gemm_jit._backward_batch_parts(8, big, 101, 400) == [slice(0, 8)]  # 101 > 0.25 x 400
        assert gemm_jit._backward_batch_parts(8, big - 1, 100, 400) == [slice(0, 8)]
        assert gemm_jit._backward_batch_parts(3, big, 100, 400) == [slice(0, 3)]  # uneven, small batch
        assert gemm_jit._backward_batch_parts(9, big, 100, 400) == [slice(0, 4), slice(4, 9)]
        assert gemm_jit._backward_batch_parts(1, big, 0, 400) == [slice(0, 1)]
        engine.set_num_threads(1)
        assert gemm_jit._backward_batch_parts(8, big, 0, 400) == [slice(0, 8)]
    finally:
        engine.set_num_threads(previous)
