"""Helpers shared by the forward-pass tests: configurations, strategies, the per-case check.

A :class:`Case` is one transposed-convolution call: shapes, hyper-parameters (in the exact form
passed to the API: an int or a per-axis tuple), dtype, which API to call and a seed for the data.
The hypothesis strategies here draw cases small enough for the naive loop reference. The oracles and
``assert_close`` come from :mod:`oracle`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np
from hypothesis import event, settings
from hypothesis import strategies as st

import convtranspose
from convtranspose.engine import available_paths, use_path
from convtranspose.errors import OutputSizeError, ParameterError, ShapeError
from oracle import (
    OURS_FN,
    OURS_MODULE,
    TORCH_FN,
    TORCH_MODULE,
    adjoint_sides,
    assert_adjoint,
    assert_close,
    conv_transpose_naive,
    per_axis,
    require_torch,
)

# --------------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------------


def scaled(fraction: float, minimum: int = 10) -> settings:
    """``settings`` with ``fraction`` of the active profile's ``max_examples`` (see conftest)."""
    return settings(max_examples=max(minimum, int(round(fraction * settings.default.max_examples))))


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

APIS = ("functional", "generic", "module")


@dataclass(frozen=True)
class Case:
    ndim: int
    batch: Optional[int]  # None: unbatched input
    x_channels: int
    x_spatial: tuple[int, ...]
    weight_shape: tuple[int, ...]  # (C_in, C_out / groups, *kernel)
    bias_length: Optional[int]  # None: no bias
    stride: Any = 1
    padding: Any = 0
    output_padding: Any = 0
    dilation: Any = 1
    groups: Any = 1
    output_size: Optional[tuple[int, ...]] = None
    dtype: str = "float64"
    api: str = "functional"
    values: str = "normal"  # "normal" or "ints" (small integers: exact arithmetic)
    seed: int = 0
    x_rank_delta: int = 0  # invalid cases: add (+1) or drop (-1) an input dimension

    # -- derived -----------------------------------------------------------------------------

    @property
    def kernel(self) -> tuple[int, ...]:
        return self.weight_shape[2:]

    @property
    def out_channels(self) -> int:
        return self.weight_shape[1] * self.groups

    @property
    def x_shape(self) -> tuple[int, ...]:
        shape = (self.x_channels,) + self.x_spatial
        if self.batch is not None:
            shape = (self.batch,) + shape
        if self.x_rank_delta > 0:
            shape = (1,) * self.x_rank_delta + shape
        elif self.x_rank_delta < 0:
            shape = shape[-self.x_rank_delta :]
        return shape

    def arrays(self) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """Input, weight and bias in the case's dtype, reproducible from ``seed``."""
        rng = np.random.default_rng(self.seed)

        def draw(shape):
            if self.values == "ints":
                data = rng.integers(-3, 4, size=shape).astype(np.float64)
            else:
                data = rng.standard_normal(size=shape)
            return data.astype(self.dtype)

        x = draw(self.x_shape)
        w = draw(self.weight_shape)
        b = None if self.bias_length is None else draw((self.bias_length,))
        return x, w, b

    def effective_output_padding(self) -> tuple[int, ...]:
        """The output padding the call should use (resolved from ``output_size`` if given).

        Computed here from the formula, independently of the library's shape functions.
        """
        if self.output_size is None:
            return per_axis(self.output_padding, self.ndim)
        requested = self.output_size[-self.ndim :]
        stride, padding, dilation = (per_axis(v, self.ndim) for v in (self.stride, self.padding, self.dilation))
        smallest = [
            (n - 1) * s - 2 * p + d * (k - 1) + 1
            for n, k, s, p, d in zip(self.x_spatial, self.kernel, stride, padding, dilation)
        ]
        return tuple(r - m for r, m in zip(requested, smallest))


# --------------------------------------------------------------------------------------------
# Calling the library and torch
# --------------------------------------------------------------------------------------------

def build_module(case: Case, w: np.ndarray, b: Optional[np.ndarray]):
    """Our module for ``case`` with its weight/bias replaced by ``w``/``b`` (through the setters)."""
    in_channels = case.weight_shape[0]
    module = OURS_MODULE[case.ndim](
        in_channels,
        case.out_channels,
        case.kernel,
        stride=case.stride,
        padding=case.padding,
        output_padding=case.output_padding,
        groups=case.groups,
        bias=b is not None,
        dilation=case.dilation,
        dtype=case.dtype,
        rng=0,
    )
    module.weight = w
    if b is not None:
        module.bias = b
    return module


