"""convtranspose.dask: lazy transposed convolution of dask arrays.

The result must equal the in-memory call (itself checked against torch and the NumPy loop
reference elsewhere) for every chunking -- chunks of one cell, chunks smaller than the halo, batch
and channel chunks -- and on real schedulers: synchronous, threaded, and a LocalCluster with two
worker processes. Invalid calls raise the in-memory call's errors when the graph is built, before
anything is computed.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
from dask.array.utils import assert_eq  # noqa: E402

import convtranspose  # noqa: E402
from convtranspose import ConvTranspose1d, ConvTranspose2d, ParameterError, ParameterTypeError, conv_transpose  # noqa: E402
from convtranspose import dask as ctd  # noqa: E402

from oracle import conv_transpose_naive  # noqa: E402


def _partition(draw, total: int) -> tuple[int, ...]:
    """A random split of ``total`` into positive parts (often parts of size 1 or 2)."""
    if total == 0:
        return (0,)
    cuts = draw(st.sets(st.integers(1, total - 1), max_size=total - 1)) if total > 1 else set()
    edges = [0, *sorted(cuts), total]
    return tuple(b - a for a, b in zip(edges, edges[1:]))


@st.composite
def dask_cases(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    max_in = (9, 6, 4)[nd - 1]
    sizes, kernel, stride, dilation, padding, output_padding = [], [], [], [], [], []
    for _ in range(nd):
        n, k = draw(st.integers(1, max_in)), draw(st.integers(1, 4))
        s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        op = draw(st.integers(0, max(s, d) - 1))
        full = (n - 1) * s + d * (k - 1) + 1
        p = draw(st.integers(0, (full + op - 1) // 2))  # output length >= 1
        for values, v in zip((sizes, kernel, stride, dilation, padding, output_padding), (n, k, s, d, p, op)):
            values.append(v)
    unbatched = draw(st.booleans())
    batch = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    shape = ((cin,) if unbatched else (batch, cin)) + tuple(sizes)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((cin, cout // groups, *kernel)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if draw(st.booleans()) else None
    chunks = tuple(_partition(draw, n) for n in shape)
    params = dict(
        stride=tuple(stride), padding=tuple(padding), output_padding=tuple(output_padding),
        dilation=tuple(dilation), groups=groups,
    )
    if draw(st.booleans()):  # scalar forms where all axes agree
        params = {k: (v[0] if isinstance(v, tuple) and len(set(v)) == 1 else v) for k, v in params.items()}
    return x, w, b, chunks, params


def _assert_same(lazy, expected):
    tol = dict(rtol=0, atol=1e-10) if expected.dtype == np.float64 else dict(rtol=1e-5, atol=1e-4)
    # assert_eq also checks that every computed block has the shape its chunks promise, and the dtype.
    assert_eq(lazy, expected, scheduler="sync", **tol)


@settings(max_examples=settings.default.max_examples // 3 + 20)
@given(dask_cases(), st.data())
def test_sweep_equals_in_memory(case, data):
    x, w, b, chunks, params = case
    expected = conv_transpose(x, w, b, **params)
    lazy_x = da.from_array(x, chunks=chunks)
    out_chunks = None
    if data.draw(st.booleans()):  # explicit output chunks, at random
        out_chunks = tuple(_partition(data.draw, n) for n in expected.shape[-(w.ndim - 2):])
    lazy = ctd.conv_transpose(lazy_x, w, b, chunks=out_chunks, **params)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    if out_chunks is not None:
        assert lazy.chunks[-len(out_chunks):] == out_chunks
    _assert_same(lazy, expected)


@settings(max_examples=settings.default.max_examples // 3 + 20)
@given(dask_cases(), st.data())
def test_sweep_padding_forms(case, data):
    """(before, after) pairs, 'valid', 'same', 'same_lower': valid ones equal the in-memory call,
    invalid ones raise its error when the graph is built."""
    x, w, b, chunks, params = case
    nd = w.ndim - 2
    form = data.draw(st.sampled_from(["pairs", "valid", "same", "same_lower"]))
    if form == "pairs":
        params["padding"] = tuple((data.draw(st.integers(0, 4)), data.draw(st.integers(0, 4))) for _ in range(nd))
    else:
        params["padding"] = form
        params["output_padding"] = 0
    lazy_x = da.from_array(x, chunks=chunks)
    try:
        expected = conv_transpose(x, w, b, **params)
    except convtranspose.ConvTransposeError as error:
        with pytest.raises(type(error)):
            ctd.conv_transpose(lazy_x, w, b, **params)
        return
    _assert_same(ctd.conv_transpose(lazy_x, w, b, **params), expected)


MODES = ["reflect", "replicate", "circular"]


@settings(max_examples=settings.default.max_examples // 3 + 20)
@given(dask_cases(), st.sampled_from(MODES), st.data())
def test_sweep_padding_modes(case, mode, data):
    """Every padding mode (the fold at the global border), with every padding form, 1-d/2-d/3-d and
    random chunkings: equal to the in-memory call; invalid ones (e.g. reflect wider than the output)
    raise its error, with its message, when the graph is built."""
    x, w, b, chunks, params = case
    nd = w.ndim - 2
    form = data.draw(st.sampled_from(["as drawn", "pairs", "same", "same_lower"]))
    if form == "pairs":
        params["padding"] = tuple((data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))) for _ in range(nd))
    elif form != "as drawn":
        params["padding"], params["output_padding"] = form, 0
    try:
        expected = conv_transpose(x, w, b, padding_mode=mode, **params)
    except convtranspose.ConvTransposeError as error:
        event(f"refused: {type(error).__name__}")
        with pytest.raises(type(error)) as lazy_error:
            ctd.conv_transpose(_untouchable(x, chunks), w, b, padding_mode=mode, **params)
        assert str(lazy_error.value) == str(error)
        return
    event(f"computed, {mode}")
    out_chunks = None
    if data.draw(st.booleans()):
        out_chunks = tuple(_partition(data.draw, n) for n in expected.shape[-nd:])
    lazy = ctd.conv_transpose(da.from_array(x, chunks=chunks), w, b, padding_mode=mode, chunks=out_chunks, **params)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    if out_chunks is not None:
        assert lazy.chunks[-nd:] == out_chunks
    _assert_same(lazy, expected)


def test_padding_mode_fold_against_a_hand_computed_case():
    """1-d, kernel [1, 10, 100] at stride 1, padding 1, chunks of one cell: the canvas of
    x = [1, 2, 3] is [1, 12, 123, 230, 300]; the output is [12, 123, 230] plus the border cells 1
    and 300 folded onto the cells the paired convolution's padding copied them from."""
    x, w = da.from_array(np.array([[[1.0, 2.0, 3.0]]]), chunks=1), np.array([[[1.0, 10.0, 100.0]]])
    expected = {
        "zeros": [12.0, 123.0, 230.0],
        "circular": [12.0 + 300, 123.0, 230.0 + 1],   # wraps: the start's border onto the end, and back
        "reflect": [12.0, 123.0 + 1 + 300, 230.0],   # mirrors about the edge cell, onto its neighbour
        "replicate": [12.0 + 1, 123.0, 230.0 + 300],  # onto the edge cell
    }
    for mode, values in expected.items():
        lazy = ctd.conv_transpose1d(x, w, padding=1, padding_mode=mode)
        assert lazy.compute(scheduler="sync")[0, 0].tolist() == values
    with pytest.raises(ParameterError, match="reflect"):  # reflect needs padding < the output's 1 cell
        ctd.conv_transpose1d(x, w, padding=2, padding_mode="reflect")


