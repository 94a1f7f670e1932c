"""Run the suite: per layer, check correctness, measure our memory, then time every implementation.

For each layer and direction the steps are:

1. **Correctness guard** -- our result (and every peer's) is compared with torch's; a mismatch is
   recorded on the measurement and reported loudly (a benchmark of a wrong answer is meaningless).
2. **Memory** -- one call of ours under :mod:`tracemalloc` (:mod:`convtranspose.bench.memory`).
3. **Timing** -- interleaved best-of-R rounds (:mod:`convtranspose.bench.timing`).
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .memory import MemoryUsage, peak_extra
from .peers import DIRECTIONS, LABELS, PEER_NAMES, make_operands, make_runner
from .suite import Layer
from .timing import Timing, interleaved

__all__ = ["Settings", "Measurement", "measure_layer", "run_suite", "geomean", "CHECK_RTOL"]

#: Relative tolerance of the correctness guard; the absolute tolerance is this times max |torch|.
CHECK_RTOL = 1e-3

_GRADIENT_NAMES = ("grad_input", "grad_weight", "grad_bias")


@dataclass(frozen=True)
class Settings:
    """How to measure: implementations, directions, thread count, rounds and time limits."""

    implementations: tuple[str, ...]
    directions: tuple[str, ...] = DIRECTIONS
    threads: int = 2
    rounds: int = 7
    min_round_time: float = 0.02
    budget: Optional[float] = 30.0
    settle: float = 0.0
    seed: int = 0


@dataclass
class Measurement:
    """One layer in one direction: timings per implementation (None = n/a), our memory, checks."""

    layer: Layer
    direction: str
    timings: dict[str, Optional[Timing]]
    memory: Optional[MemoryUsage]
    mismatches: list[str] = field(default_factory=list)

    @property
    def flops(self) -> int:
        return self.layer.forward_flops if self.direction == "forward" else self.layer.backward_flops

    def seconds(self, name: str) -> Optional[float]:
        timing = self.timings.get(name)
        return None if timing is None else timing.best

    def ratio_to(self, name: str) -> Optional[float]:
        """Our best time divided by implementation ``name``'s."""
        ours, theirs = self.seconds("ours"), self.seconds(name)
        return None if ours is None or theirs is None else ours / theirs

    @property
    def best_peer(self) -> Optional[str]:
        """The fastest peer measured in this direction."""
        timed = [(self.seconds(name), name) for name in PEER_NAMES if self.seconds(name) is not None]
        return min(timed)[1] if timed else None

    @property
    def ratio_to_best_peer(self) -> Optional[float]:
        best = self.best_peer
        return None if best is None else self.ratio_to(best)

    @property
    def gflops(self) -> Optional[float]:
        ours = self.seconds("ours")
        return None if ours is None else self.flops / ours / 1e9


def geomean(values: Sequence[Optional[float]]) -> Optional[float]:
    """Geometric mean of the values that are not None, or None for no values."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return math.exp(sum(math.log(v) for v in present) / len(present))


def _compare(name: str, actual: Any, expected: Any) -> list[str]:
    """Mismatch descriptions of ``actual`` vs torch's ``expected`` (arrays or gradient tuples)."""
    if isinstance(expected, np.ndarray):
        pairs = [("output", actual, expected)]
    else:
        pairs = list(zip(_GRADIENT_NAMES, actual, expected))
    problems = []
    for what, got, want in pairs:
        got = np.asarray(got)
        if got.shape != want.shape:
            problems.append(f"{LABELS[name]} {what}: shape {got.shape} != torch's {want.shape}")
            continue
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        if not np.allclose(got, want, rtol=CHECK_RTOL, atol=CHECK_RTOL * max(scale, 1e-30)):
            error = float(np.max(np.abs(got - want)))
            problems.append(f"{LABELS[name]} {what}: max |error| {error:.3g} vs max |torch| {scale:.3g}")
    return problems


def _check(runners: dict, direction: str) -> list[str]:
    """Compare every runner's result in ``direction`` with torch's (the oracle)."""
    oracle = runners.get("torch") or runners.get("torch-nomkldnn")
    if oracle is None:
        return []
    expected = oracle.result(direction)
    problems = []
    for name, runner in runners.items():
        if runner is not oracle and runner.supports(direction):
            problems += _compare(name, runner.result(direction), expected)
    return problems


def _memory(runners: dict, layer: Layer, direction: str) -> Optional[MemoryUsage]:
    ours = runners.get("ours")
    if ours is None:
        return None
    # the forward against its output, the backward against its largest gradient (issue 15's targets)
    reference = layer.output_bytes if direction == "forward" else layer.largest_gradient_bytes
    return peak_extra(ours.call(direction), reference_bytes=reference)


def measure_layer(
    layer: Layer,
    settings: Settings,
    *,
    on_round: Optional[Callable[[str, int], None]] = None,
    on_mismatch: Optional[Callable[[str], None]] = None,
) -> list[Measurement]:
    """Check, measure memory and time ``layer`` in every direction of ``settings``."""
    ops = make_operands(layer, settings.seed)
    runners = {name: make_runner(name, layer, ops, threads=settings.threads) for name in settings.implementations}
    measurements = []
    for direction in settings.directions:
        mismatches = _check(runners, direction)
        for problem in mismatches:
            if on_mismatch is not None:
                on_mismatch(f"MISMATCH {layer.name} {direction}: {problem}")
        memory = _memory(runners, layer, direction)
        loops = {name: r.loop(direction) for name, r in runners.items() if r.supports(direction)}
        timings = interleaved(
            loops,
            rounds=settings.rounds,
            min_round_time=settings.min_round_time,
            budget=settings.budget,
            settle=settings.settle,
            on_round=None if on_round is None else _for_direction(on_round, direction),
        )
        all_timings = {name: timings.get(name) for name in settings.implementations}
        measurements.append(Measurement(layer, direction, all_timings, memory, mismatches))
    del runners, ops
    gc.collect()
    return measurements


def _for_direction(on_round: Callable[[str, int], None], direction: str) -> Callable[[int], None]:
    """``on_round`` with its direction argument fixed."""
    return lambda done: on_round(direction, done)


def run_suite(
    layers: Sequence[Layer],
    settings: Settings,
    *,
    progress: Any = None,
    on_mismatch: Optional[Callable[[str], None]] = None,
    between_layers: Optional[Callable[[], object]] = None,
) -> list[Measurement]:
    """Measure every layer; ``progress`` is an optional tqdm-like bar advanced once per round.

    ``between_layers`` is called after every layer (the CLI samples the sgemm reference there).
    """
    results: list[Measurement] = []
    for layer in layers:
        if progress is not None:
            progress.set_description(layer.name)
        done_per_direction: dict[str, int] = {}

        def on_round(direction: str, done: int) -> None:
            done_per_direction[direction] = done
            if progress is not None:
                progress.update(1)

        results += measure_layer(layer, settings, on_round=on_round, on_mismatch=on_mismatch)
        if progress is not None:
            skipped = sum(settings.rounds - done_per_direction.get(d, 0) for d in settings.directions)
            progress.update(skipped)
        if between_layers is not None:
            between_layers()
    return results
