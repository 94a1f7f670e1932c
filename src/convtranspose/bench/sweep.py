"""The randomized layer sweep (``convtranspose bench --sweep N --seed S``): realistic random layers.

A user's layer is rarely one of the suite's, so the sweep draws layers the suite does not contain
and times them exactly like the suite (same runners, interleaved rounds, correctness guard). The
generator is a pure function of ``(seed, index)``: layer ``i`` of seed ``S`` is the same in any
sweep length, any process and any NumPy state, because it draws only
:meth:`random.Random.random` floats from a generator seeded with the string
``"convtranspose-sweep:S:i"`` (the one part of :mod:`random` Python keeps stable across versions).

What a layer looks like (hyper-parameters are the same on every spatial axis):

* 1-d, 2-d or 3-d (weights 3 : 5 : 2); 2-d inputs are square or 1.5 / 2 times as wide;
* kernel 1-7 (3 and 4 most often), dilation 1-3 (1 most often; always 1 for a 1-wide kernel),
  stride 1-4 but at most the dilated kernel extent ``d (k - 1) + 1`` (a larger stride leaves
  output positions no tap reaches, which no real decoder does);
* padding and output_padding: in 60 % of the layers, where possible, the pair that makes the
  output exactly ``stride`` times the input (``2p - op = d (k - 1) + 1 - s``); otherwise padding
  uniform in ``0 .. floor(d (k - 1) / 2)`` and output_padding uniform in its valid range
  ``0 .. max(s, d) - 1``;
* channels 8-512 (mostly the usual 8, 16, 24, 32, 48, 64, 96, 128, ..., 512; sometimes any
  number); 70 % dense, 15 % grouped (2-32 groups), 15 % depthwise (``groups = C_in``, channel
  multiplier 1 or 2), except that 1-wide kernels are always dense;
* batch 1-32 (mostly powers of two);
* the spatial size: the largest whose *estimated* forward time stays below a target drawn
  log-uniformly from :data:`TIME_RANGE` (0.05-50 ms). The estimate (:func:`estimated_seconds`)
  counts flops and bytes at nominal rates of a 2-core machine: no timing is involved, so the
  layers do not depend on the machine. Draws whose estimate falls outside the range (huge
  channels and batches even at size 1) or whose output exceeds :data:`MAX_OUTPUT_BYTES` are
  redrawn, and so are 70 % of those whose input has size 1 on an axis (a generator's first
  layer: realistic, but they would otherwise be about one layer in eight).

Examples
--------
>>> layers = sweep_layers(3, seed=1)
>>> [layer.name for layer in layers]
['sweep.000', 'sweep.001', 'sweep.002']
>>> sweep_layers(5, seed=1)[:3] == layers        # layer i does not depend on the count
True
>>> all(TIME_RANGE[0] <= estimated_seconds(layer) <= TIME_RANGE[1] for layer in layers)
True
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from math import prod
from typing import Optional, Sequence, TypeVar

from .suite import Layer

__all__ = [
    "TIME_RANGE",
    "NOMINAL_FLOPS",
    "NOMINAL_BYTES",
    "CALL_OVERHEAD",
    "MAX_OUTPUT_BYTES",
    "CHANNEL_RANGE",
    "BATCH_RANGE",
    "KERNEL_RANGE",
    "STRIDE_RANGE",
    "DILATION_RANGE",
    "estimated_seconds",
    "sweep_layer",
    "sweep_layers",
]

#: Estimated forward time of a layer, seconds: the spatial size is chosen to land in this range.
TIME_RANGE = (0.05e-3, 50e-3)
#: Nominal rates of the estimate (fp32, 2 cores): flops per second, bytes per second.
NOMINAL_FLOPS = 150e9
NOMINAL_BYTES = 10e9
#: Nominal fixed cost of one call, seconds.
CALL_OVERHEAD = 5e-6
#: Largest forward output of a sweep layer (its backward allocates several times this).
MAX_OUTPUT_BYTES = 64 << 20

CHANNEL_RANGE = (8, 512)
BATCH_RANGE = (1, 32)
KERNEL_RANGE = (1, 7)
STRIDE_RANGE = (1, 4)
DILATION_RANGE = (1, 3)

_NDIM_WEIGHTS = {1: 3.0, 2: 5.0, 3: 2.0}
_KERNEL_WEIGHTS = {1: 1.0, 2: 2.0, 3: 3.0, 4: 3.0, 5: 1.0, 6: 1.0, 7: 1.0}
_STRIDE_WEIGHTS = {1: 3.0, 2: 4.0, 3: 1.0, 4: 2.0}
_DILATION_WEIGHTS = {1: 6.0, 2: 2.0, 3: 1.0}
_COMMON_CHANNELS = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
_GROUP_COUNTS = {2: 1.0, 4: 1.0, 8: 1.0, 16: 1.0, 32: 1.0}
_KIND_WEIGHTS = {"dense": 0.70, "grouped": 0.15, "depthwise": 0.15}
_WIDTH_FACTORS = {1.0: 4.0, 1.5: 1.0, 2.0: 1.0}
#: Largest spatial input size per axis, by number of spatial dimensions.
_MAX_SIZE = {1: 1 << 16, 2: 1024, 3: 128}
_EXACT_UPSAMPLING = 0.6
_SIZE_ONE_REJECTED = 0.7
_MAX_ATTEMPTS = 1000
_FLOAT32_BYTES = 4

T = TypeVar("T")


class _Draws:
    """Draws built on :meth:`random.Random.random` only, whose sequence Python keeps stable."""

    def __init__(self, seed: str) -> None:
        self._random = random.Random(seed)

    def uniform(self) -> float:
        return self._random.random()

    def integer(self, low: int, high: int) -> int:
        """Uniform in ``low .. high`` (both included)."""
        return low + min(high - low, int(self.uniform() * (high - low + 1)))

    def log_integer(self, low: int, high: int) -> int:
        """Log-uniform in ``low .. high``."""
        value = math.exp(math.log(low) + self.uniform() * (math.log(high + 1) - math.log(low)))
        return max(low, min(high, int(value)))

    def pick(self, weights: dict[T, float]) -> T:
        """One key of ``weights``, with probability proportional to its weight."""
        point = self.uniform() * sum(weights.values())
        for value, weight in weights.items():
            point -= weight
            if point < 0:
                return value
        return value  # rounding at the very end of the range


def _input_bytes(layer: Layer) -> int:
    return _FLOAT32_BYTES * (prod(layer.input_shape) + prod(layer.weight_shape) + layer.out_channels)


def estimated_seconds(layer: Layer) -> float:
    """Nominal forward time of ``layer``, from its flops and bytes (fp32)::

        CALL_OVERHEAD + flops / NOMINAL_FLOPS + (operands + 2 * columns) / NOMINAL_BYTES

    ``operands`` are the bytes of input, weight, bias and output; ``columns`` those of every
    tap's product, ``N C_out prod(K) prod(S_in)`` values, written and read once by the common
    GEMM-then-scatter method. That term is what makes layers with few channels per group (a
    GEMM too thin to reach the flop rate) expensive, for every implementation.

    A machine-independent estimate, used only to size the sweep's layers. On the suite's layers
    (benchmarks/RESULTS.md, 2 threads) it is 1.0-1.7x our measured forward time and about the
    slowest peer's, except on the depthwise layer (5x ours: our engine has no columns there).

    Examples
    --------
    >>> from convtranspose.bench.suite import find_layers
    >>> dcgan2 = find_layers(["dcgan.2"])[0]         # 4.3 GFLOP; measured: 20-27 ms
    >>> round(estimated_seconds(dcgan2) * 1e3, 1)
    33.5
    """
    output_bytes = _FLOAT32_BYTES * prod(layer.output_shape)
    columns = _FLOAT32_BYTES * layer.batch * layer.out_channels * prod(layer.kernel) * prod(layer.input_size)
    moved = _input_bytes(layer) + output_bytes + 2 * columns
    return CALL_OVERHEAD + layer.forward_flops / NOMINAL_FLOPS + moved / NOMINAL_BYTES


def _channels(draws: _Draws, multiple: int = 1) -> int:
    """A channel count in :data:`CHANNEL_RANGE`, a multiple of ``multiple`` (at least two of them)."""
    low, high = CHANNEL_RANGE
    if draws.uniform() < 0.8:
        value = _COMMON_CHANNELS[draws.integer(0, len(_COMMON_CHANNELS) - 1)]
    else:
        value = draws.log_integer(low, high)
    value = round(value / multiple) * multiple
    return min(high - high % multiple, max(value, 2 * multiple, low))


def _batch(draws: _Draws) -> int:
    low, high = BATCH_RANGE
    if draws.uniform() < 0.7:
        powers = [2**e for e in range(6) if low <= 2**e <= high]
        return powers[draws.integer(0, len(powers) - 1)]
    return draws.integer(low, high)


def _paddings(draws: _Draws, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """``(padding, output_padding)``: exact ``stride``-times upsampling where possible and drawn, else free."""
    rest = dilation * (kernel - 1) + 1 - stride  # >= 0: stride <= the dilated extent
    padding = (rest + 1) // 2
    output_padding = 2 * padding - rest  # 0 or 1
    if draws.uniform() < _EXACT_UPSAMPLING and output_padding < max(stride, dilation):
        return padding, output_padding
    return draws.integer(0, dilation * (kernel - 1) // 2), draws.integer(0, max(stride, dilation) - 1)


def _channels_and_groups(draws: _Draws, kernel: int) -> tuple[int, int, int]:
    kind = draws.pick(_KIND_WEIGHTS) if kernel > 1 else "dense"  # a grouped 1-wide kernel is a mere scaling
    if kind == "depthwise":
        in_channels = _channels(draws)
        multiplier = draws.pick({1: 3.0, 2: 1.0})
        out_channels = in_channels * multiplier if in_channels * multiplier <= CHANNEL_RANGE[1] else in_channels
        return in_channels, out_channels, in_channels
    groups = draws.pick(_GROUP_COUNTS) if kind == "grouped" else 1
    return _channels(draws, groups), _channels(draws, groups), groups


def _sized(layer: Layer, widths: Sequence[float], target: float) -> Layer:
    """``layer`` with the largest spatial size whose estimate is at most ``target`` (at least size 1)."""

    def with_size(size: int) -> Layer:
        spatial = tuple(max(1, round(size * width)) for width in widths)
        return replace(layer, input_size=spatial)

    low, high = 1, _MAX_SIZE[len(widths)]
    while low < high:  # the estimate grows with the size
        middle = (low + high + 1) // 2
        if estimated_seconds(with_size(middle)) <= target:
            low = middle
        else:
            high = middle - 1
    return with_size(low)


def _draw(draws: _Draws, name: str, source: str) -> Optional[Layer]:
    """One candidate layer, or None when its estimate or output size is out of range."""
    ndim = draws.pick(_NDIM_WEIGHTS)
    kernel = draws.pick(_KERNEL_WEIGHTS)
    dilation = 1 if kernel == 1 else draws.pick(_DILATION_WEIGHTS)
    extent = dilation * (kernel - 1) + 1
    stride = draws.pick({s: w for s, w in _STRIDE_WEIGHTS.items() if s <= extent})
    padding, output_padding = _paddings(draws, kernel, stride, dilation)
    in_channels, out_channels, groups = _channels_and_groups(draws, kernel)
    batch = _batch(draws)
    widths = (1.0,) + ((draws.pick(_WIDTH_FACTORS),) if ndim == 2 else (1.0,) * (ndim - 1))
    low, high = TIME_RANGE
    target = math.exp(math.log(low) + draws.uniform() * (math.log(high) - math.log(low)))
    layer = _sized(
        Layer(name, source, batch, in_channels, out_channels, kernel, (1,) * ndim, stride=stride, padding=padding,
              output_padding=output_padding, dilation=dilation, groups=groups),
        widths[:ndim],
        target,
    )
    if not low <= estimated_seconds(layer) <= high:
        return None
    if min(layer.input_size) == 1 and draws.uniform() < _SIZE_ONE_REJECTED:
        return None  # keep inputs of size 1 (a generator's first layer) a minority
    if min(layer.output_spatial) < 1 or _FLOAT32_BYTES * prod(layer.output_shape) > MAX_OUTPUT_BYTES:
        return None
    return layer


def sweep_layer(seed: int, index: int) -> Layer:
    """Layer ``index`` of the sweep with ``seed``: a pure function of the two integers.

    Named ``sweep.<index>`` (three digits at least); its ``source`` names the seed.
    """
    draws = _Draws(f"convtranspose-sweep:{seed}:{index}")
    name, source = f"sweep.{index:03d}", f"random layer {index} of sweep seed {seed}"
    for _ in range(_MAX_ATTEMPTS):
        layer = _draw(draws, name, source)
        if layer is not None:
            return layer
    raise RuntimeError(f"no layer in range after {_MAX_ATTEMPTS} draws (seed {seed}, index {index})")


def sweep_layers(count: int, seed: int) -> list[Layer]:
    """The first ``count`` layers of the sweep with ``seed`` (see the module docstring)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return [sweep_layer(seed, index) for index in range(count)]