def test_chunks_smaller_than_the_halo_match_the_reference():
    """Kernel 5 at dilation 3 spans 13 cells; chunks of 1 and 2 cells, checked against the loop reference."""
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((3, 2, 5, 4)), rng.standard_normal(2)
    params = dict(stride=(2, 3), padding=(4, 1), output_padding=(1, 2), dilation=(3, 2))
    lazy = ctd.conv_transpose2d(da.from_array(x, chunks=(1, 2, 1, (2, 1, 3))), w, b, **params)
    expected = conv_transpose_naive(x, w, b, **params)
    assert lazy.shape == expected.shape
    _assert_same(lazy, expected)


def test_output_cells_no_input_reaches_hold_the_bias():
    """Stride 5 with a 2-tap kernel leaves gaps; chunks made of gap cells only are bias-filled."""
    x, w, b = np.arange(4.0).reshape(1, 1, 4), np.ones((1, 2, 2)), np.array([0.5, -1.0])
    lazy = ctd.conv_transpose1d(da.from_array(x, chunks=1), w, b, stride=5, output_padding=3, chunks=((1,) * 20,))
    _assert_same(lazy, conv_transpose(x, w, b, stride=5, output_padding=3))


def test_channel_chunks_are_rechunked_to_whole_groups():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 6, 5, 5)), rng.standard_normal((6, 2, 3, 3))
    # groups=3: 2 input channels per group; input channel chunks (1, 3, 2) -> group-aligned (4, 2)
    lazy = ctd.conv_transpose2d(da.from_array(x, chunks=(1, (1, 3, 2), 2, 3)), w, groups=3, stride=2)
    assert lazy.chunks[:2] == ((1, 1), (4, 2))  # batch chunks kept; 2 groups x 2 outputs, 1 group x 2
    _assert_same(lazy, conv_transpose(x, w, groups=3, stride=2))
    # groups=1: one channel chunk; depthwise: channel chunks kept
    assert ctd.conv_transpose2d(da.from_array(x, chunks=(1, 2, 5, 5)), w[:, :1].repeat(3, 1)).chunks[1] == (3,)
    depthwise = ctd.conv_transpose2d(da.from_array(x, chunks=(1, (1, 2, 3), 5, 5)), w[:, :1], groups=6)
    assert depthwise.chunks[1] == (1, 2, 3)
    _assert_same(depthwise, conv_transpose(x, w[:, :1], groups=6))


