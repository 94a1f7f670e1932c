"""Interleaved best-of-R timing with :func:`time.perf_counter`.

For one layer and direction, every implementation is warmed up, then each *round* runs every
implementation once, in an order drawn afresh (seeded) for every round, so that each one follows
every other about equally often: none is always timed right after another one has dirtied the
caches or left its threads spinning. A round times a loop of ``k`` calls, with ``k`` doubled until
one loop really lasts ``min_round_time`` (tiny layers run many calls per round). The reported
time is the best round's time per call; the median is kept too.

Before each timed loop (and before sizing it) the process can *settle*: sleep, then wait until its
other threads have stopped using the CPU. Thread pools keep their workers spinning after a call
(OpenBLAS's for up to about 0.2 s here, measured from ``/proc/self/task``), and a spinning worker
takes a core from whichever implementation is timed next.

Examples
--------
Each loop takes the number of calls ``k`` to make (no timing is asserted here: on a busy machine
any duration can stretch):

>>> import time
>>> result = interleaved({"sleep": lambda k: time.sleep(0.0001 * k)}, rounds=2, min_round_time=0.0)
>>> timing = result["sleep"]
>>> timing.rounds, timing.calls_per_round >= 1, 0 < timing.best <= timing.median
(2, True, True)
"""

from __future__ import annotations

import math
import os
import random
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

__all__ = ["Timing", "calls_per_round", "interleaved", "settle_down"]

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


def calls_per_round(loop: Loop, min_round_time: float, settle: float = 0.0) -> int:
    """Warm ``loop`` up with one call, then double the calls until one loop lasts ``min_round_time``."""
    loop(1)
    calls = 1
    while calls < _MAX_CALLS_PER_ROUND:
        settle_down(settle)
        elapsed = _time_loop(loop, calls)
        if elapsed >= min_round_time:
            break
        calls = min(_MAX_CALLS_PER_ROUND, max(calls + 1, math.ceil(calls * min_round_time / max(elapsed, 1e-9))))
    return calls


#: Longest wait for the process's other threads to go quiet, and the window that decides it.
_MAX_QUIET_WAIT = 1.0
_QUIET_WINDOW = 0.03


def _other_threads_cpu_ticks() -> Optional[int]:
    """CPU time (clock ticks) used so far by this process's threads other than the calling one,
    or None where ``/proc/self/task`` is not available."""
    me = str(threading.get_native_id())
    total = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            if tid == me:
                continue
            try:
                with open(f"/proc/self/task/{tid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:  # the thread ended meanwhile
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except OSError:
        return None
    return total


def settle_down(seconds: float) -> None:
    """Sleep ``seconds``, then wait (at most :data:`_MAX_QUIET_WAIT`) until the other threads of
    this process use no CPU for a :data:`_QUIET_WINDOW`. Nothing happens for ``seconds == 0``."""
    if seconds <= 0:
        return
    time.sleep(seconds)
    deadline = time.perf_counter() + _MAX_QUIET_WAIT
    before = _other_threads_cpu_ticks()
    while before is not None and time.perf_counter() < deadline:
        time.sleep(_QUIET_WINDOW)
        after = _other_threads_cpu_ticks()
        if after == before:
            return
        before = after


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
        Seconds to sleep (untimed) before each timed loop, after which :func:`settle_down` also
        waits for the process's other threads to go quiet. Thread pools (OpenBLAS, OpenMP,
        onnxruntime) keep their workers spinning for a while after a call; without a pause, those
        spinning workers take cores from whichever implementation is timed next.
    on_round : callable, optional
        Called with the 1-based number of each finished round (progress reporting).

    Returns
    -------
    dict of name to :class:`Timing`
    """
    names = list(loops)
    start = time.perf_counter()
    calls = {name: calls_per_round(loops[name], min_round_time, settle) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(len(names))  # seeded: runs are repeatable
    for round_index in range(rounds):
        if budget is not None and round_index >= min_rounds and time.perf_counter() - start > budget:
            break
        for name in order.sample(names, len(names)):
            settle_down(settle)
            samples[name].append(_time_loop(loops[name], calls[name]) / calls[name])
        if on_round is not None:
            on_round(round_index + 1)
    return {
        name: Timing(min(values), statistics.median(values), len(values), calls[name])
        for name, values in samples.items()
    }
