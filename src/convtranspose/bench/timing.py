"""Interleaved best-of-R timing with :func:`time.perf_counter`.

For one layer and direction, every implementation is warmed up, then each *round* runs every
implementation once, in an order that rotates from round to round (so none is always first after
another one has dirtied the caches or left its threads spinning). A round times a loop of ``k``
calls, with ``k`` chosen so that one loop takes at least ``min_round_time`` (tiny layers run many
calls per round). The reported time is the best round's time per call; the median is kept too.

Examples
--------
>>> import time
>>> result = interleaved({"sleep": lambda k: time.sleep(0.001 * k)}, rounds=2, min_round_time=0.002)
>>> result["sleep"].rounds, result["sleep"].calls_per_round
(2, 2)
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

__all__ = ["Timing", "calls_per_round", "interleaved"]

Loop = Callable[[int], None]

_MAX_CALLS_PER_ROUND = 100_000


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the best and the median round, over ``rounds`` rounds of ``calls_per_round``."""

    best: float
    median: float
    rounds: int
    calls_per_round: int


def _time_loop(loop: Loop, calls: int) -> float:
    start = time.perf_counter()
    loop(calls)
    return time.perf_counter() - start


def calls_per_round(loop: Loop, min_round_time: float) -> int:
    """Warm ``loop`` up with one call, time one more, and size a round to last ``min_round_time``."""
    loop(1)
    one_call = max(_time_loop(loop, 1), 1e-9)
    return max(1, min(_MAX_CALLS_PER_ROUND, math.ceil(min_round_time / one_call)))


def interleaved(
    loops: Mapping[str, Loop],
    *,
    rounds: int,
    min_round_time: float = 0.02,
    budget: Optional[float] = None,
    min_rounds: int = 2,
    settle: float = 0.0,
    on_round: Optional[Callable[[int], None]] = None,
) -> dict[str, Timing]:
    """Time every loop in ``loops`` over interleaved rounds; best of the rounds per implementation.

    Parameters
    ----------
    loops : mapping of name to ``loop(k)``
        Each performs ``k`` calls of one implementation.
    rounds : int
        Number of rounds (each round runs every implementation once).
    min_round_time : float
        Seconds one timed loop should last at least.
    budget : float, optional
        Wall-clock seconds after which no new round starts once ``min_rounds`` are done.
    settle : float
        Seconds to sleep (untimed) before each timed loop. Thread pools of torch (OpenMP) and
        onnxruntime keep their workers spinning for a while after a call; without a pause, those
        spinning workers take cores from whichever implementation is timed next.
    on_round : callable, optional
        Called with the 1-based number of each finished round (progress reporting).

    Returns
    -------
    dict of name to :class:`Timing`
    """
    names = list(loops)
    start = time.perf_counter()
    calls = {name: calls_per_round(loops[name], min_round_time) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        if budget is not None and round_index >= min_rounds and time.perf_counter() - start > budget:
            break
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if settle:
                time.sleep(settle)
            samples[name].append(_time_loop(loops[name], calls[name]) / calls[name])
        if on_round is not None:
            on_round(round_index + 1)
    return {
        name: Timing(min(values), statistics.median(values), len(values), calls[name])
        for name, values in samples.items()
    }
