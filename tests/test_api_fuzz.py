"""Fuzzing the public API with odd-but-plausible inputs.

Arrays as nested lists/tuples, scalars and 0-d arrays, wrong ranks, empty dimensions, every
dtype family, non-contiguous / negative-stride / zero-stride / read-only / subclassed arrays,
NaN and inf; hyper-parameters as NumPy integers, bools, floats, strings, None, nested or
wrong-length tuples and huge values; ``output_size`` in every accepted form and many wrong ones.

Every call must end in one of two ways:

* it succeeds -- then the result is a fresh C-contiguous ndarray of the operands' dtype that
  equals torch's float64 answer (the naive loop reference for N-d > 3), and
* it raises a :class:`convtranspose.ConvTransposeError` that is a ValueError or TypeError;

and in both cases no input is modified (values, strides, writeability). Which of the two is
decided by an independent oracle written here from PyTorch's documented rules, so a wrong
acceptance and a wrong rejection are both caught. Where one parameter alone breaks a rule, the
error message must name it.

Where we deliberately differ from torch the oracle follows *our* documented rule, and no torch
comparison is made (see test_validation.py, test_forward_torch.py and forward_cases.py):

* operands must share one dtype (torch accepts, e.g., a float64 bias with float32 operands);
* only the batch may be empty (zero channels or spatial sizes are rejected);
* a computed output length of 0 is rejected (torch's answer depends on its backend), and
  ``dilation=0`` or ``output_padding >= max(stride, dilation)`` are always rejected (lenient torch
  backends accept them) -- so torch is only asked about configurations the oracle calls valid,
  always in float64 with the float64 values of our operands;
* ``output_size`` is accepted by the functional API too (torch has it on the module only), and
  together with a non-zero ``output_padding`` it is rejected;
* torch rejects strides and dilations >= 2**31 (int32 overflow); we don't model that limit.

Calls that can hang or exhaust memory (absurd sizes) run in a worker subprocess with a memory
limit and a per-call time limit (``test_absurd_sizes_fail_fast_with_our_error``).

Comments marked ``Regression:`` describe library bugs this file found (all fixed); the assertions
beside them keep them fixed.
"""

from __future__ import annotations

import json
import numbers
import os
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any, Optional

import numpy as np
import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

import convtranspose as ct
from convtranspose import engine
from forward_cases import scaled
from oracle import OURS_FN, OURS_MODULE, TORCH_FN, assert_close, conv_transpose_naive, requires_torch, torch

pytestmark = requires_torch  # torch is this fuzz test's oracle throughout

FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
#: dtypes we reject (DTypeError) -- float128 too: the README promises float16/32/64 only. int64,
#: complex64/128 and bfloat16 are accepted (test_dtypes_extended.py compares them with torch).
ODD_DTYPES = tuple(np.dtype(d) for d in (np.int32, np.uint8, np.bool_, object, np.longdouble))
FIXED = OURS_FN
MODULES = OURS_MODULE


class Sub(np.ndarray):
    """A trivial ndarray subclass (plausible: many libraries hand those out)."""


# ============================================================================================
# The two allowed outcomes
# ============================================================================================