def call_ours(case: Case, x, w, b, *, path: Optional[str] = None) -> np.ndarray:
    """Run the case through the API it names, on engine ``path`` (automatic choice if None)."""
    with use_path(path):
        if case.api == "module":
            return build_module(case, w, b)(x, output_size=case.output_size)
        kwargs = dict(
            stride=case.stride,
            padding=case.padding,
            output_padding=case.output_padding,
            groups=case.groups,
            dilation=case.dilation,
        )
        if case.output_size is not None:
            kwargs["output_size"] = case.output_size
        if case.api == "generic":
            return convtranspose.conv_transpose(x, w, b, **kwargs)
        return OURS_FN[case.ndim](x, w, b, **kwargs)


def call_torch(case: Case, x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray]) -> np.ndarray:
    """PyTorch's answer for ``case`` (raises whatever torch raises for invalid cases).

    ``torch.nn.functional`` has no ``output_size``; cases with one go through the torch module's
    ``forward(input, output_size)`` (which ignores the module's ``output_padding``, as does ours).
    """
    torch = require_torch()
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    tb = None if b is None else torch.from_numpy(b)
    with torch.no_grad():
        if case.api != "module" and case.output_size is None:
            out = TORCH_FN[case.ndim](
                tx, tw, tb, case.stride, case.padding, case.output_padding, case.groups, case.dilation
            )
        else:
            module = torch_module(case, bias=b is not None)
            module.weight.copy_(tw)
            if b is not None:
                module.bias.copy_(tb)
            out = module(tx, output_size=None if case.output_size is None else list(case.output_size))
    return out.numpy()


def torch_canonical_error(case: Case) -> Optional[BaseException]:
    """Torch's verdict from its strictest backend: float64 and a non-empty batch.

    Some torch backends skip checks that torch's native kernels apply: with an empty batch, or in
    float32 on the oneDNN path (e.g. groups > 1), torch 2.13 accepts ``dilation=0`` and an
    ``output_padding`` that is not smaller than ``stride`` or ``dilation``, and may return an
    empty tensor for an output length of 0. We apply the documented checks consistently, so when
    the fast backend accepts, this asks torch's float64 native path for the rule's verdict.
    """
    strict = replace(case, dtype="float64", batch=1 if case.batch == 0 else case.batch)
    x, w, b = strict.arrays()
    return outcome(call_torch, strict, x, w, b)[1]


def torch_module(case: Case, *, bias: bool):
    """The torch module matching ``case`` (our functional ``output_size`` calls map onto it)."""
    torch = require_torch()
    output_padding = case.output_padding if case.api == "module" else 0
    return TORCH_MODULE[case.ndim](
        case.weight_shape[0],
        case.out_channels,
        case.kernel,
        stride=case.stride,
        padding=case.padding,
        output_padding=output_padding,
        groups=case.groups,
        bias=bias,
        dilation=case.dilation,
        dtype=getattr(torch, case.dtype),
    )


