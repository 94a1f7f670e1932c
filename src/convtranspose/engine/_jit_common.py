"""Helpers shared by the compiled (numba) kernels."""

from __future__ import annotations

import numba

__all__ = ["row_index"]


@numba.njit(cache=True, nogil=True, inline="always")
def row_index(row, groups, per_group):  # pragma: no cover - compiled
    """Output row ``row`` of the ``(n, G, Co)`` rows, as ``(batch item, group, channel)``."""
    return row // (groups * per_group), (row // per_group) % groups, row % per_group