def _snapshot(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return ("nd", type(value), value.dtype, value.shape, value.strides, value.flags.writeable, value.tobytes())
    if isinstance(value, (list, tuple)):
        return ("seq", type(value), [_snapshot(v) for v in value])
    if isinstance(value, dict):
        return (dict, {k: _snapshot(v) for k, v in value.items()})
    return ("obj", value)


def _assert_unchanged(before: Any, value: Any, where: str = "argument") -> None:
    if before[0] == "nd":
        now = _snapshot(value)
        assert now[:6] == before[:6], f"{where}: array metadata changed from {before[:6]} to {now[:6]}"
        assert now[6] == before[6], f"{where}: the array's values were modified"
    elif before[0] == "seq":
        assert type(value) is before[1] and len(value) == len(before[2]), f"{where}: container modified"
        for i, (b, v) in enumerate(zip(before[2], value)):
            _assert_unchanged(b, v, f"{where}[{i}]")
    elif before[0] is dict:
        assert set(value) == set(before[1]), f"{where}: dict keys modified"
        for k in value:
            _assert_unchanged(before[1][k], value[k], f"{where}[{k!r}]")
    else:
        assert value is before[1], f"{where}: replaced"


def run(fn, *args, **kwargs):
    """Call ``fn``; return ``(result, error)``. Checks the two outcome rules common to all tests:
    the arguments are left exactly as they were, and an error is one of ours (ValueError/TypeError)."""
    before = _snapshot((args, kwargs))
    try:
        result, error = fn(*args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - classified right below
        result, error = None, exc
    _assert_unchanged(before, (args, kwargs), "arguments")
    if error is not None and not (
        isinstance(error, ct.ConvTransposeError) and isinstance(error, (ValueError, TypeError))
    ):
        raise AssertionError(f"raised {type(error).__name__} instead of a ConvTransposeError: {error}") from error
    if error is not None:
        assert str(error), f"{type(error).__name__} without a message"
    if currently_in_test_context():
        event("accepted" if error is None else f"rejected: {type(error).__name__}")
    return result, error


def expect_error(error: Optional[BaseException], culprits: list[str], context: str = "") -> None:
    """We must have raised; if exactly one rule is known to be broken, the message must name it."""
    assert error is not None, f"accepted an invalid call (broken rules: {culprits}) {context}"
    if len(culprits) == 1:
        aliases = ALIASES.get(culprits[0], (culprits[0],))
        assert any(a in str(error) for a in aliases), f"the message does not name {culprits[0]!r}: {error}"


ALIASES = {
    "output_size": ("output_size", "output size"),
    "output size": ("output size",),
    "dtype": ("dtype",),
    "shape": ("shape",),
}


def assert_matches(actual: Any, expected: np.ndarray, dtype: np.dtype, what: str, inputs=()) -> None:
    """An exact ndarray type, a fresh C-contiguous result sharing no memory with the inputs, then
    :func:`oracle.assert_close` (dtype, shape, the NaN/inf cells exactly, the finite values)."""
    assert type(actual) is np.ndarray, f"{what}: returned {type(actual).__name__}"
    assert_close(actual, expected, dtype, what)
    assert actual.flags.c_contiguous and actual.flags.writeable, f"{what}: not a fresh C-contiguous array"
    for array in inputs:
        if isinstance(array, np.ndarray):
            assert not np.shares_memory(actual, array), f"{what}: the result shares memory with an input"


# ============================================================================================
# The oracle: PyTorch's documented rules plus our documented differences
# ============================================================================================


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def per_axis(value: Any, n: int) -> Optional[tuple[int, ...]]:
    """An int, or a list/tuple of ``n`` ints (NumPy integers included); None if neither."""
    if is_int(value):
        return (int(value),) * n
    if isinstance(value, (list, tuple)) and len(value) == n and all(is_int(v) for v in value):
        return tuple(int(v) for v in value)
    return None


@dataclass
class Verdict:
    culprits: list[str]  # broken rules, by parameter name; empty: valid
    dtype: Optional[np.dtype] = None
    out_shape: Optional[tuple[int, ...]] = None
    n: int = 0
    stride: tuple = ()
    padding: tuple = ()
    output_padding: tuple = ()  # effective (resolved from output_size if given)
    dilation: tuple = ()
    groups: int = 1

    @property
    def valid(self) -> bool:
        return not self.culprits


def forward_verdict(x, w, b, n_fixed, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                    output_size=None, module=False) -> Verdict:
    """Should ``conv_transpose*(x, w, b, ...)`` succeed? ``n_fixed`` is None for the N-d function.

    ``x``, ``w``, ``b`` are what the caller passes (anything array-like). ``module``: the layer's
    ``output_padding`` is ignored when ``output_size`` is given (PyTorch's module rule). Every
    broken rule that can be judged is listed (relations only once their parts are valid).
    """
    culprits: list[str] = []
    arrays = {"input": np.asarray(x), "weight": np.asarray(w)}
    if b is not None:
        arrays["bias"] = np.asarray(b)
    dtypes = {a.dtype for a in arrays.values()}
    if any(d not in FLOATS for d in dtypes) or len(dtypes) > 1:
        culprits.append("dtype")
    xs, ws = arrays["input"].shape, arrays["weight"].shape
    n = len(ws) - 2 if n_fixed is None else n_fixed
    if n < 1 or len(ws) != n + 2 or min(ws) < 1:
        return Verdict(culprits + ["weight"])
    if len(xs) not in (n + 1, n + 2) or min(xs[-n - 1:]) < 1:
        return Verdict(culprits + ["input"])
    unbatched = len(xs) == n + 1
    s, p, op, d = (per_axis(v, n) for v in (stride, padding, output_padding, dilation))
    for name, value, least in (("stride", s, 1), ("padding", p, 0), ("output_padding", op, 0), ("dilation", d, 1)):
        # positions are int64 in the engine: every hyper-parameter is at most 2**62 (documented)
        if value is None or min(value) < least or max(value) > 2**62:
            culprits.append(name)
    s, p, op, d = (None if name in culprits else value for name, value in
                   zip(("stride", "padding", "output_padding", "dilation"), (s, p, op, d)))
    groups_ok = is_int(groups) and 1 <= groups <= 2**62
    if not groups_ok:
        culprits.append("groups")
    size_form_ok = output_size is None or (
        isinstance(output_size, (list, tuple))
        and all(is_int(v) for v in output_size)
        and len(output_size) in (n, n + (1 if unbatched else 2))
    )
    if not size_form_ok:
        culprits.append("output_size")
    if s and d and op and any(o >= max(si, di) for o, si, di in zip(op, s, d)):
        culprits.append("output_padding")
        op = None
    if groups_ok:
        if xs[-n - 1] != ws[0]:
            culprits.append("channels")
        elif xs[-n - 1] % groups:
            culprits.append("groups")
        elif b is not None and arrays["bias"].shape != (ws[1] * int(groups),):
            culprits.append("bias")
    if s and p and d:
        smallest = [(li - 1) * si - 2 * pi + di * (ki - 1) + 1 for li, ki, si, pi, di in zip(xs[-n:], ws[2:], s, p, d)]
        if output_size is not None and size_form_ok and op is not None:
            requested = [int(v) for v in output_size][-n:]
            if any(op) and not module:
                culprits.append("output_size")
            elif any(not (lo <= r <= lo + si - 1) or r < 1 for r, lo, si in zip(requested, smallest, s)):
                culprits.append("output size")
            op = tuple(r - lo for r, lo in zip(requested, smallest))
        if op is not None and min(lo + o for lo, o in zip(smallest, op)) < 1:
            culprits.append("output size")
    if culprits:
        return Verdict(sorted(set(culprits)))
    out_channels = ws[1] * int(groups)
    out = tuple(lo + o for lo, o in zip(smallest, op))
    shape = (out_channels,) + out if unbatched else (xs[0], out_channels) + out
    return Verdict([], dtypes.pop(), shape, n, s, p, op, d, int(groups))


def reference(v: Verdict, x, w, b, grad_output=None):
    """torch's float64 forward (naive loops for N-d > 3) and, given ``grad_output``, torch
    autograd's ``(grad_input, grad_weight, grad_bias)``, for a valid call."""
    x64, w64 = np.array(x, np.float64), np.array(w, np.float64)  # copies: torch refuses negative strides
    b64 = None if b is None else np.array(b, np.float64)
    hyper = dict(stride=v.stride, padding=v.padding, output_padding=v.output_padding, groups=v.groups,
                 dilation=v.dilation)
    if v.n > 3:
        batched = x64 if x64.ndim == v.n + 2 else x64[np.newaxis]
        out = conv_transpose_naive(batched, w64, b64, **hyper)
        return (out if x64.ndim == v.n + 2 else out[0]), None
    tx, tw = torch.tensor(x64, requires_grad=True), torch.tensor(w64, requires_grad=True)
    tb = None if b64 is None else torch.tensor(b64, requires_grad=True)
    out = TORCH_FN[v.n](tx, tw, tb, **hyper)
    if grad_output is None:
        return out.detach().numpy(), None
    out.backward(torch.tensor(np.array(grad_output, np.float64)))
    grads = (tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy())
    return out.detach().numpy(), grads


# ============================================================================================
# Strategies
# ============================================================================================

#: Per rank: largest spatial size and kernel size (small enough for the naive reference).
LIMITS = {1: (5, 3), 2: (3, 2), 3: (2, 2), 4: (2, 2)}


@dataclass(frozen=True)
class Config:
    """A valid call: batch None means unbatched."""

    n: int
    batch: Optional[int]
    in_channels: int
    out_per_group: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    bias: bool
    seed: int

    @property
    def x_shape(self):
        core = (self.in_channels,) + self.spatial
        return core if self.batch is None else (self.batch,) + core

    @property
    def w_shape(self):
        return (self.in_channels, self.out_per_group) + self.kernel

    @property
    def out_channels(self):
        return self.out_per_group * self.groups

    def smallest(self):
        return tuple((li - 1) * s + d * (k - 1) + 1 - 2 * p
                     for li, k, s, p, d in zip(self.spatial, self.kernel, self.stride, self.padding, self.dilation))

    def out_shape(self, output_padding=None):
        op = self.output_padding if output_padding is None else output_padding
        out = tuple(lo + o for lo, o in zip(self.smallest(), op))
        lead = (self.out_channels,) if self.batch is None else (self.batch, self.out_channels)
        return lead + out

    def hyper(self):
        return dict(stride=self.stride, padding=self.padding, output_padding=self.output_padding,
                    groups=self.groups, dilation=self.dilation)


@st.composite
def configs(draw, ndims=(1, 2, 3), batches=(None, 0, 1, 2)) -> Config:
    n = draw(st.sampled_from(ndims))
    max_size, max_kernel = LIMITS[n]
    groups = draw(st.integers(1, 2))
    spatial = tuple(draw(st.integers(1, max_size)) for _ in range(n))
    kernel = tuple(draw(st.integers(1, max_kernel)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    padding = tuple(
        draw(st.integers(0, min(2, ((li - 1) * s + d * (k - 1)) // 2)))
        for li, k, s, d in zip(spatial, kernel, stride, dilation)
    )
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    return Config(
        n=n, batch=draw(st.sampled_from(batches)), in_channels=groups * draw(st.integers(1, 2)),
        out_per_group=draw(st.integers(1, 2)), spatial=spatial, kernel=kernel, stride=stride, padding=padding,
        output_padding=output_padding, dilation=dilation, groups=groups, bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def values(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """Random data of ``dtype`` (floats ~ N(0, 1); other kinds small integers or their casts)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind == "u":
        return rng.integers(0, 4, shape).astype(dtype)
    if dtype.kind == "O":
        return rng.standard_normal(shape).astype(object)  # Python floats in an object array
    return rng.integers(-3, 4, shape).astype(dtype)


ND_FORMS = ("c", "fortran", "strided", "negative", "readonly", "zero_stride", "subclass")
SEQ_FORMS = ("list", "tuple")


def to_tuple(value):
    return tuple(to_tuple(v) for v in value) if isinstance(value, list) else value


def in_form(array: np.ndarray, form: str):
    """The same values (``zero_stride``: the first value everywhere) in another container/layout."""
    if form == "c":
        return array.copy()
    if form == "fortran":
        return np.asfortranarray(array)
    if form == "list":
        return array.tolist()
    if form == "tuple":
        return to_tuple(array.tolist())
    if form == "subclass":
        return array.copy().view(Sub)
    if form == "readonly":
        copy = array.copy()
        copy.setflags(write=False)
        return copy
    if form == "zero_stride":
        first = array.reshape(-1)[:1].reshape(()) if array.size else np.zeros((), array.dtype)
        return np.broadcast_to(first, array.shape)
    if array.ndim == 0:
        return array.copy()
    if form == "strided":
        big = np.zeros(tuple(2 * s for s in array.shape), dtype=array.dtype)
        view = big[(slice(None, None, 2),) * array.ndim]
        view[...] = array
        return view
    if form == "negative":
        return np.flip(np.flip(array).copy())
    raise AssertionError(form)


def int_variants(v: int) -> list:
    """``v`` as every integer type a caller might hand over."""
    out: list = [v]
    if -(2**63) <= v < 2**63:
        out.append(np.int64(v))
    if -(2**31) <= v < 2**31:
        out.append(np.int32(v))
    if -128 <= v < 128:
        out.append(np.int8(v))
    if 0 <= v < 256:
        out.append(np.uint8(v))
    if 0 <= v < 2**64:
        out.append(np.uint64(v))
    return out


def int_forms(ints: st.SearchStrategy) -> st.SearchStrategy:
    return ints.flatmap(lambda v: st.sampled_from(int_variants(v)))


ODD_SCALARS = (
    True, False, np.bool_(True), np.bool_(False), 1.0, 2.0, 0.5, np.float64(1.0), np.float32(2.0), float("nan"),
    float("inf"), "1", "", b"2", None, 1 + 0j, Fraction(2), Decimal(1), np.array(1), np.array([1, 1]), [], (),
)


@st.composite
def int_or_tuple(draw, per_axis_values: tuple[int, ...]):
    """A valid per-axis value in one of the accepted forms."""
    if len(set(per_axis_values)) == 1 and draw(st.booleans()):
        return draw(st.sampled_from(int_variants(per_axis_values[0])))
    items = [draw(st.sampled_from(int_variants(v))) for v in per_axis_values]
    return draw(st.sampled_from([tuple(items), list(items)]))


@st.composite
def odd_param(draw, n: int, odd_ints: st.SearchStrategy, fine_ints: st.SearchStrategy):
    """A value for an int-or-tuple parameter that is probably wrong in some way."""
    kind = draw(st.sampled_from(["odd_int", "scalar", "mixed_tuple", "wrong_length", "nested"]))
    if kind == "odd_int":
        return draw(int_forms(odd_ints))
    if kind == "scalar":
        return draw(st.sampled_from(ODD_SCALARS))
    element = st.one_of(int_forms(fine_ints), int_forms(odd_ints), st.sampled_from(ODD_SCALARS))
    if kind == "mixed_tuple":
        items = draw(st.lists(element, min_size=n, max_size=n))
    elif kind == "wrong_length":
        items = draw(st.lists(int_forms(fine_ints), min_size=0, max_size=n + 2).filter(lambda v: len(v) != n))
    else:
        items = [(draw(int_forms(fine_ints)),) for _ in range(n)]
    return draw(st.sampled_from([tuple(items), list(items)]))


# ============================================================================================
# Operands: containers, layouts, dtypes, ranks, empty dimensions
# ============================================================================================


def call_api(api: str, n: int, x, w, b, dtype, **kwargs):
    """Forward through the functional, N-d or module API. The module takes the layer's dtype."""
    if api == "functional":
        return FIXED[n](x, w, b, **kwargs)
    if api == "generic":
        return ct.conv_transpose(x, w, b, **kwargs)
    output_size = kwargs.pop("output_size", None)
    w_arr = np.asarray(w)
    layer = MODULES[n](w_arr.shape[0], w_arr.shape[1] * kwargs["groups"], w_arr.shape[2:], bias=b is not None,
                       dtype=dtype, rng=0, **kwargs)
    layer.weight = w
    if b is not None:
        layer.bias = b
    return layer(x, output_size=output_size)


@scaled(1.0)
@given(cfg=configs(), data=st.data())
def test_forward_operand_forms_and_dtypes(cfg, data):
    """Containers, layouts and dtypes of the three operands; mismatched dtypes are rejected."""
    api = data.draw(st.sampled_from(["functional", "generic", "module"]), label="api")
    base = data.draw(st.sampled_from(FLOATS), label="dtype")
    rng = np.random.default_rng(cfg.seed)
    shapes = {"x": cfg.x_shape, "w": cfg.w_shape, "b": (cfg.out_channels,) if cfg.bias else None}
    operands = {}
    for name, shape in shapes.items():
        if shape is None:
            operands[name] = None
            continue
        # The module's weight and bias go through the setters: ndarrays of the layer's dtype.
        odd_dtype_ok = api != "module" or name == "x"
        dtype = base if not odd_dtype_ok or data.draw(st.integers(0, 4), label=f"{name} odd?") else (
            data.draw(st.sampled_from(FLOATS + ODD_DTYPES), label=f"{name} dtype"))
        forms = ND_FORMS + SEQ_FORMS if odd_dtype_ok else ND_FORMS
        operands[name] = in_form(values(rng, shape, dtype), data.draw(st.sampled_from(forms), label=f"{name} form"))
    x, w, b = operands["x"], operands["w"], operands["b"]
    verdict = forward_verdict(x, w, b, cfg.n, **cfg.hyper())
    note(f"verdict: {verdict}")
    out, error = run(call_api, api, cfg.n, x, w, b, base, **cfg.hyper())
    if not verdict.valid:
        expect_error(error, verdict.culprits)
        return
    assert error is None, f"valid call rejected: {error!r}"
    expected, _ = reference(verdict, x, w, b)
    assert_matches(out, expected, verdict.dtype, f"{api} forward", inputs=(x, w, b))


def _mutated_shapes(draw, cfg: Config) -> tuple[tuple, tuple, Optional[tuple]]:
    x_shape, w_shape = list(cfg.x_shape), list(cfg.w_shape)
    b_shape = [cfg.out_channels] if cfg.bias else None
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["x_rank", "w_rank", "x_zero", "w_zero", "x_channels", "bias", "x_big"]))
        if kind == "x_rank":
            if draw(st.booleans()) or len(x_shape) == 0:
                x_shape.insert(0, draw(st.integers(0, 2)))
            else:
                x_shape.pop(0)
        elif kind == "w_rank":
            if draw(st.booleans()) or len(w_shape) == 0:
                w_shape.append(draw(st.integers(1, 2)))
            else:
                w_shape.pop()
        elif kind == "x_zero" and x_shape:
            x_shape[draw(st.integers(0, len(x_shape) - 1))] = 0
        elif kind == "w_zero" and w_shape:
            w_shape[draw(st.integers(0, len(w_shape) - 1))] = 0
        elif kind == "x_channels" and len(x_shape) > cfg.n:
            x_shape[-cfg.n - 1] += draw(st.sampled_from([-1, 1]))
        elif kind == "bias":
            b_shape = draw(st.sampled_from([[], [cfg.out_channels + 1], [cfg.out_channels, 1], [1, cfg.out_channels]]))
        elif kind == "x_big" and x_shape:
            x_shape[-1] += draw(st.integers(1, 3))
    return tuple(max(v, 0) for v in x_shape), tuple(max(v, 0) for v in w_shape), (
        None if b_shape is None else tuple(b_shape))


@scaled(1.0)
@given(cfg=configs(ndims=(1, 2, 3, 4)), data=st.data())
def test_forward_ranks_and_empty_dimensions(cfg, data):
    """Wrong ranks, empty batch/channel/spatial/kernel axes, bias shapes, 0-d arrays and scalars."""
    api = "generic" if cfg.n == 4 else data.draw(st.sampled_from(["functional", "generic"]), label="api")
    dtype = data.draw(st.sampled_from(FLOATS[1:]), label="dtype")
    x_shape, w_shape, b_shape = _mutated_shapes(data.draw, cfg)
    rng = np.random.default_rng(cfg.seed)
    x, w = values(rng, x_shape, dtype), values(rng, w_shape, dtype)
    b = None if b_shape is None else values(rng, b_shape, dtype)
    scalar = data.draw(st.sampled_from([None, None, None, "x", "w", "b"]), label="scalar operand")
    if scalar is not None:
        form = data.draw(st.sampled_from(["0-d", "python float", "numpy scalar"]), label="scalar form")
        value = {"0-d": np.array(1.5, dtype), "python float": 1.5, "numpy scalar": dtype.type(1.5)}[form]
        x, w, b = (value if scalar == "x" else x), (value if scalar == "w" else w), (value if scalar == "b" else b)
    if x is not None and isinstance(x, np.ndarray) and x.size <= 64 and data.draw(st.booleans(), label="list x"):
        x = x.tolist() if x.ndim else x  # note: an empty batch as a list loses its shape
    n_fixed = None if api == "generic" else cfg.n
    verdict = forward_verdict(x, w, b, n_fixed, **cfg.hyper())
    note(f"verdict: {verdict}")
    call = ct.conv_transpose if api == "generic" else FIXED[cfg.n]
    out, error = run(call, x, w, b, **cfg.hyper())
    if not verdict.valid:
        expect_error(error, verdict.culprits)
        return
    assert error is None, f"valid call rejected: {error!r}"
    expected, _ = reference(verdict, x, w, b)
    assert_matches(out, expected, verdict.dtype, f"{api} forward")


# ============================================================================================
# Hyper-parameters and output_size in odd forms, forward and gradients
# ============================================================================================

ODD_INTS = {
    "stride": st.integers(-2, 0),  # huge strides: see test_absurd_sizes_fail_fast_with_our_error
    "dilation": st.integers(-2, 0),
    "padding": st.one_of(st.integers(-2, -1), st.integers(3, 6), st.integers(10**9, 10**18), st.just(2**70)),
    "output_padding": st.one_of(st.integers(-2, -1), st.integers(2, 5), st.integers(10**9, 10**18)),
    "groups": st.one_of(st.integers(-1, 0), st.integers(3, 5), st.integers(10**9, 10**18), st.just(2**70)),
}
FINE_INTS = {"stride": st.integers(1, 3), "dilation": st.integers(1, 2), "padding": st.integers(0, 2),
             "output_padding": st.integers(0, 2), "groups": st.integers(1, 2)}


@st.composite
def odd_output_size(draw, cfg: Config):
    """None (often), or output_size in an accepted form -- in range or not -- or a wrong one."""
    kind = draw(st.sampled_from(["none", "none", "spatial", "full", "out_of_range", "scalar", "wrong", "huge"]))
    if kind == "none":
        return None
    low = cfg.smallest()
    sizes = [lo + draw(st.integers(0, s - 1)) for lo, s in zip(low, cfg.stride)]
    if kind == "out_of_range":
        axis = draw(st.integers(0, cfg.n - 1))
        sizes[axis] = draw(st.sampled_from([low[axis] - 1, low[axis] + cfg.stride[axis], 0, -sizes[axis]]))
    elif kind == "huge":
        sizes[draw(st.integers(0, cfg.n - 1))] = draw(st.sampled_from([10**9, 10**18, 2**70]))
    if kind == "full":
        lead = [cfg.out_channels] if cfg.batch is None else [cfg.batch, cfg.out_channels]
        lead = draw(st.sampled_from([lead, [7] * len(lead), [10**12] * len(lead)]))  # leading sizes are ignored
        sizes = lead + sizes
    if kind == "scalar":
        return draw(st.sampled_from([sizes[0], float(sizes[0]), str(sizes[0]), np.array(sizes), True]))
    items = [draw(st.sampled_from(int_variants(v))) for v in sizes]
    if kind == "wrong":
        wrong = draw(st.sampled_from(["length", "element", "nested"]))
        if wrong == "length":
            items = draw(st.sampled_from([[], items + [3], items + [1, 1, 1, 1], items[:-1]]))
        elif wrong == "element":
            items[draw(st.integers(0, len(items) - 1))] = draw(st.sampled_from(ODD_SCALARS))
        else:
            items = [(v,) for v in items]
    as_size = all(is_int(v) and abs(v) < 2**63 for v in items)  # torch.Size holds int64s
    return draw(st.sampled_from([tuple(items), list(items), torch.Size([int(v) for v in items]) if as_size else items]))


@scaled(1.0)
@given(cfg=configs(), data=st.data())
def test_hyperparameters_in_odd_forms(cfg, data):
    """stride/padding/output_padding/dilation/groups/output_size as NumPy ints, bools, floats, strings,
    None, nested or wrong-length tuples and huge values; forward (three APIs) and all gradients."""
    n = cfg.n
    params: dict[str, Any] = {}
    for name in ("stride", "padding", "output_padding", "dilation", "groups"):
        if data.draw(st.integers(0, 3), label=f"{name} odd?") == 0:
            if name == "groups":
                value = data.draw(st.one_of(int_forms(ODD_INTS[name]), st.sampled_from(ODD_SCALARS)), label=name)
            else:
                value = data.draw(odd_param(n, ODD_INTS[name], FINE_INTS[name]), label=name)
        elif name == "groups":
            value = data.draw(st.sampled_from(int_variants(cfg.groups)), label=name)
        else:
            value = data.draw(int_or_tuple(getattr(cfg, name)), label=name)
        params[name] = value
    output_size = data.draw(odd_output_size(cfg), label="output_size")
    api = data.draw(st.sampled_from(["functional", "generic", "module"]), label="api")
    dtype = data.draw(st.sampled_from(FLOATS[1:]), label="dtype")
    groups_ok = is_int(params["groups"]) and 0 < params["groups"] < 100
    groups = int(params["groups"]) if groups_ok else 1
    rng = np.random.default_rng(cfg.seed)
    x, w = values(rng, cfg.x_shape, dtype), values(rng, cfg.w_shape, dtype)
    b = values(rng, (cfg.out_per_group * groups,), dtype) if cfg.bias else None
    # The functional rules (also those of the gradient functions), and the module's.
    functional = forward_verdict(x, w, b, n, output_size=output_size, **params)
    verdict = forward_verdict(x, w, b, n, output_size=output_size, module=api == "module", **params)
    if api == "module" and not groups_ok:  # the layer needs out_channels = weight.shape[1] * groups
        verdict = Verdict(sorted(set(verdict.culprits + ["groups"])))
    note(f"verdict: {verdict}; functional verdict: {functional}")

    def forward():
        if api == "module":
            layer = MODULES[n](cfg.in_channels, cfg.out_per_group * groups, cfg.kernel, bias=cfg.bias, dtype=dtype,
                               rng=0, **params)
            layer.weight = w
            if b is not None:
                layer.bias = b
            return layer(x, output_size=output_size), layer
        kwargs = dict(params, output_size=output_size)
        return (FIXED[n](x, w, b, **kwargs) if api == "functional" else ct.conv_transpose(x, w, b, **kwargs)), None

    result, error = run(forward)
    gy_shape = next((v.out_shape for v in (functional, verdict) if v.valid), cfg.out_shape())
    gy = values(np.random.default_rng(cfg.seed + 1), gy_shape, dtype)
    kwargs = dict(params, output_size=output_size)
    grads = {
        "conv_transpose_backward": run(lambda: ct.conv_transpose_backward(gy, x, w, bias=b is not None, **kwargs)),
        "conv_transpose_input_grad": run(lambda: ct.conv_transpose_input_grad(gy, x.shape, w, **kwargs)),
        "conv_transpose_weight_grad": run(lambda: ct.conv_transpose_weight_grad(gy, x, w.shape, **kwargs)),
    }
    if functional.valid:
        _, (tgx, tgw, tgb) = reference(functional, x, w, b, grad_output=gy)
        for name, (_, grad_error) in grads.items():
            assert grad_error is None, f"{name}: valid call rejected: {grad_error!r}"
        gx, gw, gb = grads["conv_transpose_backward"][0]
        assert_matches(gx, tgx, dtype, "grad_input")
        assert_matches(gw, tgw, dtype, "grad_weight")
        if b is not None:
            assert_matches(gb, tgb, dtype, "grad_bias")
        else:
            assert gb is None
        assert_matches(grads["conv_transpose_input_grad"][0], tgx, dtype, "conv_transpose_input_grad")
        assert_matches(grads["conv_transpose_weight_grad"][0], tgw, dtype, "conv_transpose_weight_grad")
    else:
        for name, (_, grad_error) in grads.items():
            expect_error(grad_error, [], f"({name}; broken: {functional.culprits})")

    if not verdict.valid:
        expect_error(error, verdict.culprits, f"({api} forward)")
        return
    assert error is None, f"valid call rejected by the {api} API: {error!r}"
    out, layer = result
    expected, (tgx, tgw, tgb) = reference(verdict, x, w, b, grad_output=gy)
    assert_matches(out, expected, dtype, f"{api} forward", inputs=(x, w, b))
    if layer is not None:
        gx_layer, error = run(layer.backward, gy)
        assert error is None, repr(error)
        assert_matches(gx_layer, tgx, dtype, "layer.backward")
        assert_matches(layer.weight_grad, tgw, dtype, "layer.weight_grad")
        if b is not None:
            assert_matches(layer.bias_grad, tgb, dtype, "layer.bias_grad")


# ============================================================================================
# NaN and inf
# ============================================================================================


def _sprinkle(rng: np.random.Generator, array: np.ndarray, count: int) -> None:
    if array.size:
        for _ in range(count):
            array.flat[rng.integers(array.size)] = rng.choice([np.nan, np.inf, -np.inf])


def forced_forward(engine_path: str, cfg, x, w, b):
    """The verdict of a valid call and its forward on a forced engine path (None when the forced
    'small' path refuses the problem: beyond its placement-matrix limit)."""
    verdict = forward_verdict(x, w, b, cfg.n, **cfg.hyper())
    assert verdict.valid, verdict
    with engine.use_path(engine_path):
        out, error = run(ct.conv_transpose, x, w, b, **cfg.hyper())
    if isinstance(error, ct.ParameterError) and engine_path == "small":
        return verdict, None
    assert error is None, repr(error)
    return verdict, out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@scaled(0.5)
@given(cfg=configs(), data=st.data())
def test_nan_and_inf_propagate_like_torch(engine_path, cfg, data):
    """Non-finite values reach exactly the outputs they reach in torch (and the naive reference):
    the forward with NaN/inf in input, weight or bias; the gradients with NaN/inf in grad_output.

    (Gradients with non-finite input or weight are not compared: there torch's own zero padding
    multiplies NaN/inf weights and its answer is an implementation artefact.)
    """
    dtype = data.draw(st.sampled_from(FLOATS[1:]), label="dtype")
    rng = np.random.default_rng(cfg.seed)
    x, w = values(rng, cfg.x_shape, dtype), values(rng, cfg.w_shape, dtype)
    b = values(rng, (cfg.out_channels,), dtype) if cfg.bias else None
    target = data.draw(st.sampled_from(["x", "w", "b"] if cfg.bias else ["x", "w"]), label="non-finite operand")
    _sprinkle(rng, {"x": x, "w": w, "b": b}[target], data.draw(st.integers(1, 3), label="count"))
    verdict, out = forced_forward(engine_path, cfg, x, w, b)
    if out is None:
        return
    expected, _ = reference(verdict, x, w, b)
    # Regression: the 'small' path (chosen automatically for tiny problems) makes the whole output NaN
    # when any operand holds NaN/inf (its 0/1 placement product computes 0 * inf); the 'phase'
    # path turns outputs NaN that no NaN/inf weight tap reaches (its zero-padded input windows
    # multiply every tap). E.g. conv_transpose1d(ones((1, 1, 1)), [[[1.0, nan]]]) gives [nan, nan]
    # on both paths; torch and the 'gemm' paths give [1, nan].
    assert_matches(out, expected, dtype, f"forward on path {engine_path!r}")

    x, w = values(rng, cfg.x_shape, dtype), values(rng, cfg.w_shape, dtype)
    gy = values(rng, cfg.out_shape(), dtype)
    _sprinkle(rng, gy, data.draw(st.integers(1, 3), label="grad count"))
    _, (tgx, tgw, _) = reference(verdict, x, w, None, grad_output=gy)
    with engine.use_path(engine_path):
        grads, error = run(ct.conv_transpose_backward, gy, x, w, bias=True, **cfg.hyper())
    assert error is None, repr(error)
    gx, gw, gb = grads
    # Regression: the same for the gradients on the 'small' path (grad_output @ S^T spreads NaN everywhere)
    # and for grad_weight on the 'phase' path: grad_output [[[1, nan]]] with input ones((1, 1, 1))
    # and a (1, 1, 2) weight gives grad_weight [nan, nan]; torch gives [1, nan].
    assert_matches(gx, tgx, dtype, f"grad_input on path {engine_path!r}")
    assert_matches(gw, tgw, dtype, f"grad_weight on path {engine_path!r}")
    assert_matches(gb, gy.astype(np.float64).sum(axis=tuple(i for i in range(gy.ndim) if i != gy.ndim - cfg.n - 1)),
                   dtype, "grad_bias")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@scaled(0.5)
@given(cfg=configs(), data=st.data())
def test_overflowing_products_give_inf_like_torch(engine_path, cfg, data):
    """Finite operands whose every product overflows give +-inf exactly where a product lands
    (and the bias elsewhere), as torch does, on every engine path.

    Regression: the 'small' path gave NaN everywhere, e.g.
    conv_transpose2d(full((1, 1, 2, 2), 1e308), full((1, 1, 2, 2), 10.0)): its 0/1 placement
    product computed inf * 0.
    """
    dtype = data.draw(st.sampled_from(FLOATS[1:]), label="dtype")
    sign = data.draw(st.sampled_from([1.0, -1.0]), label="sign of the weight")
    rng = np.random.default_rng(cfg.seed)
    root = np.sqrt(np.finfo(dtype).max)  # every product >= 4 * max: overflows whatever the order of the sums
    x = ((1 + rng.random(cfg.x_shape)) * 2 * root).astype(dtype)
    w = (sign * (1 + rng.random(cfg.w_shape)) * 2 * root).astype(dtype)
    b = values(rng, (cfg.out_channels,), dtype) if cfg.bias else None
    verdict, out = forced_forward(engine_path, cfg, x, w, b)
    if out is None:
        return
    reach, _ = reference(verdict, np.ones(x.shape), np.ones(w.shape), None)
    bias_only, _ = reference(verdict, np.zeros(x.shape), np.zeros(w.shape), b)
    expected = np.where(reach > 0, sign * np.inf, bias_only)
    assert_matches(out, expected, dtype, f"forward on path {engine_path!r}")


# ============================================================================================
# Gradient helpers: operand forms, shape arguments
# ============================================================================================


def shape_forms(shape: tuple[int, ...]) -> list:
    return [shape, list(shape), tuple(np.int64(v) for v in shape), torch.Size(shape), np.array(shape),
            shape[1:], shape + (1,), tuple(float(v) for v in shape), str(shape), None, len(shape),
            tuple(-v for v in shape), tuple(bool(v) for v in shape)]


@scaled(1.0)
@given(cfg=configs(), data=st.data())
def test_gradient_functions_operand_forms(cfg, data):
    """conv_transpose_backward / _input_grad / _weight_grad / _bias_grad with odd operands."""
    base = data.draw(st.sampled_from(FLOATS), label="dtype")
    rng = np.random.default_rng(cfg.seed)
    x, w = values(rng, cfg.x_shape, base), values(rng, cfg.w_shape, base)
    gy = values(rng, cfg.out_shape(), base)
    forms = ND_FORMS + SEQ_FORMS
    odd_gy_dtype = data.draw(st.integers(0, 5), label="grad_output odd?") == 0
    gy_arg = in_form(gy.astype(data.draw(st.sampled_from(FLOATS + ODD_DTYPES))) if odd_gy_dtype else gy,
                     data.draw(st.sampled_from(forms), label="grad_output form"))
    x_arg = in_form(x, data.draw(st.sampled_from(forms), label="input form"))
    w_arg = in_form(w, data.draw(st.sampled_from(forms), label="weight form"))
    if data.draw(st.integers(0, 4), label="gy shape odd?") == 0:
        gy_arg = in_form(values(rng, cfg.out_shape()[:-1] + (cfg.out_shape()[-1] + 1,), base), "c")
    function = data.draw(st.sampled_from(["backward", "input_grad", "weight_grad", "bias_grad"]), label="function")
    hyper = cfg.hyper()
    if function == "bias_grad":
        out, error = run(ct.conv_transpose_bias_grad, gy_arg)
        gy_arr = np.asarray(gy_arg)
        if gy_arr.dtype == np.int64 and gy_arr.ndim >= 3:
            # a list of ints (e.g. an int32 array's tolist()) is an int64 array: exact integer sums
            assert error is None, repr(error)
            np.testing.assert_array_equal(out, gy_arr.sum(axis=(0,) + tuple(range(2, gy_arr.ndim))))
            assert out.dtype == np.int64
            return
        if gy_arr.dtype not in FLOATS or gy_arr.ndim < 3:
            expect_error(error, ["grad_output"])
            return
        assert error is None, repr(error)
        expected = gy_arr.astype(np.float64).sum(axis=(0,) + tuple(range(2, gy_arr.ndim)))
        assert_matches(out, expected, gy_arr.dtype, "conv_transpose_bias_grad", inputs=(gy_arg,))
        return
    if function == "backward":
        out, error = run(ct.conv_transpose_backward, gy_arg, x_arg, w_arg, bias=cfg.bias, **hyper)
        x_eff, w_eff = x_arg, w_arg
    elif function == "input_grad":
        shape_arg = data.draw(st.sampled_from(shape_forms(cfg.x_shape)), label="input_shape")
        out, error = run(ct.conv_transpose_input_grad, gy_arg, shape_arg, w_arg, **hyper)
        x_eff, w_eff = stand_in(shape_arg, np.asarray(w_arg).dtype), w_arg
    else:
        shape_arg = data.draw(st.sampled_from(shape_forms(cfg.w_shape)), label="weight_shape")
        out, error = run(ct.conv_transpose_weight_grad, gy_arg, x_arg, shape_arg, **hyper)
        x_eff, w_eff = x_arg, stand_in(shape_arg, np.asarray(x_arg).dtype)
    gy_arr = np.asarray(gy_arg)
    verdict = None if x_eff is None or w_eff is None else forward_verdict(x_eff, w_eff, None, cfg.n, **hyper)
    note(f"verdict: {verdict}, grad_output {gy_arr.dtype} {gy_arr.shape}")
    if not (verdict and verdict.valid and gy_arr.dtype == verdict.dtype and gy_arr.shape == verdict.out_shape):
        expect_error(error, [])
        return
    assert error is None, f"valid call rejected: {error!r}"
    _, (tgx, tgw, _) = reference(verdict, x_eff, w_eff, None, grad_output=gy_arr)
    dtype = verdict.dtype
    if function == "backward":
        gx, gw, gb = out
        assert_matches(gx, tgx, dtype, "grad_input", inputs=(x_arg, w_arg, gy_arg))
        assert_matches(gw, tgw, dtype, "grad_weight", inputs=(x_arg, w_arg, gy_arg))
        if cfg.bias:
            channel_axis = gy_arr.ndim - cfg.n - 1
            expected = gy_arr.astype(np.float64).sum(axis=tuple(i for i in range(gy_arr.ndim) if i != channel_axis))
            assert_matches(gb, expected, dtype, "grad_bias")
        else:
            assert gb is None
    elif function == "input_grad":
        assert_matches(out, tgx, dtype, "conv_transpose_input_grad", inputs=(w_arg, gy_arg))
    else:
        assert_matches(out, tgw, dtype, "conv_transpose_weight_grad", inputs=(x_arg, gy_arg))


def stand_in(shape_arg, dtype) -> Optional[np.ndarray]:
    """The operand a shape argument stands for, or None if the argument must be rejected."""
    if isinstance(shape_arg, (list, tuple)) and all(is_int(v) and v >= 0 for v in shape_arg):
        return np.zeros(tuple(int(v) for v in shape_arg), dtype)
    return None


@pytest.mark.parametrize("api", ["functional", "module"])
def test_result_is_c_contiguous_for_fortran_input(engine_path, api):
    """A regression example found by test_forward_operand_forms_and_dtypes with more examples.

    Regression: the 'small' path (chosen automatically here) returns an F-ordered array for an F-ordered
    grouped input: "results are fresh C-contiguous arrays" (README)."""
    x = np.asfortranarray(np.arange(4.0, dtype=np.float32).reshape(2, 2, 1))
    w = np.ones((2, 1, 1), np.float32)
    with engine.use_path(engine_path):
        out, error = run(call_api, api, 1, x, w, None, np.dtype(np.float32), groups=2)
    assert error is None, repr(error)
    assert_matches(out, np.asarray(x, np.float64), np.dtype(np.float32), f"{api} on {engine_path!r}", inputs=(x, w))


@pytest.mark.parametrize("flag", [True, False, None, 0, 1, np.bool_(True), np.bool_(False), np.ones(3)],
                         ids=lambda f: repr(f).replace(" ", ""))
def test_backward_bias_flag_forms(flag):
    """``bias=`` of conv_transpose_backward is a flag; a torch user may well pass the bias array."""
    x, w, gy = np.ones((1, 2, 3, 3)), np.ones((2, 3, 2, 2)), np.ones((1, 3, 4, 4))
    # Regression: bias=np.ones(3) raises NumPy's "truth value of an array ... is ambiguous" ValueError.
    result, error = run(ct.conv_transpose_backward, gy, x, w, bias=flag)
    if error is None:
        wants_bias = not (flag is None or (is_int(flag) or isinstance(flag, (bool, np.bool_))) and not flag)
        assert (result[2] is not None) == wants_bias
        if wants_bias:
            np.testing.assert_array_equal(result[2], np.full(3, 16.0))


# ============================================================================================
# Modules: constructor arguments, setters, state dicts
# ============================================================================================

DTYPE_ARGS = (None, np.float16, np.float32, np.float64, "float32", "float64", "f2", float, np.dtype("float32"),
              ">f4", "int32", np.int64, bool, "not a dtype", complex, "torch.float32", [1], "f4, f4", "(2,)f4", "U")


def _dtype_verdict(arg) -> Optional[np.dtype]:
    if arg is None:
        return np.dtype(np.float32)
    try:
        resolved = np.dtype(arg)
    except TypeError:
        return None
    return resolved if any(resolved == f and resolved.isnative for f in FLOATS) else None


@scaled(1.0)
@given(data=st.data())
def test_module_constructor_odd_arguments(data):
    """Channels, kernel_size, groups, bias, padding_mode, device, dtype, ndim in odd forms."""
    n = data.draw(st.sampled_from([1, 2, 3]), label="n")
    cls = data.draw(st.sampled_from([MODULES[n], ct.ConvTransposeNd]), label="class")
    channel = st.one_of(int_forms(st.integers(1, 4)), int_forms(st.integers(-1, 0)),
                        st.sampled_from([True, 2.0, "2", None, np.array(2)]))
    in_channels = data.draw(channel, label="in_channels")
    out_channels = data.draw(channel, label="out_channels")
    kernel = data.draw(st.one_of(int_or_tuple(tuple(data.draw(st.integers(1, 2)) for _ in range(n))),
                                 odd_param(n, st.integers(-1, 0), st.integers(1, 2))), label="kernel_size")
    groups = data.draw(st.one_of(int_forms(st.integers(1, 2)), int_forms(st.integers(-1, 0)),
                                 st.sampled_from([2.0, True, None])), label="groups")
    extra: dict[str, Any] = {}
    if data.draw(st.booleans(), label="odd extras?"):
        extra["padding_mode"] = data.draw(st.sampled_from(["zeros", "reflect", "ZEROS", None]))
        extra["device"] = data.draw(st.sampled_from([None, "cpu", torch.device("cpu"), "cuda", "cuda:0", 0]))
        extra["bias"] = data.draw(st.sampled_from([True, False, 0, 1, np.bool_(False)]))
    dtype_arg = data.draw(st.sampled_from(DTYPE_ARGS), label="dtype")
    if isinstance(dtype_arg, str) and dtype_arg == "torch.float32":  # a placeholder: torch loads lazily
        dtype_arg = torch.float32
    ndim_arg = None
    if cls is ct.ConvTransposeNd or data.draw(st.booleans(), label="pass ndim?"):
        ndim_arg = data.draw(st.sampled_from([None, n, np.int64(n), n + 1, 0, -1, "2", None]), label="ndim")
    layer, error = run(cls, in_channels, out_channels, kernel, groups=groups, dtype=dtype_arg, rng=0, ndim=ndim_arg,
                       **extra)

    # the oracle
    if cls is ct.ConvTransposeNd:
        if ndim_arg is None:
            ndim_ok = isinstance(kernel, (list, tuple)) and len(kernel) >= 1
            n_eff = len(kernel) if isinstance(kernel, (list, tuple)) else 0
        else:
            ndim_ok, n_eff = is_int(ndim_arg) and ndim_arg >= 1, ndim_arg
    else:
        ndim_ok, n_eff = ndim_arg is None or (is_int(ndim_arg) and ndim_arg == n), n
    k = per_axis(kernel, n_eff) if ndim_ok and is_int(n_eff) and n_eff >= 1 else None
    dtype = _dtype_verdict(dtype_arg)
    valid = (
        ndim_ok and k is not None and min(k) >= 1 and dtype is not None
        and all(is_int(c) and c >= 1 for c in (in_channels, out_channels))
        and is_int(groups) and groups >= 1 and in_channels % groups == 0 and out_channels % groups == 0
        and extra.get("padding_mode", "zeros") == "zeros"
        and (extra.get("device") is None or str(extra.get("device")) == "cpu")
    )
    note(f"valid: {valid}")
    if not valid:
        expect_error(error, [])
        return
    assert error is None, f"valid constructor call rejected: {error!r}"
    assert layer.weight.dtype == dtype and layer.weight.shape == (in_channels, out_channels // groups) + k
    repr(layer)
    x = values(np.random.default_rng(0), (2, int(in_channels)) + (2,) * n_eff, dtype)
    if n_eff > 3:
        return
    out, error = run(layer, x)
    assert error is None, repr(error)
    tl = getattr(torch.nn, f"ConvTranspose{n_eff}d")(int(in_channels), int(out_channels), k, groups=int(groups),
                                                     bias=layer.bias is not None, dtype=torch.float64)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(layer.weight.astype(np.float64)))
        if layer.bias is not None:
            tl.bias.copy_(torch.from_numpy(layer.bias.astype(np.float64)))
        expected = tl(torch.from_numpy(x.astype(np.float64))).numpy()
    assert_matches(out, expected, dtype, "layer forward", inputs=(x, layer.weight))


SETTER_VALUES = {
    "c": lambda a: a.copy(), "fortran": np.asfortranarray, "strided": lambda a: in_form(a, "strided"),
    "negative": lambda a: in_form(a, "negative"), "readonly": lambda a: in_form(a, "readonly"),
    "zero_stride": lambda a: in_form(a, "zero_stride"), "subclass": lambda a: in_form(a, "subclass"),
    "float64": lambda a: a.astype(np.float64), "int": lambda a: a.astype(np.int32), "list": lambda a: a.tolist(),
    "wrong shape": lambda a: a[..., :1].copy(), "0-d": lambda a: a.reshape(-1)[0].reshape(()).copy(),
    "None": lambda a: None, "float": lambda a: 1.0, "torch": lambda a: torch.from_numpy(a.copy()),
    "nan": lambda a: np.full_like(a, np.nan),
}


#: Setter values that must be accepted: arrays of the layer's dtype in any layout (NaN is a value).
SETTER_ACCEPTED = ("c", "fortran", "strided", "negative", "readonly", "zero_stride", "subclass", "nan", "None")


@pytest.mark.parametrize("form", list(SETTER_VALUES))
@pytest.mark.parametrize("name", ["weight", "bias"])
def test_parameter_setters_odd_values(name, form):
    """A setter either takes a copy of exactly the given values or raises and changes nothing."""
    layer = ct.ConvTranspose2d(2, 4, (2, 3), stride=2, groups=2, rng=0)  # float32
    value = SETTER_VALUES[form](getattr(layer, name).copy() + np.float32(0.5))
    before = {k: v.copy() for k, v in layer.parameters().items()}
    _, error = run(setattr, layer, name, value)
    # Both ways: an accepted form must be taken, every other one rejected (None only for the bias).
    accepted = form in SETTER_ACCEPTED and not (form == "None" and name == "weight")
    if error is not None:
        assert not accepted, f"rejected {form}: {error!r}"
        for key, array in before.items():
            np.testing.assert_array_equal(layer.parameters()[key], array)
        return
    assert accepted, f"accepted {form}"
    current = getattr(layer, name)
    if value is None:
        assert name == "bias" and current is None
    else:
        assert type(current) is np.ndarray and current.flags.c_contiguous and current.flags.writeable
        assert not np.shares_memory(current, value)
        np.testing.assert_array_equal(current, value)
    x = values(np.random.default_rng(1), (1, 2, 3, 3), np.float32)
    out, error = run(layer, x)
    assert error is None, repr(error)
    expected = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x.astype(np.float64)), torch.from_numpy(layer.weight.astype(np.float64)),
        None if layer.bias is None else torch.from_numpy(layer.bias.astype(np.float64)), stride=2, groups=2).numpy()
    assert_matches(out, expected, np.dtype(np.float32), "forward after the setter")


STATE_DICTS = {
    "float64 arrays": lambda w, b: {"weight": w.astype(np.float64), "bias": b.astype(np.float64)},
    "lists": lambda w, b: {"weight": w.tolist(), "bias": b.tolist()},
    "torch tensors": lambda w, b: {"weight": torch.from_numpy(w.copy()), "bias": torch.from_numpy(b.copy())},
    "non-contiguous": lambda w, b: {"weight": in_form(w, "negative"), "bias": in_form(b, "strided")},
    "int arrays": lambda w, b: {"weight": w.astype(np.int64), "bias": b},
    "None values": lambda w, b: {"weight": None, "bias": b},
    "string values": lambda w, b: {"weight": "w", "bias": b},
    "wrong shape": lambda w, b: {"weight": w[:1], "bias": b},
    "missing key": lambda w, b: {"weight": w},
    "ragged list": lambda w, b: {"weight": [[1.0], [1.0, 2.0]], "bias": b},  # Regression: NumPy's ValueError
    "None": lambda w, b: None,  # Regression: TypeError: 'NoneType' object is not iterable
    "list of pairs": lambda w, b: [("weight", w), ("bias", b)],  # Regression: TypeError: unhashable type: 'numpy.ndarray'
    "int keys": lambda w, b: {0: w, 1: b},
}


@pytest.mark.parametrize("kind", list(STATE_DICTS))
def test_load_state_dict_odd_values(kind):
    layer = ct.ConvTranspose2d(2, 3, 2, rng=0)
    source = ct.ConvTranspose2d(2, 3, 2, rng=1)
    state = STATE_DICTS[kind](source.weight, source.bias)
    before = layer.state_dict()
    _, error = run(layer.load_state_dict, state)
    accepted = kind in ("float64 arrays", "lists", "torch tensors", "non-contiguous")  # both ways
    if error is not None:
        assert not accepted, f"rejected {kind}: {error!r}"
        for key, array in before.items():
            np.testing.assert_array_equal(layer.state_dict()[key], array)
        return
    assert accepted, f"accepted {kind}"
    for key in ("weight", "bias"):
        np.testing.assert_allclose(layer.state_dict()[key], np.asarray(state[key], np.float32), rtol=0, atol=0)


@pytest.mark.parametrize("rng", [None, 0, 2**40, np.int64(3), np.random.default_rng(0), -1, 1.5, "seed", [1, 2]],
                         ids=lambda v: "Generator" if isinstance(v, np.random.Generator) else repr(v))
def test_module_rng_forms(rng):
    """``rng=`` (ours, not PyTorch's): a Generator, a seed, or None; anything else is our error.

    Regression: -1, 1.5 and "seed" raise NumPy's own ValueError/TypeError from default_rng."""
    layer, error = run(ct.ConvTranspose1d, 2, 3, 2, rng=rng)
    if error is None:
        assert layer.weight.shape == (2, 3, 2)


# ============================================================================================
# Containers NumPy cannot turn into a plain float array
# ============================================================================================

RAGGED = [[[1.0, 2.0], [1.0]]]  # an inhomogeneous nested list


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: ct.conv_transpose1d(RAGGED, np.ones((2, 3, 2))), id="input"),
        pytest.param(lambda: ct.conv_transpose1d(np.ones((1, 2, 2)), [[[1.0, 2.0]], [[1.0]]]), id="weight"),
        pytest.param(lambda: ct.conv_transpose1d(np.ones((1, 1, 2)), np.ones((1, 2, 2)), [1.0, [2.0]]), id="bias"),
        pytest.param(lambda: ct.conv_transpose_backward(RAGGED, np.ones((1, 1, 2)), np.ones((1, 1, 2))),
                     id="grad_output"),
        pytest.param(lambda: ct.conv_transpose_bias_grad(RAGGED), id="bias_grad"),
        pytest.param(lambda: ct.ConvTranspose1d(2, 3, 2)(RAGGED), id="module"),
    ],
)
def test_ragged_nested_lists(call):
    # Regression: every one of these raises NumPy's "setting an array element with a sequence" ValueError
    # (np.asarray in functional._as_operand), not one of ours naming the operand.
    _, error = run(call)
    assert error is not None


@pytest.mark.parametrize("operand", ["input", "weight", "layer input"])
def test_masked_arrays(operand):
    """A MaskedArray is an ndarray subclass: use its data (as torch.as_tensor would) or reject it.

    Regression: it reaches the engine as is, and NumPy's MaskedArray matmul raises "operands could not be
    broadcast together"."""
    x, w = np.arange(6.0).reshape(1, 2, 3), np.ones((2, 3, 2))
    if operand == "input":
        out, error = run(ct.conv_transpose1d, np.ma.masked_array(x), w)
    elif operand == "weight":
        out, error = run(ct.conv_transpose1d, x, np.ma.masked_array(w))
    else:
        layer = ct.ConvTranspose1d(2, 3, 2, dtype=np.float64, bias=False)
        layer.weight = w
        out, error = run(layer, np.ma.masked_array(x))
    if error is None:
        expected = torch.nn.functional.conv_transpose1d(torch.from_numpy(x), torch.from_numpy(w)).numpy()
        assert_matches(np.asarray(out), expected, np.dtype(np.float64), "masked")


# ============================================================================================
# Shape helpers
# ============================================================================================


@st.composite
def helper_arg(draw, fine: st.SearchStrategy):
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        return draw(int_forms(fine))
    if kind <= 6:
        length = draw(st.integers(1, 3))
        return draw(st.sampled_from([tuple, list]))(draw(int_forms(fine)) for _ in range(length))
    if kind == 7:
        return draw(int_forms(st.one_of(st.integers(-3, 0), st.integers(10**12, 10**30))))
    if kind == 8:
        return draw(st.sampled_from(ODD_SCALARS))
    return tuple(draw(st.one_of(int_forms(fine), st.sampled_from(ODD_SCALARS))) for _ in range(draw(st.integers(0, 3))))


def _helper_oracle(args: dict[str, Any], positive: tuple[str, ...], non_negative: tuple[str, ...]):
    """Per-axis values (and whether every argument was an int) or None for a rejected call."""
    lengths = {len(v) for v in args.values() if isinstance(v, (list, tuple))}
    if len(lengths) > 1 or any(not is_int(v) and not isinstance(v, (list, tuple)) for v in args.values()):
        return None
    scalar = not lengths
    n = lengths.pop() if lengths else 1
    if n == 0:
        return None
    norm = {k: per_axis(v, n) for k, v in args.items()}
    if any(v is None for v in norm.values()):
        return None
    if any(min(norm[k]) < 1 for k in positive) or any(min(norm[k]) < 0 for k in non_negative):
        return None
    hyper = ("stride", "padding", "output_padding", "dilation")
    if any(max(norm[k]) > 2**62 for k in hyper if k in norm):  # the engine's int64 positions
        return None
    return norm, n, scalar


@scaled(1.0)
@given(data=st.data())
def test_shape_helpers(data):
    """output_size / output_size_range / output_padding_for against the formula, with odd arguments."""
    fine = st.integers(1, 6)
    args = {"input_size": data.draw(helper_arg(fine), label="input_size"),
            "kernel_size": data.draw(helper_arg(fine), label="kernel_size"),
            "stride": data.draw(helper_arg(st.integers(1, 3)), label="stride"),
            "padding": data.draw(helper_arg(st.integers(0, 3)), label="padding"),
            "dilation": data.draw(helper_arg(st.integers(1, 3)), label="dilation")}
    function = data.draw(st.sampled_from(["output_size", "output_size_range", "output_padding_for"]), label="fn")
    if function == "output_size":
        args["output_padding"] = data.draw(helper_arg(st.integers(0, 2)), label="output_padding")
    if function == "output_padding_for":
        args["output_size"] = data.draw(helper_arg(st.integers(1, 20)), label="output_size")
    result, error = run(getattr(ct, function), **args)
    positive = ("input_size", "kernel_size", "stride", "dilation")
    non_negative = ("padding", "output_padding") if function == "output_size" else ("padding",)
    oracle = _helper_oracle(args, positive, non_negative)
    if oracle is None:
        expect_error(error, [])
        return
    norm, _, scalar = oracle
    smallest = tuple((i - 1) * s - 2 * p + d * (k - 1) + 1 for i, k, s, p, d in zip(
        norm["input_size"], norm["kernel_size"], norm["stride"], norm["padding"], norm["dilation"]))
    unpack = (lambda v: v[0]) if scalar else (lambda v: v)
    if function == "output_size":
        op = norm["output_padding"]
        out = tuple(lo + o for lo, o in zip(smallest, op))
        canvas = [(i - 1) * s + d * (k - 1) + 1 for i, k, s, d in
                  zip(norm["input_size"], norm["kernel_size"], norm["stride"], norm["dilation"])]
        if any(o >= max(s, d) for o, s, d in zip(op, norm["stride"], norm["dilation"])) or min(out) < 1:
            expect_error(error, [])
            return
        if max(canvas) > 2**62:  # longer than 64-bit positions: OutputSizeError (documented)
            expect_error(error, ["output size"])
            return
        assert error is None, repr(error)
        assert result == unpack(out) and type(result) is type(unpack(out))
    elif function == "output_size_range":
        largest = tuple(lo + s - 1 for lo, s in zip(smallest, norm["stride"]))
        # PyTorch's range, as PyTorch computes it: bounds below 1 are reported as they are (sizes
        # below 1 are then rejected by output_size and output_padding_for).
        assert error is None, repr(error)
        assert result == (unpack(smallest), unpack(largest))
    else:
        requested = norm["output_size"]
        if any(not lo <= r <= lo + s - 1 or r < 1 for r, lo, s in zip(requested, smallest, norm["stride"])):
            expect_error(error, ["output size"])
            return
        assert error is None, repr(error)
        assert result == unpack(tuple(r - lo for r, lo in zip(requested, smallest)))


# ============================================================================================
# Absurd sizes: in a worker process with a memory limit and a per-call time limit
# ============================================================================================

#: id -> (statement, what is acceptable). "error": a ConvTransposeError (a ValueError/TypeError for
#: sizes no array can hold, or OutOfMemoryError, a MemoryError, for valid calls this machine cannot
#: hold; a bare NumPy MemoryError or "array is too big" is not acceptable);
#: "error_or_ok": that, or success (the result is small or empty). Every case must also end within
#: the time limit: a correct implementation answers in microseconds.
ABSURD = {
    # Regression: hangs -- engine.phase.axis_phases loops over range(stride) even when the output has 2
    # elements (the cost model builds the phase plan for every call, whatever the path).
    "stride_1e12_single_input_1d": (
        "ct.conv_transpose1d(np.ones((1, 2, 1)), np.ones((2, 3, 2)), stride=10**12)", "error_or_ok"),
    # Regression: hangs, then MemoryError (output of 4e24 elements)
    "stride_1e12_2d": ("ct.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 3, 2, 2)), stride=10**12)", "error"),
    # Regression: hangs (an empty batch, same phase loop)
    "stride_1e12_empty_batch": (
        "ct.conv_transpose1d(np.ones((0, 2, 3)), np.ones((2, 3, 2)), stride=10**12)", "error_or_ok"),
    # Regression: hangs (valid: output_size (3,) means output_padding 1)
    "stride_1e12_output_size": (
        "ct.conv_transpose1d(np.ones((1, 2, 1)), np.ones((2, 3, 2)), stride=10**12, output_size=(3,))",
        "error_or_ok"),
    # Regression: hangs
    "stride_1e12_backward": (
        "ct.conv_transpose_backward(np.ones((1, 3, 2)), np.ones((1, 2, 1)), np.ones((2, 3, 2)), stride=10**12)",
        "error_or_ok"),
    # Regression: MemoryError, or NumPy's ValueError "array is too big" without a memory limit
    "dilation_1e12": ("ct.conv_transpose1d(np.ones((1, 2, 3)), np.ones((2, 3, 2)), dilation=10**12)", "error"),
    # Regression: MemoryError (21.8 TiB)
    "dilation_1e6_2d": ("ct.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 3, 2, 2)), dilation=10**6)",
                        "error"),
    # Regression: MemoryError: output_padding < dilation is valid, and makes a 1e12-long output
    "output_padding_1e12": (
        "ct.conv_transpose1d(np.ones((1, 2, 3)), np.ones((2, 3, 1)), dilation=10**12, output_padding=10**12 - 1)",
        "error"),
    # fine today: padding that crops a huge dilated canvas to one element
    "dilation_padding_1e12": (
        "ct.conv_transpose1d(np.ones((1, 1, 1)), np.ones((1, 1, 2)), dilation=10**12, padding=5 * 10**11)",
        "error_or_ok"),
    "padding_1e18": ("ct.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 3, 2, 2)), padding=10**18)", "error"),
    "output_size_1e18": (
        "ct.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 3, 2, 2)), output_size=(10**18, 4))", "error"),
    "input_shape_1e12": (
        "ct.conv_transpose_input_grad(np.ones((1, 3, 4)), (1, 2, 10**12), np.ones((2, 3, 2)))", "error"),
    # Regression: MemoryError allocating a (2, 3, 1e6, 1e6) weight
    "module_kernel_1e6": ("ct.ConvTranspose2d(2, 3, 10**6)", "error"),
    # Regression: NumPy's ValueError "array is too big"
    "module_channels_1e9": ("ct.ConvTranspose2d(10**9, 10**9, 3)", "error"),
    # Regression: builds 1e6-long tuples and a 2**1e6 fan-in: > 1 s, then OverflowError "int too large to
    # convert to float" (1/sqrt(fan_in))
    "module_ndim_1e6": ("ct.ConvTransposeNd(2, 3, 2, ndim=10**6)", "error"),
    # Regression: MemoryError building 1e9-element tuples
    "make_spec_ndim_1e9": ("ct.make_spec(10**9)", "error"),
}

_WORKER = textwrap.dedent(
    """
    import json, resource, signal, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
    import numpy as np
    import convtranspose as ct

    class Hang(BaseException):
        pass

    def alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    for path in ct.engine.available_paths():  # warm-up: compiled paths import their kernels on first use
        with ct.engine.use_path(path):
            ct.conv_transpose1d(np.ones((1, 2, 3)), np.ones((2, 3, 2)), stride=2)
    for case_id, statement in json.loads(sys.argv[1]):
        signal.setitimer(signal.ITIMER_REAL, float(sys.argv[2]))
        try:
            eval(statement)
            outcome = {"kind": "ok"}
        except Hang:
            outcome = {"kind": "timeout"}
        except BaseException as exc:
            outcome = {"kind": "error", "type": type(exc).__name__, "message": str(exc)[:300],
                       "ours": isinstance(exc, ct.ConvTransposeError) and isinstance(exc, (ValueError, TypeError, MemoryError))}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        print(json.dumps([case_id, outcome]), flush=True)
    """
)

#: Seconds per call in the worker (after warm-up). Workers run in parallel, two of them.
ABSURD_CALL_SECONDS = 1.0


@lru_cache(maxsize=1)
def _absurd_outcomes() -> dict[str, dict]:
    cases = [(case_id, statement) for case_id, (statement, _) in ABSURD.items()]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(cases[i::2]), str(ABSURD_CALL_SECONDS)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for i in range(2)
    ]
    outcomes: dict[str, dict] = {}
    for worker in workers:
        try:
            stdout, stderr = worker.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            worker.kill()
            stdout, stderr = worker.communicate()
        for line in stdout.splitlines():
            case_id, outcome = json.loads(line)
            outcomes[case_id] = outcome
        if worker.returncode:
            warnings.warn(f"absurd-size worker exited with {worker.returncode}: {stderr[-500:]}")
    return outcomes


@pytest.mark.parametrize("case_id", list(ABSURD))
def test_absurd_sizes_fail_fast_with_our_error(case_id):
    statement, acceptable = ABSURD[case_id]
    outcome = _absurd_outcomes().get(case_id, {"kind": "worker crashed"})
    if outcome["kind"] == "ok":
        assert acceptable == "error_or_ok", f"{statement} succeeded; expected a ConvTransposeError"
        return
    assert outcome["kind"] == "error", (
        f"{statement}: {outcome['kind']} (no answer within {ABSURD_CALL_SECONDS} s under a 3 GiB memory limit)")
    assert outcome["ours"], f"{statement} raised {outcome['type']}: {outcome['message']}"


# ============================================================================================
# Padding forms and modes (issue "Beyond PyTorch")
# ============================================================================================

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
ODD_MODES = ("Reflect", "mirror", "", "same", 1, None, b"zeros", ("zeros",))


@st.composite
def odd_paddings(draw, n: int):
    """A padding in a valid or an odd form, and whether the oracle expects it to be accepted."""
    kind = draw(st.sampled_from(
        ["int", "flat", "pairs", "mixed", "string", "odd_string", "bytes", "pair_length", "negative_pair",
         "float_in_pair", "wrong_count", "huge_pair", "bool_in_pair"]))
    small = st.integers(0, 3)
    if kind == "int":
        return draw(small), True
    if kind == "flat":
        return tuple(draw(small) for _ in range(n)), True
    if kind == "pairs":
        return tuple((draw(small), draw(small)) for _ in range(n)), True
    if kind == "mixed":
        return tuple(draw(small) if draw(st.booleans()) else [draw(small), draw(small)] for _ in range(n)), True
    if kind == "string":
        return draw(st.sampled_from(["valid", "same", "same_lower"])), True
    if kind == "odd_string":
        return draw(st.sampled_from(["SAME", "Valid", "full", "same_upper", "", "1"])), False
    if kind == "bytes":
        return b"same", False
    pairs = [(draw(small), draw(small)) for _ in range(n)]
    axis = draw(st.integers(0, n - 1))
    if kind == "pair_length":
        pairs[axis] = draw(st.sampled_from([(1,), (1, 2, 3), ()]))
    elif kind == "negative_pair":
        pairs[axis] = (draw(small), draw(st.integers(-3, -1)))
    elif kind == "float_in_pair":
        pairs[axis] = (1.0, 0)
    elif kind == "bool_in_pair":
        pairs[axis] = (True, 0)
    elif kind == "huge_pair":
        pairs[axis] = (0, 2**70)
    else:  # wrong_count
        pairs = pairs + [(0, 0)]
    return tuple(pairs), False


@given(cfg=configs(), data=st.data())
def test_padding_forms_and_modes(cfg, data):
    from padding_oracle import expected_pads, output_spatial, torch_vjp

    padding, form_ok = data.draw(odd_paddings(cfg.n), label="padding")
    mode = data.draw(st.one_of(st.sampled_from(PADDING_MODES), st.sampled_from(ODD_MODES)), label="padding_mode")
    api = data.draw(st.sampled_from(["functional", "generic"]), label="api")
    rng = np.random.default_rng(cfg.seed)
    x, w = values(rng, cfg.x_shape, np.float64), values(rng, cfg.w_shape, np.float64)
    b = values(rng, (cfg.out_channels,), np.float64) if cfg.bias else None
    hyper = dict(stride=cfg.stride, output_padding=cfg.output_padding, groups=cfg.groups, dilation=cfg.dilation)
    fn = FIXED[cfg.n] if api == "functional" else ct.conv_transpose
    result, error = run(fn, x, w, b, padding=padding, padding_mode=mode, **hyper)

    culprits = []
    if mode not in PADDING_MODES:
        culprits.append("padding_mode")
    if not form_ok:
        culprits.append("padding")
    if culprits:
        return expect_error(error, culprits)
    norm = tuple(tuple(p) if isinstance(p, list) else p for p in padding) if isinstance(padding, tuple) else padding
    pads, ops = expected_pads(norm, cfg.kernel, cfg.stride, cfg.dilation, cfg.output_padding)
    out = output_spatial(cfg.spatial, cfg.kernel, cfg.stride, cfg.dilation, pads, ops)
    if min(out) < 1:
        return expect_error(error, ["output size"])
    folded = [(bf, max(af, 0)) for bf, af in pads]
    if mode == "reflect" and any(max(p) >= o for p, o in zip(folded, out)):
        return expect_error(error, ["padding_mode"])
    if mode == "circular" and any(max(p) > o for p, o in zip(folded, out)):
        return expect_error(error, ["padding_mode"])
    assert error is None, f"rejected a valid call: {error}"
    batched = x if cfg.batch is not None else x[None]
    expected, _ = torch_vjp(batched, w, b, pads=pads, ops=ops, mode=mode, stride=cfg.stride,
                            dilation=cfg.dilation, groups=cfg.groups)
    expected = expected.detach().numpy()
    assert_matches(result, expected if cfg.batch is not None else expected[0], np.dtype(np.float64),
                   "padding forms/modes", inputs=(x, w, b))