def test_default_output_chunks_follow_the_input_chunks():
    x = da.zeros((1, 1, 16), chunks=(1, 1, 4))
    lazy = ctd.conv_transpose1d(x, np.ones((1, 1, 4)), stride=2, padding=1)
    assert lazy.chunks[2] == (8, 8, 8, 8)  # boundaries 4*2, 8*2, 12*2 of a 32-long output
    assert ctd.conv_transpose1d(x, np.ones((1, 1, 3)), stride=3, padding=4).chunks[2] == (12, 12, 12, 4)


def test_unbatched_empty_batch_and_float16():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 3, 2, 3))
    _assert_same(ctd.conv_transpose(da.from_array(x, chunks=(1, 2, 3)), w, stride=2), conv_transpose(x, w, stride=2))
    empty = np.zeros((0, 2, 5, 4))
    lazy = ctd.conv_transpose(da.from_array(empty, chunks=(1, 1, 2, 2)), w, stride=2)
    assert lazy.compute(scheduler="sync").shape == conv_transpose(empty, w, stride=2).shape
    half_x, half_w = x.astype(np.float16), w.astype(np.float16)
    half = ctd.conv_transpose(da.from_array(half_x, chunks=(2, 2, 2)), half_w, stride=(1, 2), padding=1)
    expected = conv_transpose(half_x, half_w, stride=(1, 2), padding=1)
    assert half.dtype == np.float16
    assert_eq(half, expected, scheduler="sync", rtol=1e-3, atol=1e-3)


def test_output_size_resolves_output_padding():
    x = np.random.default_rng(4).standard_normal((1, 2, 5, 5))
    w = np.ones((2, 1, 3, 3))
    lazy = ctd.conv_transpose2d(da.from_array(x, chunks=2), w, stride=2, padding=1, output_size=(10, 9))
    assert lazy.shape == (1, 1, 10, 9)
    _assert_same(lazy, conv_transpose(x, w, stride=2, padding=1, output_size=(10, 9)))


# --------------------------------------------------------------------------------------------
# Validation: the in-memory call's errors, at graph-construction time
# --------------------------------------------------------------------------------------------


def _boom(block):
    raise RuntimeError("computed during graph construction")


def _untouchable(x: np.ndarray, chunks) -> "da.Array":
    """A dask array of ``x``'s shape and dtype whose computation fails."""
    return da.from_array(x, chunks=chunks).map_blocks(_boom, dtype=x.dtype)


