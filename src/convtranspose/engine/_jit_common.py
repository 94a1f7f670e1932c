"""Helpers shared by the compiled (numba) kernels."""

from __future__ import annotations

from typing import Callable

import numba

from . import threads

__all__ = ["row_index", "over_rows"]


@numba.njit(cache=True, nogil=True, inline="always")
def row_index(row, groups, per_group):  # pragma: no cover - compiled
    """Output row ``row`` of the ``(n, G, Co)`` rows, as ``(batch item, group, channel)``."""
    return row // (groups * per_group), (row // per_group) % groups, row % per_group


def over_rows(kernel: Callable[..., None], rows: int, work: int, *arrays: object) -> None:
    """Run a compiled row kernel ``kernel(*arrays, first_row, last_row)``, its rows split across
    the engine's threads (the kernels release the GIL)."""
    threads.run(lambda part: kernel(*arrays, part.start, part.stop), threads.split(rows, work))