def outcome(fn, *args, **kwargs) -> tuple[Any, Optional[BaseException]]:
    """``(result, None)`` or ``(None, exception)``."""
    try:
        return fn(*args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - we classify it in the test
        return None, exc


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

#: Per rank: (max spatial size, max kernel size, max channels per group, max groups).
LIMITS = {1: (7, 4, 3, 3), 2: (4, 3, 2, 3), 3: (3, 2, 2, 2)}


@st.composite
def int_or_tuple(draw, values: list[int]):
    """The per-axis ``values`` as passed to the API: an int if they are all equal (sometimes)."""
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return tuple(values)


def _smallest_output(n, k, s, p, d):
    return (n - 1) * s - 2 * p + d * (k - 1) + 1


@st.composite
def forward_cases(draw, ndim: int, apis=APIS) -> Case:
    """Mostly valid configurations; a few have padding so large that the output is empty.

    (Invalid cases are kept: the test then checks that torch and we both reject them.)
    """
    max_size, max_kernel, max_per_group, max_groups = LIMITS[ndim]
    groups = draw(st.integers(1, max_groups))
    in_per_group = draw(st.integers(1, max_per_group))
    out_per_group = draw(st.integers(1, max_per_group))
    batch = draw(st.sampled_from([None, 0, 1, 2, 3]))
    spatial = draw(st.lists(st.integers(1, max_size), min_size=ndim, max_size=ndim))
    kernel = draw(st.lists(st.integers(1, max_kernel), min_size=ndim, max_size=ndim))
    axis = st.integers(1, 3)
    stride = draw(st.lists(axis, min_size=ndim, max_size=ndim))
    dilation = draw(st.lists(axis, min_size=ndim, max_size=ndim))
    # Padding up to the largest value that leaves a non-empty output; about one case in ten
    # draws it freely from 0..3 instead, which may make the output empty (then both must reject).
    if draw(st.integers(0, 9)) == 0:
        padding = draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim))
    else:
        padding = [
            draw(st.integers(0, min(3, (_smallest_output(n, k, s, 0, d) - 1) // 2)))
            for n, k, s, d in zip(spatial, kernel, stride, dilation)
        ]
    api = draw(st.sampled_from(apis))
    use_output_size = draw(st.integers(0, 3)) == 0
    if use_output_size and api != "module":
        output_padding = [0] * ndim  # ours rejects both together (tested elsewhere)
    else:
        output_padding = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)]
    output_size = None
    if use_output_size:
        extra = [draw(st.integers(0, s - 1)) for s in stride]
        output_size = tuple(
            _smallest_output(n, k, s, p, d) + e
            for n, k, s, p, d, e in zip(spatial, kernel, stride, padding, dilation, extra)
        )
        if draw(st.booleans()):  # the full shape: (N, C, *S) batched, (C, *S) unbatched
            leading = (out_per_group * groups,) if batch is None else (batch, out_per_group * groups)
            output_size = leading + output_size  # leading sizes are ignored
    has_bias = draw(st.booleans())
    return Case(
        ndim=ndim,
        batch=batch,
        x_channels=in_per_group * groups,
        x_spatial=tuple(spatial),
        weight_shape=(in_per_group * groups, out_per_group) + tuple(kernel),
        bias_length=out_per_group * groups if has_bias else None,
        stride=draw(int_or_tuple(stride)),
        padding=draw(int_or_tuple(padding)),
        output_padding=draw(int_or_tuple(output_padding)),
        dilation=draw(int_or_tuple(dilation)),
        groups=groups,
        output_size=output_size,
        dtype=draw(st.sampled_from(["float32", "float64"])),
        api=api,
        values=draw(st.sampled_from(["normal", "normal", "normal", "ints"])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def largest_valid_padding(case: Case) -> tuple[int, ...]:
    """Per axis, the largest padding that still leaves an output of length >= 1."""
    stride, dilation = per_axis(case.stride, case.ndim), per_axis(case.dilation, case.ndim)
    output_padding = per_axis(case.output_padding, case.ndim)
    full = [(n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip(case.x_spatial, case.kernel, stride, dilation)]
    return tuple((f + op - 1) // 2 for f, op in zip(full, output_padding))


def with_axis(value: Any, ndim: int, axis: int, new: int) -> tuple[int, ...]:
    values = list(per_axis(value, ndim))
    values[axis] = new
    return tuple(values)


MUTATIONS = (
    "stride_non_positive",
    "dilation_non_positive",
    "padding_negative",
    "output_padding_negative",
    "output_padding_too_large",
    "padding_too_large",
    "groups_not_dividing",
    "groups_non_positive",
    "channel_mismatch",
    "bias_length",
    "input_rank",
    "output_size_out_of_range",
    "output_size_wrong_length",
)


@st.composite
def invalid_cases(draw, ndim: int) -> tuple[str, Case]:
    """A valid base case (functional API, no output_size) with one rule broken."""
    base = draw(forward_cases(ndim, apis=("functional", "generic")))
    base = replace(base, output_size=None)
    mutation = draw(st.sampled_from(MUTATIONS))
    axis = draw(st.integers(0, ndim - 1))
    n = ndim
    if mutation == "stride_non_positive":
        case = replace(base, stride=with_axis(base.stride, n, axis, draw(st.integers(-2, 0))))
    elif mutation == "dilation_non_positive":
        case = replace(base, dilation=with_axis(base.dilation, n, axis, draw(st.integers(-2, 0))))
    elif mutation == "padding_negative":
        case = replace(base, padding=with_axis(base.padding, n, axis, draw(st.integers(-3, -1))))
    elif mutation == "output_padding_negative":
        case = replace(base, output_padding=with_axis(base.output_padding, n, axis, draw(st.integers(-3, -1))))
    elif mutation == "output_padding_too_large":
        s = per_axis(base.stride, n)[axis]
        d = per_axis(base.dilation, n)[axis]
        too_large = max(s, d) + draw(st.integers(0, 2))
        case = replace(base, output_padding=with_axis(base.output_padding, n, axis, too_large))
    elif mutation == "padding_too_large":
        too_large = largest_valid_padding(base)[axis] + 1 + draw(st.integers(0, 2))
        case = replace(base, padding=with_axis(base.padding, n, axis, too_large))
    elif mutation == "groups_not_dividing":
        channels = base.weight_shape[0]
        candidates = [g for g in range(2, channels + 3) if channels % g != 0]
        case = replace(base, groups=draw(st.sampled_from(candidates)))
    elif mutation == "groups_non_positive":
        case = replace(base, groups=draw(st.integers(-2, 0)))
    elif mutation == "channel_mismatch":
        case = replace(base, x_channels=base.x_channels + draw(st.sampled_from([-1, 1, 2])))
        if case.x_channels < 1:
            case = replace(case, x_channels=base.x_channels + 1)
    elif mutation == "bias_length":
        wrong = base.out_channels + draw(st.sampled_from([-1, 1, 2]))
        case = replace(base, bias_length=wrong if wrong >= 1 else base.out_channels + 1)
    elif mutation == "input_rank":
        delta = draw(st.sampled_from([1, -1]))
        if base.batch is None and delta == 1:
            base = replace(base, batch=1)  # batched + one extra axis: rank ndim + 3
        if base.batch is not None and delta == -1:
            base = replace(base, batch=None)  # unbatched minus the channel axis: rank ndim
        case = replace(base, x_rank_delta=delta)
    elif mutation == "output_size_out_of_range":
        stride, padding, dilation = (per_axis(v, n) for v in (base.stride, base.padding, base.dilation))
        low = [_smallest_output(*a) for a in zip(base.x_spatial, base.kernel, stride, padding, dilation)]
        sizes = [lo + draw(st.integers(0, s - 1)) for lo, s in zip(low, stride)]
        if draw(st.booleans()):
            sizes[axis] = low[axis] - draw(st.integers(1, 3))
        else:
            sizes[axis] = low[axis] + stride[axis] + draw(st.integers(0, 2))
        case = replace(base, output_padding=0, output_size=tuple(sizes), api=draw(st.sampled_from(APIS)))
    else:  # output_size_wrong_length
        full_length = n + 1 if base.batch is None else n + 2  # (C, *S) unbatched, (N, C, *S) batched
        length = draw(st.sampled_from([k for k in range(0, n + 4) if k not in (n, full_length)]))
        case = replace(
            base, output_padding=0, output_size=tuple([2] * length), api=draw(st.sampled_from(APIS))
        )
    return mutation, case


# --------------------------------------------------------------------------------------------
# The per-case check used by the sweeps
# --------------------------------------------------------------------------------------------


def assert_our_rejection(error: Optional[BaseException], context: str) -> None:
    """We must have raised one of our error classes, which are ValueError/TypeError subclasses."""
    assert error is not None, f"we accepted an invalid configuration: {context}"
    assert isinstance(error, convtranspose.ConvTransposeError), f"{context}: raised {error!r}"
    assert isinstance(error, (ValueError, TypeError)), f"{context}: raised {error!r}"


#: Per mutation: the error class it must raise and a word its message must contain (the broken
#: parameter's name). Any rejection is not enough: the error must be about the broken rule.
EXPECTED_REJECTION: dict[str, tuple[type, str]] = {
    "stride_non_positive": (ParameterError, "stride"),
    "dilation_non_positive": (ParameterError, "dilation"),
    "padding_negative": (ParameterError, "padding"),
    "output_padding_negative": (ParameterError, "output_padding"),
    "output_padding_too_large": (ParameterError, "output_padding"),
    "padding_too_large": (OutputSizeError, "padding"),
    "groups_not_dividing": (ParameterError, "groups"),
    "groups_non_positive": (ParameterError, "groups"),
    "channel_mismatch": (ShapeError, "channels"),
    "bias_length": (ShapeError, "bias"),
    "input_rank": (ShapeError, "input"),
    "output_size_out_of_range": (OutputSizeError, "output size"),
    "output_size_wrong_length": (ParameterError, "output_size"),
}


def assert_rejected_for(mutation: str, error: Optional[BaseException], context: str) -> None:
    """:func:`assert_our_rejection`, and the error is the one of the rule ``mutation`` broke."""
    assert_our_rejection(error, context)
    expected_class, word = EXPECTED_REJECTION[mutation]
    assert isinstance(error, expected_class), f"{context}: expected {expected_class.__name__}, got {error!r}"
    assert word in str(error), f"{context}: the message does not name {word!r}: {error}"


def expected_output_spatial(case: Case) -> tuple[int, ...]:
    """Output lengths from the formula (computed here, not by the library)."""
    stride, padding, dilation = (per_axis(v, case.ndim) for v in (case.stride, case.padding, case.dilation))
    return tuple(
        _smallest_output(n, k, s, p, d) + op
        for n, k, s, p, d, op in zip(
            case.x_spatial, case.kernel, stride, padding, dilation, case.effective_output_padding()
        )
    )


def check_forward_case(case: Case, *, against_torch: bool) -> None:
    """Check one configuration on every engine path.

    * against torch (if ``against_torch``): both reject, or both accept and agree;
    * against the naive loop reference (exactly for integer-valued data);
    * the adjoint identity ``<T x, y> = <x, C y>`` with the independent naive convolution ``C``.

    The references are computed once; the library is called once per engine path.
    """
    x, w, b = case.arrays()
    context = repr(case)
    _, our_error = outcome(call_ours, case, x, w, b)
    expected, torch_error = outcome(call_torch, case, x, w, b) if against_torch else (None, None)
    output_spatial = expected_output_spatial(case)
    if any(size < 1 for size in output_spatial):
        # Padding so large that some output length is <= 0. We always reject (OutputSizeError).
        # Torch rejects negative lengths, but for a length of exactly 0 its answer depends on the
        # backend it picks: e.g. conv_transpose1d of a (1, 2, 1) input with a (2, 1, 4) weight and
        # padding=2 returns an empty (1, 2, 0) tensor in float32 with groups=2, and raises "Output
        # size is too small" in float64 or with groups=1. We follow the consistent rule.
        event("rejected: output length <= 0")
        assert isinstance(our_error, convtranspose.OutputSizeError), f"{context}: raised {our_error!r}"
        if against_torch and torch_error is None:
            assert min(output_spatial) == 0, f"torch accepted a negative output length: {context}"
            assert expected.size == 0, context
        return
    if torch_error is not None:
        event("rejected by torch and by us")
        assert_our_rejection(our_error, f"torch raised {torch_error!r}; {context}")
        return
    assert our_error is None, f"valid configuration rejected with {our_error!r}: {context}"
    event("valid")

    stride, padding, dilation = (per_axis(v, case.ndim) for v in (case.stride, case.padding, case.dilation))
    batched_x = x if case.batch is not None else x[np.newaxis]
    reference = conv_transpose_naive(
        batched_x, w, b, stride=stride, padding=padding, output_padding=case.effective_output_padding(),
        dilation=dilation, groups=case.groups,
    )
    probe = np.random.default_rng(case.seed + 1).standard_normal(reference.shape)
    if case.batch is None:
        reference = reference[0]

    for path in paths():
        where = f"path={path!r}, {context}"
        out = call_ours(case, x, w, b, path=path)
        assert out.flags.c_contiguous, where
        if against_torch:
            assert_close(out, expected, case.dtype, f"vs torch, {where}")
        if case.values == "ints":
            assert out.dtype == np.dtype(case.dtype) and out.shape == reference.shape, where
            np.testing.assert_array_equal(out, reference, err_msg=f"vs naive (exact), {where}")
        else:
            assert_close(out, reference, case.dtype, f"vs naive reference, {where}")

        linear = out if b is None else call_ours(case, x, w, None, path=path)
        if case.batch is None:
            linear = linear[np.newaxis]
        lhs, rhs, scale = adjoint_sides(
            batched_x, linear, probe, w, stride=stride, padding=padding, dilation=dilation, groups=case.groups
        )
        assert_adjoint(lhs, rhs, scale, case.dtype, where)


def paths() -> tuple[str, ...]:
    """Every engine path (looked up at call time so that paths registered later are included)."""
    return available_paths()


__all__ = [
    "APIS",
    "Case",
    "MUTATIONS",
    "assert_our_rejection",
    "assert_rejected_for",
    "build_module",
    "call_ours",
    "call_torch",
    "check_forward_case",
    "expected_output_spatial",
    "forward_cases",
    "invalid_cases",
    "outcome",
    "paths",
    "scaled",
    "torch_canonical_error",
    "torch_module",
]