INVALID = [
    dict(stride=0),
    dict(padding=-1),
    dict(output_padding=2, stride=2),
    dict(dilation=(1, 0)),
    dict(groups=4),
    dict(groups=0),
    dict(groups=1.5),
    dict(stride=(1, 2, 3)),
    dict(stride="2"),
    dict(padding=9),
    dict(output_size=(40, 40)),
    dict(output_size=(12, 12), output_padding=1, stride=2),
    dict(weight=np.ones((3, 2, 3, 3))),
    dict(weight=np.ones((2, 2, 3))),
    dict(weight=np.ones((2, 2, 3, 3), np.float32)),
    dict(weight=np.ones((2, 2, 3, 3), np.int64)),
    dict(bias=np.ones(3)),
    dict(bias=np.ones(2, np.float32)),
]


@pytest.mark.parametrize("change", INVALID, ids=lambda c: ",".join(c))
def test_invalid_calls_raise_the_in_memory_errors_before_compute(change):
    change = dict(change)
    x = np.ones((2, 2, 6, 6))
    w = change.pop("weight", np.ones((2, 2, 3, 3)))
    b = change.pop("bias", None)
    with pytest.raises(Exception) as in_memory:
        conv_transpose(x, w, b, **change)
    assert isinstance(in_memory.value, convtranspose.ConvTransposeError)
    with pytest.raises(type(in_memory.value)) as lazy:
        ctd.conv_transpose(_untouchable(x, chunks=3), w, b, **change)
    assert str(lazy.value) == str(in_memory.value)


def test_invalid_dtype_of_the_dask_input():
    x = np.ones((1, 2, 4), np.int32)
    with pytest.raises(convtranspose.DTypeError) as in_memory:
        conv_transpose(x, np.ones((2, 1, 3)))
    with pytest.raises(convtranspose.DTypeError) as lazy:
        ctd.conv_transpose(_untouchable(x, 2), np.ones((2, 1, 3)))
    assert str(lazy.value) == str(in_memory.value)


def test_valid_call_builds_without_computing():
    lazy = ctd.conv_transpose(_untouchable(np.ones((1, 2, 6, 6)), 2), np.ones((2, 3, 3, 3)), stride=2)
    assert lazy.shape == (1, 3, 13, 13)
    with pytest.raises(RuntimeError, match="computed during graph construction"):
        lazy.compute(scheduler="sync")


def test_adapter_specific_errors():
    x = da.ones((1, 1, 4), chunks=2)
    w = np.ones((1, 1, 2))
    with pytest.raises(ParameterTypeError, match=r"input must be a dask.array.Array \(use convtranspose.conv_transpose"):
        ctd.conv_transpose(np.ones((1, 1, 4)), w)
    for bad in ("mirror", 0):  # the in-memory call's errors
        with pytest.raises(convtranspose.ConvTransposeError) as in_memory:
            conv_transpose(np.ones((1, 1, 4)), w, padding_mode=bad)
        with pytest.raises(type(in_memory.value)) as lazy:
            ctd.conv_transpose(x, w, padding_mode=bad)
        assert str(lazy.value) == str(in_memory.value)
        with pytest.raises(type(in_memory.value)) as lazy:
            ctd.conv(x, w, padding_mode=bad)
    with pytest.raises(ParameterError, match=r"chunks must give the output chunks of each of the 1 spatial dimensions"):
        ctd.conv_transpose(x, w, chunks=2)
    with pytest.raises(ParameterError, match=r"invalid chunks=\(\(2, 2\),\) for a spatial output of \(5,\)"):
        ctd.conv_transpose(x, w, chunks=((2, 2),))
    unknown = x.map_blocks(lambda block: block, chunks=((1,), (1,), (np.nan, np.nan)))
    with pytest.raises(convtranspose.ShapeError, match=r"has unknown sizes; call input.compute_chunk_sizes\(\) first"):
        ctd.conv_transpose(unknown, w)


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------


def test_module_accepts_a_dask_array_and_returns_one():
    layer = ConvTranspose2d(4, 3, kernel_size=4, stride=2, padding=1, rng=0, dtype=np.float64)
    x = np.random.default_rng(5).standard_normal((2, 4, 9, 7))
    lazy = layer(da.from_array(x, chunks=(1, 2, 4, 3)))
    assert isinstance(lazy, da.Array)
    _assert_same(lazy, layer(x))
    layer(da.from_array(x, chunks=4))
    with pytest.raises(ParameterTypeError, match=r"backward\(\) after a forward on a dask array is not supported"):
        layer.backward(np.ones((2, 3, 18, 14)))


def test_modules_do_not_import_dask():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, convtranspose as c; l = c.ConvTranspose1d(1, 1, 2);"
        "l(np.ones((1, 1, 3), np.float32)); print('dask' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------
# Real schedulers
# --------------------------------------------------------------------------------------------


def _problem():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 20, 18))
    w, b = rng.standard_normal((4, 3, 5, 4)), rng.standard_normal(6)
    params = dict(stride=(2, 3), padding=(3, 1), output_padding=(1, 0), dilation=(1, 2), groups=2)
    return x, w, b, params


def test_threaded_scheduler():
    x, w, b, params = _problem()
    lazy = ctd.conv_transpose2d(da.from_array(x, chunks=(2, 4, 3, 7)), w, b, **params)
    np.testing.assert_allclose(lazy.compute(scheduler="threads", num_workers=2), conv_transpose(x, w, b, **params),
                               rtol=0, atol=1e-10)


def _listening_ports(pid: int) -> set[int]:
    import psutil

    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_local_cluster_with_two_worker_processes(upscale_example):
    """Two worker processes (pickling, the real scheduler), and no HTTP port anywhere: each worker
    process listens only on its communication port, and this process (scheduler and nannies) only
    on theirs -- distributed would otherwise open an HTTP server in the scheduler and every worker."""
    import os

    distributed = pytest.importorskip("distributed")
    pytest.importorskip("psutil")
    x, w, b, params = _problem()
    ours_before = _listening_ports(os.getpid())
    with upscale_example.local_cluster(2, "400MiB") as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
        for address, pid in pids.items():
            assert _listening_ports(pid) == {_port(address)}
        comms = {_port(cluster.scheduler_address)} | {_port(nanny.address) for nanny in cluster.workers.values()}
        assert _listening_ports(os.getpid()) - ours_before == comms
        assert client.scheduler_info()["services"] == {}  # no "dashboard" service
        lazy = ctd.conv_transpose2d(da.from_array(x, chunks=(1, 2, 5, 6)), w, b, **params)
        with distributed.get_task_stream(client) as stream:
            result = client.compute(lazy).result(timeout=120)
        assert len({task["worker"] for task in stream.data}) == 2  # both worker processes computed chunks
    np.testing.assert_allclose(result, conv_transpose(x, w, b, **params), rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------------
# chain: several layers fused, each output chunk from its receptive field
# --------------------------------------------------------------------------------------------


def relu(h):
    return np.maximum(h, 0)


def affine(h):
    return 2.0 * h - 0.5


ELEMENTWISE = [relu, np.tanh, affine]


@st.composite
def chain_cases(draw):
    """1 to 3 random layers (every padding form, groups, stride, dilation, output_padding, bias)
    with element-wise functions between them; the in-memory composition may be invalid."""
    nd = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    channels = draw(st.integers(1, 3))
    layers = []
    if draw(st.booleans()):
        layers.append(draw(st.sampled_from(ELEMENTWISE)))
    for index in range(draw(st.integers(1, 3))):
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
        out = groups * draw(st.integers(1, 2))
        kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
        stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
        dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        form = draw(st.sampled_from(["int", "pairs", "valid", "same", "same_lower"]))
        if form == "int":
            padding = draw(st.integers(0, 2))
        elif form == "pairs":
            padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nd))
        else:
            padding, output_padding = form, (0,) * nd
        layers.append(convtranspose.ConvTransposeNd(
            channels, out, kernel, stride=stride, padding=padding, output_padding=output_padding, groups=groups,
            bias=draw(st.booleans()), dilation=dilation, dtype=dtype, rng=draw(st.integers(0, 2**16)), ndim=nd,
        ))
        channels = out
        if draw(st.booleans()):
            layers.append(draw(st.sampled_from(ELEMENTWISE)))
    sizes = tuple(draw(st.integers(1, (7, 5, 3)[nd - 1])) for _ in range(nd))
    first = next(layer for layer in layers if hasattr(layer, "spec"))
    shape = ((first.in_channels,) if draw(st.booleans()) else (draw(st.integers(1, 2)), first.in_channels)) + sizes
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape).astype(dtype)
    return x, layers, tuple(_partition(draw, n) for n in shape)


def _in_memory_chain(x, layers):
    for layer in layers:
        x = layer(x)
    return x


@settings(max_examples=settings.default.max_examples // 3 + 20)
@given(chain_cases(), st.data())
def test_chain_equals_the_layers_applied_in_turn(case, data):
    x, layers, chunks = case
    lazy_x = da.from_array(x, chunks=chunks)
    try:
        expected = _in_memory_chain(x, layers)
    except convtranspose.ConvTransposeError as error:
        with pytest.raises(type(error)) as lazy_error:
            ctd.chain(_untouchable(x, chunks), layers)
        assert str(error) in str(lazy_error.value)
        return
    out_chunks = None
    if data.draw(st.booleans()):
        nd = next(layer for layer in layers if hasattr(layer, "spec")).spec.ndim
        out_chunks = tuple(_partition(data.draw, n) for n in expected.shape[-nd:])
    lazy = ctd.chain(lazy_x, layers, chunks=out_chunks)
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    if out_chunks is not None:
        assert lazy.chunks[-len(out_chunks):] == out_chunks
    _assert_same(lazy, expected)
    # The same as the layers applied to the dask array one after the other (each a lazy array).
    one_by_one = lazy_x
    for layer in layers:
        one_by_one = layer(one_by_one) if hasattr(layer, "spec") else one_by_one.map_blocks(layer)
    _assert_same(one_by_one, expected)


def test_chain_of_the_upsampler_against_the_loop_reference():
    """ConvTranspose2d(1, 4, k6 s2 p2) -> ReLU -> ConvTranspose2d(4, 2, k3 p1), chunks of 1..3 cells:
    the receptive field of a chunk spans several neighbours in every direction."""
    rng = np.random.default_rng(7)
    up = ConvTranspose2d(1, 4, kernel_size=6, stride=2, padding=2, rng=0, dtype=np.float64)
    mix = ConvTranspose2d(4, 2, kernel_size=3, padding=1, rng=1, dtype=np.float64)
    x = rng.standard_normal((2, 1, 7, 6))
    hidden = np.maximum(conv_transpose_naive(x, up.weight, up.bias, stride=2, padding=2), 0)
    expected = conv_transpose_naive(hidden, mix.weight, mix.bias, padding=1)
    lazy = ctd.chain(da.from_array(x, chunks=(1, 1, (1, 3, 2, 1), 2)), [up, relu, mix])
    assert lazy.chunks == ((1, 1), (2,), (2, 6, 4, 2), (4, 4, 4))
    _assert_same(lazy, expected)


def test_chain_stores_no_intermediate():
    """Each output chunk is one task fed by input strips only: no task of the graph computes a
    whole intermediate chunk that another task then reads."""
    up = ConvTranspose2d(1, 4, kernel_size=4, stride=2, padding=1, rng=0, dtype=np.float64)
    mix = ConvTranspose2d(4, 1, kernel_size=3, padding=1, rng=1, dtype=np.float64)
    x = da.random.random((1, 1, 32, 32), chunks=8)
    lazy = ctd.chain(x, [up, relu, mix])
    graph = dict(lazy.__dask_graph__())
    names = {key[0] if isinstance(key, tuple) else key for key in graph}
    assert {name.split("-")[0] for name in names} == {"random_sample", "chain"}
    assert len([key for key in graph if key[0] == lazy.name]) == 16  # one task per output chunk
    layered = mix(da.maximum(up(x), 0))
    assert len(dict(layered.__dask_graph__())) > len(graph)  # the layers one by one: hidden chunks and their strips


def test_chain_errors_at_graph_construction():
    up = ConvTranspose2d(1, 4, kernel_size=4, stride=2, padding=1, rng=0)
    x = _untouchable(np.ones((1, 1, 8, 8), np.float32), 4)
    with pytest.raises(ParameterTypeError, match=r"chain: input must be a dask.array.Array \(apply the layers in turn"):
        ctd.chain(np.ones((1, 1, 8, 8), np.float32), [up])
    with pytest.raises(ParameterError, match=r"chain: layers must be a sequence of transposed-convolution layers .* "
                                             r"with at least one layer, got \[<function relu"):
        ctd.chain(x, [relu])
    with pytest.raises(ParameterTypeError, match=r"chain: layers\[1\] must be a transposed-convolution layer or an "
                                                 r"element-wise function, got int"):
        ctd.chain(x, [up, 3])
    with pytest.raises(ParameterError, match=r"layers\[1\] must be .* element-wise function .* returned ndarray of "
                                             r"shape \(1, 4\) for an input of shape \(1, 4, 1, 1\)"):
        ctd.chain(x, [up, lambda h: h.sum(axis=(2, 3))])
    mix = ConvTranspose2d(3, 1, kernel_size=3, rng=0)
    with pytest.raises(convtranspose.ShapeError) as in_memory:
        mix(up(np.ones((1, 1, 8, 8), np.float32)))
    with pytest.raises(convtranspose.ShapeError) as lazy:
        ctd.chain(x, [up, relu, mix])
    assert str(lazy.value) == f"chain: layers[2] ({mix!r}): {in_memory.value}"
    double = ConvTranspose2d(4, 1, kernel_size=3, rng=0, dtype=np.float64)
    with pytest.raises(convtranspose.DTypeError, match=r"chain: layers\[1\] .*dtype"):
        ctd.chain(x, [up, double])
    reflect = ConvTranspose2d(4, 1, kernel_size=3, padding=1, padding_mode="reflect", rng=0)
    with pytest.raises(ParameterError, match=r"chain: layers\[1\] .*padding_mode='reflect' is not supported in a chain"):
        ctd.chain(x, [up, reflect])


def test_chain_refuses_a_function_that_changes_per_chunk():
    """A function that is not element-wise in dtype (its probe's dtype differs from a chunk's) is refused when computed."""
    up = ConvTranspose1d(1, 2, kernel_size=2, rng=0, dtype=np.float64)

    def sneaky(h):
        return h if h.size == 2 else h.astype(np.float32)

    lazy = ctd.chain(da.ones((1, 1, 8), chunks=4), [up, sneaky])
    with pytest.raises(convtranspose.DTypeError, match=r"chain: the element-wise function .*sneaky.* returned ndarray of "
                                                       r"shape \(1, 2, 4\) and dtype float32 for a chunk of shape "
                                                       r"\(1, 2, 4\) and dtype float64; when the graph was built it "
                                                       r"returned its input's shape and dtype float64"):
        lazy.compute(scheduler="sync")

    def shrinking(h):
        return h if h.size == 2 else h[..., :1]

    with pytest.raises(convtranspose.ShapeError, match=r"returned ndarray of shape \(1, 2, 1\) and dtype float64 for a "
                                                       r"chunk of shape \(1, 2, 4\)"):
        ctd.chain(da.ones((1, 1, 8), chunks=4), [up, shrinking]).compute(scheduler="sync")


def test_module_with_a_padding_mode_on_dask():
    """The layer's own padding_mode counts (it used to be dropped on the dask path)."""
    layer = ConvTranspose2d(2, 1, kernel_size=3, stride=2, padding=1, padding_mode="circular", rng=0, dtype=np.float64)
    x = np.random.default_rng(8).standard_normal((1, 2, 6, 6))
    _assert_same(layer(da.from_array(x, chunks=(1, 1, 4, 2))), layer(x))
    zeros = ConvTranspose2d(2, 1, kernel_size=3, stride=2, padding=1, rng=0, dtype=np.float64)
    assert not np.allclose(zeros(x), layer(x))


# --------------------------------------------------------------------------------------------
# The adjoint: conv on dask arrays
# --------------------------------------------------------------------------------------------


@st.composite
def conv_cases(draw):
    """Valid conv calls, with every padding form: ints, per-axis ints, (before, after) pairs,
    'valid', 'same', 'same_lower' (for the string forms, sizes that are multiples of the stride)."""
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    form = draw(st.sampled_from(["int", "ints", "pairs", "valid", "same", "same_lower"]))
    sizes, kernel, stride, dilation, padding = [], [], [], [], []
    for _ in range(nd):
        k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        p = (draw(st.integers(0, 2)), draw(st.integers(0, 2))) if form == "pairs" else (draw(st.integers(0, 2)),) * 2
        if form in ("valid", "same", "same_lower"):
            p = (0, 0)
        low, high = max(1, d * (k - 1) + 1 - sum(p)), (10, 7, 5)[nd - 1] + d * (k - 1)
        n = draw(st.integers(low, high))
        if form in ("same", "same_lower"):
            n = s * draw(st.integers(1, max(1, high // s)))
        for values, v in zip((sizes, kernel, stride, dilation, padding), (n, k, s, d, p)):
            values.append(v)
    pad = {"int": padding[0][0], "ints": tuple(p[0] for p in padding), "pairs": tuple(padding)}.get(form, form)
    unbatched = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = ((cout,) if unbatched else (draw(st.integers(1, 2)), cout)) + tuple(sizes)
    y = rng.standard_normal(shape)
    w = rng.standard_normal((cin, cout // groups, *kernel))
    b = rng.standard_normal(cin) if draw(st.booleans()) else None
    chunks = tuple(_partition(draw, n) for n in shape)
    return y, w, b, chunks, dict(stride=tuple(stride), padding=pad, dilation=tuple(dilation), groups=groups)


@settings(max_examples=settings.default.max_examples // 3 + 20)
@given(conv_cases(), st.sampled_from(["zeros", "zeros", *MODES]))
def test_conv_sweep_equals_in_memory_and_is_the_adjoint(case, mode):
    y, w, b, chunks, params = case
    params["padding_mode"] = mode
    try:
        expected = convtranspose.conv(y, w, b, **params)
    except convtranspose.ConvTransposeError as error:  # e.g. reflect wider than the input
        with pytest.raises(type(error)):
            ctd.conv(_untouchable(y, chunks), w, b, **params)
        return
    lazy = ctd.conv(da.from_array(y, chunks=chunks), w, b, **params)
    assert lazy.shape == expected.shape
    _assert_same(lazy, expected)
    # <conv_transpose(x), y> = <conv(y), x> with both sides lazy
    x = np.random.default_rng(0).standard_normal(expected.shape)
    forward = ctd.conv_transpose(da.from_array(x, chunks=2), w, output_padding=_output_padding(y, w, params), **params)
    adjoint = ctd.conv(da.from_array(y, chunks=chunks), w, **params)
    left, right = float((forward * y).sum().compute(scheduler="sync")), float((adjoint * x).sum().compute(scheduler="sync"))
    assert abs(left - right) <= 1e-9 * max(1.0, abs(left))


def _output_padding(y, w, params):
    from convtranspose.shape import conv_geometry

    nd = w.ndim - 2
    return conv_geometry(y.shape[-nd:], w.shape[2:], params["stride"], params["padding"], params["dilation"])[1]


def test_conv_errors_are_the_in_memory_ones():
    y = np.ones((1, 4, 6))
    for w, params in [
        (np.ones((2, 3, 3)), {}),                    # 3 channels expected, 4 given
        (np.ones((2, 2, 3, 3)), {}),                 # rank mismatch
        (np.ones((2, 4, 3)), dict(dilation=0)),
        (np.ones((2, 4, 3)), dict(padding=-1)),
        (np.ones((2, 2, 3)), dict(groups=3)),
        (np.ones((2, 2, 3)), dict(groups=2.0)),
        (np.ones((2, 4, 9)), {}),                    # kernel longer than the padded input
        (np.ones((2, 4, 3)), dict(padding="same", stride=4)),   # 6 is not a multiple of the stride
        (np.ones((2, 4, 3)), dict(padding=((1, 2), (0, 1)))),   # one pair per spatial dimension
        (np.ones((2, 4, 3)), dict(padding=((1, -1),))),
        (np.ones((2, 4, 3)), dict(padding="full")),
    ]:
        with pytest.raises(convtranspose.ConvTransposeError) as in_memory:
            convtranspose.conv(y, w, **params)
        with pytest.raises(type(in_memory.value)) as lazy:
            ctd.conv(_untouchable(y, 2), w, **params)
        if "padding" in params:
            assert str(lazy.value) == str(in_memory.value)
    # (the in-memory conv divides by a zero stride; ours names the rule)
    with pytest.raises(ParameterError, match=r"stride must be positive \(>= 1\), got stride=\(0,\)"):
        ctd.conv(_untouchable(y, 2), np.ones((2, 4, 3)), stride=0)
